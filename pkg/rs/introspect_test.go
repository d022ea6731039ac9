package rs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/jwkstest"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

// introspection answers for the loopback AS.
func activeAnswer(iss string, mod func(map[string]any)) map[string]any {
	m := map[string]any{"active": true, "iss": iss, "sub": "carol", "aud": resource, "client_id": "svc",
		"scope": "mcp:read", "exp": t0.Add(time.Hour).Unix(), "iat": t0.Add(-time.Minute).Unix(), "token_type": "Bearer"}
	if mod != nil {
		mod(m)
	}
	return m
}

func TestOpaqueTokensIntrospected(t *testing.T) {
	k := jwkstest.NewKey(t, "k", "ES256")
	srv := jwkstest.NewServer(t, k)
	answers := map[string]map[string]any{
		"opaque-good":     activeAnswer(srv.Issuer, nil),
		"opaque-inactive": {"active": false},
		"opaque-wrongaud": activeAnswer(srv.Issuer, func(m map[string]any) { m["aud"] = "https://other.example" }),
		"opaque-expired":  activeAnswer(srv.Issuer, func(m map[string]any) { m["exp"] = t0.Add(-time.Hour).Unix() }),
		"opaque-noexp":    activeAnswer(srv.Issuer, func(m map[string]any) { delete(m, "exp") }),
		"opaque-otheriss": activeAnswer("https://evil.example", nil),
		"opaque-nosub":    activeAnswer(srv.Issuer, func(m map[string]any) { delete(m, "sub") }),
		"opaque-short":    activeAnswer(srv.Issuer, func(m map[string]any) { m["exp"] = t0.Add(10 * time.Second).Unix() }),
	}
	srv.SetIntrospection(func(tok string) (int, map[string]any) {
		if tok == "opaque-outage" {
			return 500, map[string]any{"error": "server_error"}
		}
		if a, ok := answers[tok]; ok {
			return 200, a
		}
		return 200, map[string]any{"active": false}
	})
	clk := &clock{t: t0}
	cfg := rs.Config{Resource: resource, AuthorizationServers: []rs.AuthorizationServer{{Issuer: srv.Issuer, JWKSURI: srv.JWKSURL(),
		Introspection: &rs.Introspection{ClientID: jwkstest.IntrospectionClientID, ClientSecret: rs.SecretSource{Env: "TEST_RS_SECRET"}, CacheTTL: rs.Duration(30 * time.Second)}}}}
	if err := normalizeInto(&cfg); err != nil {
		t.Fatal(err)
	}
	v, err := rs.NewValidator(cfg, rs.Options{Now: clk.Now, Getenv: func(string) string { return jwkstest.IntrospectionClientSecret }})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	ctx := context.Background()
	cases := []struct {
		tok     string
		want    *rs.Error
		wantSub string
	}{
		{"opaque-good", nil, "carol"},
		{"opaque-nosub", nil, "svc"}, // client-credentials: the client is the subject
		{"opaque-inactive", rs.ErrInactive, ""},
		{"never-issued", rs.ErrInactive, ""},
		{"opaque-wrongaud", rs.ErrAudience, ""},
		{"opaque-expired", rs.ErrExpired, ""},
		{"opaque-noexp", rs.ErrMissingExp, ""},
		{"opaque-otheriss", rs.ErrUntrustedIssuer, ""},
		{"opaque-outage", rs.ErrIntrospectionUnavailable, ""},
	}
	for _, tc := range cases {
		t.Run(tc.tok, func(t *testing.T) {
			id, err := v.Validate(ctx, tc.tok)
			if tc.want == nil {
				if err != nil || id.Subject != tc.wantSub || id.Issuer != srv.Issuer || strings.Join(id.Scopes, " ") != "mcp:read" {
					t.Fatalf("Validate = %+v, %v", id, err)
				}
				return
			}
			wantErr(t, err, tc.want)
		})
	}
	// Answers are cached for min(TTL, remaining life).
	hits := srv.IntrospectionHits()
	if _, err := v.Validate(ctx, "opaque-good"); err != nil || srv.IntrospectionHits() != hits {
		t.Fatalf("cached answer not reused: %v, hits %d→%d", err, hits, srv.IntrospectionHits())
	}
	clk.Add(31 * time.Second) // past the 30s TTL
	if _, err := v.Validate(ctx, "opaque-good"); err != nil || srv.IntrospectionHits() != hits+1 {
		t.Fatalf("TTL not applied: %v, hits %d→%d", err, hits, srv.IntrospectionHits())
	}
	if _, err := v.Validate(ctx, "opaque-short"); err != nil {
		t.Fatal(err)
	}
	clk.Add(11 * time.Second) // past its exp (10s) but within the TTL
	if _, err := v.Validate(ctx, "opaque-short"); err == nil {
		t.Fatal("cached introspection answer outlived the token")
	}
	// A JWT is never sent to the introspection endpoint.
	hits = srv.IntrospectionHits()
	_, err = v.Validate(ctx, jwkstest.NewKey(t, "x", "ES256").Sign(t, claimsFor(srv.Issuer), nil))
	wantErr(t, err, rs.ErrSignature)
	if srv.IntrospectionHits() != hits {
		t.Fatal("a JWT was introspected")
	}
	// The 503 carries a retry hint.
	_, err = v.Validate(ctx, "opaque-outage")
	if e := err.(*rs.Error); e.Status != 503 || e.RetryAfter <= 0 {
		t.Fatalf("outage = %+v", e)
	}
}

func TestIntrospectionDiscoveredAndSecretErrors(t *testing.T) {
	k := jwkstest.NewKey(t, "k", "ES256")
	srv := jwkstest.NewServer(t, k)
	srv.SetIntrospection(func(string) (int, map[string]any) { return 200, activeAnswer(srv.Issuer, nil) })
	cfg := rs.Config{Resource: resource, AuthorizationServers: []rs.AuthorizationServer{{Issuer: srv.Issuer,
		Introspection: &rs.Introspection{ClientID: "rs", ClientSecret: rs.SecretSource{Value: "rs-secret"}}}}}
	if err := normalizeInto(&cfg); err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: t0}
	v, err := rs.NewValidator(cfg, rs.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if id, err := v.Validate(context.Background(), "opaque"); err != nil || id.Subject != "carol" {
		t.Fatalf("discovered endpoint: %v", err)
	}
	cfg2 := rs.Config{Resource: resource, AuthorizationServers: []rs.AuthorizationServer{{Issuer: srv.Issuer,
		Introspection: &rs.Introspection{ClientID: "rs", ClientSecret: rs.SecretSource{Env: "NOPE_UNSET"}}}}}
	_ = normalizeInto(&cfg2)
	if _, err := rs.NewValidator(cfg2, rs.Options{Getenv: func(string) string { return "" }}); err == nil || !strings.Contains(err.Error(), "introspection.client_secret.env: environment variable NOPE_UNSET is empty or unset") {
		t.Fatalf("unset secret: %v", err)
	}
}
