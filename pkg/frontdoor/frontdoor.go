package frontdoor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/mcpproxy"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/ratelimit"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/stdiobridge"
)

// Options is every option of the front door. A new option is added to
// rs.Config (tokens) or mcpproxy.Policy (what may flow), and checked in
// their Normalized methods or in Compile; both front doors then have it.
type Options struct {
	rs.Config       `yaml:",inline"`
	mcpproxy.Policy `yaml:",inline"`
	// Stdio runs a stdio MCP server per session instead of proxying to
	// Upstream (exactly one of them, in a front door that proxies itself;
	// Caddy's mcp_stdio handler holds these options itself).
	Stdio *stdiobridge.Options `yaml:"stdio" json:"stdio,omitempty"`
	// RateLimits are per-caller token buckets (pkg/ratelimit).
	RateLimits *ratelimit.Options `yaml:"rate_limits" json:"rate_limits,omitempty"`
}

// Env is what a front door brings to Compile: where secrets and keys come
// from, and where logs and metrics go. Zero values are usable.
type Env struct {
	// Proxy says whether the compiled front door proxies itself (the
	// sidecar: upstream required, Handler built) or sits in front of
	// another proxy (Caddy: upstream must be unset).
	Proxy bool
	// Logger receives logs (default: none).
	Logger *zap.Logger
	// Registerer receives metrics (default: a private registry).
	Registerer prometheus.Registerer
	// Client fetches discovery, JWKS and introspection documents.
	Client *http.Client
	// Getenv and ReadFile resolve secrets (os functions when nil).
	Getenv   func(string) string
	ReadFile func(string) ([]byte, error)
	// Expand expands a front door's placeholders in secret values and
	// file names ({env.NAME} in Caddy) before they are resolved.
	Expand func(string) string
	// KeySets supplies (possibly shared, already started) key sets, so
	// reloads keep keys; nil: the Validator owns its key sets.
	KeySets func(rs.AuthorizationServer) (*rs.KeySet, error)
	// Cache supplies a validation cache of the configured size, shared
	// across reloads (nil: one per compile; never called for a negative,
	// disabled size).
	Cache func(size int) (*rs.Cache, error)
	// ProcessSessionKey binds sessions when session_key is unset (see
	// mcpproxy.NewProcessSessionKey).
	ProcessSessionKey []byte
	// Transport reaches the upstream (sidecar only; default tuned).
	Transport http.RoundTripper
	// AuditFile opens audit.file (default mcpproxy.OpenAuditFile; Check
	// uses mcpproxy.CheckAuditFile, which creates nothing).
	AuditFile func(path string) (io.Writer, error)
	// Bridge supplies the stdio bridge for the stdio options (e.g. the
	// running one when a reload left them unchanged); nil: a new one.
	Bridge func(stdiobridge.Options, stdiobridge.Env) (*stdiobridge.Bridge, error)
	// AccessLog receives the proxying front door's line per request
	// (default: Logger.Named("proxy")); only it may be sampled.
	AccessLog *zap.Logger
	// TracerProvider traces requests (nil: follow a span in the request's
	// context, as Caddy's tracing directive starts one; else none).
	TracerProvider trace.TracerProvider

	dry bool // a Check: nothing is started
}

// FrontDoor is a compiled, immutable front door.
type FrontDoor struct {
	opts      Options
	rs        rs.Config
	policy    mcpproxy.Policy
	validator *rs.Validator
	guard     *mcpproxy.Guard
	injector  *mcpproxy.Injector
	handler   *mcpproxy.Handler
	bridge    *stdiobridge.Bridge
	limiter   *ratelimit.Limiter
}

// Bridge is the stdio bridge (nil unless the options have stdio).
func (f *FrontDoor) Bridge() *stdiobridge.Bridge { return f.bridge }

// Options returns the options it was compiled from (not normalized; do
// not modify).
func (f *FrontDoor) Options() Options { return f.opts }

// Resource returns the normalized resource-server options (defaults
// filled, {tid} templates expanded).
func (f *FrontDoor) Resource() rs.Config { return f.rs }

// Policy returns the normalized policy options.
func (f *FrontDoor) Policy() mcpproxy.Policy { return f.policy }

// Validator validates bearer tokens.
func (f *FrontDoor) Validator() *rs.Validator { return f.validator }

// Guard is the MCP-aware request guard.
func (f *FrontDoor) Guard() *mcpproxy.Guard { return f.guard }

// Injector sets identity and secret headers.
func (f *FrontDoor) Injector() *mcpproxy.Injector { return f.injector }

// Close stops what the front door runs itself (the stdio bridge's
// processes); ctx bounds the wait.
func (f *FrontDoor) Close(ctx context.Context) error { return f.Release(ctx, nil) }

