package conformance

import (
	"bytes"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"
)

// MaxHopBodyBytes caps the request bodies a [NewBearerHop] buffers; larger
// ones get 413.
const MaxHopBodyBytes = 16 << 20

// BearerHop is the http.Handler built by [NewBearerHop].
type BearerHop struct {
	proxy     *httputil.ReverseProxy
	transport *http.Transport
}

// NewBearerHop returns a reverse proxy to target (only its scheme and host
// are used; the request path and query are kept) that sets
// "Authorization: Bearer <token>" on every request, replacing any the
// client sent, and otherwise forwards the request as the client sent it:
// the client's Host (Out.Host = In.Host) and Origin are kept, so the front
// door behind it sees what the client sent. It exists because the
// conformance CLI cannot add headers.
//
// Request bodies are read fully before the request is forwarded (see spec
// §3.4: a streamed body can be cut off once the upstream answers, which
// hangs sampling and elicitation scenarios); responses are streamed and
// flushed immediately (FlushInterval -1). Proxy errors go to errorLog (nil:
// the standard logger).
func NewBearerHop(target *url.URL, token string, errorLog *log.Logger) *BearerHop {
	base := &url.URL{Scheme: target.Scheme, Host: target.Host}
	tr := &http.Transport{
		Proxy:               nil, // loopback only, never through $HTTP_PROXY
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 32,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true, // do not add an Accept-Encoding the client did not send
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(base)
			pr.Out.Host = pr.In.Host
			pr.Out.Header.Set("Authorization", "Bearer "+token)
		},
		FlushInterval: -1,
		Transport:     tr,
		ErrorLog:      errorLog,
	}
	return &BearerHop{proxy: rp, transport: tr}
}

// ServeHTTP buffers the request body and forwards the request.
func (h *BearerHop) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Body != nil && r.Body != http.NoBody {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxHopBodyBytes))
		_ = r.Body.Close()
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, "reading request body: "+err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.Header.Del("Transfer-Encoding")
		r.TransferEncoding = nil
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	h.proxy.ServeHTTP(w, r)
}

// CloseIdleConnections closes the hop's idle upstream connections.
func (h *BearerHop) CloseIdleConnections() { h.transport.CloseIdleConnections() }

// StartBearerHop serves [NewBearerHop](target, token) on a free loopback
// port for the rest of the test and returns the URL to give the client:
// the hop's scheme and host with target's path and query, so a request to
// it reaches target. The hop's error log is shown if the test fails.
func StartBearerHop(t testing.TB, target, token string) string {
	t.Helper()
	tu, err := url.Parse(target)
	if err != nil || tu.Host == "" {
		t.Fatalf("conformance: bearer hop target %q is not an absolute URL (%v)", target, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("conformance: listen: %v", err)
	}
	logs := &logBuffer{}
	hop := NewBearerHop(tu, token, log.New(logs, "hop: ", log.Lmicroseconds))
	srv := &http.Server{
		Handler:           hop,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(logs, "hop server: ", log.Lmicroseconds),
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	hopURL := &url.URL{Scheme: "http", Host: ln.Addr().String(), Path: tu.Path, RawPath: tu.RawPath, RawQuery: tu.RawQuery}
	t.Cleanup(func() {
		_ = srv.Close() // also ends open SSE streams
		hop.CloseIdleConnections()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("conformance: bearer hop did not stop within 10s")
		}
		if t.Failed() && logs.String() != "" {
			t.Logf("bearer hop %s log:\n%s", hopURL, logs.String())
		}
	})
	return hopURL.String()
}
