package frontdoor_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/frontdoor"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/mcpproxy"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

func options() frontdoor.Options {
	leeway := rs.Duration(time.Minute)
	strip := false
	return frontdoor.Options{
		Config: rs.Config{
			Resource:        "https://mcp.example.com/mcp",
			ScopesSupported: []string{"mcp:read", "mcp:read"},
			AuthorizationServers: []rs.AuthorizationServer{
				{Issuer: "https://login.example.com/{tid}/v2.0", Tenants: []string{"a", "b"}, Algorithms: []string{"Ed25519"}},
				{Issuer: "https://as.example.com", Leeway: &leeway, Introspection: &rs.Introspection{ClientID: "rs", ClientSecret: rs.SecretSource{Value: "{env.X}"}}},
			},
		},
		Policy: mcpproxy.Policy{
			Upstream:                    "http://127.0.0.1:3000",
			IdentityHeaders:             mcpproxy.IdentityHeaders{Claims: map[string]string{"X-MCP-Email": "email"}},
			SecretHeaders:               []mcpproxy.SecretHeader{{Header: "X-Api-Key", Value: "{env.X}"}},
			RequiredScopes:              mcpproxy.RequiredScopes{Tools: map[string][]string{"admin": {"mcp:admin"}}},
			SessionKey:                  &mcpproxy.SecretSource{Value: "{env.X}"},
			StripErrorStructuredContent: &strip,
		},
	}
}

// TestCompileNeverWritesOptions: the options after Compile (and Check) are
// deeply equal to a copy taken before, while the compiled front door has
// the defaults, the expanded tenants and the expanded placeholders.
func TestCompileNeverWritesOptions(t *testing.T) {
	o := options()
	before := options()
	env := frontdoor.Env{Proxy: true, Expand: func(s string) string { return strings.ReplaceAll(s, "{env.X}", "0123456789abcdef") }}
	if err := frontdoor.Check(o, env); err != nil {
		t.Fatal(err)
	}
	f, err := frontdoor.Compile(o, env)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(o, before) {
		t.Fatalf("options changed:\n%+v\nwant\n%+v", o, before)
	}
	rc, pc := f.Resource(), f.Policy()
	if len(rc.AuthorizationServers) != 3 || rc.AuthorizationServers[0].Issuer != "https://login.example.com/a/v2.0" ||
		rc.AuthorizationServers[0].Algorithms[0] != "EdDSA" || rc.ValidationCacheSize != rs.DefaultValidationCacheSize ||
		len(rc.ScopesSupported) != 1 || rc.AuthorizationServers[2].Introspection.CacheTTL == 0 {
		t.Errorf("compiled resource options lack the defaults: %+v", rc)
	}
	if pc.MaxBodyBytes != mcpproxy.DefaultMaxBodyBytes || pc.PreserveHost == nil || !*pc.PreserveHost || pc.SessionKey.Value != "0123456789abcdef" {
		t.Errorf("compiled policy lacks the defaults: %+v", pc)
	}
	if f.Handler() == nil || f.Guard() == nil || f.Validator() == nil {
		t.Error("a compiled part is missing")
	}
}

// TestCheckReportsEveryError: all problems at once, each a *rs.FieldError.
func TestCheckReportsEveryError(t *testing.T) {
	o := options()
	o.Resource = "http://mcp.example.com/mcp"
	o.AuthorizationServers[1].Algorithms = []string{"none"}
	o.MaxBodyBytes = -1
	o.AllowedOrigins = []string{"app.example.com"}
	err := frontdoor.Check(o, frontdoor.Env{Proxy: true, Expand: func(string) string { return "" }})
	want := []string{"resource", "authorization_servers[2].algorithms[0]", "max_body_bytes", "session_key", "secret_headers[0]",
		"authorization_servers[2].introspection.client_secret"}
	for _, f := range want {
		found := false
		for _, e := range frontdoor.Problems(err) {
			var fe *rs.FieldError
			if errors.As(e, &fe) && fe.Field == f {
				found = true
			}
		}
		if !found {
			t.Errorf("no error for %s in:\n%v", f, err)
		}
	}
}

// TestUpstreamRule: the sidecar needs an upstream; the Caddy module must
// not have one (reverse_proxy proxies).
func TestUpstreamRule(t *testing.T) {
	o := frontdoor.Options{Config: rs.Config{Resource: "https://mcp.example.com/mcp", AuthorizationServers: []rs.AuthorizationServer{{Issuer: "https://as.example.com"}}}}
	if err := frontdoor.Check(o, frontdoor.Env{Proxy: true}); !errors.Is(err, rs.ErrRequired) || !strings.Contains(err.Error(), "upstream: is required") {
		t.Errorf("proxying without upstream: %v", err)
	}
	if err := frontdoor.Check(o, frontdoor.Env{}); err != nil {
		t.Errorf("guard only: %v", err)
	}
	o.Upstream = "http://127.0.0.1:1"
	if err := frontdoor.Check(o, frontdoor.Env{}); err == nil || !strings.Contains(err.Error(), "upstream: ") {
		t.Errorf("guard only with an upstream: %v", err)
	}
}
