package caddymodule

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/tracing"
	"github.com/golang-jwt/jwt/v5"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/behaviour"
	"github.com/mcp-frontdoor/mcp-frontdoor/internal/jwkstest"
	"github.com/mcp-frontdoor/mcp-frontdoor/internal/otlptest"
)

// promText reads a Prometheus text exposition: series → value.
func promText(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || l[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q", l)
		}
		out[l[:i]] = v
	}
	return out
}

func post(t *testing.T, url string, hdr map[string]string, body string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func load(t *testing.T, caddyfile string) {
	t.Helper()
	cfgJSON, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		t.Fatalf("adapt: %v\n%s", err, caddyfile)
	}
	if err := caddy.Load(cfgJSON, true); err != nil {
		t.Fatalf("load: %v", err)
	}
}

// TestMetricsAndLogsAcrossReload: every request moves
// mcp_auth_requests_total, refusals included; forwarded tools/calls count
// per tool; a replaced upstream failure is result=error; Caddy's access
// log line carries the MCP fields (method, tool, caller, outcome), a
// denied caller's subject too; and a `caddy reload` keeps every counter
// and the key gauges (the same collectors go into the new config's
// registry).
func TestMetricsAndLogsAcrossReload(t *testing.T) {
	k := jwkstest.NewKey(t, "k", "ES256")
	as := jwkstest.NewServer(t, k)
	up := behaviour.NewUpstream(t)
	addr, admin := behaviour.FreeAddr(t), behaviour.FreeAddr(t)
	resource := "http://" + addr + "/mcp"
	logFile := filepath.Join(t.TempDir(), "access.log")
	cfg := strings.Replace(globals(t, ""), "admin off", "admin "+admin, 1) +
		site(addr, resource, as.Issuer, as.JWKSURL(), up.URL, "required_scopes {\n\t\t\ttools {\n\t\t\t\tok mcp:read\n\t\t\t\tadmin_tool mcp:admin\n\t\t\t}\n\t\t}", "log {\n\t\toutput file "+logFile+"\n\t}")
	load(t, cfg)
	t.Cleanup(func() { _ = caddy.Stop() })
	metrics := "http://" + admin + "/metrics"
	// Wait for the keys, then take the counters as they are (other tests
	// of this process moved them too).
	for deadline := time.Now().Add(5 * time.Second); promText(t, metrics)[fmt.Sprintf(`mcp_auth_keys_ready{issuer=%q}`, as.Issuer)] != 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("keys never ready")
		}
	}
	before := promText(t, metrics)
	tok := token(t, k, as.Issuer, resource) // mcp:read mcp:write
	bearer := map[string]string{"Authorization": "Bearer " + tok}
	call := func(tool string) string {
		return `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"` + tool + `"}}`
	}
	for _, c := range []struct {
		url    string
		hdr    map[string]string
		body   string
		status int
	}{
		{resource, nil, call("ok"), 401},
		{resource + "?access_token=x", nil, call("ok"), 400},
		{resource, map[string]string{"Authorization": "Bearer a b"}, call("ok"), 400},
		{resource, map[string]string{"Authorization": "Bearer " + tok, "Origin": "https://evil.example"}, call("ok"), 403},
		{resource, bearer, call("admin_tool"), 403},
		{resource, bearer, call("admin_tool"), 403},
		{resource, bearer, call("ok"), 200},
		{resource, bearer, call("err_json"), 200},
		{resource + "?reply=502", bearer, call("ok"), 200},
	} {
		if got := post(t, c.url, c.hdr, c.body); got != c.status {
			t.Fatalf("%s %v %s: %d, want %d", c.url, c.hdr, c.body, got, c.status)
		}
	}
	after := promText(t, metrics)
	deltas := map[string]float64{
		`mcp_auth_requests_total{reason="missing_token",result="denied"}`:                    1,
		`mcp_auth_requests_total{reason="invalid_request:token_in_query",result="denied"}`:   1,
		`mcp_auth_requests_total{reason="invalid_request:malformed_header",result="denied"}`: 1,
		`mcp_auth_requests_total{reason="origin",result="denied"}`:                           1,
		`mcp_auth_requests_total{reason="insufficient_scope",result="denied"}`:               2,
		`mcp_auth_requests_total{reason="none",result="allowed"}`:                            2,
		`mcp_auth_requests_total{reason="upstream_error",result="error"}`:                    1,
		`mcp_auth_mcp_requests_total{method="tools/call",tool="ok"}`:                         2,
		`mcp_auth_mcp_requests_total{method="tools/call",tool="other"}`:                      1,
		`mcp_auth_mcp_tool_errors_total{tool="other"}`:                                       1,
		`mcp_auth_mcp_tool_errors_total{tool="ok"}`:                                          1,
		`mcp_auth_upstream_duration_seconds_count{code="200",method="tools/call"}`:           2,
		`mcp_auth_upstream_duration_seconds_count{code="502",method="tools/call"}`:           1,
	}
	for k, d := range deltas {
		if got := after[k] - before[k]; got != d {
			t.Errorf("%s moved by %v, want %v", k, got, d)
		}
	}
	keyLines := []string{fmt.Sprintf(`mcp_auth_keys_ready{issuer=%q}`, as.Issuer), fmt.Sprintf(`mcp_auth_keys_last_success_timestamp_seconds{issuer=%q}`, as.Issuer),
		fmt.Sprintf(`mcp_auth_jwks_fetches_total{issuer=%q,result="ok"}`, as.Issuer)}
	for _, k := range keyLines {
		if after[k] == 0 {
			t.Errorf("%s missing", k)
		}
	}

	// caddy reload: a changed config, a new metrics registry.
	load(t, strings.Replace(cfg, "admin_tool mcp:admin", "admin_tool mcp:root", 1))
	reloaded := promText(t, metrics)
	for k := range deltas {
		if reloaded[k] != after[k] {
			t.Errorf("after the reload %s = %v, was %v", k, reloaded[k], after[k])
		}
	}
	for _, k := range keyLines {
		if reloaded[k] != after[k] {
			t.Errorf("after the reload %s = %v, was %v", k, reloaded[k], after[k])
		}
	}
	if got := post(t, resource, bearer, call("ok")); got != 200 {
		t.Fatalf("after the reload: %d", got)
	}
	k1 := `mcp_auth_requests_total{reason="none",result="allowed"}`
	if got := promText(t, metrics)[k1]; got != after[k1]+1 {
		t.Errorf("%s = %v after one more request, want %v", k1, got, after[k1]+1)
	}

	// Caddy's access log, one line per request, with the MCP fields.
	_ = caddy.Stop()
	var lines []map[string]any
	b, _ := os.ReadFile(logFile)
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q", l)
		}
		lines = append(lines, m)
	}
	if len(lines) != 10 {
		t.Fatalf("%d access lines for 10 requests", len(lines))
	}
	for i, want := range []map[string]any{
		{"result": "denied", "auth_failure": "missing", "mcp_method": nil},
		{"result": "denied", "auth_failure": "token_in_query"},
		{"result": "denied", "auth_failure": "malformed_header"},
		{"result": "denied", "auth_failure": "origin"},
		{"result": "denied", "auth_failure": "insufficient_scope", "mcp_method": "tools/call", "mcp_name": "admin_tool", "subject": "alice", "client_id": "cli-7", "status": 403.0},
		{},
		{"result": "allowed", "mcp_name": "ok", "upstream_outcome": "ok", "upstream_status": 200.0, "is_error": false, "subject": "alice", "user_id": "alice"},
		{"result": "allowed", "mcp_name": "err_json", "is_error": true},
		{"result": "error", "mcp_name": "ok", "upstream_outcome": "error_status", "upstream_status": 502.0, "status": 200.0, "is_error": true},
	} {
		for k, v := range want {
			if lines[i][k] != v {
				t.Errorf("line %d: %s = %v, want %v\n%v", i, k, lines[i][k], v, lines[i])
			}
		}
	}
}

