package promreg

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func counterVec() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "promreg_test_total", Help: "h"}, []string{"l"})
}

func TestRegisterReusesExisting(t *testing.T) {
	reg := prometheus.NewRegistry()
	first, err := Register(reg, counterVec())
	if err != nil {
		t.Fatal(err)
	}
	second, err := Register(reg, counterVec())
	if err != nil {
		t.Fatal(err)
	}
	if first != second {
		t.Fatal("second registration did not return the registered collector")
	}
}

func TestRegisterNilRegistry(t *testing.T) {
	c := counterVec()
	got, err := Register(nil, c)
	if err != nil || got != c {
		t.Fatalf("Register(nil) = %p, %v; want %p, nil", got, err, c)
	}
}

func TestRegisterConflict(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := Register(reg, counterVec()); err != nil {
		t.Fatal(err)
	}
	// Same name, other labels: not the same description, so an error.
	other := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "promreg_test_total", Help: "h"}, []string{"x"})
	if _, err := Register(reg, other); err == nil {
		t.Fatal("conflicting collector registered")
	}
	// Same description, other Go type: the existing one cannot be returned.
	gauge := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "promreg_test_total", Help: "h"}, []string{"l"})
	if _, err := Register(reg, gauge); err == nil {
		t.Fatal("collector of another type reused")
	}
}
