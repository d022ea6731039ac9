package mcpproxy_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/jwkstest"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/mcpproxy"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

// discardWriter is a reusable ResponseWriter that throws the answer away.
type discardWriter struct {
	h      http.Header
	status int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(code int)        { d.status = code }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }

// SetReadDeadline is there as on a server's writer (bufferBody sets one).
func (d *discardWriter) SetReadDeadline(time.Time) error { return nil }

// BenchmarkHandlerCachedToolsList is the sidecar handler (metrics on,
// audit off, access log off) serving a POST tools/list with a cached token
// to a loopback upstream.
func BenchmarkHandlerCachedToolsList(b *testing.B) { benchCachedToolsList(b, false) }

// BenchmarkHandlerCachedToolsListBackend is the same with the answer from
// an in-process Backend: the front door's own cost, without the loopback.
func BenchmarkHandlerCachedToolsListBackend(b *testing.B) { benchCachedToolsList(b, true) }

func benchCachedToolsList(b *testing.B, backend bool) {
	key := jwkstest.NewKey(b, "k1", "ES256")
	as := jwkstest.NewServer(b, key)
	const result = `{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"echo","description":"Echo","inputSchema":{"type":"object"}}]}}`
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, result)
	})
	up := httptest.NewServer(upstream)
	b.Cleanup(up.Close)
	const base = "http://127.0.0.1:8080"
	rc, err := rs.Config{Resource: base + "/mcp", AuthorizationServers: []rs.AuthorizationServer{{Issuer: as.Issuer, JWKSURI: as.JWKSURL()}}}.Normalized()
	if err != nil {
		b.Fatal(err)
	}
	p := mcpproxy.Policy{Upstream: up.URL}
	pc, err := p.Normalized(mcpproxy.UpstreamRequired)
	if err != nil {
		b.Fatal(err)
	}
	v, err := rs.NewValidator(rc, rs.Options{})
	if err != nil {
		b.Fatal(err)
	}
	v.Start()
	b.Cleanup(v.Close)
	inj, err := mcpproxy.NewInjector(mcpproxy.IdentityHeaders{}, []mcpproxy.SecretHeader{{Header: "X-Api-Key", Value: "k"}}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	o := mcpproxy.Options{Logger: zap.NewNop(), Registerer: prometheus.NewRegistry()}
	if backend {
		o.Backend = upstream
	}
	h, err := mcpproxy.New(&rc, &pc, v, inj, o)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	tok := key.Sign(b, jwt.MapClaims{"iss": as.Issuer, "sub": "alice", "aud": base + "/mcp", "scope": "mcp:read",
		"client_id": "cli-1", "exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}, nil)
	const body = `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}`
	auth := "Bearer " + tok
	serve := func() int {
		r, _ := http.NewRequest(http.MethodPost, base+"/mcp", strings.NewReader(body))
		r.RemoteAddr = "127.0.0.1:40000"
		r.Header = http.Header{"Authorization": {auth}, "Content-Type": {"application/json"},
			"Accept": {"application/json, text/event-stream"}}
		w := &discardWriter{h: http.Header{}}
		h.ServeHTTP(w, r)
		return w.status
	}
	if s := serve(); s != http.StatusOK {
		b.Fatalf("status %d", s)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if s := serve(); s != http.StatusOK {
			b.Fatalf("status %d", s)
		}
	}
}
