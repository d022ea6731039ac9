package caddymodule

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/golang-jwt/jwt/v5"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/behaviour"
	"github.com/mcp-frontdoor/mcp-frontdoor/internal/jwkstest"
)

// site renders a minimal mcp_auth site proxying to up, with extra lines in
// the mcp_auth block and extra directives in the site.
func site(addr, resource, issuer, jwks, up, extraAuth, extraSite string) string {
	return fmt.Sprintf(`http://:%s {
	bind 127.0.0.1
	mcp_auth {
		resource %s
		authorization_server %s {
			jwks_uri %s
		}
		%s
	}
	%s
	reverse_proxy %s
}
`, portOf(addr), resource, issuer, jwks, extraAuth, extraSite, up)
}

func globals(t *testing.T, extra string) string {
	return fmt.Sprintf("{\n\tadmin off\n\tpersist_config off\n\tauto_https off\n\tstorage file_system %s\n\tgrace_period 1ns\n%s}\n", t.TempDir(), extra)
}

func get(t *testing.T, url, token string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	// A fresh connection each time: a reload closes idle ones.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func token(t *testing.T, k jwkstest.Key, iss, aud string) string {
	return k.Sign(t, jwt.MapClaims{"iss": iss, "sub": "alice", "aud": aud, "exp": time.Now().Add(time.Hour).Unix(),
		"scope": "mcp:read mcp:write", "client_id": "cli-7"}, nil)
}

// TestPlaceholdersAndAccessLog: {http.auth.user.*} feed header_up and the
// access log's user_id.
func TestPlaceholdersAndAccessLog(t *testing.T) {
	k := jwkstest.NewKey(t, "k", "ES256")
	as := jwkstest.NewServer(t, k)
	up := behaviour.NewUpstream(t)
	addr := behaviour.FreeAddr(t)
	resource := "http://" + addr + "/mcp"
	logFile := filepath.Join(t.TempDir(), "access.log")
	t.Setenv("ACCESS_LOG_TEST_SECRET", "s3cr3t-value-xyz")
	cfg := globals(t, "") + strings.Replace(site(addr, resource, as.Issuer, as.JWKSURL(), up.URL, "secret_headers {\n\t\t\tX-Api-Key {env.ACCESS_LOG_TEST_SECRET}\n\t\t}", "log {\n\t\toutput file "+logFile+"\n\t}"),
		"reverse_proxy "+up.URL, "reverse_proxy "+up.URL+" {\n\t\ttransport mcp_auth\n\t\theader_up X-User {http.auth.user.id}\n\t\theader_up X-Iss {http.auth.user.iss}\n\t\theader_up X-Scope {http.auth.user.scope}\n\t\theader_up X-Client {http.auth.user.client_id}\n\t}", 1)
	loadCaddy(t, cfg)
	resp, _ := get(t, resource, token(t, k, as.Issuer, resource))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	seen := up.Last()
	for h, want := range map[string]string{"X-User": "alice", "X-Iss": as.Issuer, "X-Scope": "mcp:read mcp:write", "X-Client": "cli-7", "X-Mcp-Subject": "alice"} {
		if got := seen.Header.Get(h); got != want {
			t.Errorf("upstream %s = %q, want %q", h, got, want)
		}
	}
	_ = caddy.Stop()
	b, _ := os.ReadFile(logFile)
	if !bytes.Contains(b, []byte(`"user_id":"alice"`)) {
		t.Errorf("access log lacks user_id alice:\n%s", b)
	}
	if bytes.Contains(b, []byte(k.Sign(t, jwt.MapClaims{}, nil)[:20])) || bytes.Contains(b, []byte("Bearer ")) {
		t.Errorf("access log contains a token")
	}
	if bytes.Contains(b, []byte("s3cr3t-value-xyz")) {
		t.Errorf("access log contains a secret header value:\n%s", b)
	}
	if seen.Header.Get("X-Api-Key") != "s3cr3t-value-xyz" {
		t.Errorf("upstream X-Api-Key = %q", seen.Header.Get("X-Api-Key"))
	}
}

