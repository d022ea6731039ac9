package mcpproxy

import (
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/promreg"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

// Handler is the sidecar's front door: a Guard around a reverse proxy
// that flushes SSE events as they come.
type Handler struct {
	*Guard
	// next serves admitted requests: the reverse proxy to the upstream
	// URL, or Options.Backend (the stdio bridge).
	next      http.Handler
	upstreamD *prometheus.HistogramVec
}

// New builds the sidecar handler from normalized configs and a validator.
func New(rc *rs.Config, pc *Policy, v *rs.Validator, inj *Injector, o Options) (*Handler, error) {
	g, err := NewGuard(rc, pc, v, inj, o)
	if err != nil {
		return nil, err
	}
	h := &Handler{Guard: g}
	h.upstreamD, err = promreg.Register(o.Registerer, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "mcp_auth", Name: "upstream_duration_seconds",
		Help:    "Time from forwarding a request to the MCP server until its response headers, by status code.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
	}, []string{"code"}))
	if err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	if o.Backend != nil {
		h.next = o.Backend
		return h, nil
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
	h.next = &httputil.ReverseProxy{
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
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	_, r = h.BeginAudit(sw, r) // the audit record learns the status from sw
	st, reason, ok := h.Admit(sw, r)
	if ok {
		rw := h.Writer(sw, st)
		h.next.ServeHTTP(rw, r.WithContext(WithState(r.Context(), st)))
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
	h.Audit(r, reason, sw.statusCode())
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 && (code < 100 || code > 199 || code == http.StatusSwitchingProtocols) { // a 1xx is not the answer
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
