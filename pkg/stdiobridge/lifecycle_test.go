package stdiobridge_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/jwkstest"
	"github.com/mcp-frontdoor/mcp-frontdoor/internal/stdiotest"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/frontdoor"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/stdiobridge"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestDeletedSessionIs404 (spec 2025-11-25 session management: after
// DELETE the server MUST answer 404 to that session id; conformance check
// server-session-lifecycle/server-session-terminated-returns-404). The
// DELETE answers 204 while the session stays found until the child's
// stdout ends, so a request right after the DELETE still reaches it. A
// child that takes its time to exit (here: one that ignores its closed
// stdin and SIGTERM) makes the window seconds wide; with the go-sdk
// conformance fixture it is hit every run.
func TestDeletedSessionIs404(t *testing.T) {
	e := start(t, func(o *stdiobridge.Options) {
		o.Env[stdiotest.EnvStubborn] = "1"
		o.ShutdownGrace = rs.Duration(time.Second)
	})
	resp, _ := e.post(t, "alice", "", initBody)
	sid := resp.Header.Get("Mcp-Session-Id")
	e.post(t, "alice", sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	req, _ := http.NewRequest("DELETE", e.url, nil)
	req.Header.Set("Authorization", "Bearer "+e.token(t, "alice"))
	req.Header.Set("Mcp-Session-Id", sid)
	dresp, err := http.DefaultClient.Do(req)
	if err != nil || dresp.StatusCode != 204 {
		t.Fatalf("DELETE = %v %v", dresp, err)
	}
	resp, body := e.post(t, "alice", sid, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
	if resp.StatusCode != 404 {
		t.Fatalf("request right after DELETE = %d %q, want 404", resp.StatusCode, body)
	}
}

// TestStopLogsNoReadError: stopping a process (DELETE, idle, shutdown)
// must not log "reading the MCP server's output failed: read |0: file
// already closed". terminate calls cmd.Wait, which closes the stdout pipe
// while read() is still reading it (os/exec: "It is thus incorrect to call
// Wait before all reads from the pipe have completed"), which also can
// drop the child's last lines.
func TestStopLogsNoReadError(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	e := startLogged(t, zap.New(core))
	for range 5 {
		resp, _ := e.post(t, "alice", "", initBody)
		sid := resp.Header.Get("Mcp-Session-Id")
		req, _ := http.NewRequest("DELETE", e.url, nil)
		req.Header.Set("Authorization", "Bearer "+e.token(t, "alice"))
		req.Header.Set("Mcp-Session-Id", sid)
		if r, err := http.DefaultClient.Do(req); err == nil {
			r.Body.Close()
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for e.fd.Bridge().Sessions() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	for _, l := range logs.All() {
		if strings.Contains(l.Message, "reading the MCP server's output failed") {
			t.Fatalf("a stop logged %q %v", l.Message, l.ContextMap())
		}
	}
}

// startLogged is start with a logger (start passes none, so the bridge
// logs to zap.NewNop).
func startLogged(t *testing.T, log *zap.Logger) *env {
	t.Helper()
	e := &env{key: jwkstest.NewKey(t, "k1", "ES256"), reg: prometheus.NewRegistry()}
	e.as = jwkstest.NewServer(t, e.key)
	srv := httptest.NewUnstartedServer(nil)
	e.url = "http://" + srv.Listener.Addr().String() + "/mcp"
	e.stdio = stdiobridge.Options{Command: []string{os.Args[0], "-test.run=^$"}, Env: map[string]string{stdiotest.EnvServe: "1"}}
	o := frontdoor.Options{
		Config: rs.Config{Resource: e.url, AuthorizationServers: []rs.AuthorizationServer{{Issuer: e.as.Issuer, JWKSURI: e.as.JWKSURL()}}},
		Stdio:  &e.stdio,
	}
	fd, err := frontdoor.Compile(o, frontdoor.Env{Proxy: true, Registerer: e.reg, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	e.fd = fd
	fd.Validator().Start()
	srv.Config.Handler = fd.Handler()
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = fd.Close(ctx)
		fd.Validator().Close()
	})
	return e
}