// TestReadiness: mcp_auth_ready (a handler in any site) and the admin
// API's /mcp_auth/ready answer like the sidecar's /readyz: 503 while an
// issuer's keys are not loaded, then 200, with each issuer's state.
func TestReadiness(t *testing.T) {
	k := jwkstest.NewKey(t, "k", "ES256")
	as := jwkstest.NewServer(t, k)
	as.SetFailing(true)
	up := behaviour.NewUpstream(t)
	addr, probe, admin := behaviour.FreeAddr(t), behaviour.FreeAddr(t), behaviour.FreeAddr(t)
	resource := "http://" + addr + "/mcp"
	cfg := strings.Replace(globals(t, ""), "admin off", "admin "+admin, 1) +
		site(addr, resource, as.Issuer, as.JWKSURL(), up.URL, "", "") +
		fmt.Sprintf("http://:%s {\n\tbind 127.0.0.1\n\thandle /readyz {\n\t\tmcp_auth_ready\n\t}\n\thandle /readyz/all {\n\t\tmcp_auth_ready %s {\n\t\t\treadiness all\n\t\t}\n\t}\n\thandle /readyz/other {\n\t\tmcp_auth_ready https://other.example/mcp\n\t}\n}\n", portOf(probe), resource)
	loadCaddy(t, cfg)
	get := func(url string) (int, readyBody) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b readyBody
		if err := json.NewDecoder(resp.Body).Decode(&b); err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		return resp.StatusCode, b
	}
	for _, u := range []string{"http://" + probe + "/readyz", "http://" + probe + "/readyz/all", "http://" + admin + "/mcp_auth/ready"} {
		status, b := get(u)
		if status != 503 || b.Ready || len(b.Issuers) != 1 || b.Issuers[0].Issuer != as.Issuer || b.Issuers[0].Ready {
			t.Fatalf("%s while the AS is down: %d %+v", u, status, b)
		}
	}
	as.SetFailing(false)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if status, _ := get("http://" + probe + "/readyz"); status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("never ready after the AS recovered")
		}
	}
	for _, u := range []string{"http://" + probe + "/readyz", "http://" + probe + "/readyz/all", "http://" + admin + "/mcp_auth/ready?readiness=all"} {
		status, b := get(u)
		if status != 200 || !b.Ready || len(b.Issuers) != 1 || !b.Issuers[0].Ready || b.Issuers[0].Keys != 1 {
			t.Fatalf("%s: %d %+v", u, status, b)
		}
	}
	if status, b := get("http://" + probe + "/readyz/other"); status != 503 || len(b.Issuers) != 0 {
		t.Fatalf("a resource no mcp_auth serves: %d %+v", status, b)
	}
	if _, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(globals(t, "")+"http://:1 {\n\tmcp_auth_ready {\n\t\treadiness most\n\t}\n}\n"), nil); err == nil || !strings.Contains(err.Error(), "not one of any, all") {
		t.Fatalf("readiness most: %v", err)
	}
}

