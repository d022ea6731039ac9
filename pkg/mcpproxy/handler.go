package mcpproxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/errormap"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

// DefaultMaxBodyBytes caps a request body the proxy buffers (4 MiB).
const DefaultMaxBodyBytes = 4 << 20

// Config is the proxying part of the front door's configuration.
type Config struct {
	// Upstream is the MCP server's base URL (http or https).
	Upstream string `yaml:"upstream" json:"upstream"`
	// IdentityHeaders carry the caller's sub and chosen claims.
	IdentityHeaders IdentityHeaders `yaml:"identity_headers" json:"identity_headers,omitempty"`
	// SecretHeaders are configured secrets sent as headers.
	SecretHeaders []SecretHeader `yaml:"secret_headers" json:"secret_headers,omitempty"`
	// MaxBodyBytes caps buffered request bodies (default 4 MiB → 413).
	MaxBodyBytes int64 `yaml:"max_body_bytes" json:"max_body_bytes,omitempty"`
	// PreserveHost keeps the client's Host header (default true); false
	// sends the upstream's host instead.
	PreserveHost *bool `yaml:"preserve_host" json:"preserve_host,omitempty"`
	// AllowedOrigins are browser origins allowed besides the resource's own
	// (and loopback origins when the resource is on loopback).
	AllowedOrigins []string `yaml:"allowed_origins" json:"allowed_origins,omitempty"`
	// RequiredScopes is the per-method / per-tool scope policy.
	RequiredScopes RequiredScopes `yaml:"required_scopes" json:"required_scopes,omitempty"`
	// SessionKey keys the HMAC that binds session ids to callers (env or
	// file; at least 16 bytes). Unset: a random key per process, so a
	// session only works on the replica that created it.
	SessionKey *SecretSource `yaml:"session_key" json:"session_key,omitempty"`
	// StripErrorStructuredContent deletes structuredContent from tools/call
	// results with isError: true (default true).
	StripErrorStructuredContent *bool `yaml:"strip_error_structured_content" json:"strip_error_structured_content,omitempty"`
}

// SecretSource is a secret read from an environment variable or a file.
type SecretSource = rs.SecretSource

