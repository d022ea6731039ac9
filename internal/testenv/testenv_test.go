package testenv

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
)

func TestRepoRoot(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"go.mod", "tools/oidc/as.mjs", "tools/npm/package-lock.json", "scripts/install-test-tools.sh"} {
		if _, err := os.Stat(filepath.Join(root, rel)); err != nil {
			t.Errorf("RepoRoot() = %s, but %s: %v", root, rel, err)
		}
	}
	if got := NodePath(root); os.Getenv(NodeEnv) == "" && got != filepath.Join(root, ".tools/node/node_modules/node/bin/node") {
		t.Errorf("NodePath = %s", got)
	}
	t.Setenv(NodeEnv, "/opt/node22/bin/node")
	if got := NodePath(root); got != "/opt/node22/bin/node" {
		t.Errorf("NodePath with %s set = %s", NodeEnv, got)
	}
}

func TestDeclaresModule(t *testing.T) {
	tests := []struct {
		gomod string
		want  bool
	}{
		{"module github.com/mcp-frontdoor/mcp-frontdoor\n\ngo 1.26.0\n", true},
		{"// c\nmodule \"github.com/mcp-frontdoor/mcp-frontdoor\"\n", true},
		{"module github.com/mcp-frontdoor/mcp-frontdoor/examples/x\n", false},
		{"go 1.26\n", false},
	}
	for _, tc := range tests {
		if got := declaresModule([]byte(tc.gomod), ModulePath); got != tc.want {
			t.Errorf("declaresModule(%q) = %v, want %v", tc.gomod, got, tc.want)
		}
	}
}

func TestFreeAddr(t *testing.T) {
	addr := FreeAddr(t)
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host != "127.0.0.1" {
		t.Fatalf("FreeAddr = %q (%v), want 127.0.0.1:port", addr, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on FreeAddr %s: %v", addr, err)
	}
	_ = ln.Close()
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d %s", u, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: decode %s: %v", u, body, err)
	}
}

const (
	res1 = "http://127.0.0.1:8080/mcp"
	res2 = "http://127.0.0.1:8081/mcp"
)

func TestOIDCProviderJWT(t *testing.T) {
	p := StartOIDCProvider(t, OIDCOptions{Resources: []string{res1, res2}, KeyID: "kt1"})
	if !strings.HasPrefix(p.Issuer, "http://127.0.0.1:") {
		t.Fatalf("Issuer = %q, want http://127.0.0.1:<port>", p.Issuer)
	}

	for _, wk := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
		var md map[string]any
		getJSON(t, p.Issuer+wk, &md)
		if md["issuer"] != p.Issuer || md["jwks_uri"] != p.JWKSURL() || md["token_endpoint"] != p.TokenURL() ||
			md["introspection_endpoint"] != p.IntrospectionURL() {
			t.Errorf("%s: issuer=%v jwks_uri=%v token_endpoint=%v introspection_endpoint=%v", wk,
				md["issuer"], md["jwks_uri"], md["token_endpoint"], md["introspection_endpoint"])
		}
	}
	var set jose.JSONWebKeySet
	getJSON(t, p.JWKSURL(), &set)

	tests := []struct {
		name, resource, scope string
		wantAud, wantScope    string
	}{
		{"explicit resource and scope", res2, "mcp:read", res2, "mcp:read"},
		{"default resource", "", "mcp:write", res1, "mcp:write"},
		{"two scopes", res1, "mcp:read mcp:write", res1, "mcp:read mcp:write"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok := p.ClientCredentialsToken(t, tc.resource, tc.scope)

			hdrJSON, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
			if err != nil {
				t.Fatalf("decode header: %v", err)
			}
			var hdr map[string]any
			if err := json.Unmarshal(hdrJSON, &hdr); err != nil {
				t.Fatal(err)
			}
			if want := map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": "kt1"}; !reflect.DeepEqual(hdr, want) {
				t.Fatalf("JWT header = %v, want %v", hdr, want)
			}

			parsed, err := josejwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
			if err != nil {
				t.Fatalf("parse JWT: %v", err)
			}
			keys := set.Key("kt1")
			if len(keys) != 1 {
				t.Fatalf("JWKS has %d keys with kid kt1: %+v", len(keys), set)
			}
			var claims map[string]any
			if err := parsed.Claims(keys[0].Key, &claims); err != nil {
				t.Fatalf("verify JWT with JWKS: %v", err)
			}
			want := map[string]any{"iss": p.Issuer, "aud": tc.wantAud, "sub": OIDCClientID, "client_id": OIDCClientID, "scope": tc.wantScope}
			for k, v := range want {
				if claims[k] != v {
					t.Errorf("claim %s = %v, want %v", k, claims[k], v)
				}
			}
			iat, _ := claims["iat"].(float64)
			exp, _ := claims["exp"].(float64)
			if exp-iat != 300 {
				t.Errorf("exp-iat = %v, want 300", exp-iat)
			}
			if jti, _ := claims["jti"].(string); jti == "" {
				t.Errorf("no jti: %v", claims)
			}
		})
	}

	errTests := []struct {
		name, resource, scope, wantErr string
	}{
		{"unknown resource", "http://127.0.0.1:9/other", "mcp:read", "invalid_target"},
	}
	for _, tc := range errTests {
		t.Run(tc.name, func(t *testing.T) {
			status, body, err := p.TokenRequest(t.Context(), tc.resource, tc.scope)
			if err != nil {
				t.Fatal(err)
			}
			if status != http.StatusBadRequest || body["error"] != tc.wantErr {
				t.Fatalf("token request = %d %v, want 400 %s", status, body, tc.wantErr)
			}
		})
	}
}

// oidc-provider silently drops scopes it does not know instead of failing
// with invalid_scope; RS tests must not rely on the AS rejecting them.
func TestOIDCProviderDropsUnknownScope(t *testing.T) {
	p := StartOIDCProvider(t, OIDCOptions{Resources: []string{res1}})
	status, body, err := p.TokenRequest(t.Context(), res1, "mcp:admin")
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusOK {
		t.Fatalf("token request = %d %v, want 200", status, body)
	}
	if _, ok := body["scope"]; ok {
		t.Fatalf("token response has scope %v, want none", body["scope"])
	}
	tok, _ := body["access_token"].(string)
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	if _, ok := claims["scope"]; ok || claims["aud"] != res1 {
		t.Fatalf("claims = %v, want aud %s and no scope", claims, res1)
	}
}

func TestOIDCProviderOpaqueIntrospection(t *testing.T) {
	p := StartOIDCProvider(t, OIDCOptions{Resources: []string{res1}, Opaque: true})
	tok := p.ClientCredentialsToken(t, res1, "mcp:read")
	if strings.Count(tok, ".") != 0 {
		t.Fatalf("opaque token looks like a JWT: %q", tok)
	}
	got := p.Introspect(t, tok)
	want := map[string]any{"active": true, "client_id": OIDCClientID, "aud": res1, "scope": "mcp:read", "iss": p.Issuer, "token_type": "Bearer"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("introspection %s = %v, want %v (full: %v)", k, got[k], v, got)
		}
	}
	// Client-credentials tokens have no account, so introspection has no sub.
	if len(got) != 8 || got["exp"].(float64)-got["iat"].(float64) != 300 {
		t.Errorf("introspection = %v, want exactly active client_id aud scope iss token_type iat exp (exp-iat=300)", got)
	}
	if inactive := p.Introspect(t, "not-a-token"); !reflect.DeepEqual(inactive, map[string]any{"active": false}) {
		t.Errorf("introspection of garbage = %v, want {active:false}", inactive)
	}
}
