package rs_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

// FuzzValidate: any input yields a client-safe *rs.Error (or, never here,
// an identity), never a panic, and never echoes the input.
func FuzzValidate(f *testing.F) {
	fx := newFixture(f, nil)
	f.Add(fx.k1.Sign(f, claimsFor(fx.as1.Issuer), nil))
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
	f.Add("a.b.c")
	f.Add("opaque")
	f.Fuzz(func(t *testing.T, tok string) {
		id, err := fx.v.Validate(context.Background(), tok)
		if err == nil {
			if id == nil || id.Subject == "" {
				t.Fatal("nil error without identity")
			}
			return
		}
		var e *rs.Error
		if !errors.As(err, &e) || e.Status == 0 {
			t.Fatalf("error %v is not a client-safe *rs.Error", err)
		}
		h := rs.Challenger{MetadataURL: "https://h/.well-known/oauth-protected-resource"}.Header(e)
		if len(tok) > 8 && strings.Contains(h, tok) {
			t.Fatalf("challenge echoes the token: %q", h)
		}
	})
}

// FuzzExtractBearer: never panics; a returned token is a valid b64token.
func FuzzExtractBearer(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer  a.b.c", "Basic x", "Bearer", "Bearer a b", ""} {
		f.Add(s, "")
	}
	f.Add("Bearer x", "access_token=y")
	f.Fuzz(func(t *testing.T, authz, query string) {
		q, _ := url.ParseQuery(query)
		tok, e := rs.ExtractBearer(http.Header{"Authorization": {authz}}, q)
		if e == nil && (tok == "" || strings.Contains(tok, " ")) {
			t.Fatalf("accepted %q from %q", tok, authz)
		}
	})
}
