package demomcp

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// headerTransport adds fixed headers to every outgoing request, like the
// front door does when it injects identity headers.
type headerTransport struct {
	base http.RoundTripper
	add  http.Header
}

func (t *headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, vs := range t.add {
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	return t.base.RoundTrip(r)
}

func startServer(t *testing.T, opts Options) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(Handler(opts)) // binds 127.0.0.1
	t.Cleanup(ts.Close)
	return ts
}

func connect(t *testing.T, ctx context.Context, endpoint, protocolVersion string, add http.Header) *mcp.ClientSession {
	t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "demomcp-test", Version: "0"}, nil)
	transport := &mcp.StreamableClientTransport{
		Endpoint:   endpoint,
		HTTPClient: &http.Client{Transport: &headerTransport{base: http.DefaultTransport, add: add}},
		MaxRetries: -1,
	}
	cs, err := client.Connect(ctx, transport, &mcp.ClientSessionOptions{ProtocolVersion: protocolVersion})
	if err != nil {
		t.Fatalf("connect to %s (protocol %q): %v", endpoint, protocolVersion, err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

// textOf returns the text of a result with exactly one text content block.
func textOf(t *testing.T, res *mcp.CallToolResult) string {
	t.Helper()
	if len(res.Content) != 1 {
		t.Fatalf("got %d content blocks, want 1: %+v", len(res.Content), res.Content)
	}
	tc, ok := res.Content[0].(*mcp.TextContent)
	if !ok {
		t.Fatalf("content[0] is %T, want *mcp.TextContent", res.Content[0])
	}
	return tc.Text
}

// asJSONValue normalizes v to what encoding/json produces for any.
func asJSONValue(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestToolsWithGoSDKClient(t *testing.T) {
	identity := http.Header{
		"X-MCP-Subject":   {"alice"},
		"X-Mcp-Client-Id": {"svc"},
		"X-Mcp-Scopes":    {"mcp:read", "mcp:write"},
		"X-Other":         {"not listed"},
	}
	tests := []struct {
		name            string
		stateless       bool
		protocolVersion string // "" = the SDK's latest (2026-07-28)
		wantVersion     string // negotiated
	}{
		{"stateless latest", true, "", "2026-07-28"},
		{"stateless 2025-11-25", true, "2025-11-25", "2025-11-25"},
		{"stateful latest falls back", false, "", "2025-11-25"},
		{"stateful 2025-06-18", false, "2025-06-18", "2025-06-18"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			ts := startServer(t, Options{Stateless: tc.stateless})
			cs := connect(t, ctx, ts.URL+"/mcp", tc.protocolVersion, identity)

			init := cs.InitializeResult()
			if init == nil || init.ServerInfo == nil || init.ServerInfo.Name != ServerName || init.ProtocolVersion != tc.wantVersion {
				t.Fatalf("initialize result = %+v, want server %s protocol %s", init, ServerName, tc.wantVersion)
			}
			if gotSession := cs.ID() != ""; gotSession == tc.stateless {
				t.Errorf("session id = %q with stateless=%v", cs.ID(), tc.stateless)
			}

			lt, err := cs.ListTools(ctx, nil)
			if err != nil {
				t.Fatalf("ListTools: %v", err)
			}
			var names []string
			for _, tool := range lt.Tools {
				names = append(names, tool.Name)
			}
			if !reflect.DeepEqual(names, []string{ToolAdminEcho, ToolEcho, ToolFail, ToolWhoami}) {
				t.Fatalf("tools = %v, want [admin_echo echo fail whoami]", names)
			}
			for _, tool := range lt.Tools {
				schema := asJSONValue(t, tool.InputSchema).(map[string]any)
				if schema["type"] != "object" {
					t.Errorf("%s input schema type = %v", tool.Name, schema["type"])
				}
				if (tool.Name == ToolEcho || tool.Name == ToolAdminEcho) && !reflect.DeepEqual(schema["required"], []any{"text"}) {
					t.Errorf("echo input schema required = %v, want [text]", schema["required"])
				}
				if hasOut := tool.OutputSchema != nil; hasOut != (tool.Name == ToolWhoami) {
					t.Errorf("%s has output schema = %v", tool.Name, hasOut)
				}
			}

			// echo
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: ToolEcho, Arguments: map[string]any{"text": "héllo\nwörld"}})
			if err != nil {
				t.Fatalf("call echo: %v", err)
			}
			if got := textOf(t, res); got != "héllo\nwörld" || res.IsError || res.StructuredContent != nil {
				t.Fatalf("echo = %q isError=%v structured=%v", got, res.IsError, res.StructuredContent)
			}

			// echo without the required argument is a tool error, not a protocol error.
			res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: ToolEcho, Arguments: map[string]any{}})
			if err != nil {
				t.Fatalf("call echo without text: %v", err)
			}
			if !res.IsError || !strings.Contains(textOf(t, res), "text") {
				t.Fatalf("echo without text: isError=%v content=%+v", res.IsError, res.Content)
			}

			// whoami
			res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: ToolWhoami, Arguments: map[string]any{}})
			if err != nil {
				t.Fatalf("call whoami: %v", err)
			}
			wantText := "subject: alice\nauthorization_header_present: false\nX-Mcp-Client-Id: svc\nX-Mcp-Scopes: mcp:read\nX-Mcp-Scopes: mcp:write\nX-Mcp-Subject: alice"
			if got := textOf(t, res); got != wantText || res.IsError {
				t.Fatalf("whoami text = %q (isError=%v), want %q", got, res.IsError, wantText)
			}
			wantStructured := map[string]any{
				"subject": "alice",
				"mcp_headers": []any{
					map[string]any{"name": "X-Mcp-Client-Id", "value": "svc"},
					map[string]any{"name": "X-Mcp-Scopes", "value": "mcp:read"},
					map[string]any{"name": "X-Mcp-Scopes", "value": "mcp:write"},
					map[string]any{"name": "X-Mcp-Subject", "value": "alice"},
				},
				"authorization_header_present": false,
			}
			if got := asJSONValue(t, res.StructuredContent); !reflect.DeepEqual(got, wantStructured) {
				t.Fatalf("whoami structured = %v\nwant %v", got, wantStructured)
			}

			// fail
			res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: ToolFail, Arguments: map[string]any{}})
			if err != nil {
				t.Fatalf("call fail: %v", err)
			}
			if got := textOf(t, res); got != FailureText || !res.IsError {
				t.Fatalf("fail = %q isError=%v", got, res.IsError)
			}
			if got := asJSONValue(t, res.StructuredContent); !reflect.DeepEqual(got, map[string]any{"error": FailureText}) {
				t.Fatalf("fail structured = %v", got)
			}
		})
	}
}