// TestReloadKeepsKeysAndCleansUp: a reload reuses the pooled key set (no
// new JWKS fetch), two sites share one, and after Stop nothing is left.
func TestReloadKeepsKeysAndCleansUp(t *testing.T) {
	k := jwkstest.NewKey(t, "k", "ES256")
	as := jwkstest.NewServer(t, k)
	up := behaviour.NewUpstream(t)
	a1, a2 := behaviour.FreeAddr(t), behaviour.FreeAddr(t)
	r1, r2 := "http://"+a1+"/mcp", "http://"+a2+"/mcp"
	two := globals(t, "") + site(a1, r1, as.Issuer, as.JWKSURL(), up.URL, "", "") + site(a2, r2, as.Issuer, as.JWKSURL(), up.URL, "resource_name Second", "")
	cfgJSON, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(two), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := caddy.Load(cfgJSON, true); err != nil {
		t.Fatalf("load with the directive in two sites: %v", err)
	}
	defer caddy.Stop() //nolint:errcheck
	if resp, _ := get(t, r1, token(t, k, as.Issuer, r1)); resp.StatusCode != 200 {
		t.Fatalf("site 1: %d", resp.StatusCode)
	}
	if resp, _ := get(t, r2, token(t, k, as.Issuer, r2)); resp.StatusCode != 200 {
		t.Fatalf("site 2: %d", resp.StatusCode)
	}
	hits := as.JWKSHits()
	if hits != 1 {
		t.Fatalf("JWKS fetched %d times for two sites of one issuer, want 1", hits)
	}
	if refs, ok := keySets.References(poolKeyFor(as)); !ok || refs != 2 {
		t.Fatalf("key set references = %d, %v; want 2", refs, ok)
	}
	// Reload with a changed config: the key set survives.
	changed := strings.Replace(two, "resource_name Second", "resource_name Renamed", 1)
	cfgJSON, _, _ = caddyconfig.GetAdapter("caddyfile").Adapt([]byte(changed), nil)
	if err := caddy.Load(cfgJSON, true); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if resp, _ := get(t, r1, token(t, k, as.Issuer, r1)); resp.StatusCode != 200 {
		t.Fatalf("after reload: %d", resp.StatusCode)
	}
	if as.JWKSHits() != hits {
		t.Fatalf("reload refetched keys: %d fetches", as.JWKSHits())
	}
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, ok := keySets.References(poolKeyFor(as)); ok {
		t.Fatal("key set still pooled after caddy stop")
	}
	n := 0
	caches.Range(func(_, _ any) bool { n++; return true })
	if n != 0 {
		t.Fatalf("%d validation caches left after stop", n)
	}
}

func poolKeyFor(as *jwkstest.Server) string {
	return strings.Join([]string{as.Issuer, as.JWKSURL(), "15m0s", "30s"}, "\x00")
}

// TestMetricsInConfigRegistry: mcp_auth metrics appear on Caddy's admin
// /metrics (the config's registry).
func TestMetricsInConfigRegistry(t *testing.T) {
	k := jwkstest.NewKey(t, "k", "ES256")
	as := jwkstest.NewServer(t, k)
	up := behaviour.NewUpstream(t)
	addr, admin := behaviour.FreeAddr(t), behaviour.FreeAddr(t)
	resource := "http://" + addr + "/mcp"
	cfg := strings.Replace(globals(t, ""), "admin off", "admin "+admin, 1) + site(addr, resource, as.Issuer, as.JWKSURL(), up.URL, "", "")
	loadCaddy(t, cfg)
	// The collectors live as long as the process (they survive config
	// loads), so other tests' untrusted-issuer failures are counted too.
	malformed := `mcp_auth_validations_total{issuer="",result="malformed"}`
	before := promText(t, "http://"+admin+"/metrics")[malformed]
	tok := token(t, k, as.Issuer, resource)
	get(t, resource, tok)
	get(t, resource, tok)
	get(t, resource, "bad")
	if got := promText(t, "http://"+admin+"/metrics")[malformed]; got != before+1 {
		t.Errorf("%s = %v, want %v", malformed, got, before+1)
	}
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		fmt.Sprintf(`mcp_auth_validations_total{issuer="%s",result="valid"} 1`, as.Issuer),
		fmt.Sprintf(`mcp_auth_validations_total{issuer="%s",result="cache_hit"} 1`, as.Issuer),
		fmt.Sprintf(`mcp_auth_jwks_fetches_total{issuer="%s",result="ok"} 1`, as.Issuer),
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %q", want)
			if testing.Verbose() {
				t.Log(string(b))
			}
		}
	}
}

