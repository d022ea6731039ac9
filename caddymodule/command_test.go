package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestHealthcheckProbe: `caddy mcp-healthcheck` wants a 2xx from the admin
// API within the timeout, sent as Caddy's own CLI sends admin requests
// (Origin set, so the admin API's origin check passes).
func TestHealthcheckProbe(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/config/":
			if r.Method != http.MethodGet || r.Header.Get("Origin") == "" {
				w.WriteHeader(http.StatusForbidden)
				return
			}
			_, _ = w.Write([]byte("{}"))
		case "/slow":
			<-release
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")

	if err := probeAdmin(addr, "/config/", 2*time.Second); err != nil {
		t.Errorf("healthy admin API: %v", err)
	}
	if err := probeAdmin(addr, "/other", 2*time.Second); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("503: got %v", err)
	}
	if err := probeAdmin(addr, "/slow", 100*time.Millisecond); err == nil || !strings.Contains(err.Error(), "no answer within") {
		t.Errorf("hanging admin API: got %v", err)
	}
	close(release)
	srv.Close()
	if err := probeAdmin(addr, "/config/", 2*time.Second); err == nil {
		t.Error("closed admin API: want an error")
	}
}
