package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/jwkstest"
)

const goodYAML = `
upstream: http://127.0.0.1:3000
resource: https://mcp.example.com/mcp
authorization_servers:
  - issuer: https://as.example.com
`

func TestValidateExitCodesAndFieldNames(t *testing.T) {
	cases := []struct {
		name     string
		yaml     string
		wantCode int
		wantErr  string
	}{
		{"valid", goodYAML, 0, ""},
		{"unknown key", goodYAML + "listen_addr: x\n", 2, `line 6: unknown key "listen_addr"`},
		{"typo in nested key", strings.Replace(goodYAML, "issuer:", "isuer:", 1), 2, `line 5: unknown key "authorization_servers[0].isuer"`},
		{"several type errors at once", goodYAML + "max_body_bytes: lots\nscopes_supported: 5\n", 2, "line 7: scopes_supported: must be a list"},
		{"missing upstream", strings.Replace(goodYAML, "upstream: http://127.0.0.1:3000\n", "", 1), 2, "upstream: is required"},
		{"ftp upstream", strings.Replace(goodYAML, "http://127.0.0.1:3000", "ftp://x", 1), 2, `upstream: "ftp://x" must be an http:// or https:// URL`},
		{"http resource off loopback", strings.Replace(goodYAML, "https://mcp.example.com/mcp", "http://mcp.example.com/mcp", 1), 2, "resource: must use https"},
		{"HS256", goodYAML + "    algorithms: [HS256]\n", 2, `authorization_servers[0].algorithms[0]: "HS256" is never allowed`},
		{"bad leeway", goodYAML + "    leeway: 30\n", 2, `line 6: authorization_servers[0].leeway: invalid duration "30"`},
		{"bad listen", goodYAML + "listen: nowhere\n", 2, `listen: "nowhere" is not host:port`},
		{"secret env unset", goodYAML + "secret_headers:\n  - header: X-Key\n    env: MCPFD_TEST_UNSET_VAR\n", 2, "secret_headers[0].env: environment variable MCPFD_TEST_UNSET_VAR is empty or unset"},
		{"reserved identity header", goodYAML + "identity_headers:\n  subject: Authorization\n", 2, `identity_headers.subject: "Authorization" is reserved`},
		{"bad log level", goodYAML + "log_level: loud\n", 2, `log_level: "loud" is not one of`},
		{"two errors at once", strings.Replace(goodYAML, "https://as.example.com", "as.example.com", 1) + "log_level: loud\n", 2, "authorization_servers[0].issuer"},
		{"empty file", "", 2, "config is empty"},
		{"not yaml", "{{{", 2, "config"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(f, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			var out, errb bytes.Buffer
			code := run([]string{"validate", "--config", f}, &out, &errb)
			if code != tc.wantCode {
				t.Fatalf("exit = %d, want %d; stderr:\n%s", code, tc.wantCode, errb.String())
			}
			if tc.wantErr != "" && !strings.Contains(errb.String(), tc.wantErr) {
				t.Fatalf("stderr lacks %q:\n%s", tc.wantErr, errb.String())
			}
			if tc.wantCode == 0 && !strings.Contains(out.String(), "is valid") {
				t.Fatalf("stdout = %q", out.String())
			}
		})
	}
}

func TestCLI(t *testing.T) {
	cases := []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"version"}, 0, "mcp-sidecar "},
		{[]string{}, 2, "usage:"},
		{[]string{"bogus"}, 2, `unknown command "bogus"`},
		{[]string{"run"}, 2, "--config FILE is required"},
		{[]string{"validate", "--config", "/does/not/exist.yaml"}, 2, "read config"},
		{[]string{"dev", "--listen", "0.0.0.0:0"}, 1, "must be a loopback host:port"},
	}
	for _, tc := range cases {
		var out, errb bytes.Buffer
		code := run(tc.args, &out, &errb)
		if code != tc.code || !strings.Contains(out.String()+errb.String(), tc.out) {
			t.Errorf("run(%q) = %d, %q %q; want %d and %q", tc.args, code, out.String(), errb.String(), tc.code, tc.out)
		}
	}
}