func TestWhoamiSeesAuthorization(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ts := startServer(t, Options{Stateless: true})
	cs := connect(t, ctx, ts.URL, "2025-11-25", http.Header{"Authorization": {"Bearer leaked"}})
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: ToolWhoami, Arguments: map[string]any{}})
	if err != nil {
		t.Fatalf("call whoami: %v", err)
	}
	if got, want := textOf(t, res), "subject: (none)\nauthorization_header_present: true"; got != want {
		t.Fatalf("whoami text = %q, want %q", got, want)
	}
	want := map[string]any{"subject": "", "mcp_headers": []any{}, "authorization_header_present": true}
	if got := asJSONValue(t, res.StructuredContent); !reflect.DeepEqual(got, want) {
		t.Fatalf("whoami structured = %v, want %v", got, want)
	}
}

type rawResult struct {
	status int
	header http.Header
	body   string
}

func rawPost(t *testing.T, url string, hdr map[string]string, body string) rawResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	return rawDo(t, req)
}

func rawDo(t *testing.T, req *http.Request) rawResult {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return rawResult{resp.StatusCode, resp.Header, string(b)}
}

// curlHeaders are exactly the headers of the documented curl command.
var curlHeaders = map[string]string{
	"Content-Type":         "application/json",
	"Accept":               "application/json, text/event-stream",
	"MCP-Protocol-Version": "2025-11-25",
}

func withHeaders(extra map[string]string, drop ...string) map[string]string {
	h := map[string]string{}
	for k, v := range curlHeaders {
		h[k] = v
	}
	for _, d := range drop {
		delete(h, d)
	}
	for k, v := range extra {
		h[k] = v
	}
	return h
}