// Release stops what f runs itself and next (the front door compiled to
// replace it, may be nil) does not share: the stdio bridge's processes,
// the rate limiter's store connection.
func (f *FrontDoor) Release(ctx context.Context, next *FrontDoor) error {
	var errs []error
	if f.limiter != nil && (next == nil || next.limiter != f.limiter) {
		errs = append(errs, f.limiter.Close())
	}
	if f.bridge != nil && (next == nil || next.bridge != f.bridge) {
		errs = append(errs, f.bridge.Close(ctx))
	}
	return errors.Join(errs...)
}

// Handler is the proxying front door (nil unless Env.Proxy).
func (f *FrontDoor) Handler() *mcpproxy.Handler { return f.handler }

// Check validates o completely, as Compile would, without starting or
// registering anything. Every problem is reported at once, each a
// *rs.FieldError (errors.As) naming its option path.
func Check(o Options, env Env) error {
	env.Registerer = prometheus.NewRegistry()
	env.KeySets = func(as rs.AuthorizationServer) (*rs.KeySet, error) {
		return rs.NewKeySet(as, rs.KeySetOptions{}), nil // never started
	}
	env.Cache = func(int) (*rs.Cache, error) { return rs.NewCache(1) }
	env.Bridge = func(stdiobridge.Options, stdiobridge.Env) (*stdiobridge.Bridge, error) { return nil, nil }
	env.dry = true
	env.AuditFile = mcpproxy.CheckAuditFile
	env.Logger = nil
	_, err := Compile(o, env)
	return err
}

// Compile checks o and builds the front door. o is never written to.
func Compile(o Options, env Env) (*FrontDoor, error) {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	if env.ReadFile == nil {
		env.ReadFile = os.ReadFile
	}
	if env.Logger == nil {
		env.Logger = zap.NewNop()
	}
	if env.Registerer == nil {
		env.Registerer = prometheus.NewRegistry()
	}
	rc, rerr := o.Config.Normalized()
	rule := mcpproxy.UpstreamForbidden
	switch {
	case env.Proxy && o.Stdio != nil:
		rule = mcpproxy.UpstreamOptional
	case env.Proxy:
		rule = mcpproxy.UpstreamRequired
	}
	pc, perr := o.Policy.Normalized(rule)
	var stdio *stdiobridge.Options
	if o.Stdio != nil {
		s := *o.Stdio
		s.SecretEnv = slices.Clone(s.SecretEnv)
		stdio = &s
	}
	errs := append([]error{rerr, perr}, expandSecrets(&rc, &pc, stdio, env.Expand)...)
	bridgeEnv := stdiobridge.Env{Logger: env.Logger.Named("stdio"), Registerer: env.Registerer, Getenv: env.Getenv, ReadFile: env.ReadFile, Prefix: "stdio"}
	switch {
	case stdio != nil && !env.Proxy:
		errs = append(errs, &rs.FieldError{Field: "stdio", Msg: "is not used here (in Caddy, the mcp_stdio handler runs stdio servers)"})
	case stdio != nil && pc.Upstream != "":
		errs = append(errs, &rs.FieldError{Field: "stdio", Msg: "set exactly one of upstream and stdio"})
	case stdio != nil:
		errs = append(errs, stdiobridge.Check(*stdio, bridgeEnv))
	}
	var limits *ratelimit.Options
	if o.RateLimits != nil {
		l := *o.RateLimits
		if env.Expand != nil && l.Store != "" {
			l.Store = env.Expand(l.Store)
		}
		if l.StorePassword != nil {
			sp := *l.StorePassword
			l.StorePassword = &sp
			errs = append(errs, expandSource("rate_limits.store_password", &sp, env.Expand)...)
		}
		limits = &l
		errs = append(errs, ratelimit.Check(l, "rate_limits"))
	}
	for i, as := range rc.AuthorizationServers {
		if in := as.Introspection; in != nil {
			field := fmt.Sprintf("authorization_servers[%d].introspection.client_secret", i)
			if _, err := in.ClientSecret.Resolve(field, env.Getenv, env.ReadFile); err != nil {
				errs = append(errs, err)
			}
		}
	}
	sessionKey := env.ProcessSessionKey
	if sk := pc.SessionKey; sk != nil {
		v, err := sk.Resolve("session_key", env.Getenv, env.ReadFile)
		switch {
		case err != nil:
			errs = append(errs, err)
		case len(v) < 16:
			errs = append(errs, &rs.FieldError{Field: "session_key", Msg: "must be at least 16 bytes"})
		default:
			sessionKey = []byte(v)
		}
	}
	inj, err := mcpproxy.NewInjector(pc.IdentityHeaders, pc.SecretHeaders, env.Getenv, env.ReadFile)
	errs = append(errs, err)
	if _, err := mcpproxy.NewOriginPolicy(rc.Resource, pc.AllowedOrigins); err != nil && rerr == nil {
		errs = append(errs, err)
	}
	auditLog, err := mcpproxy.NewAuditLog(pc.Audit, env.Logger, env.AuditFile)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	metrics, err := rs.NewMetrics(env.Registerer)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	var cache *rs.Cache
	if n := rc.ValidationCacheSize; n > 0 && env.Cache != nil {
		if cache, err = env.Cache(n); err != nil {
			return nil, fmt.Errorf("validation cache: %w", err)
		}
	}
	v, err := rs.NewValidator(rc, rs.Options{
		Client: env.Client, Logger: env.Logger.Named("rs"), Metrics: metrics,
		KeySetFor: env.KeySets, Cache: cache, Getenv: env.Getenv, ReadFile: env.ReadFile,
	})
	if err != nil {
		return nil, fmt.Errorf("validator: %w", err)
	}
	f := &FrontDoor{opts: o, rs: rc, policy: pc, validator: v, injector: inj}
	if limits != nil && limits.Enabled() && !env.dry {
		if f.limiter, err = ratelimit.New(*limits, ratelimit.Env{Logger: env.Logger.Named("ratelimit"), Registerer: env.Registerer,
			Getenv: env.Getenv, ReadFile: env.ReadFile}); err != nil {
			return nil, err
		}
	}
	po := mcpproxy.Options{Logger: env.Logger.Named("proxy"), Registerer: env.Registerer, Transport: env.Transport,
		SessionKey: sessionKey, AuditLog: auditLog, Limiter: f.limiter,
		AccessLog: env.AccessLog, TracerProvider: env.TracerProvider}
	if limits != nil {
		// The tools and methods the rate limits name are label values too.
		po.Tools = slices.Sorted(maps.Keys(limits.Tools))
		po.Methods = slices.Sorted(maps.Keys(limits.Methods))
	}
	if env.Proxy {
		if stdio != nil {
			newBridge := env.Bridge
			if newBridge == nil {
				newBridge = stdiobridge.New
			}
			if f.bridge, err = newBridge(*stdio, bridgeEnv); err != nil {
				return nil, err
			}
			po.Backend = f.bridge
			if f.bridge == nil { // a Check: nothing will serve
				po.Backend = http.NotFoundHandler()
			}
		}
		if f.handler, err = mcpproxy.New(&f.rs, &f.policy, v, inj, po); err != nil {
			return nil, err
		}
		f.guard = f.handler.Guard
	} else if f.guard, err = mcpproxy.NewGuard(&f.rs, &f.policy, v, inj, po); err != nil {
		return nil, err
	}
	return f, nil
}

