package behaviour

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/stdiotest"
)

// PolicyCases are the MCP-level authorization cases of the shared
// configuration: filtered lists, prompt and resource rules, the scope
// hierarchy (scope_implies mcp:root → mcp:admin, mcp:write).
func PolicyCases(t *testing.T, e *Env) []Case {
	alice := e.Token(t, 1, nil, nil) // mcp:read
	admin := e.Token(t, 1, func(c jwt.MapClaims) { c["scope"] = "mcp:read mcp:write mcp:admin" }, nil)
	root := e.Token(t, 1, func(c jwt.MapClaims) { c["scope"] = "mcp:read mcp:root" }, nil)
	auth := func(tok string) http.Header {
		return http.Header{"Authorization": {"Bearer " + tok}, "Content-Type": {"application/json"}, "Accept": {"application/json, text/event-stream"}}
	}
	md := e.Base + "/.well-known/oauth-protected-resource/mcp"
	return []Case{
		{Name: "policy: tools/list hides the tool the caller may not call", Method: "POST", Path: "/mcp", Header: auth(alice),
			Body: `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, Status: 200, Reaches: true,
			WantBody: `{"id":1,"jsonrpc":"2.0","result":{"nextCursor":"p2","tools":[{"name":"ok","inputSchema":{"type":"object"}}]}}`},
		{Name: "policy: tools/list shows it to a caller with the scopes", Method: "POST", Path: "/mcp", Header: auth(admin),
			Body: `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, Status: 200, Reaches: true,
			WantBody: `{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"ok","inputSchema":{"type":"object"}},{"name":"admin_tool","inputSchema":{"type":"object"}}],"nextCursor":"p2"}}`},
		{Name: "policy: scope hierarchy: mcp:root implies admin and write", Method: "POST", Path: "/mcp", Header: auth(root),
			Body: rpcCall(2, "admin_tool", ""), Status: 200, Reaches: true},
		{Name: "policy: prompts/list hides the admin prompt", Method: "POST", Path: "/mcp", Header: auth(alice),
			Body: `{"jsonrpc":"2.0","id":3,"method":"prompts/list"}`, Status: 200, Reaches: true,
			WantBody: `{"id":3,"jsonrpc":"2.0","result":{"prompts":[{"name":"open_prompt"}]}}`},
		{Name: "policy: prompts/get of the admin prompt needs mcp:admin", Method: "POST", Path: "/mcp", Header: auth(alice),
			Body: `{"jsonrpc":"2.0","id":4,"method":"prompts/get","params":{"name":"admin_prompt"}}`, Status: 403,
			Headers: map[string]string{"WWW-Authenticate": `Bearer resource_metadata="` + md + `", error="insufficient_scope", scope="mcp:admin"`}},
		{Name: "policy: resources/list over SSE hides the admin resource", Method: "POST", Path: "/mcp", Header: auth(alice),
			Body: `{"jsonrpc":"2.0","id":5,"method":"resources/list"}`, Status: 200, Reaches: true,
			WantBody: "event: message\ndata: " + `{"id":5,"jsonrpc":"2.0","result":{"resources":[{"uri":"file:///pub/a","name":"a"}]}}` + "\n\n"},
		{Name: "policy: resources/read under a prefix rule needs mcp:admin", Method: "POST", Path: "/mcp", Header: auth(alice),
			Body: `{"jsonrpc":"2.0","id":6,"method":"resources/read","params":{"uri":"file:///admin/b"}}`, Status: 403},
		{Name: "policy: resources/read outside the rule passes", Method: "POST", Path: "/mcp", Header: auth(alice),
			Body: `{"jsonrpc":"2.0","id":7,"method":"resources/read","params":{"uri":"file:///pub/a"}}`, Status: 200, Reaches: true},
	}
}

// ErrorDenial runs the scope_denial: error answers: a denied tools/call
// gets a tool error result, another method a JSON-RPC error, both 200.
func ErrorDenial(t *testing.T, e *Env) {
	alice := e.Token(t, 1, nil, nil)
	hdr := http.Header{"Authorization": {"Bearer " + alice}, "Content-Type": {"application/json"}}
	md := e.Base + "/.well-known/oauth-protected-resource/mcp"
	for _, c := range []struct{ body, want string }{
		{rpcCall(1, "admin_tool", ""), `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"Insufficient scope: this request needs the scopes mcp:write mcp:admin (missing: mcp:write mcp:admin). Ask the user to authorize them and try again."}],"isError":true}}`},
		{`{"jsonrpc":"2.0","id":"p","method":"prompts/get","params":{"name":"admin_prompt"}}`, `{"jsonrpc":"2.0","id":"p","error":{"code":-32003,"message":"Insufficient scope: this request needs the scopes mcp:admin (missing: mcp:admin). Ask the user to authorize them and try again.","data":{"required_scopes":["mcp:admin"],"missing_scopes":["mcp:admin"],"resource_metadata":"` + md + `"}}}`},
	} {
		before := e.Up.Count()
		resp, body := e.Do(t, "POST", "/mcp", hdr, c.body)
		if resp == nil || resp.StatusCode != 200 || body != c.want {
			t.Errorf("%s\n = %v %q\nwant 200 %q", c.body, resp, body, c.want)
		}
		if e.Up.Count() != before {
			t.Errorf("a denied request reached the upstream")
		}
	}
}

