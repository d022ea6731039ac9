package behaviour

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// AttackCases are requests an attacker shapes so that the front door and
// the MCP server behind could read them differently: duplicate and
// case-variant members, wrong types, trailing data, encoded bodies,
// non-MCP methods, and client spellings of the headers the front door
// owns. Every body here says "tools/list" (allowed) to a reader and
// "tools/call admin_tool" (needs mcp:write mcp:admin) to another; the
// caller has mcp:read only. None may reach the upstream, except where the
// case shows what the upstream gets instead.
func AttackCases(t *testing.T, e *Env) []Case {
	alice := e.Token(t, 1, nil, nil)
	auth := func(kv ...string) http.Header {
		h := http.Header{"Authorization": {"Bearer " + alice}, "Content-Type": {"application/json"}, "Accept": {"application/json, text/event-stream"}}
		for i := 0; i+1 < len(kv); i += 2 {
			h[kv[i]] = append(h[kv[i]], kv[i+1])
		}
		return h
	}
	refused := func(name, body, answer string) Case {
		return Case{Name: "body: " + name, Method: "POST", Path: "/mcp", Header: auth(), Body: body, Status: 400,
			Headers: map[string]string{"Content-Type": "application/json"}, WantBody: answer}
	}
	const admin = `"params":{"name":"admin_tool"}`
	invalid := func(id, msg string) string {
		return `{"jsonrpc":"2.0","id":` + id + `,"error":{"code":-32600,"message":"Invalid Request: ` + msg + `"}}`
	}
	parse := `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}`
	trailing := `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error: data after the JSON value"}}`
	dup := invalid("null", "duplicate member name")
	fold := invalid("7", "member name differs from a JSON-RPC member only in case")
	pfold := invalid("7", "params member name differs from an MCP member only in case")
	sawOnly := func(check func(t *testing.T, s Seen)) func(*testing.T, *Env, *http.Response, string, Seen) {
		return func(t *testing.T, _ *Env, _ *http.Response, _ string, s Seen) { check(t, s) }
	}
	cases := []Case{
		refused("method twice", `{"jsonrpc":"2.0","id":7,"method":"tools/list","method":"tools/call",`+admin+`}`, dup),
		refused("method twice, call first", `{"jsonrpc":"2.0","id":7,"method":"tools/call","method":"tools/list",`+admin+`}`, dup),
		refused("Method beside method", `{"jsonrpc":"2.0","id":7,"method":"tools/list","Method":"tools/call",`+admin+`}`, fold),
		refused("METHOD beside method", `{"jsonrpc":"2.0","id":7,"METHOD":"tools/call","method":"tools/list",`+admin+`}`, fold),
		refused("Params beside params", `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"ok"},"Params":{"name":"admin_tool"}}`, fold),
		refused("NAME beside name", `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"ok","NAME":"admin_tool"}}`, pfold),
		refused("long s in params", `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"ok"},"paramſ":{"name":"admin_tool"}}`, fold),
		refused("Kelvin sign in taskId", `{"jsonrpc":"2.0","id":7,"method":"tasks/get","params":{"taskId":"a","tasKId":"b"}}`, pfold),
		refused("escaped duplicate", `{"jsonrpc":"2.0","id":7,"method":"tools/list","m\u0065thod":"tools/call",`+admin+`}`, dup),
		refused("batch with a case variant", `[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","id":2,"method":"tools/list","Method":"tools/call",`+admin+`}]`,
			invalid("null", "member name differs from a JSON-RPC member only in case")),
		refused("uri of the wrong type", `{"jsonrpc":"2.0","id":7,"method":"resources/read","params":{"uri":1}}`, invalid("7", `\"params.uri\" must be a string`)),
		refused("taskId of the wrong type", `{"jsonrpc":"2.0","id":7,"method":"tasks/get","params":{"taskId":{}}}`, invalid("7", `\"params.taskId\" must be a string`)),
		refused("name of the wrong type", `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":["admin_tool"]}}`, invalid("7", `\"params.name\" must be a string`)),
		refused("method of the wrong type", `{"jsonrpc":"2.0","id":7,"method":["tools/call"],`+admin+`}`, invalid("7", `\"method\" must be a string`)),
		refused("id of the wrong type", `{"jsonrpc":"2.0","id":{"x":1},"method":"tools/list"}`, invalid("null", `\"id\" must be a string or a number`)),
		refused("trailing second message", `{"jsonrpc":"2.0","id":7,"method":"tools/list"}{"jsonrpc":"2.0","id":8,"method":"tools/call",`+admin+`}`, trailing),
		refused("invalid UTF-8 in a member name", "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/list\",\"meth\xc0od\":\"tools/call\"}", parse),
		refused("not JSON", `method=tools/call`, parse),
		refused("empty", ``, parse),
		{Name: "body: gzip-encoded", Method: "POST", Path: "/mcp", Header: auth("Content-Encoding", "gzip"), Body: "\x1f\x8b\x08\x00", Status: 415,
			WantBody: "Unsupported Media Type"},
		{Name: "body: UTF-16 charset", Method: "POST", Path: "/mcp", Header: http.Header{"Authorization": {"Bearer " + alice}, "Content-Type": {"application/json; charset=utf-16"}},
			Body: `{"jsonrpc":"2.0","id":7,"method":"tools/list"}`, Status: 415, WantBody: "Unsupported Media Type"},
		{Name: "body: GET with a body", Method: "GET", Path: "/mcp", Header: auth(), Body: `{"jsonrpc":"2.0","id":7,"method":"tools/call",` + admin + `}`, Status: 400,
			WantBody: `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Bad Request: GET takes no body"}}`},
		// A strict body with an explicit UTF-8 charset is read as usual.
		{Name: "body: utf-8 charset passes", Method: "POST", Path: "/mcp", Header: http.Header{"Authorization": {"Bearer " + alice}, "Content-Type": {"application/json; charset=UTF-8"}},
			Body: `{"jsonrpc":"2.0","id":7,"method":"tools/list"}`, Status: 200, Reaches: true},
		// --- headers the front door owns, in every spelling ---
		{Name: "header: Mcp_Session_Id with another user's raw id never reaches the upstream", Method: "POST", Path: "/mcp",
			Header: auth("Mcp_session_id", "up-session-1"), Body: `{"jsonrpc":"2.0","id":7,"method":"tools/list"}`, Status: 200, Reaches: true,
			Check: sawOnly(func(t *testing.T, s Seen) {
				for k := range s.Header {
					if strings.EqualFold(strings.ReplaceAll(k, "_", "-"), "Mcp-Session-Id") {
						t.Errorf("upstream got %s: %q", k, s.Header[k])
					}
				}
			})},
		{Name: "header: Connection nominating the identity and secret headers does not drop them", Method: "POST", Path: "/mcp",
			Header: auth("Connection", "X-MCP-Subject, X-Api-Key, X-Tenant"), Body: `{"jsonrpc":"2.0","id":7,"method":"tools/list"}`, Status: 200, Reaches: true,
			Check: sawOnly(func(t *testing.T, s Seen) {
				if s.Header.Get("X-Mcp-Subject") != "alice" || s.Header.Get("X-Api-Key") != APIKey || s.Header.Get("X-Tenant") != Tenant {
					t.Errorf("upstream identity/secret = %q %q %q", s.Header.Get("X-Mcp-Subject"), s.Header.Get("X-Api-Key"), s.Header.Get("X-Tenant"))
				}
			})},
		{Name: "header: spoofed spellings of identity and secret headers are replaced", Method: "POST", Path: "/mcp",
			Header: auth("X_mcp_subject", "admin", "X_api_key", "mine", "Authorization_", "x"), Body: `{"jsonrpc":"2.0","id":7,"method":"tools/list"}`, Status: 200, Reaches: true,
			Check: sawOnly(func(t *testing.T, s Seen) {
				for k, v := range s.Header {
					n := strings.ToLower(strings.ReplaceAll(k, "_", "-"))
					if (n == "x-mcp-subject" && (k != "X-Mcp-Subject" || v[0] != "alice")) || (n == "x-api-key" && (k != "X-Api-Key" || v[0] != APIKey)) {
						t.Errorf("upstream got %s: %q", k, v)
					}
				}
			})},
		{Name: "header: client Forwarded and X_Forwarded_For are not passed on", Method: "POST", Path: "/mcp",
			Header: auth("Forwarded", "for=10.0.0.1;host=admin.internal", "X_forwarded_for", "10.0.0.1", "X-Forwarded-For", "10.0.0.2"), Body: `{"jsonrpc":"2.0","id":7,"method":"tools/list"}`, Status: 200, Reaches: true,
			Check: sawOnly(func(t *testing.T, s Seen) {
				if s.Header.Get("Forwarded") != "" || s.Header.Get("X_forwarded_for") != "" || strings.Contains(s.Header.Get("X-Forwarded-For"), "10.0.0") {
					t.Errorf("upstream got Forwarded %q, X-Forwarded-For %q", s.Header.Get("Forwarded"), s.Header.Values("X-Forwarded-For"))
				}
			})},
	}
	for _, m := range []string{"PUT", "PATCH", "HEAD", "OPTIONS", "TRACE", "PROPFIND", "FOO"} {
		c := Case{Name: "method: " + m + " is not MCP", Method: m, Path: "/mcp", Header: auth(), Body: `{"jsonrpc":"2.0","id":7,"method":"tools/call",` + admin + `}`,
			Status: 405, Headers: map[string]string{"Allow": "GET, POST, DELETE, OPTIONS"}, WantBody: "Method Not Allowed"}
		if m == "HEAD" {
			c.Body, c.WantBody, c.EmptyBody = "", "", true
		}
		cases = append(cases, c)
	}
	return cases
}

