package behaviour

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// What a failing MCP server sends that must never reach the client.
const (
	// UpstreamChallenge is the MCP server's own challenge, naming another
	// authorization server.
	UpstreamChallenge = `Bearer resource_metadata="https://as.upstream.internal/.well-known/oauth-protected-resource", error="invalid_token"`
	upstreamSecret    = "hunter2"
	upstreamStack     = "panic: runtime error\n\ngoroutine 7 [running]:\nmain.(*srv).call()\n\t/srv/app/db.go:42\ndb password=" + upstreamSecret + "\n"
	upstreamHTML      = "<html><body><h1>502 Bad Gateway</h1><p>nginx/1.25 at 10.0.3.7 (" + upstreamSecret + ")</p></body></html>"
	upstreamRPCError  = `{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"pq: password authentication failed (` + upstreamSecret + `)"}}`
)

// reply answers any request with the status code (?reply=<status>) the
// way a failing MCP server might. Every answer carries UpstreamChallenge.
// An error status also carries a cookie, server and debug headers,
// Retry-After: 2 on 429 and 503, and an internal-looking body: HTML on
// 502, a JSON-RPC error on 503, "session not found" on 404, a stack trace
// otherwise. A 2xx is an SSE event for GET, else {"jsonrpc":"2.0","id":1,
// "result":{}}.
func reply(w http.ResponseWriter, r *http.Request, code string) {
	status, err := strconv.Atoi(code)
	if err != nil || status < 200 || status > 599 {
		status = http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("WWW-Authenticate", UpstreamChallenge)
	if status >= 400 {
		h.Set("Set-Cookie", "upstream_sid="+upstreamSecret+"; Path=/")
		h.Set("Server", "internal-mcp/0.3 (debian)")
		h.Set("X-Debug", "db=10.0.3.7 password="+upstreamSecret)
		h.Set("X-Ratelimit-Limit", "100")
	}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		h.Set("Retry-After", "2")
	}
	ct, body := "text/plain", upstreamStack
	switch {
	case status < 300 && r.Method == http.MethodGet:
		ct, body = "text/event-stream", "id: r1\ndata: {}\n\n"
	case status < 300:
		ct, body = "application/json", `{"jsonrpc":"2.0","id":1,"result":{}}`
	case status == http.StatusNotFound:
		body = "session not found\n"
	case status == http.StatusBadGateway:
		ct, body = "text/html", upstreamHTML
	case status == http.StatusServiceUnavailable:
		ct, body = "application/json", upstreamRPCError
	}
	h.Set("Content-Type", ct)
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

// UpstreamReplyCases: what comes back from the MCP server never leaks.
// Its WWW-Authenticate never reaches the client (it would send MCP
// clients to the upstream's authorization server); a 401, 403, 429 or 5xx
// becomes, decided by the status alone, an agent-safe answer for every
// request shape: 200 with one answer per JSON-RPC request (a single
// message, or an array for a batch), else the front door's own plain
// status (502 for 401, 403 and 5xx; 429 and 503 kept with a valid
// Retry-After). Nothing of the failing response's body or other headers
// reaches the client.
func UpstreamReplyCases(t *testing.T, e *Env) []Case {
	alice := e.Token(t, 1, nil, nil)
	auth := http.Header{"Authorization": {"Bearer " + alice}, "Content-Type": {"application/json"}, "Accept": {"application/json, text/event-stream"}}
	tool := func(id, msg, fields string) string {
		return `{"jsonrpc":"2.0","id":` + id + `,"result":{"content":[{"type":"text","text":"` + msg + `"}],"isError":true,"_meta":{"arcade":` + fields + `}}}`
	}
	rpcErr := func(id, msg, fields string) string {
		return `{"jsonrpc":"2.0","id":` + id + `,"error":{"code":-32603,"message":"` + msg + `","data":` + fields + `}}`
	}
	const (
		m401 = "Upstream HTTP request failed (Unauthorized, client error)."
		f401 = `{"errorKind":"UPSTREAM_RUNTIME_AUTH_ERROR","canRetry":false,"statusCode":401}`
		m403 = "Upstream HTTP request failed (Forbidden, client error)."
		f403 = `{"errorKind":"UPSTREAM_RUNTIME_AUTH_ERROR","canRetry":false,"statusCode":403}`
		m429 = "Upstream HTTP request failed (Too Many Requests, client error). Retry after 2 second(s)."
		f429 = `{"errorKind":"UPSTREAM_RUNTIME_RATE_LIMIT","canRetry":true,"retryAfterMs":2000,"statusCode":429}`
		m500 = "Upstream HTTP request failed (Internal Server Error, server error)."
		f500 = `{"errorKind":"UPSTREAM_RUNTIME_SERVER_ERROR","canRetry":true,"statusCode":500}`
		m503 = "Upstream HTTP request failed (Service Unavailable, server error)."
		f503 = `{"errorKind":"UPSTREAM_RUNTIME_SERVER_ERROR","canRetry":true,"retryAfterMs":2000,"statusCode":503}`
	)
	// Headers of every replaced answer: the failing response's are gone,
	// the front door's own (CORS) stay.
	gone := func(kv ...string) map[string]string {
		m := map[string]string{
			"WWW-Authenticate": "", "Set-Cookie": "", "X-Debug": "", "X-Ratelimit-Limit": "",
			"Cache-Control": "no-store", "Access-Control-Allow-Origin": "*",
			"Access-Control-Expose-Headers": "WWW-Authenticate, Mcp-Session-Id, MCP-Protocol-Version",
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	answered := func(name, status, body, want string) Case {
		return Case{Name: "upstream " + status + ", " + name, Method: "POST", Path: "/mcp?reply=" + status, Header: auth, Body: body,
			Status: 200, Reaches: true, WantBody: want, Check: noUpstreamText,
			Headers: gone("Content-Type", "application/json", "Content-Length", strconv.Itoa(len(want)), "Retry-After", "", "X-Content-Type-Options", "")}
	}
	plain := func(name, method, status, body string, want int, retryAfter string) Case {
		text := http.StatusText(want)
		return Case{Name: "upstream " + status + ", " + name, Method: method, Path: "/mcp?reply=" + status, Header: auth, Body: body,
			Status: want, Reaches: true, WantBody: text, Check: noUpstreamText,
			Headers: gone("Content-Type", "text/plain; charset=utf-8", "Content-Length", strconv.Itoa(len(text)),
				"X-Content-Type-Options", "nosniff", "Retry-After", retryAfter)}
	}
	const (
		call     = `{"jsonrpc":"2.0","id":60,"method":"tools/call","params":{"name":"ok","arguments":{}}}`
		list     = `{"jsonrpc":"2.0","id":"l","method":"tools/list"}`
		batch    = `[{"jsonrpc":"2.0","id":61,"method":"tools/call","params":{"name":"ok","arguments":{}}},{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}},{"jsonrpc":"2.0","id":"p","method":"ping"}]`
		notifs   = `[{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","id":9,"result":{}}]`
		notif    = `{"jsonrpc":"2.0","method":"notifications/initialized"}`
		response = `{"jsonrpc":"2.0","id":9,"result":{}}`
	)
	return []Case{
		// --- a JSON-RPC request to answer: 200 with the agent-safe answer ---
		answered("tools/call", "401", call, tool("60", m401, f401)),
		answered("tools/list", "403", list, rpcErr(`"l"`, m403, f403)),
		answered("tools/call", "429", call, tool("60", m429, f429)),
		answered("batch: one answer per request", "500", batch, "["+tool("61", m500, f500)+","+rpcErr(`"p"`, m500, f500)+"]"),
		answered("batch: one answer per request", "429", batch, "["+tool("61", m429, f429)+","+rpcErr(`"p"`, m429, f429)+"]"),
		answered("JSON-RPC error body, tools/list", "503", list, rpcErr(`"l"`, m503, f503)),

		// --- nothing to answer: the front door's own status ---
		plain("batch without requests", "POST", "503", notifs, 503, "2"),
		plain("batch without requests", "POST", "401", notifs, 502, ""),
		plain("notification", "POST", "401", notif, 502, ""),
		plain("notification", "POST", "500", notif, 502, ""),
		plain("response", "POST", "429", response, 429, "2"),
		plain("GET stream", "GET", "401", "", 502, ""),
		plain("GET stream", "GET", "403", "", 502, ""),
		plain("GET stream", "GET", "503", "", 503, "2"),
		plain("GET stream", "GET", "500", "", 502, ""),
		plain("DELETE", "DELETE", "401", "", 502, ""),
		plain("DELETE", "DELETE", "502", "", 502, ""),
		plain("DELETE", "DELETE", "429", "", 429, "2"),

		// --- answers that pass lose only the upstream's challenge ---
		{Name: "upstream 200 JSON: its WWW-Authenticate is dropped", Method: "POST", Path: "/mcp?reply=200", Header: auth, Body: `{"jsonrpc":"2.0","id":1,"method":"ping"}`,
			Status: 200, Reaches: true, WantBody: `{"jsonrpc":"2.0","id":1,"result":{}}`,
			Headers: map[string]string{"WWW-Authenticate": "", "Content-Type": "application/json"}},
		{Name: "upstream 200 tools/call (rewriting): its WWW-Authenticate is dropped", Method: "POST", Path: "/mcp?reply=200", Header: auth, Body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ok"}}`,
			Status: 200, Reaches: true, WantBody: `{"jsonrpc":"2.0","id":1,"result":{}}`,
			Headers: map[string]string{"WWW-Authenticate": "", "Content-Type": "application/json"}},
		{Name: "upstream 200 SSE stream: its WWW-Authenticate is dropped", Method: "GET", Path: "/mcp?reply=200", Header: auth,
			Status: 200, Reaches: true, WantBody: "id: r1\ndata: {}\n\n",
			Headers: map[string]string{"WWW-Authenticate": "", "Content-Type": "text/event-stream"}},
		{Name: "upstream 202: its WWW-Authenticate is dropped", Method: "POST", Path: "/mcp?reply=202", Header: auth, Body: notif,
			Status: 202, Reaches: true, Headers: map[string]string{"WWW-Authenticate": ""}},
		{Name: "upstream 404 passes, without its WWW-Authenticate", Method: "DELETE", Path: "/mcp?reply=404", Header: auth,
			Status: 404, Reaches: true, WantBody: "session not found\n", Headers: map[string]string{"WWW-Authenticate": ""}},
	}
}

// noUpstreamText checks that nothing of the failing upstream response —
// body text, header values — reached the client.
func noUpstreamText(t *testing.T, _ *Env, resp *http.Response, body string, _ Seen) {
	t.Helper()
	for _, s := range []string{upstreamSecret, "as.upstream.internal", "goroutine", "db.go", "nginx", "<html", "pq: ", "internal-mcp"} {
		if strings.Contains(body, s) {
			t.Errorf("body carries upstream text %q: %s", s, body)
		}
		for k, vs := range resp.Header {
			for _, v := range vs {
				if strings.Contains(v, s) {
					t.Errorf("header %s carries upstream text %q: %s", k, s, v)
				}
			}
		}
	}
}
