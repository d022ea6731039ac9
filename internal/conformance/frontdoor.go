package conformance

import (
	"fmt"
	"net"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/sidecar"
	"github.com/mcp-frontdoor/mcp-frontdoor/internal/sidecar/sidecartest"
	"github.com/mcp-frontdoor/mcp-frontdoor/internal/testenv"
)

// FrontDoor puts an authorization-enforcing front door in front of
// upstream, the base URL of a running MCP server (http://127.0.0.1:port),
// for the rest of the test. It returns the MCP endpoint URL clients use and
// a bearer token the front door accepts (valid for a few minutes at least).
// Everything it starts is stopped in t.Cleanup.
//
// Implementations exist per front door (the sidecar here; Caddy later) so
// the same conformance comparison runs through each.
type FrontDoor func(t testing.TB, upstream string) (url, token string)

// Timeouts of [SidecarFrontDoor].
const (
	// SidecarReadyTimeout bounds the wait for the sidecar to load the
	// authorization server's keys.
	SidecarReadyTimeout = 15 * time.Second
	// sidecarShutdownTimeout is the sidecar's graceful drain at cleanup.
	sidecarShutdownTimeout = 5 * time.Second
)

// failureLogBytes is how much of a server log a failed test shows.
const failureLogBytes = 32 << 10

// SidecarScopes is the scope the [SidecarFrontDoor] token is issued with.
const SidecarScopes = "mcp:read mcp:write"

// SidecarFrontDoor is a [FrontDoor]: a real oidc-provider
// ([testenv.StartOIDCProvider]) as the authorization server, and
// mcp-sidecar in process on a loopback listener with resource = its own URL
// + "/mcp" and upstream = upstream, trusting that issuer (found by
// discovery, typ at+jwt required). The token is a client-credentials JWT
// for that resource with [SidecarScopes]. The sidecar's log is shown if the
// test fails. It calls [testenv.RequireTools], so it skips under -short.
func SidecarFrontDoor(t testing.TB, upstream string) (string, string) {
	t.Helper()
	return sidecarFrontDoor(t, "upstream: "+upstream)
}

// sidecarFrontDoor is [SidecarFrontDoor] with backend, the YAML lines
// that say what the sidecar serves (an upstream: key or a stdio: block),
// in place of the upstream.
func sidecarFrontDoor(t testing.TB, backend string) (string, string) {
	t.Helper()
	testenv.RequireTools(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("conformance: listen: %v", err)
	}
	resource := "http://" + ln.Addr().String() + "/mcp"
	as := testenv.StartOIDCProvider(t, testenv.OIDCOptions{Resources: []string{resource}})

	cfg, err := sidecar.Parse(fmt.Appendf(nil, `
listen: %s
admin_listen: "off"
%s
resource: %s
resource_name: conformance
scopes_supported: [mcp:read, mcp:write]
authorization_servers:
  - issuer: %s
    require_at_jwt_typ: true
shutdown_timeout: %s
`, ln.Addr(), backend, resource, as.Issuer, sidecarShutdownTimeout))
	if err != nil {
		_ = ln.Close()
		t.Fatalf("conformance: sidecar config: %v", err)
	}
	logs := &logBuffer{}
	logger := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), logs, zap.InfoLevel))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("mcp-sidecar %s log (tail):\n%s", resource, logs.Tail(failureLogBytes))
		}
	})
	app := sidecartest.Serve(t, cfg, logger, nil, ln, nil)

	deadline := time.Now().Add(SidecarReadyTimeout)
	for !app.Validator().Ready() {
		if time.Now().After(deadline) {
			t.Fatalf("conformance: sidecar keys not loaded within %v: %+v", SidecarReadyTimeout, app.Validator().Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return resource, as.ClientCredentialsToken(t, resource, SidecarScopes)
}

var _ FrontDoor = SidecarFrontDoor
