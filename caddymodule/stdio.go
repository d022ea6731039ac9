package caddymodule

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/promreg"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/mcpproxy"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/stdiobridge"
)

func init() {
	caddy.RegisterModule(Stdio{})
}

// stdioPrefix is the option path of the stdio options in errors, as in
// the sidecar's `stdio:` block.
const stdioPrefix = "stdio"

// bridges holds one running stdio bridge (its sessions and processes) per
// set of options across config reloads: a reload that leaves an
// mcp_stdio block unchanged keeps every session.
var bridges = caddy.NewUsagePool()

// bridgeDestructor stops a pooled bridge's processes when its last config
// goes, waiting at most wait.
type bridgeDestructor struct {
	b    *stdiobridge.Bridge
	wait time.Duration
}

func (d bridgeDestructor) Destruct() error {
	ctx, cancel := context.WithTimeout(context.Background(), d.wait)
	defer cancel()
	return d.b.Close(ctx)
}

// Stdio is the http.handlers.mcp_stdio module: a terminal handler that
// runs a stdio MCP server, one process per MCP session, in place of
// reverse_proxy. mcp_auth must come before it in the route: it serves the
// caller that mcp_auth admitted (a request that did not pass mcp_auth is
// answered 403). Its options are the sidecar's `stdio:` block, key for
// key. Bridges are pooled by their options, so a config reload that
// leaves them unchanged keeps the running sessions; two mcp_stdio
// handlers with identical options share one bridge (its processes and
// limits).
type Stdio struct {
	// Options are the stdio options (command, env, identity_env,
	// secret_env, working_dir, idle_timeout, max_processes,
	// max_per_caller, shutdown_grace). secret_env values and file names
	// may hold Caddy's {env.*} and {file.*} placeholders, expanded at
	// Provision.
	stdiobridge.Options

	logger    *zap.Logger
	bridge    *stdiobridge.Bridge
	poolKey   string
	unguarded *atomic.Bool // the "without mcp_auth" error was logged
}

// CaddyModule returns the Caddy module information.
func (Stdio) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.mcp_stdio", New: func() caddy.Module { return new(Stdio) }}
}

// expandedStdio returns a copy of o with Caddy's placeholders expanded in
// the secret_env values and file names (as mcp_auth expands its secrets);
// a value that expands to nothing is an error naming its field.
func expandedStdio(o stdiobridge.Options) (stdiobridge.Options, error) {
	expand := checkEnv().Expand
	o.SecretEnv = slices.Clone(o.SecretEnv)
	var errs []error
	for i := range o.SecretEnv {
		s := &o.SecretEnv[i]
		for _, p := range []*string{&s.Value, &s.File} {
			if *p == "" {
				continue
			}
			if v := expand(*p); v != "" {
				*p = v
			} else {
				// The placeholder stays, so it is not reported again as
				// a missing value.
				errs = append(errs, &rs.FieldError{Field: fmt.Sprintf("%s.secret_env[%d]", stdioPrefix, i),
					Msg: "is empty after placeholders (is the environment variable set?)"})
			}
		}
	}
	return o, errors.Join(errs...)
}

// checkStdio is `mcp-sidecar validate` for the stdio options: every
// problem, each a *rs.FieldError under "stdio.".
func checkStdio(o stdiobridge.Options) error {
	x, err := expandedStdio(o)
	return errors.Join(err, stdiobridge.Check(x, stdiobridge.Env{Prefix: stdioPrefix}))
}

// Provision takes the bridge for these options from the pool, or starts
// one (stdiobridge.New: the same check as `caddy adapt`).
func (s *Stdio) Provision(ctx caddy.Context) error {
	s.logger = ctx.Logger()
	s.unguarded = new(atomic.Bool)
	o, err := expandedStdio(s.Options)
	if err != nil {
		return fmt.Errorf("mcp_stdio: %w", err)
	}
	n, err := o.Normalized(stdioPrefix)
	if err != nil {
		return fmt.Errorf("mcp_stdio: %w", err)
	}
	// Keyed by the expanded options (hashed: they may hold secrets).
	js, err := json.Marshal(o)
	if err != nil {
		return fmt.Errorf("mcp_stdio: %w", err)
	}
	sum := sha256.Sum256(js)
	key := "stdio:" + hex.EncodeToString(sum[:])
	v, _, err := bridges.LoadOrNew(key, func() (caddy.Destructor, error) {
		b, err := stdiobridge.New(o, stdiobridge.Env{Logger: s.logger, Registerer: stdioMetrics, Prefix: stdioPrefix})
		if err != nil {
			return nil, err
		}
		// Each step of the stop order waits shutdown_grace at most.
		return bridgeDestructor{b: b, wait: 3*time.Duration(n.ShutdownGrace) + 5*time.Second}, nil
	})
	if err != nil {
		return fmt.Errorf("mcp_stdio: %w", err)
	}
	s.poolKey = key
	s.bridge = v.(bridgeDestructor).b
	// Into this config's registry (a kept bridge's too, so its metrics
	// stay on /metrics after a reload).
	if err := stdioMetrics.registerWith(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("mcp_stdio: metrics: %w", err)
	}
	return nil
}

