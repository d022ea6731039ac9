package mcpproxy_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/jwkstest"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/mcpproxy"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

// The guard's resource is on loopback, so that the Host check applies.
const (
	guardBase     = "http://127.0.0.1:9"
	guardResource = guardBase + "/mcp"
	guardPRM      = guardBase + "/.well-known/oauth-protected-resource/mcp"
)

// guardSessionKey binds session ids; the test wraps ids with the same key.
var guardSessionKey = []byte("guard-test-session-key-32-bytes!")

// guardFixture is a Guard alone (no proxy) with a real JWKS server.
type guardFixture struct {
	g      *mcpproxy.Guard
	as     *jwkstest.Server
	key    jwkstest.Key
	binder *mcpproxy.SessionBinder
}

// newGuard builds the Guard with: allowed origin https://app.example.com,
// max_body_bytes 512, tools/call of "delete" needing mcp:admin.
func newGuard(t *testing.T) *guardFixture {
	t.Helper()
	key := jwkstest.NewKey(t, "k1", "ES256")
	as := jwkstest.NewServer(t, key)
	rc, err := rs.Config{Resource: guardResource, AuthorizationServers: []rs.AuthorizationServer{{Issuer: as.Issuer, JWKSURI: as.JWKSURL()}}}.Normalized()
	if err != nil {
		t.Fatal(err)
	}
	pc, err := mcpproxy.Policy{
		AllowedOrigins: []string{"https://app.example.com"},
		MaxBodyBytes:   512,
		RequiredScopes: mcpproxy.RequiredScopes{Tools: map[string][]string{"delete": {"mcp:admin"}}},
	}.Normalized(mcpproxy.UpstreamForbidden)
	if err != nil {
		t.Fatal(err)
	}
	v, err := rs.NewValidator(rc, rs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v.Start()
	t.Cleanup(v.Close)
	inj, err := mcpproxy.NewInjector(mcpproxy.IdentityHeaders{}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := mcpproxy.NewGuard(&rc, &pc, v, inj, mcpproxy.Options{SessionKey: guardSessionKey})
	if err != nil {
		t.Fatal(err)
	}
	binder, err := mcpproxy.NewSessionBinder(guardSessionKey)
	if err != nil {
		t.Fatal(err)
	}
	return &guardFixture{g: g, as: as, key: key, binder: binder}
}

// token signs a token for alice with scope mcp:read; mod edits the claims.
func (f *guardFixture) token(t *testing.T, mod func(jwt.MapClaims)) string {
	t.Helper()
	now := time.Now()
	c := jwt.MapClaims{"iss": f.as.Issuer, "sub": "alice", "aud": guardResource, "scope": "mcp:read",
		"exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}
	if mod != nil {
		mod(c)
	}
	return f.key.Sign(t, c, nil)
}

// request builds a request to the resource with alice's token (and, for
// a POST, Content-Type application/json).
func (f *guardFixture) request(t *testing.T, method, body string) *http.Request {
	t.Helper()
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, guardResource, nil)
	} else {
		r = httptest.NewRequest(method, guardResource, strings.NewReader(body))
	}
	r.Header.Set("Authorization", "Bearer "+f.token(t, nil))
	if method == http.MethodPost {
		r.Header.Set("Content-Type", "application/json")
	}
	return r
}

// readBody is a request body that fails with err once its bytes are read.
type readBody struct {
	r   io.Reader
	err error
}

func (b *readBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if errors.Is(err, io.EOF) {
		return n, b.err
	}
	return n, err
}
func (b *readBody) Close() error { return nil }

func jsonrpcErr(id string, code int, msg string) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"error":{"code":%d,"message":%q}}`, id, code, msg)
}

const (
	callSearch = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","arguments":{}}}`
	callDelete = `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"delete","arguments":{}}}`
)

