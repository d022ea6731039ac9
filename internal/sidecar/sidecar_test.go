package sidecar_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/behaviour"
	"github.com/mcp-frontdoor/mcp-frontdoor/internal/jwkstest"
	"github.com/mcp-frontdoor/mcp-frontdoor/internal/sidecar"
	"github.com/mcp-frontdoor/mcp-frontdoor/internal/sidecar/sidecartest"
)

// upstream is a real loopback HTTP server that records what reached it.
type upstream struct {
	url  string
	mu   sync.Mutex
	reqs []seen
}

type seen struct {
	method, path, host string
	header             http.Header
	body               string
}

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.reqs = append(u.reqs, seen{r.Method, r.URL.Path, r.Host, r.Header.Clone(), string(b)})
		u.mu.Unlock()
		if r.URL.Path == "/sse" {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "id: 1\ndata: first\n\n")
			w.(http.Flusher).Flush()
			time.Sleep(500 * time.Millisecond)
			fmt.Fprint(w, "id: 2\ndata: second\n\n")
			return
		}
		if r.URL.Path == "/slow" {
			time.Sleep(300 * time.Millisecond)
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	u.url = "http://" + ln.Addr().String()
	return u
}

func (u *upstream) last(t *testing.T) seen {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		t.Fatal("nothing reached the upstream")
	}
	return u.reqs[len(u.reqs)-1]
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.reqs)
}

type env struct {
	base, admin, resource string
	as1, as2              *jwkstest.Server
	k1, k2                jwkstest.Key
	up                    *upstream
	logs                  *bytes.Buffer
	cancel                context.CancelFunc
	done                  chan error
}

// start runs the sidecar for real (Serve on loopback listeners) with the
// behaviour table's configuration plus an admin listener, logging into
// e.logs.
func start(t *testing.T) *env {
	t.Helper()
	e := &env{logs: &bytes.Buffer{}}
	e.k1 = jwkstest.NewKey(t, "shared", "ES256")
	e.k2 = jwkstest.NewKey(t, "shared", "RS256")
	e.as1 = jwkstest.NewServer(t, e.k1)
	e.as2 = jwkstest.NewServer(t, e.k2)
	e.up = newUpstream(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adminLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.base = "http://" + ln.Addr().String()
	e.admin = "http://" + adminLn.Addr().String()
	e.resource = e.base + "/mcp"
	secretFile := filepath.Join(t.TempDir(), "tenant")
	if err := os.WriteFile(secretFile, []byte(behaviour.Tenant+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(behaviour.EnvAPIKey, behaviour.APIKey)
	t.Setenv(behaviour.EnvSessionKey, behaviour.SessionKey)
	yml := behaviour.Settings{
		Listen: ln.Addr().String(), AdminListen: adminLn.Addr().String(), Resource: e.resource, Upstream: e.up.url,
		Issuer1: e.as1.Issuer, JWKS1: e.as1.JWKSURL(), Issuer2: e.as2.Issuer, SecretFile: secretFile,
	}.SidecarYAML() + "drain_delay: 0s\n"
	cfg, err := sidecar.Parse([]byte(yml))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&lockedWriter{w: e.logs}), zap.DebugLevel)
	app, err := sidecar.New(cfg, zap.New(core), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	e.done = make(chan error, 1)
	go func() { e.done <- app.Serve(ctx, ln, adminLn) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-e.done:
		case <-time.After(10 * time.Second):
			t.Error("sidecar did not stop")
		}
	})
	return e
}

