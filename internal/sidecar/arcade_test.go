package sidecar_test

import (
	"strings"
	"testing"
	"time"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/sidecar"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/frontdoor"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
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
		check   func(t *testing.T, c rs.Config)
	}{
		{"everything from env", base, map[string]string{
			"MCP_RESOURCE_SERVER_CANONICAL_URL":            "https://mcp.example.com/mcp",
			"MCP_RESOURCE_SERVER_AUTHORIZATION_SERVERS":    asJSON,
			"MCP_RESOURCE_SERVER_SCOPES_SUPPORTED":         "c a b a c d",
			"MCP_RESOURCE_SERVER_DEFAULT_CHALLENGE_SCOPES": "  read   write ",
		}, "", func(t *testing.T, c rs.Config) {
			if c.Resource != "https://mcp.example.com/mcp" || len(c.AuthorizationServers) != 2 {
				t.Fatalf("config = %+v", c)
			}
			as := c.AuthorizationServers[0]
			if as.Algorithms[0] != "EdDSA" || as.Audiences[0] != "urn:arcade:mcp" || time.Duration(*as.Leeway) != time.Minute || as.AdvertiseURL != "https://auth.example.com" {
				t.Errorf("entry 0 = %+v", as)
			}
			kc := c.AuthorizationServers[1]
			if kc.Algorithms[0] != "RS256" || kc.Audiences[0] != "https://mcp.example.com/mcp" || time.Duration(*kc.Leeway) != 0 {
				t.Errorf("Arcade defaults not applied (RS256, canonical audience, leeway 0): %+v", kc)
			}
			md := c.Metadata()
			if strings.Join(md.AuthorizationServers, ",") != "https://auth.example.com,https://auth-alias.example.com,https://kc.example.com/realms/x" {
				t.Errorf("advertised = %v", md.AuthorizationServers)
			}
			if strings.Join(c.ScopesSupported, " ") != "c a b d" || strings.Join(c.ChallengeScopes, " ") != "read write" {
				t.Errorf("scopes = %v / %v", c.ScopesSupported, c.ChallengeScopes)
			}
		}},
		{"file wins over env", base + "resource: https://file.example.com/mcp\nauthorization_servers:\n  - issuer: https://as.example.com\n", map[string]string{
			"MCP_RESOURCE_SERVER_CANONICAL_URL": "https://env.example.com/mcp", "MCP_RESOURCE_SERVER_AUTHORIZATION_SERVERS": asJSON,
		}, "", func(t *testing.T, c rs.Config) {
			if c.Resource != "https://file.example.com/mcp" || c.AuthorizationServers[0].Issuer != "https://as.example.com" {
				t.Errorf("env overrode the file: %+v", c)
			}
		}},
		{"whitespace-only scopes mean unset", base, map[string]string{"MCP_RESOURCE_SERVER_CANONICAL_URL": "https://m.example.com", "MCP_RESOURCE_SERVER_AUTHORIZATION_SERVERS": asJSON, "MCP_RESOURCE_SERVER_SCOPES_SUPPORTED": "   "}, "",
			func(t *testing.T, c rs.Config) {
				if c.ScopesSupported != nil {
					t.Errorf("scopes = %q", c.ScopesSupported)
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
			// The compiled options: defaults and Arcade's rules applied.
			f, err := frontdoor.Compile(c.Options, sidecar.Env(nil, nil))
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, f.Resource())
		})
	}
}
