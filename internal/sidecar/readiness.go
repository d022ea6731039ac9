package sidecar

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

// opsState is the App's operational state: what the current
// configuration's operational keys say (applied on New and every Reload),
// the drain, and the reload notifications the file watcher follows.
type opsState struct {
	admin    atomic.Pointer[adminPolicy]
	draining atomic.Bool
	streams  streamSet
	// reloaded receives (without blocking) after every applied
	// configuration, so the file watcher re-reads what to watch.
	reloaded chan struct{}
}

// adminPolicy is what the admin endpoint does under one configuration.
type adminPolicy struct {
	all    bool // readiness: all
	detail bool // admin_detail
	allow  []netip.Prefix
}

// applyOps puts the operational keys of cfg, the configuration now
// serving, into effect: log_level, readiness, admin_detail and
// admin_allow. Called by New and by every successful Reload.
func (a *App) applyOps(cfg *Config) {
	if a.ops.reloaded == nil {
		a.ops.reloaded = make(chan struct{}, 1)
	}
	allow, _ := cfg.adminAllow() // checked by Config.Check
	a.ops.admin.Store(&adminPolicy{all: cfg.ReadinessPolicy() == ReadinessAll, detail: cfg.AdminDetails(), allow: allow})
	if lvl, ok := levelOf(a.log); ok {
		if want, err := zapcore.ParseLevel(cfg.Level()); err == nil && lvl.Level() != want {
			// Said at whichever of the two levels lets it through.
			raise := want > lvl.Level()
			if raise {
				a.log.Info("log level changed", zap.String("log_level", want.String()))
			}
			lvl.SetLevel(want)
			if !raise {
				a.log.Info("log level changed", zap.String("log_level", want.String()))
			}
		}
	}
	select {
	case a.ops.reloaded <- struct{}{}:
	default:
	}
}

// LogLevel is the logger's current level when it can follow log_level on
// reload (a logger from NewLogger), else false.
func (a *App) LogLevel() (zapcore.Level, bool) {
	lvl, ok := levelOf(a.log)
	return lvl.Level(), ok
}

// Draining reports whether the sidecar is shutting down (/readyz is 503).
func (a *App) Draining() bool { return a.ops.draining.Load() }

// readyzBody is /readyz's JSON. Readiness and Issuers are left out with
// admin_detail: false.
type readyzBody struct {
	Ready     bool              `json:"ready"`
	Draining  bool              `json:"draining"`
	Readiness string            `json:"readiness,omitempty"`
	Issuers   []rs.KeySetStatus `json:"issuers,omitempty"`
}

// readyz is GET /readyz: 200 when not draining and any (readiness: any)
// or every (readiness: all) issuer's keys are loaded, else 503.
func (a *App) readyz(w http.ResponseWriter, _ *http.Request) {
	p := a.ops.admin.Load()
	st := a.Validator().Status()
	ready := issuersReady(st, p.all)
	draining := a.ops.draining.Load()
	if draining {
		ready = false
	}
	body := readyzBody{Ready: ready, Draining: draining}
	if p.detail {
		body.Readiness = ReadinessAny
		if p.all {
			body.Readiness = ReadinessAll
		}
		body.Issuers = st
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(body)
}

// issuersReady applies the readiness policy to the issuers' states.
func issuersReady(st []rs.KeySetStatus, all bool) bool {
	n := 0
	for _, s := range st {
		if s.Ready {
			n++
		}
	}
	if all {
		return n > 0 && n == len(st)
	}
	return n > 0
}

// adminGate refuses, with 403, clients outside admin_allow (loopback is
// always allowed, so `mcp-sidecar healthcheck` works in the container).
func (a *App) adminGate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := a.ops.admin.Load(); len(p.allow) > 0 && !p.allowed(r.RemoteAddr) {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (p *adminPolicy) allowed(remote string) bool {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
	if ip.IsLoopback() {
		return true
	}
	for _, pf := range p.allow {
		if pf.Contains(ip) {
			return true
		}
	}
	return false
}

// AdminURL is the base URL (http://host:port) of the admin endpoint a
// config file sets up, for `mcp-sidecar healthcheck --config`: a wildcard
// host (0.0.0.0, ::, empty) becomes the loopback address. Only the file's
// own keys are read (no secrets, no environment). An error when the
// admin endpoint is off.
func AdminURL(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read config: %w", err)
	}
	var c Config
	if err := decodeYAML(b, &c); err != nil {
		return "", err
	}
	addr := c.AdminAddr()
	if addr == "off" {
		return "", fmt.Errorf("admin_listen is off in %s: nothing to probe", path)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("admin_listen %q is not host:port", addr)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::", "[::]":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port), nil
}