func TestTokenInfo(t *testing.T) {
	k := jwkstest.NewKey(t, "k", "ES256")
	as := jwkstest.NewServer(t, k)
	t.Setenv("TI_KEY", "secret-value-1")
	cfgFile := filepath.Join(t.TempDir(), "c.yaml")
	yaml := "upstream: http://127.0.0.1:3000\nresource: http://127.0.0.1:8080/mcp\nchallenge_scopes: [mcp:read]\nauthorization_servers:\n  - issuer: " + as.Issuer +
		"\n    jwks_uri: " + as.JWKSURL() + "\nidentity_headers:\n  claims:\n    X-MCP-Email: email\nsecret_headers:\n  - header: X-Key\n    env: TI_KEY\n"
	if err := os.WriteFile(cfgFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	good := k.Sign(t, jwt.MapClaims{"iss": as.Issuer, "sub": "alice", "aud": "http://127.0.0.1:8080/mcp", "exp": time.Now().Add(time.Hour).Unix(), "email": "a@example.com", "scope": "mcp:read"}, nil)
	bad := k.Sign(t, jwt.MapClaims{"iss": as.Issuer, "sub": "alice", "aud": "https://elsewhere", "exp": time.Now().Add(time.Hour).Unix()}, nil)
	cases := []struct {
		name  string
		in    string
		args  []string
		code  int
		wants []string
	}{
		{"accepted", good + "\n", nil, 0, []string{"decision: ACCEPTED", "subject:   alice", "X-Mcp-Email: a@example.com", "X-Mcp-Subject: alice", "X-Key: <redacted>", "ok   signature  verified"}},
		{"with Bearer prefix", "Bearer " + good, nil, 0, []string{"decision: ACCEPTED"}},
		{"refused", bad, nil, 1, []string{"FAIL audience", "decision: REFUSED with 401 (audience)",
			`WWW-Authenticate: Bearer resource_metadata="http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp", error="invalid_token", error_description="Token audience does not match this resource", scope="mcp:read"`}},
		{"json", good, []string{"--json"}, 0, []string{`"accepted": true`, `"subject": "alice"`, `"token_sha256_prefix"`}},
		{"empty stdin", "", nil, 2, []string{"no token on stdin"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := cmdTokenInfo(append([]string{"--config", cfgFile}, tc.args...), strings.NewReader(tc.in), &out, &errb)
			all := out.String() + errb.String()
			if code != tc.code {
				t.Fatalf("exit = %d, want %d\n%s", code, tc.code, all)
			}
			for _, w := range tc.wants {
				if !strings.Contains(all, w) {
					t.Errorf("output lacks %q:\n%s", w, all)
				}
			}
			sig := good[strings.LastIndexByte(good, '.')+1:]
			if strings.Contains(all, sig) || strings.Contains(all, "secret-value-1") {
				t.Fatal("token-info printed the token or a secret")
			}
		})
	}
}

func TestRunWithoutConfigFile(t *testing.T) {
	t.Setenv("MCP_RESOURCE_SERVER_CANONICAL_URL", "")
	t.Setenv("MCP_RESOURCE_SERVER_AUTHORIZATION_SERVERS", "")
	var out, errb bytes.Buffer
	if code := run([]string{"run", "--upstream", "http://127.0.0.1:3000"}, &out, &errb); code != 2 ||
		!strings.Contains(errb.String(), "'canonical_url' required (parameter or MCP_RESOURCE_SERVER_CANONICAL_URL environment variable)") {
		t.Fatalf("run without env = %d %s", code, errb.String())
	}
	errb.Reset()
	if code := run([]string{"run", "--config", "x.yaml", "--upstream", "http://127.0.0.1:3000"}, &out, &errb); code != 2 {
		t.Fatalf("--config with --upstream = %d", code)
	}
}

func TestValidateResolvesSecrets(t *testing.T) {
	f := filepath.Join(t.TempDir(), "c.yaml")
	y := goodYAML + "session_key:\n  env: MCPFD_TEST_SESSION_KEY\n"
	if err := os.WriteFile(f, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		val  string
		code int
		want string
	}{
		{"", 2, "session_key.env: environment variable MCPFD_TEST_SESSION_KEY is empty or unset"},
		{"short", 2, "session_key: must be at least 16 bytes"},
		{"0123456789abcdef", 0, "is valid"},
	} {
		t.Setenv("MCPFD_TEST_SESSION_KEY", tc.val)
		var out, errb bytes.Buffer
		code := run([]string{"validate", "--config", f}, &out, &errb)
		if code != tc.code || !strings.Contains(out.String()+errb.String(), tc.want) {
			t.Errorf("session key %q: exit %d, output %q", tc.val, code, out.String()+errb.String())
		}
	}
}
