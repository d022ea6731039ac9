package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.uber.org/zap"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/frontdoor"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/mcpproxy"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// keySets holds one started rs.KeySet per issuer (and fetch settings)
// across config reloads, like Caddy's own usage pools; validation caches
// live in caches. This is the only package-level state, as in Caddy's
// own modules.
var (
	keySets = caddy.NewUsagePool()
	caches  = caddy.NewUsagePool()
	// sessionKeys holds the per-process session-binding key used when
	// session_key is unset: a new config takes it before the old one lets
	// go, so open sessions survive config loads.
	sessionKeys = caddy.NewUsagePool()
)

// sessionKeyPoolKey is the one entry of sessionKeys.
const sessionKeyPoolKey = "process"

type sessionKeyDestructor struct{ key []byte }

func (sessionKeyDestructor) Destruct() error { return nil }

// Handler is the http.handlers.mcp_auth module: the MCP auth front door
// as Caddy middleware. It validates the bearer token, publishes the
// Protected Resource Metadata, enforces the Origin and scope policy, binds
// sessions, sets the identity headers and the {http.auth.user.*}
// placeholders, hands the secret headers to reverse_proxy's mcp_auth
// transport (Transport), and rewrites the response on its way back from
// reverse_proxy. It shares pkg/rs and pkg/mcpproxy with the mcp-sidecar.
type Handler struct {
	// Options are the front door's options, the sidecar's keys one to one
	// (resource, authorization_servers, identity_headers, secret_headers,
	// required_scopes, ...). upstream stays unset: reverse_proxy proxies.
	// Provision compiles them with frontdoor.Compile and never writes to
	// them.
	frontdoor.Options

	logger   *zap.Logger
	guard    *mcpproxy.Guard
	fd       *frontdoor.FrontDoor
	poolKeys []string
	cacheKey string
	// holdsSessionKey: this instance took the process session key.
	holdsSessionKey bool
	// secretsMissed: the "secret_headers not sent" error was logged.
	secretsMissed *atomic.Bool
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.mcp_auth", New: func() caddy.Module { return new(Handler) }}
}

// keySetDestructor stops a pooled key set when its last config goes.
type keySetDestructor struct{ ks *rs.KeySet }

func (d keySetDestructor) Destruct() error { d.ks.Stop(); return nil }

type cacheDestructor struct{ c *rs.Cache }

func (cacheDestructor) Destruct() error { return nil }

// checkEnv is the frontdoor.Env of a Caddy check: Caddy's {env.*} and
// {file.*} placeholders are expanded in secret values and file names.
func checkEnv() frontdoor.Env {
	repl := caddy.NewReplacer()
	return frontdoor.Env{Expand: func(s string) string { return repl.ReplaceKnown(s, "") }}
}

// Provision compiles the options (frontdoor.Compile: the same check as
// `caddy adapt` and `mcp-sidecar validate`), taking key sets, the
// validation cache and the per-process session key from the pools.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	logModuleVersion(h.logger)
	h.secretsMissed = new(atomic.Bool)
	if len(h.SecretHeaders) > 0 {
		if err := checkSecretsTransport(ctx); err != nil {
			return fmt.Errorf("mcp_auth: %w", err)
		}
	}
	// The collectors live as long as the process (authMetrics), so that
	// counters carry over config loads; each config's registry gets them.
	metrics, err := rs.NewMetrics(authMetrics)
	if err != nil {
		return fmt.Errorf("mcp_auth: metrics: %w", err)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	env := checkEnv()
	env.Logger, env.Registerer, env.Client = h.logger, authMetrics, client
	env.KeySets = func(as rs.AuthorizationServer) (*rs.KeySet, error) {
		key := frontdoor.KeySetKey(as)
		v, _, err := keySets.LoadOrNew(key, func() (caddy.Destructor, error) {
			ks := rs.NewKeySet(as, rs.KeySetOptions{Client: client, Logger: h.logger.Named("jwks"), Metrics: metrics})
			ks.Start()
			return keySetDestructor{ks}, nil
		})
		if err != nil {
			return nil, err
		}
		h.poolKeys = append(h.poolKeys, key)
		ks := v.(keySetDestructor).ks
		ks.SetMetrics(metrics)
		return ks, nil
	}
	env.Cache = func(n int) (*rs.Cache, error) {
		h.cacheKey = fmt.Sprintf("cache:%d", n)
		v, _, err := caches.LoadOrNew(h.cacheKey, func() (caddy.Destructor, error) {
			c, err := rs.NewCache(n)
			return cacheDestructor{c}, err
		})
		if err != nil {
			return nil, err
		}
		return v.(cacheDestructor).c, nil
	}
	if h.SessionKey == nil {
		v, _, err := sessionKeys.LoadOrNew(sessionKeyPoolKey, func() (caddy.Destructor, error) {
			k, err := mcpproxy.NewProcessSessionKey()
			return sessionKeyDestructor{k}, err
		})
		if err != nil {
			return fmt.Errorf("mcp_auth: %w", err)
		}
		h.holdsSessionKey = true
		env.ProcessSessionKey = v.(sessionKeyDestructor).key
	}
	fd, err := frontdoor.Compile(h.Options, env)
	if err != nil {
		return fmt.Errorf("mcp_auth: %w", err)
	}
	h.guard, h.fd = fd.Guard(), fd
	if err := authMetrics.registerWith(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("mcp_auth: metrics: %w", err)
	}
	provisioned.add(h)
	return nil
}