// ErrorDenialKeepsSession: with scope_denial: error, the Go SDK client's
// session survives a denied call, and the next allowed call succeeds in
// it (with the challenge style, the Go SDK ends the session on the 403).
func ErrorDenialKeepsSession(t *testing.T, fd FrontDoor) {
	var runs atomic.Int32
	srv := mcp.NewServer(&mcp.Implementation{Name: "policy-target", Version: "1"}, nil)
	for _, name := range []string{"admin_tool", "ok"} {
		mcp.AddTool(srv, &mcp.Tool{Name: name}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			runs.Add(1)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ran " + name}}}, nil, nil
		})
	}
	up := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	t.Cleanup(up.Close)
	e := NewEnv(t, fd, func(s *Settings) { s.Upstream, s.DenyError = up.URL, true })
	c := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: e.Resource, MaxRetries: -1,
		HTTPClient: &http.Client{Transport: stdiotest.Bearer(e.Token(t, 1, nil, nil))}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	tools, err := cs.ListTools(ctx, nil)
	if err != nil || len(tools.Tools) != 1 || tools.Tools[0].Name != "ok" {
		t.Fatalf("tools/list = %+v, %v (admin_tool must be hidden)", tools, err)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "admin_tool"})
	if err != nil || !res.IsError || !strings.Contains(res.Content[0].(*mcp.TextContent).Text, "Insufficient scope") {
		t.Fatalf("denied call = %+v, %v", res, err)
	}
	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "ok"})
	if err != nil || res.IsError || res.Content[0].(*mcp.TextContent).Text != "ran ok" {
		t.Fatalf("the next allowed call in the same session = %+v, %v", res, err)
	}
	if runs.Load() != 1 {
		t.Fatalf("tool runs = %d, want 1 (the denied one never ran)", runs.Load())
	}
}

// RateLimits: with a burst of 2 for the tool "ok", the third call of a
// caller is refused (429 with Retry-After, or in the error denial style a
// 200 with the rate-limit answer), another caller is unaffected, and
// other tools are not limited.
func RateLimits(t *testing.T, e *Env, errorStyle bool) {
	alice := http.Header{"Authorization": {"Bearer " + e.Token(t, 1, nil, nil)}, "Content-Type": {"application/json"}}
	for i := 0; i < 2; i++ {
		if resp, body := e.Do(t, "POST", "/mcp", alice, rpcCall(i, "ok", "")); resp == nil || resp.StatusCode != 200 {
			t.Fatalf("call %d = %v %q", i, resp, body)
		}
	}
	before := e.Up.Count()
	resp, body := e.Do(t, "POST", "/mcp", alice, rpcCall(3, "ok", ""))
	switch {
	case resp == nil:
		t.Fatal(body)
	case errorStyle:
		// The bucket refills one token an hour: the wait is just under 3600 s.
		want := regexp.MustCompile(`^\{"jsonrpc":"2\.0","id":3,"result":\{"content":\[\{"type":"text","text":"Rate limit reached for this caller; retry after 3600 second\(s\)\."\}\],"isError":true,"_meta":\{"arcade":\{"errorKind":"UPSTREAM_RUNTIME_RATE_LIMIT","canRetry":true,"retryAfterMs":(35[0-9]{5}|3600000)\}\}\}\}$`)
		if resp.StatusCode != 200 || !want.MatchString(body) {
			t.Errorf("third call = %d %q", resp.StatusCode, body)
		}
	default:
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "3600" || body != "Too Many Requests" {
			t.Errorf("third call = %d Retry-After %q %q", resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}
	if e.Up.Count() != before {
		t.Error("a rate-limited call reached the upstream")
	}
	if resp, _ := e.Do(t, "POST", "/mcp", alice, rpcCall(4, "ok_sc", "")); resp == nil || resp.StatusCode != 200 {
		t.Errorf("another tool is not limited: %v", resp)
	}
	bob := http.Header{"Authorization": {"Bearer " + e.Token(t, 2, nil, nil)}, "Content-Type": {"application/json"}}
	if resp, _ := e.Do(t, "POST", "/mcp", bob, rpcCall(5, "ok", "")); resp == nil || resp.StatusCode != 200 {
		t.Errorf("another caller is not limited: %v", resp)
	}
}