// TestGuardAdmitRefusals: for each refusal (and each answer Admit gives
// itself) the exact status, body, headers and returned reason.
func TestGuardAdmitRefusals(t *testing.T) {
	f := newGuard(t)
	const (
		jsonType  = "application/json"
		plainType = "text/plain; charset=utf-8"
	)
	challenge := func(params string) string {
		return `Bearer resource_metadata="` + guardPRM + `"` + params
	}
	originRefused := jsonrpcErr("null", -32000, "Forbidden: Origin or Host not allowed")
	cases := []struct {
		name   string
		method string
		body   string
		mod    func(r *http.Request)
		status int
		ctype  string
		want   string            // body
		header map[string]string // further headers, exact
		reason string
	}{
		// Answers that are no refusals.
		{name: "protected resource metadata", method: "GET", mod: func(r *http.Request) {
			r.URL.Path = "/.well-known/oauth-protected-resource/mcp"
		}, status: 200, ctype: jsonType, reason: ""},
		{name: "CORS preflight", method: "OPTIONS", mod: func(r *http.Request) {
			r.Header.Set("Origin", "https://app.example.com")
			r.Header.Set("Access-Control-Request-Method", "POST")
		}, status: 204, header: map[string]string{"Access-Control-Allow-Origin": "https://app.example.com",
			"Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS", "Access-Control-Max-Age": "86400"}},

		// Origin and Host.
		{name: "foreign Origin", method: "POST", body: callSearch, mod: func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") },
			status: 403, ctype: jsonType, want: originRefused, reason: "origin"},
		{name: "Origin null", method: "POST", body: callSearch, mod: func(r *http.Request) { r.Header.Set("Origin", "null") },
			status: 403, ctype: jsonType, want: originRefused, reason: "origin"},
		{name: "two Origin headers", method: "GET", mod: func(r *http.Request) {
			r.Header["Origin"] = []string{"https://app.example.com", "https://app.example.com"}
		}, status: 403, ctype: jsonType, want: originRefused, reason: "origin"},
		{name: "DNS-rebound Host", method: "GET", mod: func(r *http.Request) { r.Host = "attacker.example:9" },
			status: 403, ctype: jsonType, want: originRefused, reason: "origin"},
		{name: "foreign Origin on a preflight", method: "OPTIONS", mod: func(r *http.Request) {
			r.Header.Set("Origin", "https://evil.example")
			r.Header.Set("Access-Control-Request-Method", "POST")
		}, status: 403, ctype: jsonType, want: originRefused, reason: "origin"},

		// Methods that are not MCP's.
		{name: "PUT", method: "PUT", body: callSearch, status: 405, ctype: plainType, want: "Method Not Allowed",
			header: map[string]string{"Allow": "GET, POST, DELETE, OPTIONS"}, reason: "method"},
		{name: "HEAD", method: "HEAD", status: 405, ctype: plainType, want: "Method Not Allowed",
			header: map[string]string{"Allow": "GET, POST, DELETE, OPTIONS"}, reason: "method"},
		{name: "plain OPTIONS", method: "OPTIONS", status: 405, ctype: plainType, want: "Method Not Allowed",
			header: map[string]string{"Allow": "GET, POST, DELETE, OPTIONS"}, reason: "method"},

		// The bearer token.
		{name: "no token", method: "POST", body: callSearch, mod: func(r *http.Request) { r.Header.Del("Authorization") },
			status: 401, ctype: plainType, want: "Unauthorized", header: map[string]string{"WWW-Authenticate": challenge("")}, reason: "missing"},
		{name: "Basic credentials", method: "POST", body: callSearch, mod: func(r *http.Request) { r.Header.Set("Authorization", "Basic YWxpY2U6cHc=") },
			status: 401, ctype: plainType, want: "Unauthorized", header: map[string]string{"WWW-Authenticate": challenge("")}, reason: "missing"},
		{name: "two Authorization headers", method: "POST", body: callSearch, mod: func(r *http.Request) { r.Header.Add("Authorization", "Bearer x") },
			status: 400, ctype: plainType, want: "Bad Request",
			header: map[string]string{"WWW-Authenticate": challenge(`, error="invalid_request", error_description="Request carries more than one access token"`)}, reason: "multiple_tokens"},
		{name: "empty Bearer", method: "POST", body: callSearch, mod: func(r *http.Request) { r.Header.Set("Authorization", "Bearer ") },
			status: 400, ctype: plainType, want: "Bad Request",
			header: map[string]string{"WWW-Authenticate": challenge(`, error="invalid_request", error_description="Malformed Authorization header"`)}, reason: "malformed_header"},
		{name: "token in the query", method: "GET", mod: func(r *http.Request) {
			r.Header.Del("Authorization")
			r.URL.RawQuery = "access_token=abc"
		}, status: 400, ctype: plainType, want: "Bad Request",
			header: map[string]string{"WWW-Authenticate": challenge(`, error="invalid_request", error_description="Access tokens are not accepted in the query string"`)}, reason: "token_in_query"},
		{name: "expired token", method: "POST", body: callSearch, mod: func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer "+f.token(t, func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() }))
		}, status: 401, ctype: plainType, want: "Unauthorized",
			header: map[string]string{"WWW-Authenticate": challenge(`, error="invalid_token", error_description="Token has expired"`)}, reason: "expired"},
		{name: "token for another resource", method: "POST", body: callSearch, mod: func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer "+f.token(t, func(c jwt.MapClaims) { c["aud"] = "https://other.example/mcp" }))
		}, status: 401, ctype: plainType, want: "Unauthorized",
			header: map[string]string{"WWW-Authenticate": challenge(`, error="invalid_token", error_description="Token audience does not match this resource"`)}, reason: "audience"},
		{name: "token signed by another key", method: "POST", body: callSearch, mod: func(r *http.Request) {
			other := jwkstest.NewKey(t, "k1", "ES256")
			r.Header.Set("Authorization", "Bearer "+other.Sign(t, jwt.MapClaims{"iss": f.as.Issuer, "sub": "alice", "aud": guardResource, "exp": time.Now().Add(time.Hour).Unix()}, nil))
		}, status: 401, ctype: plainType, want: "Unauthorized",
			header: map[string]string{"WWW-Authenticate": challenge(`, error="invalid_token", error_description="Token signature verification failed"`)}, reason: "signature"},

		// The body.
		{name: "body too large (declared)", method: "POST", body: strings.Repeat(" ", 511) + "{}",
			status: 413, ctype: plainType, want: "Request Entity Too Large", reason: "body_too_large"},
		{name: "body too large (chunked)", method: "POST", mod: func(r *http.Request) {
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader(strings.Repeat(" ", 513))), -1
		}, status: 413, ctype: plainType, want: "Request Entity Too Large", reason: "body_too_large"},
		{name: "body not sent in time", method: "POST", mod: func(r *http.Request) {
			r.Body, r.ContentLength = &readBody{strings.NewReader("{"), fmt.Errorf("read tcp: %w", os.ErrDeadlineExceeded)}, 10
		}, status: 408, ctype: plainType, want: "Request Timeout", reason: "body_timeout"},
		{name: "body broken off", method: "POST", mod: func(r *http.Request) {
			r.Body, r.ContentLength = &readBody{strings.NewReader("{"), io.ErrUnexpectedEOF}, 10
		}, status: 400, ctype: plainType, want: "Bad Request", reason: "bad_request"},
		{name: "gzip body", method: "POST", body: callSearch, mod: func(r *http.Request) { r.Header.Set("Content-Encoding", "gzip") },
			status: 415, ctype: plainType, want: "Unsupported Media Type", reason: "content_encoding"},
		{name: "latin-1 body", method: "POST", body: callSearch, mod: func(r *http.Request) { r.Header.Set("Content-Type", "application/json; charset=iso-8859-1") },
			status: 415, ctype: plainType, want: "Unsupported Media Type", reason: "charset"},
		{name: "two Content-Types", method: "POST", body: callSearch, mod: func(r *http.Request) { r.Header.Add("Content-Type", "text/plain") },
			status: 415, ctype: plainType, want: "Unsupported Media Type", reason: "content_type"},
		{name: "not JSON", method: "POST", body: `{"jsonrpc":`,
			status: 400, ctype: jsonType, want: jsonrpcErr("null", -32700, "Parse error"), reason: "bad_request"},
		{name: "not JSON-RPC 2.0", method: "POST", body: `{"jsonrpc":"1.0","id":5,"method":"ping"}`,
			status: 400, ctype: jsonType, want: jsonrpcErr("5", -32600, `Invalid Request: "jsonrpc" must be "2.0"`), reason: "bad_request"},
		{name: "duplicate member", method: "POST", body: `{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call"}`,
			status: 400, ctype: jsonType, want: jsonrpcErr("null", -32600, "Invalid Request: duplicate member name"), reason: "bad_request"},
		{name: "Mcp-Method contradicts body", method: "POST", body: callSearch, mod: func(r *http.Request) { r.Header.Set("Mcp-Method", "tools/list") },
			status: 400, ctype: jsonType, want: jsonrpcErr("1", -32020, "Mcp-Method header does not match the request body"), reason: "bad_request"},
		{name: "Mcp-Name contradicts body", method: "POST", body: callSearch, mod: func(r *http.Request) { r.Header.Set("Mcp-Name", "delete") },
			status: 400, ctype: jsonType, want: jsonrpcErr("1", -32020, "Mcp-Name header does not match the request body"), reason: "bad_request"},
		{name: "Mcp-Method without a body", method: "GET", mod: func(r *http.Request) { r.Header.Set("Mcp-Method", "tools/list") },
			status: 400, ctype: jsonType, want: jsonrpcErr("null", -32020, "Mcp-Method header requires a JSON-RPC body"), reason: "bad_request"},
		{name: "GET with a body", method: "GET", body: "{}",
			status: 400, ctype: jsonType, want: jsonrpcErr("null", -32600, "Bad Request: GET takes no body"), reason: "bad_request"},
		{name: "DELETE with a body", method: "DELETE", body: callSearch,
			status: 400, ctype: jsonType, want: jsonrpcErr("null", -32600, "Bad Request: DELETE takes no body"), reason: "bad_request"},

		// The scope policy.
		{name: "tool needs a scope the token lacks", method: "POST", body: callDelete, status: 403, ctype: plainType, want: "Insufficient scope",
			header: map[string]string{"WWW-Authenticate": challenge(`, error="insufficient_scope", scope="mcp:admin"`)}, reason: "insufficient_scope"},
		{name: "batch with a tool that needs a scope", method: "POST", body: "[" + callSearch + "," + callDelete + "]", status: 403, ctype: plainType, want: "Insufficient scope",
			header: map[string]string{"WWW-Authenticate": challenge(`, error="insufficient_scope", scope="mcp:admin"`)}, reason: "insufficient_scope"},

		// Sessions.
		{name: "two Mcp-Session-Id headers", method: "GET", mod: func(r *http.Request) {
			sid := f.binder.Wrap(f.as.Issuer, "alice", "up-1")
			r.Header["Mcp-Session-Id"] = []string{sid, sid}
		}, status: 400, ctype: jsonType, want: jsonrpcErr("null", -32600, "Bad Request: more than one Mcp-Session-Id"), reason: "bad_request"},
		{name: "session id not issued here", method: "GET", mod: func(r *http.Request) { r.Header.Set("Mcp-Session-Id", "up-1") },
			status: 404, ctype: jsonType, want: jsonrpcErr("null", -32001, "Session not found"), reason: "session"},
		{name: "session id of another caller", method: "DELETE", mod: func(r *http.Request) {
			r.Header.Set("Mcp-Session-Id", f.binder.Wrap(f.as.Issuer, "mallory", "up-1"))
		}, status: 404, ctype: jsonType, want: jsonrpcErr("null", -32001, "Session not found"), reason: "session"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := f.request(t, tc.method, tc.body)
			if tc.mod != nil {
				tc.mod(r)
			}
			rec := httptest.NewRecorder()
			st, reason, ok := f.g.Admit(rec, r)
			if ok || st != nil {
				t.Fatalf("admitted (state %v)", st)
			}
			res := rec.Result()
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != tc.status {
				t.Errorf("status = %d, want %d", res.StatusCode, tc.status)
			}
			if tc.want != "" || tc.status != 200 {
				if string(body) != tc.want {
					t.Errorf("body = %q\nwant   %q", body, tc.want)
				}
			}
			if got := res.Header.Get("Content-Type"); got != tc.ctype {
				t.Errorf("Content-Type = %q, want %q", got, tc.ctype)
			}
			for k, v := range tc.header {
				if got := res.Header.Values(k); len(got) != 1 || got[0] != v {
					t.Errorf("%s = %q\nwant %q", k, got, v)
				}
			}
			if _, ok := tc.header["WWW-Authenticate"]; !ok && res.Header.Get("WWW-Authenticate") != "" {
				t.Errorf("unexpected WWW-Authenticate %q", res.Header.Get("WWW-Authenticate"))
			}
			if reason != tc.reason {
				t.Errorf("reason = %q, want %q", reason, tc.reason)
			}
			if refusal := tc.status >= 400; refusal && reason == "" {
				t.Errorf("a refusal without a reason")
			}
		})
	}
}

