//lint:file-ignore SA1019 sampling (deprecated in 2026-07-28, still in the protocol) is exercised on purpose

package stdiobridge_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/jwkstest"
	"github.com/mcp-frontdoor/mcp-frontdoor/internal/stdiotest"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/frontdoor"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/mcpproxy"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/stdiobridge"
)

func TestMain(m *testing.M) {
	stdiotest.MaybeServe() // the child process of these tests
	os.Exit(m.Run())
}

const secret = "s3cret-value-never-logged"

type env struct {
	url   string
	key   jwkstest.Key
	as    *jwkstest.Server
	fd    *frontdoor.FrontDoor
	reg   *prometheus.Registry
	logs  *observer.ObservedLogs
	stdio stdiobridge.Options
}

func start(t *testing.T, mod func(*stdiobridge.Options)) *env {
	t.Helper()
	e := &env{key: jwkstest.NewKey(t, "k1", "ES256"), reg: prometheus.NewRegistry()}
	e.as = jwkstest.NewServer(t, e.key)
	srv := httptest.NewUnstartedServer(nil)
	e.url = "http://" + srv.Listener.Addr().String() + "/mcp"
	e.stdio = stdiobridge.Options{
		Command:     []string{os.Args[0], "-test.run=^$"},
		Env:         map[string]string{stdiotest.EnvServe: "1"},
		IdentityEnv: stdiobridge.IdentityEnv{Claims: map[string]string{"MCP_EMAIL": "email"}},
		SecretEnv:   []stdiobridge.SecretEnv{{Name: "SECRET_TOKEN", Env: "BRIDGE_TEST_SECRET"}},
	}
	if mod != nil {
		mod(&e.stdio)
	}
	t.Setenv("BRIDGE_TEST_SECRET", secret)
	o := frontdoor.Options{
		Config: rs.Config{Resource: e.url, AuthorizationServers: []rs.AuthorizationServer{{Issuer: e.as.Issuer, JWKSURI: e.as.JWKSURL()}}},
		Policy: mcpproxy.Policy{RequiredScopes: mcpproxy.RequiredScopes{Tools: map[string][]string{"admin": {"mcp:admin"}}}},
		Stdio:  &e.stdio,
	}
	core, logs := observer.New(zap.DebugLevel)
	e.logs = logs
	fd, err := frontdoor.Compile(o, frontdoor.Env{Proxy: true, Registerer: e.reg, Logger: zap.New(core)})
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
		if err := fd.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
		fd.Validator().Close()
	})
	return e
}

func (e *env) token(t *testing.T, sub string) string {
	return e.key.Sign(t, jwt.MapClaims{"iss": e.as.Issuer, "sub": sub, "aud": e.url, "exp": time.Now().Add(time.Hour).Unix(),
		"iat": time.Now().Unix(), "email": sub + "@example.com", "scope": "mcp:read"}, nil)
}

// connect opens a Go SDK client session as sub.
func (e *env) connect(t *testing.T, sub string, opts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	return stdiotest.Connect(t, e.url, e.token(t, sub), opts)
}

func whoami(t *testing.T, cs *mcp.ClientSession) stdiotest.Who { return stdiotest.CallWhoami(t, cs) }

// TestOneProcessPerCaller: two callers get two processes with their own
// identity; the secret reaches the child's environment and nothing else
// of the front door's environment does.
func TestOneProcessPerCaller(t *testing.T) {
	e := start(t, nil)
	a := whoami(t, e.connect(t, "alice", nil))
	b := whoami(t, e.connect(t, "bob", nil))
	if a.PID == b.PID || a.Subject != "alice" || b.Subject != "bob" || a.Email != "alice@example.com" {
		t.Fatalf("alice %+v, bob %+v", a, b)
	}
	sum := sha256.Sum256([]byte(secret))
	if a.Secret != hex.EncodeToString(sum[:]) {
		t.Errorf("the child did not get SECRET_TOKEN")
	}
	want := []string{"HOME", "MCP_EMAIL", "MCP_SUBJECT", "PATH", "SECRET_TOKEN", stdiotest.EnvServe}
	got := slices.DeleteFunc(slices.Sorted(slices.Values(a.EnvKeys)), func(k string) bool { return k == "HOME" && os.Getenv("HOME") == "" })
	if os.Getenv("HOME") == "" {
		want = slices.DeleteFunc(want, func(k string) bool { return k == "HOME" })
	}
	if !slices.Equal(got, want) {
		t.Errorf("child environment %v, want exactly %v", got, want)
	}
	if n := testutil.ToFloat64(mustGauge(t, e.reg, "mcp_auth_stdio_processes")); n != 2 {
		t.Errorf("processes gauge = %v, want 2", n)
	}
}

