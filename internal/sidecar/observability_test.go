package sidecar_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
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

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/behaviour"
	"github.com/mcp-frontdoor/mcp-frontdoor/internal/jwkstest"
	"github.com/mcp-frontdoor/mcp-frontdoor/internal/otlptest"
	"github.com/mcp-frontdoor/mcp-frontdoor/internal/sidecar"
)

// obsEnv is a sidecar with one issuer in front of the behaviour upstream.
type obsEnv struct {
	base, admin string
	key         jwkstest.Key
	as          *jwkstest.Server
	up          *behaviour.Upstream
	app         *sidecar.App
	yaml        string
	stop        func()
}

// startObs serves a sidecar configured with extra (YAML keys) logging to
// log; stop ends it and waits (also at the end of the test).
func startObs(t *testing.T, extra string, log *zap.Logger) *obsEnv {
	t.Helper()
	e := &obsEnv{key: jwkstest.NewKey(t, "k", "ES256")}
	e.as = jwkstest.NewServer(t, e.key)
	e.up = behaviour.NewUpstream(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adminLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.base, e.admin = "http://"+ln.Addr().String(), "http://"+adminLn.Addr().String()
	e.yaml = fmt.Sprintf("listen: %s\nadmin_listen: %s\nupstream: %s\nresource: %s/mcp\ndrain_delay: 0s\nauthorization_servers:\n  - issuer: %s\n    jwks_uri: %s\nrequired_scopes:\n  tools:\n    ok: [mcp:read]\n    admin_tool: [mcp:admin]\n%s",
		ln.Addr(), adminLn.Addr(), e.up.URL, e.base, e.as.Issuer, e.as.JWKSURL(), extra)
	cfg, err := sidecar.Parse([]byte(e.yaml))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	if e.app, err = sidecar.New(cfg, log, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.app.Serve(ctx, ln, adminLn) }()
	var once sync.Once
	e.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Serve: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Error("the sidecar did not stop")
			}
		})
	}
	t.Cleanup(e.stop)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if resp, err := http.Get(e.admin + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("sidecar not ready")
		}
	}
	return e
}

func (e *obsEnv) token(t *testing.T, scope string) string {
	return e.key.Sign(t, jwt.MapClaims{"iss": e.as.Issuer, "sub": "alice", "aud": e.base + "/mcp", "scope": scope,
		"client_id": "cli-9", "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}, nil)
}

func (e *obsEnv) post(t *testing.T, c *http.Client, tok, body string, hdr ...string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", e.base+"/mcp", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Error(err)
		return 0
	}
	_, _ = bufio.NewReader(resp.Body).WriteTo(discard{})
	resp.Body.Close()
	return resp.StatusCode
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// logLines reads a JSON-lines log file: the lines of each logger/message.
func logLines(t *testing.T, path string) map[string][]map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]map[string]any{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not JSON: %s", sc.Bytes())
		}
		logger, _ := m["logger"].(string)
		out[logger+"/"+m["msg"].(string)] = append(out[logger+"/"+m["msg"].(string)], m)
	}
	return out
}

