package mcpproxy_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/jwkstest"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/mcpproxy"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

// What a failing upstream sends that must never reach the client.
const (
	upstreamChallenge = `Bearer resource_metadata="https://as.upstream.internal/.well-known/oauth-protected-resource", scope="admin"`
	upstreamSecret    = "hunter2"
	stackTraceBody    = "panic: runtime error: invalid memory address\n\ngoroutine 1 [running]:\nmain.handler(0xc000010000)\n\t/srv/app/internal/db.go:42 +0x1d\ndb password=" + upstreamSecret + "\n"
	htmlBody          = "<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1><p>nginx/1.25.3 at 10.0.3.7:8080 (" + upstreamSecret + ")</p></body></html>"
	jsonRPCLeakBody   = `{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"pq: password authentication failed for user admin (` + upstreamSecret + `)"}}`
)

// leakHeaders are sent by the failing upstream on every answer.
var leakHeaders = map[string]string{
	"Set-Cookie":                   "upstream_session=" + upstreamSecret + "; Path=/",
	"Server":                       "internal-mcp/0.3 (debian)",
	"X-Debug-Trace":                "db=10.0.3.7 pw=" + upstreamSecret,
	"X-Ratelimit-Limit":            "100",
	"Access-Control-Allow-Origin":  "https://evil.example",
	"Access-Control-Allow-Headers": "X-Internal",
	"Mcp-Session-Id":               "up-sess-1",
}

// fakeUpstream answers every request with the scripted status, headers
// and body, and records how many requests arrived.
type fakeUpstream struct {
	mu      sync.Mutex
	handler http.HandlerFunc
	hits    int
}

func (u *fakeUpstream) set(h http.HandlerFunc) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.handler, u.hits = h, 0
}

func (u *fakeUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	u.mu.Lock()
	h := u.handler
	u.hits++
	u.mu.Unlock()
	h(w, r)
}

func (u *fakeUpstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.hits
}

// frontDoor is the sidecar's handler (the real Guard, reverse proxy and
// ResponseWriter) between a client and a scripted upstream.
type frontDoor struct {
	url   string
	token string
	up    *fakeUpstream
	upSrv *httptest.Server
	logs  *observer.ObservedLogs
}

