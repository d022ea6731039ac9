package parity_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	_ "github.com/mcp-frontdoor/mcp-frontdoor/caddymodule"
	"github.com/mcp-frontdoor/mcp-frontdoor/internal/sidecar"
)

// row is one configuration in both front doors' syntax. Field is the
// option path both must name in their error ("" = both accept).
type row struct {
	name      string
	yaml      string // added to the base sidecar config
	caddyfile string // added inside the mcp_auth block
	field     string
}

const baseYAML = `upstream: http://127.0.0.1:3000
resource: https://mcp.example.com/mcp
authorization_servers:
  - issuer: https://as.example.com
    jwks_uri: https://as.example.com/jwks
`

const baseCaddy = `resource https://mcp.example.com/mcp
authorization_server https://as.example.com {
	jwks_uri https://as.example.com/jwks
}
`

func rows(dir string) []row {
	secret := filepath.Join(dir, "secret")
	short := filepath.Join(dir, "short")
	return []row{
		{"valid", "", "", ""},
		{"valid with every kind of option",
			"identity_headers:\n  claims:\n    X-MCP-Email: email\nsecret_headers:\n  - header: X-Api-Key\n    file: " + secret + "\nrequired_scopes:\n  tools:\n    admin: [mcp:admin]\nsession_key:\n  file: " + secret + "\nmax_body_bytes: 1024\nbody_read_timeout: 5s\nallowed_origins: [https://app.example.com]\n",
			"identity_headers {\n\tclaims {\n\t\tX-MCP-Email email\n\t}\n}\nsecret_headers {\n\tX-Api-Key file " + secret + "\n}\nrequired_scopes {\n\ttools {\n\t\tadmin mcp:admin\n\t}\n}\nsession_key file " + secret + "\nmax_body_bytes 1024\nbody_read_timeout 5s\nallowed_origins https://app.example.com\n", ""},
		{"origin without a scheme", "allowed_origins: [app.example.com]\n", "allowed_origins app.example.com\n", "allowed_origins[0]"},
		{"session_key shorter than 16 bytes", "session_key:\n  file: " + short + "\n", "session_key file " + short + "\n", "session_key"},
		{"session_key from an unset variable", "session_key:\n  env: PARITY_UNSET\n", "session_key env PARITY_UNSET\n", "session_key.env"},
		{"secret header from an unset variable", "secret_headers:\n  - header: X-Api-Key\n    env: PARITY_UNSET\n", "secret_headers {\n\tX-Api-Key env PARITY_UNSET\n}\n", "secret_headers[0].env"},
		{"secret header file missing", "secret_headers:\n  - header: X-Api-Key\n    file: " + filepath.Join(dir, "nope") + "\n", "secret_headers {\n\tX-Api-Key file " + filepath.Join(dir, "nope") + "\n}\n", "secret_headers[0].file"},
		{"reserved identity header", "identity_headers:\n  subject: Authorization\n", "identity_headers {\n\tsubject Authorization\n}\n", "identity_headers.subject"},
		{"invalid tool scope", "required_scopes:\n  tools:\n    admin: [\"a b\"]\n", "required_scopes {\n\ttools {\n\t\tadmin \"a b\"\n\t}\n}\n", "required_scopes.tools.admin[0]"},
		{"negative max_body_bytes", "max_body_bytes: -1\n", "max_body_bytes -1\n", "max_body_bytes"},
		{"negative body_read_timeout", "body_read_timeout: -1s\n", "body_read_timeout -1s\n", "body_read_timeout"},
		{"invalid challenge scope", "challenge_scopes: [\"a\\\"b\"]\n", "challenge_scopes a\"b\n", "challenge_scopes[0]"},
	}
}

// asRows vary the authorization server entry; both front doors get it
// instead of the base one.
type asRow struct {
	name, yaml, caddyfile, field string
}