func mustGauge(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: name}, func() float64 { return mf.GetMetric()[0].GetGauge().GetValue() })
		}
	}
	t.Fatalf("no metric %s", name)
	return nil
}

// post sends one JSON-RPC body with the token of sub.
func (e *env) post(t *testing.T, sub, sid, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", e.url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.token(t, sub))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if sid != "" {
		req.Header.Set("Mcp-Session-Id", sid)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

const initBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`

// TestSessionsBelongToTheirCaller: bob cannot use alice's session id;
// without a session a request is refused clearly (stateless clients).
func TestSessionsBelongToTheirCaller(t *testing.T) {
	e := start(t, nil)
	resp, body := e.post(t, "alice", "", initBody)
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != 200 || sid == "" || !strings.Contains(body, `"serverInfo"`) {
		t.Fatalf("initialize = %d %q %q", resp.StatusCode, sid, body)
	}
	resp, body = e.post(t, "bob", sid, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
	if resp.StatusCode != 404 || body != `{"jsonrpc":"2.0","id":null,"error":{"code":-32001,"message":"Session not found"}}` {
		t.Fatalf("bob with alice's session = %d %q", resp.StatusCode, body)
	}
	resp, body = e.post(t, "alice", sid, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
	if resp.StatusCode != 200 || !strings.Contains(body, `"whoami"`) || !strings.HasPrefix(body, "event: message\ndata: ") {
		t.Fatalf("alice tools/list = %d %q", resp.StatusCode, body)
	}
	resp, body = e.post(t, "alice", "", `{"jsonrpc":"2.0","id":3,"method":"tools/list"}`)
	if resp.StatusCode != 400 || body != `{"jsonrpc":"2.0","id":3,"error":{"code":-32600,"message":"Bad Request: Mcp-Session-Id required; this MCP server runs one process per session, so send initialize first"}}` {
		t.Fatalf("stateless request = %d %q", resp.StatusCode, body)
	}
	resp, body = e.post(t, "alice", sid, `{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"admin"}}`)
	if resp.StatusCode != 403 {
		t.Fatalf("the scope policy applies: %d %q", resp.StatusCode, body)
	}
}

// TestServerRequestsAndProgress: sampling from the child reaches the
// client and its answer reaches the child; progress arrives.
func TestServerRequestsAndProgress(t *testing.T) {
	e := start(t, nil)
	var mu sync.Mutex
	var progress []float64
	cs := e.connect(t, "alice", &mcp.ClientOptions{
		CreateMessageHandler: func(context.Context, *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			return &mcp.CreateMessageResult{Model: "m", Role: "assistant", Content: &mcp.TextContent{Text: "pong"}}, nil
		},
		ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
			mu.Lock()
			progress = append(progress, r.Params.Progress)
			mu.Unlock()
		},
	})
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "sample"})
	if err != nil || len(res.Content) != 1 || res.Content[0].(*mcp.TextContent).Text != "sampled: pong" {
		t.Fatalf("sample = %+v, %v", res, err)
	}
	p := &mcp.CallToolParams{Name: "slow"}
	p.SetProgressToken("tok-1")
	if res, err = cs.CallTool(context.Background(), p); err != nil || res.Content[0].(*mcp.TextContent).Text != "slept" {
		t.Fatalf("slow = %+v, %v", res, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(progress, []float64{1}) {
		t.Errorf("progress = %v, want [1]", progress)
	}
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func waitGone(t *testing.T, pid int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still runs after %v", pid, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestChildCrash: a call the process dies in gets the agent-safe error,
// the session's next request 404 (so the client starts over).
func TestChildCrash(t *testing.T) {
	e := start(t, nil)
	resp, _ := e.post(t, "alice", "", initBody)
	sid := resp.Header.Get("Mcp-Session-Id")
	e.post(t, "alice", sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	resp, body := e.post(t, "alice", sid, `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"crash","arguments":{}}}`)
	want := "event: message\ndata: " + `{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"The MCP server process ended before it answered; start a new session."}],"isError":true,"_meta":{"arcade":{"errorKind":"UPSTREAM_RUNTIME_SERVER_ERROR","canRetry":true}}}}` + "\n\n"
	if resp.StatusCode != 200 || body != want {
		t.Fatalf("crash = %d\n%q\nwant\n%q", resp.StatusCode, body, want)
	}
	resp, body = e.post(t, "alice", sid, `{"jsonrpc":"2.0","id":8,"method":"tools/list"}`)
	if resp.StatusCode != 404 {
		t.Fatalf("after the crash = %d %q, want 404", resp.StatusCode, body)
	}
	for deadline := time.Now().Add(5 * time.Second); e.fd.Bridge().Sessions() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions left", e.fd.Bridge().Sessions())
		}
	}
}

// TestDeleteAndIdleEndTheProcess: DELETE and the idle timeout stop it.
func TestDeleteAndIdleEndTheProcess(t *testing.T) {
	e := start(t, func(o *stdiobridge.Options) { o.IdleTimeout = rs.Duration(300 * time.Millisecond) })
	pidOf := func(sid string) int {
		_, body := e.post(t, "alice", sid, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"whoami","arguments":{}}}`)
		var ev struct {
			Result struct {
				StructuredContent stdiotest.Who `json:"structuredContent"`
			} `json:"result"`
		}
		data := strings.TrimSuffix(strings.TrimPrefix(body, "event: message\ndata: "), "\n\n")
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			t.Fatalf("whoami body %q: %v", body, err)
		}
		return ev.Result.StructuredContent.PID
	}
	resp, _ := e.post(t, "alice", "", initBody)
	sid := resp.Header.Get("Mcp-Session-Id")
	pid := pidOf(sid)
	req, _ := http.NewRequest("DELETE", e.url, nil)
	req.Header.Set("Authorization", "Bearer "+e.token(t, "alice"))
	req.Header.Set("Mcp-Session-Id", sid)
	dresp, err := http.DefaultClient.Do(req)
	if err != nil || dresp.StatusCode != 204 {
		t.Fatalf("DELETE = %v %v", dresp, err)
	}
	waitGone(t, pid, 5*time.Second)

	resp, _ = e.post(t, "alice", "", initBody)
	pid = pidOf(resp.Header.Get("Mcp-Session-Id"))
	waitGone(t, pid, 3*time.Second) // idle after 300 ms
	time.Sleep(50 * time.Millisecond)
	for _, reason := range []string{"deleted", "idle"} {
		if n := counter(t, e.reg, "mcp_auth_stdio_exits_total", reason); n != 1 {
			t.Errorf("exits{%s} = %v", reason, n)
		}
	}
}