func newFrontDoor(t *testing.T) *frontDoor {
	t.Helper()
	key := jwkstest.NewKey(t, "k1", "ES256")
	as := jwkstest.NewServer(t, key)
	up := &fakeUpstream{}
	upSrv := httptest.NewServer(up)
	t.Cleanup(upSrv.Close)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	rc, err := rs.Config{Resource: base + "/mcp", AuthorizationServers: []rs.AuthorizationServer{{Issuer: as.Issuer, JWKSURI: as.JWKSURL()}}}.Normalized()
	if err != nil {
		t.Fatal(err)
	}
	pc, err := mcpproxy.Policy{Upstream: upSrv.URL}.Normalized(mcpproxy.UpstreamRequired)
	if err != nil {
		t.Fatal(err)
	}
	v, err := rs.NewValidator(rc, rs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v.Start()
	t.Cleanup(v.Close)
	inj, err := mcpproxy.NewInjector(mcpproxy.IdentityHeaders{}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	h, err := mcpproxy.New(&rc, &pc, v, inj, mcpproxy.Options{Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: h}}
	srv.Start()
	t.Cleanup(srv.Close)
	now := time.Now()
	tok := key.Sign(t, jwt.MapClaims{"iss": as.Issuer, "sub": "alice", "aud": rc.Resource, "exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}, nil)
	return &frontDoor{url: base, token: tok, up: up, upSrv: upSrv, logs: logs}
}

type reply struct {
	status  int
	header  http.Header
	trailer http.Header
	body    string
}

func (fd *frontDoor) do(t *testing.T, method, body string, trace *httptrace.ClientTrace) reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if trace != nil {
		ctx = httptrace.WithClientTrace(ctx, trace)
	}
	req, err := http.NewRequestWithContext(ctx, method, fd.url+"/mcp", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+fd.token)
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
	} else {
		req.Header.Set("Accept", "text/event-stream")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, trailer: resp.Trailer, body: string(b)}
}

// upstreamStatus scripts an upstream failure: status, its own headers,
// the leak headers and body.
type upstreamStatus struct {
	name        string
	status      int
	header      map[string]string
	contentType string
	body        string

	// The agent-safe answer: message and the errorKind/canRetry/... object.
	msg, fields string
	// The front door's own answer when there is no request to answer.
	plainStatus int
	retryAfter  string // "" = absent
	// warn is the log message expected.
	warn string
}

const (
	warnRefused = "upstream refused the front door's request (check the secret headers it sends); replaced by an agent-safe answer"
	warnFailure = "upstream failure replaced by an agent-safe answer"
)

var upstreamStatuses = []upstreamStatus{
	{name: "401 with WWW-Authenticate", status: 401, header: map[string]string{"WWW-Authenticate": upstreamChallenge}, contentType: "text/plain", body: "token for upstream-as expired (" + upstreamSecret + ")",
		msg: "Upstream HTTP request failed (Unauthorized, client error).", fields: `{"errorKind":"UPSTREAM_RUNTIME_AUTH_ERROR","canRetry":false,"statusCode":401}`,
		plainStatus: 502, warn: warnRefused},
	{name: "403 with WWW-Authenticate", status: 403, header: map[string]string{"WWW-Authenticate": upstreamChallenge + `, error="insufficient_scope"`}, contentType: "application/json", body: `{"error":"forbidden","detail":"` + upstreamSecret + `"}`,
		msg: "Upstream HTTP request failed (Forbidden, client error).", fields: `{"errorKind":"UPSTREAM_RUNTIME_AUTH_ERROR","canRetry":false,"statusCode":403}`,
		plainStatus: 502, warn: warnRefused},
	{name: "429 with Retry-After", status: 429, header: map[string]string{"Retry-After": "7"}, contentType: "text/plain", body: "slow down " + upstreamSecret,
		msg: "Upstream HTTP request failed (Too Many Requests, client error). Retry after 7 second(s).", fields: `{"errorKind":"UPSTREAM_RUNTIME_RATE_LIMIT","canRetry":true,"retryAfterMs":7000,"statusCode":429}`,
		plainStatus: 429, retryAfter: "7", warn: warnFailure},
	{name: "429 with an invalid Retry-After", status: 429, header: map[string]string{"Retry-After": "soon, see https://status.internal/" + upstreamSecret}, contentType: "text/plain", body: "slow down",
		msg: "Upstream HTTP request failed (Too Many Requests, client error). Retry after 1 second(s).", fields: `{"errorKind":"UPSTREAM_RUNTIME_RATE_LIMIT","canRetry":true,"retryAfterMs":1000,"statusCode":429}`,
		plainStatus: 429, warn: warnFailure},
	{name: "500 with a stack trace", status: 500, contentType: "text/plain; charset=utf-8", body: stackTraceBody,
		msg: "Upstream HTTP request failed (Internal Server Error, server error).", fields: `{"errorKind":"UPSTREAM_RUNTIME_SERVER_ERROR","canRetry":true,"statusCode":500}`,
		plainStatus: 502, warn: warnFailure},
	{name: "500 with a JSON-RPC body", status: 500, contentType: "application/json", body: jsonRPCLeakBody,
		msg: "Upstream HTTP request failed (Internal Server Error, server error).", fields: `{"errorKind":"UPSTREAM_RUNTIME_SERVER_ERROR","canRetry":true,"statusCode":500}`,
		plainStatus: 502, warn: warnFailure},
	{name: "502 HTML", status: 502, contentType: "text/html", body: htmlBody,
		msg: "Upstream HTTP request failed (Bad Gateway, server error).", fields: `{"errorKind":"UPSTREAM_RUNTIME_SERVER_ERROR","canRetry":true,"statusCode":502}`,
		plainStatus: 502, warn: warnFailure},
	{name: "503 with Retry-After", status: 503, header: map[string]string{"Retry-After": "30"}, contentType: "text/html", body: htmlBody,
		msg: "Upstream HTTP request failed (Service Unavailable, server error).", fields: `{"errorKind":"UPSTREAM_RUNTIME_SERVER_ERROR","canRetry":true,"retryAfterMs":30000,"statusCode":503}`,
		plainStatus: 503, retryAfter: "30", warn: warnFailure},
	{name: "504", status: 504, contentType: "text/plain", body: stackTraceBody,
		msg: "Upstream HTTP request failed (Gateway Timeout, server error).", fields: `{"errorKind":"UPSTREAM_RUNTIME_SERVER_ERROR","canRetry":true,"statusCode":504}`,
		plainStatus: 504, warn: warnFailure},
}

// requestShape is one kind of request; answer renders the expected body
// (and says it is JSON) or "" for the front door's plain status.
type requestShape struct {
	name   string
	method string
	body   string
	answer func(msg, fields string) string
}

func toolResult(id, msg, fields string) string {
	return `{"jsonrpc":"2.0","id":` + id + `,"result":{"content":[{"type":"text","text":"` + msg + `"}],"isError":true,"_meta":{"arcade":` + fields + `}}}`
}

func rpcError(id, msg, fields string) string {
	return `{"jsonrpc":"2.0","id":` + id + `,"error":{"code":-32603,"message":"` + msg + `","data":` + fields + `}}`
}

var requestShapes = []requestShape{
	{"single tools/call", "POST", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","arguments":{}}}`,
		func(m, f string) string { return toolResult("1", m, f) }},
	{"single tools/list", "POST", `{"jsonrpc":"2.0","id":"a","method":"tools/list"}`,
		func(m, f string) string { return rpcError(`"a"`, m, f) }},
	{"batch", "POST", `[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","arguments":{}}},` +
		`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}},` +
		`{"jsonrpc":"2.0","id":2,"result":{}},` +
		`{"jsonrpc":"2.0","id":"b","method":"resources/list"}]`,
		func(m, f string) string { return "[" + toolResult("1", m, f) + "," + rpcError(`"b"`, m, f) + "]" }},
	{"batch of one request", "POST", `[{"jsonrpc":"2.0","id":7,"method":"ping"}]`,
		func(m, f string) string { return "[" + rpcError("7", m, f) + "]" }},
	{"batch without requests", "POST", `[{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","id":3,"result":{}}]`, nil},
	{"notification", "POST", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, nil},
	{"response", "POST", `{"jsonrpc":"2.0","id":4,"result":{}}`, nil},
	{"GET stream", "GET", "", nil},
	{"DELETE", "DELETE", "", nil},
}

// TestUpstreamFailureEveryShape: for every request shape and upstream
// failure status the client gets exactly the agent-safe answer, decided by
// the status alone, with none of the upstream's headers or body.
func TestUpstreamFailureEveryShape(t *testing.T) {
	fd := newFrontDoor(t)
	for _, us := range upstreamStatuses {
		for _, shape := range requestShapes {
			t.Run(us.name+"/"+shape.name, func(t *testing.T) {
				fd.up.set(func(w http.ResponseWriter, _ *http.Request) {
					for k, v := range leakHeaders {
						w.Header().Set(k, v)
					}
					for k, v := range us.header {
						w.Header().Set(k, v)
					}
					w.Header().Set("Content-Type", us.contentType)
					w.WriteHeader(us.status)
					_, _ = io.WriteString(w, us.body)
				})
				logsBefore := fd.logs.Len()
				got := fd.do(t, shape.method, shape.body, nil)
				if fd.up.count() != 1 {
					t.Fatalf("upstream saw %d requests, want 1", fd.up.count())
				}

				wantStatus, wantBody := us.plainStatus, http.StatusText(us.plainStatus)
				want := map[string]string{
					"Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff",
					"Content-Length": fmt.Sprint(len(wantBody)), "Cache-Control": "no-store",
					"Access-Control-Allow-Origin":   "*",
					"Access-Control-Expose-Headers": "WWW-Authenticate, Mcp-Session-Id, MCP-Protocol-Version",
				}
				if us.retryAfter != "" {
					want["Retry-After"] = us.retryAfter
				}
				if shape.answer != nil {
					wantStatus, wantBody = http.StatusOK, shape.answer(us.msg, us.fields)
					want["Content-Type"] = "application/json"
					want["Content-Length"] = fmt.Sprint(len(wantBody))
					delete(want, "X-Content-Type-Options")
					delete(want, "Retry-After") // in the body as retryAfterMs
				}
				if got.status != wantStatus {
					t.Errorf("status = %d, want %d", got.status, wantStatus)
				}
				if got.body != wantBody {
					t.Errorf("body =\n  %s\nwant\n  %s", got.body, wantBody)
				}
				checkHeaders(t, got.header, want)
				checkNoLeak(t, got)

				entries := fd.logs.All()[logsBefore:]
				if len(entries) != 2 { // the warning and the access log
					t.Fatalf("log entries = %d: %v", len(entries), entries)
				}
				warn := entries[0]
				fields := warn.ContextMap()
				if warn.Level != zapcore.WarnLevel || warn.Message != us.warn ||
					fields["status"] != int64(us.status) || fields["path"] != "/mcp" || fields["client_status"] != int64(wantStatus) {
					t.Errorf("log = %s %q %v", warn.Level, warn.Message, fields)
				}
				for _, e := range entries {
					if s := fmt.Sprint(e.Message, e.ContextMap()); strings.Contains(s, upstreamSecret) || strings.Contains(s, "as.upstream.internal") {
						t.Errorf("log carries upstream text: %s", s)
					}
				}
			})
		}
	}
}

// checkHeaders: exactly the headers in want (Date aside), with exactly
// these values.
func checkHeaders(t *testing.T, h http.Header, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got := h.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	var extra []string
	for k := range h {
		if _, ok := want[k]; !ok && k != "Date" && k != "Mcp-Session-Id" {
			extra = append(extra, k)
		}
	}
	slices.Sort(extra)
	if len(extra) > 0 {
		t.Errorf("unexpected headers %v", extra)
	}
	if sid := h.Get("Mcp-Session-Id"); sid == "up-sess-1" {
		t.Errorf("upstream session id not wrapped")
	}
}

func checkNoLeak(t *testing.T, got reply) {
	t.Helper()
	for _, s := range []string{upstreamSecret, "as.upstream.internal", "goroutine", "db.go", "nginx", "<html", "pq: "} {
		if strings.Contains(got.body, s) {
			t.Errorf("body leaks %q: %s", s, got.body)
		}
		for _, hh := range []http.Header{got.header, got.trailer} {
			for k, vs := range hh {
				for _, v := range vs {
					if strings.Contains(v, s) {
						t.Errorf("header %s leaks %q: %s", k, s, v)
					}
				}
			}
		}
	}
	for _, h := range []http.Header{got.header, got.trailer} {
		if v, ok := h["Www-Authenticate"]; ok {
			t.Errorf("WWW-Authenticate reached the client: %q", v)
		}
	}
}

// TestUpstreamChallengeNeverReachesClient: a WWW-Authenticate of the MCP
// server is dropped from answers that pass through (2xx, 404, 405), from
// trailers, and from 1xx responses.
func TestUpstreamChallengeNeverReachesClient(t *testing.T) {
	fd := newFrontDoor(t)
	const list = `{"jsonrpc":"2.0","id":"l","method":"tools/list"}`
	const result = `{"jsonrpc":"2.0","id":"l","result":{"tools":[]}}`
	tests := []struct {
		name    string
		method  string
		body    string
		up      http.HandlerFunc
		status  int
		want    string
		headers map[string]string
	}{
		{"200 JSON", "POST", list, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("WWW-Authenticate", upstreamChallenge)
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, result)
		}, 200, result, map[string]string{"Content-Type": "application/json", "Content-Length": fmt.Sprint(len(result))}},
		{"200 tools/call (rewritten JSON)", "POST", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}`, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("WWW-Authenticate", upstreamChallenge)
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{"content":[],"structuredContent":{"e":1},"isError":true}}`)
		}, 200, `{"jsonrpc":"2.0","id":1,"result":{"content":[],"isError":true}}`, nil},
		{"200 SSE", "GET", "", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("WWW-Authenticate", upstreamChallenge)
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "id: 1\ndata: {}\n\n")
		}, 200, "id: 1\ndata: {}\n\n", map[string]string{"Content-Type": "text/event-stream"}},
		{"202", "POST", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("WWW-Authenticate", upstreamChallenge)
			w.WriteHeader(202)
		}, 202, "", nil},
		{"404 passes, without the challenge", "DELETE", "", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("WWW-Authenticate", upstreamChallenge)
			http.Error(w, "session not found", 404)
		}, 404, "session not found\n", nil},
		{"trailer", "POST", list, func(w http.ResponseWriter, _ *http.Request) {
			// Go's server never sends a declared WWW-Authenticate trailer,
			// but sends one set with TrailerPrefix.
			w.Header().Set("Trailer", "X-Checksum")
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, result)
			w.(http.Flusher).Flush()
			w.Header().Set("X-Checksum", "abc")
			w.Header().Set(http.TrailerPrefix+"WWW-Authenticate", upstreamChallenge)
		}, 200, result, nil},
		{"103 Early Hints, then 500", "POST", list, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Link", "</style.css>; rel=preload")
			w.Header().Set("WWW-Authenticate", upstreamChallenge)
			w.WriteHeader(http.StatusEarlyHints)
			w.Header().Del("Link")
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(500)
			_, _ = io.WriteString(w, stackTraceBody)
		}, 200, rpcError(`"l"`, "Upstream HTTP request failed (Internal Server Error, server error).", `{"errorKind":"UPSTREAM_RUNTIME_SERVER_ERROR","canRetry":true,"statusCode":500}`),
			map[string]string{"Access-Control-Allow-Origin": "*", "Content-Type": "application/json"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fd.up.set(tc.up)
			var early []textproto.MIMEHeader
			trace := &httptrace.ClientTrace{Got1xxResponse: func(_ int, h textproto.MIMEHeader) error {
				early = append(early, h)
				return nil
			}}
			got := fd.do(t, tc.method, tc.body, trace)
			if got.status != tc.status || got.body != tc.want {
				t.Fatalf("got %d %q\nwant %d %q", got.status, got.body, tc.status, tc.want)
			}
			for k, v := range tc.headers {
				if g := got.header.Values(k); len(g) != 1 || g[0] != v {
					t.Errorf("%s = %q, want %q", k, g, v)
				}
			}
			checkNoLeak(t, got)
			for _, h := range early {
				if v := h.Values("Www-Authenticate"); len(v) > 0 {
					t.Errorf("1xx carried WWW-Authenticate %q", v)
				}
			}
			if tc.name == "trailer" && got.trailer.Get("X-Checksum") != "abc" {
				t.Errorf("other trailers should pass: %v", got.trailer)
			}
		})
	}
}

// TestTransportFailureEveryShape: with the MCP server down, every JSON-RPC
// request of a batch is answered too; without a request to answer the
// client gets 502.
func TestTransportFailureEveryShape(t *testing.T) {
	fd := newFrontDoor(t)
	fd.upSrv.Close()
	const msg = "HTTP request failed before reaching the upstream service."
	const fields = `{"errorKind":"NETWORK_TRANSPORT_RUNTIME_UNREACHABLE","canRetry":true}`
	for _, shape := range requestShapes {
		t.Run(shape.name, func(t *testing.T) {
			got := fd.do(t, shape.method, shape.body, nil)
			wantStatus, wantBody, wantType := 502, "Bad Gateway", "text/plain; charset=utf-8"
			if shape.answer != nil {
				wantStatus, wantBody, wantType = 200, shape.answer(msg, fields), "application/json"
			}
			if got.status != wantStatus || got.body != wantBody || got.header.Get("Content-Type") != wantType {
				t.Errorf("got %d %q %q\nwant %d %q %q", got.status, got.header.Get("Content-Type"), got.body, wantStatus, wantType, wantBody)
			}
		})
	}
}
