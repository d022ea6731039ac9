package mcpproxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// deadlineRecorder records the read deadlines set through
// http.ResponseController.
type deadlineRecorder struct {
	*httptest.ResponseRecorder
	deadlines []time.Time
}

func (d *deadlineRecorder) SetReadDeadline(t time.Time) error {
	d.deadlines = append(d.deadlines, t)
	return nil
}

// stalledBody yields its bytes, then fails as a read past the deadline does.
type stalledBody struct{ r io.Reader }

func (s *stalledBody) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if errors.Is(err, io.EOF) {
		return n, fmt.Errorf("read tcp: %w", os.ErrDeadlineExceeded)
	}
	return n, err
}
func (s *stalledBody) Close() error { return nil }

func TestBufferBodyDeadlines(t *testing.T) {
	g := &Guard{maxBody: 16, bodyRead: time.Minute}
	t.Run("complete body: deadline set, then cleared; no close", func(t *testing.T) {
		w := &deadlineRecorder{ResponseRecorder: httptest.NewRecorder()}
		r := httptest.NewRequest("POST", "/mcp", strings.NewReader(`{"a":1}`))
		start := time.Now()
		b, err := g.bufferBody(w, r)
		if err != nil || string(b) != `{"a":1}` {
			t.Fatalf("bufferBody = %q, %v", b, err)
		}
		if len(w.deadlines) != 2 || w.deadlines[0].Before(start.Add(time.Minute)) || !w.deadlines[1].IsZero() {
			t.Fatalf("read deadlines %v, want now+1m then zero", w.deadlines)
		}
		if _, ok := r.Body.(bufferedBody); !ok {
			t.Fatalf("body is %T, want the buffered copy", r.Body)
		}
		g.abandonUnreadBody(w, r) // as Admit's refusal path would
		if len(w.deadlines) != 2 || w.Header().Get("Connection") != "" {
			t.Fatalf("a buffered body was abandoned: deadlines %v, Connection %q", w.deadlines, w.Header().Get("Connection"))
		}
	})
	for _, c := range []struct {
		name   string
		body   io.ReadCloser
		length int64
		status int
	}{
		{"timeout → 408", &stalledBody{strings.NewReader("{")}, 10, http.StatusRequestTimeout},
		{"declared too large → 413, unread", io.NopCloser(strings.NewReader("")), 17, http.StatusRequestEntityTooLarge},
		{"chunked too large → 413", io.NopCloser(strings.NewReader(strings.Repeat("x", 17))), -1, http.StatusRequestEntityTooLarge},
		{"broken body → 400", io.NopCloser(io.MultiReader(strings.NewReader("{"), errReader{io.ErrUnexpectedEOF})), 10, http.StatusBadRequest},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := &deadlineRecorder{ResponseRecorder: httptest.NewRecorder()}
			r := httptest.NewRequest("POST", "/mcp", nil)
			r.Body, r.ContentLength = c.body, c.length
			before := time.Now()
			_, err := g.bufferBody(w, r)
			if status, _ := bodyRefusal(err); err == nil || status != c.status {
				t.Fatalf("err %v → %d, want %d", err, status, c.status)
			}
			if w.Header().Get("Connection") != "close" {
				t.Errorf("Connection = %q, want close (set before the answer)", w.Header().Get("Connection"))
			}
			if n := len(w.deadlines); n == 0 || w.deadlines[n-1].IsZero() || w.deadlines[n-1].After(time.Now()) || w.deadlines[n-1].Before(before) {
				t.Errorf("read deadlines %v: the last must be now (never cleared after a failed read)", w.deadlines)
			}
		})
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestAbandonUnreadBodyNoOps(t *testing.T) {
	g := &Guard{}
	for _, c := range []struct {
		name string
		r    *http.Request
	}{
		{"no body", httptest.NewRequest("GET", "/mcp", nil)},
		{"HTTP/2", func() *http.Request {
			r := httptest.NewRequest("POST", "/mcp", strings.NewReader("{}"))
			r.ProtoMajor, r.ProtoMinor, r.Proto = 2, 0, "HTTP/2.0"
			return r
		}()},
	} {
		w := &deadlineRecorder{ResponseRecorder: httptest.NewRecorder()}
		g.abandonUnreadBody(w, c.r)
		if len(w.deadlines) != 0 || w.Header().Get("Connection") != "" {
			t.Errorf("%s: deadlines %v, Connection %q; want nothing", c.name, w.deadlines, w.Header().Get("Connection"))
		}
	}
}

// TestAbandonUnreadBodyServer: over a real connection, an answer given
// without reading the body, then abandonUnreadBody (as Admit's deferred
// call does), goes out at once and the connection closes, although the
// client never sends the rest of its body; a body that arrived whole keeps
// the connection.
func TestAbandonUnreadBodyServer(t *testing.T) {
	g := &Guard{maxBody: 1024, bodyRead: time.Minute}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		plain(w, http.StatusUnauthorized)
		g.abandonUnreadBody(w, r)
	}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	_ = c.SetDeadline(start.Add(2 * time.Second))
	fmt.Fprintf(c, "POST /mcp HTTP/1.1\r\nHost: %s\r\nContent-Length: 200\r\n\r\n{", addr)
	all, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("after %v: %v (read %q)", time.Since(start), err, all)
	}
	resp, perr := http.ReadResponse(bufio.NewReader(strings.NewReader(string(all))), nil)
	if perr != nil || resp.StatusCode != 401 || !resp.Close {
		t.Fatalf("answer %q (%v): want a 401 with Connection: close", all, perr)
	}

	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	_ = c2.SetDeadline(time.Now().Add(2 * time.Second))
	br := bufio.NewReader(c2)
	for i := 0; i < 2; i++ {
		fmt.Fprintf(c2, "POST /mcp HTTP/1.1\r\nHost: %s\r\nContent-Length: 2\r\n\r\n{}", addr)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d on a kept connection: %v", i+1, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 401 || resp.Close {
			t.Fatalf("request %d: %s close=%v, want 401 keeping the connection", i+1, resp.Status, resp.Close)
		}
	}
}