// Normalize validates c and fills defaults; errors name the config key.
func (c *Config) Normalize() error {
	var errs []error
	u, err := url.Parse(c.Upstream)
	switch {
	case c.Upstream == "":
		errs = append(errs, &rs.FieldError{Field: "upstream", Msg: "is required"})
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		errs = append(errs, &rs.FieldError{Field: "upstream", Msg: fmt.Sprintf("%q must be an http:// or https:// URL with a host", c.Upstream)})
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		errs = append(errs, &rs.FieldError{Field: "upstream", Msg: "must not contain a query, fragment or user information"})
	}
	if err := c.NormalizeGuard(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// NormalizeGuard validates and defaults everything but upstream (the Caddy
// module proxies with reverse_proxy and has no upstream key).
func (c *Config) NormalizeGuard() error {
	var errs []error
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	} else if c.MaxBodyBytes < 0 {
		errs = append(errs, &rs.FieldError{Field: "max_body_bytes", Msg: "must be positive"})
	}
	if c.PreserveHost == nil {
		t := true
		c.PreserveHost = &t
	}
	if c.StripErrorStructuredContent == nil {
		t := true
		c.StripErrorStructuredContent = &t
	}
	if err := c.RequiredScopes.normalize(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Options are the collaborators of a Handler.
type Options struct {
	Logger *zap.Logger
	// Registerer receives the proxy's metrics (may be nil).
	Registerer prometheus.Registerer
	// Transport reaches the upstream (default: a tuned clone of
	// http.DefaultTransport).
	Transport http.RoundTripper
	// Getenv and ReadFile resolve the session key (os functions when nil).
	Getenv   func(string) string
	ReadFile func(string) ([]byte, error)
}

// Guard is the MCP-aware part of the front door that does not depend on
// how the request is proxied, so the sidecar and the Caddy module share it:
// Origin/Host checks, CORS, bearer-token challenge, body buffering and
// inspection, header/body consistency, the scope policy and session
// unbinding on the way in; the ResponseWriter on the way out.
type Guard struct {
	validator  *rs.Validator
	challenger rs.Challenger
	prm        map[string]http.Handler
	inject     *Injector
	origins    *OriginPolicy
	scopes     RequiredScopes
	binder     *SessionBinder
	rewrite    bool
	maxBody    int64
	log        *zap.Logger
}

// Handler is the sidecar's front door: a Guard around a reverse proxy
// that flushes SSE events as they come.
type Handler struct {
	*Guard
	proxy     *httputil.ReverseProxy
	upstreamD *prometheus.HistogramVec
}

type ctxKey struct{}

// State is what the Guard learned about an admitted request; it travels
// with the request to the proxy and the ResponseWriter.
type State struct {
	id  *rs.Identity
	req *Request
}

// Identity is the validated caller.
func (s *State) Identity() *rs.Identity { return s.id }

// Request is the inspected JSON-RPC body (nil when not a JSON-RPC POST).
func (s *State) Request() *Request { return s.req }

// NewGuard builds the shared request guard from normalized configs.
func NewGuard(rc *rs.Config, pc *Config, v *rs.Validator, inj *Injector, o Options) (*Guard, error) {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	mdURL, err := rs.MetadataURL(rc.Resource)
	if err != nil {
		return nil, fmt.Errorf("metadata url: %w", err)
	}
	mh, err := rs.NewMetadataHandler(rc.Metadata())
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	origins, err := NewOriginPolicy(rc.Resource, pc.AllowedOrigins)
	if err != nil {
		return nil, err
	}
	g := &Guard{
		validator:  v,
		challenger: rs.Challenger{MetadataURL: mdURL, Scopes: rc.ChallengeScopes},
		prm:        map[string]http.Handler{},
		inject:     inj,
		origins:    origins,
		scopes:     pc.RequiredScopes,
		rewrite:    pc.StripErrorStructuredContent == nil || *pc.StripErrorStructuredContent,
		maxBody:    pc.MaxBodyBytes,
		log:        o.Logger,
	}
	if g.maxBody <= 0 {
		g.maxBody = DefaultMaxBodyBytes
	}
	for _, p := range rs.MetadataPaths(rc.Resource) {
		g.prm[p] = mh
	}
	var key []byte
	if pc.SessionKey != nil {
		k, err := pc.SessionKey.Resolve("session_key", o.Getenv, o.ReadFile)
		if err != nil {
			return nil, err
		}
		key = []byte(k)
		if len(key) < 16 {
			return nil, &rs.FieldError{Field: "session_key", Msg: "must be at least 16 bytes"}
		}
	} else {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("session key: %w", err)
		}
	}
	if g.binder, err = NewSessionBinder(key); err != nil {
		return nil, err
	}
	return g, nil
}

// New builds the sidecar handler from normalized configs and a validator.
func New(rc *rs.Config, pc *Config, v *rs.Validator, inj *Injector, o Options) (*Handler, error) {
	g, err := NewGuard(rc, pc, v, inj, o)
	if err != nil {
		return nil, err
	}
	h := &Handler{Guard: g}
	h.upstreamD, err = rs.Register(o.Registerer, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "mcp_auth", Name: "upstream_duration_seconds",
		Help:    "Time from forwarding a request to the MCP server until its response headers, by status code.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
	}, []string{"code"}))
	if err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	up, err := url.Parse(pc.Upstream)
	if err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	tr := o.Transport
	if tr == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 128
		t.ResponseHeaderTimeout = 0 // SSE streams may take their time
		tr = t
	}
	preserveHost := pc.PreserveHost == nil || *pc.PreserveHost
	h.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(up)
			if preserveHost {
				pr.Out.Host = pr.In.Host
			}
			pr.SetXForwarded()
			st, _ := pr.In.Context().Value(ctxKey{}).(*State)
			h.Inject(pr.Out.Header, st)
		},
		Transport: timedTransport{next: tr, hist: h.upstreamD},
		// 0: httputil flushes text/event-stream and unknown-length bodies at
		// once anyway; -1 would add a separate write for the headers of
		// every ordinary response.
		FlushInterval: 0,
		ErrorHandler:  h.upstreamError,
		ErrorLog:      zap.NewStdLog(o.Logger.Named("reverseproxy")),
	}
	return h, nil
}

// timedTransport observes the time to response headers.
type timedTransport struct {
	next http.RoundTripper
	hist *prometheus.HistogramVec
}

func (t timedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(r)
	code := "error"
	if err == nil {
		code = strconv.Itoa(resp.StatusCode)
	}
	t.hist.WithLabelValues(code).Observe(time.Since(start).Seconds())
	return resp, err
}

