package caddymodule

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

func init() {
	caddy.RegisterModule(Ready{})
	caddy.RegisterModule(readyAdmin{})
	httpcaddyfile.RegisterHandlerDirective("mcp_auth_ready", parseReadyCaddyfile)
	// A terminal handler: it answers, like respond.
	httpcaddyfile.RegisterDirectiveOrder("mcp_auth_ready", httpcaddyfile.Before, "respond")
}

// authMetrics is the Registerer of every mcp_auth handler: its collectors
// (token validations, key state, requests, tool errors, upstream latency,
// rate limits) live as long as the process, and each config that
// provisions an mcp_auth registers them with its own registry, so a
// `caddy reload` keeps the counters (and the key gauges of key sets it
// keeps) on the new config's /metrics, as the key sets themselves are
// kept.
var authMetrics = &collectorSet{reg: prometheus.NewRegistry()}

// provisioned are the mcp_auth handlers of the running configs (a reload
// briefly has the old and the new one), for readiness.
var provisioned = &handlerSet{hs: map[*Handler]struct{}{}}

type handlerSet struct {
	mu sync.Mutex
	hs map[*Handler]struct{}
}

func (s *handlerSet) add(h *Handler) {
	s.mu.Lock()
	s.hs[h] = struct{}{}
	s.mu.Unlock()
}

func (s *handlerSet) remove(h *Handler) {
	s.mu.Lock()
	delete(s.hs, h)
	s.mu.Unlock()
}

// status is the key state of every issuer of the provisioned handlers
// (of the one resource, when not ""), each issuer once.
func (s *handlerSet) status(resource string) []rs.KeySetStatus {
	s.mu.Lock()
	hs := make([]*Handler, 0, len(s.hs))
	for h := range s.hs {
		hs = append(hs, h)
	}
	s.mu.Unlock()
	seen := map[string]int{}
	var out []rs.KeySetStatus
	for _, h := range hs {
		if h.fd == nil || resource != "" && h.fd.Resource().Resource != resource {
			continue
		}
		for _, st := range h.fd.Validator().Status() {
			key := st.Issuer + "\x00" + st.JWKSURI
			if i, dup := seen[key]; dup {
				out[i].Ready = out[i].Ready || st.Ready
				continue
			}
			seen[key] = len(out)
			out = append(out, st)
		}
	}
	slices.SortStableFunc(out, func(a, b rs.KeySetStatus) int { return strings.Compare(a.Issuer, b.Issuer) })
	return out
}

// Readiness policies (as the sidecar's readiness key).
const (
	readinessAny = "any"
	readinessAll = "all"
)

// readyBody is the sidecar's /readyz JSON.
type readyBody struct {
	Ready     bool              `json:"ready"`
	Readiness string            `json:"readiness"`
	Issuers   []rs.KeySetStatus `json:"issuers"`
}

// answerReady writes the readiness of the issuers of resource ("": all):
// 200 when any (readiness any) or every (all) issuer's keys are loaded,
// else 503; no mcp_auth at all is not ready.
func answerReady(w http.ResponseWriter, resource, readiness string) {
	if readiness == "" {
		readiness = readinessAny
	}
	st := provisioned.status(resource)
	n := 0
	for _, s := range st {
		if s.Ready {
			n++
		}
	}
	ready := n > 0
	if readiness == readinessAll {
		ready = n > 0 && n == len(st)
	}
	if st == nil {
		st = []rs.KeySetStatus{}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(readyBody{Ready: ready, Readiness: readiness, Issuers: st})
}

// Ready is the http.handlers.mcp_auth_ready module: it answers with the
// key readiness of the mcp_auth handlers of the running config, as the
// sidecar's /readyz does (200 or 503, JSON with each issuer's state), for
// a load balancer or Kubernetes probe. It is terminal.
//
//	mcp_auth_ready [<resource>] {
//		readiness any|all
//	}
type Ready struct {
	// Resource limits the answer to the mcp_auth handlers of this
	// resource (default: every mcp_auth of the config).
	Resource string `json:"resource,omitempty"`
	// Readiness is "any" (default: ready once any issuer's keys are
	// loaded) or "all" (every issuer's).
	Readiness string `json:"readiness,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Ready) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.mcp_auth_ready", New: func() caddy.Module { return new(Ready) }}
}

// Validate checks the readiness policy.
func (r *Ready) Validate() error {
	switch r.Readiness {
	case "", readinessAny, readinessAll:
		return nil
	}
	return fmt.Errorf("mcp_auth_ready: readiness %q is not one of any, all", r.Readiness)
}

// ServeHTTP answers with the readiness.
func (r *Ready) ServeHTTP(w http.ResponseWriter, _ *http.Request, _ caddyhttp.Handler) error {
	answerReady(w, r.Resource, r.Readiness)
	return nil
}

func parseReadyCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	r := new(Ready)
	err := r.UnmarshalCaddyfile(h.Dispenser)
	return r, err
}

// UnmarshalCaddyfile reads `mcp_auth_ready [<resource>] { readiness any|all }`.
func (r *Ready) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		r.Resource = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "readiness":
			if !d.NextArg() {
				return d.ArgErr()
			}
			r.Readiness = d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
		default:
			return d.Errf("unknown subdirective %q (want readiness)", d.Val())
		}
	}
	return r.Validate()
}

// readyAdmin is the admin.api.mcp_auth module: GET /mcp_auth/ready on
// Caddy's admin endpoint answers as mcp_auth_ready does (every mcp_auth
// of the config; ?readiness=all, ?resource=URL), e.g. for `caddy
// mcp-healthcheck --uri /mcp_auth/ready`.
type readyAdmin struct{}

// CaddyModule returns the Caddy module information.
func (readyAdmin) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "admin.api.mcp_auth", New: func() caddy.Module { return new(readyAdmin) }}
}

// Routes serves /mcp_auth/ready.
func (readyAdmin) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: "/mcp_auth/ready", Handler: caddy.AdminHandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method not allowed")}
		}
		q := r.URL.Query()
		readiness := q.Get("readiness")
		if readiness != "" && readiness != readinessAny && readiness != readinessAll {
			return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("readiness %q is not one of any, all", readiness)}
		}
		answerReady(w, q.Get("resource"), readiness)
		return nil
	})}}
}

// Interface guards.
var (
	_ caddyhttp.MiddlewareHandler = (*Ready)(nil)
	_ caddy.Validator             = (*Ready)(nil)
	_ caddyfile.Unmarshaler       = (*Ready)(nil)
	_ caddy.AdminRouter           = readyAdmin{}
)
