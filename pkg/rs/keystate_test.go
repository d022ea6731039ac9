package rs_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/jwkstest"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

// TestKeyStateGaugesAndLogs: mcp_auth_keys_ready and
// mcp_auth_keys_last_success_timestamp_seconds follow a key set (0 before
// its first load, 1 after, gone once it stops); one info line when the
// keys become ready, one when they go stale (however many refreshes
// fail), one when they are fresh again.
func TestKeyStateGaugesAndLogs(t *testing.T) {
	k := jwkstest.NewKey(t, "k", "ES256")
	srv := jwkstest.NewServer(t, k)
	reg := prometheus.NewPedanticRegistry()
	m, err := rs.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := rs.NewMetrics(reg); err != nil || again == nil {
		t.Fatalf("registering twice: %v", err) // a reload reuses the collectors
	}
	core, logs := observer.New(zap.InfoLevel)
	as := rs.AuthorizationServer{Issuer: srv.Issuer, JWKSURI: srv.JWKSURL(), JWKSRefreshInterval: rs.Duration(40 * time.Millisecond)}
	ks := rs.NewKeySet(as, rs.KeySetOptions{Metrics: m, Logger: zap.New(core)})
	defer ks.Stop()

	gauges := func() string {
		t.Helper()
		var b strings.Builder
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if !strings.HasPrefix(mf.GetName(), "mcp_auth_keys_") {
				continue
			}
			for _, mt := range mf.GetMetric() {
				v := mt.GetGauge().GetValue()
				if strings.HasSuffix(mf.GetName(), "timestamp_seconds") {
					if time.Since(time.Unix(int64(v), 0)) > time.Minute {
						t.Errorf("last success %v is not recent", v)
					}
					v = 1 // recent
				}
				b.WriteString(mf.GetName() + "{" + mt.GetLabel()[0].GetValue() + "}=" + map[bool]string{true: "1", false: "0"}[v == 1] + " ")
			}
		}
		return b.String()
	}
	if got, want := gauges(), "mcp_auth_keys_ready{"+srv.Issuer+"}=0 "; got != want {
		t.Fatalf("before loading: %q, want %q", got, want)
	}
	count := func(msg string) int { return logs.FilterMessage(msg).Len() }
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; logs: %v", what, logs.All())
			}
		}
	}
	ks.Start()
	waitFor("ready", func() bool { return count("issuer keys ready") == 1 })
	want := "mcp_auth_keys_last_success_timestamp_seconds{" + srv.Issuer + "}=1 mcp_auth_keys_ready{" + srv.Issuer + "}=1 "
	if got := gauges(); got != want {
		t.Fatalf("after loading: %q, want %q", got, want)
	}
	if e := logs.FilterMessage("issuer keys ready").All()[0]; e.ContextMap()["issuer"] != srv.Issuer || e.ContextMap()["keys"] != int64(1) {
		t.Errorf("ready line fields: %v", e.ContextMap())
	}

	srv.SetFailing(true)
	waitFor("several failed refreshes", func() bool { return logs.FilterMessage("jwks fetch failed; serving last good keys").Len() >= 3 })
	if n := count("issuer keys stale: refreshing them failed; the last good keys keep serving"); n != 1 {
		t.Fatalf("stale lines = %d, want 1", n)
	}
	if got := gauges(); got != want {
		t.Fatalf("while stale (keys still serve): %q, want %q", got, want)
	}
	srv.SetFailing(false)
	waitFor("fresh again", func() bool { return count("issuer keys ready again: refreshed after failures") == 1 })
	if n := count("issuer keys ready"); n != 1 {
		t.Errorf("first-ready lines = %d, want 1", n)
	}

	ks.Stop()
	if got := gauges(); got != "" {
		t.Fatalf("after Stop: %q, want no series", got)
	}
	if n, err := testutil.GatherAndCount(reg, "mcp_auth_jwks_fetches_total"); err != nil || n == 0 {
		t.Fatalf("jwks_fetches_total series = %d, %v", n, err)
	}
}