// Validate is a no-op: Provision already checked everything (Caddy calls
// Validate after Provision).
func (h *Handler) Validate() error { return nil }

// Cleanup releases the pooled key sets and cache; the last user stops a
// key set's background refresh.
func (h *Handler) Cleanup() error {
	provisioned.remove(h)
	for _, k := range h.poolKeys {
		_, _ = keySets.Delete(k)
	}
	h.poolKeys = nil
	if h.cacheKey != "" {
		_, _ = caches.Delete(h.cacheKey)
		h.cacheKey = ""
	}
	if h.holdsSessionKey {
		_, _ = sessionKeys.Delete(sessionKeyPoolKey)
		h.holdsSessionKey = false
	}
	if h.fd != nil {
		// The rate limiter's store connection (memory buckets start afresh
		// with the new config).
		_ = h.fd.Close(context.Background())
	}
	return nil
}

// ServeHTTP admits or answers the request, then runs the rest of the
// route (reverse_proxy) through the MCP response writer.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	// The request's record rides in r; w records the answer's status
	// for it.
	w, r = h.guard.BeginAudit(w, r)
	st, reason, ok := h.guard.Admit(w, r)
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if !ok {
		if reason != "" && repl != nil {
			repl.Set("http.auth.mcp_auth.error", reason)
		}
		logFields(r, h.guard.Finish(r, reason, 0))
		return nil
	}
	id := st.Identity()
	if repl != nil {
		repl.Set("http.auth.user.id", id.Subject)
		repl.Set("http.auth.user.iss", id.Issuer)
		repl.Set("http.auth.user.scope", strings.Join(id.Scopes, " "))
		repl.Set("http.auth.user.client_id", id.ClientID)
	}
	// Identity headers only: reverse_proxy logs the upstream request's
	// headers. The secret headers ride in the context to the mcp_auth
	// transport, which adds them to its own copy of that request.
	h.guard.InjectIdentity(r.Header, st)
	secrets := h.guard.Secrets()
	// The state travels on for handlers that serve the caller themselves
	// (mcp_stdio); Forward also starts the upstream span and sends its
	// traceparent.
	rw, r := h.guard.Forward(w, r.WithContext(mcpproxy.WithSecrets(r.Context(), secrets)), st)
	// Embedding Caddy's wrapper keeps Flush working through Unwrap, so
	// SSE events are not held back.
	ww := &caddyhttp.ResponseWriterWrapper{ResponseWriter: rw}
	err := next.ServeHTTP(ww, r)
	if secrets != nil && !secrets.Delivered() && repl != nil {
		h.noteSecretsNotSent(repl)
	}
	if err != nil && !rw.Wrote() {
		var he caddyhttp.HandlerError
		if errors.As(err, &he) && he.StatusCode >= 500 && r.Context().Err() == nil {
			cause := he.Err
			if cause == nil {
				cause = err
			}
			// Caddy's DialError hides its cause from errors.As (it has no
			// Unwrap); its type alone says the connection was never made.
			var de reverseproxy.DialError
			if errors.As(cause, &de) {
				cause = &net.OpError{Op: "dial", Err: cause}
			}
			h.guard.UpstreamFailure(rw, r, st, cause)
			err = nil
		}
	}
	rw.Finish()
	logFields(r, h.guard.Finish(r, "", errorStatus(err, rw)))
	return err
}

// logFields adds the request's fields (MCP method and name, caller,
// session hash, upstream outcome, ...) to Caddy's access log line.
func logFields(r *http.Request, fields []zap.Field) {
	if extra, ok := r.Context().Value(caddyhttp.ExtraLogFieldsCtxKey).(*caddyhttp.ExtraLogFields); ok {
		for _, f := range fields {
			extra.Add(f)
		}
	}
}

// errorStatus is the status Caddy will answer with when a handler after
// mcp_auth returned err without writing anything (0: the recorded one).
func errorStatus(err error, rw *mcpproxy.ResponseWriter) int {
	if err == nil || rw.Wrote() {
		return 0
	}
	var he caddyhttp.HandlerError
	if errors.As(err, &he) && he.StatusCode != 0 {
		return he.StatusCode
	}
	return http.StatusInternalServerError
}

// noteSecretsNotSent logs, once per handler, that reverse_proxy reached an
// upstream without the mcp_auth transport, so the secret headers were not
// sent (a configuration checkSecretsTransport could not see).
func (h *Handler) noteSecretsNotSent(repl *caddy.Replacer) {
	if _, proxied := repl.Get("http.reverse_proxy.upstream.address"); !proxied {
		return // nothing was proxied (respond, file_server, ...)
	}
	if h.secretsMissed.CompareAndSwap(false, true) {
		h.logger.Error("secret_headers were not sent: reverse_proxy reached the upstream without `transport mcp_auth`; "+
			"add `transport mcp_auth` to that reverse_proxy (it takes the same subdirectives as `transport http`)",
			zap.Strings("headers", h.secretHeaderNames()))
	}
}

func (h *Handler) secretHeaderNames() []string {
	names := make([]string, len(h.Policy.SecretHeaders))
	for i, s := range h.Policy.SecretHeaders {
		names[i] = s.Header
	}
	return names
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
