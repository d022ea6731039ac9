package mcpproxy_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/mcpproxy"
)

// spanAttrs maps a span's attributes by key.
func spanAttrs(s tracetest.SpanStub) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, a := range s.Attributes {
		m[a.Key] = a.Value
	}
	return m
}

// byName indexes spans by name (each name at most once per request here).
func byName(t *testing.T, spans tracetest.SpanStubs) map[string]tracetest.SpanStub {
	t.Helper()
	m := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		if _, dup := m[s.Name]; dup {
			t.Fatalf("span %q twice", s.Name)
		}
		m[s.Name] = s
	}
	return m
}

func wantAttr(t *testing.T, s tracetest.SpanStub, key string, want any) {
	t.Helper()
	v, ok := spanAttrs(s)[attribute.Key(key)]
	if want == nil {
		if ok {
			t.Errorf("span %q has %s = %v", s.Name, key, v.String())
		}
		return
	}
	if !ok || v.AsInterface() != want {
		t.Errorf("span %q %s = %v, want %v", s.Name, key, v.AsInterface(), want)
	}
}

// TestTracing: a span per request under the caller's traceparent, with
// children for token validation (cache miss, then hit), the policy and
// the upstream; MCP semantic-convention attributes; and the upstream
// receives a traceparent of the same trace whose parent is the upstream
// span. A denied request has no upstream span; a refusal before the token
// has only the request span.
func TestTracing(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	reg := prometheus.NewRegistry()
	f := newAuditFixture(t, nil, func(o *mcpproxy.Options) { o.TracerProvider, o.Registerer = tp, reg })
	var mu sync.Mutex
	var upstreamTP []string
	f.setUpstream(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		upstreamTP = append(upstreamTP, r.Header.Get("Traceparent"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Mcp-Session-Id", auditUpstreamSID)
		_, _ = w.Write([]byte(`{"jsonrpc":"2.0","id":"c-1","result":{"content":[],"isError":true}}`))
	})
	const callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	const callerSpan = "00f067aa0ba902b7"
	call := `{"jsonrpc":"2.0","id":"c-1","method":"tools/call","params":{"name":"search","arguments":{"q":"` + auditArgument + `"}}}`
	tok := f.token(t)
	for range 2 { // the same token: the second validation is a cache hit
		req, _ := http.NewRequest("POST", f.url+"/mcp", strings.NewReader(call))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Traceparent", "00-"+callerTrace+"-"+callerSpan+"-01")
		req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
		if status, _ := f.send(t, req); status != 200 {
			t.Fatalf("status %d", status)
		}
	}
	spans := exp.GetSpans()
	if len(spans) != 8 {
		t.Fatalf("%d spans for two requests, want 4 each: %v", len(spans), spans)
	}
	for i, cacheHit := range []bool{false, true} {
		s := byName(t, spans[4*i:4*i+4])
		root, ok := s["tools/call search"]
		if !ok {
			t.Fatalf("no request span named by the MCP conventions: %v", s)
		}
		if root.SpanKind != trace.SpanKindServer || root.Parent.SpanID().String() != callerSpan || root.SpanContext.TraceID().String() != callerTrace || !root.Parent.IsRemote() {
			t.Errorf("request span: kind %v, parent %v, trace %v", root.SpanKind, root.Parent.SpanID(), root.SpanContext.TraceID())
		}
		for k, v := range map[string]any{
			"mcp.method.name": "tools/call", "gen_ai.tool.name": "search", "gen_ai.operation.name": "execute_tool",
			"jsonrpc.request.id": "c-1", "mcp.protocol.version": "2025-11-25", "http.response.status_code": int64(200),
			"mcp_auth.result": "allowed", "mcp_auth.client_id": "cli-1", "mcp_auth.issuer": f.issuer, "error.type": "tool_error",
			"http.request.method": "POST", "url.path": "/mcp",
		} {
			wantAttr(t, root, k, v)
		}
		if root.Status.Code != codes.Error {
			t.Errorf("a tool error result: span status %v", root.Status)
		}
		for _, name := range []string{mcpproxy.SpanValidate, mcpproxy.SpanPolicy, mcpproxy.SpanUpstream} {
			c, ok := s[name]
			if !ok {
				t.Fatalf("no %s span", name)
			}
			if c.Parent.SpanID() != root.SpanContext.SpanID() || c.SpanContext.TraceID() != root.SpanContext.TraceID() {
				t.Errorf("%s is not a child of the request span", name)
			}
		}
		wantAttr(t, s[mcpproxy.SpanValidate], "mcp_auth.cache.hit", cacheHit)
		wantAttr(t, s[mcpproxy.SpanValidate], "mcp_auth.issuer", f.issuer)
		wantAttr(t, s[mcpproxy.SpanPolicy], "mcp_auth.decision", "allowed")
		up := s[mcpproxy.SpanUpstream]
		if up.SpanKind != trace.SpanKindClient {
			t.Errorf("upstream span kind %v", up.SpanKind)
		}
		wantAttr(t, up, "http.response.status_code", int64(200))
		wantAttr(t, up, "mcp_auth.upstream.outcome", "ok")
		want := "00-" + callerTrace + "-" + up.SpanContext.SpanID().String() + "-01"
		mu.Lock()
		got := upstreamTP[i]
		mu.Unlock()
		if got != want {
			t.Errorf("upstream traceparent %q, want %q (the upstream span)", got, want)
		}
		for _, sp := range s {
			for _, a := range sp.Attributes {
				if strings.Contains(a.Value.String(), auditArgument) || strings.Contains(a.Value.String(), auditUpstreamSID) {
					t.Errorf("span %s holds %s = %s", sp.Name, a.Key, a.Value.String())
				}
			}
		}
	}

	// A denied request: no upstream span; a session: its hash.
	exp.Reset()
	sid := f.binder.Wrap(f.issuer, "alice", auditUpstreamSID)
	if status, _ := f.post(t, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"delete"}}`, map[string]string{"Mcp-Session-Id": sid}); status != 403 {
		t.Fatalf("denied: %d", status)
	}
	s := byName(t, exp.GetSpans())
	if _, ok := s[mcpproxy.SpanUpstream]; ok || len(s) != 3 {
		t.Fatalf("denied request spans: %v", s)
	}
	root := s["tools/call delete"]
	if root.Parent.IsValid() {
		t.Errorf("no traceparent sent, yet the request span has a parent")
	}
	wantAttr(t, root, "mcp_auth.result", "denied")
	wantAttr(t, root, "mcp_auth.reason", "insufficient_scope")
	wantAttr(t, root, "mcp.session.id", mcpproxy.SessionHash(sid))
	wantAttr(t, root, "http.response.status_code", int64(403))
	wantAttr(t, s[mcpproxy.SpanPolicy], "mcp_auth.decision", "denied")

	// No token: the request span alone.
	exp.Reset()
	req, _ := http.NewRequest("POST", f.url+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
	f.send(t, req)
	if spans := exp.GetSpans(); len(spans) != 1 || spans[0].Name != "mcp.request" {
		t.Fatalf("refused before the token: %v", spans)
	} else {
		wantAttr(t, spans[0], "mcp_auth.reason", "missing_token")
		wantAttr(t, spans[0], "mcp.method.name", nil) // the body was never read
	}

	// Sessions the upstream issued (both calls above carried none).
	if got := scrape(t, reg)["mcp_auth_sessions_total{event=started}"]; got != 2 {
		t.Errorf("sessions started = %v, want 2", got)
	}
}

// TestNoTracerNoSpans: without a tracer provider or a span in the
// context, nothing is traced and the caller's traceparent reaches the
// upstream as it was sent.
func TestNoTracerNoSpans(t *testing.T) {
	f := newAuditFixture(t, nil)
	var got string
	f.setUpstream(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("Traceparent")
		jsonResult(`{}`)(w, r)
	})
	tp := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	f.post(t, `{"jsonrpc":"2.0","id":1,"method":"ping"}`, map[string]string{"Traceparent": tp})
	if got != tp {
		t.Fatalf("upstream traceparent %q, want the caller's %q", got, tp)
	}
}
