package sidecar_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/jwkstest"
	"github.com/mcp-frontdoor/mcp-frontdoor/internal/sidecar"
)

// holdingUpstream answers a GET, and a POST whose body has "id":7, with
// an SSE stream it keeps open (one event, then nothing) until the request
// goes away; anything else with JSON.
func holdingUpstream(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method == "GET" || strings.Contains(string(b), `"id":7`) {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "id: 1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}\n\n")
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(time.Minute):
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// TestDrainEndsOpenStreams: on SIGTERM (ctx cancelled) /readyz is 503
// with draining at once, new requests are still served for drain_delay,
// then the open SSE streams (a GET stream and a streaming POST response,
// both held open by the upstream) end cleanly, and Serve returns within
// drain_delay plus a small bound, not shutdown_timeout.
func TestDrainEndsOpenStreams(t *testing.T) {
	k := jwkstest.NewKey(t, "k", "ES256")
	as := jwkstest.NewServer(t, k)
	up := holdingUpstream(t)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	adminLn, _ := net.Listen("tcp", "127.0.0.1:0")
	resource := "http://" + ln.Addr().String() + "/mcp"
	admin := "http://" + adminLn.Addr().String()
	const drain = time.Second
	cfg, err := sidecar.Parse([]byte(fmt.Sprintf(`listen: %s
admin_listen: %s
drain_delay: %s
shutdown_timeout: 30s
upstream: %s
resource: %s
authorization_servers:
  - issuer: %s
    jwks_uri: %s
`, ln.Addr(), adminLn.Addr(), drain, up, resource, as.Issuer, as.JWKSURL())))
	if err != nil {
		t.Fatal(err)
	}
	log, _, logs := watchLogger()
	app, err := sidecar.New(cfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- app.Serve(ctx, ln, adminLn) }()
	waitFor(t, "ready", func() bool { resp, _ := do(t, "GET", admin+"/readyz", nil, ""); return resp.StatusCode == 200 })

	tok := k.Sign(t, jwt.MapClaims{"iss": as.Issuer, "sub": "alice", "aud": resource, "exp": time.Now().Add(time.Hour).Unix()}, nil)
	open := func(method, body string) *bufio.Reader {
		req, _ := http.NewRequest(method, resource, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Accept", "application/json, text/event-stream")
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("%s stream: %d %v", method, resp.StatusCode, resp.Header)
		}
		br := bufio.NewReader(resp.Body)
		if line, _ := br.ReadString('\n'); line != "id: 1\n" {
			t.Fatalf("%s stream starts with %q", method, line)
		}
		return br
	}
	streams := []*bufio.Reader{open("GET", ""), open("POST", `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"slow"}}`)}
	type end struct {
		err error
		at  time.Duration
	}
	start := time.Now()
	ends := make(chan end, len(streams))
	for _, br := range streams {
		go func() {
			_, err := io.ReadAll(br)
			ends <- end{err, time.Since(start)}
		}()
	}

	cancel() // SIGTERM
	// The serving goroutine sees the cancellation at once, but not
	// synchronously with cancel(): /readyz turns 503 within a short bound.
	waitFor(t, "readyz 503", func() bool { resp, _ := do(t, "GET", admin+"/readyz", nil, ""); return resp.StatusCode == 503 })
	resp, body := do(t, "GET", admin+"/readyz", nil, "")
	if resp.StatusCode != 503 || !strings.Contains(body, `"draining":true`) || !strings.Contains(body, `"ready":false`) {
		t.Fatalf("readyz while draining = %d %s", resp.StatusCode, body)
	}
	if resp, _ := do(t, "GET", admin+"/healthz", nil, ""); resp.StatusCode != 200 {
		t.Fatalf("healthz while draining = %d", resp.StatusCode)
	}
	// New requests are still served during drain_delay.
	if resp, _ := do(t, "POST", resource, http.Header{"Authorization": {"Bearer " + tok}, "Content-Type": {"application/json"}}, pingBody); resp.StatusCode != 200 {
		t.Fatalf("request during drain_delay = %d", resp.StatusCode)
	}
	if time.Since(start) >= drain {
		t.Fatal("the test itself took longer than drain_delay")
	}
	for range streams {
		select {
		case e := <-ends:
			if e.err != nil {
				t.Errorf("stream ended with %v, want a clean end", e.err)
			}
			if e.at < drain {
				t.Errorf("stream ended after %v, before drain_delay", e.at)
			}
		case <-time.After(drain + 2*time.Second):
			t.Fatal("stream still open after drain_delay")
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(drain + 2*time.Second - time.Since(start)):
		t.Fatal("Serve did not return within drain_delay + 2s")
	}
	if el := time.Since(start); el > drain+1500*time.Millisecond {
		t.Errorf("exit took %v", el)
	}
	if l := logs.String(); !strings.Contains(l, "draining: ended open streams") || !strings.Contains(l, `"streams":2`) {
		t.Fatalf("logs lack the stream count:\n%s", l)
	}
}

// TestDrainDelayZero: with drain_delay 0s a held stream ends cleanly at
// once on SIGTERM and Serve returns.
func TestDrainDelayZero(t *testing.T) {
	k := jwkstest.NewKey(t, "k", "ES256")
	as := jwkstest.NewServer(t, k)
	up := holdingUpstream(t)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	resource := "http://" + ln.Addr().String() + "/mcp"
	cfg, err := sidecar.Parse([]byte(fmt.Sprintf("listen: %s\nadmin_listen: \"off\"\ndrain_delay: 0s\nupstream: %s\nresource: %s\nauthorization_servers:\n  - issuer: %s\n    jwks_uri: %s\n",
		ln.Addr(), up, resource, as.Issuer, as.JWKSURL())))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Drain() != 0 {
		t.Fatalf("drain_delay 0s = %v", cfg.Drain())
	}
	app, err := sidecar.New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Serve(ctx, ln, nil) }()
	tok := k.Sign(t, jwt.MapClaims{"iss": as.Issuer, "sub": "alice", "aud": resource, "exp": time.Now().Add(time.Hour).Unix()}, nil)
	req, _ := http.NewRequest("GET", resource, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "text/event-stream")
	var resp *http.Response
	waitFor(t, "a stream", func() bool {
		resp, err = http.DefaultClient.Do(req)
		return err == nil
	})
	defer resp.Body.Close()
	start := time.Now()
	cancel()
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Fatalf("stream end: %v", err)
	}
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Serve did not return")
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("exit took %v with drain_delay 0", el)
	}
	if !app.Draining() {
		t.Fatal("not draining after shutdown")
	}
}