// ForbiddenToolNeverRuns puts the front door in front of a real go-sdk MCP
// server whose admin_tool counts its runs, sends every policy-bypass body
// with a token lacking the tool's scopes, and checks the tool never ran;
// then a caller with the scopes runs it once (so the count can move).
func ForbiddenToolNeverRuns(t *testing.T, fd FrontDoor) {
	var runs atomic.Int32
	srv := mcp.NewServer(&mcp.Implementation{Name: "bypass-target", Version: "1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "admin_tool", Description: "needs mcp:admin"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		runs.Add(1)
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ran"}}}, nil, nil
	})
	up := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true}))
	t.Cleanup(up.Close)
	e := NewEnv(t, fd, func(s *Settings) { s.Upstream = up.URL })
	alice := e.Token(t, 1, nil, nil)
	hdr := http.Header{"Authorization": {"Bearer " + alice}, "Content-Type": {"application/json"}, "Accept": {"application/json, text/event-stream"},
		"Mcp-Protocol-Version": {"2025-11-25"}}
	call := `"params":{"name":"admin_tool","arguments":{}}`
	for _, body := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call",` + call + `}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","method":"tools/list",` + call + `}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/list","Method":"tools/call",` + call + `}`,
		`{"jsonrpc":"2.0","id":1,"METHOD":"tools/call","method":"tools/list",` + call + `}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"admin_tool","NAME":"other"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"other","Name":"admin_tool"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"other","name":"admin_tool"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"admin_tool","arguments":{},"uri":1}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"admin_tool","taskId":{}}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/list","paramſ":{"name":"x"},` + call + `}`,
		`[{"jsonrpc":"2.0","id":1,"method":"tools/list","Method":"tools/call",` + call + `}]`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/list"}` + "\n" + `{"jsonrpc":"2.0","id":2,"method":"tools/call",` + call + `}`,
	} {
		resp, got := e.Do(t, "POST", "/mcp", hdr, body)
		if resp == nil || resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s\n  = %v %q, want 400 or 403", body, resp, got)
		}
	}
	if n := runs.Load(); n != 0 {
		t.Fatalf("admin_tool ran %d times for a caller without mcp:admin", n)
	}
	admin := e.Token(t, 1, func(c jwt.MapClaims) { c["scope"] = "mcp:read mcp:write mcp:admin" }, nil)
	hdr.Set("Authorization", "Bearer "+admin)
	resp, got := e.Do(t, "POST", "/mcp", hdr, `{"jsonrpc":"2.0","id":1,"method":"tools/call",`+call+`}`)
	if resp == nil || resp.StatusCode != 200 || !strings.Contains(got, `"ran"`) || runs.Load() != 1 {
		t.Fatalf("an allowed call = %v %q (runs %d), want it to run once", resp, got, runs.Load())
	}
}