func counter(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == label {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestLimits: beyond max_per_caller 429, beyond max_processes 503, each
// with Retry-After and a metric; a command that does not exist is a
// clear JSON-RPC error.
func TestLimits(t *testing.T) {
	e := start(t, func(o *stdiobridge.Options) { o.MaxProcesses, o.MaxPerCaller = 2, 1 })
	if resp, _ := e.post(t, "alice", "", initBody); resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	resp, body := e.post(t, "alice", "", initBody)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("second process of alice = %d %q", resp.StatusCode, body)
	}
	if resp, _ := e.post(t, "bob", "", initBody); resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	resp, body = e.post(t, "carol", "", initBody)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("third process = %d %q", resp.StatusCode, body)
	}
	if counter(t, e.reg, "mcp_auth_stdio_refusals_total", "max_per_caller") != 1 || counter(t, e.reg, "mcp_auth_stdio_refusals_total", "max_processes") != 1 {
		t.Error("refusal metrics not counted")
	}

	bad := start(t, func(o *stdiobridge.Options) { o.Command = []string{"/nonexistent/mcp-server"} })
	resp, body = bad.post(t, "alice", "", initBody)
	if resp.StatusCode != 200 || body != `{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"The MCP server process could not be started.","data":{"errorKind":"TOOLKIT_LOAD_FAILED","canRetry":false}}}` {
		t.Fatalf("missing command = %d %q", resp.StatusCode, body)
	}
}

