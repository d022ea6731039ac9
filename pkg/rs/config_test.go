package rs_test

import (
	"strings"
	"testing"
	"time"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

func TestCanonicalURL(t *testing.T) {
	ok := []string{
		"https://mcp.example.com/mcp", "http://127.0.0.1:8000", "http://[::1]:8080/mcp", "http://LocalHost:9000",
		"https://example.com/a%20b", "https://example.com/mcp?tenant=acme", "https://example.com:8443/mcp",
		"HTTPS://Example.com/mcp", "http://127.0.0.2/mcp",
	}
	bad := []string{
		"", "hello world", "ftp://example.com", "http://api.example.com", "http://0.0.0.0:8080", "http://192.168.1.50/mcp",
		"http://server.local/mcp", "https://example.com/%zz", "https://example.com/path%2", "https://example.com/#x",
		"https://example.com/mcp#", "https://", "/mcp", "https://user:pw@example.com/mcp", "https://example.com/caf\u00e9",
		"https://example.com/\"x\"",
	}
	for _, u := range ok {
		if err := rs.ValidateCanonicalURL(u); err != nil {
			t.Errorf("ValidateCanonicalURL(%q) = %v, want ok", u, err)
		}
	}
	for _, u := range bad {
		if err := rs.ValidateCanonicalURL(u); err == nil {
			t.Errorf("ValidateCanonicalURL(%q) accepted", u)
		}
	}
}

func TestNormalizeNamesTheField(t *testing.T) {
	valid := func() rs.Config {
		return rs.Config{Resource: "https://mcp.example.com/mcp", AuthorizationServers: []rs.AuthorizationServer{{Issuer: "https://as.example.com"}}}
	}
	neg := rs.Duration(-time.Second)
	cases := []struct {
		name  string
		mod   func(*rs.Config)
		field string
	}{
		{"no resource", func(c *rs.Config) { c.Resource = "" }, "resource: is required"},
		{"http resource", func(c *rs.Config) { c.Resource = "http://mcp.example.com" }, "resource: must use https"},
		{"no servers", func(c *rs.Config) { c.AuthorizationServers = nil }, "authorization_servers: at least one"},
		{"bad issuer", func(c *rs.Config) { c.AuthorizationServers[0].Issuer = "as.example.com" }, "authorization_servers[0].issuer:"},
		{"http issuer", func(c *rs.Config) { c.AuthorizationServers[0].Issuer = "http://as.example.com" }, "authorization_servers[0].issuer: must use https"},
		{"bad jwks", func(c *rs.Config) { c.AuthorizationServers[0].JWKSURI = "ftp://x" }, "authorization_servers[0].jwks_uri:"},
		{"none alg", func(c *rs.Config) { c.AuthorizationServers[0].Algorithms = []string{"RS256", "none"} }, `authorization_servers[0].algorithms[1]: "none" is never allowed`},
		{"HS alg", func(c *rs.Config) { c.AuthorizationServers[0].Algorithms = []string{"HS256"} }, `authorization_servers[0].algorithms[0]: "HS256" is never allowed`},
		{"unknown alg", func(c *rs.Config) { c.AuthorizationServers[0].Algorithms = []string{"ES256K"} }, `authorization_servers[0].algorithms[0]: unsupported algorithm "ES256K"`},
		{"negative leeway", func(c *rs.Config) { c.AuthorizationServers[0].Leeway = &neg }, "authorization_servers[0].leeway:"},
		{"duplicate issuer", func(c *rs.Config) {
			c.AuthorizationServers = append(c.AuthorizationServers, rs.AuthorizationServer{Issuer: "https://as.example.com"})
		}, "authorization_servers[1].issuer: duplicates authorization_servers[0].issuer"},
		{"bad scope", func(c *rs.Config) { c.ScopesSupported = []string{"ok", "has space"} }, `scopes_supported[1]: invalid scope token "has space"`},
		{"bad challenge scope", func(c *rs.Config) { c.ChallengeScopes = []string{"caf\u00e9"} }, "challenge_scopes[0]: invalid scope token"},
		{"empty audience", func(c *rs.Config) { c.AuthorizationServers[0].Audiences = []string{" "} }, "authorization_servers[0].audiences[0]:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.mod(&c)
			err := normalizeInto(&c)
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("Normalize() = %v, want it to contain %q", err, tc.field)
			}
		})
	}
	c := valid()
	c.ScopesSupported = []string{"c", "a", "b", "a", "c", "d"}
	c.AuthorizationServers[0].Algorithms = []string{"Ed25519"}
	if err := normalizeInto(&c); err != nil {
		t.Fatal(err)
	}
	as := c.AuthorizationServers[0]
	if strings.Join(c.ScopesSupported, " ") != "c a b d" || as.Algorithms[0] != "EdDSA" ||
		as.Audiences[0] != c.Resource || as.AdvertiseURL != as.Issuer || time.Duration(*as.Leeway) != 30*time.Second ||
		c.ValidationCacheSize != rs.DefaultValidationCacheSize {
		t.Fatalf("defaults not applied: %+v %+v", c, as)
	}
	d := valid()
	if err := normalizeInto(&d); err != nil {
		t.Fatal(err)
	}
	if strings.Join(d.AuthorizationServers[0].Algorithms, ",") != "RS256,RS384,RS512,PS256,PS384,PS512,ES256,ES384,ES512,EdDSA" {
		t.Fatalf("default algs = %v", d.AuthorizationServers[0].Algorithms)
	}
}

func TestNormalizeAudience(t *testing.T) {
	cases := map[string]string{
		"https://Example.COM/mcp/":      "https://example.com/mcp",
		"HTTPS://example.com:443/mcp":   "https://example.com/mcp",
		"http://127.0.0.1:80/":          "http://127.0.0.1",
		"https://example.com/MCP":       "https://example.com/MCP",
		"https://example.com/mcp?t=a":   "https://example.com/mcp?t=a",
		"urn:arcade:mcp":                "urn:arcade:mcp",
		"account":                       "account",
		"https://example.com:8443/mcp/": "https://example.com:8443/mcp",
	}
	for in, want := range cases {
		if got := rs.NormalizeAudience(in); got != want {
			t.Errorf("NormalizeAudience(%q) = %q, want %q", in, got, want)
		}
	}
}