func asRows(dir string) []asRow {
	secret := filepath.Join(dir, "secret")
	return []asRow{
		{"HS256 in the allow-list", "    algorithms: [HS256]\n", "algorithms HS256\n", "authorization_servers[0].algorithms[0]"},
		{"leeway over 10m", "    leeway: 11m\n", "leeway 11m\n", "authorization_servers[0].leeway"},
		{"tenants without a template", "    tenants: [acme]\n", "tenants acme\n", "authorization_servers[0].tenants"},
		{"introspection without client_secret", "    introspection:\n      client_id: rs\n", "introspection {\n\tclient_id rs\n}\n", "authorization_servers[0].introspection.client_secret"},
		{"introspection without client_id", "    introspection:\n      client_secret:\n        file: " + secret + "\n", "introspection {\n\tclient_secret file " + secret + "\n}\n", "authorization_servers[0].introspection.client_id"},
		{"introspection valid", "    introspection:\n      client_id: rs\n      client_secret:\n        file: " + secret + "\n", "introspection {\n\tclient_id rs\n\tclient_secret file " + secret + "\n}\n", ""},
		{"http jwks_uri off loopback", "    jwks_uri: http://as.example.com/jwks\n", "jwks_uri http://as.example.com/jwks\n", "authorization_servers[0].jwks_uri"},
	}
}

// TestParity: every row is refused by both front doors naming the same
// option path, or accepted by both.
func TestParity(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte("0123456789abcdef0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "short"), []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows(dir) {
		t.Run(r.name, func(t *testing.T) {
			check(t, "sidecar", sidecarCheck(baseYAML+r.yaml), r.field)
			check(t, "caddy", caddyCheck(t, baseCaddy+r.caddyfile), r.field)
		})
	}
	for _, r := range asRows(dir) {
		t.Run(r.name, func(t *testing.T) {
			y := strings.Replace(baseYAML, "    jwks_uri: https://as.example.com/jwks\n", "", 1) + r.yaml
			if !strings.Contains(r.yaml, "jwks_uri") {
				y += "    jwks_uri: https://as.example.com/jwks\n"
			}
			c := "resource https://mcp.example.com/mcp\nauthorization_server https://as.example.com {\n" + r.caddyfile
			if !strings.Contains(r.caddyfile, "jwks_uri") {
				c += "jwks_uri https://as.example.com/jwks\n"
			}
			c += "}\n"
			check(t, "sidecar", sidecarCheck(y), r.field)
			check(t, "caddy", caddyCheck(t, c), r.field)
		})
	}
}

func check(t *testing.T, door string, err error, field string) {
	t.Helper()
	t.Logf("%s: %v", door, err)
	switch {
	case field == "" && err != nil:
		t.Errorf("%s refused a valid config: %v", door, err)
	case field != "" && err == nil:
		t.Errorf("%s accepted it, want an error naming %s", door, field)
	case field != "" && !strings.Contains(err.Error(), field+": ") && !strings.Contains(err.Error(), "("+field+"): "):
		t.Errorf("%s error does not name %s:\n%v", door, field, err)
	}
}

// sidecarCheck is `mcp-sidecar validate`.
func sidecarCheck(yaml string) error {
	_, err := sidecar.Parse([]byte(yaml))
	return err
}

// caddyCheck is `caddy adapt` and then `caddy validate` (Provision).
func caddyCheck(t *testing.T, block string) error {
	cf := "{\n\tadmin off\n\tpersist_config off\n}\nhttp://127.0.0.1:0 {\n\tmcp_auth {\n" + block + "\t}\n\treverse_proxy 127.0.0.1:9 {\n\t\ttransport mcp_auth\n\t}\n}\n"
	cfgJSON, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf), nil)
	if err != nil {
		return err
	}
	if strings.Contains(string(cfgJSON), `"1m0s"`) || strings.Contains(string(cfgJSON), `"algorithms":["RS256","RS384"`) {
		t.Errorf("caddy adapt wrote defaults into the JSON: %s", cfgJSON)
	}
	var cfg caddy.Config
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		t.Fatal(err)
	}
	return caddy.Validate(&cfg)
}
