package errormap

import (
	"net/http"
	"strings"
	"time"
)

// GatewayStatus is the HTTP status a front door answers with when a failure
// cannot be answered with a JSON-RPC message, because the request carries no
// request id to answer (a GET stream, a DELETE, a POST of only notifications
// or responses, a body that is not JSON-RPC). The upstream's own status never
// goes through as it is: an upstream 401 or 403 would send an MCP client
// into its authorization flow although its token was accepted.
//
//	rate limit (429, a rate-limited 403)             429 Too Many Requests
//	upstream 503                                     503 Service Unavailable
//	upstream 504, transport timeout                  504 Gateway Timeout
//	anything else (401, 403, other 5xx, other
//	transport failures, other statuses)              502 Bad Gateway
func GatewayStatus(f Failure) int {
	switch {
	case f.Kind == KindUpstreamRateLimit:
		return http.StatusTooManyRequests
	case f.Kind == KindNetworkTimeout:
		return http.StatusGatewayTimeout
	case f.StatusCode == http.StatusServiceUnavailable, f.StatusCode == http.StatusGatewayTimeout:
		return f.StatusCode
	}
	return http.StatusBadGateway
}

// RetryAfterSeconds reads the upstream's Retry-After header alone
// (delay-seconds, or an HTTP date: the delay from now, never negative) and
// returns the delay in whole seconds, rounded up, for the front door's own
// Retry-After. ok is false when the header is absent, empty or not a valid
// value; the header's text is never returned as it is.
func RetryAfterSeconds(h http.Header, now time.Time) (secs int64, ok bool) {
	v, _ := headerValue(h, "Retry-After")
	ms, ok := parseRetryValue(strings.TrimSpace(v), retrySeconds, now)
	if !ok {
		return 0, false
	}
	secs = ms / 1000
	if ms%1000 != 0 {
		secs++
	}
	return secs, true
}