// TestGuardAdmitAdmits: an admitted request carries the caller's identity
// and the inspected body; the body is buffered (readable again, length
// set), the session id is the upstream's, and CORS headers are set while
// nothing is written.
func TestGuardAdmitAdmits(t *testing.T) {
	f := newGuard(t)
	batch := `[` + callSearch + `,{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}},{"jsonrpc":"2.0","id":"r","method":"resources/read","params":{"uri":"file:///a"}}]`
	cases := []struct {
		name     string
		method   string
		body     string
		mod      func(r *http.Request)
		messages string // Request().Messages as method/id/name; "-" for no Request
		batch    bool
		toolIDs  []string
		session  string // Mcp-Session-Id after Admit
		acceptEn string // Accept-Encoding after Admit
		allow    string // Access-Control-Allow-Origin
	}{
		{name: "tools/call", method: "POST", body: callSearch, mod: func(r *http.Request) { r.Header.Set("Accept-Encoding", "gzip") },
			messages: "tools/call/1/search", toolIDs: []string{"1"}, allow: "*"},
		{name: "prompts/list keeps Accept-Encoding (no rule filters it)", method: "POST", body: `{"jsonrpc":"2.0","id":"l","method":"prompts/list"}`,
			mod: func(r *http.Request) { r.Header.Set("Accept-Encoding", "gzip") }, messages: `prompts/list/"l"/`, acceptEn: "gzip", allow: "*"},
		{name: "tools/list is filtered: plain bytes asked for", method: "POST", body: `{"jsonrpc":"2.0","id":"l","method":"tools/list"}`,
			mod: func(r *http.Request) { r.Header.Set("Accept-Encoding", "gzip") }, messages: `tools/list/"l"/`, acceptEn: "", allow: "*"},
		{name: "batch", method: "POST", body: batch, messages: `tools/call/1/search notifications/progress// resources/read/"r"/file:///a`,
			batch: true, toolIDs: []string{"1"}, allow: "*"},
		{name: "tool with its scope", method: "POST", body: callDelete, mod: func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer "+f.token(t, func(c jwt.MapClaims) { c["scope"] = "mcp:read mcp:admin" }))
		}, messages: "tools/call/2/delete", toolIDs: []string{"2"}, allow: "*"},
		{name: "matching Mcp-Method and Mcp-Name", method: "POST", body: callSearch, mod: func(r *http.Request) {
			r.Header.Set("Mcp-Method", "tools/call")
			r.Header.Set("Mcp-Name", "search")
		}, messages: "tools/call/1/search", toolIDs: []string{"1"}, allow: "*"},
		{name: "allowed Origin", method: "POST", body: callSearch, mod: func(r *http.Request) { r.Header.Set("Origin", "https://app.example.com") },
			messages: "tools/call/1/search", toolIDs: []string{"1"}, allow: "https://app.example.com"},
		{name: "loopback Origin", method: "POST", body: callSearch, mod: func(r *http.Request) { r.Header.Set("Origin", "http://localhost:3000") },
			messages: "tools/call/1/search", toolIDs: []string{"1"}, allow: "http://localhost:3000"},
		{name: "session id unwrapped", method: "POST", body: callSearch, mod: func(r *http.Request) {
			r.Header.Set("Mcp-Session-Id", f.binder.Wrap(f.as.Issuer, "alice", "up-1"))
		}, messages: "tools/call/1/search", toolIDs: []string{"1"}, session: "up-1", allow: "*"},
		{name: "GET stream", method: "GET", mod: func(r *http.Request) { r.Header.Set("Accept-Encoding", "gzip") },
			messages: "-", acceptEn: "gzip", allow: "*"},
		{name: "GET resuming a stream", method: "GET", mod: func(r *http.Request) {
			r.Header.Set("Last-Event-ID", "7")
			r.Header.Set("Accept-Encoding", "gzip")
			r.Header.Set("Mcp-Session-Id", f.binder.Wrap(f.as.Issuer, "alice", "up-2"))
		}, messages: "-", session: "up-2", allow: "*"},
		{name: "DELETE of a session", method: "DELETE", mod: func(r *http.Request) {
			r.Header.Set("Mcp-Session-Id", f.binder.Wrap(f.as.Issuer, "alice", "up-3"))
		}, messages: "-", session: "up-3", allow: "*"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := f.request(t, tc.method, tc.body)
			if tc.mod != nil {
				tc.mod(r)
			}
			rec := httptest.NewRecorder()
			st, reason, ok := f.g.Admit(rec, r)
			if !ok || st == nil || reason != "" {
				t.Fatalf("Admit = %v, %q, %v; body %q", st, reason, ok, rec.Body)
			}
			if id := st.Identity(); id == nil || id.Subject != "alice" || id.Issuer != f.as.Issuer || !id.HasScopes("mcp:read") {
				t.Errorf("identity = %+v", id)
			}
			if got := describe(st.Request()); got != tc.messages {
				t.Errorf("request = %s, want %s", got, tc.messages)
			}
			if req := st.Request(); req != nil {
				if req.Batch != tc.batch {
					t.Errorf("batch = %v", req.Batch)
				}
				if len(req.ToolCallIDs) != len(tc.toolIDs) {
					t.Errorf("tools/call ids = %v, want %v", req.ToolCallIDs, tc.toolIDs)
				}
				for _, id := range tc.toolIDs {
					if !req.ToolCallIDs.Has([]byte(id)) {
						t.Errorf("tools/call ids = %v lack %s", req.ToolCallIDs, id)
					}
				}
			}
			got, err := io.ReadAll(r.Body)
			if err != nil || string(got) != tc.body || r.ContentLength != int64(len(tc.body)) {
				t.Errorf("body after Admit = %q (%v), length %d; want %q", got, err, r.ContentLength, tc.body)
			}
			if tc.body != "" {
				again, err := r.GetBody()
				if b, _ := io.ReadAll(again); err != nil || string(b) != tc.body {
					t.Errorf("GetBody = %q, %v", b, err)
				}
			}
			if got := r.Header.Values("Mcp-Session-Id"); (tc.session == "" && len(got) != 0) || (tc.session != "" && (len(got) != 1 || got[0] != tc.session)) {
				t.Errorf("Mcp-Session-Id = %q, want %q", got, tc.session)
			}
			if got := r.Header.Get("Accept-Encoding"); got != tc.acceptEn {
				t.Errorf("Accept-Encoding = %q, want %q", got, tc.acceptEn)
			}
			if rec.Body.Len() != 0 || rec.Header().Get("Content-Type") != "" {
				t.Errorf("Admit wrote %d %q", rec.Code, rec.Body)
			}
			if got := rec.Header().Get("Access-Control-Allow-Origin"); got != tc.allow {
				t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, tc.allow)
			}
			if got := rec.Header().Get("Access-Control-Expose-Headers"); got != "WWW-Authenticate, Mcp-Session-Id, MCP-Protocol-Version" {
				t.Errorf("Access-Control-Expose-Headers = %q", got)
			}
		})
	}
}

