package sidecar

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/demomcp"
	"github.com/mcp-frontdoor/mcp-frontdoor/internal/devas"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/frontdoor"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/mcpproxy"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/stdiobridge"
)

// DevOptions are the loopback addresses of `mcp-sidecar dev`. Every
// address must be on loopback.
type DevOptions struct {
	Listen      string // front door (default 127.0.0.1:8080)
	AdminListen string // admin (default 127.0.0.1:9091)
	ASListen    string // dev authorization server (default 127.0.0.1:9090)
	MCPListen   string // demo MCP server (default 127.0.0.1:9092; unused with Stdio)
	LogLevel    string // default warn, so the printed instructions stay readable
	// Stdio runs the demo MCP server as a stdio process per MCP session
	// (the stdio block, command DevStdioCommand) instead of over HTTP.
	Stdio bool
}

// DevInspectorVersion is the MCP Inspector version `mcp-sidecar dev`
// prints in its Inspector commands: the one pinned in tools/npm, which the
// tests run (a test keeps the two equal).
const DevInspectorVersion = "2.12.0"

// DevScopes are the scopes of the dev demo: the dev authorization server
// grants them and the front door advertises them. DevAdminScope is
// required for the demo's admin_echo tool only, so a client that logged
// in with the challenged scope (mcp:read) steps up for it.
var DevScopes = []string{"mcp:read", "mcp:write", DevAdminScope}

// DevAdminScope is the scope the dev demo requires for admin_echo.
const DevAdminScope = "mcp:admin"

// DevInfo is what a started dev environment prints.
type DevInfo struct {
	// Resource is the front door's MCP URL, the one to paste into a client.
	Resource, Issuer, Upstream, Admin, Token string
	// Command is the stdio command (DevOptions.Stdio; Upstream is then "").
	Command []string
}

// DevStdioCommand is the stdio command of `mcp-sidecar dev --stdio`: this
// executable's `demo-mcp --stdio`.
func DevStdioCommand() ([]string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("dev: the path of this executable: %w", err)
	}
	return []string{exe, "demo-mcp", "--stdio"}, nil
}

