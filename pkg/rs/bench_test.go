package rs_test

import (
	"context"
	"testing"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/jwkstest"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

func benchValidator(b *testing.B, alg string, cacheSize int) (*rs.Validator, string) {
	b.Helper()
	k := jwkstest.NewKey(b, "k", alg)
	srv := jwkstest.NewServer(b, k)
	cfg := rs.Config{Resource: resource, ValidationCacheSize: cacheSize,
		AuthorizationServers: []rs.AuthorizationServer{{Issuer: srv.Issuer, JWKSURI: srv.JWKSURL()}}}
	if err := normalizeInto(&cfg); err != nil {
		b.Fatal(err)
	}
	clk := &clock{t: t0}
	v, err := rs.NewValidator(cfg, rs.Options{Now: clk.Now})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(v.Close)
	tok := k.Sign(b, claimsFor(srv.Issuer), nil)
	if _, err := v.Validate(context.Background(), tok); err != nil {
		b.Fatal(err)
	}
	return v, tok
}

// BenchmarkValidate measures a cache hit (hash + map lookup + expiry check)
// against a miss (parse + signature + claims) for RS256 and ES256.
func BenchmarkValidate(b *testing.B) {
	for _, bc := range []struct {
		name  string
		alg   string
		cache int
	}{
		{"hit/RS256", "RS256", 0},
		{"miss/RS256", "RS256", -1},
		{"hit/ES256", "ES256", 0},
		{"miss/ES256", "ES256", -1},
	} {
		b.Run(bc.name, func(b *testing.B) {
			v, tok := benchValidator(b, bc.alg, bc.cache)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := v.Validate(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkValidateParallelHit(b *testing.B) {
	v, tok := benchValidator(b, "RS256", 0)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Validate(ctx, tok); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
