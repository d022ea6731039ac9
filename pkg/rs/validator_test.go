package rs_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/jwkstest"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

const resource = "http://127.0.0.1:8080/mcp"

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var t0 = time.Unix(1_800_000_000, 0)

func claimsFor(iss string, mods ...func(jwt.MapClaims)) jwt.MapClaims {
	c := jwt.MapClaims{
		"iss":       iss,
		"sub":       "alice",
		"aud":       resource,
		"exp":       t0.Add(time.Hour).Unix(),
		"iat":       t0.Add(-time.Minute).Unix(),
		"client_id": "client-1",
		"scope":     "mcp:read mcp:write",
		"jti":       "j1",
	}
	for _, m := range mods {
		m(c)
	}
	return c
}

type fixture struct {
	v      *rs.Validator
	clk    *clock
	reg    *prometheus.Registry
	as1    *jwkstest.Server
	as2    *jwkstest.Server
	k1, k2 jwkstest.Key
}

// newFixture starts two real JWKS servers (issuers) on loopback and a
// validator trusting both. mod may adjust the config before Normalize.
func newFixture(t testing.TB, mod func(*rs.Config)) *fixture {
	t.Helper()
	f := &fixture{clk: &clock{t: t0}, reg: prometheus.NewRegistry()}
	f.k1 = jwkstest.NewKey(t, "shared-kid", "ES256")
	f.k2 = jwkstest.NewKey(t, "shared-kid", "ES256") // same kid on purpose
	f.as1 = jwkstest.NewServer(t, f.k1)
	f.as2 = jwkstest.NewServer(t, f.k2)
	cfg := rs.Config{
		Resource: resource,
		AuthorizationServers: []rs.AuthorizationServer{
			{Issuer: f.as1.Issuer, JWKSURI: f.as1.JWKSURL()},
			{Issuer: f.as2.Issuer, JWKSURI: f.as2.JWKSURL()},
		},
	}
	if mod != nil {
		mod(&cfg)
	}
	if err := normalizeInto(&cfg); err != nil {
		t.Fatalf("normalize: %v", err)
	}
	m, err := rs.NewMetrics(f.reg)
	if err != nil {
		t.Fatal(err)
	}
	f.v, err = rs.NewValidator(cfg, rs.Options{Now: f.clk.Now, Metrics: m})
	if err != nil {
		t.Fatalf("validator: %v", err)
	}
	t.Cleanup(f.v.Close)
	return f
}

func wantErr(t *testing.T, err error, want *rs.Error) {
	t.Helper()
	var e *rs.Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v, want %s", err, want.Reason)
	}
	if e.Status != want.Status || e.Code != want.Code || e.Description != want.Description || e.Reason != want.Reason {
		t.Fatalf("error = {%d %q %q %q}, want {%d %q %q %q}", e.Status, e.Code, e.Description, e.Reason,
			want.Status, want.Code, want.Description, want.Reason)
	}
}

