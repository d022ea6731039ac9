package main

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHealthcheck: exit 0 on 200, 1 on another status, no answer or a
// timeout, 2 on a usage error; --ready probes /readyz; --config takes the
// admin address from the file.
func TestHealthcheck(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"ready":false,"draining":true}`))
	})
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	mux.HandleFunc("GET /moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/healthz", http.StatusFound) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()

	dir := t.TempDir()
	cfgFile := func(name, admin string) string {
		f := filepath.Join(dir, name)
		y := "upstream: http://127.0.0.1:3000\nresource: http://127.0.0.1:8080/mcp\nauthorization_servers:\n  - issuer: https://as.example.com\nadmin_listen: " + admin + "\n"
		if err := os.WriteFile(f, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	host := strings.TrimPrefix(srv.URL, "http://")
	_, port, _ := net.SplitHostPort(host)
	cases := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"healthz", []string{"--url", srv.URL + "/healthz"}, 0, "200 OK"},
		{"base URL gets /healthz", []string{"--url", srv.URL}, 0, "/healthz: 200 OK"},
		{"ready", []string{"--url", srv.URL, "--ready"}, 1, `503 Service Unavailable {"ready":false,"draining":true}`},
		{"explicit readyz", []string{"--url", srv.URL + "/readyz"}, 1, "503"},
		{"not found", []string{"--url", srv.URL + "/nope"}, 1, "404"},
		{"redirect not followed", []string{"--url", srv.URL + "/moved"}, 1, "302"},
		{"nothing listening", []string{"--url", "http://" + closedAddr + "/healthz"}, 1, "connection refused"},
		{"timeout", []string{"--url", srv.URL + "/slow", "--timeout", "200ms"}, 1, "deadline exceeded"},
		{"config", []string{"--config", cfgFile("ok.yaml", host)}, 0, "200 OK"},
		{"config wildcard host", []string{"--config", cfgFile("any.yaml", "0.0.0.0:"+port), "--ready"}, 1, "http://127.0.0.1:" + port + "/readyz: 503"},
		{"config admin off", []string{"--config", cfgFile("off.yaml", `"off"`)}, 2, "admin_listen is off"},
		{"config missing", []string{"--config", filepath.Join(dir, "none.yaml")}, 2, "read config"},
		{"url and config", []string{"--url", srv.URL, "--config", "x.yaml"}, 2, "go alone"},
		{"bad url", []string{"--url", "ftp://x"}, 2, "not an http(s) URL"},
		{"bad flag", []string{"--bogus"}, 2, "flag provided but not defined"},
		{"argument", []string{"extra"}, 2, "unexpected argument"},
		{"bad timeout", []string{"--timeout", "0s"}, 2, "--timeout must be positive"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			start := time.Now()
			code := run(append([]string{"healthcheck"}, tc.args...), &out, &errb)
			all := out.String() + errb.String()
			if code != tc.code || !strings.Contains(all, tc.out) {
				t.Fatalf("exit %d, output %q; want %d and %q", code, all, tc.code, tc.out)
			}
			if el := time.Since(start); el > 3*time.Second {
				t.Fatalf("took %v", el)
			}
		})
	}
}
