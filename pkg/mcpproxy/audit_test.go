package mcpproxy_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/jwkstest"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/frontdoor"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/mcpproxy"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/ratelimit"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

// Values that must never appear in an audit event.
const (
	auditSecretHeader = "s3cr3t-header-value"
	auditArgument     = "top-secret-argument-value"
	auditUpstreamSID  = "upstream-session-42"
	auditSessionKey   = "audit-test-session-key-32-bytes!"
)

// auditFixture is the sidecar's handler (real Guard, reverse proxy,
// ResponseWriter) with its audit events observed, between a client and a
// scripted upstream.
type auditFixture struct {
	url    string
	issuer string
	key    jwkstest.Key
	binder *mcpproxy.SessionBinder
	events *observer.ObservedLogs

	mu       sync.Mutex
	upstream http.HandlerFunc
	hits     int
	tokens   []string
}

// newAuditFixture: tools/call of "delete" needs mcp:admin; a secret
// header is sent upstream; policy edits the policy.
func newAuditFixture(t *testing.T, policy func(*mcpproxy.Policy), opts ...func(*mcpproxy.Options)) *auditFixture {
	t.Helper()
	f := &auditFixture{key: jwkstest.NewKey(t, "k1", "ES256")}
	as := jwkstest.NewServer(t, f.key)
	f.issuer = as.Issuer
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		f.mu.Lock()
		h := f.upstream
		f.hits++
		f.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(up.Close)
	srv := httptest.NewUnstartedServer(nil)
	f.url = "http://" + srv.Listener.Addr().String()
	rc, err := rs.Config{Resource: f.url + "/mcp", AuthorizationServers: []rs.AuthorizationServer{{Issuer: as.Issuer, JWKSURI: as.JWKSURL()}}}.Normalized()
	if err != nil {
		t.Fatal(err)
	}
	p := mcpproxy.Policy{Upstream: up.URL, RequiredScopes: mcpproxy.RequiredScopes{Tools: map[string][]string{"delete": {"mcp:admin"}}}}
	if policy != nil {
		policy(&p)
	}
	pc, err := p.Normalized(mcpproxy.UpstreamRequired)
	if err != nil {
		t.Fatal(err)
	}
	v, err := rs.NewValidator(rc, rs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v.Start()
	t.Cleanup(v.Close)
	inj, err := mcpproxy.NewInjector(mcpproxy.IdentityHeaders{}, []mcpproxy.SecretHeader{{Header: "X-Api-Key", Value: auditSecretHeader}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	core, events := observer.New(zapcore.InfoLevel)
	f.events = events
	o := mcpproxy.Options{Logger: zap.NewNop(), SessionKey: []byte(auditSessionKey), AuditLog: zap.New(core).Named("audit")}
	for _, mod := range opts {
		mod(&o)
	}
	h, err := mcpproxy.New(&rc, &pc, v, inj, o)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = h
	srv.Start()
	t.Cleanup(srv.Close)
	if f.binder, err = mcpproxy.NewSessionBinder([]byte(auditSessionKey)); err != nil {
		t.Fatal(err)
	}
	f.setUpstream(jsonResult(`{"content":[{"type":"text","text":"ok"}]}`))
	return f
}

func (f *auditFixture) setUpstream(h http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.upstream, f.hits = h, 0
}

func (f *auditFixture) upstreamHits() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits
}

// token signs a token for alice (client cli-1) with scope mcp:read.
func (f *auditFixture) token(t *testing.T) string {
	t.Helper()
	now := time.Now()
	tok := f.key.Sign(t, jwt.MapClaims{"iss": f.issuer, "sub": "alice", "aud": f.url + "/mcp", "scope": "mcp:read",
		"client_id": "cli-1", "exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}, nil)
	f.mu.Lock()
	f.tokens = append(f.tokens, tok)
	f.mu.Unlock()
	return tok
}

// post sends body with alice's token (and header, if any); it returns
// the status and the body of the answer.
func (f *auditFixture) post(t *testing.T, body string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.url+"/mcp", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+f.token(t))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return f.send(t, req)
}

func (f *auditFixture) send(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// take returns the audit events logged so far as JSON objects (as a JSON
// encoder would write them) and forgets them; each is checked for
// secrets.
func (f *auditFixture) take(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, e := range f.events.TakeAll() {
		if e.LoggerName != "audit" || e.Message != "mcp request" {
			t.Errorf("event logged as %q/%q", e.LoggerName, e.Message)
		}
		m := e.ContextMap()
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		f.mu.Lock()
		secrets := append([]string{auditSecretHeader, auditArgument, auditUpstreamSID, "Bearer", "Authorization", "authorization"}, f.tokens...)
		f.mu.Unlock()
		for _, s := range secrets {
			if strings.Contains(string(b), s) {
				t.Errorf("audit event holds a secret %q: %s", s, b)
			}
		}
		var back map[string]any
		_ = json.Unmarshal(b, &back)
		out = append(out, back)
	}
	return out
}

func jsonResult(result string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":`+result+`}`)
	}
}

func sseResult(result string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progress\":1}}\n\n")
		w.(http.Flusher).Flush()
		_, _ = io.WriteString(w, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":"+result+"}\n\n")
	}
}

const auditCall = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","arguments":{"query":"` + auditArgument + `"}}}`

// want checks the fields of ev; a nil value means the field is absent.
func want(t *testing.T, ev map[string]any, fields map[string]any) {
	t.Helper()
	for k, v := range fields {
		got, ok := ev[k]
		switch {
		case v == nil && ok:
			t.Errorf("%s = %v, want it absent (event %v)", k, got, ev)
		case v != nil && !ok:
			t.Errorf("%s absent, want %v (event %v)", k, v, ev)
		case v != nil && got != v:
			t.Errorf("%s = %v (%T), want %v (%T)", k, got, got, v, v)
		}
	}
}

func TestAuditAllowedToolCall(t *testing.T) {
	f := newAuditFixture(t, nil)
	sid := f.binder.Wrap(f.issuer, "alice", auditUpstreamSID)
	cases := []struct {
		name     string
		upstream http.HandlerFunc
		isError  any
	}{
		{"JSON result", jsonResult(`{"content":[{"type":"text","text":"ok"}],"structuredContent":{"n":1}}`), false},
		{"JSON error result", jsonResult(`{"content":[{"type":"text","text":"boom"}],"structuredContent":{"n":1},"isError":true}`), true},
		{"JSON error result without structuredContent", jsonResult(`{"content":[],"isError":true}`), true},
		{"SSE error result", sseResult(`{"content":[],"isError":true}`), true},
		{"SSE result", sseResult(`{"content":[],"isError":false}`), false},
		{"isError in another case is not isError", jsonResult(`{"content":[],"ISERROR":true}`), false},
		{"JSON-RPC error: no result", jsonResult(`null,"error":{"code":-32602,"message":"no"}`), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.setUpstream(tc.upstream)
			status, body := f.post(t, auditCall, map[string]string{"Mcp-Session-Id": sid})
			if status != 200 {
				t.Fatalf("status %d: %s", status, body)
			}
			evs := f.take(t)
			if len(evs) != 1 {
				t.Fatalf("%d events, want 1: %v", len(evs), evs)
			}
			ev := evs[0]
			want(t, ev, map[string]any{
				"method": "tools/call", "name": "search", "decision": "allowed", "reason": nil,
				"issuer": f.issuer, "subject": "alice", "client_id": "cli-1",
				"session": mcpproxy.SessionHash(sid), "status": float64(200), "is_error": tc.isError,
				"request_bytes": float64(len(auditCall)), "upstream_status": nil,
			})
			if s, _ := ev["session"].(string); len(s) != 16 || strings.Contains(sid, s) {
				t.Errorf("session = %q: want 16 hex digits of a hash", s)
			}
			if l, ok := ev["latency_ms"].(float64); !ok || l <= 0 {
				t.Errorf("latency_ms = %v", ev["latency_ms"])
			}
		})
	}
}

