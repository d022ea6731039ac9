package behaviour

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SlowClients checks that clients that send slowly, or never finish, are
// cut off in bounded time and never reach the upstream, while ordinary
// clients keep their connection and admitted requests outlive the body
// deadline. The front door must be configured with short
// ReadHeaderTimeout and BodyReadTimeout (e.g. 500 ms). Every case talks
// raw HTTP/1.1 over its own loopback connection.
func SlowClients(t *testing.T, e *Env) {
	if e.ReadHeaderTimeout <= 0 || e.BodyReadTimeout <= 0 {
		t.Fatal("SlowClients needs Settings.ReadHeaderTimeout and BodyReadTimeout")
	}
	const margin = 1500 * time.Millisecond
	tok := e.Token(t, 1, nil, nil)
	post := func(extra string, contentLength int) string {
		return fmt.Sprintf("POST /mcp HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n%sContent-Length: %d\r\n\r\n", e.Listen, extra, contentLength)
	}
	body200 := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ok","arguments":{}}}` + strings.Repeat(" ", 200)
	body200 = body200[:200]

	t.Run("a refusal before the body is read closes the connection; the next request is served", func(t *testing.T) {
		// The refused request's body is complete, so the server could keep
		// the connection; but the refusal moved its read deadline to now,
		// and a kept-alive connection would cancel the next request at once
		// (Caddy answered 499). 20 rounds, as it depends on timing.
		client := &http.Client{Transport: &http.Transport{}}
		defer client.CloseIdleConnections()
		for i := 0; i < 20; i++ {
			for _, c := range []struct {
				method, tok string
				status      int
			}{{"PUT", tok, 405}, {"POST", "", 401}, {"POST", tok, 200}} {
				req, _ := http.NewRequest(c.method, e.Base+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ok","arguments":{}}}`))
				req.Header.Set("Content-Type", "application/json")
				if c.tok != "" {
					req.Header.Set("Authorization", "Bearer "+c.tok)
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatalf("round %d %s: %v", i, c.method, err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != c.status {
					t.Fatalf("round %d %s = %d, want %d", i, c.method, resp.StatusCode, c.status)
				}
				if c.status != 200 && !resp.Close {
					t.Fatalf("round %d: a refusal of an unread body must close the connection (Connection: close)", i)
				}
			}
		}
	})

	t.Run("no token, body at 1 byte/s: 401 at once, connection closed", func(t *testing.T) {
		before := e.Up.Count()
		c := dialRaw(t, e)
		start := time.Now()
		writeRaw(t, c, post("", 200)+body200[:1])
		stop := trickle(c, body200[1:], time.Second)
		defer stop()
		got := readUntilClosed(t, c, start, 2*time.Second)
		resp := got.response(t, "HTTP/1.1 401 Unauthorized")
		if !resp.Close {
			t.Errorf("the 401 does not say Connection: close (header %q)", resp.Header.Get("Connection"))
		}
		if got.body != "Unauthorized" {
			t.Errorf("body = %q", got.body)
		}
		if !got.closed {
			t.Fatalf("the connection is still open %v after the headers (the server waits for the body)", time.Since(start))
		}
		if e.Up.Count() != before {
			t.Error("the request reached the upstream")
		}
	})

	t.Run("metadata path, body at 1 byte/s: answered at once, connection closed", func(t *testing.T) {
		c := dialRaw(t, e)
		start := time.Now()
		writeRaw(t, c, fmt.Sprintf("POST /.well-known/oauth-protected-resource/mcp HTTP/1.1\r\nHost: %s\r\nContent-Length: 200\r\n\r\n{", e.Listen))
		stop := trickle(c, body200[1:], time.Second)
		defer stop()
		got := readUntilClosed(t, c, start, 2*time.Second)
		if resp := got.response(t, "HTTP/1.1 405 Method Not Allowed"); !resp.Close {
			t.Errorf("the 405 does not say Connection: close (header %q)", resp.Header.Get("Connection"))
		}
		if !got.closed {
			t.Fatalf("the connection is still open %v after the headers", time.Since(start))
		}
	})

	t.Run("valid token, body too slow: 408 after body_read_timeout, connection closed", func(t *testing.T) {
		before := e.Up.Count()
		c := dialRaw(t, e)
		start := time.Now()
		writeRaw(t, c, post("Authorization: Bearer "+tok+"\r\n", 200)+body200[:1])
		stop := trickle(c, body200[1:], 100*time.Millisecond)
		defer stop()
		got := readUntilClosed(t, c, start, e.BodyReadTimeout+margin)
		resp := got.response(t, "HTTP/1.1 408 Request Timeout")
		if !resp.Close {
			t.Errorf("the 408 does not say Connection: close (header %q)", resp.Header.Get("Connection"))
		}
		if got.body != "Request Timeout" {
			t.Errorf("body = %q", got.body)
		}
		if !got.closed {
			t.Fatalf("the connection is still open %v after the headers", time.Since(start))
		}
		if got.at < e.BodyReadTimeout/2 {
			t.Errorf("answered after %v, before body_read_timeout (%v): not the deadline", got.at, e.BodyReadTimeout)
		}
		if e.Up.Count() != before {
			t.Error("the request reached the upstream")
		}
	})

	t.Run("headers never finished: connection closed after read_header_timeout", func(t *testing.T) {
		before := e.Up.Count()
		c := dialRaw(t, e)
		start := time.Now()
		writeRaw(t, c, fmt.Sprintf("POST /mcp HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n", e.Listen, tok))
		stop := trickle(c, "X-Slow: "+strings.Repeat("a", 200), 100*time.Millisecond)
		defer stop()
		got := readUntilClosed(t, c, start, e.ReadHeaderTimeout+margin)
		if !got.closed {
			t.Fatalf("the connection is still open %v after the first header byte", time.Since(start))
		}
		// net/http closes silently, or says 400 when the deadline cut a
		// header line in two; never anything from the front door.
		if line, _, _ := strings.Cut(got.raw, "\r\n"); got.raw != "" && line != "HTTP/1.1 400 Bad Request" {
			t.Errorf("unexpected answer %q", got.raw)
		}
		if got.at < e.ReadHeaderTimeout/2 {
			t.Errorf("closed after %v, before read_header_timeout (%v)", got.at, e.ReadHeaderTimeout)
		}
		if e.Up.Count() != before {
			t.Error("the request reached the upstream")
		}
	})

	t.Run("refusal of a complete body: Connection: close, nothing waits", func(t *testing.T) {
		c := dialRaw(t, e)
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(c)
		writeRaw(t, c, post("", 2)+"{}")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 401 || !resp.Close {
			t.Fatalf("no token, whole body: %s, close=%v; want 401 closing the connection", resp.Status, resp.Close)
		}
		if _, err := br.ReadByte(); err == nil {
			t.Fatal("the server kept the connection after Connection: close")
		}
	})

	t.Run("an admitted request outlives body_read_timeout", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "POST", e.Base+"/mcp", strings.NewReader(rpcCall(60, "slow", "")))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		done := make(chan struct{})
		go func() {
			defer close(done)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) && !strings.Contains(e.Up.Last().Body, `"id":60`) {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(2 * e.BodyReadTimeout)
		if last := e.Up.Last(); !strings.Contains(last.Body, `"id":60`) || last.Cancelled {
			t.Fatalf("the upstream request was ended before the client went away (seen %q, cancelled %v): the body deadline reached it", last.Body, last.Cancelled)
		}
		cancel()
		<-done
		deadline = time.Now().Add(3 * time.Second)
		for time.Now().Before(deadline) && !e.Up.Last().Cancelled {
			time.Sleep(10 * time.Millisecond)
		}
		if !e.Up.Last().Cancelled {
			t.Fatal("the upstream never saw the client's cancellation")
		}
	})

	t.Run("SSE first event arrives before the stream ends", func(t *testing.T) { sseTiming(t, e) })
}

func dialRaw(t *testing.T, e *Env) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", e.Listen, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func writeRaw(t *testing.T, c net.Conn, s string) {
	t.Helper()
	_ = c.SetWriteDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatal(err)
	}
}

