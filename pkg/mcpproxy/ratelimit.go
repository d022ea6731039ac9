package mcpproxy

import (
	"net/http"
	"strconv"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/errormap"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/ratelimit"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

// allowRate takes a token for every request message of req from the
// caller's buckets. Over a limit it answers: 429 with Retry-After, or with
// scope_denial: error, HTTP 200 with the agent-safe rate-limit answer
// (retryAfterMs) for the request(s); it returns false then.
func (g *Guard) allowRate(w http.ResponseWriter, r *http.Request, req *Request, id *rs.Identity) bool {
	if req == nil {
		return true
	}
	caller := ratelimit.CallerKey(id.Issuer, id.Subject)
	for _, m := range req.Messages {
		if !m.IsRequest() {
			continue
		}
		tool := ""
		if m.Method == "tools/call" {
			tool = m.Name
		}
		d := g.limiter.Allow(r.Context(), caller, m.Method, tool)
		if d.Allowed {
			continue
		}
		if g.denial == DenyError {
			f := errormap.Failure{Kind: errormap.KindUpstreamRateLimit, CanRetry: true, RetryAfterMs: d.RetryAfterMs(),
				Message: "Rate limit reached for this caller; retry after " + strconv.Itoa(d.RetryAfterSeconds()) + " second(s)."}
			if body, ok := failureAnswer(req, f); ok {
				writeFailureJSON(w, body)
				return false
			}
		}
		w.Header().Set("Retry-After", strconv.Itoa(d.RetryAfterSeconds()))
		plain(w, http.StatusTooManyRequests)
		return false
	}
	return true
}
