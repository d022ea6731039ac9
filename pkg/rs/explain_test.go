package rs_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

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