// upstreamError is the reverse proxy's ErrorHandler.
func (h *Handler) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client went away; nobody to answer
	}
	st, _ := r.Context().Value(ctxKey{}).(*State)
	h.UpstreamFailure(w, r, st, err)
}

// UpstreamFailure answers a transport failure reaching the MCP server: an
// agent-safe MCP answer for a single JSON-RPC request (a tool error result
// for tools/call, a JSON-RPC error otherwise), else 502 (504 on timeout).
// The cause is logged, never sent. w may be the request's ResponseWriter.
func (g *Guard) UpstreamFailure(w http.ResponseWriter, r *http.Request, st *State, err error) {
	g.log.Warn("upstream request failed", zap.String("path", r.URL.Path), zap.Error(err))
	f := errormap.FromTransport(err)
	if f.IsZero() {
		return
	}
	if rw, ok := w.(*ResponseWriter); ok {
		if rw.wrote {
			return
		}
		rw.wrote, rw.mode = true, modeMapped
		w = rw.w
	}
	if st != nil {
		if msg, ok := st.req.Single(); ok {
			WriteFailure(w, msg, f)
			return
		}
	}
	status := http.StatusBadGateway
	if f.Kind == errormap.KindNetworkTimeout {
		status = http.StatusGatewayTimeout
	}
	plain(w, status)
}

// Inject sets the identity and secret headers on h (after stripping the
// client's Authorization and spoofed copies).
func (g *Guard) Inject(h http.Header, st *State) {
	var id *rs.Identity
	if st != nil {
		id = st.id
	}
	g.inject.Apply(h, id)
}

func plain(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, http.StatusText(status))
}

// jsonrpcError writes an HTTP error status with a JSON-RPC error body
// without id (as MCP servers do for transport-level refusals).
func jsonrpcError(w http.ResponseWriter, status, code int, msg string) {
	jsonrpcErrorID(w, nil, status, code, msg)
}

// jsonrpcErrorID is jsonrpcError answering the request with the given id
// (null when id is empty).
func jsonrpcErrorID(w http.ResponseWriter, id json.RawMessage, status, code int, msg string) {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	type errObj struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	b, _ := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   errObj          `json:"error"`
	}{"2.0", id, errObj{code, msg}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// corsHeaders are the CORS answers for browser MCP clients (Arcade's,
// with the allowed Origin echoed when there is one).
func corsHeaders(h http.Header, origin string) {
	if origin != "" {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
	} else {
		h.Set("Access-Control-Allow-Origin", "*")
	}
	h.Set("Access-Control-Expose-Headers", "WWW-Authenticate, Mcp-Session-Id, MCP-Protocol-Version")
}

func preflightHeaders(h http.Header, origin string) {
	corsHeaders(h, origin)
	h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization, Mcp-Session-Id, Accept, MCP-Protocol-Version, Last-Event-ID, Mcp-Method, Mcp-Name")
	h.Set("Access-Control-Max-Age", "86400")
}

// Admit runs every check of the way in. It returns the state to proxy
// with, or false when it has already answered the request (PRM, preflight,
// challenge, refusal). r's body is replaced by its buffered copy and the
// Mcp-Session-Id header by the upstream's id.
func (g *Guard) Admit(w http.ResponseWriter, r *http.Request) (*State, string, bool) {
	if mh, ok := g.prm[r.URL.Path]; ok {
		mh.ServeHTTP(w, r)
		return nil, "", false
	}
	origins := r.Header.Values("Origin")
	if !g.origins.AllowOrigin(origins) || !g.origins.AllowHost(r.Host) {
		jsonrpcError(w, http.StatusForbidden, -32000, "Forbidden: Origin or Host not allowed")
		return nil, "origin", false
	}
	origin := ""
	if len(origins) == 1 {
		origin = origins[0]
	}
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		preflightHeaders(w.Header(), origin)
		w.WriteHeader(http.StatusNoContent)
		return nil, "", false
	}
	corsHeaders(w.Header(), origin)
	tok, perr := rs.ExtractBearer(r.Header, r.URL.Query())
	if perr != nil {
		g.challenger.Write(w, perr)
		return nil, perr.Reason, false
	}
	id, err := g.validator.Validate(r.Context(), tok)
	if err != nil {
		g.challenger.Write(w, err)
		var e *rs.Error
		if errors.As(err, &e) {
			return nil, e.Reason, false
		}
		return nil, "invalid", false
	}
	st := &State{id: id}
	body, err := g.bufferBody(w, r)
	if err != nil {
		if errors.Is(err, errTooLarge) {
			plain(w, http.StatusRequestEntityTooLarge)
			return nil, "", false
		}
		plain(w, http.StatusBadRequest)
		return nil, "", false
	}
	if r.Method == http.MethodPost {
		req, err := Inspect(body)
		if err != nil {
			if !g.scopes.Empty() {
				jsonrpcError(w, http.StatusBadRequest, -32700, "Parse error")
				return nil, "", false
			}
			req = nil // not JSON-RPC: let the MCP server answer it
		}
		st.req = req
		if msg := CheckMirroredHeaders(r.Header, req); msg != "" {
			var id json.RawMessage
			if req != nil && !req.Batch && len(req.Messages) == 1 {
				id = req.Messages[0].ID
			}
			jsonrpcErrorID(w, id, http.StatusBadRequest, -32020, msg)
			return nil, "", false
		}
		if missing := Missing(g.scopes.Needed(req), id); missing != nil {
			g.challenger.Write(w, rs.InsufficientScope(missing))
			return nil, "insufficient_scope", false
		}
		if req != nil && len(req.ToolCallIDs) > 0 && g.rewrite {
			// Rewriting needs plain bytes: the transport then asks for
			// gzip itself and decodes it.
			r.Header.Del("Accept-Encoding")
		}
	} else if h := r.Header["Mcp-Method"]; len(h) > 0 {
		jsonrpcError(w, http.StatusBadRequest, -32020, "Mcp-Method header requires a JSON-RPC body")
		return nil, "", false
	}
	if sids := r.Header.Values("Mcp-Session-Id"); len(sids) > 0 {
		if len(sids) > 1 {
			jsonrpcError(w, http.StatusBadRequest, -32600, "Bad Request: more than one Mcp-Session-Id")
			return nil, "", false
		}
		upstreamID, ok := g.binder.Unwrap(id.Issuer, id.Subject, sids[0])
		if !ok {
			// As for an unknown session: the client starts a new one.
			jsonrpcError(w, http.StatusNotFound, -32001, "Session not found")
			return nil, "session", false
		}
		r.Header.Set("Mcp-Session-Id", upstreamID)
	}
	return st, "", true
}

