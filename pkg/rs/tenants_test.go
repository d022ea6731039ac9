package rs_test

import (
	"context"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/jwkstest"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

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
	if err := normalizeInto(&cfg); err != nil {
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
	if err := normalizeInto(&bad); err == nil || !strings.Contains(err.Error(), "authorization_servers[0].tenants: an issuer template with {tid} needs an allow-list") {
		t.Fatalf("template without tenants: %v", err)
	}
	bad = rs.Config{Resource: resource, AuthorizationServers: []rs.AuthorizationServer{{Issuer: "https://login.example.com/{tid}/v2.0", Tenants: []string{"a/b"}}}}
	if err := normalizeInto(&bad); err == nil || !strings.Contains(err.Error(), "authorization_servers[0].tenants[0]") {
		t.Fatalf("bad tenant: %v", err)
	}
}
