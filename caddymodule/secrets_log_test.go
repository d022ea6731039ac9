package caddymodule

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
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

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/behaviour"
	"github.com/mcp-frontdoor/mcp-frontdoor/internal/jwkstest"
)

// logTestUpstream is an MCP-ish server that records the headers it gets.
// POST: initialize sets Mcp-Session-Id up-session-9; tools/call "bad"
// answers 502; anything else a JSON result. GET streams one SSE event and
// then holds the stream open until the client is gone (disconnected is
// closed then).
type logTestUpstream struct {
	URL          string
	mu           sync.Mutex
	seen         []http.Header
	disconnected chan struct{}
	once         sync.Once
}

func newLogTestUpstream(t *testing.T) *logTestUpstream {
	t.Helper()
	u := &logTestUpstream{disconnected: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(u.serve), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	u.URL = "http://" + ln.Addr().String()
	return u
}

func (u *logTestUpstream) headers() []http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]http.Header(nil), u.seen...)
}

func (u *logTestUpstream) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.seen = append(u.seen, r.Header.Clone())
	u.mu.Unlock()
	switch {
	case r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "id: s1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progress\":1}}\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			u.once.Do(func() { close(u.disconnected) })
		case <-time.After(10 * time.Second):
		}
	case bytes.Contains(b, []byte(`"initialize"`)):
		w.Header().Set("Mcp-Session-Id", "up-session-9")
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-11-25","capabilities":{},"serverInfo":{"name":"up","version":"1"}}}`)
	case bytes.Contains(b, []byte(`"name":"bad"`)):
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprint(w, "upstream of the upstream is down")
	default:
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"jsonrpc":"2.0","id":2,"result":{"content":[{"type":"text","text":"ok"}]}}`)
	}
}

// mcpPost sends a JSON-RPC POST with a bearer token (and a session id).
func mcpPost(t *testing.T, url, tok, sid, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
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

// waitForFile waits until the file contains want.
func waitForFile(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if bytes.Contains(b, []byte(want)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never logged %q:\n%s", filepath.Base(path), want, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSecretsNeverInCaddyLogs: with every Caddy log at DEBUG (reverse_proxy
// with verbose_logs, the default logger and the access log in files), a
// session, tool calls, an upstream 502, an SSE stream the client drops
// (reverse_proxy's "aborting with incomplete response" warning), an
// upstream that is down and rejected tokens leave no secret header value,
// bearer token or session key in any log line, while the MCP server gets
// the secret headers.
func TestSecretsNeverInCaddyLogs(t *testing.T) {
	const (
		apiKey     = "sk-live-5ecret-A91f2c"
		tenant     = "tenant-5ecret-77b0"
		sessionKey = "sess-5ecret-key-0123456789abcdef"
		// canary is set with header_up: logged, as secrets would be if
		// they were on the request reverse_proxy logs.
		canary = "canary-header-3c1d"
	)
	k := jwkstest.NewKey(t, "k", "ES256")
	as := jwkstest.NewServer(t, k)
	up := newLogTestUpstream(t)
	addr, down := behaviour.FreeAddr(t), behaviour.FreeAddr(t) // nothing listens on down
	resource := "http://" + addr + "/mcp"
	dir := t.TempDir()
	logFile, accessFile, tenantFile := filepath.Join(dir, "caddy.log"), filepath.Join(dir, "access.log"), filepath.Join(dir, "tenant")
	if err := os.WriteFile(tenantFile, []byte(tenant+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LOGTEST_API_KEY", apiKey)
	t.Setenv("LOGTEST_SESSION_KEY", sessionKey)
	t.Setenv("LOGTEST_CANARY", canary)
	cfg := globals(t, "\tlog {\n\t\toutput file "+logFile+"\n\t\tlevel DEBUG\n\t}\n") + fmt.Sprintf(`http://:%s {
	bind 127.0.0.1
	log {
		output file %s
		level DEBUG
	}
	mcp_auth {
		resource %s
		authorization_server %s {
			jwks_uri %s
		}
		secret_headers {
			X-Api-Key {env.LOGTEST_API_KEY}
			X-Tenant file %s
		}
		session_key {env.LOGTEST_SESSION_KEY}
	}
	handle /down/* {
		reverse_proxy %s {
			transport mcp_auth
			verbose_logs
		}
	}
	handle {
		reverse_proxy %s {
			transport mcp_auth {
				keepalive_idle_conns_per_host 4
			}
			header_up X-Canary {env.LOGTEST_CANARY}
			verbose_logs
		}
	}
}
`, portOf(addr), accessFile, resource, as.Issuer, as.JWKSURL(), tenantFile, down, up.URL)
	loadCaddy(t, cfg)

	tok := token(t, k, as.Issuer, resource)
	wrongAud := token(t, k, as.Issuer, "https://other.example.com/mcp")
	opaque := "opaque-5ecret-bearer-9d2e"
	tokens := []string{tok, wrongAud, opaque}

	// A session, and a tool call in it.
	resp, _ := mcpPost(t, resource, tok, "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`)
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != 200 || sid == "" || sid == "up-session-9" {
		t.Fatalf("initialize: %d, session id %q", resp.StatusCode, sid)
	}
	if resp, body := mcpPost(t, resource, tok, sid, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"ok","arguments":{}}}`); resp.StatusCode != 200 || !strings.Contains(body, `"ok"`) {
		t.Fatalf("tools/call: %d %s", resp.StatusCode, body)
	}
	// The upstream answers 502.
	if resp, _ := mcpPost(t, resource, tok, sid, `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"bad","arguments":{}}}`); resp.StatusCode == 0 {
		t.Fatal("no answer for the upstream's 502")
	}
	// An SSE stream the client drops mid-stream.
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, resource, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", sid)
	sse, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(sse.Body).ReadString('\n')
	if sse.StatusCode != 200 || err != nil || !strings.HasPrefix(line, "id: s1") {
		t.Fatalf("SSE stream: %d %q %v", sse.StatusCode, line, err)
	}
	cancel()
	_ = sse.Body.Close()
	select {
	case <-up.disconnected:
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream never saw the client go away")
	}
	waitForFile(t, logFile, "aborting with incomplete response")
	// The upstream is down.
	mcpPost(t, "http://"+addr+"/down/mcp", tok, "", `{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"ok","arguments":{}}}`)
	waitForFile(t, logFile, "upstream request failed")
	// Rejected tokens.
	for _, bad := range []string{wrongAud, opaque} {
		if resp, _ := mcpPost(t, resource, bad, "", `{"jsonrpc":"2.0","id":5,"method":"tools/list"}`); resp.StatusCode != 401 {
			t.Fatalf("token %q: status %d, want 401", bad[:10], resp.StatusCode)
		}
	}
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}

	// The MCP server got the secrets on every request (4: initialize, two
	// tool calls, the stream), the client's token on none.
	seen := up.headers()
	if len(seen) != 4 {
		t.Fatalf("upstream got %d requests, want 4", len(seen))
	}
	for i, h := range seen {
		if h.Get("X-Api-Key") != apiKey || h.Get("X-Tenant") != tenant || h.Get("X-Canary") != canary || h.Get("X-Mcp-Subject") != "alice" {
			t.Errorf("upstream request %d: X-Api-Key %q, X-Tenant %q, X-Canary %q, X-Mcp-Subject %q", i, h.Get("X-Api-Key"), h.Get("X-Tenant"), h.Get("X-Canary"), h.Get("X-Mcp-Subject"))
		}
		if h.Get("Authorization") != "" {
			t.Errorf("upstream request %d carries Authorization", i)
		}
	}

	mainLog, _ := os.ReadFile(logFile)
	accessLog, _ := os.ReadFile(accessFile)
	// The logs are the ones that would leak: reverse_proxy logged the
	// upstream request's headers (with the identity and header_up ones).
	for _, want := range []string{"upstream roundtrip", "aborting with incomplete response", "connection refused", `"X-Mcp-Subject":["alice"]`, canary} {
		if !bytes.Contains(mainLog, []byte(want)) {
			t.Errorf("the DEBUG log lacks %q: the test no longer sees what it checks", want)
		}
	}
	if !bytes.Contains(accessLog, []byte(`"status":401`)) || !bytes.Contains(accessLog, []byte(`"user_id":"alice"`)) {
		t.Errorf("the access log lacks the requests:\n%s", accessLog)
	}
	forbidden := map[string]string{"X-Api-Key value": apiKey, "X-Tenant value": tenant, "session_key": sessionKey}
	for i, tk := range tokens {
		forbidden[fmt.Sprintf("bearer token %d", i)] = tk
		if j := strings.LastIndexByte(tk, '.'); j > 0 {
			forbidden[fmt.Sprintf("bearer token %d signature", i)] = tk[j+1:]
		}
	}
	for name, log := range map[string][]byte{"caddy.log": mainLog, "access.log": accessLog} {
		for what, v := range forbidden {
			if bytes.Contains(log, []byte(v)) {
				t.Errorf("%s contains the %s", name, what)
			}
		}
	}
	if t.Failed() && testing.Verbose() {
		t.Logf("caddy.log:\n%s\naccess.log:\n%s", mainLog, accessLog)
	}
}

// TestSecretHeadersNeedMCPAuthTransport: secret_headers in front of a
// reverse_proxy without `transport mcp_auth` fail the config load; where
// the load cannot see the reverse_proxy (a named route), the first proxied
// request logs the error, once, and the secrets still never leave.
func TestSecretHeadersNeedMCPAuthTransport(t *testing.T) {
	k := jwkstest.NewKey(t, "k", "ES256")
	as := jwkstest.NewServer(t, k)
	up := behaviour.NewUpstream(t)
	t.Setenv("TRANSPORT_TEST_SECRET", "s3cr3t-transport-test")
	secrets := "secret_headers {\n\t\t\tX-Api-Key {env.TRANSPORT_TEST_SECRET}\n\t\t}"
	adapt := func(cfg string) []byte {
		t.Helper()
		js, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cfg), nil)
		if err != nil {
			t.Fatalf("adapt: %v\n%s", err, cfg)
		}
		return js
	}
	for name, edit := range map[string]func(string) string{
		"plain reverse_proxy": func(s string) string { return s },
		"transport http": func(s string) string {
			return strings.Replace(s, "reverse_proxy "+up.URL, "reverse_proxy "+up.URL+" {\n\t\ttransport http\n\t}", 1)
		},
		"mcp_auth in a route": func(s string) string {
			i, j := strings.Index(s, "\tmcp_auth {"), strings.Index(s, "\treverse_proxy")
			return s[:i] + "\troute {\n" + s[i:j] + "\t}\n" + s[j:]
		},
		"handle reverse_proxy": func(s string) string {
			return strings.Replace(s, "reverse_proxy "+up.URL, "handle /mcp {\n\t\treverse_proxy "+up.URL+"\n\t}", 1)
		},
	} {
		t.Run(name, func(t *testing.T) {
			addr := behaviour.FreeAddr(t)
			resource := "http://" + addr + "/mcp"
			cfg := globals(t, "") + edit(site(addr, resource, as.Issuer, as.JWKSURL(), up.URL, secrets, ""))
			err := caddy.Load(adapt(cfg), true)
			if err == nil {
				_ = caddy.Stop()
				t.Fatalf("config loaded:\n%s", cfg)
			}
			if !strings.Contains(err.Error(), "add `transport mcp_auth` to that reverse_proxy") {
				t.Fatalf("load error = %v", err)
			}
		})
	}

	// A named route: only the request shows the mistake.
	addr := behaviour.FreeAddr(t)
	resource := "http://" + addr + "/mcp"
	logFile := filepath.Join(t.TempDir(), "caddy.log")
	cfg := globals(t, "\tlog {\n\t\toutput file "+logFile+"\n\t}\n") + "&(upstream) {\n\treverse_proxy " + up.URL + "\n}\n" +
		strings.Replace(site(addr, resource, as.Issuer, as.JWKSURL(), up.URL, secrets, ""), "reverse_proxy "+up.URL, "invoke upstream", 1)
	loadCaddy(t, cfg)
	tok := token(t, k, as.Issuer, resource)
	for range 2 {
		if resp, _ := get(t, resource, tok); resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	if got := up.Last().Header.Get("X-Api-Key"); got != "" {
		t.Fatalf("upstream got X-Api-Key %q without the mcp_auth transport", got)
	}
	_ = caddy.Stop()
	b, _ := os.ReadFile(logFile)
	if n := bytes.Count(b, []byte("secret_headers were not sent")); n != 1 {
		t.Fatalf("the error was logged %d times, want once:\n%s", n, b)
	}
	if !bytes.Contains(b, []byte("add `transport mcp_auth` to that reverse_proxy")) {
		t.Fatalf("the error does not name the fix:\n%s", b)
	}
}

// TestShippedCaddyfilesSendSecrets: in Caddyfile.example and every example
// Caddyfile, each mcp_auth with secret_headers is followed by a
// reverse_proxy with `transport mcp_auth` (what the config load checks).
func TestShippedCaddyfilesSendSecrets(t *testing.T) {
	files, _ := filepath.Glob("../examples/*/Caddyfile*")
	files = append(files, "../Caddyfile.example")
	t.Setenv("UPSTREAM_API_KEY", "x")
	t.Setenv("MCP_SESSION_KEY", "0123456789abcdef0123456789abcdef")
	withSecrets := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		js, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(b, map[string]any{"filename": f})
		if err != nil {
			t.Fatalf("adapt %s: %v", f, err)
		}
		var cfg struct {
			Apps struct {
				HTTP struct {
					Servers map[string]struct {
						Routes []rawRoute `json:"routes"`
					} `json:"servers"`
				} `json:"http"`
			} `json:"apps"`
		}
		if err := json.Unmarshal(js, &cfg); err != nil {
			t.Fatal(err)
		}
		var c routeCheck
		for _, srv := range cfg.Apps.HTTP.Servers {
			c.routes(srv.Routes, nil)
		}
		for _, s := range c.scopes {
			withSecrets++
			if s.viaMCPAuth == 0 {
				t.Errorf("%s: an mcp_auth with secret_headers has no reverse_proxy with transport mcp_auth after it", f)
			}
		}
	}
	if withSecrets == 0 {
		t.Fatal("no shipped Caddyfile uses secret_headers: the check checks nothing")
	}
}
