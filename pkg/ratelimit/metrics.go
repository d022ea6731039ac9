package ratelimit

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/promreg"
)

// Values of the result label.
const (
	resultAllowed    = "allowed"
	resultLimited    = "limited"
	resultStoreError = "store_error"
)

// metrics are the Limiter's collectors. Labels are bounded: no caller,
// method or tool.
type metrics struct {
	decisions *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mcp_auth", Subsystem: "ratelimit", Name: "decisions_total",
			Help: "Rate limit decisions by result: allowed, limited (over a limit), store_error (the store could not answer; on_store_error decided).",
		}, []string{"result"}),
	}
	var err error
	if m.decisions, err = promreg.Register(reg, m.decisions); err != nil {
		return nil, err
	}
	for _, r := range []string{resultAllowed, resultLimited, resultStoreError} {
		m.decisions.WithLabelValues(r)
	}
	return m, nil
}

func (m *metrics) decision(result string) { m.decisions.WithLabelValues(result).Inc() }