// Dev runs the demo: a dev authorization server, a demo MCP server and the
// sidecar in front of it, all on loopback (with o.Stdio the demo MCP
// server is the sidecar's stdio command, one process per session). ready
// (may be nil) receives the addresses and a ready token once everything
// listens; out receives the instructions. It returns when ctx is done.
func Dev(ctx context.Context, o DevOptions, out io.Writer, ready func(DevInfo)) error {
	def := func(s *string, d string) {
		if *s == "" {
			*s = d
		}
	}
	def(&o.Listen, DefaultListen)
	def(&o.AdminListen, DefaultAdminListen)
	def(&o.ASListen, "127.0.0.1:9090")
	def(&o.MCPListen, "127.0.0.1:9092")
	def(&o.LogLevel, "warn")
	var lns []net.Listener
	closeAll := func() {
		for _, l := range lns {
			_ = l.Close()
		}
	}
	listen := func(name, addr string) (net.Listener, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil || !rs.IsLoopbackHost(host) {
			return nil, fmt.Errorf("dev: %s %q must be a loopback host:port", name, addr)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("dev: %s: %w", name, err)
		}
		lns = append(lns, ln)
		return ln, nil
	}
	asLn, err := listen("authorization server", o.ASListen)
	if err != nil {
		return err
	}
	var mcpLn net.Listener
	var command []string
	if o.Stdio {
		if command, err = DevStdioCommand(); err != nil {
			closeAll()
			return err
		}
	} else if mcpLn, err = listen("demo MCP server", o.MCPListen); err != nil {
		closeAll()
		return err
	}
	fdLn, err := listen("front door", o.Listen)
	if err != nil {
		closeAll()
		return err
	}
	adminLn, err := listen("admin", o.AdminListen)
	if err != nil {
		closeAll()
		return err
	}
	issuer := "http://" + asLn.Addr().String()
	resource := "http://" + fdLn.Addr().String() + "/mcp"
	var upstream string
	if mcpLn != nil {
		upstream = "http://" + mcpLn.Addr().String()
	}
	as, err := devas.New(devas.Options{Issuer: issuer, Resources: []string{resource}, Scopes: DevScopes})
	if err != nil {
		closeAll()
		return fmt.Errorf("dev: authorization server: %w", err)
	}
	cfg := &Config{
		Listen: fdLn.Addr().String(), AdminListen: adminLn.Addr().String(), LogLevel: o.LogLevel,
		ShutdownTimeout: rs.Duration(2 * time.Second),
		DrainDelay:      new(rs.Duration), // no load balancer to wait for: Ctrl-C stops at once
		Options: frontdoor.Options{
			Config: rs.Config{
				Resource: resource, ResourceName: "mcp-sidecar dev demo",
				ScopesSupported: DevScopes, ChallengeScopes: []string{"mcp:read"},
				AuthorizationServers: []rs.AuthorizationServer{{Issuer: issuer, RequireATJWTType: true}},
			},
			Policy: mcpproxy.Policy{
				Upstream:        upstream,
				IdentityHeaders: mcpproxy.IdentityHeaders{Claims: map[string]string{"X-MCP-Client-Id": "client_id", "X-MCP-Scope": "scope"}},
				// The step-up demo: admin_echo needs a scope the first login
				// (scope mcp:read, from the challenge) does not ask for.
				RequiredScopes: mcpproxy.RequiredScopes{Tools: map[string][]string{demomcp.ToolAdminEcho: {DevAdminScope}}},
			},
		},
	}
	if o.Stdio {
		// No headers reach a stdio server: the identity is the
		// environment of each session's process.
		cfg.Policy.IdentityHeaders = mcpproxy.IdentityHeaders{}
		cfg.Policy.RequiredScopes.Tools = map[string][]string{demomcp.ToolAdminEcho: {DevAdminScope}}
		cfg.Stdio = &stdiobridge.Options{Command: command, IdentityEnv: stdiobridge.IdentityEnv{Subject: demomcp.SubjectEnv}}
	}
	if err := cfg.Check(nil, nil); err != nil {
		closeAll()
		return fmt.Errorf("dev: config: %w", err)
	}
	log, err := NewLogger(o.LogLevel)
	if err != nil {
		closeAll()
		return err
	}
	app, err := New(cfg, log, nil)
	if err != nil {
		closeAll()
		return err
	}
	token, err := as.Mint("dev-user", devas.DefaultScopes(), resource, time.Hour, nil)
	if err != nil {
		closeAll()
		return fmt.Errorf("dev: mint token: %w", err)
	}
	asSrv := &http.Server{Handler: as.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = asSrv.Serve(asLn) }()
	side := []*http.Server{asSrv}
	if mcpLn != nil {
		mcpSrv := &http.Server{Handler: demomcp.Handler(demomcp.Options{Stateless: true}), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = mcpSrv.Serve(mcpLn) }()
		side = append(side, mcpSrv)
	}
	defer func() {
		for _, s := range side {
			_ = s.Close()
		}
	}()
	info := DevInfo{Resource: resource, Issuer: issuer, Admin: "http://" + adminLn.Addr().String(), Token: token, Command: command}
	if upstream != "" {
		info.Upstream = upstream + "/mcp"
	}
	printDev(out, info, as)
	if ready != nil {
		ready(info)
	}
	err = app.Serve(ctx, fdLn, adminLn)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	log.Sync() //nolint:errcheck // stderr sync may fail on terminals
	return err
}

// DevCurl is the authenticated tool call `mcp-sidecar dev` prints.
func DevCurl(resource string) string {
	return `curl -sS ` + resource + ` \
  -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' \
  -H 'Accept: application/json, text/event-stream' \
  -H 'MCP-Protocol-Version: 2025-11-25' \
  -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{}}}'`
}