// describe renders the inspected messages as method/id/name, space
// separated; "-" for no request.
func describe(req *mcpproxy.Request) string {
	if req == nil {
		return "-"
	}
	var parts []string
	for _, m := range req.Messages {
		parts = append(parts, m.Method+"/"+string(m.ID)+"/"+m.Name)
	}
	return strings.Join(parts, " ")
}

// transportError returns what a round trip to a server that is gone
// returns (connection refused).
func transportError(t *testing.T) error {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	resp, err := http.Get(srv.URL)
	if err == nil {
		resp.Body.Close()
		t.Fatal("a closed server answered")
	}
	return err
}

// timeoutError returns what a round trip to a server that does not answer
// in time returns.
func timeoutError(t *testing.T) error {
	t.Helper()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	c := &http.Client{Timeout: 20 * time.Millisecond}
	resp, err := c.Get(srv.URL)
	if err == nil {
		resp.Body.Close()
		t.Fatal("no timeout")
	}
	return err
}

// TestGuardUpstreamFailure: a transport failure reaching the MCP server is
// answered, per request shape, with the agent-safe answer (exact bodies),
// never with the error's text.
func TestGuardUpstreamFailure(t *testing.T) {
	f := newGuard(t)
	refused, timedOut := transportError(t), timeoutError(t)
	const (
		unreachable = `"HTTP request failed before reaching the upstream service."`
		unreachData = `{"errorKind":"NETWORK_TRANSPORT_RUNTIME_UNREACHABLE","canRetry":true}`
		timeout     = `"HTTP request timed out before a complete response was received."`
		timeoutData = `{"errorKind":"NETWORK_TRANSPORT_RUNTIME_TIMEOUT","canRetry":true}`
	)
	toolError := func(id, msg, data string) string {
		return `{"jsonrpc":"2.0","id":` + id + `,"result":{"content":[{"type":"text","text":` + msg + `}],"isError":true,"_meta":{"arcade":` + data + `}}}`
	}
	rpcError := func(id, msg, data string) string {
		return `{"jsonrpc":"2.0","id":` + id + `,"error":{"code":-32603,"message":` + msg + `,"data":` + data + `}}`
	}
	cases := []struct {
		name   string
		method string
		body   string
		err    error
		status int
		ctype  string
		want   string
	}{
		{"single tools/call", "POST", callSearch, refused, 200, "application/json", toolError("1", unreachable, unreachData)},
		{"single tools/call, timeout", "POST", callSearch, timedOut, 200, "application/json", toolError("1", timeout, timeoutData)},
		{"single other request", "POST", `{"jsonrpc":"2.0","id":"a","method":"tools/list"}`, refused, 200, "application/json", rpcError(`"a"`, unreachable, unreachData)},
		{"batch", "POST", `[` + callSearch + `,{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","id":9,"result":{}},{"jsonrpc":"2.0","id":"b","method":"resources/list"}]`,
			refused, 200, "application/json", `[` + toolError("1", unreachable, unreachData) + `,` + rpcError(`"b"`, unreachable, unreachData) + `]`},
		{"notification", "POST", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, refused, 502, "text/plain; charset=utf-8", "Bad Gateway"},
		{"GET", "GET", "", refused, 502, "text/plain; charset=utf-8", "Bad Gateway"},
		{"GET, timeout", "GET", "", timedOut, 504, "text/plain; charset=utf-8", "Gateway Timeout"},
		{"DELETE", "DELETE", "", refused, 502, "text/plain; charset=utf-8", "Bad Gateway"},
	}
	for _, tc := range cases {
		for _, through := range []string{"recorder", "Writer"} {
			t.Run(tc.name+"/"+through, func(t *testing.T) {
				r := f.request(t, tc.method, tc.body)
				rec := httptest.NewRecorder()
				st, _, ok := f.g.Admit(rec, r)
				if !ok {
					t.Fatalf("not admitted: %d %s", rec.Code, rec.Body)
				}
				var w http.ResponseWriter = rec
				if through == "Writer" {
					w = f.g.Writer(rec, st)
				}
				f.g.UpstreamFailure(w, r, st, tc.err)
				res := rec.Result()
				body, _ := io.ReadAll(res.Body)
				if res.StatusCode != tc.status || string(body) != tc.want || res.Header.Get("Content-Type") != tc.ctype {
					t.Fatalf("got %d %q %s\nwant %d %q %s", res.StatusCode, res.Header.Get("Content-Type"), body, tc.status, tc.ctype, tc.want)
				}
				want := map[string]string{
					// CORS headers set by Admit are kept.
					"Access-Control-Allow-Origin":   "*",
					"Access-Control-Expose-Headers": "WWW-Authenticate, Mcp-Session-Id, MCP-Protocol-Version",
					"Content-Type":                  tc.ctype,
				}
				if tc.status == 200 {
					want["Content-Length"] = fmt.Sprint(len(tc.want))
					want["Cache-Control"] = "no-store"
				} else {
					// The guard's plain status: no Content-Length or
					// Cache-Control, unlike the ResponseWriter's
					// (writeGatewayStatus) for an upstream failure status.
					want["X-Content-Type-Options"] = "nosniff"
				}
				checkHeaders(t, res.Header, want)
				if strings.Contains(string(body), "refused") || strings.Contains(string(body), "127.0.0.1") {
					t.Errorf("the error's text reached the client: %s", body)
				}
			})
		}
	}

	t.Run("no state", func(t *testing.T) {
		rec := httptest.NewRecorder()
		f.g.UpstreamFailure(rec, f.request(t, "POST", callSearch), nil, refused)
		if rec.Code != 502 || rec.Body.String() != "Bad Gateway" {
			t.Fatalf("got %d %q", rec.Code, rec.Body)
		}
	})
	t.Run("client gone: nothing written", func(t *testing.T) {
		r := f.request(t, "POST", callSearch)
		rec := httptest.NewRecorder()
		st, _, _ := f.g.Admit(rec, r)
		f.g.UpstreamFailure(rec, r, st, fmt.Errorf("round trip: %w", context.Canceled))
		if rec.Body.Len() != 0 || rec.Header().Get("Content-Type") != "" {
			t.Fatalf("wrote %d %q", rec.Code, rec.Body)
		}
	})
	t.Run("after the upstream's answer began: nothing more", func(t *testing.T) {
		r := f.request(t, "POST", callSearch)
		rec := httptest.NewRecorder()
		st, _, _ := f.g.Admit(rec, r)
		rw := f.g.Writer(rec, st)
		rw.Header().Set("Content-Type", "text/event-stream")
		rw.WriteHeader(200)
		_, _ = io.WriteString(rw, "data: {}\n\n")
		f.g.UpstreamFailure(rw, r, st, refused)
		rw.Finish()
		if rec.Code != 200 || rec.Body.String() != "data: {}\n\n" {
			t.Fatalf("got %d %q", rec.Code, rec.Body)
		}
	})
}