const echoCall = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}`

func sse(data string) string { return "event: message\ndata: " + data + "\n\n" }

func TestRawStatelessToolsCall(t *testing.T) {
	stateless := startServer(t, Options{Stateless: true})
	jsonMode := startServer(t, Options{Stateless: true, JSONResponse: true})
	stateful := startServer(t, Options{})

	meta2026 := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}`
	echo2026 := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"},` + meta2026 + `}}`

	tests := []struct {
		name   string
		url    string
		hdr    map[string]string
		body   string
		status int
		ctype  string
		want   string
	}{
		{
			name: "documented curl", url: stateless.URL + "/mcp", hdr: curlHeaders, body: echoCall,
			status: 200, ctype: "text/event-stream",
			want: sse(`{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hello"}]}}`),
		},
		{
			name: "json response mode", url: jsonMode.URL + "/mcp", hdr: curlHeaders, body: echoCall,
			status: 200, ctype: "application/json",
			want: `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hello"}]}}`,
		},
		{
			name: "no protocol version header", url: stateless.URL, hdr: withHeaders(nil, "MCP-Protocol-Version"), body: echoCall,
			status: 200, ctype: "text/event-stream",
			want: sse(`{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hello"}]}}`),
		},
		{
			name: "whoami with identity and token", url: stateless.URL,
			hdr:    withHeaders(map[string]string{"X-MCP-Subject": "alice", "Authorization": "Bearer x"}),
			body:   `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"whoami","arguments":{}}}`,
			status: 200, ctype: "text/event-stream",
			want: sse(`{"jsonrpc":"2.0","id":2,"result":{"content":[{"type":"text","text":"subject: alice\nauthorization_header_present: true\nX-Mcp-Subject: alice"}],` +
				`"structuredContent":{"authorization_header_present":true,"mcp_headers":[{"name":"X-Mcp-Subject","value":"alice"}],"subject":"alice"}}}`),
		},
		{
			name: "fail keeps structuredContent", url: stateless.URL, hdr: curlHeaders,
			body:   `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"fail"}}`,
			status: 200, ctype: "text/event-stream",
			want: sse(`{"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"demo failure"}],"structuredContent":{"error":"demo failure"},"isError":true}}`),
		},
		{
			name: "2026-07-28 per-request form", url: stateless.URL,
			hdr:  withHeaders(map[string]string{"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "echo"}),
			body: echo2026, status: 200, ctype: "text/event-stream",
			want: sse(`{"jsonrpc":"2.0","id":7,"result":{"_meta":{"io.modelcontextprotocol/serverInfo":{"name":"mcp-frontdoor-demo","version":"0.1.0"}},` +
				`"content":[{"type":"text","text":"hi"}],"resultType":"complete"}}`),
		},
		{
			name: "2026-07-28 without Mcp-Method", url: stateless.URL,
			hdr:  withHeaders(map[string]string{"MCP-Protocol-Version": "2026-07-28"}),
			body: echo2026, status: 400, ctype: "application/json",
			want: `{"jsonrpc":"2.0","id":7,"error":{"code":-32020,"message":"missing required Mcp-Method header"}}`,
		},
		{
			name: "2026-07-28 without _meta", url: stateless.URL,
			hdr:  withHeaders(map[string]string{"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "echo"}),
			body: echoCall, status: 400, ctype: "application/json",
			want: `{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"missing or invalid _meta field \"io.modelcontextprotocol/protocolVersion\""}}`,
		},
		{
			name: "unsupported old version", url: stateless.URL,
			hdr:  withHeaders(map[string]string{"MCP-Protocol-Version": "2000-01-01"}),
			body: echoCall, status: 400, ctype: "text/plain; charset=utf-8",
			want: "Bad Request: Unsupported protocol version (supported versions: 2026-07-28,2025-11-25,2025-06-18,2025-03-26,2024-11-05)\n",
		},
		{
			name: "missing event-stream in Accept", url: stateless.URL,
			hdr:  withHeaders(map[string]string{"Accept": "application/json"}),
			body: echoCall, status: 400, ctype: "text/plain; charset=utf-8",
			want: "Accept must contain both 'application/json' and 'text/event-stream'\n",
		},
		{
			name: "wrong content type", url: stateless.URL,
			hdr:  withHeaders(map[string]string{"Content-Type": "text/plain"}),
			body: echoCall, status: 415, ctype: "text/plain; charset=utf-8",
			want: "Content-Type must be 'application/json'\n",
		},
		{
			name: "non-loopback Host", url: stateless.URL,
			hdr:  withHeaders(map[string]string{"Host": "evil.example"}),
			body: echoCall, status: 403, ctype: "text/plain; charset=utf-8",
			want: "Forbidden: invalid Host header \"evil.example\"\n",
		},
		{
			name: "stateful server needs initialize", url: stateful.URL, hdr: curlHeaders, body: echoCall,
			status: 200, ctype: "text/event-stream",
			want: sse(`{"jsonrpc":"2.0","id":1,"error":{"code":0,"message":"method \"tools/call\" is invalid during session initialization"}}`),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := rawPost(t, tc.url, tc.hdr, tc.body)
			if r.status != tc.status || r.header.Get("Content-Type") != tc.ctype || r.body != tc.want {
				t.Fatalf("got %d %q\n%q\nwant %d %q\n%q", r.status, r.header.Get("Content-Type"), r.body, tc.status, tc.ctype, tc.want)
			}
			if sid := r.header.Get("Mcp-Session-Id"); sid != "" {
				t.Errorf("Mcp-Session-Id = %q, want none", sid)
			}
		})
	}

	t.Run("GET is 405", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, stateless.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept", "text/event-stream")
		r := rawDo(t, req)
		if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "POST" || r.body != "Method Not Allowed\n" {
			t.Fatalf("GET = %d Allow=%q body=%q", r.status, r.header.Get("Allow"), r.body)
		}
	})

	t.Run("DisableLocalhostProtection", func(t *testing.T) {
		open := startServer(t, Options{Stateless: true, DisableLocalhostProtection: true})
		r := rawPost(t, open.URL, withHeaders(map[string]string{"Host": "mcp.example.com"}), echoCall)
		want := sse(`{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hello"}]}}`)
		if r.status != 200 || r.body != want {
			t.Fatalf("got %d %q, want 200 %q", r.status, r.body, want)
		}
	})
}

func TestWhoamiHelper(t *testing.T) {
	h := http.Header{}
	h.Add("x-mcp-b", "2")
	h.Add("X-MCP-a", "1")
	h.Add("X-Mcpx", "not a match")
	h.Add("Authorization", "")
	got := Whoami(h)
	want := WhoamiResult{
		Subject:                    "",
		MCPHeaders:                 []HeaderValue{{"X-Mcp-A", "1"}, {"X-Mcp-B", "2"}},
		AuthorizationHeaderPresent: true,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Whoami = %+v, want %+v", got, want)
	}
	if txt, wantTxt := got.Text(), "subject: (none)\nauthorization_header_present: true\nX-Mcp-A: 1\nX-Mcp-B: 2"; txt != wantTxt {
		t.Fatalf("Text = %q, want %q", txt, wantTxt)
	}
}

// TestServeStdio: over stdio there are no headers; whoami reports the
// MCP_SUBJECT a stdio front door sets, and the end of stdin ends
// ServeStdio without an error.
func TestServeStdio(t *testing.T) {
	t.Setenv(SubjectEnv, "alice")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	clientIn, serverOut := io.Pipe()
	serverIn, clientOut := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- ServeStdio(ctx, serverIn, serverOut) }()

	client := mcp.NewClient(&mcp.Implementation{Name: "demomcp-test", Version: "0"}, nil)
	cs, err := client.Connect(ctx, &mcp.IOTransport{Reader: clientIn, Writer: clientOut}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: ToolWhoami, Arguments: map[string]any{}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := textOf(t, res), "subject: (none)\nauthorization_header_present: false\nMCP_SUBJECT: alice"; got != want {
		t.Errorf("whoami text = %q, want %q", got, want)
	}
	want := map[string]any{"subject": "", "mcp_headers": []any{}, "authorization_header_present": false, "subject_env": "alice"}
	if got := asJSONValue(t, res.StructuredContent); !reflect.DeepEqual(got, want) {
		t.Errorf("whoami structured = %v, want %v", got, want)
	}
	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: ToolEcho, Arguments: map[string]any{"text": "over stdio"}})
	if err != nil || textOf(t, res) != "over stdio" {
		t.Fatalf("echo = %+v, %v", res, err)
	}

	_ = clientOut.Close() // the server's stdin ends
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ServeStdio after the end of its input = %v, want nil", err)
		}
	case <-ctx.Done():
		t.Fatal("ServeStdio did not return after the end of its input")
	}
	_ = cs.Close()
}