// Writer wraps w for the way out of an admitted request.
func (g *Guard) Writer(w http.ResponseWriter, st *State) *ResponseWriter {
	return NewResponseWriter(w, st.req, st.id, g.binder, g.rewrite)
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	st, reason, ok := h.Admit(sw, r)
	if ok {
		rw := h.Writer(sw, st)
		h.proxy.ServeHTTP(rw, r.WithContext(context.WithValue(r.Context(), ctxKey{}, st)))
		rw.Finish()
	}
	if ce := h.log.Check(zap.InfoLevel, "request"); ce != nil {
		fields := []zap.Field{
			zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Int("status", sw.statusCode()),
			zap.Duration("duration", time.Since(start)),
		}
		if st != nil && st.id != nil {
			fields = append(fields, zap.String("issuer", st.id.Issuer), zap.String("subject", st.id.Subject))
		}
		if reason != "" {
			fields = append(fields, zap.String("auth_failure", reason))
		}
		ce.Write(fields...)
	}
}

var errTooLarge = errors.New("request body too large")

// bodyReadTimeout bounds how long a client may take to send its body.
const bodyReadTimeout = 30 * time.Second

// bufferBody reads the whole request body (at most maxBody bytes) before
// forwarding: a streamed body can hang server→client requests behind Go's
// reverse proxy (spec.md §3.4).
func (g *Guard) bufferBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.ContentLength > g.maxBody {
		return nil, errTooLarge
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(bodyReadTimeout))
	b, err := io.ReadAll(io.LimitReader(r.Body, g.maxBody+1))
	_ = rc.SetReadDeadline(time.Time{})
	_ = r.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if int64(len(b)) > g.maxBody {
		return nil, errTooLarge
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.ContentLength = int64(len(b))
	r.Header.Del("Transfer-Encoding")
	r.TransferEncoding = nil
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	return b, nil
}

// statusWriter records the status for the access log and keeps
// http.ResponseController working (Flush for SSE) through Unwrap.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Flush forwards to the underlying writer so SSE events go out at once.
func (s *statusWriter) Flush() {
	_ = http.NewResponseController(s.ResponseWriter).Flush()
}

// Unwrap exposes the underlying writer to http.ResponseController.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusWriter) statusCode() int {
	if s.status == 0 {
		return http.StatusOK
	}
	return s.status
}
