package behaviour

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Case is one request to the front door and what must come of it.
type Case struct {
	Name   string
	Method string
	Path   string
	Header http.Header
	Body   string
	// Status is the exact status expected.
	Status int
	// Headers are exact expected response header values; "" means the
	// header must be absent.
	Headers map[string]string
	// WantBody is the exact body ("" = not checked unless EmptyBody).
	WantBody  string
	EmptyBody bool
	// Reaches says whether the request must reach the upstream.
	Reaches bool
	// Check runs extra assertions on the response and what the upstream saw.
	Check func(t *testing.T, e *Env, resp *http.Response, body string, seen Seen)
}

func rpcCall(id int, tool string, args string) string {
	if args == "" {
		args = "{}"
	}
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,"arguments":%s}}`, id, tool, args)
}

// Cases is the behaviour table for an Env configured with Settings (strip on).
func Cases(t *testing.T, e *Env) []Case {
	md := e.Base + "/.well-known/oauth-protected-resource/mcp"
	alice := e.Token(t, 1, nil, nil)
	bob := e.Token(t, 2, nil, nil)
	admin := e.Token(t, 1, func(c jwt.MapClaims) { c["scope"] = "mcp:read mcp:write mcp:admin" }, nil)
	auth := func(tok string, kv ...string) http.Header {
		h := http.Header{"Authorization": {"Bearer " + tok}, "Content-Type": {"application/json"}, "Accept": {"application/json, text/event-stream"}}
		for i := 0; i+1 < len(kv); i += 2 {
			h[http.CanonicalHeaderKey(kv[i])] = append(h[http.CanonicalHeaderKey(kv[i])], kv[i+1])
		}
		return h
	}
	ch := func(rest string) string { return `Bearer resource_metadata="` + md + `"` + rest }
	prm := fmt.Sprintf(`{"resource":"%s","authorization_servers":["%s","https://login.example.com"],"bearer_methods_supported":["header"],"scopes_supported":["mcp:read","mcp:write"],"resource_name":"Test MCP"}`, e.Resource, e.Issuer1)
	expired := e.Token(t, 1, func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() }, nil)
	wrongAud := e.Token(t, 1, func(c jwt.MapClaims) { c["aud"] = "https://other.example/mcp" }, nil)
	crossKid := e.K2.Sign(t, jwt.MapClaims{"iss": e.Issuer1, "sub": "x", "aud": e.Resource, "exp": time.Now().Add(time.Hour).Unix()}, nil)
	bobJWT := e.Token(t, 2, nil, map[string]any{"typ": "JWT"})
	withHdr := func(h http.Header, k, v string) http.Header { h = h.Clone(); h[k] = []string{v}; return h }
	wrapped := func(t *testing.T, e *Env) string {
		resp, _ := e.Do(t, "POST", "/mcp", auth(alice), rpcCall(50, "session", ""))
		if resp == nil {
			t.Fatal("no response")
		}
		return resp.Header.Get("Mcp-Session-Id")
	}

	return []Case{
		// --- challenges (RFC 6750) ---
		{Name: "no token", Method: "POST", Path: "/mcp", Body: "{}", Status: 401,
			Headers: map[string]string{"WWW-Authenticate": ch(`, scope="mcp:read"`), "Content-Type": "text/plain; charset=utf-8",
				"Access-Control-Expose-Headers": "WWW-Authenticate, Mcp-Session-Id, MCP-Protocol-Version"}, WantBody: "Unauthorized"},
		{Name: "basic auth is no bearer token", Method: "POST", Path: "/mcp", Header: http.Header{"Authorization": {"Basic YTpi"}}, Body: "{}", Status: 401,
			Headers: map[string]string{"WWW-Authenticate": ch(`, scope="mcp:read"`)}, WantBody: "Unauthorized"},
		{Name: "garbage token", Method: "POST", Path: "/mcp", Header: auth("not-a-jwt"), Body: "{}", Status: 401,
			Headers: map[string]string{"WWW-Authenticate": ch(`, error="invalid_token", error_description="Invalid JWT format", scope="mcp:read"`)}, WantBody: "Unauthorized"},
		{Name: "expired token", Method: "POST", Path: "/mcp", Header: auth(expired), Body: "{}", Status: 401,
			Headers: map[string]string{"WWW-Authenticate": ch(`, error="invalid_token", error_description="Token has expired", scope="mcp:read"`)}, WantBody: "Unauthorized"},
		{Name: "wrong audience", Method: "POST", Path: "/mcp", Header: auth(wrongAud), Body: "{}", Status: 401,
			Headers: map[string]string{"WWW-Authenticate": ch(`, error="invalid_token", error_description="Token audience does not match this resource", scope="mcp:read"`)}, WantBody: "Unauthorized"},
		{Name: "kid shared by two issuers does not cross", Method: "POST", Path: "/mcp", Header: auth(crossKid), Body: "{}", Status: 401,
			Headers: map[string]string{"WWW-Authenticate": ch(`, error="invalid_token", error_description="Token signature verification failed", scope="mcp:read"`)}, WantBody: "Unauthorized"},
		{Name: "issuer 2 requires at+jwt", Method: "POST", Path: "/mcp", Header: auth(bobJWT), Body: "{}", Status: 401,
			Headers: map[string]string{"WWW-Authenticate": ch(`, error="invalid_token", error_description="Token type is not at+jwt", scope="mcp:read"`)}, WantBody: "Unauthorized"},
		{Name: "two authorization headers", Method: "POST", Path: "/mcp", Header: http.Header{"Authorization": {"Bearer " + alice, "Bearer " + alice}}, Body: "{}", Status: 400,
			Headers: map[string]string{"WWW-Authenticate": ch(`, error="invalid_request", error_description="Request carries more than one access token", scope="mcp:read"`)}, WantBody: "Bad Request"},
		{Name: "malformed authorization header", Method: "POST", Path: "/mcp", Header: http.Header{"Authorization": {"Bearer a b"}}, Body: "{}", Status: 400,
			Headers: map[string]string{"WWW-Authenticate": ch(`, error="invalid_request", error_description="Malformed Authorization header", scope="mcp:read"`)}, WantBody: "Bad Request"},
		{Name: "token in query string", Method: "POST", Path: "/mcp?access_token=" + alice, Body: "{}", Status: 400,
			Headers: map[string]string{"WWW-Authenticate": ch(`, error="invalid_request", error_description="Access tokens are not accepted in the query string", scope="mcp:read"`)}, WantBody: "Bad Request"},
		{Name: "OPTIONS that is no preflight is not an MCP method", Method: "OPTIONS", Path: "/mcp", Status: 405, Headers: map[string]string{"Allow": "GET, POST, DELETE, OPTIONS"}, WantBody: "Method Not Allowed"},

		// --- metadata and preflight ---
		{Name: "PRM at the resource path", Method: "GET", Path: "/.well-known/oauth-protected-resource/mcp", Status: 200,
			Headers: map[string]string{"Content-Type": "application/json", "Access-Control-Allow-Origin": "*"}, WantBody: prm},
		{Name: "PRM at the root", Method: "GET", Path: "/.well-known/oauth-protected-resource", Status: 200, WantBody: prm},
		{Name: "CORS preflight from an allowed origin", Method: "OPTIONS", Path: "/mcp",
			Header: http.Header{"Origin": {"https://app.example.com"}, "Access-Control-Request-Method": {"POST"}}, Status: 204,
			Headers: map[string]string{"Access-Control-Allow-Origin": "https://app.example.com", "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
				"Access-Control-Expose-Headers": "WWW-Authenticate, Mcp-Session-Id, MCP-Protocol-Version", "WWW-Authenticate": ""}, EmptyBody: true},

		// --- Origin / Host (DNS rebinding) ---
		{Name: "foreign origin refused", Method: "POST", Path: "/mcp", Header: withHdr(auth(alice), "Origin", "https://evil.example"), Body: rpcCall(1, "ok", ""), Status: 403,
			WantBody: `{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"Forbidden: Origin or Host not allowed"}}`},
		{Name: "null origin refused", Method: "POST", Path: "/mcp", Header: withHdr(auth(alice), "Origin", "null"), Body: rpcCall(1, "ok", ""), Status: 403},
		{Name: "rebound Host refused on a loopback resource", Method: "POST", Path: "/mcp", Header: withHdr(auth(alice), "Host", "evil.example:8080"), Body: rpcCall(1, "ok", ""), Status: 403},
		{Name: "allowed origin passes", Method: "POST", Path: "/mcp", Header: withHdr(auth(alice), "Origin", "https://app.example.com"), Body: rpcCall(1, "ok", ""), Status: 200, Reaches: true,
			Headers: map[string]string{"Access-Control-Allow-Origin": "https://app.example.com", "Access-Control-Expose-Headers": "WWW-Authenticate, Mcp-Session-Id, MCP-Protocol-Version"}},
		{Name: "loopback origin passes for a loopback resource", Method: "POST", Path: "/mcp", Header: withHdr(auth(alice), "Origin", "http://localhost:6274"), Body: rpcCall(1, "ok", ""), Status: 200, Reaches: true},
		{Name: "localhost Host passes", Method: "POST", Path: "/mcp", Header: withHdr(auth(alice), "Host", "localhost"), Body: rpcCall(1, "ok", ""), Status: 200, Reaches: true},

		// --- forwarding: identity, secrets, spoofs ---
		{Name: "identity and secrets replace spoofed copies", Method: "POST", Path: "/mcp",
			Header: func() http.Header {
				h := auth(alice)
				h["X-Mcp-Subject"] = []string{"mallory"}
				h["X_mcp_subject"] = []string{"mallory"}
				h["X-MCP-EMAIL"] = []string{"mallory@evil.example"}
				h["X-Api-Key"] = []string{"stolen"}
				h["X_Tenant"] = []string{"evil"}
				h["X-Mcp-Client-Id"] = []string{"forged"}
				h["X-Other"] = []string{"kept"}
				h["Mcp-Protocol-Version"] = []string{"2025-11-25"}
				h["Last-Event-Id"] = []string{"ev-9"}
				h["Mcp-Param-Region"] = []string{"eu"}
				return h
			}(),
			Body: rpcCall(2, "ok", ""), Status: 200, Reaches: true,
			WantBody: `{"jsonrpc":"2.0","id":2,"result":{"content":[{"type":"text","text":"ok"}]}}`,
			Check: func(t *testing.T, e *Env, _ *http.Response, _ string, s Seen) {
				want := map[string]string{"X-Mcp-Subject": "alice", "X-Mcp-Email": "alice@example.com", "X-Mcp-Client-Id": "client-1",
					"X-Api-Key": APIKey, "X-Tenant": Tenant, "X-Other": "kept", "Mcp-Protocol-Version": "2025-11-25",
					"Last-Event-Id": "ev-9", "Mcp-Param-Region": "eu"}
				for k, v := range want {
					if got := s.Header.Values(k); len(got) != 1 || got[0] != v {
						t.Errorf("upstream %s = %q, want %q", k, got, v)
					}
				}
				for k, vs := range s.Header {
					if strings.EqualFold(k, "Authorization") || strings.Contains(k, "_") {
						t.Errorf("upstream received %s", k)
					}
					for _, v := range vs {
						if strings.Contains(v, alice) || v == "mallory" || v == "stolen" || v == "evil" || v == "forged" {
							t.Errorf("upstream %s carries a client value %q", k, v)
						}
					}
				}
				if s.Host != e.Listen {
					t.Errorf("upstream Host = %q, want the client's %q", s.Host, e.Listen)
				}
				if s.Body != rpcCall(2, "ok", "") {
					t.Errorf("upstream body = %q", s.Body)
				}
			}},
		{Name: "issuer 2 (RS256, at+jwt) forwards its sub", Method: "POST", Path: "/mcp", Header: auth(bob), Body: rpcCall(3, "ok", ""), Status: 200, Reaches: true,
			Check: func(t *testing.T, _ *Env, _ *http.Response, _ string, s Seen) {
				if got := s.Header.Get("X-Mcp-Subject"); got != "bob" {
					t.Errorf("subject = %q", got)
				}
			}},
		{Name: "body over max_body_bytes", Method: "POST", Path: "/mcp", Header: auth(alice), Body: strings.Repeat("x", 5000), Status: 413, WantBody: "Request Entity Too Large"},

		// --- header/body consistency (2026-07-28) ---
		{Name: "Mcp-Method contradicting the body", Method: "POST", Path: "/mcp", Header: auth(alice, "Mcp-Method", "tools/list"), Body: rpcCall(4, "ok", ""), Status: 400,
			WantBody: `{"jsonrpc":"2.0","id":4,"error":{"code":-32020,"message":"Mcp-Method header does not match the request body"}}`},
		{Name: "Mcp-Name contradicting the body", Method: "POST", Path: "/mcp", Header: auth(alice, "Mcp-Method", "tools/call", "Mcp-Name", "ok_sc"), Body: rpcCall(4, "ok", ""), Status: 400,
			WantBody: `{"jsonrpc":"2.0","id":4,"error":{"code":-32020,"message":"Mcp-Name header does not match the request body"}}`},
		{Name: "Mcp-Name on a method with no mirrored field passes", Method: "POST", Path: "/mcp", Header: auth(alice, "Mcp-Method", "ping", "Mcp-Name", "x"), Body: `{"jsonrpc":"2.0","id":5,"method":"ping"}`, Status: 200, Reaches: true},
		{Name: "Mcp-Name checked against taskId", Method: "POST", Path: "/mcp", Header: auth(alice, "Mcp-Method", "tasks/get", "Mcp-Name", "t-2"), Body: `{"jsonrpc":"2.0","id":5,"method":"tasks/get","params":{"taskId":"t-1"}}`, Status: 400},
		{Name: "base64 Mcp-Name matching the body", Method: "POST", Path: "/mcp", Header: auth(alice, "Mcp-Method", "tools/call", "Mcp-Name", "=?base64?b2s=?="), Body: rpcCall(4, "ok", ""), Status: 200, Reaches: true,
			Check: func(t *testing.T, _ *Env, _ *http.Response, _ string, s Seen) {
				if s.Header.Get("Mcp-Method") != "tools/call" || s.Header.Get("Mcp-Name") != "=?base64?b2s=?=" {
					t.Errorf("mirrored headers not forwarded as sent: %q %q", s.Header.Get("Mcp-Method"), s.Header.Get("Mcp-Name"))
				}
			}},
		{Name: "header cannot smuggle a tool past the policy", Method: "POST", Path: "/mcp", Header: auth(alice, "Mcp-Method", "tools/call", "Mcp-Name", "ok"), Body: rpcCall(4, "admin_tool", ""), Status: 400},

		// --- scope policy ---
		{Name: "tool needing more scopes: 403 with all of them", Method: "POST", Path: "/mcp", Header: auth(alice), Body: rpcCall(5, "admin_tool", ""), Status: 403,
			Headers: map[string]string{"WWW-Authenticate": ch(`, error="insufficient_scope", scope="mcp:write mcp:admin"`)}, WantBody: "Insufficient scope"},
		{Name: "tool allowed with the scopes", Method: "POST", Path: "/mcp", Header: auth(admin), Body: rpcCall(5, "admin_tool", ""), Status: 200, Reaches: true},
		{Name: "method rule", Method: "POST", Path: "/mcp", Header: auth(e.Token(t, 1, func(c jwt.MapClaims) { c["scope"] = "other" }, nil)),
			Body: `{"jsonrpc":"2.0","id":6,"method":"tools/list"}`, Status: 403,
			Headers: map[string]string{"WWW-Authenticate": ch(`, error="insufficient_scope", scope="mcp:read"`)}},
		{Name: "batch: policy per element", Method: "POST", Path: "/mcp", Header: auth(alice),
			Body: `[{"jsonrpc":"2.0","id":7,"method":"tools/list"},` + rpcCall(8, "admin_tool", "") + `]`, Status: 403,
			Headers: map[string]string{"WWW-Authenticate": ch(`, error="insufficient_scope", scope="mcp:read mcp:write mcp:admin"`)}},
		{Name: "unparseable body with a policy configured", Method: "POST", Path: "/mcp", Header: auth(alice), Body: `{"jsonrpc":`, Status: 400,
			WantBody: `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}`},

		// --- sessions bound to the caller ---
		{Name: "upstream session id is wrapped", Method: "POST", Path: "/mcp", Header: auth(alice), Body: rpcCall(9, "session", ""), Status: 200, Reaches: true,
			Check: func(t *testing.T, _ *Env, resp *http.Response, _ string, _ Seen) {
				sid := resp.Header.Get("Mcp-Session-Id")
				if sid == "" || sid == "up-session-1" || strings.ContainsAny(sid, " \t\"") {
					t.Errorf("client saw session id %q", sid)
				}
			}},
		{Name: "own wrapped session id reaches upstream unwrapped", Method: "DELETE", Path: "/mcp", Header: auth(alice), Status: 404, Reaches: true, // no session: the upstream says 404
			Check: func(t *testing.T, e *Env, _ *http.Response, _ string, _ Seen) {
				sid := wrapped(t, e)
				resp, _ := e.Do(t, "DELETE", "/mcp", withHdr(auth(alice), "Mcp-Session-Id", sid), "")
				if resp.StatusCode != 204 || e.Up.Last().Header.Get("Mcp-Session-Id") != "up-session-1" {
					t.Errorf("DELETE with own session = %d, upstream saw %q", resp.StatusCode, e.Up.Last().Header.Get("Mcp-Session-Id"))
				}
			}},
		{Name: "another user's session id: 404", Method: "POST", Path: "/mcp", Header: auth(bob), Body: rpcCall(10, "ok", ""), Status: 200, Reaches: true,
			Check: func(t *testing.T, e *Env, _ *http.Response, _ string, _ Seen) {
				sid := wrapped(t, e)
				before := e.Up.Count()
				resp, body := e.Do(t, "POST", "/mcp", withHdr(auth(bob), "Mcp-Session-Id", sid), rpcCall(11, "ok", ""))
				if resp.StatusCode != 404 || body != `{"jsonrpc":"2.0","id":null,"error":{"code":-32001,"message":"Session not found"}}` || e.Up.Count() != before {
					t.Errorf("bob with alice's session = %d %q", resp.StatusCode, body)
				}
				resp, _ = e.Do(t, "POST", "/mcp", withHdr(auth(alice), "Mcp-Session-Id", "up-session-1"), rpcCall(12, "ok", ""))
				if resp.StatusCode != 404 {
					t.Errorf("raw upstream id accepted: %d", resp.StatusCode)
				}
			}},

		// --- structuredContent on isError ---
		{Name: "JSON error result loses structuredContent", Method: "POST", Path: "/mcp", Header: auth(alice), Body: rpcCall(13, "err_json", ""), Status: 200, Reaches: true,
			WantBody: `{"jsonrpc":"2.0","id":13,"result":{"content":[{"type":"text","text":"boom"}],"isError":true,"_meta":{"k":1e2}}}`,
			Check: func(t *testing.T, _ *Env, resp *http.Response, body string, _ Seen) {
				if resp.ContentLength != int64(len(body)) {
					t.Errorf("Content-Length %d for a %d-byte body", resp.ContentLength, len(body))
				}
			}},
		{Name: "non-error result untouched byte for byte", Method: "POST", Path: "/mcp", Header: auth(alice), Body: rpcCall(14, "ok_sc", ""), Status: 200, Reaches: true,
			WantBody: `{"jsonrpc":"2.0","id":14,"result":{"content":[{"type":"text","text":"ok"}],"structuredContent":{"v":1.50},"isError":false}}`},
		{Name: "SSE error result rewritten, other events untouched", Method: "POST", Path: "/mcp", Header: auth(alice), Body: rpcCall(15, "err_sse", ""), Status: 200, Reaches: true,
			Headers: map[string]string{"Content-Type": "text/event-stream"},
			WantBody: "id: e1\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progress\":1}}\n\n" +
				"id: e2\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":15,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"boom\"}],\"isError\":true}}\n\n"},

		// --- upstream failures become agent-safe MCP answers ---
		{Name: "upstream 500 on tools/call", Method: "POST", Path: "/mcp", Header: auth(alice), Body: rpcCall(16, "status", `{"status":500}`), Status: 200, Reaches: true,
			Headers:  map[string]string{"Content-Type": "application/json"},
			WantBody: `{"jsonrpc":"2.0","id":16,"result":{"content":[{"type":"text","text":"Upstream HTTP request failed (Internal Server Error, server error)."}],"isError":true,"_meta":{"arcade":{"errorKind":"UPSTREAM_RUNTIME_SERVER_ERROR","canRetry":true,"statusCode":500}}}}`},
		{Name: "upstream 429 with Retry-After", Method: "POST", Path: "/mcp", Header: auth(alice), Body: rpcCall(17, "status", `{"status":429,"headers":{"Retry-After":"2"}}`), Status: 200, Reaches: true,
			WantBody: `{"jsonrpc":"2.0","id":17,"result":{"content":[{"type":"text","text":"Upstream HTTP request failed (Too Many Requests, client error). Retry after 2 second(s)."}],"isError":true,"_meta":{"arcade":{"errorKind":"UPSTREAM_RUNTIME_RATE_LIMIT","canRetry":true,"retryAfterMs":2000,"statusCode":429}}}}`},
		{Name: "upstream 502 on another method: JSON-RPC error", Method: "POST", Path: "/mcp", Header: auth(alice),
			Body: `{"jsonrpc":"2.0","id":18,"method":"tools/call","params":{"name":"status","arguments":{"status":502}}}`, Status: 200, Reaches: true,
			Check: func(t *testing.T, _ *Env, _ *http.Response, body string, _ Seen) {
				if strings.Contains(body, "hunter2") || strings.Contains(body, "app.go") {
					t.Errorf("internal upstream text leaked: %s", body)
				}
			}},
		{Name: "upstream 404 passes through", Method: "POST", Path: "/mcp", Header: auth(alice), Body: rpcCall(19, "status", `{"status":404}`), Status: 404, Reaches: true},
		{Name: "upstream 400 passes through", Method: "POST", Path: "/mcp", Header: auth(alice), Body: rpcCall(20, "status", `{"status":400}`), Status: 400, Reaches: true},
		{Name: "upstream 405 passes through", Method: "GET", Path: "/status/405", Header: auth(alice), Status: 405, Reaches: true, Headers: map[string]string{"Allow": "GET, POST"}},
		{Name: "notification gets 202", Method: "POST", Path: "/mcp", Header: auth(alice), Body: `{"jsonrpc":"2.0","method":"notifications/initialized"}`, Status: 202, Reaches: true, EmptyBody: true},

		// --- streams ---
		{Name: "resumed stream (Last-Event-ID): replayed error result loses structuredContent", Method: "GET", Path: "/mcp", Header: auth(alice, "Last-Event-ID", "e1"), Status: 200, Reaches: true,
			WantBody: "id: e2\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":15,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"boom\"}],\"isError\":true}}\n\n" +
				"id: e3\ndata: {\"jsonrpc\":\"2.0\",\"id\":16,\"result\":{\"content\":[],\"structuredContent\":{\"ok\":true}}}\n\n"},
		{Name: "GET stream: Last-Event-ID, id and retry pass, events not buffered", Method: "GET", Path: "/mcp", Header: auth(alice, "Last-Event-ID", "s0"), Status: 200, Reaches: true,
			WantBody: "id: s1\nretry: 1500\ndata: {\"last_event_id\":\"s0\"}\n\nid: s2\ndata: {\"n\":2}\n\n"},
	}
}

// Run runs the behaviour table against a front door, then the tests that
// need their own request timing (streaming, cancellation, upstream down).
func Run(t *testing.T, fd FrontDoor) {
	e := NewEnv(t, fd, nil)
	for _, c := range slices.Concat(Cases(t, e), AttackCases(t, e), UpstreamReplyCases(t, e), PolicyCases(t, e)) {
		t.Run(c.Name, func(t *testing.T) {
			before := e.Up.Count()
			resp, body := e.Do(t, c.Method, c.Path, c.Header, c.Body)
			if resp == nil {
				t.Fatalf("request failed: %s", body)
			}
			if resp.StatusCode != c.Status {
				t.Fatalf("status = %d, want %d (body %q)", resp.StatusCode, c.Status, body)
			}
			for k, v := range c.Headers {
				got := strings.Join(resp.Header.Values(k), " | ")
				if got != v {
					t.Errorf("%s =\n  %q\nwant\n  %q", k, got, v)
				}
			}
			if (c.WantBody != "" || c.EmptyBody) && body != c.WantBody {
				t.Errorf("body =\n  %q\nwant\n  %q", body, c.WantBody)
			}
			if reached := e.Up.Count() > before; reached != c.Reaches {
				t.Errorf("reached upstream = %v, want %v", reached, c.Reaches)
			}
			if c.Check != nil {
				c.Check(t, e, resp, body, e.Up.Last())
			}
		})
	}
	t.Run("SSE first event arrives before the stream ends", func(t *testing.T) { sseTiming(t, e) })
	t.Run("client cancellation reaches the upstream", func(t *testing.T) { cancellation(t, e) })
}

func sseTiming(t *testing.T, e *Env) {
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/mcp", ""},
		{"POST", "/mcp", rpcCall(30, "err_sse", "")}, // the rewriting path flushes per event too
	} {
		req, _ := http.NewRequest(c.method, e.Base+c.path, strings.NewReader(c.body))
		req.Header.Set("Authorization", "Bearer "+e.Token(t, 1, nil, nil))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		// The upstream flushes the first event and sends the second 300 ms
		// later. Unbuffered, the client sees that gap; buffered, both
		// arrive together. (A gap, not a latency: robust on a busy machine.)
		br := bufio.NewReader(resp.Body)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("%s %s: stream ended before the first event: %v", c.method, c.path, err)
			}
			if line == "\n" {
				break
			}
		}
		first := time.Now()
		_, _ = io.Copy(io.Discard, br)
		resp.Body.Close()
		if gap := time.Since(first); gap < 100*time.Millisecond {
			t.Errorf("%s %s: the second event came %v after the first (the upstream waits 300 ms): the stream is buffered", c.method, c.path, gap)
		}
	}
}

func cancellation(t *testing.T, e *Env) {
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", e.Base+"/mcp", strings.NewReader(rpcCall(31, "slow", "")))
	req.Header.Set("Authorization", "Bearer "+e.Token(t, 1, nil, nil))
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && !strings.Contains(e.Up.Last().Body, `"slow"`) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	deadline = time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) && !e.Up.Last().Cancelled {
		time.Sleep(10 * time.Millisecond)
	}
	if !e.Up.Last().Cancelled {
		t.Fatal("the upstream never saw the client's cancellation")
	}
}

// UpstreamDown checks the transport-failure mapping: the front door is
// configured with an upstream nothing listens on.
func UpstreamDown(t *testing.T, e *Env) {
	resp, body := e.Do(t, "POST", "/mcp", http.Header{"Authorization": {"Bearer " + e.Token(t, 1, nil, nil)}, "Content-Type": {"application/json"}}, rpcCall(40, "ok", ""))
	want := `{"jsonrpc":"2.0","id":40,"result":{"content":[{"type":"text","text":"HTTP request failed before reaching the upstream service."}],"isError":true,"_meta":{"arcade":{"errorKind":"NETWORK_TRANSPORT_RUNTIME_UNREACHABLE","canRetry":true}}}}`
	if resp == nil || resp.StatusCode != 200 || body != want {
		t.Fatalf("tools/call with upstream down = %v %q\nwant 200 %q", resp, body, want)
	}
	resp, body = e.Do(t, "POST", "/mcp", http.Header{"Authorization": {"Bearer " + e.Token(t, 1, nil, nil)}}, `{"jsonrpc":"2.0","id":"x","method":"tools/list"}`)
	want = `{"jsonrpc":"2.0","id":"x","error":{"code":-32603,"message":"HTTP request failed before reaching the upstream service.","data":{"errorKind":"NETWORK_TRANSPORT_RUNTIME_UNREACHABLE","canRetry":true}}}`
	if resp == nil || resp.StatusCode != 200 || body != want {
		t.Fatalf("tools/list with upstream down = %v %q\nwant %q", resp, body, want)
	}
	resp, body = e.Do(t, "GET", "/mcp", http.Header{"Authorization": {"Bearer " + e.Token(t, 1, nil, nil)}}, "")
	if resp == nil || resp.StatusCode != 502 || body != "Bad Gateway" {
		t.Fatalf("GET with upstream down = %v %q", resp, body)
	}
}

// StripOff checks that strip_error_structured_content: false leaves error
// results untouched.
func StripOff(t *testing.T, e *Env) {
	resp, body := e.Do(t, "POST", "/mcp", http.Header{"Authorization": {"Bearer " + e.Token(t, 1, nil, nil)}, "Content-Type": {"application/json"}}, rpcCall(41, "err_json", ""))
	want := `{"jsonrpc":"2.0","id":41,"result":{"content":[{"type":"text","text":"boom"}],"structuredContent":{"error":"boom"},"isError":true,"_meta":{"k":1e2}}}`
	if resp == nil || resp.StatusCode != 200 || body != want {
		t.Fatalf("with the rewrite off = %v %q", resp, body)
	}
}
