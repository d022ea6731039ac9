package mcpproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
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
}

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
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	} else if c.MaxBodyBytes < 0 {
		errs = append(errs, &rs.FieldError{Field: "max_body_bytes", Msg: "must be positive"})
	}
	if c.PreserveHost == nil {
		t := true
		c.PreserveHost = &t
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
}

// Handler is the sidecar's front door: it serves the Protected Resource
// Metadata, answers CORS preflights, demands a valid bearer token on every
// other request, and forwards the request to the MCP server with the
// caller's identity headers and without the client's Authorization.
type Handler struct {
	validator  *rs.Validator
	challenger rs.Challenger
	prm        map[string]http.Handler
	inject     *Injector
	proxy      *httputil.ReverseProxy
	maxBody    int64
	log        *zap.Logger
	upstreamD  *prometheus.HistogramVec
}

type ctxKey struct{}

// New builds the handler from normalized configs and a validator.
func New(rc *rs.Config, pc *Config, v *rs.Validator, inj *Injector, o Options) (*Handler, error) {
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
	h := &Handler{
		validator:  v,
		challenger: rs.Challenger{MetadataURL: mdURL, Scopes: rc.ChallengeScopes},
		prm:        map[string]http.Handler{},
		inject:     inj,
		maxBody:    pc.MaxBodyBytes,
		log:        o.Logger,
	}
	for _, p := range rs.MetadataPaths(rc.Resource) {
		h.prm[p] = mh
	}
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
			id, _ := pr.In.Context().Value(ctxKey{}).(*rs.Identity)
			h.inject.Apply(pr.Out.Header, id)
		},
		Transport:     timedTransport{next: tr, hist: h.upstreamD},
		FlushInterval: -1,
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

func (h *Handler) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) || r.Context().Err() != nil {
		return // the client went away; nobody to answer
	}
	h.log.Warn("upstream request failed", zap.String("path", r.URL.Path), zap.Error(err))
	status := http.StatusBadGateway
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		status = http.StatusGatewayTimeout
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, http.StatusText(status))
}

// corsHeaders are Arcade's CORS answers for browser MCP clients.
func corsHeaders(h http.Header) {
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization, Mcp-Session-Id, Accept, MCP-Protocol-Version, Last-Event-ID, Mcp-Method, Mcp-Name")
	h.Set("Access-Control-Expose-Headers", "WWW-Authenticate, Mcp-Session-Id, MCP-Protocol-Version")
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	id, reason := h.serve(sw, r)
	if ce := h.log.Check(zap.InfoLevel, "request"); ce != nil {
		fields := []zap.Field{
			zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Int("status", sw.statusCode()),
			zap.Duration("duration", time.Since(start)),
		}
		if id != nil {
			fields = append(fields, zap.String("issuer", id.Issuer), zap.String("subject", id.Subject))
		}
		if reason != "" {
			fields = append(fields, zap.String("auth_failure", reason))
		}
		ce.Write(fields...)
	}
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) (*rs.Identity, string) {
	if mh, ok := h.prm[r.URL.Path]; ok {
		mh.ServeHTTP(w, r)
		return nil, ""
	}
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		corsHeaders(w.Header())
		w.Header().Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
		return nil, ""
	}
	tok, perr := rs.ExtractBearer(r.Header, r.URL.Query())
	if perr != nil {
		corsHeaders(w.Header())
		h.challenger.Write(w, perr)
		return nil, perr.Reason
	}
	id, err := h.validator.Validate(r.Context(), tok)
	if err != nil {
		corsHeaders(w.Header())
		h.challenger.Write(w, err)
		var e *rs.Error
		if errors.As(err, &e) {
			return nil, e.Reason
		}
		return nil, "invalid"
	}
	if err := h.bufferBody(r); err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, errTooLarge) {
			status = http.StatusRequestEntityTooLarge
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, http.StatusText(status))
		return id, ""
	}
	h.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, id)))
	return id, ""
}

var errTooLarge = errors.New("request body too large")

// bufferBody reads the whole request body (at most maxBody bytes) before
// forwarding: a streamed body can hang server→client requests behind Go's
// reverse proxy (spec.md §3.4).
func (h *Handler) bufferBody(r *http.Request) error {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	if r.ContentLength > h.maxBody {
		return errTooLarge
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, h.maxBody+1))
	_ = r.Body.Close()
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if int64(len(b)) > h.maxBody {
		return errTooLarge
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.ContentLength = int64(len(b))
	r.Header.Del("Transfer-Encoding")
	r.TransferEncoding = nil
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	return nil
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