func TestAuditDenied(t *testing.T) {
	for _, denial := range []string{mcpproxy.DenyChallenge, mcpproxy.DenyError} {
		t.Run(denial, func(t *testing.T) {
			f := newAuditFixture(t, func(p *mcpproxy.Policy) { p.ScopeDenial = denial })
			body := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"delete","arguments":{"what":"` + auditArgument + `"}}}`
			status, _ := f.post(t, body, nil)
			if f.upstreamHits() != 0 {
				t.Fatal("a denied call reached the upstream")
			}
			evs := f.take(t)
			if len(evs) != 1 {
				t.Fatalf("%d events, want 1: %v", len(evs), evs)
			}
			want(t, evs[0], map[string]any{
				"method": "tools/call", "name": "delete", "decision": "denied", "reason": "insufficient_scope",
				"subject": "alice", "status": float64(status), "is_error": nil, "session": nil,
			})
		})
	}
}

func TestAuditSessionRefusedAfterPolicy(t *testing.T) {
	f := newAuditFixture(t, nil)
	other := f.binder.Wrap(f.issuer, "mallory", auditUpstreamSID)
	status, _ := f.post(t, auditCall, map[string]string{"Mcp-Session-Id": other})
	if status != 404 {
		t.Fatalf("status %d, want 404", status)
	}
	evs := f.take(t)
	if len(evs) != 1 {
		t.Fatalf("%d events, want 1: %v", len(evs), evs)
	}
	want(t, evs[0], map[string]any{"decision": "denied", "reason": "session", "status": float64(404), "session": mcpproxy.SessionHash(other)})
}

func TestAuditRateLimited(t *testing.T) {
	lim, err := ratelimit.New(ratelimit.Options{Tools: map[string]ratelimit.Limit{"search": {Rate: "1/h", Burst: 1}}}, ratelimit.Env{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lim.Close() })
	f := newAuditFixture(t, nil, func(o *mcpproxy.Options) { o.Limiter = lim })
	for _, status := range []int{200, 429} {
		if got, b := f.post(t, auditCall, nil); got != status {
			t.Fatalf("status %d, want %d: %s", got, status, b)
		}
	}
	evs := f.take(t)
	if len(evs) != 2 {
		t.Fatalf("%d events, want 2: %v", len(evs), evs)
	}
	want(t, evs[0], map[string]any{"decision": "allowed", "status": float64(200)})
	want(t, evs[1], map[string]any{"name": "search", "decision": "rate_limited", "reason": "rate_limited", "status": float64(429), "is_error": nil})
}

func TestAuditBatch(t *testing.T) {
	f := newAuditFixture(t, nil)
	f.setUpstream(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `[{"jsonrpc":"2.0","id":"r","result":{"contents":[]}},{"jsonrpc":"2.0","id":1,"result":{"content":[],"isError":true}}]`)
	})
	body := `[` + auditCall + `,{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}},` +
		`{"jsonrpc":"2.0","id":"r","method":"resources/read","params":{"uri":"file:///a"}},` +
		`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"other"}}]`
	if status, b := f.post(t, body, nil); status != 200 {
		t.Fatalf("status %d: %s", status, b)
	}
	evs := f.take(t)
	if len(evs) != 4 {
		t.Fatalf("%d events, want one per message: %v", len(evs), evs)
	}
	wants := []map[string]any{
		{"method": "tools/call", "name": "search", "is_error": true},
		{"method": "notifications/progress", "name": nil, "is_error": nil},
		{"method": "resources/read", "name": "file:///a", "is_error": nil},
		{"method": "tools/call", "name": "other", "is_error": nil}, // no result for id 2
	}
	for i, w := range wants {
		w["decision"], w["status"], w["request_bytes"] = "allowed", float64(200), float64(len(body))
		want(t, evs[i], w)
	}
}

func TestAuditUpstreamFailure(t *testing.T) {
	f := newAuditFixture(t, nil)
	f.setUpstream(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, "db password="+auditSecretHeader)
	})
	if status, b := f.post(t, auditCall, nil); status != 200 {
		t.Fatalf("status %d: %s", status, b)
	}
	evs := f.take(t)
	if len(evs) != 1 {
		t.Fatalf("%d events: %v", len(evs), evs)
	}
	want(t, evs[0], map[string]any{"decision": "allowed", "status": float64(200), "upstream_status": float64(500), "is_error": true})
}

func TestAuditRewriteOff(t *testing.T) {
	f := newAuditFixture(t, func(p *mcpproxy.Policy) { p.StripErrorStructuredContent = new(bool) })
	f.setUpstream(jsonResult(`{"content":[],"isError":true}`))
	f.post(t, auditCall, nil)
	evs := f.take(t)
	if len(evs) != 1 {
		t.Fatalf("%d events: %v", len(evs), evs)
	}
	want(t, evs[0], map[string]any{"decision": "allowed", "is_error": nil})
}

// Requests that did not reach the policy are not audited.
func TestAuditNotReachingPolicy(t *testing.T) {
	f := newAuditFixture(t, nil)
	reqs := map[string]func() *http.Request{
		"no token": func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, f.url+"/mcp", strings.NewReader(auditCall))
			r.Header.Set("Content-Type", "application/json")
			return r
		},
		"invalid token": func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, f.url+"/mcp", strings.NewReader(auditCall))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Authorization", "Bearer not-a-jwt")
			return r
		},
		"protected resource metadata": func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, f.url+"/.well-known/oauth-protected-resource/mcp", nil)
			return r
		},
		"preflight": func() *http.Request {
			r, _ := http.NewRequest(http.MethodOptions, f.url+"/mcp", nil)
			r.Header.Set("Origin", f.url)
			r.Header.Set("Access-Control-Request-Method", "POST")
			return r
		},
		"body that is not JSON-RPC": func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, f.url+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1}`))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Authorization", "Bearer "+f.token(t))
			return r
		},
		"GET stream": func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, f.url+"/mcp", nil)
			r.Header.Set("Authorization", "Bearer "+f.token(t))
			return r
		},
	}
	f.setUpstream(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusMethodNotAllowed) })
	for name, mk := range reqs {
		t.Run(name, func(t *testing.T) {
			f.send(t, mk())
			if evs := f.take(t); len(evs) != 0 {
				t.Errorf("audited: %v", evs)
			}
		})
	}
}

func TestAuditFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	if err := os.WriteFile(path, []byte("{\"earlier\":true}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for range 2 { // opened again (a reload): appended to
		log, err := mcpproxy.NewAuditLog(mcpproxy.AuditOptions{File: path}, zap.NewNop(), nil)
		if err != nil {
			t.Fatal(err)
		}
		log.Info("mcp request", zap.String("method", "tools/call"))
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 3 || lines[0] != `{"earlier":true}` {
		t.Fatalf("file:\n%s", b)
	}
	for _, l := range lines[1:] {
		var ev map[string]any
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		if ev["logger"] != "audit" || ev["msg"] != "mcp request" || ev["method"] != "tools/call" || ev["ts"] == nil {
			t.Errorf("event %s", l)
		}
	}

	fresh := filepath.Join(t.TempDir(), "new.jsonl")
	if _, err := mcpproxy.NewAuditLog(mcpproxy.AuditOptions{File: fresh}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(fresh); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("created file: %v %v", fi, err)
	}
}

// Through frontdoor.Compile: the events go to the front door's logger as
// "audit" by default, or to their own file, and nowhere when off.
func TestAuditCompiled(t *testing.T) {
	key := jwkstest.NewKey(t, "k1", "ES256")
	as := jwkstest.NewServer(t, key)
	up := httptest.NewServer(jsonResult(`{"content":[],"isError":true}`))
	t.Cleanup(up.Close)
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	for _, tc := range []struct {
		name  string
		audit mcpproxy.AuditOptions
		logs  int
		lines int
	}{
		{"default", mcpproxy.AuditOptions{}, 1, 0},
		{"file", mcpproxy.AuditOptions{File: file}, 0, 1},
		{"off", mcpproxy.AuditOptions{Enabled: new(bool)}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(nil)
			base := "http://" + srv.Listener.Addr().String()
			o := frontdoor.Options{}
			o.Resource = base + "/mcp"
			o.AuthorizationServers = []rs.AuthorizationServer{{Issuer: as.Issuer, JWKSURI: as.JWKSURL()}}
			o.Upstream = up.URL
			o.Audit = tc.audit
			core, logs := observer.New(zapcore.InfoLevel)
			fd, err := frontdoor.Compile(o, frontdoor.Env{Proxy: true, Logger: zap.New(core)})
			if err != nil {
				t.Fatal(err)
			}
			fd.Validator().Start()
			t.Cleanup(fd.Validator().Close)
			srv.Config.Handler = fd.Handler()
			srv.Start()
			t.Cleanup(srv.Close)
			now := time.Now()
			tok := key.Sign(t, jwt.MapClaims{"iss": as.Issuer, "sub": "alice", "aud": o.Resource, "exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}, nil)
			req, _ := http.NewRequest(http.MethodPost, base+"/mcp", strings.NewReader(auditCall))
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if n := logs.FilterLoggerName("audit").Len(); n != tc.logs {
				t.Errorf("%d events in the log output, want %d", n, tc.logs)
			}
			if n := logs.FilterLoggerName("proxy").FilterMessage("request").Len(); n != 1 {
				t.Errorf("%d access log lines, want 1 (apart from the audit events)", n)
			}
			if tc.lines > 0 {
				lines := readLines(t, file)
				if len(lines) != tc.lines || !strings.Contains(lines[0], `"is_error":true`) || !strings.Contains(lines[0], `"logger":"audit"`) {
					t.Errorf("audit file: %q", lines)
				}
			}
		})
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var out []string
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

func TestAuditOptions(t *testing.T) {
	dir := t.TempDir()
	bad := []struct {
		name  string
		audit mcpproxy.AuditOptions
	}{
		{"file while off", mcpproxy.AuditOptions{Enabled: new(bool), File: filepath.Join(dir, "a.jsonl")}},
		{"directory name", mcpproxy.AuditOptions{File: dir + "/"}},
		{"spaces around", mcpproxy.AuditOptions{File: " " + filepath.Join(dir, "a.jsonl")}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mcpproxy.Policy{Audit: tc.audit}.Normalized(mcpproxy.UpstreamForbidden)
			var fe *rs.FieldError
			if !errors.As(err, &fe) || fe.Field != "audit.file" {
				t.Fatalf("Normalized = %v, want an audit.file error", err)
			}
		})
	}
	n, err := mcpproxy.Policy{}.Normalized(mcpproxy.UpstreamForbidden)
	if err != nil || n.Audit.Enabled == nil || !*n.Audit.Enabled {
		t.Fatalf("default audit = %+v, %v", n.Audit, err)
	}

	// A check creates nothing, but refuses what cannot be opened.
	missing := filepath.Join(dir, "no", "such", "dir", "a.jsonl")
	for _, open := range []func(string) (io.Writer, error){mcpproxy.CheckAuditFile, mcpproxy.OpenAuditFile} {
		_, err := mcpproxy.NewAuditLog(mcpproxy.AuditOptions{File: missing}, nil, open)
		var fe *rs.FieldError
		if !errors.As(err, &fe) || fe.Field != "audit.file" {
			t.Errorf("NewAuditLog = %v, want an audit.file error", err)
		}
	}
	if _, err := mcpproxy.NewAuditLog(mcpproxy.AuditOptions{File: dir}, nil, mcpproxy.CheckAuditFile); err == nil {
		t.Error("a directory passed the check")
	}
	checked := filepath.Join(dir, "checked.jsonl")
	if _, err := mcpproxy.NewAuditLog(mcpproxy.AuditOptions{File: checked}, nil, mcpproxy.CheckAuditFile); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(checked); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the check created the file (%v)", err)
	}
}
