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
		{"unknown scope_denial", "scope_denial: soft\n", "scope_denial soft\n", "scope_denial"},
		{"invalid implied scope", "scope_implies:\n  mcp:admin: [\"a b\"]\n", "scope_implies {\n\tmcp:admin \"a b\"\n}\n", "scope_implies.mcp:admin[0]"},
		{"invalid prompt scope", "required_scopes:\n  prompts:\n    p: [\"a b\"]\n", "required_scopes {\n\tprompts {\n\t\tp \"a b\"\n\t}\n}\n", "required_scopes.prompts.p[0]"},
		{"valid policy with error denial, hierarchy, resources and limits",
			"scope_denial: error\nscope_implies:\n  mcp:admin: [mcp:write]\nrequired_scopes:\n  resources:\n    \"file:///a/*\": [mcp:read]\nrate_limits:\n  default: {rate: 5/s, burst: 10}\n  tools:\n    t: {rate: 1/m}\n",
			"scope_denial error\nscope_implies {\n\tmcp:admin mcp:write\n}\nrequired_scopes {\n\tresources {\n\t\tfile:///a/* mcp:read\n\t}\n}\nrate_limits {\n\tdefault 5/s 10\n\ttools {\n\t\tt 1/m\n\t}\n}\n", ""},
		{"bad rate", "rate_limits:\n  tools:\n    t: {rate: fast}\n", "rate_limits {\n\ttools {\n\t\tt fast\n\t}\n}\n", "rate_limits.tools.t.rate"},
		{"bad rate-limit store", "rate_limits:\n  store: memcached://x\n  default: {rate: 1/s}\n", "rate_limits {\n\tstore memcached://x\n\tdefault 1/s\n}\n", "rate_limits.store"},
		{"audit file", "audit:\n  file: " + filepath.Join(dir, "audit.jsonl") + "\n", "audit {\n\tfile " + filepath.Join(dir, "audit.jsonl") + "\n}\n", ""},
		{"audit off", "audit:\n  enabled: false\n", "audit off\n", ""},
		{"audit file while off", "audit:\n  enabled: false\n  file: " + filepath.Join(dir, "audit.jsonl") + "\n", "audit off {\n\tfile " + filepath.Join(dir, "audit.jsonl") + "\n}\n", "audit.file"},
		{"audit file in a missing directory", "audit:\n  file: " + filepath.Join(dir, "nope", "audit.jsonl") + "\n", "audit {\n\tfile " + filepath.Join(dir, "nope", "audit.jsonl") + "\n}\n", "audit.file"},
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

// stdioRows vary the stdio options: the sidecar gets a `stdio:` block in
// place of upstream, Caddy an mcp_stdio block in place of reverse_proxy.
type stdioRow struct {
	name, yaml, caddyfile, field string
}