// serveYAML parses yaml, builds the sidecar and serves it on ln (and
// adminLn when not nil) until the test ends.
func serveYAML(t *testing.T, ln, adminLn net.Listener, yaml string) *sidecar.App {
	t.Helper()
	cfg, err := sidecar.Parse([]byte(yaml))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return sidecartest.Serve(t, cfg, nil, nil, ln, adminLn)
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (e *env) token(t *testing.T, which int, mod func(jwt.MapClaims), hdr map[string]any) string {
	t.Helper()
	now := time.Now()
	c := jwt.MapClaims{"sub": "alice", "aud": e.resource, "exp": now.Add(time.Hour).Unix(), "iat": now.Unix(),
		"client_id": "client-1", "scope": "mcp:read", "email": "alice@example.com"}
	k := e.k1
	c["iss"] = e.as1.Issuer
	if which == 2 {
		k = e.k2
		c["iss"] = e.as2.Issuer
		c["sub"] = "bob"
		if hdr == nil {
			hdr = map[string]any{"typ": "at+jwt"}
		}
	}
	if mod != nil {
		mod(c)
	}
	return k.Sign(t, c, hdr)
}

func do(t *testing.T, method, url string, hdr http.Header, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestAdminReadyzMetricsAndLogs(t *testing.T) {
	e := start(t)
	tok := e.token(t, 1, nil, nil)
	// issuer 2 has no jwks_uri: discovery. Both become ready.
	deadline := time.Now().Add(5 * time.Second)
	var body string
	var resp *http.Response
	for time.Now().Before(deadline) {
		resp, body = do(t, "GET", e.admin+"/readyz", nil, "")
		if resp.StatusCode == 200 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if resp.StatusCode != 200 || !strings.Contains(body, `"ready":true`) {
		t.Fatalf("readyz = %d %s", resp.StatusCode, body)
	}
	if resp, body := do(t, "GET", e.admin+"/healthz", nil, ""); resp.StatusCode != 200 || body != "ok\n" {
		t.Fatalf("healthz = %d %q", resp.StatusCode, body)
	}
	do(t, "POST", e.base+"/mcp", http.Header{"Authorization": {"Bearer " + tok}}, pingBody)
	do(t, "POST", e.base+"/mcp", http.Header{"Authorization": {"Bearer " + tok}}, pingBody)
	bad := e.token(t, 1, func(c jwt.MapClaims) { c["aud"] = "x" }, nil)
	do(t, "POST", e.base+"/mcp", http.Header{"Authorization": {"Bearer " + bad}}, pingBody)
	_, metrics := do(t, "GET", e.admin+"/metrics", nil, "")
	for _, want := range []string{
		fmt.Sprintf(`mcp_auth_validations_total{issuer="%s",result="valid"} 1`, e.as1.Issuer),
		fmt.Sprintf(`mcp_auth_validations_total{issuer="%s",result="cache_hit"} 1`, e.as1.Issuer),
		fmt.Sprintf(`mcp_auth_validations_total{issuer="%s",result="audience"} 1`, e.as1.Issuer),
		fmt.Sprintf(`mcp_auth_jwks_fetches_total{issuer="%s",result="ok"}`, e.as1.Issuer),
		`mcp_auth_upstream_duration_seconds_count{code="200",method="ping"} 2`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	e.cancel()
	<-e.done
	e.done <- nil // for cleanup
	logs := e.logs.String()
	sig := tok[strings.LastIndexByte(tok, '.')+1:]
	for _, secret := range []string{tok, sig, bad[strings.LastIndexByte(bad, '.')+1:], "key-123"} {
		if strings.Contains(logs, secret) {
			t.Fatalf("logs contain a token or secret")
		}
	}
	if !strings.Contains(logs, `"subject":"alice"`) || !strings.Contains(logs, `"issuer":"`+e.as1.Issuer+`"`) || !strings.Contains(logs, `"auth_failure":"audience"`) {
		t.Fatalf("logs lack subject/issuer/failure reason:\n%s", logs)
	}
}

func TestReadyzWhileAuthorizationServerIsDown(t *testing.T) {
	k := jwkstest.NewKey(t, "k", "ES256")
	as := jwkstest.NewServer(t, k)
	as.SetFailing(true)
	up := newUpstream(t)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	adminLn, _ := net.Listen("tcp", "127.0.0.1:0")
	serveYAML(t, ln, adminLn, fmt.Sprintf("listen: %s\nadmin_listen: %s\nupstream: %s\nresource: http://%s/mcp\nauthorization_servers:\n  - issuer: %s\n    jwks_uri: %s\n",
		ln.Addr(), adminLn.Addr(), up.url, ln.Addr(), as.Issuer, as.JWKSURL()))
	admin := "http://" + adminLn.Addr().String()
	resp, body := do(t, "GET", admin+"/readyz", nil, "")
	if resp.StatusCode != 503 || !strings.Contains(body, `"ready":false`) {
		t.Fatalf("readyz while AS down = %d %s", resp.StatusCode, body)
	}
	// A request meanwhile gets 503 + Retry-After, not a 401 blaming the token.
	tok := k.Sign(t, jwt.MapClaims{"iss": as.Issuer, "sub": "a", "aud": "http://" + ln.Addr().String() + "/mcp", "exp": time.Now().Add(time.Hour).Unix()}, nil)
	resp, _ = do(t, "POST", "http://"+ln.Addr().String()+"/mcp", http.Header{"Authorization": {"Bearer " + tok}}, pingBody)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("request while keys unavailable = %d %v", resp.StatusCode, resp.Header)
	}
	as.SetFailing(false)
	deadline := time.Now().Add(5 * time.Second) // background retry backs off from 1s
	for time.Now().Before(deadline) {
		if resp, _ = do(t, "GET", admin+"/readyz", nil, ""); resp.StatusCode == 200 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("never became ready after the AS recovered")
}

func TestGracefulShutdownDrainsInFlight(t *testing.T) {
	e := start(t)
	tok := e.token(t, 1, nil, nil)
	type result struct {
		status int
		err    error
	}
	res := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest("POST", e.base+"/slow", strings.NewReader(pingBody))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			res <- result{err: err}
			return
		}
		_, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- result{status: resp.StatusCode}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for e.up.count() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	e.cancel() // what SIGTERM does
	r := <-res
	if r.err != nil || r.status != 200 {
		t.Fatalf("in-flight request during shutdown: %d %v", r.status, r.err)
	}
	if err := <-e.done; err != nil {
		t.Fatalf("Serve returned %v", err)
	}
	e.done <- nil
	if _, err := http.Get(e.base + "/mcp"); err == nil {
		t.Fatal("still accepting connections after shutdown")
	}
}

// pingBody is a well-formed JSON-RPC request for tests that only need one
// to pass the guard.
const pingBody = `{"jsonrpc":"2.0","id":1,"method":"ping"}`
