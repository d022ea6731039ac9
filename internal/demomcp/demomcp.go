// Package demomcp is a tiny demo MCP server (go-sdk v1.8.0, Streamable HTTP)
// used as the upstream behind the front door in `mcp-sidecar dev` and in
// tests.
//
// Tools:
//
//   - echo {text}: returns text as a single text content block.
//   - admin_echo {text}: the same as echo. It exists for scope policies: the
//     `mcp-sidecar dev` demo requires the mcp:admin scope for it, so that a
//     client sees a 403 insufficient_scope and steps up.
//   - whoami {}: reports the identity headers the front door injected: the
//     X-MCP-Subject value, every request header whose name starts with
//     "X-Mcp-" (sorted by canonical name, one entry per value) and whether an
//     Authorization header reached the upstream (it must not: the front door
//     strips the client's token). Served over stdio ([ServeStdio]) there are
//     no headers; the identity is then the MCP_SUBJECT environment variable
//     the front door's stdio block sets per session, which whoami reports
//     too when it is set. Returned as text and as structured output
//     ([WhoamiResult]).
//   - fail {}: returns a tool error: isError true, text "demo failure" AND
//     structuredContent {"error":"demo failure"}, to show that the front door
//     deletes structuredContent from error results.
//
// # Stateless single-request calls
//
// With [Options.Stateless] a client may call a tool with one POST and no
// initialize handshake, for example:
//
//	curl -sS http://127.0.0.1:8080/mcp \
//	  -H 'Content-Type: application/json' \
//	  -H 'Accept: application/json, text/event-stream' \
//	  -H 'MCP-Protocol-Version: 2025-11-25' \
//	  -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}'
//
// What go-sdk v1.8.0 requires for that request to succeed (verified by the
// package tests):
//
//   - method POST (GET and DELETE get 405 with "Allow: POST");
//   - Content-Type application/json (else 415);
//   - Accept listing both application/json and text/event-stream (else 400);
//   - MCP-Protocol-Version absent (then 2025-03-26 is assumed) or one of
//     2024-11-05, 2025-03-26, 2025-06-18, 2025-11-25. For these versions the
//     stateless handler synthesizes the initialize state, so neither an
//     initialize request nor an Mcp-Session-Id is needed (and none is
//     returned). An unknown version older than 2026-07-28 gets a plain-text
//     400;
//   - MCP-Protocol-Version 2026-07-28 (or newer) switches to the SEP-2575
//     per-request form: params._meta must carry
//     "io.modelcontextprotocol/protocolVersion" equal to the header and an
//     "io.modelcontextprotocol/clientCapabilities" object, and the request
//     needs the Mcp-Method header (plus Mcp-Name for tools/call); otherwise
//     400 with a JSON-RPC error (-32602 or -32020 HeaderMismatch);
//   - a loopback Host header when the server is reached on a loopback
//     address (go-sdk DNS-rebinding protection, 403 otherwise) unless
//     [Options.DisableLocalhostProtection] is set;
//   - a body of at most 4 MiB (413 otherwise).
//
// The answer is 200, Content-Type text/event-stream, body exactly
// "event: message\ndata: <JSON-RPC response>\n\n" — or the bare JSON-RPC
// response as application/json with [Options.JSONResponse].
//
// Without Stateless the server is stateful: the same single POST gets 200
// with a JSON-RPC error ("method \"tools/call\" is invalid during session
// initialization"); a client must initialize first and send the returned
// Mcp-Session-Id on later requests, and 2026-07-28 requests are rejected
// with 400 / -32022 (the go-sdk client then falls back to 2025-11-25).
package demomcp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Names used by the demo server.
const (
	// ServerName is the MCP implementation name reported by the server.
	ServerName = "mcp-frontdoor-demo"
	// ServerVersion is the MCP implementation version reported by the server.
	ServerVersion = "0.1.0"

	ToolEcho      = "echo"
	ToolAdminEcho = "admin_echo"
	ToolWhoami    = "whoami"
	ToolFail      = "fail"

	// SubjectHeader is the identity header the front door injects.
	SubjectHeader = "X-MCP-Subject"
	// SubjectEnv is the environment variable that carries the caller's
	// subject when a front door runs the server as a stdio process per
	// session (the stdio block's identity_env.subject default).
	SubjectEnv = "MCP_SUBJECT"
	// FailureText is the text (and structuredContent "error") of the fail tool.
	FailureText = "demo failure"
)

// Options configures [Handler].
type Options struct {
	// Stateless selects the go-sdk stateless Streamable HTTP mode: no
	// sessions, no initialize needed, POST only.
	Stateless bool
	// JSONResponse makes POST responses application/json instead of
	// text/event-stream.
	JSONResponse bool
	// DisableLocalhostProtection turns off the go-sdk DNS-rebinding check
	// that rejects non-loopback Host headers on loopback listeners. Only set
	// it when a trusted proxy in front of the server validates Host/Origin.
	DisableLocalhostProtection bool
}

