package rs

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// ExtractBearer returns the bearer token of a request, or an *Error (by
// Reason):
//   - no Authorization header, or one with another scheme (RFC 6750 §3.1:
//     "lacks any authentication information"): "missing" (401, no error
//     code);
//   - more than one Authorization header, or a token in the header and in
//     the query: "multiple_tokens" (400 invalid_request);
//   - "Bearer" with an empty or non-b64token value: "malformed_header"
//     (400 invalid_request);
//   - access_token in the query string: "token_in_query" (400
//     invalid_request); a query token is never accepted.
//
// The scheme is matched case-insensitively.
func ExtractBearer(h http.Header, query url.Values) (string, *Error) {
	_, inQuery := query["access_token"]
	vals := h.Values("Authorization")
	switch {
	case len(vals) > 1:
		return "", errMultipleTokens
	case len(vals) == 0:
		if inQuery {
			return "", errTokenInQuery
		}
		return "", errMissingToken
	}
	v := vals[0]
	isBearer := len(v) >= 6 && strings.EqualFold(v[:6], "Bearer") && (len(v) == 6 || v[6] == ' ' || v[6] == '\t')
	if !isBearer {
		if inQuery {
			return "", errTokenInQuery
		}
		return "", errMissingToken
	}
	if inQuery {
		return "", errMultipleTokens
	}
	tok := strings.TrimLeft(v[6:], " ")
	if !isB64Token(tok) {
		return "", errMalformedHeader
	}
	return tok, nil
}

// isB64Token checks RFC 6750 §2.1:
// b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	i := 0
	for i < len(s) {
		c := s[i]
		if ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' {
			i++
			continue
		}
		break
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

// Challenger builds RFC 6750 §3 WWW-Authenticate challenges that point at
// the Protected Resource Metadata.
type Challenger struct {
	// MetadataURL is the resource_metadata value.
	MetadataURL string
	// Scopes is the scope="..." of 401 challenges (may be empty).
	Scopes []string
}

// Header returns the WWW-Authenticate value for e, or "" when e needs none
// (503). Parameter order follows Arcade: for 401/400 resource_metadata,
// error, error_description, scope; for 403 resource_metadata, error, scope,
// error_description. A value with characters RFC 6750 does not allow is
// dropped, never sent raw.
func (c Challenger) Header(e *Error) string {
	if e.Status == http.StatusServiceUnavailable {
		return ""
	}
	var b strings.Builder
	b.WriteString("Bearer ")
	n := 0
	add := func(k, v string) {
		if v == "" || !isErrorChar(v) {
			return
		}
		if n > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k)
		b.WriteString(`="`)
		b.WriteString(v)
		b.WriteByte('"')
		n++
	}
	add("resource_metadata", c.MetadataURL)
	add("error", e.Code)
	if e.Code == codeInsufficientScope {
		add("scope", strings.Join(e.Scopes, " "))
		add("error_description", e.Description)
	} else {
		add("error_description", e.Description)
		add("scope", strings.Join(c.Scopes, " "))
	}
	if n == 0 {
		// Never a bare "Bearer " challenge.
		return "Bearer"
	}
	return b.String()
}

// statusBody is the plain-text body of each failure status (Arcade's wire
// strings for 401 and 403).
func statusBody(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "Unauthorized"
	case http.StatusForbidden:
		return "Insufficient scope"
	default:
		return http.StatusText(status)
	}
}

// Write answers the request with e: status, WWW-Authenticate (when the
// status has one), Retry-After for 503, and a short plain-text body.
func (c Challenger) Write(w http.ResponseWriter, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = errSignature
	}
	h := w.Header()
	if v := c.Header(e); v != "" {
		h.Set("WWW-Authenticate", v)
	}
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int(e.RetryAfter.Seconds())))
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	body := statusBody(e.Status)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.Status)
	_, _ = w.Write([]byte(body))
}