// expandSecrets applies a front door's placeholder expansion to every
// secret source of the (already copied) options. A value that expands to
// nothing (an unset {env.NAME}) is an error naming its field.
func expandSecrets(rc *rs.Config, pc *mcpproxy.Policy, stdio *stdiobridge.Options, expand func(string) string) []error {
	if expand == nil {
		return nil
	}
	var errs []error
	src := func(field string, value, file *string) {
		ss := rs.SecretSource{Value: *value, File: *file}
		errs = append(errs, expandSource(field, &ss, expand)...)
		*value, *file = ss.Value, ss.File
	}
	for i := range rc.AuthorizationServers {
		if in := rc.AuthorizationServers[i].Introspection; in != nil {
			src(fmt.Sprintf("authorization_servers[%d].introspection.client_secret", i), &in.ClientSecret.Value, &in.ClientSecret.File)
		}
	}
	if sk := pc.SessionKey; sk != nil {
		src("session_key", &sk.Value, &sk.File)
	}
	for i := range pc.SecretHeaders {
		s := &pc.SecretHeaders[i]
		src(fmt.Sprintf("secret_headers[%d]", i), &s.Value, &s.File)
	}
	if stdio != nil {
		for i := range stdio.SecretEnv {
			s := &stdio.SecretEnv[i]
			src(fmt.Sprintf("stdio.secret_env[%d]", i), &s.Value, &s.File)
		}
	}
	return errs
}

// expandSource expands a front door's placeholders in one secret source.
func expandSource(field string, s *rs.SecretSource, expand func(string) string) []error {
	if expand == nil {
		return nil
	}
	var errs []error
	for _, p := range []*string{&s.Value, &s.File} {
		if *p == "" {
			continue
		}
		if v := expand(*p); v != "" {
			*p = v
		} else {
			errs = append(errs, &rs.FieldError{Field: field, Msg: "is empty after placeholders (is the environment variable set?)"})
		}
	}
	return errs
}

// KeySetKey identifies a key set that front doors may share across
// reloads (and Caddy across sites): the same issuer with the same key
// source and refresh settings.
func KeySetKey(as rs.AuthorizationServer) string {
	return strings.Join([]string{as.Issuer, as.JWKSURI, time.Duration(as.JWKSRefreshInterval).String(), time.Duration(as.JWKSMinRefetchInterval).String()}, "\x00")
}

// Problems lists the single errors of an error Check or Compile returned
// (the leaves of its errors.Join tree), for printing one per line.
func Problems(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, Problems(e)...)
		}
		return out
	}
	return []error{err}
}
