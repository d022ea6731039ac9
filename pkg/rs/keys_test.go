package rs_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/jwkstest"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

// single builds a validator over one issuer with the given JWKS server.
func single(t *testing.T, srv *jwkstest.Server, clk *clock, mod func(*rs.AuthorizationServer)) *rs.Validator {
	t.Helper()
	as := rs.AuthorizationServer{Issuer: srv.Issuer, JWKSURI: srv.JWKSURL()}
	if mod != nil {
		mod(&as)
	}
	cfg := rs.Config{Resource: resource, AuthorizationServers: []rs.AuthorizationServer{as}, ValidationCacheSize: -1}
	if err := normalizeInto(&cfg); err != nil {
		t.Fatal(err)
	}
	v, err := rs.NewValidator(cfg, rs.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

func TestKeyRotationRefetchOnUnknownKid(t *testing.T) {
	clk := &clock{t: t0}
	old := jwkstest.NewKey(t, "old", "ES256")
	srv := jwkstest.NewServer(t, old)
	v := single(t, srv, clk, nil)
	ctx := context.Background()
	if _, err := v.Validate(ctx, old.Sign(t, claimsFor(srv.Issuer), nil)); err != nil {
		t.Fatalf("old key: %v", err)
	}
	if got := srv.JWKSHits(); got != 1 {
		t.Fatalf("JWKS hits after first token = %d, want 1", got)
	}
	// The AS rotates; a token with the new kid arrives before any refresh.
	next := jwkstest.NewKey(t, "new", "ES256")
	srv.SetKeys(old, next)
	if _, err := v.Validate(ctx, next.Sign(t, claimsFor(srv.Issuer), nil)); err != nil {
		t.Fatalf("new key after rotation: %v", err)
	}
	if got := srv.JWKSHits(); got != 2 {
		t.Fatalf("JWKS hits after rotation = %d, want 2", got)
	}
}

func TestRefetchIsRateLimited(t *testing.T) {
	clk := &clock{t: t0}
	k := jwkstest.NewKey(t, "k", "ES256")
	srv := jwkstest.NewServer(t, k)
	v := single(t, srv, clk, func(as *rs.AuthorizationServer) { as.JWKSMinRefetchInterval = rs.Duration(30 * time.Second) })
	ctx := context.Background()
	if _, err := v.Validate(ctx, k.Sign(t, claimsFor(srv.Issuer), nil)); err != nil {
		t.Fatal(err)
	}
	base := srv.JWKSHits()
	stranger := jwkstest.NewKey(t, "unknown", "ES256")
	// 1 refetch allowed; the next 19 unknown-kid tokens in the same
	// interval cause no fetch at all.
	for i := 0; i < 20; i++ {
		_, err := v.Validate(ctx, stranger.Sign(t, claimsFor(srv.Issuer), map[string]any{"kid": "unknown-" + string(rune('a'+i))}))
		wantErr(t, err, rs.ErrSignature)
	}
	if got := srv.JWKSHits() - base; got != 1 {
		t.Fatalf("refetches within interval = %d, want 1", got)
	}
	// After the interval one more refetch is allowed, and a newly
	// published key is then found.
	clk.Add(31 * time.Second)
	srv.SetKeys(k, stranger)
	if _, err := v.Validate(ctx, stranger.Sign(t, claimsFor(srv.Issuer), nil)); err != nil {
		t.Fatalf("after interval: %v", err)
	}
	if got := srv.JWKSHits() - base; got != 2 {
		t.Fatalf("refetches after interval = %d, want 2", got)
	}
}

func TestConcurrentMissesAreCoalesced(t *testing.T) {
	clk := &clock{t: t0}
	k := jwkstest.NewKey(t, "k", "ES256")
	srv := jwkstest.NewServer(t, k)
	v := single(t, srv, clk, nil)
	release := srv.Hold()
	tok := k.Sign(t, claimsFor(srv.Issuer), nil)
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := v.Validate(context.Background(), tok)
			errs <- err
		}()
	}
	// Wait (bounded) until the single fetch reached the server, then let it
	// answer.
	deadline := time.Now().Add(5 * time.Second)
	for srv.JWKSHits() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // give stragglers time to (wrongly) start another fetch
	release()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent validate: %v", err)
		}
	}
	if got := srv.JWKSHits(); got != 1 {
		t.Fatalf("JWKS fetches for %d concurrent misses = %d, want 1", n, got)
	}
}

func TestOutageKeepsLastGoodKeys(t *testing.T) {
	clk := &clock{t: t0}
	k := jwkstest.NewKey(t, "k", "ES256")
	srv := jwkstest.NewServer(t, k)
	v := single(t, srv, clk, func(as *rs.AuthorizationServer) { as.JWKSMinRefetchInterval = rs.Duration(time.Nanosecond) })
	ctx := context.Background()
	if _, err := v.Validate(ctx, k.Sign(t, claimsFor(srv.Issuer), nil)); err != nil {
		t.Fatal(err)
	}
	srv.SetFailing(true)
	// An unknown kid forces a refetch, which fails ...
	other := jwkstest.NewKey(t, "other", "ES256")
	_, err := v.Validate(ctx, other.Sign(t, claimsFor(srv.Issuer), nil))
	wantErr(t, err, rs.ErrSignature)
	// ... but the known key keeps working and the set stays ready.
	clk.Add(time.Second)
	if _, err := v.Validate(ctx, k.Sign(t, claimsFor(srv.Issuer, func(c jwt.MapClaims) { c["jti"] = "2" }), nil)); err != nil {
		t.Fatalf("known key during outage: %v", err)
	}
	if !v.Ready() {
		t.Fatal("not ready during outage with good keys")
	}
	st := v.Status()[0]
	if !st.Ready || st.Keys != 1 || !strings.Contains(st.LastError, "status 503") {
		t.Fatalf("status = %+v", st)
	}
	// A JWKS that parses to no usable keys is an error, not an empty set.
	srv.SetFailing(false)
	srv.SetKeys()
	clk.Add(time.Second)
	_, _ = v.Validate(ctx, other.Sign(t, claimsFor(srv.Issuer), nil))
	if _, err := v.Validate(ctx, k.Sign(t, claimsFor(srv.Issuer, func(c jwt.MapClaims) { c["jti"] = "3" }), nil)); err != nil {
		t.Fatalf("known key after empty JWKS: %v", err)
	}
}

