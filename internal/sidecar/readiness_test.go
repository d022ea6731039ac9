package sidecar_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/jwkstest"
	"github.com/mcp-frontdoor/mcp-frontdoor/internal/sidecar"
)

// TestReadinessPolicy: with one of two issuers down, readiness: any
// (the default) is ready and still shows both issuers' state;
// readiness: all is not; admin_detail: false leaves out the issuers.
// Each applies on reload.
func TestReadinessPolicy(t *testing.T) {
	k := jwkstest.NewKey(t, "k", "ES256")
	up1, down := jwkstest.NewServer(t, k), jwkstest.NewServer(t, k)
	down.SetFailing(true)
	upstream := newUpstream(t)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	adminLn, _ := net.Listen("tcp", "127.0.0.1:0")
	admin := "http://" + adminLn.Addr().String()
	path := filepath.Join(t.TempDir(), "sidecar.yaml")
	write := func(extra string) {
		y := fmt.Sprintf("listen: %s\nadmin_listen: %s\ndrain_delay: 0s\nupstream: %s\nresource: http://%s/mcp\nauthorization_servers:\n  - issuer: %s\n    jwks_uri: %s\n  - issuer: %s\n    jwks_uri: %s\n%s",
			ln.Addr(), adminLn.Addr(), upstream.url, ln.Addr(), up1.Issuer, up1.JWKSURL(), down.Issuer, down.JWKSURL(), extra)
		if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("")
	app := serveYAMLFile(t, ln, adminLn, path)
	var body string
	waitFor(t, "ready with one issuer of two", func() bool {
		var resp *http.Response
		resp, body = do(t, "GET", admin+"/readyz", nil, "")
		return resp.StatusCode == 200 && strings.Contains(body, `"last_error"`)
	})
	for _, want := range []string{`"ready":true`, `"draining":false`, `"readiness":"any"`, up1.Issuer, down.Issuer, `"last_error"`} {
		if !strings.Contains(body, want) {
			t.Errorf("readyz (any) lacks %s: %s", want, body)
		}
	}

	write("readiness: all\n")
	if err := app.ReloadFile(path); err != nil {
		t.Fatal(err)
	}
	resp, body := do(t, "GET", admin+"/readyz", nil, "")
	if resp.StatusCode != 503 || !strings.Contains(body, `"readiness":"all"`) {
		t.Fatalf("readyz (all) = %d %s", resp.StatusCode, body)
	}

	write("readiness: all\nadmin_detail: false\n")
	if err := app.ReloadFile(path); err != nil {
		t.Fatal(err)
	}
	resp, body = do(t, "GET", admin+"/readyz", nil, "")
	if resp.StatusCode != 503 || strings.TrimSpace(body) != `{"ready":false,"draining":false}` {
		t.Fatalf("readyz without detail = %d %s", resp.StatusCode, body)
	}
}

// serveYAMLFile serves the config file at path until the test ends.
func serveYAMLFile(t *testing.T, ln, adminLn net.Listener, path string) *sidecar.App {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return serveYAML(t, ln, adminLn, string(b))
}

// TestAdminAllow: admin_allow refuses other client addresses with 403;
// loopback is always allowed.
func TestAdminAllow(t *testing.T) {
	cfg, err := sidecar.Parse([]byte(timeoutsYAML + "admin_allow: [10.0.0.0/8, 192.0.2.7, \"2001:db8::/32\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	app, err := sidecar.New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for remote, want := range map[string]int{
		"10.1.2.3:4000":        200,
		"192.0.2.7:4000":       200,
		"[2001:db8::1]:4000":   200,
		"[::ffff:10.0.0.1]:80": 200,
		"127.0.0.1:4000":       200,
		"[::1]:4000":           200,
		"192.0.2.8:4000":       403,
		"172.16.0.1:4000":      403,
		"[2001:db9::1]:4000":   403,
		"garbage":              403,
	} {
		req := httptest.NewRequest("GET", "/healthz", nil)
		req.RemoteAddr = remote
		rec := httptest.NewRecorder()
		app.AdminHandler().ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("%s: %d, want %d", remote, rec.Code, want)
		}
	}
}

// TestOperationalKeys: defaults, and bad values are named.
func TestOperationalKeys(t *testing.T) {
	cfg, err := sidecar.Parse([]byte(timeoutsYAML))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ReadinessPolicy() != "any" || !cfg.AdminDetails() || cfg.Drain() != 5*time.Second || !cfg.Watch() || len(cfg.AdminAllow) != 0 {
		t.Fatalf("defaults: readiness %q, admin_detail %v, drain_delay %v, watch_config %v", cfg.ReadinessPolicy(), cfg.AdminDetails(), cfg.Drain(), cfg.Watch())
	}
	for _, tc := range []struct{ yaml, want string }{
		{"drain_delay: -1s\n", "drain_delay: must not be negative"},
		{"drain_delay: soon\n", `drain_delay: invalid duration "soon"`},
		{"readiness: most\n", `readiness: "most" is not one of any, all`},
		{"admin_allow: [10.0.0.0/33]\n", `admin_allow[0]: "10.0.0.0/33" is not a CIDR`},
		{"admin_allow: [somehost]\n", `admin_allow[0]: "somehost" is not a CIDR`},
		{"watch_config: maybe\n", "watch_config: must be true or false"},
		{"admin_detail: 1\n", "admin_detail: must be true or false"},
	} {
		if _, err := sidecar.Parse([]byte(timeoutsYAML + tc.yaml)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.yaml, err, tc.want)
		}
	}
	c, err := sidecar.Parse([]byte(timeoutsYAML + "drain_delay: 0s\nwatch_config: false\nreadiness: all\nadmin_detail: false\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Drain() != 0 || c.Watch() || c.ReadinessPolicy() != "all" || c.AdminDetails() {
		t.Fatalf("parsed %v %v %v %v", c.Drain(), c.Watch(), c.ReadinessPolicy(), c.AdminDetails())
	}
}

// TestAdminURL: the address healthcheck --config probes.
func TestAdminURL(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ yaml, want string }{
		{timeoutsYAML, "http://127.0.0.1:9091"},
		{timeoutsYAML + "admin_listen: 0.0.0.0:9100\n", "http://127.0.0.1:9100"},
		{timeoutsYAML + "admin_listen: \"[::]:9100\"\n", "http://[::1]:9100"},
		{timeoutsYAML + "admin_listen: 10.0.0.5:9100\n", "http://10.0.0.5:9100"},
		{timeoutsYAML + "admin_listen: \"off\"\n", "error: admin_listen is off"},
	} {
		f := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(f, []byte(tc.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := sidecar.AdminURL(f)
		if err != nil {
			got = "error: " + err.Error()
		}
		if !strings.HasPrefix(got, tc.want) {
			t.Errorf("%q: %q, want %q", tc.yaml, got, tc.want)
		}
	}
}
