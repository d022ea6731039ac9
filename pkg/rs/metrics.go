package rs

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/promreg"
)

// Metrics are the resource server's Prometheus collectors. A nil *Metrics
// records nothing.
type Metrics struct {
	validations *prometheus.CounterVec
	jwksFetches *prometheus.CounterVec
	keys        *keyCollector
}

// NewMetrics registers the collectors with reg. Registering twice (the same
// directive in several Caddy sites, or a reload) reuses the collectors that
// are already there, as Caddy's reverse proxy does.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		validations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mcp_auth", Name: "validations_total",
			Help: "Token validations by result (valid, cache_hit, or the failure reason) and trusted issuer.",
		}, []string{"result", "issuer"}),
		jwksFetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mcp_auth", Name: "jwks_fetches_total",
			Help: "JWKS fetches by issuer and result (ok, error, rate_limited).",
		}, []string{"issuer", "result"}),
		keys: newKeyCollector(),
	}
	var err error
	if m.validations, err = promreg.Register(reg, m.validations); err != nil {
		return nil, err
	}
	if m.jwksFetches, err = promreg.Register(reg, m.jwksFetches); err != nil {
		return nil, err
	}
	if m.keys, err = promreg.Register(reg, m.keys); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Metrics) validation(result, issuer string) {
	if m == nil {
		return
	}
	m.validations.WithLabelValues(result, issuer).Inc()
}

func (m *Metrics) jwksFetch(issuer, result string) {
	if m == nil {
		return
	}
	m.jwksFetches.WithLabelValues(issuer, result).Inc()
}

// track makes k's state part of the key gauges (until untrack).
func (m *Metrics) track(k *KeySet) {
	if m != nil {
		m.keys.add(k)
	}
}

func (m *Metrics) untrack(k *KeySet) {
	if m != nil {
		m.keys.remove(k)
	}
}

// keyCollector reports the state of the live key sets when scraped:
// mcp_auth_keys_ready and mcp_auth_keys_last_success_timestamp_seconds per
// issuer. A series exists while a key set of its issuer runs (a stopped
// key set, an issuer removed by a reload, takes its series with it), so
// nothing is left behind and nothing needs updating on each fetch.
type keyCollector struct {
	ready, lastSuccess *prometheus.Desc

	mu   sync.Mutex
	sets map[*KeySet]struct{}
}

func newKeyCollector() *keyCollector {
	return &keyCollector{
		ready: prometheus.NewDesc("mcp_auth_keys_ready",
			"1 when the issuer's signing keys are loaded (tokens of it can be validated), else 0.", []string{"issuer"}, nil),
		lastSuccess: prometheus.NewDesc("mcp_auth_keys_last_success_timestamp_seconds",
			"Unix time of the issuer's last successful key (JWKS) fetch; absent before the first.", []string{"issuer"}, nil),
		sets: map[*KeySet]struct{}{},
	}
}

func (c *keyCollector) add(k *KeySet) {
	c.mu.Lock()
	c.sets[k] = struct{}{}
	c.mu.Unlock()
}

func (c *keyCollector) remove(k *KeySet) {
	c.mu.Lock()
	delete(c.sets, k)
	c.mu.Unlock()
}

// Describe implements prometheus.Collector.
func (c *keyCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.ready
	ch <- c.lastSuccess
}

// Collect implements prometheus.Collector. Key sets of one issuer (other
// fetch settings, during a reload) are reported as one: ready if any is,
// the latest success.
func (c *keyCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	sets := make([]*KeySet, 0, len(c.sets))
	for k := range c.sets {
		sets = append(sets, k)
	}
	c.mu.Unlock()
	type state struct {
		ready bool
		last  time.Time
	}
	by := map[string]*state{}
	for _, k := range sets {
		s := k.status()
		st := by[s.Issuer]
		if st == nil {
			st = &state{}
			by[s.Issuer] = st
		}
		st.ready = st.ready || s.Ready
		if s.LoadedAt.After(st.last) {
			st.last = s.LoadedAt
		}
	}
	for iss, st := range by {
		v := 0.0
		if st.ready {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.ready, prometheus.GaugeValue, v, iss)
		if !st.last.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.lastSuccess, prometheus.GaugeValue, float64(st.last.UnixNano())/1e9, iss)
		}
	}
}