// Cleanup releases the pooled bridge; the last config using it stops its
// processes (stdin closed, SIGTERM, SIGKILL, each after shutdown_grace).
func (s *Stdio) Cleanup() error {
	if s.poolKey == "" {
		return nil
	}
	_, err := bridges.Delete(s.poolKey)
	s.poolKey = ""
	return err
}

// ServeHTTP serves the request with the bridge; it is terminal (next is
// never called).
func (s *Stdio) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if st := mcpproxy.StateFrom(r.Context()); (st == nil || st.Identity() == nil) && s.unguarded.CompareAndSwap(false, true) {
		s.logger.Error("mcp_stdio was reached without mcp_auth in front of it, so it answers 403; put mcp_auth before mcp_stdio in the same route")
	}
	s.bridge.ServeHTTP(w, r)
	return nil
}

func parseStdioCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	s := new(Stdio)
	err := s.UnmarshalCaddyfile(h.Dispenser)
	return s, err
}

// UnmarshalCaddyfile reads the mcp_stdio block. Its subdirectives mirror
// the sidecar's `stdio:` keys one to one:
//
//	mcp_stdio {
//		command npx -y @modelcontextprotocol/server-filesystem /data
//		env LOG_LEVEL info                  # or env { NAME value ... }
//		identity_env {
//			subject MCP_SUBJECT
//			claims {
//				MCP_EMAIL email
//			}
//		}
//		secret_env {
//			GITHUB_TOKEN {env.GITHUB_TOKEN}
//			API_KEY file /run/secrets/k
//			OTHER env OTHER_VAR
//		}
//		working_dir /srv
//		idle_timeout 10m
//		max_processes 200
//		max_per_caller 4
//		shutdown_grace 5s
//	}
//
// Then the whole check runs, so `caddy adapt` refuses what `mcp-sidecar
// validate` refuses; errors name the option path (stdio.command, ...) and
// the line.
func (s *Stdio) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	lines := map[string]int{}
	o := &s.Options
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	for d.NextBlock(0) {
		key := d.Val()
		p := stdioPrefix + "." + key
		if seen[key] && key != "env" {
			return d.Errf("%s: set twice", key)
		}
		seen[key] = true
		lines[p] = d.Line()
		var err error
		switch key {
		case "command":
			// None is the check's error (stdio.command), with this line.
			o.Command = d.RemainingArgs()
		case "env":
			if err = stdioEnv(d, o, lines); err != nil {
				return err
			}
		case "identity_env":
			if d.NextArg() {
				return d.ArgErr()
			}
			for nesting := d.Nesting(); d.NextBlock(nesting); {
				switch d.Val() {
				case "subject":
					lines[p+".subject"] = d.Line()
					err = oneArg(d, &o.IdentityEnv.Subject)
				case "claims":
					if d.NextArg() {
						return d.ArgErr()
					}
					for n2 := d.Nesting(); d.NextBlock(n2); {
						name := d.Val()
						var claim string
						if err := oneArg(d, &claim); err != nil {
							return err
						}
						if _, dup := o.IdentityEnv.Claims[name]; dup {
							return d.Errf("identity_env claims: %s is set twice", name)
						}
						if o.IdentityEnv.Claims == nil {
							o.IdentityEnv.Claims = map[string]string{}
						}
						lines[p+".claims."+name] = d.Line()
						o.IdentityEnv.Claims[name] = claim
					}
				default:
					return d.Errf("identity_env: unknown subdirective %q (want subject or claims)", d.Val())
				}
				if err != nil {
					return err
				}
			}
		case "secret_env":
			if d.NextArg() {
				return d.ArgErr()
			}
			for nesting := d.Nesting(); d.NextBlock(nesting); {
				se := stdiobridge.SecretEnv{Name: d.Val()}
				lines[fmt.Sprintf("%s[%d]", p, len(o.SecretEnv))] = d.Line()
				args := d.RemainingArgs()
				switch {
				case len(args) == 2 && args[0] == "file":
					se.File = args[1]
				case len(args) == 2 && args[0] == "env":
					se.Env = args[1]
				case len(args) == 1:
					se.Value = args[0]
				default:
					return d.Errf("secret_env %s: want a value ({env.NAME}), env NAME or file PATH", se.Name)
				}
				o.SecretEnv = append(o.SecretEnv, se)
			}
		case "working_dir":
			err = oneArg(d, &o.WorkingDir)
		case "idle_timeout":
			err = durArg(d, &o.IdleTimeout)
		case "shutdown_grace":
			err = durArg(d, &o.ShutdownGrace)
		case "max_processes":
			err = intArg(d, &o.MaxProcesses)
		case "max_per_caller":
			err = intArg(d, &o.MaxPerCaller)
		case "upstream":
			return d.Errf("upstream: mcp_stdio runs the MCP server itself; to proxy to an HTTP MCP server, use reverse_proxy instead of mcp_stdio")
		default:
			return d.Errf("unknown subdirective %q", key)
		}
		if err != nil {
			return err
		}
	}
	// The whole check now, reading s and writing nothing to it, so the
	// adapted JSON holds what the Caddyfile says (placeholders included).
	if err := checkStdio(s.Options); err != nil {
		return directiveLineError(d, "mcp_stdio", stdioPrefix+".", err, lines)
	}
	return nil
}

