package rs_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

func TestExtractBearer(t *testing.T) {
	cases := []struct {
		name    string
		headers []string
		query   string
		want    string
		wantErr *rs.Error
	}{
		{"bearer", []string{"Bearer abc.def.ghi"}, "", "abc.def.ghi", nil},
		{"lowercase scheme", []string{"bearer abc"}, "", "abc", nil},
		{"uppercase scheme", []string{"BEARER abc"}, "", "abc", nil},
		{"several spaces", []string{"Bearer   abc"}, "", "abc", nil},
		{"b64token padding", []string{"Bearer a+b/c~d-e_f.g=="}, "", "a+b/c~d-e_f.g==", nil},
		{"no header", nil, "", "", rs.ErrMissingToken},
		{"empty header", []string{""}, "", "", rs.ErrMissingToken},
		{"other scheme", []string{"Basic dXNlcjpwYXNz"}, "", "", rs.ErrMissingToken},
		{"scheme prefix only", []string{"Bearerabc"}, "", "", rs.ErrMissingToken},
		{"bearer without token", []string{"Bearer"}, "", "", rs.ErrMalformedHeader},
		{"bearer with spaces only", []string{"Bearer    "}, "", "", rs.ErrMalformedHeader},
		{"two tokens in one header", []string{"Bearer abc def"}, "", "", rs.ErrMalformedHeader},
		{"comma list", []string{"Bearer abc, Bearer def"}, "", "", rs.ErrMalformedHeader},
		{"tab separator", []string{"Bearer\tabc"}, "", "", rs.ErrMalformedHeader},
		{"padding in middle", []string{"Bearer ab=c"}, "", "", rs.ErrMalformedHeader},
		{"non-ascii", []string{"Bearer ab\u00e9"}, "", "", rs.ErrMalformedHeader},
		{"two headers", []string{"Bearer abc", "Bearer def"}, "", "", rs.ErrMultipleTokens},
		{"header and query", []string{"Bearer abc"}, "access_token=abc", "", rs.ErrMultipleTokens},
		{"query only", nil, "access_token=abc", "", rs.ErrTokenInQuery},
		{"query with other scheme", []string{"Basic x"}, "access_token=abc", "", rs.ErrTokenInQuery},
		{"unrelated query", []string{"Bearer abc"}, "tenant=acme", "abc", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tc.headers {
				h.Add("Authorization", v)
			}
			q, _ := url.ParseQuery(tc.query)
			got, err := rs.ExtractBearer(h, q)
			if tc.wantErr != nil {
				if err != tc.wantErr {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestChallengeWire(t *testing.T) {
	const md = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
	withScopes := rs.Challenger{MetadataURL: md, Scopes: []string{"c", "a", "b"}}
	plain := rs.Challenger{MetadataURL: md}
	cases := []struct {
		name       string
		c          rs.Challenger
		err        *rs.Error
		status     int
		wantHeader string
		wantBody   string
	}{
		{"missing token, no scopes", plain, rs.ErrMissingToken, 401,
			`Bearer resource_metadata="` + md + `"`, "Unauthorized"},
		{"missing token, challenge scopes in order", withScopes, rs.ErrMissingToken, 401,
			`Bearer resource_metadata="` + md + `", scope="c a b"`, "Unauthorized"},
		{"expired", withScopes, rs.ErrExpired, 401,
			`Bearer resource_metadata="` + md + `", error="invalid_token", error_description="Token has expired", scope="c a b"`, "Unauthorized"},
		{"bad audience", plain, rs.ErrAudience, 401,
			`Bearer resource_metadata="` + md + `", error="invalid_token", error_description="Token audience does not match this resource"`, "Unauthorized"},
		{"missing sub keeps quote-free phrase", plain, rs.ErrMissingSubject, 401,
			`Bearer resource_metadata="` + md + `", error="invalid_token", error_description="Token missing 'sub' claim"`, "Unauthorized"},
		{"malformed header", plain, rs.ErrMalformedHeader, 400,
			`Bearer resource_metadata="` + md + `", error="invalid_request", error_description="Malformed Authorization header"`, "Bad Request"},
		{"two tokens", plain, rs.ErrMultipleTokens, 400,
			`Bearer resource_metadata="` + md + `", error="invalid_request", error_description="Request carries more than one access token"`, "Bad Request"},
		{"insufficient scope", withScopes, rs.InsufficientScope([]string{"mcp:write", "mcp:admin"}), 403,
			`Bearer resource_metadata="` + md + `", error="insufficient_scope", scope="mcp:write mcp:admin"`, "Insufficient scope"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tc.c.Write(rec, tc.err)
			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d", rec.Code, tc.status)
			}
			if got := rec.Header().Values("WWW-Authenticate"); len(got) != 1 || got[0] != tc.wantHeader {
				t.Fatalf("WWW-Authenticate =\n  %q\nwant\n  %q", got, tc.wantHeader)
			}
			if rec.Body.String() != tc.wantBody {
				t.Fatalf("body = %q, want %q", rec.Body.String(), tc.wantBody)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "text/plain; charset=utf-8" {
				t.Fatalf("content-type = %q", ct)
			}
		})
	}
}

func TestChallengeNeverLeaksCause(t *testing.T) {
	// A cause with quotes, CRLF and a token-looking string must not reach
	// the wire.
	rec := httptest.NewRecorder()
	err := rs.ErrSignature
	wrapped := errors.Join(err, errors.New("secret \"eyJhbGc\"\r\nX-Evil: 1"))
	rs.Challenger{MetadataURL: "https://h/.well-known/oauth-protected-resource"}.Write(rec, wrapped)
	all := rec.Header().Get("WWW-Authenticate") + rec.Body.String()
	if strings.Contains(all, "eyJ") || strings.Contains(all, "Evil") || rec.Code != 401 {
		t.Fatalf("leaked: %d %q", rec.Code, all)
	}
	// An unsafe description is dropped, the challenge still goes out.
	bad := &rs.Error{Status: 401, Code: rs.CodeInvalidToken, Description: "caf\u00e9 \"x\"", Reason: "x"}
	got := rs.Challenger{MetadataURL: "https://h/.well-known/oauth-protected-resource"}.Header(bad)
	if got != `Bearer resource_metadata="https://h/.well-known/oauth-protected-resource", error="invalid_token"` {
		t.Fatalf("header = %q", got)
	}
	// 503 carries Retry-After and no challenge.
	rec = httptest.NewRecorder()
	rs.Challenger{MetadataURL: "https://h/x"}.Write(rec, rs.ErrKeysUnavailable)
	if rec.Code != 503 || rec.Header().Get("Retry-After") != "5" || rec.Header().Get("WWW-Authenticate") != "" {
		t.Fatalf("503 answer: %d %v", rec.Code, rec.Header())
	}
}

func TestMetadataURLAndPaths(t *testing.T) {
	cases := []struct {
		resource  string
		wantURL   string
		wantPaths []string
	}{
		{"https://example.com", "https://example.com/.well-known/oauth-protected-resource", []string{"/.well-known/oauth-protected-resource"}},
		{"https://example.com/", "https://example.com/.well-known/oauth-protected-resource", []string{"/.well-known/oauth-protected-resource"}},
		{"https://mcp.example.com/mcp", "https://mcp.example.com/.well-known/oauth-protected-resource/mcp",
			[]string{"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"}},
		{"https://mcp.example.com/mcp?tenant=acme", "https://mcp.example.com/.well-known/oauth-protected-resource/mcp?tenant=acme",
			[]string{"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"}},
		{"http://127.0.0.1:8080/public/mcp/", "http://127.0.0.1:8080/.well-known/oauth-protected-resource/public/mcp",
			[]string{"/.well-known/oauth-protected-resource/public/mcp", "/.well-known/oauth-protected-resource"}},
	}
	for _, tc := range cases {
		got, err := rs.MetadataURL(tc.resource)
		if err != nil || got != tc.wantURL {
			t.Errorf("MetadataURL(%q) = %q, %v; want %q", tc.resource, got, err, tc.wantURL)
		}
		if p := rs.MetadataPaths(tc.resource); strings.Join(p, ",") != strings.Join(tc.wantPaths, ",") {
			t.Errorf("MetadataPaths(%q) = %q, want %q", tc.resource, p, tc.wantPaths)
		}
	}
}

func TestMetadataDocument(t *testing.T) {
	cfg := rs.Config{
		Resource:        "https://mcp.example.com/mcp",
		ResourceName:    "Demo MCP",
		ScopesSupported: []string{"mcp:read", "mcp:write", "mcp:read"},
		AuthorizationServers: []rs.AuthorizationServer{
			{Issuer: "https://as1.example.com"},
			{Issuer: "https://as2.example.com/realms/x", AdvertiseURL: "https://login.example.com"},
			{Issuer: "https://as3.example.com", AdvertiseURL: "https://login.example.com"},
		},
	}
	if err := normalizeInto(&cfg); err != nil {
		t.Fatal(err)
	}
	h, err := rs.NewMetadataHandler(cfg.Metadata())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"resource":"https://mcp.example.com/mcp","authorization_servers":["https://as1.example.com","https://login.example.com"],"bearer_methods_supported":["header"],"scopes_supported":["mcp:read","mcp:write"],"resource_name":"Demo MCP"}`
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/.well-known/oauth-protected-resource/mcp", nil))
	if rec.Code != 200 || rec.Body.String() != want {
		t.Fatalf("GET = %d %s\nwant %s", rec.Code, rec.Body.String(), want)
	}
	for k, v := range map[string]string{"Content-Type": "application/json", "Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "GET, OPTIONS", "Access-Control-Allow-Headers": "Content-Type"} {
		if got := rec.Header().Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("OPTIONS", "/", nil))
	if rec.Code != 204 {
		t.Fatalf("OPTIONS = %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/", nil))
	if rec.Code != 405 || rec.Header().Get("Allow") != "GET, HEAD, OPTIONS" {
		t.Fatalf("POST = %d %v", rec.Code, rec.Header())
	}
	// Minimal document: no scopes, no name → keys omitted.
	min := rs.Config{Resource: "https://h.example", AuthorizationServers: []rs.AuthorizationServer{{Issuer: "https://as.example"}}}
	if err := normalizeInto(&min); err != nil {
		t.Fatal(err)
	}
	h, _ = rs.NewMetadataHandler(min.Metadata())
	if got := string(h.Body()); got != `{"resource":"https://h.example","authorization_servers":["https://as.example"],"bearer_methods_supported":["header"]}` {
		t.Fatalf("minimal = %s", got)
	}
}