// TestStopOrder: a process that ignores its closed stdin and SIGTERM is
// killed after two grace periods; Close waits for it.
func TestStopOrder(t *testing.T) {
	e := start(t, func(o *stdiobridge.Options) {
		o.Env[stdiotest.EnvStubborn] = "1"
		o.ShutdownGrace = rs.Duration(200 * time.Millisecond)
	})
	resp, _ := e.post(t, "alice", "", initBody)
	if resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.fd.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Errorf("stopped after %v: SIGKILL must come after two grace periods", d)
	}
	if counter(t, e.reg, "mcp_auth_stdio_exits_total", "shutdown") != 1 {
		t.Error("exit not counted as shutdown")
	}
}

// TestNoLeaks: many sessions opened and closed leave no process and no
// goroutine behind.
func TestNoLeaks(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 40
	}
	e := start(t, func(o *stdiobridge.Options) { o.MaxPerCaller = 16 })
	base := runtime.NumGoroutine()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			sub := "user-" + strconv.Itoa(i)
			resp, _ := e.post(t, sub, "", initBody)
			sid := resp.Header.Get("Mcp-Session-Id")
			if resp.StatusCode != 200 || sid == "" {
				t.Errorf("initialize = %d", resp.StatusCode)
				return
			}
			req, _ := http.NewRequest("DELETE", e.url, nil)
			req.Header.Set("Authorization", "Bearer "+e.token(t, sub))
			req.Header.Set("Mcp-Session-Id", sid)
			if r, err := http.DefaultClient.Do(req); err == nil {
				r.Body.Close()
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(20 * time.Second)
	for e.fd.Bridge().Sessions() > 0 || runtime.NumGoroutine() > base+5 || counter(t, e.reg, "mcp_auth_stdio_exits_total", "deleted") < float64(n) {
		http.DefaultClient.CloseIdleConnections()
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions, %d goroutines (base %d) left after %d sessions", e.fd.Bridge().Sessions(), runtime.NumGoroutine(), base, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, r := range []string{"exited", "idle", "shutdown", "start_failed"} {
		if got := counter(t, e.reg, "mcp_auth_stdio_exits_total", r); got != 0 {
			t.Errorf("exits{%s} = %v", r, got)
		}
	}
	if got := counter(t, e.reg, "mcp_auth_stdio_exits_total", "deleted"); got != float64(n) {
		t.Errorf("exits{deleted} = %v, want %d", got, n)
	}
}

// TestSigkillMidCall: a process killed (SIGKILL) while a call waits gives
// that call the agent-safe error; no log line at any level holds the
// secret or the token.
func TestSigkillMidCall(t *testing.T) {
	e := start(t, nil)
	resp, _ := e.post(t, "alice", "", initBody)
	sid := resp.Header.Get("Mcp-Session-Id")
	e.post(t, "alice", sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	_, body := e.post(t, "alice", sid, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"whoami","arguments":{}}}`)
	var ev struct {
		Result struct {
			StructuredContent stdiotest.Who `json:"structuredContent"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSuffix(strings.TrimPrefix(body, "event: message\ndata: "), "\n\n")), &ev); err != nil {
		t.Fatalf("whoami %q: %v", body, err)
	}
	pid := ev.Result.StructuredContent.PID
	done := make(chan string, 1)
	go func() {
		_, b := e.post(t, "alice", sid, `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"slow","arguments":{}}}`)
		done <- b
	}()
	time.Sleep(100 * time.Millisecond) // the call is with the process (it sleeps 300 ms)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-done:
		want := "event: message\ndata: " + `{"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"The MCP server process ended before it answered; start a new session."}],"isError":true,"_meta":{"arcade":{"errorKind":"UPSTREAM_RUNTIME_SERVER_ERROR","canRetry":true}}}}` + "\n\n"
		if b != want {
			t.Fatalf("the call the process died in = %q\nwant %q", b, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the pending call never got an answer")
	}
	tok := e.token(t, "alice")
	for _, l := range e.logs.All() {
		line := l.Message
		for _, f := range l.Context {
			line += " " + f.String + " " + f.Key
			if f.Interface != nil {
				line += " " + fmt.Sprint(f.Interface)
			}
		}
		if strings.Contains(line, secret) || strings.Contains(line, tok[strings.LastIndexByte(tok, '.')+1:]) {
			t.Fatalf("a log line holds a secret: %q", line)
		}
	}
	if len(e.logs.FilterMessage("stdio: MCP server stderr").All()) == 0 {
		t.Error("the child's stderr was not logged")
	}
}
