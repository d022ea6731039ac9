package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

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
	// ResourceServer is the resource-server configuration (the sidecar's
	// resource, resource_name, scopes_supported, challenge_scopes,
	// authorization_servers, validation_cache_size).
	ResourceServer rs.Config `json:"resource_server"`
	// Policy is the proxying policy (the sidecar's identity_headers,
	// secret_headers, max_body_bytes, body_read_timeout, allowed_origins,
	// required_scopes, session_key, strip_error_structured_content).
	// Upstream is unused: reverse_proxy proxies.
	Policy mcpproxy.Config `json:"policy"`

	logger    *zap.Logger
	guard     *mcpproxy.Guard
	validator *rs.Validator
	poolKeys  []string
	cacheKey  string
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

// poolKey identifies a key set: the same issuer with the same key source
// and refresh settings is shared across sites and reloads.
func poolKey(as rs.AuthorizationServer) string {
	return strings.Join([]string{as.Issuer, as.JWKSURI, time.Duration(as.JWKSRefreshInterval).String(), time.Duration(as.JWKSMinRefetchInterval).String()}, "\x00")
}

// Provision resolves secrets ({env.*} placeholders), normalizes the
// configuration and takes key sets and the validation cache from the pools.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	repl := caddy.NewReplacer()
	for i := range h.Policy.SecretHeaders {
		s := &h.Policy.SecretHeaders[i]
		s.Value = repl.ReplaceKnown(s.Value, "")
		s.File = repl.ReplaceKnown(s.File, "")
		if s.Value == "" && s.Env == "" && s.File == "" {
			return fmt.Errorf("mcp_auth: secret_headers %s: the value is empty (is the environment variable set?)", s.Header)
		}
	}
	for i := range h.ResourceServer.AuthorizationServers {
		if in := h.ResourceServer.AuthorizationServers[i].Introspection; in != nil {
			in.ClientSecret.Value = repl.ReplaceKnown(in.ClientSecret.Value, "")
		}
	}
	if sk := h.Policy.SessionKey; sk != nil {
		sk.Value = repl.ReplaceKnown(sk.Value, "")
		sk.File = repl.ReplaceKnown(sk.File, "")
		if sk.Value == "" && sk.Env == "" && sk.File == "" {
			return errors.New("mcp_auth: session_key: the value is empty (is the environment variable set?)")
		}
	}
	if err := h.normalize(); err != nil {
		return fmt.Errorf("mcp_auth: %w", err)
	}
	h.secretsMissed = new(atomic.Bool)
	if len(h.Policy.SecretHeaders) > 0 {
		if err := checkSecretsTransport(ctx); err != nil {
			return fmt.Errorf("mcp_auth: %w", err)
		}
	}
	metrics, err := rs.NewMetrics(ctx.GetMetricsRegistry())
	if err != nil {
		return fmt.Errorf("mcp_auth: metrics: %w", err)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	keySetFor := func(as rs.AuthorizationServer) (*rs.KeySet, error) {
		key := poolKey(as)
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
	var cache *rs.Cache
	if n := h.ResourceServer.ValidationCacheSize; n > 0 {
		h.cacheKey = fmt.Sprintf("cache:%d", n)
		v, _, err := caches.LoadOrNew(h.cacheKey, func() (caddy.Destructor, error) {
			c, err := rs.NewCache(n)
			return cacheDestructor{c}, err
		})
		if err != nil {
			return fmt.Errorf("mcp_auth: %w", err)
		}
		cache = v.(cacheDestructor).c
	}
	h.validator, err = rs.NewValidator(h.ResourceServer, rs.Options{
		Client: client, Logger: h.logger, Metrics: metrics, KeySetFor: keySetFor, Cache: cache,
	})
	if err != nil {
		return fmt.Errorf("mcp_auth: %w", err)
	}
	inj, err := mcpproxy.NewInjector(h.Policy.IdentityHeaders, h.Policy.SecretHeaders, nil, nil)
	if err != nil {
		return fmt.Errorf("mcp_auth: %w", err)
	}
	var processKey []byte
	if h.Policy.SessionKey == nil {
		v, _, err := sessionKeys.LoadOrNew(sessionKeyPoolKey, func() (caddy.Destructor, error) {
			k, err := mcpproxy.NewProcessSessionKey()
			return sessionKeyDestructor{k}, err
		})
		if err != nil {
			return fmt.Errorf("mcp_auth: %w", err)
		}
		h.holdsSessionKey = true
		processKey = v.(sessionKeyDestructor).key
	}
	h.guard, err = mcpproxy.NewGuard(&h.ResourceServer, &h.Policy, h.validator, inj, mcpproxy.Options{Logger: h.logger, ProcessSessionKey: processKey})
	if err != nil {
		return fmt.Errorf("mcp_auth: %w", err)
	}
	return nil
}

// normalize validates and defaults both configuration halves.
func (h *Handler) normalize() error {
	return errors.Join(h.ResourceServer.Normalize(), h.Policy.NormalizeGuard())
}

// Validate is a no-op: Provision already checked everything (Caddy calls
// Validate after Provision).
func (h *Handler) Validate() error { return nil }

// Cleanup releases the pooled key sets and cache; the last user stops a
// key set's background refresh.
func (h *Handler) Cleanup() error {
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
	return nil
}

// ServeHTTP admits or answers the request, then runs the rest of the
// route (reverse_proxy) through the MCP response writer.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	st, reason, ok := h.guard.Admit(w, r)
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if !ok {
		if reason != "" && repl != nil {
			repl.Set("http.auth.mcp_auth.error", reason)
		}
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
	r = r.WithContext(mcpproxy.WithSecrets(r.Context(), secrets))
	rw := h.guard.Writer(w, st)
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
			h.guard.UpstreamFailure(rw, r, st, cause)
			err = nil
		}
	}
	rw.Finish()
	return err
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
