package rs_test

import (
	"context"
	"testing"

	"github.com/golang-jwt/jwt/v5"

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