// trickle writes s one byte per interval until it is all sent, a write
// fails (the server closed) or stop is called; stop waits for it.
func trickle(c net.Conn, s string, every time.Duration) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for i := 0; i < len(s); i++ {
			select {
			case <-quit:
				return
			case <-tick.C:
			}
			_ = c.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := c.Write([]byte{s[i]}); err != nil {
				return
			}
		}
	}()
	return func() { close(quit); <-done }
}

// rawAnswer is what came back on a raw connection.
type rawAnswer struct {
	raw    string        // every byte received
	body   string        // the response body, once parsed
	closed bool          // the server closed the connection (EOF or reset)
	at     time.Duration // since start, when it was closed or the wait ended
}

// readUntilClosed reads until the server closes the connection or within
// has passed since start.
func readUntilClosed(t *testing.T, c net.Conn, start time.Time, within time.Duration) *rawAnswer {
	t.Helper()
	_ = c.SetReadDeadline(start.Add(within))
	var buf bytes.Buffer
	p := make([]byte, 4096)
	a := &rawAnswer{}
	for {
		n, err := c.Read(p)
		buf.Write(p[:n])
		if err != nil {
			// A reset is a close too: the server may close with bytes of
			// the body it will never read still arriving.
			a.closed = errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
			if !a.closed && !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err) {
				t.Fatalf("read: %v", err)
			}
			break
		}
	}
	a.at = time.Since(start)
	a.raw = buf.String()
	return a
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// response parses the answer and checks its exact status line.
func (a *rawAnswer) response(t *testing.T, statusLine string) *http.Response {
	t.Helper()
	if line, _, _ := strings.Cut(a.raw, "\r\n"); line != statusLine {
		t.Fatalf("status line %q, want %q (after %v, closed %v)", line, statusLine, a.at, a.closed)
	}
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(a.raw)), nil)
	if err != nil {
		t.Fatalf("parse %q: %v", a.raw, err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("body of %q: %v", a.raw, err)
	}
	a.body = string(b)
	return resp
}
