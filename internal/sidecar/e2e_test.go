package sidecar_test

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/demomcp"
	"github.com/mcp-frontdoor/mcp-frontdoor/internal/testenv"
)

// TestEndToEndWithOIDCProvider puts the sidecar in front of the demo MCP
// server and trusts two real authorization servers (oidc-provider from
// npm), found by discovery, issuing client-credentials JWTs with
// resource = the sidecar's URL.
func TestEndToEndWithOIDCProvider(t *testing.T) {
	testenv.RequireTools(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	resource := "http://" + ln.Addr().String() + "/mcp"
	other := "http://127.0.0.1:1/elsewhere"
	as1 := testenv.StartOIDCProvider(t, testenv.OIDCOptions{Resources: []string{resource, other}, KeyID: "k1"})
	as2 := testenv.StartOIDCProvider(t, testenv.OIDCOptions{Resources: []string{resource}, KeyID: "k1"}) // same kid, other key

	mcpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mcpSrv := &http.Server{Handler: demomcp.Handler(demomcp.Options{Stateless: true})}
	go func() { _ = mcpSrv.Serve(mcpLn) }()
	defer mcpSrv.Close()

	app := serveYAML(t, ln, nil, fmt.Sprintf(`
listen: %s
admin_listen: "off"
upstream: http://%s
resource: %s
scopes_supported: [mcp:read, mcp:write]
authorization_servers:
  - issuer: %s
    require_at_jwt_typ: true
  - issuer: %s
    require_at_jwt_typ: true
    algorithms: [ES256]
identity_headers:
  claims:
    X-MCP-Client-Id: client_id
`, ln.Addr(), mcpLn.Addr(), resource, as1.Issuer, as2.Issuer))
	deadline := time.Now().Add(10 * time.Second)
	for !app.Validator().Ready() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !app.Validator().Ready() {
		t.Fatalf("keys never loaded by discovery: %+v", app.Validator().Status())
	}

	call := func(token string) (*http.Response, string) {
		return do(t, "POST", resource, http.Header{
			"Authorization":        {"Bearer " + token},
			"Content-Type":         {"application/json"},
			"Accept":               {"application/json, text/event-stream"},
			"Mcp-Protocol-Version": {"2025-11-25"},
		}, `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"whoami","arguments":{}}}`)
	}
	for i, as := range []*testenv.OIDCProvider{as1, as2} {
		tok := as.ClientCredentialsToken(t, resource, "mcp:read")
		resp, body := call(tok)
		if resp.StatusCode != 200 || !strings.Contains(body, `"subject":"svc"`) ||
			!strings.Contains(body, `{"name":"X-Mcp-Client-Id","value":"svc"}`) || !strings.Contains(body, `"authorization_header_present":false`) {
			t.Fatalf("issuer %d: %d %s", i+1, resp.StatusCode, body)
		}
	}
	// A real token for another resource is refused with the exact challenge.
	wrong := as1.ClientCredentialsToken(t, other, "mcp:read")
	resp, body := call(wrong)
	want := `Bearer resource_metadata="http://` + ln.Addr().String() + `/.well-known/oauth-protected-resource/mcp", error="invalid_token", error_description="Token audience does not match this resource"`
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != want || body != "Unauthorized" {
		t.Fatalf("other-resource token: %d %q %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
	}
}
