package sidecar_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/jwkstest"
	"github.com/mcp-frontdoor/mcp-frontdoor/internal/sidecar"
)

// TestHotReload: a new config is applied without dropping the listener,
// the key set of an unchanged issuer is kept, a bad config is refused with
// the old one serving, and an SSE stream in flight is not cut.
func TestHotReload(t *testing.T) {
	k1, k2 := jwkstest.NewKey(t, "k1", "ES256"), jwkstest.NewKey(t, "k2", "ES256")
	as1, as2 := jwkstest.NewServer(t, k1), jwkstest.NewServer(t, k2)
	up := newUpstream(t)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	resource := "http://" + ln.Addr().String() + "/mcp"
	path := filepath.Join(t.TempDir(), "sidecar.yaml")
	write := func(extra string) {
		y := fmt.Sprintf("listen: %s\nadmin_listen: \"off\"\ndrain_delay: 0s\nupstream: %s\nresource: %s\nresource_name: One\nauthorization_servers:\n  - issuer: %s\n    jwks_uri: %s\n%s",
			ln.Addr(), up.url, resource, as1.Issuer, as1.JWKSURL(), extra)
		if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("")
	cfg, err := sidecar.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	app, err := sidecar.New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Serve(ctx, ln, nil) }()
	hup := make(chan os.Signal, 1)
	go app.WatchReload(ctx, hup, path)
	defer func() { cancel(); <-done }()

	tok := func(k jwkstest.Key, iss string) string {
		return k.Sign(t, jwt.MapClaims{"iss": iss, "sub": "alice", "aud": resource, "exp": time.Now().Add(time.Hour).Unix()}, nil)
	}
	post := func(token string) int {
		resp, _ := do(t, "POST", resource, http.Header{"Authorization": {"Bearer " + token}}, pingBody)
		return resp.StatusCode
	}
	if s := post(tok(k1, as1.Issuer)); s != 200 {
		t.Fatalf("before reload: %d", s)
	}
	if s := post(tok(k2, as2.Issuer)); s != 401 {
		t.Fatalf("issuer 2 before reload: %d", s)
	}
	hits1 := as1.JWKSHits()

	// An SSE stream opened before the reload.
	req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/sse", nil)
	req.Header.Set("Authorization", "Bearer "+tok(k1, as1.Issuer))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	if line, _ := br.ReadString('\n'); line != "id: 1\n" {
		t.Fatalf("stream start %q", line)
	}

	// Reload: add issuer 2 (SIGHUP path).
	write(fmt.Sprintf("  - issuer: %s\n    jwks_uri: %s\n", as2.Issuer, as2.JWKSURL()))
	hup <- os.Interrupt
	deadline := time.Now().Add(5 * time.Second)
	for len(app.Config().AuthorizationServers) != 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if s := post(tok(k2, as2.Issuer)); s != 200 {
		t.Fatalf("issuer 2 after reload: %d", s)
	}
	if s := post(tok(k1, as1.Issuer)); s != 200 || as1.JWKSHits() != hits1 {
		t.Fatalf("issuer 1 after reload: %d (JWKS fetches %d → %d: its key set must be kept)", s, hits1, as1.JWKSHits())
	}
	// The stream opened before the reload completes.
	rest, _ := io.ReadAll(br)
	resp.Body.Close()
	if string(rest) != "data: first\n\nid: 2\ndata: second\n\n" {
		t.Fatalf("stream across reload = %q", rest)
	}

	// A bad config is refused; the running one keeps serving.
	if err := os.WriteFile(path, []byte("upstream: ftp://nope\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := app.ReloadFile(path); err == nil {
		t.Fatal("bad config accepted")
	}
	if s := post(tok(k2, as2.Issuer)); s != 200 || len(app.Config().AuthorizationServers) != 2 {
		t.Fatalf("after refused reload: %d", s)
	}
	// Dropping issuer 2 stops accepting it.
	write("")
	if err := app.ReloadFile(path); err != nil {
		t.Fatal(err)
	}
	if s := post(tok(k2, as2.Issuer)); s != 401 {
		t.Fatalf("issuer 2 after removal: %d", s)
	}
}