// EchoInput is the input of the echo tool.
type EchoInput struct {
	Text string `json:"text" jsonschema:"the text to echo back"`
}

// HeaderValue is one request header value seen by the whoami tool.
type HeaderValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// WhoamiResult is the structured output of the whoami tool.
type WhoamiResult struct {
	// Subject is the value of the X-MCP-Subject request header ("" if absent).
	Subject string `json:"subject"`
	// MCPHeaders lists every request header named X-Mcp-*, sorted by
	// canonical name, one entry per value.
	MCPHeaders []HeaderValue `json:"mcp_headers"`
	// AuthorizationHeaderPresent reports whether the request carried an
	// Authorization header.
	AuthorizationHeaderPresent bool `json:"authorization_header_present"`
	// SubjectEnv is $MCP_SUBJECT of the server process, set when a stdio
	// front door started it for the caller (omitted when unset).
	SubjectEnv string `json:"subject_env,omitempty"`
}

// NewServer returns a new MCP server with the echo, admin_echo, whoami and
// fail tools.
func NewServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: ServerName, Version: ServerVersion}, nil)
	mcp.AddTool(s, &mcp.Tool{
		Name:        ToolEcho,
		Description: "Echo the given text back.",
	}, echo)
	mcp.AddTool(s, &mcp.Tool{
		Name:        ToolAdminEcho,
		Description: "Echo the given text back; a front door may require an admin scope for it (the dev demo requires mcp:admin).",
	}, echo)
	mcp.AddTool(s, &mcp.Tool{
		Name:        ToolWhoami,
		Description: "Report the X-MCP-Subject and other X-Mcp-* request headers and whether an Authorization header arrived.",
	}, whoami)
	mcp.AddTool(s, &mcp.Tool{
		Name:        ToolFail,
		Description: "Always fail with isError and a structuredContent error object.",
	}, fail)
	return s
}

// Handler returns a Streamable HTTP handler serving one shared demo server
// on every path.
func Handler(opts Options) http.Handler {
	srv := NewServer()
	return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{
		Stateless:                  opts.Stateless,
		JSONResponse:               opts.JSONResponse,
		DisableLocalhostProtection: opts.DisableLocalhostProtection,
	})
}

// ServeStdio serves a new demo server over stdio (one JSON-RPC message per
// line on in and out) until in ends or ctx is done, as a front door's
// stdio block runs it once per session: `mcp-sidecar demo-mcp --stdio`.
// The end of in is a normal end (nil).
func ServeStdio(ctx context.Context, in io.ReadCloser, out io.WriteCloser) error {
	err := NewServer().Run(ctx, &mcp.IOTransport{Reader: in, Writer: out})
	if ctx.Err() != nil || errors.Is(err, io.EOF) || errors.Is(err, mcp.ErrConnectionClosed) {
		return nil
	}
	return err
}

func echo(_ context.Context, _ *mcp.CallToolRequest, in EchoInput) (*mcp.CallToolResult, any, error) {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, nil, nil
}

// Whoami computes the whoami result for the given request headers.
func Whoami(h http.Header) WhoamiResult {
	res := WhoamiResult{
		Subject:                    h.Get(SubjectHeader),
		MCPHeaders:                 []HeaderValue{},
		AuthorizationHeaderPresent: len(h.Values("Authorization")) > 0,
	}
	names := make([]string, 0, len(h))
	for name := range h {
		if strings.HasPrefix(strings.ToLower(name), "x-mcp-") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		for _, v := range h[name] {
			res.MCPHeaders = append(res.MCPHeaders, HeaderValue{Name: http.CanonicalHeaderKey(name), Value: v})
		}
	}
	return res
}

// Text renders r as the whoami text content: "subject: <value or (none)>",
// "authorization_header_present: <bool>", "MCP_SUBJECT: <value>" when
// SubjectEnv is set, then one "<Name>: <value>" line per X-Mcp-* header
// value.
func (r WhoamiResult) Text() string {
	var b strings.Builder
	subj := r.Subject
	if subj == "" {
		subj = "(none)"
	}
	fmt.Fprintf(&b, "subject: %s\nauthorization_header_present: %t", subj, r.AuthorizationHeaderPresent)
	if r.SubjectEnv != "" {
		fmt.Fprintf(&b, "\n%s: %s", SubjectEnv, r.SubjectEnv)
	}
	for _, hv := range r.MCPHeaders {
		fmt.Fprintf(&b, "\n%s: %s", hv.Name, hv.Value)
	}
	return b.String()
}

func whoami(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, WhoamiResult, error) {
	var h http.Header
	if req != nil && req.Extra != nil {
		h = req.Extra.Header
	}
	res := Whoami(h)
	res.SubjectEnv = os.Getenv(SubjectEnv)
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: res.Text()}}}, res, nil
}

func fail(_ context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
	return &mcp.CallToolResult{
		IsError:           true,
		Content:           []mcp.Content{&mcp.TextContent{Text: FailureText}},
		StructuredContent: map[string]any{"error": FailureText},
	}, nil, nil
}