func TestValidateRules(t *testing.T) {
	f := newFixture(t, func(c *rs.Config) {
		c.AuthorizationServers[1].RequireATJWTType = true
		c.AuthorizationServers[1].Algorithms = []string{"ES256"}
	})
	iss1, iss2 := f.as1.Issuer, f.as2.Issuer
	rsaKey := jwkstest.NewKey(t, "rsa-1", "RS256")
	psKey := jwkstest.NewKey(t, "ps-1", "PS256")
	edKey := jwkstest.NewKey(t, "ed-1", "EdDSA")
	es384 := jwkstest.NewKey(t, "es384", "ES384")
	f.as1.SetKeys(f.k1, rsaKey, psKey, edKey, es384)
	attacker := jwkstest.NewKey(t, "shared-kid", "ES256")
	atJWT := map[string]any{"typ": "at+jwt"}

	set := func(k string, v any) func(jwt.MapClaims) { return func(c jwt.MapClaims) { c[k] = v } }
	del := func(k string) func(jwt.MapClaims) { return func(c jwt.MapClaims) { delete(c, k) } }

	cases := []struct {
		name    string
		token   string
		want    *rs.Error // nil = valid
		wantSub string
	}{
		{"valid ES256 issuer 1", f.k1.Sign(t, claimsFor(iss1), nil), nil, "alice"},
		{"valid RS256", rsaKey.Sign(t, claimsFor(iss1), nil), nil, "alice"},
		{"valid PS256", psKey.Sign(t, claimsFor(iss1), nil), nil, "alice"},
		{"valid EdDSA", edKey.Sign(t, claimsFor(iss1), nil), nil, "alice"},
		{"valid ES384", es384.Sign(t, claimsFor(iss1), nil), nil, "alice"},
		{"valid issuer 2 at+jwt", f.k2.Sign(t, claimsFor(iss2, set("sub", "bob")), atJWT), nil, "bob"},
		{"typ application/at+jwt", f.k2.Sign(t, claimsFor(iss2), map[string]any{"typ": "application/at+jwt"}), nil, "alice"},
		{"no kid tries issuer keys", f.k1.Sign(t, claimsFor(iss1), map[string]any{"kid": nil}), nil, "alice"},
		{"aud array containing resource", f.k1.Sign(t, claimsFor(iss1, set("aud", []string{"account", resource})), nil), nil, "alice"},
		{"aud trailing slash and case", f.k1.Sign(t, claimsFor(iss1, set("aud", "HTTP://127.0.0.1:8080/mcp/")), nil), nil, "alice"},
		{"exp within leeway", f.k1.Sign(t, claimsFor(iss1, set("exp", t0.Add(-20*time.Second).Unix())), nil), nil, "alice"},
		{"nbf within leeway", f.k1.Sign(t, claimsFor(iss1, set("nbf", t0.Add(20*time.Second).Unix())), nil), nil, "alice"},

		{"kid collision: issuer 1 claim, issuer 2 key", f.k2.Sign(t, claimsFor(iss1), nil), rs.ErrSignature, ""},
		{"kid collision: issuer 2 claim, issuer 1 key", f.k1.Sign(t, claimsFor(iss2), atJWT), rs.ErrSignature, ""},
		{"attacker key with embedded jwk and jku", attacker.Sign(t, claimsFor(iss1), map[string]any{
			"jwk": attacker.Public(), "jku": f.as2.JWKSURL(), "x5u": f.as2.JWKSURL()}), rs.ErrSignature, ""},
		{"tampered payload", tamper(f.k1.Sign(t, claimsFor(iss1), nil)), rs.ErrSignature, ""},
		{"expired", f.k1.Sign(t, claimsFor(iss1, set("exp", t0.Add(-time.Minute).Unix())), nil), rs.ErrExpired, ""},
		{"missing exp", f.k1.Sign(t, claimsFor(iss1, del("exp")), nil), rs.ErrMissingExp, ""},
		{"nbf in future", f.k1.Sign(t, claimsFor(iss1, set("nbf", t0.Add(time.Minute).Unix())), nil), rs.ErrNotYetValid, ""},
		{"iat in future", f.k1.Sign(t, claimsFor(iss1, set("iat", t0.Add(time.Minute).Unix())), nil), rs.ErrIssuedInFuture, ""},
		{"wrong aud", f.k1.Sign(t, claimsFor(iss1, set("aud", "https://other.example/mcp")), nil), rs.ErrAudience, ""},
		{"aud prefix only", f.k1.Sign(t, claimsFor(iss1, set("aud", "http://127.0.0.1:8080/mcp/extra")), nil), rs.ErrAudience, ""},
		{"missing aud", f.k1.Sign(t, claimsFor(iss1, del("aud")), nil), rs.ErrAudience, ""},
		{"missing sub", f.k1.Sign(t, claimsFor(iss1, del("sub")), nil), rs.ErrMissingSubject, ""},
		{"empty sub", f.k1.Sign(t, claimsFor(iss1, set("sub", "")), nil), rs.ErrMissingSubject, ""},
		{"sub not a string", f.k1.Sign(t, claimsFor(iss1, set("sub", 42)), nil), rs.ErrMissingSubject, ""},
		{"untrusted issuer", f.k1.Sign(t, claimsFor("https://evil.example"), nil), rs.ErrUntrustedIssuer, ""},
		{"missing iss", f.k1.Sign(t, claimsFor(iss1, del("iss")), nil), rs.ErrUntrustedIssuer, ""},
		{"issuer with trailing slash is another issuer", f.k1.Sign(t, claimsFor(iss1+"/"), nil), rs.ErrUntrustedIssuer, ""},
		{"alg none", noneToken(claimsFor(iss1)), rs.ErrAlgorithm, ""},
		{"HS256 with public key as secret", hsConfusion(t, f.k1, claimsFor(iss1)), rs.ErrAlgorithm, ""},
		{"alg not in issuer allow-list", rsaKey.Sign(t, claimsFor(iss2), atJWT), rs.ErrAlgorithm, ""},
		{"typ missing when required", f.k2.Sign(t, claimsFor(iss2), map[string]any{"typ": nil}), rs.ErrTokenType, ""},
		{"typ JWT when at+jwt required", f.k2.Sign(t, claimsFor(iss2), map[string]any{"typ": "JWT"}), rs.ErrTokenType, ""},
		{"crit header", f.k1.Sign(t, claimsFor(iss1), map[string]any{"crit": []string{"exp"}}), rs.ErrMalformedToken, ""},
		{"kid not a string", f.k1.Sign(t, claimsFor(iss1), map[string]any{"kid": 7}), rs.ErrMalformedToken, ""},
		{"two segments", "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0", rs.ErrMalformedToken, ""},
		{"not base64", "a.b.c", rs.ErrMalformedToken, ""},
		{"opaque string", "opaque-token-value", rs.ErrMalformedToken, ""},
		{"too large", strings.Repeat("a", rs.MaxTokenBytes+1), rs.ErrMalformedToken, ""},
		{"exp not a number", f.k1.Sign(t, claimsFor(iss1, set("exp", "tomorrow")), nil), rs.ErrMalformedToken, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, err := f.v.Validate(context.Background(), tc.token)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if id.Subject != tc.wantSub {
					t.Fatalf("sub = %q, want %q", id.Subject, tc.wantSub)
				}
				return
			}
			if id != nil {
				t.Fatalf("accepted a token that must be refused (sub %q)", id.Subject)
			}
			wantErr(t, err, tc.want)
		})
	}
}

