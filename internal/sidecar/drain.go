package sidecar

import (
	"context"
	"mime"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// The drain on SIGTERM (Serve's ctx done), in order:
//
//  1. /readyz turns 503 ({"ready":false,"draining":true}) at once, so the
//     load balancer (Kubernetes endpoints) stops sending new requests;
//  2. for drain_delay, everything is served as usual: requests routed
//     before the endpoint removal reached every proxy still succeed;
//  3. the open SSE streams (GET streams and streaming POST responses) are
//     ended cleanly: the response is finished (for HTTP/1.1, the last
//     chunk is written), so the client sees the end of the stream and
//     reconnects, to another replica;
//  4. http.Server.Shutdown: the listener closes, idle connections are
//     closed, and requests in flight finish within shutdown_timeout.
//
// Step 3 works through the request contexts: every request the front
// door serves runs with a context of its own, which is cancelled only if
// the request is a stream. Cancelling it ends the upstream request; the
// reverse proxy then aborts its copy (panics http.ErrAbortHandler), which
// the wrapper recovers so the response ends normally; the stdio bridge
// simply returns.

// streamSet tracks the front door's requests and knows which are SSE
// streams.
type streamSet struct {
	mu     sync.Mutex
	open   map[*tracked]struct{}
	ending bool // streams were ended: a new one is ended at once
}

// tracked is one request being served.
type tracked struct {
	cancel context.CancelFunc
	stream bool // under streamSet.mu
	ended  atomic.Bool
}

func (t *tracked) end() {
	t.ended.Store(true)
	t.cancel()
}

// add registers t; false when streams are being ended and t is one.
func (s *streamSet) add(t *tracked) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ending && t.stream {
		return false
	}
	if s.open == nil {
		s.open = map[*tracked]struct{}{}
	}
	s.open[t] = struct{}{}
	return true
}

func (s *streamSet) remove(t *tracked) {
	s.mu.Lock()
	delete(s.open, t)
	s.mu.Unlock()
}

// markStream records that t's response is an SSE stream; ended at once
// if streams have been ended already.
func (s *streamSet) markStream(t *tracked) {
	s.mu.Lock()
	t.stream = true
	ending := s.ending
	s.mu.Unlock()
	if ending {
		t.end()
	}
}

// endAll ends every open stream, and every one that starts later; it
// returns how many were open.
func (s *streamSet) endAll() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ending = true
	n := 0
	for t := range s.open {
		if t.stream {
			t.end()
			n++
		}
	}
	return n
}

// wrap serves next with each request tracked (see streamSet).
func (s *streamSet) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		t := &tracked{cancel: cancel, stream: r.Method == http.MethodGet && acceptsSSE(r)}
		if !s.add(t) {
			// A GET stream opened after the streams were ended: the
			// client should reconnect elsewhere.
			drainRefusal(w)
			return
		}
		defer s.remove(t)
		tw := &trackingWriter{ResponseWriter: w, set: s, t: t}
		defer func() {
			if !t.ended.Load() {
				return // any panic goes on as it would have
			}
			if v := recover(); v != nil && v != http.ErrAbortHandler {
				panic(v)
			}
			if !tw.wrote {
				drainRefusal(w) // ended before the upstream answered
			}
		}()
		next.ServeHTTP(tw, r.WithContext(ctx))
	})
}

// drainRefusal answers a stream the drain ended before it began.
func drainRefusal(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "1")
	w.Header().Set("Connection", "close")
	http.Error(w, "shutting down", http.StatusServiceUnavailable)
}

// acceptsSSE reports whether the request's Accept lists text/event-stream.
func acceptsSSE(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		for _, part := range strings.Split(v, ",") {
			if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == "text/event-stream" {
				return true
			}
		}
	}
	return false
}

// trackingWriter notices an SSE response as its headers go out.
type trackingWriter struct {
	http.ResponseWriter
	set   *streamSet
	t     *tracked
	wrote bool
}

func (w *trackingWriter) WriteHeader(code int) {
	if !w.wrote && code >= 200 {
		w.wrote = true
		if ct, _, _ := mime.ParseMediaType(w.Header().Get("Content-Type")); ct == "text/event-stream" {
			w.set.markStream(w.t)
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *trackingWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Flush sends buffered bytes (SSE events go out at once).
func (w *trackingWriter) Flush() {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap exposes the underlying writer to http.ResponseController.
func (w *trackingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// drain runs steps 1 to 3 (see the top of this file). It returns early,
// with the error, when a server fails meanwhile.
func (a *App) drain(errc <-chan error) error {
	a.ops.draining.Store(true)
	delay := a.Config().Drain()
	a.log.Info("draining: /readyz reports not ready; still serving", zap.Duration("drain_delay", delay))
	var err error
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case err = <-errc:
			t.Stop()
		}
	}
	n := a.ops.streams.endAll()
	a.log.Info("draining: ended open streams", zap.Int("streams", n))
	return err
}
