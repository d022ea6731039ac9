package conformance

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestBearerHop checks the hop against a real loopback server: it sets the
// bearer token (replacing the client's), keeps Host, Origin and the path
// and query, forwards a chunked body with its length known, and streams
// SSE events as they are flushed.
func TestBearerHop(t *testing.T) {
	type seen struct {
		host, origin, auth, path, query, body string
		contentLength                         int64
		transferEncoding                      []string
	}
	got := make(chan seen, 1)
	release := make(chan struct{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	upstream := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- seen{r.Host, r.Header.Get("Origin"), strings.Join(r.Header.Values("Authorization"), "|"), r.URL.Path, r.URL.RawQuery, string(body), r.ContentLength, r.TransferEncoding}
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "event: message\ndata: first\n\n")
		w.(http.Flusher).Flush()
		select { // the second event only after the client saw the first
		case <-release:
		case <-time.After(10 * time.Second):
		}
		_, _ = io.WriteString(w, "event: message\ndata: second\n\n")
	})}
	go func() { _ = upstream.Serve(ln) }()
	t.Cleanup(func() { _ = upstream.Close() })

	hopURL := StartBearerHop(t, "http://"+ln.Addr().String()+"/mcp?x=1", "tok-123")
	if !strings.HasSuffix(hopURL, "/mcp?x=1") {
		t.Fatalf("hop URL %q does not keep the target's path and query", hopURL)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	pr, pw := io.Pipe()
	go func() { _, _ = io.WriteString(pw, `{"jsonrpc":"2.0","id":1,"method":"ping"}`); _ = pw.Close() }()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hopURL, pr) // unknown length: sent chunked
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "localhost:1234"
	req.Header.Set("Origin", "http://localhost:1234")
	req.Header.Set("Authorization", "Bearer client-token")
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()

	s := <-got
	want := seen{"localhost:1234", "http://localhost:1234", "Bearer tok-123", "/mcp", "x=1", `{"jsonrpc":"2.0","id":1,"method":"ping"}`, 40, nil}
	if s.host != want.host || s.origin != want.origin || s.auth != want.auth || s.path != want.path || s.query != want.query ||
		s.body != want.body || s.contentLength != want.contentLength || len(s.transferEncoding) != 0 {
		t.Errorf("upstream saw %+v\nwant %+v", s, want)
	}

	br := bufio.NewReader(resp.Body)
	readEvent := func() string {
		var ev []string
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("reading SSE: %v (so far %q)", err, ev)
			}
			if line == "\n" {
				return strings.Join(ev, "")
			}
			ev = append(ev, line)
		}
	}
	if ev := readEvent(); ev != "event: message\ndata: first\n" {
		t.Errorf("first event %q", ev)
	}
	close(release) // reached only if the first event was flushed through
	if ev := readEvent(); ev != "event: message\ndata: second\n" {
		t.Errorf("second event %q", ev)
	}
}