func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	payload = []byte(strings.Replace(string(payload), `"alice"`, `"admin"`, 1))
	parts[1] = base64.RawURLEncoding.EncodeToString(payload)
	return strings.Join(parts, ".")
}

func noneToken(c jwt.MapClaims) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodNone, c)
	s, _ := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
	return s
}

// hsConfusion signs with HS256 using the issuer's public key bytes as the
// HMAC secret (the classic algorithm-confusion attack).
func hsConfusion(t *testing.T, k jwkstest.Key, c jwt.MapClaims) string {
	pub, err := k.Public().MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	tok.Header["kid"] = k.KID
	s, err := tok.SignedString(pub)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestIdentityFields(t *testing.T) {
	f := newFixture(t, nil)
	cases := []struct {
		name       string
		claims     jwt.MapClaims
		wantScopes []string
		wantClient string
	}{
		{"scope string", claimsFor(f.as1.Issuer), []string{"mcp:read", "mcp:write"}, "client-1"},
		{"scope wins over scp", claimsFor(f.as1.Issuer, func(c jwt.MapClaims) { c["scp"] = []string{"x"} }), []string{"mcp:read", "mcp:write"}, "client-1"},
		{"scp array", claimsFor(f.as1.Issuer, func(c jwt.MapClaims) { delete(c, "scope"); c["scp"] = []any{"a", "b", "a", 3} }), []string{"a", "b"}, "client-1"},
		{"scp string", claimsFor(f.as1.Issuer, func(c jwt.MapClaims) { delete(c, "scope"); c["scp"] = "a b" }), []string{"a", "b"}, "client-1"},
		{"bad scope tokens dropped", claimsFor(f.as1.Issuer, func(c jwt.MapClaims) { c["scope"] = "ok caf\u00e9 q\"x" }), []string{"ok"}, "client-1"},
		{"azp when no client_id", claimsFor(f.as1.Issuer, func(c jwt.MapClaims) { delete(c, "client_id"); c["azp"] = "kc-client" }), []string{"mcp:read", "mcp:write"}, "kc-client"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, err := f.v.Validate(context.Background(), f.k1.Sign(t, tc.claims, nil))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(id.Scopes, " ") != strings.Join(tc.wantScopes, " ") {
				t.Errorf("scopes = %q, want %q", id.Scopes, tc.wantScopes)
			}
			if id.ClientID != tc.wantClient {
				t.Errorf("client = %q, want %q", id.ClientID, tc.wantClient)
			}
			if id.Issuer != f.as1.Issuer || !id.Expiry.Equal(t0.Add(time.Hour)) {
				t.Errorf("issuer/expiry = %q %v", id.Issuer, id.Expiry)
			}
		})
	}
}

