package mcpproxy

import (
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

// Handler is the sidecar's front door: a Guard around a reverse proxy
// that flushes SSE events as they come.
type Handler struct {
	*Guard
	// next serves admitted requests: the reverse proxy to the upstream
	// URL, or Options.Backend (the stdio bridge).
	next http.Handler
	// access receives the line per request (it may be sampled; the
	// lines of refused and failed requests go to the Guard's log, never
	// sampled).
	access *zap.Logger
}

// New builds the sidecar handler from normalized configs and a validator.
func New(rc *rs.Config, pc *Policy, v *rs.Validator, inj *Injector, o Options) (*Handler, error) {
	g, err := NewGuard(rc, pc, v, inj, o)
	if err != nil {
		return nil, err
	}
	h := &Handler{Guard: g, access: o.AccessLog}
	if h.access == nil {
		h.access = g.log
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
		Transport: tr,
		// 0: httputil flushes text/event-stream and unknown-length bodies at
		// once anyway; -1 would add a separate write for the headers of
		// every ordinary response.
		FlushInterval: 0,
		// Copy buffers are reused, not allocated (32 KiB) per response.
		BufferPool:   newCopyBuffers(),
		ErrorHandler: h.upstreamError,
		ErrorLog:     zap.NewStdLog(o.Logger.Named("reverseproxy")),
	}
	return h, nil
}

// upstreamError is the reverse proxy's ErrorHandler.
func (h *Handler) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client went away; nobody to answer
	}
	st, _ := r.Context().Value(ctxKey{}).(*State)
	h.UpstreamFailure(w, r, st, err)
}

// ServeHTTP serves one request: BeginAudit, Admit, Forward to the
// upstream, Finish (metrics, trace, audit), and one access log line.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	_, r = h.BeginAudit(sw, r) // the record learns the status from sw
	st, reason, ok := h.Admit(sw, r)
	if ok {
		rw, fr := h.Forward(sw, r, st)
		h.next.ServeHTTP(rw, fr)
		rw.Finish()
	}
	status := sw.statusCode()
	result, fields := h.finish(r, reason, status)
	log := h.access
	if result == ResultDenied || result == ResultError {
		log = h.log // refusals and failures are never sampled
	}
	if ce := log.Check(zap.InfoLevel, "request"); ce != nil {
		ce.Write(append([]zap.Field{
			zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Int("status", status),
			zap.Duration("duration", time.Since(start)), zap.String("remote_addr", r.RemoteAddr),
		}, fields...)...)
	}
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

// copyBuffers is the reverse proxy's BufferPool: 32 KiB copy buffers
// reused across the handler's requests.
type copyBuffers struct{ pool sync.Pool }

func newCopyBuffers() *copyBuffers {
	return &copyBuffers{pool: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}

func (c *copyBuffers) Get() []byte  { return *c.pool.Get().(*[]byte) }
func (c *copyBuffers) Put(b []byte) { c.pool.Put(&b) }