// TestCaddyfileErrorsNameSubdirectiveAndLine.
func TestCaddyfileErrorsNameSubdirectiveAndLine(t *testing.T) {
	base := "http://:8080 {\n\tmcp_auth {\n\t\tresource https://mcp.example.com/mcp\n\t\tauthorization_server https://as.example.com {\n\t\t\talgorithms RS256\n\t\t}\n\t}\n}\n"
	cases := []struct {
		name, from, to, want string
	}{
		{"HS256", "algorithms RS256", "algorithms RS256 HS256", `mcp_auth authorization_server (authorization_servers[0].algorithms[1]): "HS256" is never allowed (symmetric algorithms are not accepted), at Caddyfile:5`},
		{"http resource", "resource https://mcp.example.com/mcp", "resource http://mcp.example.com/mcp", "mcp_auth resource (resource): must use https (http is allowed only for localhost, 127.0.0.1 or [::1]), at Caddyfile:3"},
		{"bad issuer", "https://as.example.com {", "as.example.com {", "mcp_auth authorization_server (authorization_servers[0].issuer): must be an absolute URL with a host, at Caddyfile:4"},
		{"unknown subdirective", "algorithms RS256", "algorithm RS256", `authorization_server: unknown subdirective "algorithm", at Caddyfile:5`},
		{"unknown top-level", "resource https", "resourc https", `unknown subdirective "resourc"`},
		{"bad leeway", "algorithms RS256", "leeway 30", `leeway: invalid duration "30"`},
		{"bad body_read_timeout", "resource https://mcp.example.com/mcp", "resource https://mcp.example.com/mcp\n\t\tbody_read_timeout 30", `body_read_timeout: invalid duration "30"`},
		{"negative body_read_timeout", "resource https://mcp.example.com/mcp", "resource https://mcp.example.com/mcp\n\t\tbody_read_timeout -1s", "mcp_auth body_read_timeout (body_read_timeout): must be positive, at Caddyfile:4"},
		{"read_header_timeout is Caddy's", "resource https://mcp.example.com/mcp", "resource https://mcp.example.com/mcp\n\t\tread_header_timeout 10s", "read_header_timeout is a sidecar setting; in Caddy, set the global option servers { timeouts { read_header <duration> } }"},
		{"sidecar-only key", "resource https://mcp.example.com/mcp", "resource https://mcp.example.com/mcp\n\t\tupstream http://x", "upstream is a sidecar setting"},
		{"bad scope", "resource https://mcp.example.com/mcp", "resource https://mcp.example.com/mcp\n\t\tscopes_supported ok caf\u00e9", "mcp_auth scopes_supported (scopes_supported[1]): invalid scope token \"caf\u00e9\""},
		{"bad origin", "resource https://mcp.example.com/mcp", "resource https://mcp.example.com/mcp\n\t\tallowed_origins https://a.example/x", "mcp_auth allowed_origins (allowed_origins[0]): \"https://a.example/x\" must be an origin like https://app.example.com, at Caddyfile:4"},
		{"no servers", "\t\tauthorization_server https://as.example.com {\n\t\t\talgorithms RS256\n\t\t}\n", "", "mcp_auth authorization_servers: at least one"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cf := strings.Replace(base, tc.from, tc.to, 1)
			_, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf), map[string]any{"filename": "Caddyfile"})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("adapt error = %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
	if _, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(base), map[string]any{"filename": "Caddyfile"}); err != nil {
		t.Fatalf("valid Caddyfile: %v", err)
	}
}