func TestUnreachableAtStartThenRecovers(t *testing.T) {
	clk := &clock{t: t0}
	k := jwkstest.NewKey(t, "k", "ES256")
	srv := jwkstest.NewServer(t, k)
	srv.SetFailing(true)
	v := single(t, srv, clk, func(as *rs.AuthorizationServer) { as.JWKSMinRefetchInterval = rs.Duration(10 * time.Second) })
	v.Start() // must not block or fail
	ctx := context.Background()
	tok := k.Sign(t, claimsFor(srv.Issuer), nil)
	deadline := time.Now().Add(5 * time.Second)
	for srv.JWKSHits() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if v.Ready() {
		t.Fatal("ready without keys")
	}
	// No keys were ever loaded: the answer is 503 with a retry hint, not a
	// 401 that blames the token.
	_, err := v.Validate(ctx, tok)
	wantErr(t, err, rs.ErrKeysUnavailable)
	if e := err.(*rs.Error); e.RetryAfter <= 0 {
		t.Fatalf("RetryAfter = %v", e.RetryAfter)
	}
	// The AS comes back; the next allowed fetch loads the keys.
	srv.SetFailing(false)
	clk.Add(11 * time.Second)
	if _, err := v.Validate(ctx, tok); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	if !v.Ready() {
		t.Fatal("not ready after recovery")
	}
}

func TestBackgroundRetryAfterFailure(t *testing.T) {
	clk := &clock{t: t0}
	k := jwkstest.NewKey(t, "k", "ES256")
	srv := jwkstest.NewServer(t, k)
	srv.SetFailing(true)
	v := single(t, srv, clk, nil)
	v.Start()
	deadline := time.Now().Add(5 * time.Second)
	for srv.JWKSHits() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	srv.SetFailing(false)
	// The loop retries after ~1s (backoff) without any request.
	deadline = time.Now().Add(5 * time.Second)
	for !v.Ready() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !v.Ready() {
		t.Fatalf("key set never became ready; hits=%d", srv.JWKSHits())
	}
	v.Close() // returns only once the loop has stopped
}

func TestDiscovery(t *testing.T) {
	k := jwkstest.NewKey(t, "k", "ES256")
	cases := []struct {
		name    string
		setup   func(*jwkstest.Server)
		wantErr bool
	}{
		{"RFC 8414", func(s *jwkstest.Server) {}, false},
		{"OIDC fallback", func(s *jwkstest.Server) { s.Disable8414 = true }, false},
		{"issuer mismatch refused", func(s *jwkstest.Server) { s.MetadataIssuer = "https://evil.example" }, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := jwkstest.NewServer(t, k)
			tc.setup(srv)
			md, err := rs.Discover(context.Background(), http.DefaultClient, srv.Issuer)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("discovery accepted %+v", md)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if md.JWKSURI != srv.JWKSURL() {
				t.Fatalf("jwks_uri = %q", md.JWKSURI)
			}
			// And a validator without jwks_uri uses it.
			clk := &clock{t: t0}
			v := single(t, srv, clk, func(as *rs.AuthorizationServer) { as.JWKSURI = "" })
			if _, err := v.Validate(context.Background(), k.Sign(t, claimsFor(srv.Issuer), nil)); err != nil {
				t.Fatalf("validate via discovery: %v", err)
			}
		})
	}
}

func TestRFC8414URL(t *testing.T) {
	cases := map[string]string{
		"https://as.example.com":             "https://as.example.com/.well-known/oauth-authorization-server",
		"https://as.example.com/":            "https://as.example.com/.well-known/oauth-authorization-server",
		"https://as.example.com/realms/mcp":  "https://as.example.com/.well-known/oauth-authorization-server/realms/mcp",
		"https://as.example.com/tenant/v2.0": "https://as.example.com/.well-known/oauth-authorization-server/tenant/v2.0",
	}
	for in, want := range cases {
		got, err := rs.RFC8414URL(in)
		if err != nil || got != want {
			t.Errorf("RFC8414URL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestStopLeavesNoGoroutine(t *testing.T) {
	k := jwkstest.NewKey(t, "k", "ES256")
	srv := jwkstest.NewServer(t, k)
	release := srv.Hold() // the first fetch hangs
	defer release()
	as := rs.AuthorizationServer{Issuer: srv.Issuer, JWKSURI: srv.JWKSURL(), JWKSRefreshInterval: rs.Duration(time.Hour), JWKSMinRefetchInterval: rs.Duration(time.Second)}
	ks := rs.NewKeySet(as, rs.KeySetOptions{})
	ks.Start()
	deadline := time.Now().Add(5 * time.Second)
	for srv.JWKSHits() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	done := make(chan struct{})
	go func() { ks.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not cancel the fetch in flight")
	}
}