func stdioRows(dir string) []stdioRow {
	secret := filepath.Join(dir, "secret")
	return []stdioRow{
		{"stdio valid with every option",
			"  command: [mcp-server, --flag]\n  env:\n    LOG_LEVEL: info\n  identity_env:\n    subject: WHO\n    claims:\n      MCP_EMAIL: email\n  secret_env:\n    - name: TOKEN\n      file: " + secret + "\n    - name: OTHER\n      env: PARITY_SET\n  working_dir: /srv\n  idle_timeout: 10m\n  max_processes: 10\n  max_per_caller: 2\n  shutdown_grace: 5s\n",
			"command mcp-server --flag\nenv LOG_LEVEL info\nidentity_env {\n\tsubject WHO\n\tclaims {\n\t\tMCP_EMAIL email\n\t}\n}\nsecret_env {\n\tTOKEN file " + secret + "\n\tOTHER env PARITY_SET\n}\nworking_dir /srv\nidle_timeout 10m\nmax_processes 10\nmax_per_caller 2\nshutdown_grace 5s\n", ""},
		{"stdio without a command", "  command: []\n", "command\n", "stdio.command"},
		{"stdio negative max_processes", "  command: [mcp-server]\n  max_processes: -1\n", "command mcp-server\nmax_processes -1\n", "stdio.max_processes"},
		{"stdio negative max_per_caller", "  command: [mcp-server]\n  max_per_caller: -1\n", "command mcp-server\nmax_per_caller -1\n", "stdio.max_per_caller"},
		{"stdio negative idle_timeout", "  command: [mcp-server]\n  idle_timeout: -1s\n", "command mcp-server\nidle_timeout -1s\n", "stdio.idle_timeout"},
		{"stdio negative shutdown_grace", "  command: [mcp-server]\n  shutdown_grace: -1s\n", "command mcp-server\nshutdown_grace -1s\n", "stdio.shutdown_grace"},
		{"stdio secret from an unset variable", "  command: [mcp-server]\n  secret_env:\n    - name: TOKEN\n      env: PARITY_UNSET\n", "command mcp-server\nsecret_env {\n\tTOKEN env PARITY_UNSET\n}\n", "stdio.secret_env[0].env"},
		{"stdio secret file missing", "  command: [mcp-server]\n  secret_env:\n    - name: TOKEN\n      file: " + filepath.Join(dir, "nope") + "\n", "command mcp-server\nsecret_env {\n\tTOKEN file " + filepath.Join(dir, "nope") + "\n}\n", "stdio.secret_env[0].file"},
		{"stdio bad variable name", "  command: [mcp-server]\n  env:\n    1BAD: x\n", "command mcp-server\nenv 1BAD x\n", "stdio.env.1BAD"},
		{"stdio variable set twice", "  command: [mcp-server]\n  env:\n    TOKEN: x\n  secret_env:\n    - name: TOKEN\n      file: " + secret + "\n", "command mcp-server\nenv TOKEN x\nsecret_env {\n\tTOKEN file " + secret + "\n}\n", "stdio.secret_env[0].name"},
		{"stdio empty claim", "  command: [mcp-server]\n  identity_env:\n    claims:\n      MCP_EMAIL: \"\"\n", "command mcp-server\nidentity_env {\n\tclaims {\n\t\tMCP_EMAIL \"\"\n\t}\n}\n", "stdio.identity_env.claims.MCP_EMAIL"},
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
	t.Setenv("PARITY_SET", "x")
	for _, r := range stdioRows(dir) {
		t.Run(r.name, func(t *testing.T) {
			y := strings.Replace(baseYAML, "upstream: http://127.0.0.1:3000\n", "", 1) + "stdio:\n" + r.yaml
			check(t, "sidecar", sidecarCheck(y), r.field)
			check(t, "caddy", caddyCheckWith(t, baseCaddy, "mcp_stdio {\n"+r.caddyfile+"}\n"), r.field)
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

// TestStdioWithUpstreamSidecarOnly: the sidecar takes exactly one of
// upstream and stdio (Caddy has no upstream: mcp_stdio replaces
// reverse_proxy).
func TestStdioWithUpstreamSidecarOnly(t *testing.T) {
	err := sidecarCheck(baseYAML + "stdio:\n  command: [mcp-server]\n")
	if err == nil || !strings.Contains(err.Error(), "stdio: set exactly one of upstream and stdio") {
		t.Fatalf("upstream and stdio together = %v", err)
	}
}

// sidecarCheck is `mcp-sidecar validate`.
func sidecarCheck(yaml string) error {
	_, err := sidecar.Parse([]byte(yaml))
	return err
}

// caddyCheck is `caddy adapt` and then `caddy validate` (Provision).
func caddyCheck(t *testing.T, block string) error {
	return caddyCheckWith(t, block, "reverse_proxy 127.0.0.1:9 {\n\ttransport mcp_auth\n}\n")
}

// caddyCheckWith is caddyCheck with another handler after mcp_auth
// (reverse_proxy or mcp_stdio).
func caddyCheckWith(t *testing.T, block, terminal string) error {
	cf := "{\n\tadmin off\n\tpersist_config off\n}\nhttp://127.0.0.1:0 {\n\tmcp_auth {\n" + block + "\t}\n" + terminal + "}\n"
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