// stdioEnv reads `env NAME value` or `env { NAME value ... }`.
func stdioEnv(d *caddyfile.Dispenser, o *stdiobridge.Options, lines map[string]int) error {
	set := func(args []string) error {
		if len(args) != 2 {
			return d.Errf("env: want NAME value")
		}
		if _, dup := o.Env[args[0]]; dup {
			return d.Errf("env: %s is set twice", args[0])
		}
		if o.Env == nil {
			o.Env = map[string]string{}
		}
		lines[stdioPrefix+".env."+args[0]] = d.Line()
		o.Env[args[0]] = args[1]
		return nil
	}
	if args := d.RemainingArgs(); len(args) > 0 {
		return set(args)
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if err := set(append([]string{d.Val()}, d.RemainingArgs()...)); err != nil {
			return err
		}
	}
	return nil
}

// stdioMetrics is the Registerer of every stdio bridge: the collectors
// live as long as the process (bridges with equal metrics share them, as
// promreg does within a registry), and each config that provisions an
// mcp_stdio registers them with its own registry, so a bridge kept across
// a reload keeps reporting on the new config's /metrics.
var stdioMetrics = &collectorSet{reg: prometheus.NewRegistry()}

type collectorSet struct {
	reg *prometheus.Registry
	mu  sync.Mutex
	cs  []prometheus.Collector
}

// Register registers c (an AlreadyRegisteredError hands back the existing
// one, for promreg.Register).
func (s *collectorSet) Register(c prometheus.Collector) error {
	if err := s.reg.Register(c); err != nil {
		return err
	}
	s.mu.Lock()
	s.cs = append(s.cs, c)
	s.mu.Unlock()
	return nil
}

// MustRegister registers cs, panicking on an error.
func (s *collectorSet) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := s.Register(c); err != nil {
			panic(err)
		}
	}
}

// Unregister unregisters c.
func (s *collectorSet) Unregister(c prometheus.Collector) bool {
	s.mu.Lock()
	s.cs = slices.DeleteFunc(s.cs, func(x prometheus.Collector) bool { return x == c })
	s.mu.Unlock()
	return s.reg.Unregister(c)
}

// registerWith registers every collector with reg (a config's registry);
// ones already there are fine.
func (s *collectorSet) registerWith(reg prometheus.Registerer) error {
	s.mu.Lock()
	cs := slices.Clone(s.cs)
	s.mu.Unlock()
	var errs []error
	for _, c := range cs {
		if _, err := promreg.Register(reg, c); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Stdio)(nil)
	_ caddy.CleanerUpper          = (*Stdio)(nil)
	_ caddyhttp.MiddlewareHandler = (*Stdio)(nil)
	_ caddyfile.Unmarshaler       = (*Stdio)(nil)
	_ prometheus.Registerer       = (*collectorSet)(nil)
)