// TestTracingUnderCaddy: with Caddy's tracing directive, mcp_auth's
// request span is a child of Caddy's server span, with its validation,
// policy and upstream children, and the upstream receives the upstream
// span's traceparent.
func TestTracingUnderCaddy(t *testing.T) {
	rcv := otlptest.New(t)
	t.Setenv("OTEL_TRACES_EXPORTER", "otlp")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", rcv.URL+"/v1/traces")
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
	k := jwkstest.NewKey(t, "k", "ES256")
	as := jwkstest.NewServer(t, k)
	up := behaviour.NewUpstream(t)
	addr := behaviour.FreeAddr(t)
	resource := "http://" + addr + "/mcp"
	loadCaddy(t, globals(t, "")+site(addr, resource, as.Issuer, as.JWKSURL(), up.URL, "", "tracing {\n\t\tspan caddy_mcp\n\t}"))
	tok := k.Sign(t, jwt.MapClaims{"iss": as.Issuer, "sub": "alice", "aud": resource, "exp": time.Now().Add(time.Hour).Unix(), "scope": "mcp:read"}, nil)
	if status := post(t, resource, map[string]string{"Authorization": "Bearer " + tok}, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ok"}}`); status != 200 {
		t.Fatalf("status %d", status)
	}
	spans := rcv.Wait(t, 10*time.Second, func(s []otlptest.Span) bool { return len(otlptest.Named(s, "caddy_mcp")) == 1 && len(s) >= 5 })
	caddySpan := otlptest.Named(spans, "caddy_mcp")[0]
	root := otlptest.Named(spans, "tools/call ok")
	if len(root) != 1 || root[0].ParentID != caddySpan.SpanID || root[0].TraceID != caddySpan.TraceID || root[0].Kind.String() != "SPAN_KIND_INTERNAL" {
		t.Fatalf("mcp_auth's span is not under Caddy's: %+v", spans)
	}
	if root[0].Attrs["mcp.method.name"] != "tools/call" || root[0].Attrs["gen_ai.tool.name"] != "ok" || root[0].Scope != "github.com/mcp-frontdoor/mcp-frontdoor/pkg/mcpproxy" {
		t.Errorf("request span: %+v", root[0])
	}
	for _, name := range []string{"mcp_auth.validate", "mcp_auth.policy", "mcp_auth.upstream"} {
		if c := otlptest.Named(spans, name); len(c) != 1 || c[0].ParentID != root[0].SpanID {
			t.Fatalf("%s: %+v", name, c)
		}
	}
	upSpan := otlptest.Named(spans, "mcp_auth.upstream")[0]
	if got, want := up.Last().Header.Get("Traceparent"), "00-"+root[0].TraceID+"-"+upSpan.SpanID+"-01"; got != want {
		t.Errorf("upstream traceparent %q, want %q", got, want)
	}
}

// TestSidecarObservabilityKeysInCaddyfile: log_sampling and tracing are
// the sidecar's; in mcp_auth they are errors pointing to Caddy's own.
func TestSidecarObservabilityKeysInCaddyfile(t *testing.T) {
	for key, hint := range map[string]string{"tracing": "tracing directive", "log_sampling": "sampling subdirective"} {
		cfg := globals(t, "") + site("127.0.0.1:1", "http://127.0.0.1:1/mcp", "http://127.0.0.1:2", "http://127.0.0.1:2/jwks", "http://127.0.0.1:3", key+" on", "")
		_, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cfg), nil)
		if err == nil || !strings.Contains(err.Error(), hint) {
			t.Errorf("%s: %v", key, err)
		}
	}
}