// hammer sends n requests from 8 goroutines: every other one without a
// token (401), the others a valid ping.
func (e *obsEnv) hammer(t *testing.T, n int) {
	tok := e.token(t, "mcp:read")
	var wg sync.WaitGroup
	next := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			for i := range next {
				if i%2 == 0 {
					e.post(t, c, tok, `{"jsonrpc":"2.0","id":1,"method":"ping"}`)
				} else {
					e.post(t, c, "", `{"jsonrpc":"2.0","id":1,"method":"ping"}`)
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// TestAccessLogEveryRequest: with NewLogger (the logger of `mcp-sidecar
// run`), 2,000 requests give 2,000 access lines: nothing is sampled
// unless log_sampling says so.
func TestAccessLogEveryRequest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sidecar.log")
	log, err := sidecar.NewLoggerTo("info", path)
	if err != nil {
		t.Fatal(err)
	}
	e := startObs(t, "", log)
	e.hammer(t, 2000)
	e.stop()
	_ = log.Sync()
	lines := logLines(t, path)
	access := lines["proxy/request"]
	if len(access) != 2000 {
		t.Fatalf("%d access lines for 2000 requests", len(access))
	}
	n401 := 0
	for _, l := range access {
		if l["status"] == 401.0 && l["auth_failure"] == "missing" {
			n401++
		}
	}
	if n401 != 1000 {
		t.Errorf("%d access lines of 401s, want 1000", n401)
	}
	if got := len(lines["audit/mcp request"]); got != 1000 {
		t.Errorf("%d audit events, want 1000", got)
	}
}

// TestAccessLogSampling: log_sampling samples the access lines of allowed
// requests only; every refusal's line, every audit event and the key
// state lines are still written.
func TestAccessLogSampling(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sidecar.log")
	log, err := sidecar.NewLoggerTo("info", path)
	if err != nil {
		t.Fatal(err)
	}
	e := startObs(t, "log_sampling:\n  initial: 5\n  thereafter: 0\n", log)
	start := time.Now()
	e.hammer(t, 1000)
	secs := int(time.Since(start)/time.Second) + 2
	e.stop()
	_ = log.Sync()
	lines := logLines(t, path)
	allowed, refused := 0, 0
	for _, l := range lines["proxy/request"] {
		switch l["result"] {
		case "allowed":
			allowed++
		case "denied":
			refused++
		}
	}
	if allowed == 0 || allowed > 5*secs {
		t.Errorf("%d access lines of allowed requests in %ds with initial 5, thereafter 0", allowed, secs)
	}
	if refused != 500 {
		t.Errorf("%d access lines of refusals, want every one of 500 (never sampled)", refused)
	}
	if got := len(lines["audit/mcp request"]); got != 500 {
		t.Errorf("%d audit events, want every one of 500", got)
	}
	if got := len(lines["rs/issuer keys ready"]); got != 1 {
		t.Errorf("%d 'issuer keys ready' lines, want 1", got)
	}
}

// scrapeText returns the sidecar's /metrics.
func scrapeText(t *testing.T, admin string) string {
	t.Helper()
	resp, err := http.Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
	return b.String()
}

// TestMetricsSurviveReload: SIGHUP's reload keeps every counter and the
// key gauges.
func TestMetricsSurviveReload(t *testing.T) {
	e := startObs(t, "", nil)
	c := http.DefaultClient
	tok := e.token(t, "mcp:read")
	e.post(t, c, tok, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ok"}}`)
	e.post(t, c, tok, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"admin_tool"}}`)
	e.post(t, c, "", `{"jsonrpc":"2.0","id":1,"method":"ping"}`)
	want := []string{
		`mcp_auth_requests_total{reason="none",result="allowed"} 1`,
		`mcp_auth_requests_total{reason="insufficient_scope",result="denied"} 1`,
		`mcp_auth_requests_total{reason="missing_token",result="denied"} 1`,
		`mcp_auth_mcp_requests_total{method="tools/call",tool="ok"} 1`,
		fmt.Sprintf(`mcp_auth_keys_ready{issuer=%q} 1`, e.as.Issuer),
		fmt.Sprintf(`mcp_auth_validations_total{issuer=%q,result="valid"} 1`, e.as.Issuer),
	}
	check := func(when string) {
		t.Helper()
		m := scrapeText(t, e.admin)
		for _, w := range want {
			if !strings.Contains(m, w) {
				t.Errorf("%s: /metrics lacks %s", when, w)
			}
		}
	}
	check("before the reload")
	cfg, err := sidecar.Parse([]byte(strings.Replace(e.yaml, "admin_tool: [mcp:admin]", "admin_tool: [mcp:root]", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.app.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	check("after the reload")
	e.post(t, c, tok, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ok"}}`)
	if m := scrapeText(t, e.admin); !strings.Contains(m, `mcp_auth_requests_total{reason="none",result="allowed"} 2`) {
		t.Errorf("the counter did not go on after the reload")
	}
}

// TestTracingOTLP: tracing.enabled with an endpoint exports the spans of
// a request over OTLP/HTTP to a collector (an in-process receiver here):
// the request span (server) with its validation, policy and upstream
// children, the service name, and the MCP attributes; the upstream
// receives the upstream span's traceparent.
func TestTracingOTLP(t *testing.T) {
	rcv := otlptest.New(t)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
	e := startObs(t, "tracing:\n  enabled: true\n  endpoint: "+rcv.URL+"\n", nil)
	if status := e.post(t, http.DefaultClient, e.token(t, "mcp:read"), `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"ok"}}`); status != 200 {
		t.Fatalf("status %d", status)
	}
	spans := rcv.Wait(t, 10*time.Second, func(s []otlptest.Span) bool { return len(s) >= 4 })
	root := otlptest.Named(spans, "tools/call ok")
	if len(root) != 1 {
		t.Fatalf("no request span: %+v", spans)
	}
	r := root[0]
	if r.Service != "mcp-sidecar" || r.Kind.String() != "SPAN_KIND_SERVER" || r.ParentID != "" {
		t.Errorf("request span: %+v", r)
	}
	for k, v := range map[string]any{"mcp.method.name": "tools/call", "gen_ai.tool.name": "ok", "mcp_auth.result": "allowed",
		"http.response.status_code": int64(200), "mcp_auth.client_id": "cli-9"} {
		if r.Attrs[k] != v {
			t.Errorf("request span %s = %v, want %v", k, r.Attrs[k], v)
		}
	}
	for _, name := range []string{"mcp_auth.validate", "mcp_auth.policy", "mcp_auth.upstream"} {
		c := otlptest.Named(spans, name)
		if len(c) != 1 || c[0].ParentID != r.SpanID || c[0].TraceID != r.TraceID {
			t.Fatalf("%s: %+v (request span %s)", name, c, r.SpanID)
		}
	}
	up := otlptest.Named(spans, "mcp_auth.upstream")[0]
	if got, want := e.up.Last().Header.Get("Traceparent"), "00-"+r.TraceID+"-"+up.SpanID+"-01"; got != want {
		t.Errorf("upstream traceparent %q, want %q", got, want)
	}
}

// TestObservabilityKeysChecked: log_sampling and tracing are checked with
// the rest of the config, each problem naming its key.
func TestObservabilityKeysChecked(t *testing.T) {
	base := "upstream: http://127.0.0.1:3000\nresource: https://mcp.example.com/mcp\nauthorization_servers:\n  - issuer: https://as.example.com\n    jwks_uri: https://as.example.com/jwks\n"
	for extra, field := range map[string]string{
		"log_sampling:\n  initial: 0\n":                   "log_sampling.initial",
		"log_sampling:\n  initial: 1\n  thereafter: -1\n": "log_sampling.thereafter",
		"tracing:\n  enabled: true\n  protocol: thrift\n": "tracing.protocol",
		"tracing:\n  endpoint: collector:4318\n":          "tracing.endpoint",
		"tracing:\n  sample_ratio: 1.5\n":                 "tracing.sample_ratio",
		"tracing:\n  enabeld: true\n":                     "tracing.enabeld",
	} {
		_, err := sidecar.Parse([]byte(base + extra))
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%q: %v, want an error naming %s", extra, err, field)
		}
	}
	if _, err := sidecar.Parse([]byte(base + "log_sampling: {initial: 100, thereafter: 100}\ntracing:\n  enabled: true\n  protocol: grpc\n  endpoint: http://otel:4317\n  sample_ratio: 0.25\n")); err != nil {
		t.Fatalf("valid keys: %v", err)
	}
}
