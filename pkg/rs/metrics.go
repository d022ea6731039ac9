package rs

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/promreg"
)

// Metrics are the resource server's Prometheus collectors. A nil *Metrics
// records nothing.
type Metrics struct {
	validations *prometheus.CounterVec
	jwksFetches *prometheus.CounterVec
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
	}
	var err error
	if m.validations, err = promreg.Register(reg, m.validations); err != nil {
		return nil, err
	}
	if m.jwksFetches, err = promreg.Register(reg, m.jwksFetches); err != nil {
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
