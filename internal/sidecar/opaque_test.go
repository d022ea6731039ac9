package sidecar_test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/testenv"
)

// TestOpaqueTokensEndToEnd: oidc-provider issues opaque tokens; the
// sidecar introspects them (endpoint discovered, client credentials from a
// file).
func TestOpaqueTokensEndToEnd(t *testing.T) {
	testenv.RequireTools(t)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	resource := "http://" + ln.Addr().String() + "/mcp"
	as := testenv.StartOIDCProvider(t, testenv.OIDCOptions{Resources: []string{resource}, Opaque: true})
	up := newUpstream(t)
	secret := filepath.Join(t.TempDir(), "rs-secret")
	if err := os.WriteFile(secret, []byte(testenv.OIDCIntrospectionClientSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	serveYAML(t, ln, nil, fmt.Sprintf(`
listen: %s
admin_listen: "off"
upstream: %s
resource: %s
authorization_servers:
  - issuer: %s
    introspection:
      client_id: %s
      client_secret:
        file: %s
`, ln.Addr(), up.url, resource, as.Issuer, testenv.OIDCIntrospectionClientID, secret))
	tok := as.ClientCredentialsToken(t, resource, "mcp:read")
	if strings.Count(tok, ".") == 2 {
		t.Fatalf("expected an opaque token, got a JWT")
	}
	resp, _ := do(t, "POST", resource, http.Header{"Authorization": {"Bearer " + tok}}, pingBody)
	if resp.StatusCode != 200 || up.last(t).header.Get("X-Mcp-Subject") != "svc" {
		t.Fatalf("opaque token: %d, subject %q", resp.StatusCode, up.last(t).header.Get("X-Mcp-Subject"))
	}
	resp, _ = do(t, "POST", resource, http.Header{"Authorization": {"Bearer not-a-real-token"}}, pingBody)
	if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error_description="Token is not active"`) {
		t.Fatalf("unknown opaque token: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}
