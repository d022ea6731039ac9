package conformance

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
	"github.com/mcp-frontdoor/mcp-frontdoor/internal/testenv"
)

// CaddyFrontDoor is a [FrontDoor]: oidc-provider as the authorization
// server and Caddy in process (one caddy.Load, admin off, a free loopback
// port) with `mcp_auth` in front of `reverse_proxy upstream`. Caddy is one
// per process: tests using it must not run in parallel.
func CaddyFrontDoor(t testing.TB, upstream string) (string, string) {
	t.Helper()
	return caddyFrontDoor(t, fmt.Sprintf("reverse_proxy %s {\n\t\tflush_interval -1\n\t}", upstream))
}

// CaddyStdioFrontDoor is [CaddyFrontDoor] with `mcp_stdio` (a process per
// session) in place of reverse_proxy.
func CaddyStdioFrontDoor(t testing.TB, o StdioOptions) (string, string) {
	t.Helper()
	return caddyFrontDoor(t, o.caddyfile())
}

// caddyFrontDoor serves mcp_auth in front of backend (a Caddyfile
// handler block).
func caddyFrontDoor(t testing.TB, backend string) (string, string) {
	t.Helper()
	testenv.RequireTools(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("conformance: listen: %v", err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	resource := "http://" + addr + "/mcp"
	as := testenv.StartOIDCProvider(t, testenv.OIDCOptions{Resources: []string{resource}})
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
		resource_name conformance
		scopes_supported mcp:read mcp:write
		authorization_server %s {
			require_at_jwt_typ
		}
	}
	%s
}
`, t.TempDir(), port, resource, as.Issuer, backend)
	cfgJSON, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		t.Fatalf("conformance: adapt Caddyfile: %v", err)
	}
	if err := caddy.Load(cfgJSON, true); err != nil {
		t.Fatalf("conformance: caddy.Load: %v", err)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
	token := as.ClientCredentialsToken(t, resource, SidecarScopes)
	// Ready once a request with the token is no longer 503 (keys loading).
	deadline := time.Now().Add(SidecarReadyTimeout)
	for {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/ready-probe", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable && resp.StatusCode != http.StatusUnauthorized {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("conformance: Caddy front door not ready within %v", SidecarReadyTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return resource, token
}

var _ FrontDoor = CaddyFrontDoor