// TestCaddyfileExample: the shipped Caddyfile.example adapts, and the
// directive sorts before reverse_proxy without an order option.
func TestCaddyfileExample(t *testing.T) {
	b, err := os.ReadFile("../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("UPSTREAM_API_KEY", "x")
	t.Setenv("MCP_SESSION_KEY", "0123456789abcdef0123456789abcdef")
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(b, map[string]any{"filename": "Caddyfile.example"})
	if err != nil {
		t.Fatalf("adapt Caddyfile.example: %v", err)
	}
	js := string(out)
	i, j := strings.Index(js, `"handler":"mcp_auth"`), strings.Index(js, `"handler":"reverse_proxy"`)
	if i < 0 || j < 0 || i > j {
		t.Fatalf("mcp_auth must come before reverse_proxy in the adapted routes:\n%s", js)
	}
	if strings.Contains(js, "0123456789abcdef") {
		t.Fatal("adapted JSON contains the resolved session key")
	}
}

// TestIntrospectionAndTenantsInCaddy: the Caddyfile's introspection and
// tenants subdirectives work as the sidecar's keys do.
func TestIntrospectionAndTenantsInCaddy(t *testing.T) {
	k := jwkstest.NewKey(t, "k", "ES256")
	as := jwkstest.NewServer(t, k)
	up := behaviour.NewUpstream(t)
	addr := behaviour.FreeAddr(t)
	resource := "http://" + addr + "/mcp"
	as.SetIntrospection(func(tok string) (int, map[string]any) {
		if tok != "opaque-ok" {
			return 200, map[string]any{"active": false}
		}
		return 200, map[string]any{"active": true, "iss": as.Issuer, "sub": "dave", "aud": resource, "exp": time.Now().Add(time.Hour).Unix()}
	})
	t.Setenv("CADDY_TEST_RS_SECRET", jwkstest.IntrospectionClientSecret)
	cfg := globals(t, "") + fmt.Sprintf(`http://:%s {
	bind 127.0.0.1
	mcp_auth {
		resource %s
		authorization_server %s {
			jwks_uri %s
			introspection {
				client_id %s
				client_secret {env.CADDY_TEST_RS_SECRET}
				cache_ttl 10s
			}
		}
		authorization_server %s/{tid}/v2.0 {
			jwks_uri %s
			tenants t1
		}
	}
	reverse_proxy %s
}
`, portOf(addr), resource, as.Issuer, as.JWKSURL(), jwkstest.IntrospectionClientID, as.URL, as.JWKSURL(), up.URL)
	loadCaddy(t, cfg)
	if resp, _ := get(t, resource, "opaque-ok"); resp.StatusCode != 200 || up.Last().Header.Get("X-Mcp-Subject") != "dave" {
		t.Fatalf("opaque token: %d", resp.StatusCode)
	}
	if resp, _ := get(t, resource, "opaque-unknown"); resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "Token is not active") {
		t.Fatalf("inactive token: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	tenantTok := func(tid string) string {
		return k.Sign(t, jwt.MapClaims{"iss": as.URL + "/t1/v2.0", "tid": tid, "sub": "erin", "aud": resource, "exp": time.Now().Add(time.Hour).Unix()}, nil)
	}
	if resp, _ := get(t, resource, tenantTok("t1")); resp.StatusCode != 200 {
		t.Fatalf("tenant t1: %d", resp.StatusCode)
	}
	if resp, _ := get(t, resource, tenantTok("t2")); resp.StatusCode != 401 {
		t.Fatalf("tid mismatch: %d", resp.StatusCode)
	}
}