func TestCustomAudiencesAndLeeway(t *testing.T) {
	f := newFixture(t, func(c *rs.Config) {
		c.AuthorizationServers[0].Audiences = []string{"urn:mcp:tools", "https://api.example.com/"}
		zero := rs.Duration(0)
		c.AuthorizationServers[0].Leeway = &zero
	})
	iss := f.as1.Issuer
	ok := []any{"urn:mcp:tools", "https://API.example.com", []string{"x", "https://api.example.com/"}}
	for _, aud := range ok {
		if _, err := f.v.Validate(context.Background(), f.k1.Sign(t, claimsFor(iss, func(c jwt.MapClaims) { c["aud"] = aud }), nil)); err != nil {
			t.Errorf("aud %v: %v", aud, err)
		}
	}
	// The default (resource URL) is replaced, not extended.
	_, err := f.v.Validate(context.Background(), f.k1.Sign(t, claimsFor(iss), nil))
	wantErr(t, err, rs.ErrAudience)
	// URN audiences compare exactly.
	_, err = f.v.Validate(context.Background(), f.k1.Sign(t, claimsFor(iss, func(c jwt.MapClaims) { c["aud"] = "URN:mcp:tools" }), nil))
	wantErr(t, err, rs.ErrAudience)
	// Zero leeway: 1s past exp is expired.
	_, err = f.v.Validate(context.Background(), f.k1.Sign(t, claimsFor(iss, func(c jwt.MapClaims) {
		c["aud"] = "urn:mcp:tools"
		c["exp"] = t0.Add(-time.Second).Unix()
	}), nil))
	wantErr(t, err, rs.ErrExpired)
}

func TestValidationCache(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.k1.Sign(t, claimsFor(f.as1.Issuer, func(c jwt.MapClaims) { c["exp"] = t0.Add(10 * time.Second).Unix() }), nil)
	for i := 0; i < 3; i++ {
		if _, err := f.v.Validate(context.Background(), tok); err != nil {
			t.Fatalf("validate %d: %v", i, err)
		}
	}
	hits, _ := f.reg.Gather()
	_ = hits
	if got := counter(t, f.reg, "mcp_auth_validations_total", map[string]string{"result": "valid", "issuer": f.as1.Issuer}); got != 1 {
		t.Fatalf("full validations = %v, want 1", got)
	}
	if got := counter(t, f.reg, "mcp_auth_validations_total", map[string]string{"result": "cache_hit", "issuer": f.as1.Issuer}); got != 2 {
		t.Fatalf("cache hits = %v, want 2", got)
	}
	// The entry never outlives exp: past exp (but within leeway) the token is
	// revalidated, not served from cache; past exp+leeway it is refused.
	f.clk.Add(15 * time.Second)
	if _, err := f.v.Validate(context.Background(), tok); err != nil {
		t.Fatalf("within leeway: %v", err)
	}
	if got := counter(t, f.reg, "mcp_auth_validations_total", map[string]string{"result": "valid", "issuer": f.as1.Issuer}); got != 2 {
		t.Fatalf("full validations after exp = %v, want 2", got)
	}
	f.clk.Add(time.Minute)
	_, err := f.v.Validate(context.Background(), tok)
	wantErr(t, err, rs.ErrExpired)
}

func counter(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue metric
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

var _ = testutil.ToFloat64
