package mcpproxy_test

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/mcpproxy"
)

// scrape returns every sample of reg as "name{k=v,...}" → value (labels
// sorted, histograms as _count only).
func scrape(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(ls)
			key := mf.GetName() + "{" + strings.Join(ls, ",") + "}"
			switch {
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[key] = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				out[strings.Replace(key, "{", "_count{", 1)] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

// accessLines returns the access log lines ("request") observed so far.
func accessLines(logs *observer.ObservedLogs) []map[string]any {
	var out []map[string]any
	for _, e := range logs.FilterMessage("request").All() {
		out = append(out, e.ContextMap())
	}
	return out
}

// TestRequestMetricsAndAccessLog: every request moves
// mcp_auth_requests_total, refusals included (missing token, token in the
// query, malformed header, bad Origin, expired, insufficient scope), with
// a reason from the fixed set; forwarded messages count per method and
// tool, isError results per tool; a replaced upstream failure is
// result=error, and its access line says so (not just status 200). The
// access line names the JSON-RPC method and tool, the client, the remote
// address, the session hash, and the subject of a denied caller.
func TestRequestMetricsAndAccessLog(t *testing.T) {
	reg := prometheus.NewRegistry()
	core, logs := observer.New(zapcore.InfoLevel)
	f := newAuditFixture(t, func(p *mcpproxy.Policy) {
		p.RequiredScopes.Tools["search"] = []string{"mcp:read"} // a configured tool: its own label value
	}, func(o *mcpproxy.Options) {
		o.Registerer, o.AccessLog, o.Logger = reg, zap.New(core), zap.New(core)
	})
	raw := func(method, path string, hdr map[string]string, body string) int {
		t.Helper()
		req, _ := http.NewRequest(method, f.url+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		status, _ := f.send(t, req)
		return status
	}
	ping := `{"jsonrpc":"2.0","id":1,"method":"ping"}`
	call := func(id int, tool string) string {
		return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,"arguments":{}}}`, id, tool)
	}
	for _, c := range []struct {
		status  int
		got     int
		comment string
	}{
		{401, raw("POST", "/mcp", nil, ping), "missing token"},
		{400, raw("POST", "/mcp?access_token=abc", nil, ping), "token in the query"},
		{400, raw("POST", "/mcp", map[string]string{"Authorization": "Bearer a b"}, ping), "malformed header"},
		{403, raw("POST", "/mcp", map[string]string{"Authorization": "Bearer " + f.token(t), "Origin": "https://evil.example"}, ping), "bad Origin"},
		{401, raw("POST", "/mcp", map[string]string{"Authorization": "Bearer not.a.jwt"}, ping), "malformed token"},
		{200, raw("GET", "/.well-known/oauth-protected-resource/mcp", nil, ""), "metadata"},
	} {
		if c.got != c.status {
			t.Fatalf("%s: status %d, want %d", c.comment, c.got, c.status)
		}
	}
	for i := range 2 {
		if status, _ := f.post(t, call(10+i, "delete"), map[string]string{"Mcp-Session-Id": f.binder.Wrap(f.issuer, "alice", auditUpstreamSID)}); status != 403 {
			t.Fatalf("insufficient scope: %d", status)
		}
	}
	f.setUpstream(jsonResult(`{"content":[],"isError":true}`))
	if status, _ := f.post(t, call(1, "search"), nil); status != 200 {
		t.Fatalf("tools/call search: %d", status)
	}
	f.setUpstream(jsonResult(`{"content":[]}`))
	if status, _ := f.post(t, call(1, "unlisted"), nil); status != 200 {
		t.Fatalf("tools/call unlisted: %d", status)
	}
	f.post(t, ping, nil)
	f.setUpstream(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		_, _ = io.WriteString(w, "upstream of the upstream is down")
	})
	if status, _ := f.post(t, call(1, "search"), nil); status != 200 {
		t.Fatalf("tools/call with a failing upstream: %d (want the agent-safe 200)", status)
	}

	got := scrape(t, reg)
	for k, v := range map[string]float64{
		"mcp_auth_requests_total{reason=missing_token,result=denied}":                    1,
		"mcp_auth_requests_total{reason=invalid_request:token_in_query,result=denied}":   1,
		"mcp_auth_requests_total{reason=invalid_request:malformed_header,result=denied}": 1,
		"mcp_auth_requests_total{reason=origin,result=denied}":                           1,
		"mcp_auth_requests_total{reason=invalid_token:malformed,result=denied}":          1,
		"mcp_auth_requests_total{reason=metadata,result=served}":                         1,
		"mcp_auth_requests_total{reason=insufficient_scope,result=denied}":               2,
		"mcp_auth_requests_total{reason=none,result=allowed}":                            3,
		"mcp_auth_requests_total{reason=upstream_error,result=error}":                    1,
		"mcp_auth_mcp_requests_total{method=tools/call,tool=search}":                     2,
		"mcp_auth_mcp_requests_total{method=tools/call,tool=other}":                      1,
		"mcp_auth_mcp_requests_total{method=ping,tool=}":                                 1,
		"mcp_auth_mcp_tool_errors_total{tool=search}":                                    2, // isError, and the replaced failure
		"mcp_auth_mcp_tool_errors_total{tool=other}":                                     0,
		"mcp_auth_mcp_tool_errors_total{tool=delete}":                                    0,
		"mcp_auth_upstream_duration_seconds_count{code=200,method=tools/call}":           2,
		"mcp_auth_upstream_duration_seconds_count{code=200,method=ping}":                 1,
		"mcp_auth_upstream_duration_seconds_count{code=502,method=tools/call}":           1,
		"mcp_auth_sessions_total{event=started}":                                         0,
	} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	for k := range got {
		if strings.HasPrefix(k, "mcp_auth_mcp_requests_total") && strings.Contains(k, "delete") {
			t.Errorf("a denied tools/call counted as forwarded: %s", k)
		}
	}

	lines := accessLines(logs)
	if len(lines) != 12 {
		t.Fatalf("%d access lines for 12 requests", len(lines))
	}
	byField := func(k, v string) []map[string]any {
		var out []map[string]any
		for _, l := range lines {
			if l[k] == v {
				out = append(out, l)
			}
		}
		return out
	}
	denied := byField("auth_failure", "insufficient_scope")
	if len(denied) != 2 {
		t.Fatalf("insufficient_scope lines: %v", denied)
	}
	for k, v := range map[string]any{"result": "denied", "mcp_method": "tools/call", "mcp_name": "delete", "subject": "alice",
		"client_id": "cli-1", "issuer": f.issuer, "session": mcpproxy.SessionHash(f.binder.Wrap(f.issuer, "alice", auditUpstreamSID)), "status": int64(403)} {
		if denied[0][k] != v {
			t.Errorf("denied line %s = %v, want %v (%v)", k, denied[0][k], v, denied[0])
		}
	}
	if _, ok := denied[0]["upstream_outcome"]; ok {
		t.Errorf("a refused request has an upstream outcome: %v", denied[0])
	}
	if ra, _ := denied[0]["remote_addr"].(string); !strings.HasPrefix(ra, "127.0.0.1:") {
		t.Errorf("remote_addr = %v", denied[0]["remote_addr"])
	}
	failed := byField("upstream_outcome", mcpproxy.OutcomeErrorStatus)
	if len(failed) != 1 {
		t.Fatalf("error_status lines: %v", lines)
	}
	for k, v := range map[string]any{"status": int64(200), "upstream_status": int64(502), "result": "error", "is_error": true, "mcp_name": "search"} {
		if failed[0][k] != v {
			t.Errorf("failure line %s = %v, want %v (%v)", k, failed[0][k], v, failed[0])
		}
	}
	if ok := byField("mcp_name", "unlisted"); len(ok) != 1 || ok[0]["upstream_outcome"] != "ok" || ok[0]["is_error"] != false || ok[0]["result"] != "allowed" {
		t.Errorf("allowed line: %v", ok)
	}
	if missing := byField("auth_failure", "missing"); len(missing) != 1 || missing[0]["subject"] != nil || missing[0]["result"] != "denied" {
		t.Errorf("missing-token line: %v", missing)
	}
	if md := byField("served", "metadata"); len(md) != 1 || md[0]["result"] != "served" {
		t.Errorf("metadata line: %v", md)
	}
}

// TestUpstreamUnreachableMetrics: a tools/call whose upstream cannot be
// reached is answered 200 with a tool error, and counted and logged as an
// upstream failure.
func TestUpstreamUnreachableMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	core, logs := observer.New(zapcore.InfoLevel)
	f := newAuditFixture(t, func(p *mcpproxy.Policy) { p.Upstream = "http://127.0.0.1:1" }, func(o *mcpproxy.Options) {
		o.Registerer, o.AccessLog, o.Logger = reg, zap.New(core), zap.New(core)
	})
	if status, body := f.post(t, `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"search"}}`, nil); status != 200 || !strings.Contains(body, `"isError":true`) {
		t.Fatalf("got %d %s", status, body)
	}
	got := scrape(t, reg)
	for k, v := range map[string]float64{
		"mcp_auth_requests_total{reason=upstream_unreachable,result=error}":      1,
		"mcp_auth_requests_total{reason=none,result=allowed}":                    0,
		"mcp_auth_mcp_tool_errors_total{tool=other}":                             1,
		"mcp_auth_upstream_duration_seconds_count{code=error,method=tools/call}": 1,
	} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	lines := accessLines(logs)
	if len(lines) != 1 || lines[0]["upstream_outcome"] != mcpproxy.OutcomeUnreachable || lines[0]["status"] != int64(200) || lines[0]["result"] != "error" {
		t.Fatalf("access line: %v", lines)
	}
	if _, ok := lines[0]["upstream_status"]; ok {
		t.Errorf("upstream_status without an upstream answer: %v", lines[0])
	}
}