// TestGuardWriter: the way out of an admitted request: the upstream's
// session id is wrapped for the caller, its WWW-Authenticate dropped,
// structuredContent deleted from tools/call error results (also on a
// resumed stream, whose requests the guard never saw), and an upstream
// failure status replaced by the agent-safe answer.
func TestGuardWriter(t *testing.T) {
	f := newGuard(t)
	errResult := `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"no"}],"structuredContent":{"secret":1},"isError":true}}`
	stripped := `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"no"}],"isError":true}}`
	okList := `{"jsonrpc":"2.0","id":"l","result":{"tools":[]}}`
	cases := []struct {
		name     string
		method   string
		body     string
		mod      func(r *http.Request)
		upstream func(w http.ResponseWriter)
		status   int
		ctype    string
		want     string
		session  string // upstream id whose wrapped form the client must see; "" none
	}{
		{"session id wrapped, challenge dropped", "POST", `{"jsonrpc":"2.0","id":"l","method":"tools/list"}`, nil, func(w http.ResponseWriter) {
			w.Header().Set("Mcp-Session-Id", "up-9")
			w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="https://upstream.internal/prm"`)
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, okList)
		}, 200, "application/json", okList, "up-9"},
		{"tools/call error result stripped (JSON)", "POST", callSearch, nil, func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, errResult)
		}, 200, "application/json", stripped, ""},
		{"tools/call error result stripped (SSE)", "POST", callSearch, nil, func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "id: 1\ndata: "+errResult+"\n\n")
		}, 200, "text/event-stream", "id: 1\ndata: " + stripped + "\n\n", ""},
		{"resumed stream stripped", "GET", "", func(r *http.Request) { r.Header.Set("Last-Event-ID", "4") }, func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "id: 5\ndata: "+errResult+"\n\n")
		}, 200, "text/event-stream", "id: 5\ndata: " + stripped + "\n\n", ""},
		{"new stream passes", "GET", "", nil, func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "id: 5\ndata: "+errResult+"\n\n")
		}, 200, "text/event-stream", "id: 5\ndata: " + errResult + "\n\n", ""},
		{"upstream 500 for tools/call", "POST", callSearch, nil, func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Mcp-Session-Id", "up-5")
			w.WriteHeader(500)
			_, _ = io.WriteString(w, "panic: db password=hunter2")
		}, 200, "application/json", `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"Upstream HTTP request failed (Internal Server Error, server error)."}],"isError":true,"_meta":{"arcade":{"errorKind":"UPSTREAM_RUNTIME_SERVER_ERROR","canRetry":true,"statusCode":500}}}}`, "up-5"},
		{"upstream 503 for GET", "GET", "", nil, func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(503)
			_, _ = io.WriteString(w, "<html>down</html>")
		}, 503, "text/plain; charset=utf-8", "Service Unavailable", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// A real connection, so that SSE flushes go through
			// http.ResponseController as in production.
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				st, reason, ok := f.g.Admit(w, r)
				if !ok {
					t.Errorf("not admitted: %s", reason)
					return
				}
				rw := f.g.Writer(w, st)
				tc.upstream(rw)
				rw.Finish()
			}))
			defer srv.Close()
			r := f.request(t, tc.method, tc.body)
			if tc.mod != nil {
				tc.mod(r)
			}
			req, err := http.NewRequest(tc.method, srv.URL+"/mcp", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header = r.Header
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || string(body) != tc.want || resp.Header.Get("Content-Type") != tc.ctype {
				t.Fatalf("got %d %q %s\nwant %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body, tc.status, tc.ctype, tc.want)
			}
			if v := resp.Header.Values("Www-Authenticate"); len(v) > 0 {
				t.Errorf("WWW-Authenticate reached the client: %q", v)
			}
			wantSID := ""
			if tc.session != "" {
				wantSID = f.binder.Wrap(f.as.Issuer, "alice", tc.session)
			}
			if got := resp.Header.Get("Mcp-Session-Id"); got != wantSID {
				t.Errorf("Mcp-Session-Id = %q, want %q", got, wantSID)
			}
		})
	}
}
