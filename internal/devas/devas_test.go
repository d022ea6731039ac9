package devas

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
)

const (
	resA = "http://127.0.0.1:8080/mcp"
	resB = "http://127.0.0.1:8081/other"
)

// startAS starts a devas Server on a loopback listener. issuerPath is
// appended to the listener URL to form the issuer.
func startAS(t *testing.T, opts Options, issuerPath string) (*Server, *httptest.Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ts := httptest.NewUnstartedServer(nil)
	_ = ts.Listener.Close()
	ts.Listener = ln
	opts.Issuer = "http://" + ln.Addr().String() + issuerPath
	if opts.Resources == nil {
		opts.Resources = []string{resA, resB}
	}
	as, err := New(opts)
	if err != nil {
		_ = ln.Close()
		t.Fatalf("New: %v", err)
	}
	ts.Config.Handler = as.Handler()
	ts.Start()
	t.Cleanup(ts.Close)
	return as, ts
}

type httpResult struct {
	status int
	header http.Header
	body   []byte
}

func do(t *testing.T, req *http.Request) httpResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return httpResult{resp.StatusCode, resp.Header, body}
}

func get(t *testing.T, u string) httpResult {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	return do(t, req)
}

func decodeObject(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
	return m
}

// fetchJWKS downloads and parses the JWKS served at ts.
func fetchJWKS(t *testing.T, u string) jose.JSONWebKeySet {
	t.Helper()
	r := get(t, u)
	if r.status != http.StatusOK {
		t.Fatalf("GET %s = %d %s", u, r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("JWKS Content-Type = %q, want application/json", ct)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(r.body, &set); err != nil {
		t.Fatalf("parse JWKS %s: %v", r.body, err)
	}
	return set
}

// verify checks tok's signature against set with go-jose and returns its
// header and claims.
func verify(t *testing.T, set jose.JSONWebKeySet, alg, tok string) (jose.Header, map[string]any) {
	t.Helper()
	parsed, err := josejwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
	if err != nil {
		t.Fatalf("parse token: %v", err)
	}
	if len(parsed.Headers) != 1 {
		t.Fatalf("token has %d signatures, want 1", len(parsed.Headers))
	}
	h := parsed.Headers[0]
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		t.Fatalf("JWKS has %d keys with kid %q, want 1", len(keys), h.KeyID)
	}
	var claims map[string]any
	if err := parsed.Claims(keys[0].Key, &claims); err != nil {
		t.Fatalf("verify token with kid %q: %v", h.KeyID, err)
	}
	return h, claims
}

func TestTokenEndpoint(t *testing.T) {
	as, ts := startAS(t, Options{}, "")
	tokenURL := ts.URL + "/token"

	type want struct {
		status int
		body   map[string]any // exact body for errors; nil for success
		aud    string
		scope  string
	}
	tests := []struct {
		name  string
		basic []string // id, secret
		form  url.Values
		want  want
	}{
		{
			name:  "basic auth defaults",
			basic: []string{"dev-client", "dev-secret"},
			form:  url.Values{"grant_type": {"client_credentials"}},
			want:  want{status: 200, aud: resA, scope: "mcp:read mcp:write"},
		},
		{
			name: "post auth second resource one scope",
			form: url.Values{"grant_type": {"client_credentials"}, "client_id": {"dev-client"}, "client_secret": {"dev-secret"},
				"resource": {resB}, "scope": {"mcp:read"}},
			want: want{status: 200, aud: resB, scope: "mcp:read"},
		},
		{
			name:  "duplicate scopes collapse",
			basic: []string{"dev-client", "dev-secret"},
			form:  url.Values{"grant_type": {"client_credentials"}, "scope": {"mcp:write mcp:write"}, "resource": {resA}},
			want:  want{status: 200, aud: resA, scope: "mcp:write"},
		},
		{
			name:  "wrong secret",
			basic: []string{"dev-client", "nope"},
			form:  url.Values{"grant_type": {"client_credentials"}},
			want:  want{status: 401, body: map[string]any{"error": "invalid_client", "error_description": "client authentication failed"}},
		},
		{
			name: "unknown client via post",
			form: url.Values{"grant_type": {"client_credentials"}, "client_id": {"other"}, "client_secret": {"dev-secret"}},
			want: want{status: 401, body: map[string]any{"error": "invalid_client", "error_description": "client authentication failed"}},
		},
		{
			name: "no client authentication",
			form: url.Values{"grant_type": {"client_credentials"}},
			want: want{status: 401, body: map[string]any{"error": "invalid_client", "error_description": "client authentication required"}},
		},
		{
			name:  "two client auth methods",
			basic: []string{"dev-client", "dev-secret"},
			form:  url.Values{"grant_type": {"client_credentials"}, "client_secret": {"dev-secret"}},
			want:  want{status: 400, body: map[string]any{"error": "invalid_request", "error_description": "more than one client authentication method"}},
		},
		{
			name:  "unknown resource",
			basic: []string{"dev-client", "dev-secret"},
			form:  url.Values{"grant_type": {"client_credentials"}, "resource": {"http://127.0.0.1:9999/mcp"}},
			want:  want{status: 400, body: map[string]any{"error": "invalid_target", "error_description": "resource is not served by this authorization server"}},
		},
		{
			name:  "two resources",
			basic: []string{"dev-client", "dev-secret"},
			form:  url.Values{"grant_type": {"client_credentials"}, "resource": {resA, resB}},
			want:  want{status: 400, body: map[string]any{"error": "invalid_target", "error_description": "only one resource per token request"}},
		},
		{
			name:  "scope outside allowed set",
			basic: []string{"dev-client", "dev-secret"},
			form:  url.Values{"grant_type": {"client_credentials"}, "scope": {"mcp:read mcp:admin"}},
			want:  want{status: 400, body: map[string]any{"error": "invalid_scope", "error_description": "scope not allowed for this client"}},
		},
		{
			name:  "other grant type",
			basic: []string{"dev-client", "dev-secret"},
			form:  url.Values{"grant_type": {"password"}, "username": {"x"}},
			want:  want{status: 400, body: map[string]any{"error": "unsupported_grant_type", "error_description": "supported grants: authorization_code, refresh_token, client_credentials"}},
		},
		{
			name:  "built-in client may not use authorization_code",
			basic: []string{"dev-client", "dev-secret"},
			form:  url.Values{"grant_type": {"authorization_code"}, "code": {"x"}},
			want:  want{status: 400, body: map[string]any{"error": "unauthorized_client", "error_description": "this client is not registered for the authorization_code grant"}},
		},
		{
			name:  "missing grant type",
			basic: []string{"dev-client", "dev-secret"},
			form:  url.Values{},
			want:  want{status: 400, body: map[string]any{"error": "invalid_request", "error_description": "missing grant_type"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(tc.form.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.basic != nil {
				req.SetBasicAuth(tc.basic[0], tc.basic[1])
			}
			r := do(t, req)
			if r.status != tc.want.status {
				t.Fatalf("status = %d, want %d; body %s", r.status, tc.want.status, r.body)
			}
			if got := r.header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
			if got := r.header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", got)
			}
			body := decodeObject(t, r.body)
			if tc.want.body != nil {
				if !reflect.DeepEqual(body, tc.want.body) {
					t.Fatalf("body = %v, want %v", body, tc.want.body)
				}
				wantWWW := ""
				if tc.want.status == 401 {
					wantWWW = `Basic realm="devas"`
				}
				if got := r.header.Get("WWW-Authenticate"); got != wantWWW {
					t.Errorf("WWW-Authenticate = %q, want %q", got, wantWWW)
				}
				return
			}
			if len(body) != 4 || body["token_type"] != "Bearer" || body["expires_in"] != float64(3600) || body["scope"] != tc.want.scope {
				t.Fatalf("token response = %v, want token_type Bearer, expires_in 3600, scope %q", body, tc.want.scope)
			}
			tok, _ := body["access_token"].(string)
			h, claims := verify(t, fetchJWKS(t, ts.URL+"/jwks"), "ES256", tok)
			if h.KeyID != "dev-1" || h.Algorithm != "ES256" || h.ExtraHeaders["typ"] != "at+jwt" {
				t.Errorf("header kid=%q alg=%q typ=%v, want dev-1 ES256 at+jwt", h.KeyID, h.Algorithm, h.ExtraHeaders["typ"])
			}
			for k, v := range map[string]any{"iss": as.Issuer(), "sub": "dev-client", "client_id": "dev-client", "aud": tc.want.aud, "scope": tc.want.scope} {
				if claims[k] != v {
					t.Errorf("claim %s = %v, want %v", k, claims[k], v)
				}
			}
			iat, _ := claims["iat"].(float64)
			exp, _ := claims["exp"].(float64)
			if exp-iat != 3600 || time.Since(time.Unix(int64(iat), 0)).Abs() > time.Minute {
				t.Errorf("iat=%v exp=%v, want exp=iat+3600 and iat≈now", iat, exp)
			}
			if jti, _ := claims["jti"].(string); len(jti) < 16 {
				t.Errorf("jti = %q, want a random id", jti)
			}
			if len(claims) != 8 {
				t.Errorf("claims = %v, want exactly iss sub aud client_id scope iat exp jti", claims)
			}
		})
	}

	t.Run("GET token is 405", func(t *testing.T) {
		r := get(t, tokenURL)
		if r.status != http.StatusMethodNotAllowed {
			t.Fatalf("status = %d, want 405", r.status)
		}
	})
	t.Run("jti is unique", func(t *testing.T) {
		a, err := as.Mint("x", nil, "", 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := as.Mint("x", nil, "", 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		set := fetchJWKS(t, ts.URL+"/jwks")
		_, ca := verify(t, set, "ES256", a)
		_, cb := verify(t, set, "ES256", b)
		if ca["jti"] == cb["jti"] {
			t.Fatalf("two tokens share jti %v", ca["jti"])
		}
	})
}

func TestMetadata(t *testing.T) {
	for _, issuerPath := range []string{"", "/tenant-a"} {
		t.Run("issuer path "+issuerPath, func(t *testing.T) {
			as, ts := startAS(t, Options{Scopes: []string{"mcp:read", "mcp:write", "mcp:admin"}}, issuerPath)
			want := map[string]any{
				"issuer":                                ts.URL + issuerPath,
				"authorization_endpoint":                ts.URL + issuerPath + "/authorize",
				"token_endpoint":                        ts.URL + issuerPath + "/token",
				"registration_endpoint":                 ts.URL + issuerPath + "/register",
				"jwks_uri":                              ts.URL + issuerPath + "/jwks",
				"grant_types_supported":                 []any{"authorization_code", "refresh_token", "client_credentials"},
				"response_types_supported":              []any{"code"},
				"response_modes_supported":              []any{"query"},
				"code_challenge_methods_supported":      []any{"S256"},
				"token_endpoint_auth_methods_supported": []any{"client_secret_basic", "client_secret_post", "none"},
				"scopes_supported":                      []any{"mcp:read", "mcp:write", "mcp:admin"},
				"subject_types_supported":               []any{"public"},
				"id_token_signing_alg_values_supported": []any{"ES256"},
			}
			for _, p := range []string{
				"/.well-known/oauth-authorization-server" + issuerPath,
				issuerPath + "/.well-known/openid-configuration",
			} {
				r := get(t, ts.URL+p)
				if r.status != http.StatusOK {
					t.Fatalf("GET %s = %d %s", p, r.status, r.body)
				}
				if got := decodeObject(t, r.body); !reflect.DeepEqual(got, want) {
					t.Errorf("GET %s = %v\nwant %v", p, got, want)
				}
				if got := r.header.Get("Access-Control-Allow-Origin"); got != "*" {
					t.Errorf("GET %s: Access-Control-Allow-Origin = %q, want *", p, got)
				}
			}
			if as.Issuer() != ts.URL+issuerPath {
				t.Errorf("Issuer() = %q", as.Issuer())
			}
			// The JWKS is reachable at the advertised jwks_uri.
			if set := fetchJWKS(t, as.JWKSURL()); len(set.Keys) != 1 {
				t.Errorf("JWKS at %s has %d keys, want 1", as.JWKSURL(), len(set.Keys))
			}
			if issuerPath != "" {
				if r := get(t, ts.URL+"/jwks"); r.status != http.StatusNotFound {
					t.Errorf("GET /jwks outside issuer path = %d, want 404", r.status)
				}
			}
		})
	}
}

func TestJWKSVerifiesMintedToken(t *testing.T) {
	for _, alg := range []string{"ES256", "RS256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			as, ts := startAS(t, Options{Alg: alg, KeyID: "k-" + alg, TokenTTL: 5 * time.Minute}, "")
			tok, err := as.Mint("alice", []string{"mcp:read"}, resB, 0, map[string]any{"groups": []string{"eng"}, "client_id": "custom"})
			if err != nil {
				t.Fatalf("Mint: %v", err)
			}
			set := fetchJWKS(t, ts.URL+"/jwks")
			if len(set.Keys) != 1 {
				t.Fatalf("JWKS has %d keys, want 1", len(set.Keys))
			}
			k := set.Keys[0]
			if k.KeyID != "k-"+alg || k.Algorithm != alg || k.Use != "sig" || !k.IsPublic() {
				t.Fatalf("JWK kid=%q alg=%q use=%q public=%v", k.KeyID, k.Algorithm, k.Use, k.IsPublic())
			}
			raw := decodeObject(t, as.JWKS())
			for _, priv := range []string{"d", "p", "q", "dp", "dq", "qi"} {
				if _, ok := raw["keys"].([]any)[0].(map[string]any)[priv]; ok {
					t.Fatalf("JWKS leaks private member %q: %s", priv, as.JWKS())
				}
			}
			h, claims := verify(t, set, alg, tok)
			if h.ExtraHeaders["typ"] != "at+jwt" || h.KeyID != "k-"+alg {
				t.Errorf("header typ=%v kid=%q", h.ExtraHeaders["typ"], h.KeyID)
			}
			if claims["sub"] != "alice" || claims["aud"] != resB || claims["scope"] != "mcp:read" || claims["client_id"] != "custom" || claims["iss"] != as.Issuer() {
				t.Errorf("claims = %v", claims)
			}
			if g, _ := claims["groups"].([]any); len(g) != 1 || g[0] != "eng" {
				t.Errorf("groups claim = %v", claims["groups"])
			}
			if claims["exp"].(float64)-claims["iat"].(float64) != 300 {
				t.Errorf("exp-iat = %v, want 300 (TokenTTL)", claims["exp"].(float64)-claims["iat"].(float64))
			}
		})
	}
}

func TestMintExtraAndSign(t *testing.T) {
	as, ts := startAS(t, Options{}, "")
	set := fetchJWKS(t, ts.URL+"/jwks")

	tok, err := as.Mint("bob", nil, "", -time.Minute, map[string]any{"jti": nil, "client_id": nil})
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	_, claims := verify(t, set, "ES256", tok)
	for _, gone := range []string{"jti", "client_id", "scope"} {
		if _, ok := claims[gone]; ok {
			t.Errorf("claim %q present, want removed: %v", gone, claims)
		}
	}
	if claims["aud"] != resA {
		t.Errorf("aud = %v, want default resource %s", claims["aud"], resA)
	}
	if exp := int64(claims["exp"].(float64)); exp >= time.Now().Unix() {
		t.Errorf("exp = %d, want in the past for negative ttl", exp)
	}

	signed, err := as.Sign(map[string]any{"iss": "x"}, map[string]any{"typ": "JWT", "kid": "forged", "alg": "none"})
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	hdr, err := base64.RawURLEncoding.DecodeString(strings.Split(signed, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	if got, want := decodeObject(t, hdr), map[string]any{"alg": "ES256", "typ": "JWT", "kid": "forged"}; !reflect.DeepEqual(got, want) {
		t.Errorf("header = %v, want %v", got, want)
	}
}

func TestRotateKeyKeepsPreviousKid(t *testing.T) {
	as, ts := startAS(t, Options{}, "")
	before, err := as.Mint("svc", []string{"mcp:read"}, "", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := as.RotateKey(); err != nil {
		t.Fatalf("RotateKey: %v", err)
	}
	if as.KeyID() != "dev-1-r1" {
		t.Fatalf("KeyID after rotation = %q, want dev-1-r1", as.KeyID())
	}
	after, err := as.Mint("svc", []string{"mcp:read"}, "", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	set := fetchJWKS(t, ts.URL+"/jwks")
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KeyID)
	}
	if !reflect.DeepEqual(kids, []string{"dev-1-r1", "dev-1"}) {
		t.Fatalf("JWKS kids = %v, want [dev-1-r1 dev-1]", kids)
	}
	if h, _ := verify(t, set, "ES256", before); h.KeyID != "dev-1" {
		t.Errorf("old token kid = %q", h.KeyID)
	}
	if h, _ := verify(t, set, "ES256", after); h.KeyID != "dev-1-r1" {
		t.Errorf("new token kid = %q", h.KeyID)
	}

	// A second rotation drops the oldest key.
	if err := as.RotateKey(); err != nil {
		t.Fatalf("RotateKey: %v", err)
	}
	set = fetchJWKS(t, ts.URL+"/jwks")
	kids = kids[:0]
	for _, k := range set.Keys {
		kids = append(kids, k.KeyID)
	}
	if !reflect.DeepEqual(kids, []string{"dev-1-r2", "dev-1-r1"}) {
		t.Fatalf("JWKS kids after 2nd rotation = %v, want [dev-1-r2 dev-1-r1]", kids)
	}
	if len(set.Key("dev-1")) != 0 {
		t.Fatal("dev-1 still published after two rotations")
	}
}

func TestNewValidation(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"missing issuer", Options{Resources: []string{resA}}, "Options.Issuer is required"},
		{"relative issuer", Options{Issuer: "/as", Resources: []string{resA}}, "must be an absolute http(s) URL"},
		{"issuer with query", Options{Issuer: "http://127.0.0.1:1/?a=b", Resources: []string{resA}}, "must be an absolute http(s) URL"},
		{"no resources", Options{Issuer: "http://127.0.0.1:1"}, "at least one resource"},
		{"resource with fragment", Options{Issuer: "http://127.0.0.1:1", Resources: []string{resA + "#x"}}, "without fragment"},
		{"relative resource", Options{Issuer: "http://127.0.0.1:1", Resources: []string{"/mcp"}}, "without fragment"},
		{"bad scope", Options{Issuer: "http://127.0.0.1:1", Resources: []string{resA}, Scopes: []string{"a b"}}, `invalid scope token "a b"`},
		{"bad alg", Options{Issuer: "http://127.0.0.1:1", Resources: []string{resA}, Alg: "HS256"}, `unsupported Alg "HS256"`},
		{"negative ttl", Options{Issuer: "http://127.0.0.1:1", Resources: []string{resA}, TokenTTL: -time.Second}, "negative TokenTTL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New error = %v, want containing %q", err, tc.wantErr)
			}
		})
	}

	s, err := New(Options{Issuer: "http://127.0.0.1:1", Resources: []string{resA}})
	if err != nil {
		t.Fatal(err)
	}
	if s.ClientID() != "dev-client" || s.ClientSecret() != "dev-secret" || s.Alg() != "ES256" || s.KeyID() != "dev-1" ||
		!reflect.DeepEqual(s.Scopes(), []string{"mcp:read", "mcp:write"}) || !reflect.DeepEqual(s.Resources(), []string{resA}) {
		t.Fatalf("defaults not applied: %+v", s.opts)
	}
}
