package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
		{"unknown key", goodYAML + "listen_addr: x\n", 2, "field listen_addr not found"},
		{"typo in nested key", strings.Replace(goodYAML, "issuer:", "isuer:", 1), 2, "field isuer not found"},
		{"missing upstream", strings.Replace(goodYAML, "upstream: http://127.0.0.1:3000\n", "", 1), 2, "upstream: is required"},
		{"ftp upstream", strings.Replace(goodYAML, "http://127.0.0.1:3000", "ftp://x", 1), 2, `upstream: "ftp://x" must be an http:// or https:// URL`},
		{"http resource off loopback", strings.Replace(goodYAML, "https://mcp.example.com/mcp", "http://mcp.example.com/mcp", 1), 2, "resource: must use https"},
		{"HS256", goodYAML + "    algorithms: [HS256]\n", 2, `authorization_servers[0].algorithms[0]: "HS256" is never allowed`},
		{"bad leeway", goodYAML + "    leeway: 30\n", 2, `invalid duration "30"`},
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
