package sidecar

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/demomcp"
	"github.com/mcp-frontdoor/mcp-frontdoor/internal/devas"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/frontdoor"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/mcpproxy"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

// DevOptions are the loopback addresses of `mcp-sidecar dev`. Every
// address must be on loopback.
type DevOptions struct {
	Listen      string // front door (default 127.0.0.1:8080)
	AdminListen string // admin (default 127.0.0.1:9091)
	ASListen    string // dev authorization server (default 127.0.0.1:9090)
	MCPListen   string // demo MCP server (default 127.0.0.1:9092)
	LogLevel    string // default warn, so the printed instructions stay readable
}

// DevInfo is what a started dev environment prints.
type DevInfo struct {
	Resource, Issuer, Upstream, Admin, Token string
}

// Dev runs the demo: a dev authorization server, a demo MCP server and the
// sidecar in front of it, all on loopback. ready (may be nil) receives the
// addresses and a ready token once everything listens; out receives the
// instructions. It returns when ctx is done.
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
	mcpLn, err := listen("demo MCP server", o.MCPListen)
	if err != nil {
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
	upstream := "http://" + mcpLn.Addr().String()
	as, err := devas.New(devas.Options{Issuer: issuer, Resources: []string{resource}})
	if err != nil {
		closeAll()
		return fmt.Errorf("dev: authorization server: %w", err)
	}
	cfg := &Config{
		Listen: fdLn.Addr().String(), AdminListen: adminLn.Addr().String(), LogLevel: o.LogLevel,
		ShutdownTimeout: rs.Duration(2 * time.Second),
		Options: frontdoor.Options{
			Config: rs.Config{
				Resource: resource, ResourceName: "mcp-sidecar dev demo",
				ScopesSupported: devas.DefaultScopes(), ChallengeScopes: []string{"mcp:read"},
				AuthorizationServers: []rs.AuthorizationServer{{Issuer: issuer, RequireATJWTType: true}},
			},
			Policy: mcpproxy.Policy{
				Upstream:        upstream,
				IdentityHeaders: mcpproxy.IdentityHeaders{Claims: map[string]string{"X-MCP-Client-Id": "client_id", "X-MCP-Scope": "scope"}},
			},
		},
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
	side := []*http.Server{
		{Handler: as.Handler(), ReadHeaderTimeout: 10 * time.Second},
		{Handler: demomcp.Handler(demomcp.Options{Stateless: true}), ReadHeaderTimeout: 10 * time.Second},
	}
	go func() { _ = side[0].Serve(asLn) }()
	go func() { _ = side[1].Serve(mcpLn) }()
	defer func() {
		for _, s := range side {
			_ = s.Close()
		}
	}()
	info := DevInfo{Resource: resource, Issuer: issuer, Upstream: upstream + "/mcp", Admin: "http://" + adminLn.Addr().String(), Token: token}
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

func printDev(out io.Writer, i DevInfo, as *devas.Server) {
	fmt.Fprintf(out, `mcp-sidecar dev: a demo on loopback only (nothing here is for production)

  front door (sidecar)   %s
  dev authorization srv  %s   (client_credentials: %s / %s)
  demo MCP server        %s   (behind the front door)
  admin                  %s/readyz  %s/metrics

A token for sub "dev-user" (scopes mcp:read mcp:write, valid 1h):

export TOKEN='%s'

An authenticated tool call through the front door:

%s

Without the token the front door answers 401 with a WWW-Authenticate challenge:

curl -si %s -X POST

Press Ctrl-C to stop.
`, i.Resource, i.Issuer, as.ClientID(), as.ClientSecret(), i.Upstream, i.Admin, i.Admin, i.Token, DevCurl(i.Resource), i.Resource)
}
