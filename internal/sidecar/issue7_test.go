package sidecar_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/jwkstest"
	"github.com/mcp-frontdoor/mcp-frontdoor/internal/sidecar"
	"github.com/mcp-frontdoor/mcp-frontdoor/internal/testenv"
)

func TestArcadeEnvironment(t *testing.T) {
	const base = "upstream: http://127.0.0.1:3000\n"
	asJSON := `[{"authorization_server_url":"https://auth.example.com","issuer":"https://auth.example.com","jwks_uri":"https://auth.example.com/jwks","algorithm":"Ed25519","expected_audiences":["urn:arcade:mcp"],"validation_options":{"leeway":60}},` +
		`{"authorization_server_url":"https://auth-alias.example.com","issuer":"https://auth.example.com","jwks_uri":"https://auth.example.com/jwks","algorithm":"Ed25519","expected_audiences":["urn:arcade:mcp"],"validation_options":{"leeway":60}},` +
		`{"authorization_server_url":"https://kc.example.com/realms/x","issuer":"https://kc.example.com/realms/x","jwks_uri":"https://kc.example.com/realms/x/certs"}]`
	cases := []struct {
		name    string
		yaml    string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, c *sidecar.Config)
	}{
		{"everything from env", base, map[string]string{
			"MCP_RESOURCE_SERVER_CANONICAL_URL":            "https://mcp.example.com/mcp",
			"MCP_RESOURCE_SERVER_AUTHORIZATION_SERVERS":    asJSON,
			"MCP_RESOURCE_SERVER_SCOPES_SUPPORTED":         "c a b a c d",
			"MCP_RESOURCE_SERVER_DEFAULT_CHALLENGE_SCOPES": "  read   write ",
		}, "", func(t *testing.T, c *sidecar.Config) {
			if c.RS.Resource != "https://mcp.example.com/mcp" || len(c.RS.AuthorizationServers) != 2 {
				t.Fatalf("config = %+v", c.RS)
			}
			as := c.RS.AuthorizationServers[0]
			if as.Algorithms[0] != "EdDSA" || as.Audiences[0] != "urn:arcade:mcp" || time.Duration(*as.Leeway) != time.Minute || as.AdvertiseURL != "https://auth.example.com" {
				t.Errorf("entry 0 = %+v", as)
			}
			kc := c.RS.AuthorizationServers[1]
			if kc.Algorithms[0] != "RS256" || kc.Audiences[0] != "https://mcp.example.com/mcp" || time.Duration(*kc.Leeway) != 0 {
				t.Errorf("Arcade defaults not applied (RS256, canonical audience, leeway 0): %+v", kc)
			}
			md := c.RS.Metadata()
			if strings.Join(md.AuthorizationServers, ",") != "https://auth.example.com,https://auth-alias.example.com,https://kc.example.com/realms/x" {
				t.Errorf("advertised = %v", md.AuthorizationServers)
			}
			if strings.Join(c.RS.ScopesSupported, " ") != "c a b d" || strings.Join(c.RS.ChallengeScopes, " ") != "read write" {
				t.Errorf("scopes = %v / %v", c.RS.ScopesSupported, c.RS.ChallengeScopes)
			}
		}},
		{"file wins over env", base + "resource: https://file.example.com/mcp\nauthorization_servers:\n  - issuer: https://as.example.com\n", map[string]string{
			"MCP_RESOURCE_SERVER_CANONICAL_URL": "https://env.example.com/mcp", "MCP_RESOURCE_SERVER_AUTHORIZATION_SERVERS": asJSON,
		}, "", func(t *testing.T, c *sidecar.Config) {
			if c.RS.Resource != "https://file.example.com/mcp" || c.RS.AuthorizationServers[0].Issuer != "https://as.example.com" {
				t.Errorf("env overrode the file: %+v", c.RS)
			}
		}},
		{"whitespace-only scopes mean unset", base, map[string]string{"MCP_RESOURCE_SERVER_CANONICAL_URL": "https://m.example.com", "MCP_RESOURCE_SERVER_AUTHORIZATION_SERVERS": asJSON, "MCP_RESOURCE_SERVER_SCOPES_SUPPORTED": "   "}, "",
			func(t *testing.T, c *sidecar.Config) {
				if c.RS.ScopesSupported != nil {
					t.Errorf("scopes = %q", c.RS.ScopesSupported)
				}
			}},
		{"no canonical url", base, map[string]string{"MCP_RESOURCE_SERVER_AUTHORIZATION_SERVERS": asJSON}, "resource: 'canonical_url' required (parameter or MCP_RESOURCE_SERVER_CANONICAL_URL environment variable)", nil},
		{"no authorization servers", base, map[string]string{"MCP_RESOURCE_SERVER_CANONICAL_URL": "https://m.example.com"}, "authorization_servers: 'authorization_servers' required (parameter or MCP_RESOURCE_SERVER_AUTHORIZATION_SERVERS environment variable)", nil},
		{"not an array", base, map[string]string{"MCP_RESOURCE_SERVER_CANONICAL_URL": "https://m.example.com", "MCP_RESOURCE_SERVER_AUTHORIZATION_SERVERS": `{"issuer":"x"}`}, "authorization_servers must be a JSON array", nil},
		{"bad JSON", base, map[string]string{"MCP_RESOURCE_SERVER_CANONICAL_URL": "https://m.example.com", "MCP_RESOURCE_SERVER_AUTHORIZATION_SERVERS": `[{`}, "Invalid JSON in authorization_servers: ", nil},
		{"bad algorithm", base, map[string]string{"MCP_RESOURCE_SERVER_CANONICAL_URL": "https://m.example.com", "MCP_RESOURCE_SERVER_AUTHORIZATION_SERVERS": `[{"issuer":"https://a.example","jwks_uri":"https://a.example/j","algorithm":"HS256"}]`}, "Unsupported algorithm 'HS256'.", nil},
		{"verify_exp off refused", base, map[string]string{"MCP_RESOURCE_SERVER_CANONICAL_URL": "https://m.example.com", "MCP_RESOURCE_SERVER_AUTHORIZATION_SERVERS": `[{"issuer":"https://a.example","jwks_uri":"https://a.example/j","validation_options":{"verify_exp":false}}]`}, "validation_options.verify_exp: false is not supported", nil},
		{"bad canonical url", base, map[string]string{"MCP_RESOURCE_SERVER_CANONICAL_URL": "http://api.example.com", "MCP_RESOURCE_SERVER_AUTHORIZATION_SERVERS": asJSON}, "MCP_RESOURCE_SERVER_CANONICAL_URL: invalid canonical URL", nil},
		{"bad scope token", base, map[string]string{"MCP_RESOURCE_SERVER_CANONICAL_URL": "https://m.example.com", "MCP_RESOURCE_SERVER_AUTHORIZATION_SERVERS": asJSON, "MCP_RESOURCE_SERVER_SCOPES_SUPPORTED": "ok caf\u00e9"}, `MCP_RESOURCE_SERVER_SCOPES_SUPPORTED: Invalid scope token "café"`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"MCP_RESOURCE_SERVER_CANONICAL_URL", "MCP_RESOURCE_SERVER_AUTHORIZATION_SERVERS", "MCP_RESOURCE_SERVER_SCOPES_SUPPORTED", "MCP_RESOURCE_SERVER_DEFAULT_CHALLENGE_SCOPES"} {
				t.Setenv(k, tc.env[k])
			}
			c, err := sidecar.Parse([]byte(tc.yaml))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

// TestHotReload: a new config is applied without dropping the listener,
// the key set of an unchanged issuer is kept, a bad config is refused with
// the old one serving, and an SSE stream in flight is not cut.
func TestHotReload(t *testing.T) {
	k1, k2 := jwkstest.NewKey(t, "k1", "ES256"), jwkstest.NewKey(t, "k2", "ES256")
	as1, as2 := jwkstest.NewServer(t, k1), jwkstest.NewServer(t, k2)
	up := newUpstream(t)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	resource := "http://" + ln.Addr().String() + "/mcp"
	path := filepath.Join(t.TempDir(), "sidecar.yaml")
	write := func(extra string) {
		y := fmt.Sprintf("listen: %s\nadmin_listen: \"off\"\nupstream: %s\nresource: %s\nresource_name: One\nauthorization_servers:\n  - issuer: %s\n    jwks_uri: %s\n%s",
			ln.Addr(), up.url, resource, as1.Issuer, as1.JWKSURL(), extra)
		if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("")
	cfg, err := sidecar.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	app, err := sidecar.New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Serve(ctx, ln, nil) }()
	hup := make(chan os.Signal, 1)
	go app.WatchReload(ctx, hup, path)
	defer func() { cancel(); <-done }()

	tok := func(k jwkstest.Key, iss string) string {
		return k.Sign(t, jwt.MapClaims{"iss": iss, "sub": "alice", "aud": resource, "exp": time.Now().Add(time.Hour).Unix()}, nil)
	}
	post := func(token string) int {
		resp, _ := do(t, "POST", resource, http.Header{"Authorization": {"Bearer " + token}}, pingBody)
		return resp.StatusCode
	}
	if s := post(tok(k1, as1.Issuer)); s != 200 {
		t.Fatalf("before reload: %d", s)
	}
	if s := post(tok(k2, as2.Issuer)); s != 401 {
		t.Fatalf("issuer 2 before reload: %d", s)
	}
	hits1 := as1.JWKSHits()

	// An SSE stream opened before the reload.
	req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/sse", nil)
	req.Header.Set("Authorization", "Bearer "+tok(k1, as1.Issuer))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	if line, _ := br.ReadString('\n'); line != "id: 1\n" {
		t.Fatalf("stream start %q", line)
	}

	// Reload: add issuer 2 (SIGHUP path).
	write(fmt.Sprintf("  - issuer: %s\n    jwks_uri: %s\n", as2.Issuer, as2.JWKSURL()))
	hup <- os.Interrupt
	deadline := time.Now().Add(5 * time.Second)
	for len(app.Config().RS.AuthorizationServers) != 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if s := post(tok(k2, as2.Issuer)); s != 200 {
		t.Fatalf("issuer 2 after reload: %d", s)
	}
	if s := post(tok(k1, as1.Issuer)); s != 200 || as1.JWKSHits() != hits1 {
		t.Fatalf("issuer 1 after reload: %d (JWKS fetches %d → %d: its key set must be kept)", s, hits1, as1.JWKSHits())
	}
	// The stream opened before the reload completes.
	rest, _ := io.ReadAll(br)
	resp.Body.Close()
	if string(rest) != "data: first\n\nid: 2\ndata: second\n\n" {
		t.Fatalf("stream across reload = %q", rest)
	}

	// A bad config is refused; the running one keeps serving.
	if err := os.WriteFile(path, []byte("upstream: ftp://nope\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := app.ReloadFile(path); err == nil {
		t.Fatal("bad config accepted")
	}
	if s := post(tok(k2, as2.Issuer)); s != 200 || len(app.Config().RS.AuthorizationServers) != 2 {
		t.Fatalf("after refused reload: %d", s)
	}
	// Dropping issuer 2 stops accepting it.
	write("")
	if err := app.ReloadFile(path); err != nil {
		t.Fatal(err)
	}
	if s := post(tok(k2, as2.Issuer)); s != 401 {
		t.Fatalf("issuer 2 after removal: %d", s)
	}
}

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
