package clients

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile" // the caddyfile adapter
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	_ "github.com/caddyserver/caddy/v2/modules/filestorage"

	_ "github.com/mcp-frontdoor/mcp-frontdoor/caddymodule" // mcp_auth
	"github.com/mcp-frontdoor/mcp-frontdoor/internal/demomcp"
	"github.com/mcp-frontdoor/mcp-frontdoor/internal/devas"
	"github.com/mcp-frontdoor/mcp-frontdoor/internal/sidecar"
)

// TestTypeScriptSDKLoginThroughDev: the TypeScript SDK client logs in to
// `mcp-sidecar dev` as alice (discovery, registration, PKCE, token),
// calls whoami, survives an expired access token through a refresh, and
// steps up for admin_echo after a 403 insufficient_scope.
func TestTypeScriptSDKLoginThroughDev(t *testing.T) {
	nodeTools(t)
	info := startDev(t, sidecar.DevOptions{})
	r := runClientScript(t, info.Resource, "alice")
	checkLoginAndStepUp(t, r, info.Resource, "alice")
}

// TestTypeScriptSDKLoginThroughCaddy is the same story through Caddy:
// mcp_auth and reverse_proxy in front of the demo MCP server, the dev
// authorization server as the issuer, logging in as bob.
func TestTypeScriptSDKLoginThroughCaddy(t *testing.T) {
	nodeTools(t)
	resource := startCaddyDemo(t)
	r := runClientScript(t, resource, "bob")
	checkLoginAndStepUp(t, r, resource, "bob")
}

// serve serves h on a new loopback listener until the test ends and
// returns its base URL.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// startCaddyDemo runs the dev authorization server, the demo MCP server and
// Caddy (in process, admin off) with the dev demo's policy: challenge
// scope mcp:read, admin_echo needs mcp:admin. It returns the MCP URL.
func startCaddyDemo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	resource := "http://" + addr + "/mcp"

	asLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + asLn.Addr().String()
	as, err := devas.New(devas.Options{Issuer: issuer, Resources: []string{resource}, Scopes: sidecar.DevScopes})
	if err != nil {
		t.Fatal(err)
	}
	asSrv := &http.Server{Handler: as.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = asSrv.Serve(asLn) }()
	t.Cleanup(func() { _ = asSrv.Close() })
	upstream := serve(t, demomcp.Handler(demomcp.Options{Stateless: true}))

	caddyfile := fmt.Sprintf(`{
	admin off
	persist_config off
	auto_https off
	storage file_system %s
	grace_period 1ns
}
http://:%s {
	bind 127.0.0.1
	mcp_auth {
		resource %s
		resource_name "mcp-frontdoor e2e"
		scopes_supported mcp:read mcp:write mcp:admin
		challenge_scopes mcp:read
		authorization_server %s {
			require_at_jwt_typ
		}
		identity_headers {
			claims {
				X-MCP-Client-Id client_id
				X-MCP-Scope scope
			}
		}
		required_scopes {
			tools {
				admin_echo mcp:admin
			}
		}
	}
	reverse_proxy %s {
		flush_interval -1
	}
}
`, t.TempDir(), port, resource, issuer, strings.TrimPrefix(upstream, "http://"))
	cfgJSON, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		t.Fatalf("adapt Caddyfile: %v\n%s", err, caddyfile)
	}
	if err := caddy.Load(cfgJSON, true); err != nil {
		t.Fatalf("caddy.Load: %v", err)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
	tok, err := as.Mint("probe", []string{"mcp:read"}, resource, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, resource, tok)
	return resource
}