// DevStdioCurl is what `mcp-sidecar dev --stdio` prints: a session, since
// a stdio server runs one process per session. initialize starts the
// process (its Mcp-Session-Id goes into SID), then the initialized
// notification and the whoami call, and DELETE ends the process.
func DevStdioCurl(resource string) string {
	const hdrs = ` \
  -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' \
  -H 'Accept: application/json, text/event-stream'`
	const session = hdrs + ` \
  -H 'MCP-Protocol-Version: 2025-11-25' \
  -H "Mcp-Session-Id: $SID"`
	return `SID=$(curl -sS -o /dev/null -D - ` + resource + hdrs + ` \
  -d '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}' \
  | tr -d '\r' | awk 'tolower($1) == "mcp-session-id:" {print $2}')
curl -sS ` + resource + session + ` \
  -d '{"jsonrpc":"2.0","method":"notifications/initialized"}'
curl -sS ` + resource + session + ` \
  -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{}}}'
curl -sS -X DELETE ` + resource + ` -H "Authorization: Bearer $TOKEN" -H "Mcp-Session-Id: $SID"`
}

// DevInspectorUI is the command that opens the MCP Inspector's web UI on
// the MCP URL resource (it logs in through the dev authorization server).
func DevInspectorUI(resource string) string {
	return "npx -y @modelcontextprotocol/inspector@" + DevInspectorVersion + " --transport http --server-url " + resource
}

// DevInspectorCLI is the MCP Inspector CLI call of whoami on the MCP URL
// resource; in a terminal it logs in through the browser first.
func DevInspectorCLI(resource string) string {
	return "npx -y @modelcontextprotocol/inspector@" + DevInspectorVersion + " --cli " + resource + " --transport http --method tools/call --tool-name whoami"
}

// DevNodeNote is printed with the Inspector commands.
const DevNodeNote = "The Inspector needs Node >= 22.19 (older Node installs an old Inspector without --header)."

func printDev(out io.Writer, i DevInfo, as *devas.Server) {
	server, what, call := i.Upstream+"   (behind the front door)", "An authenticated tool call through the front door", DevCurl(i.Resource)
	if i.Command != nil {
		server = "stdio: " + strings.Join(i.Command, " ") + "\n" +
			"                         (one process per MCP session, started by initialize, with MCP_SUBJECT = the token's sub)"
		what = "An authenticated session through the front door (initialize starts the demo server's process;\n" +
			"whoami shows the MCP_SUBJECT it got; DELETE ends it)"
		call = DevStdioCurl(i.Resource)
	}
	fmt.Fprintf(out, `mcp-sidecar dev: a demo on loopback only (nothing here is for production)

  front door (sidecar)   %s
  dev authorization srv  %s   (login page: pick %s, no password;
                         client_credentials: %s / %s)
  demo MCP server        %s
  admin                  %s/readyz  %s/metrics

Use it from an MCP client: add this MCP server URL (Streamable HTTP) and log in
as a dev user in the browser when the client asks:

  %s

With the MCP Inspector, web UI or CLI (the CLI opens the browser to log in first).
%s

  %s
  %s

The tool %s needs the scope %s: a client that logged in with %s gets
403 insufficient_scope for it and has to authorize again (step-up).

A token for sub "dev-user" (scopes mcp:read mcp:write, valid 1h):

export TOKEN='%s'

%s:

%s

Without the token the front door answers 401 with a WWW-Authenticate challenge:

curl -si %s -X POST

Press Ctrl-C to stop.
`, i.Resource, i.Issuer, strings.Join(as.Users(), ", "), as.ClientID(), as.ClientSecret(), server, i.Admin, i.Admin,
		i.Resource, DevNodeNote, DevInspectorUI(i.Resource), DevInspectorCLI(i.Resource),
		demomcp.ToolAdminEcho, DevAdminScope, "mcp:read",
		i.Token, what, call, i.Resource)
}
