package rs_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/jwkstest"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

func TestIDTokensAreRefused(t *testing.T) {
	f := newFixture(t, nil)
	iss := f.as1.Issuer
	for name, mod := range map[string]func(jwt.MapClaims){
		"nonce":       func(c jwt.MapClaims) { c["nonce"] = "n-1" },
		"at_hash":     func(c jwt.MapClaims) { c["at_hash"] = "x" },
		"typ ID":      func(c jwt.MapClaims) { c["typ"] = "ID" },
		"Keycloak ID": func(c jwt.MapClaims) { c["typ"] = "ID"; c["azp"] = "mcp-client"; c["nonce"] = "n" },
	} {
		t.Run(name, func(t *testing.T) {
			_, err := f.v.Validate(context.Background(), f.k1.Sign(t, claimsFor(iss, mod), nil))
			wantErr(t, err, rs.ErrNotAccessToken)
		})
	}
	// Keycloak access tokens carry typ "Bearer": accepted.
	if _, err := f.v.Validate(context.Background(), f.k1.Sign(t, claimsFor(iss, func(c jwt.MapClaims) { c["typ"] = "Bearer" }), nil)); err != nil {
		t.Fatal(err)
	}
}

func TestMultiTenantIssuerTemplate(t *testing.T) {
	// Each tenant's keys are served by its own loopback server; the issuer
	// template puts the tenant in the path (as Entra's does).
	kA := jwkstest.NewKey(t, "same-kid", "RS256")
	kB := jwkstest.NewKey(t, "same-kid", "RS256")
	srvA, srvB := jwkstest.NewServer(t, kA), jwkstest.NewServer(t, kB)
	tmpl := func(srv *jwkstest.Server) string { return srv.URL + "/{tid}/v2.0" }
	cfg := rs.Config{Resource: resource, ValidationCacheSize: -1, AuthorizationServers: []rs.AuthorizationServer{
		{Issuer: tmpl(srvA), JWKSURI: srvA.JWKSURL(), Tenants: []string{"tenant-a"}},
		{Issuer: tmpl(srvB), JWKSURI: srvB.JWKSURL(), Tenants: []string{"tenant-b"}},
	}}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	if len(cfg.AuthorizationServers) != 2 || cfg.AuthorizationServers[0].Issuer != srvA.URL+"/tenant-a/v2.0" || cfg.AuthorizationServers[0].Tenant != "tenant-a" {
		t.Fatalf("expanded = %+v", cfg.AuthorizationServers)
	}
	clk := &clock{t: t0}
	v, err := rs.NewValidator(cfg, rs.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	issA, issB := srvA.URL+"/tenant-a/v2.0", srvB.URL+"/tenant-b/v2.0"
	with := func(iss, tid string) func(jwt.MapClaims) {
		return func(c jwt.MapClaims) { c["iss"] = iss; c["tid"] = tid }
	}
	cases := []struct {
		name string
		tok  string
		want *rs.Error
	}{
		{"tenant a", kA.Sign(t, claimsFor("", with(issA, "tenant-a")), nil), nil},
		{"tenant b", kB.Sign(t, claimsFor("", with(issB, "tenant-b")), nil), nil},
		{"tid does not match iss", kA.Sign(t, claimsFor("", with(issA, "tenant-b")), nil), rs.ErrUntrustedIssuer},
		{"no tid", kA.Sign(t, claimsFor("", func(c jwt.MapClaims) { c["iss"] = issA }), nil), rs.ErrUntrustedIssuer},
		{"tenant not allowed", kA.Sign(t, claimsFor("", with(srvA.URL+"/tenant-x/v2.0", "tenant-x")), nil), rs.ErrUntrustedIssuer},
		{"tenant a's kid with tenant b's key", kB.Sign(t, claimsFor("", with(issA, "tenant-a")), nil), rs.ErrSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Validate(context.Background(), tc.tok)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantErr(t, err, tc.want)
		})
	}
	bad := rs.Config{Resource: resource, AuthorizationServers: []rs.AuthorizationServer{{Issuer: "https://login.example.com/{tid}/v2.0"}}}
	if err := bad.Normalize(); err == nil || !strings.Contains(err.Error(), "authorization_servers[0].tenants: an issuer template with {tid} needs an allow-list") {
		t.Fatalf("template without tenants: %v", err)
	}
	bad = rs.Config{Resource: resource, AuthorizationServers: []rs.AuthorizationServer{{Issuer: "https://login.example.com/{tid}/v2.0", Tenants: []string{"a/b"}}}}
	if err := bad.Normalize(); err == nil || !strings.Contains(err.Error(), "authorization_servers[0].tenants[0]") {
		t.Fatalf("bad tenant: %v", err)
	}
}

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
	if err := cfg.Normalize(); err != nil {
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
	if err := cfg.Normalize(); err != nil {
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
	_ = cfg2.Normalize()
	if _, err := rs.NewValidator(cfg2, rs.Options{Getenv: func(string) string { return "" }}); err == nil || !strings.Contains(err.Error(), "introspection.client_secret.env: environment variable NOPE_UNSET is empty or unset") {
		t.Fatalf("unset secret: %v", err)
	}
}

func TestExplain(t *testing.T) {
	f := newFixture(t, nil)
	ex := f.v.Explain(context.Background(), f.k1.Sign(t, claimsFor(f.as1.Issuer, func(c jwt.MapClaims) { c["aud"] = "https://nope.example" }), nil))
	b, _ := json.Marshal(ex.Steps)
	got := string(b)
	for _, want := range []string{`{"check":"format","ok":true,"detail":"JWT"}`, `{"check":"issuer","ok":true,"detail":"` + f.as1.Issuer + `"}`,
		`{"check":"signature","ok":true,"detail":"verified"}`, `"check":"audience","ok":false,"detail":"Token audience does not match this resource (aud https://nope.example)"`} {
		if !strings.Contains(got, want) {
			t.Errorf("steps lack %s:\n%s", want, got)
		}
	}
	if ex.Error == nil || ex.Error.Reason != "audience" || ex.Identity != nil || ex.Claims["sub"] != "alice" {
		t.Fatalf("explanation = %+v", ex)
	}
	ok := f.v.Explain(context.Background(), f.k1.Sign(t, claimsFor(f.as1.Issuer), nil))
	if ok.Error != nil || ok.Identity == nil || ok.Identity.Subject != "alice" {
		t.Fatalf("valid explanation = %+v", ok)
	}
}
