package rs

import (
	"net/http"
	"slices"
	"time"
)

// RFC 6750 §3.1 error codes.
const (
	codeInvalidRequest    = "invalid_request"
	codeInvalidToken      = "invalid_token"
	codeInsufficientScope = "insufficient_scope"
)

// Error is a typed, client-safe authentication or authorization failure:
// ExtractBearer and Validator.Validate return only *Error failures (as does
// Explanation.Error), so callers tell failures apart with errors.As and the
// fields, never the text. Status, Code and Description go on the wire;
// Reason is a short stable label for logs, metrics and branching; the
// wrapped cause (Unwrap) goes to the log only.
//
// The Reasons, with Status and Code:
//
//	missing                    401  (none)              no bearer token
//	multiple_tokens            400  invalid_request     more than one token
//	malformed_header           400  invalid_request     bad Authorization header
//	token_in_query             400  invalid_request     access_token in the query
//	malformed                  401  invalid_token       not a usable JWT
//	issuer                     401  invalid_token       iss (or tid) not trusted
//	algorithm                  401  invalid_token       alg not allowed
//	type                       401  invalid_token       typ is not at+jwt
//	signature                  401  invalid_token       no key verifies it
//	expired                    401  invalid_token       exp passed
//	not_yet_valid              401  invalid_token       nbf in the future
//	issued_in_future           401  invalid_token       iat in the future
//	missing_exp                401  invalid_token       no exp
//	audience                   401  invalid_token       aud is not this resource
//	missing_sub                401  invalid_token       no sub
//	not_access_token           401  invalid_token       an ID token
//	inactive                   401  invalid_token       introspection: not active
//	introspection_unavailable  503  (none)              introspection endpoint down
//	keys_unavailable           503  (none)              no keys loaded yet
//	insufficient_scope         403  insufficient_scope  see InsufficientScope
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
	return &Error{Status: http.StatusUnauthorized, Code: codeInvalidToken, Reason: reason, Description: desc}
}

// The failure classes (see Error). Each has a fixed description; returned
// errors are these or copies carrying a cause (withCause), so compare
// Reason, not pointers.
var (
	errMissingToken             = &Error{Status: http.StatusUnauthorized, Reason: "missing"}
	errMultipleTokens           = &Error{Status: http.StatusBadRequest, Code: codeInvalidRequest, Reason: "multiple_tokens", Description: "Request carries more than one access token"}
	errMalformedHeader          = &Error{Status: http.StatusBadRequest, Code: codeInvalidRequest, Reason: "malformed_header", Description: "Malformed Authorization header"}
	errTokenInQuery             = &Error{Status: http.StatusBadRequest, Code: codeInvalidRequest, Reason: "token_in_query", Description: "Access tokens are not accepted in the query string"}
	errMalformedToken           = tokenErr("malformed", "Invalid JWT format")
	errUntrustedIssuer          = tokenErr("issuer", "Token issuer is not trusted")
	errAlgorithm                = tokenErr("algorithm", "Token algorithm is not allowed")
	errTokenType                = tokenErr("type", "Token type is not at+jwt")
	errSignature                = tokenErr("signature", "Token signature verification failed")
	errExpired                  = tokenErr("expired", "Token has expired")
	errNotYetValid              = tokenErr("not_yet_valid", "Token not yet valid")
	errIssuedInFuture           = tokenErr("issued_in_future", "Token issued in the future")
	errMissingExp               = tokenErr("missing_exp", "Token missing 'exp' claim")
	errAudience                 = tokenErr("audience", "Token audience does not match this resource")
	errMissingSubject           = tokenErr("missing_sub", "Token missing 'sub' claim")
	errNotAccessToken           = tokenErr("not_access_token", "Token is not an access token")
	errInactive                 = tokenErr("inactive", "Token is not active")
	errIntrospectionUnavailable = &Error{Status: http.StatusServiceUnavailable, Reason: "introspection_unavailable", Description: "Token introspection is unavailable", RetryAfter: 5 * time.Second}
	errKeysUnavailable          = &Error{Status: http.StatusServiceUnavailable, Reason: "keys_unavailable", Description: "Token keys are not available yet", RetryAfter: 5 * time.Second}
	errInsufficientScope        = &Error{Status: http.StatusForbidden, Code: codeInsufficientScope, Reason: "insufficient_scope"}
)

// InsufficientScope builds a 403 insufficient_scope error asking for the
// given scopes (in caller order).
func InsufficientScope(required []string) *Error {
	e := *errInsufficientScope
	e.Scopes = slices.Clone(required)
	return &e
}
