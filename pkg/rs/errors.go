package rs

import (
	"net/http"
	"time"
)

// RFC 6750 §3.1 error codes.
const (
	CodeInvalidRequest    = "invalid_request"
	CodeInvalidToken      = "invalid_token"
	CodeInsufficientScope = "insufficient_scope"
)

// Error is a typed, client-safe authentication or authorization failure.
// Status, Code and Description go on the wire; Reason is a short stable
// label for logs and metrics; the wrapped cause goes to the log only.
type Error struct {
	// Status is the HTTP status to answer with (400, 401, 403 or 503).
	Status int
	// Code is the RFC 6750 error code; empty when no token was sent.
	Code string
	// Description is a short fixed phrase (RFC 6750 error-description
	// characters only); never internal error text.
	Description string
	// Reason is a stable machine label such as "expired" or "audience".
	Reason string
	// Scopes are the scopes a 403 insufficient_scope challenge asks for.
	Scopes []string
	// RetryAfter is set on 503 answers.
	RetryAfter time.Duration

	cause error
}

// Error returns the description and, for logs, the cause.
func (e *Error) Error() string {
	if e.cause != nil {
		return e.Reason + ": " + e.Description + ": " + e.cause.Error()
	}
	return e.Reason + ": " + e.Description
}

// Unwrap returns the internal cause (for logging; never sent to clients).
func (e *Error) Unwrap() error { return e.cause }

// withCause returns a copy of e carrying cause.
func (e *Error) withCause(cause error) *Error {
	c := *e
	c.cause = cause
	return &c
}

func tokenErr(reason, desc string) *Error {
	return &Error{Status: http.StatusUnauthorized, Code: CodeInvalidToken, Reason: reason, Description: desc}
}

// The failure classes. Each has a fixed description.
var (
	ErrMissingToken             = &Error{Status: http.StatusUnauthorized, Reason: "missing"}
	ErrMultipleTokens           = &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Reason: "multiple_tokens", Description: "Request carries more than one access token"}
	ErrMalformedHeader          = &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Reason: "malformed_header", Description: "Malformed Authorization header"}
	ErrTokenInQuery             = &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Reason: "token_in_query", Description: "Access tokens are not accepted in the query string"}
	ErrMalformedToken           = tokenErr("malformed", "Invalid JWT format")
	ErrUntrustedIssuer          = tokenErr("issuer", "Token issuer is not trusted")
	ErrAlgorithm                = tokenErr("algorithm", "Token algorithm is not allowed")
	ErrTokenType                = tokenErr("type", "Token type is not at+jwt")
	ErrSignature                = tokenErr("signature", "Token signature verification failed")
	ErrExpired                  = tokenErr("expired", "Token has expired")
	ErrNotYetValid              = tokenErr("not_yet_valid", "Token not yet valid")
	ErrIssuedInFuture           = tokenErr("issued_in_future", "Token issued in the future")
	ErrMissingExp               = tokenErr("missing_exp", "Token missing 'exp' claim")
	ErrAudience                 = tokenErr("audience", "Token audience does not match this resource")
	ErrMissingSubject           = tokenErr("missing_sub", "Token missing 'sub' claim")
	ErrNotAccessToken           = tokenErr("not_access_token", "Token is not an access token")
	ErrInactive                 = tokenErr("inactive", "Token is not active")
	ErrIntrospectionUnavailable = &Error{Status: http.StatusServiceUnavailable, Reason: "introspection_unavailable", Description: "Token introspection is unavailable", RetryAfter: 5 * time.Second}
	ErrKeysUnavailable          = &Error{Status: http.StatusServiceUnavailable, Reason: "keys_unavailable", Description: "Token keys are not available yet", RetryAfter: 5 * time.Second}
	ErrInsufficientBase         = &Error{Status: http.StatusForbidden, Code: CodeInsufficientScope, Reason: "insufficient_scope"}
)

// InsufficientScope builds a 403 insufficient_scope error asking for the
// given scopes (in caller order).
func InsufficientScope(required []string) *Error {
	e := *ErrInsufficientBase
	e.Scopes = append([]string(nil), required...)
	return &e
}
