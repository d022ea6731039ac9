package examples

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/jwkstest"
	"github.com/mcp-frontdoor/mcp-frontdoor/internal/sidecar"
)

// dashboardFile is the Grafana dashboard shipped in examples/.
const dashboardFile = "grafana/mcp-frontdoor.json"

// dashboardQueries returns every PromQL expression of the dashboard: the
// panels' targets and the template variables' queries.
func dashboardQueries(t *testing.T) []string {
	t.Helper()
	var d struct {
		Panels []struct {
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(mustRead(t, dashboardFile), &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var out []string
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("panel %q has an empty query", p.Title)
			}
			out = append(out, tg.Expr)
		}
	}
	for _, v := range d.Templating.List {
		if q, ok := v.Query.(map[string]any); ok && v.Type == "query" {
			s, _ := q["query"].(string)
			out = append(out, s)
		}
	}
	return out
}

var (
	// promStrings and promMatchers are removed before looking for names.
	promStrings  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promMatchers = regexp.MustCompile(`\{[^{}]*\}|\[[^\]]*\]|\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promNumbers  = regexp.MustCompile(`(^|[^a-zA-Z0-9_:.])(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?`)
	promIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?`)
	// promWords are PromQL words that are not metric names.
	promWords = []string{"and", "or", "unless", "bool", "offset"}
)

// metricNames extracts the metric names a PromQL expression (or a
// Grafana label_values(metric, label) query) reads.
func metricNames(expr string) []string {
	if rest, ok := strings.CutPrefix(strings.TrimSpace(expr), "label_values("); ok {
		if i := strings.LastIndexByte(rest, ','); i >= 0 {
			expr = rest[:i]
		}
	}
	e := promStrings.ReplaceAllString(expr, `""`)
	e = promMatchers.ReplaceAllString(e, " ")
	e = promNumbers.ReplaceAllString(e, "${1} ")
	var out []string
	for _, m := range promIdent.FindAllStringSubmatch(e, -1) {
		name := m[0]
		if m[1] != "" || slices.Contains(promWords, name) { // a function call, label_values(...) included
			continue
		}
		out = append(out, name)
	}
	return out
}

func TestMetricNamesOfPromQL(t *testing.T) {
	for expr, want := range map[string][]string{
		`sum by (result) (rate(mcp_auth_requests_total{job=~"$job", result="denied"}[$__rate_interval]))`: {"mcp_auth_requests_total"},
		`histogram_quantile(0.95, sum by (le, method) (rate(x_bucket{a="b"}[5m])))`:                       {"x_bucket"},
		`time() - max by (issuer) (a_seconds) / clamp_min(b_total, 1e-9) * 2.5 > .5`:                      {"a_seconds", "b_total"},
		`label_values(mcp_auth_requests_total{job=~"$job"}, instance)`:                                    {"mcp_auth_requests_total"},
	} {
		if got := metricNames(expr); !slices.Equal(got, want) {
			t.Errorf("metricNames(%s) = %v, want %v", expr, got, want)
		}
	}
}

// TestDashboardMetricsAreExported: every metric the Grafana dashboard
// queries is on a running sidecar's /metrics after some traffic (allowed
// and denied requests, a tool error, a rate limit), and the dashboard has
// the panels the operations section promises.
func TestDashboardMetricsAreExported(t *testing.T) {
	queries := dashboardQueries(t)
	want := map[string]bool{}
	for _, q := range queries {
		names := metricNames(q)
		if len(names) == 0 {
			t.Errorf("no metric in %q", q)
		}
		for _, n := range names {
			want[n] = true
		}
	}
	for _, n := range []string{"mcp_auth_requests_total", "mcp_auth_mcp_requests_total", "mcp_auth_mcp_tool_errors_total",
		"mcp_auth_upstream_duration_seconds_bucket", "mcp_auth_keys_ready", "mcp_auth_keys_last_success_timestamp_seconds"} {
		if !want[n] {
			t.Errorf("the dashboard does not show %s", n)
		}
	}

	exported := runSidecarForMetrics(t)
	var missing []string
	for n := range want {
		if !exported[n] {
			missing = append(missing, n)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Fatalf("the dashboard queries metrics the sidecar does not export: %v", missing)
	}
}

// runSidecarForMetrics serves a sidecar, sends it some traffic and
// returns the sample names on its /metrics.
func runSidecarForMetrics(t *testing.T) map[string]bool {
	t.Helper()
	k := jwkstest.NewKey(t, "k", "ES256")
	as := jwkstest.NewServer(t, k)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Mcp-Session-Id", "s-1")
		isErr := strings.Contains(string(b), `"broken"`)
		fmt.Fprintf(w, `{"jsonrpc":"2.0","id":1,"result":{"content":[],"isError":%v}}`, isErr)
	}))
	t.Cleanup(up.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adminLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base, admin := "http://"+ln.Addr().String(), "http://"+adminLn.Addr().String()
	cfg, err := sidecar.Parse([]byte(fmt.Sprintf(`listen: %s
admin_listen: %s
upstream: %s
resource: %s/mcp
drain_delay: 0s
authorization_servers:
  - issuer: %s
    jwks_uri: %s
required_scopes:
  tools:
    search: [mcp:read]
    broken: [mcp:read]
    delete: [mcp:admin]
rate_limits:
  tools:
    search: {rate: 1/h, burst: 2}
`, ln.Addr(), adminLn.Addr(), up.URL, base, as.Issuer, as.JWKSURL())))
	if err != nil {
		t.Fatal(err)
	}
	app, err := sidecar.New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Serve(ctx, ln, adminLn) }()
	t.Cleanup(func() { cancel(); <-done })
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if resp, err := http.Get(admin + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("sidecar not ready")
		}
	}
	tok := k.Sign(t, jwt.MapClaims{"iss": as.Issuer, "sub": "alice", "aud": base + "/mcp", "scope": "mcp:read",
		"exp": time.Now().Add(time.Hour).Unix()}, nil)
	send := func(auth, tool string) {
		req, _ := http.NewRequest("POST", base+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"`+tool+`"}}`))
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	for _, tool := range []string{"search", "search", "search", "broken", "delete", "unlisted"} {
		send(tok, tool)
	}
	send("", "search")
	send("not-a-token", "search")

	resp, err := http.Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	names := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || l[0] == '#' {
			continue
		}
		if i := strings.IndexAny(l, "{ "); i > 0 {
			names[l[:i]] = true
		}
	}
	return names
}
