package devas

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"html"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// noRedirect is a client that returns redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func doNoRedirect(t *testing.T, u string) httpResult {
	t.Helper()
	resp, err := noRedirect.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return httpResult{resp.StatusCode, resp.Header, b.Bytes()}
}

func postJSON(t *testing.T, u, body string) httpResult {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return do(t, req)
}

func postForm(t *testing.T, u string, form url.Values, basic ...string) httpResult {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if len(basic) == 2 {
		req.SetBasicAuth(basic[0], basic[1])
	}
	return do(t, req)
}

// register registers a client and returns the response object.
func register(t *testing.T, ts string, body string) map[string]any {
	t.Helper()
	r := postJSON(t, ts+"/register", body)
	if r.status != http.StatusCreated {
		t.Fatalf("register %s = %d %s", body, r.status, r.body)
	}
	return decodeObject(t, r.body)
}

const (
	verifier   = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-long-enough"
	redirectCB = "http://127.0.0.1:1234/cb"
)

func challengeOf(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// authorizeQuery is a valid authorization request for clientID.
func authorizeQuery(clientID, redirect string) url.Values {
	return url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect}, "state": {"st-1"},
		"code_challenge": {challengeOf(verifier)}, "code_challenge_method": {"S256"},
	}
}

var userLink = regexp.MustCompile(`data-user="([^"]+)" href="([^"]+)"`)

// loginLinks returns the login page's user → approve URL.
func loginLinks(t *testing.T, page string) map[string]string {
	t.Helper()
	links := map[string]string{}
	for _, m := range userLink.FindAllStringSubmatch(page, -1) {
		links[m[1]] = html.UnescapeString(m[2])
	}
	return links
}

// login fetches the login page for q, follows the user's link and returns
// the redirect's query.
func login(t *testing.T, ts string, q url.Values, user string) url.Values {
	t.Helper()
	page := doNoRedirect(t, ts+"/authorize?"+q.Encode())
	if page.status != http.StatusOK {
		t.Fatalf("login page = %d %s", page.status, page.body)
	}
	href, ok := loginLinks(t, string(page.body))[user]
	if !ok {
		t.Fatalf("login page has no link for %q:\n%s", user, page.body)
	}
	r := doNoRedirect(t, href)
	if r.status != http.StatusFound {
		t.Fatalf("approve = %d %s", r.status, r.body)
	}
	loc, err := url.Parse(r.header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return loc.Query()
}

func TestRegistration(t *testing.T) {
	_, ts := startAS(t, Options{}, "")
	pub := register(t, ts.URL, `{"redirect_uris":["http://127.0.0.1:6276/oauth/callback"],"token_endpoint_auth_method":"none",
		"grant_types":["authorization_code","refresh_token"],"response_types":["code"],"client_name":"MCP Inspector","scope":"","application_type":"native","client_uri":"https://x"}`)
	id, _ := pub["client_id"].(string)
	if !strings.HasPrefix(id, "dcr-") || pub["client_secret"] != nil || pub["token_endpoint_auth_method"] != "none" || pub["client_name"] != "MCP Inspector" ||
		!reflect.DeepEqual(pub["grant_types"], []any{"authorization_code", "refresh_token"}) || !reflect.DeepEqual(pub["response_types"], []any{"code"}) ||
		!reflect.DeepEqual(pub["redirect_uris"], []any{"http://127.0.0.1:6276/oauth/callback"}) || pub["client_id_issued_at"] == nil {
		t.Fatalf("public client registration = %v", pub)
	}
	conf := register(t, ts.URL, `{"redirect_uris":["https://app.example.com/cb","cursor://anysphere.cursor-mcp/oauth/callback"]}`)
	if sec, _ := conf["client_secret"].(string); len(sec) < 20 || conf["token_endpoint_auth_method"] != "client_secret_basic" ||
		!reflect.DeepEqual(conf["grant_types"], []any{"authorization_code"}) || conf["client_secret_expires_at"] != float64(0) {
		t.Fatalf("confidential client registration (defaults) = %v", conf)
	}
	if r := do(t, mustReq(t, http.MethodOptions, ts.URL+"/register")); r.status != http.StatusNoContent ||
		r.header.Get("Access-Control-Allow-Origin") != "*" || r.header.Get("Access-Control-Allow-Methods") != "POST, OPTIONS" {
		t.Fatalf("CORS preflight = %d %v", r.status, r.header)
	}

	bad := []struct{ body, code, desc string }{
		{`nope`, "invalid_client_metadata", "the body must be a JSON object"},
		{`{"redirect_uris":"http://127.0.0.1/cb"}`, "invalid_client_metadata", "the body must be a JSON object"},
		{`{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"private_key_jwt"}`, "invalid_client_metadata", "token_endpoint_auth_method must be"},
		{`{"redirect_uris":["http://127.0.0.1/cb"],"grant_types":["implicit"]}`, "invalid_client_metadata", `unsupported grant type "implicit"`},
		{`{"grant_types":["client_credentials"],"token_endpoint_auth_method":"none"}`, "invalid_client_metadata", "needs a confidential client"},
		{`{"redirect_uris":["http://127.0.0.1/cb"],"response_types":["token"]}`, "invalid_client_metadata", `response_types must be ["code"]`},
		{`{"token_endpoint_auth_method":"none"}`, "invalid_redirect_uri", "needs at least one redirect URI"},
		{`{"redirect_uris":["http://app.example.com/cb"]}`, "invalid_redirect_uri", "must be on loopback"},
		{`{"redirect_uris":["http://127.0.0.1/cb#frag"]}`, "invalid_redirect_uri", "without fragment"},
		{`{"redirect_uris":["/cb"]}`, "invalid_redirect_uri", "absolute URI"},
		{`{"redirect_uris":["javascript:alert(1)"]}`, "invalid_redirect_uri", `scheme "javascript" is not allowed`},
	}
	for _, tc := range bad {
		r := postJSON(t, ts.URL+"/register", tc.body)
		body := decodeObject(t, r.body)
		if r.status != http.StatusBadRequest || body["error"] != tc.code || !strings.Contains(body["error_description"].(string), tc.desc) {
			t.Errorf("register %s = %d %v, want 400 %s %q", tc.body, r.status, body, tc.code, tc.desc)
		}
	}
	// A confidential registered client may use client_credentials.
	cc := register(t, ts.URL, `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_post"}`)
	r := postForm(t, ts.URL+"/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {cc["client_id"].(string)}, "client_secret": {cc["client_secret"].(string)}})
	if r.status != http.StatusOK {
		t.Fatalf("client_credentials for a registered client = %d %s", r.status, r.body)
	}
	_, claims := verify(t, fetchJWKS(t, ts.URL+"/jwks"), "ES256", decodeObject(t, r.body)["access_token"].(string))
	if claims["sub"] != cc["client_id"] || claims["client_id"] != cc["client_id"] {
		t.Fatalf("claims = %v", claims)
	}
}

func mustReq(t *testing.T, method, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// TestAuthorizationCodeFlow walks the whole flow a public MCP client runs:
// registration, the login page, the approval, the code exchange with PKCE
// and RFC 8707, and refresh token rotation.
func TestAuthorizationCodeFlow(t *testing.T) {
	as, ts := startAS(t, Options{Scopes: []string{"mcp:read", "mcp:write", "mcp:admin"}}, "/tenant")
	base := ts.URL + "/tenant"
	c := register(t, base, `{"redirect_uris":["`+redirectCB+`"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"],"client_name":"Test <Client>"}`)
	clientID := c["client_id"].(string)

	// Any port on the registered loopback redirect URI (RFC 8252 §7.3).
	redirect := "http://127.0.0.1:5555/cb"
	q := authorizeQuery(clientID, redirect)
	q.Set("scope", "mcp:read offline_access openid")
	q.Set("resource", resB)
	page := doNoRedirect(t, base+"/authorize?"+q.Encode())
	if page.status != http.StatusOK {
		t.Fatalf("login page = %d %s", page.status, page.body)
	}
	for h, want := range map[string]string{"Cache-Control": "no-store", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "Content-Type": "text/html; charset=utf-8"} {
		if got := page.header.Get(h); got != want {
			t.Errorf("login page %s = %q, want %q", h, got, want)
		}
	}
	if csp := page.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("login page CSP = %q", csp)
	}
	body := string(page.body)
	for _, want := range []string{"not for production", `Scopes granted: <code id="scopes">mcp:read</code>`, "Test &lt;Client&gt;", resB, "Sign in as dev-user", "Sign in as alice", "Sign in as bob", "Deny"} {
		if !strings.Contains(body, want) {
			t.Errorf("login page lacks %q:\n%s", want, body)
		}
	}
	links := loginLinks(t, body)
	if len(links) != 3 || !strings.HasPrefix(links["alice"], as.AuthorizationURL()+"/approve?") {
		t.Fatalf("login links = %v", links)
	}
	r := doNoRedirect(t, links["alice"])
	loc, _ := url.Parse(r.header.Get("Location"))
	if r.status != http.StatusFound || loc.Scheme+"://"+loc.Host+loc.Path != redirect {
		t.Fatalf("approve = %d, Location %q", r.status, loc)
	}
	cb := loc.Query()
	code := cb.Get("code")
	if len(code) < 40 || cb.Get("state") != "st-1" || len(cb) != 2 {
		t.Fatalf("callback query = %v", cb)
	}
	if again := doNoRedirect(t, links["bob"]); again.status != http.StatusBadRequest || !strings.Contains(string(again.body), "expired or was already used") {
		t.Fatalf("second use of the login page = %d %s", again.status, again.body)
	}

	tokenForm := url.Values{"grant_type": {"authorization_code"}, "client_id": {clientID}, "code": {code}, "code_verifier": {verifier},
		"redirect_uri": {redirect}, "resource": {resB}}
	tr := postForm(t, as.TokenURL(), tokenForm)
	if tr.status != http.StatusOK {
		t.Fatalf("code exchange = %d %s", tr.status, tr.body)
	}
	tok := decodeObject(t, tr.body)
	refresh, _ := tok["refresh_token"].(string)
	if tok["token_type"] != "Bearer" || tok["scope"] != "mcp:read" || tok["expires_in"] != float64(3600) || len(refresh) < 40 {
		t.Fatalf("token response = %v", tok)
	}
	set := fetchJWKS(t, as.JWKSURL())
	_, claims := verify(t, set, "ES256", tok["access_token"].(string))
	for k, v := range map[string]any{"iss": as.Issuer(), "sub": "alice", "client_id": clientID, "aud": resB, "scope": "mcp:read"} {
		if claims[k] != v {
			t.Errorf("claim %s = %v, want %v", k, claims[k], v)
		}
	}
	// A code works once.
	if r := postForm(t, as.TokenURL(), tokenForm); r.status != 400 || decodeObject(t, r.body)["error"] != "invalid_grant" {
		t.Fatalf("code reuse = %d %s", r.status, r.body)
	}

	// Refresh: rotated, same user and audience; no widening.
	rf := func(rt string, extra url.Values) httpResult {
		f := url.Values{"grant_type": {"refresh_token"}, "client_id": {clientID}, "refresh_token": {rt}}
		for k, v := range extra {
			f[k] = v
		}
		return postForm(t, as.TokenURL(), f)
	}
	if r := rf(refresh, url.Values{"scope": {"mcp:read mcp:admin"}}); r.status != 400 || decodeObject(t, r.body)["error"] != "invalid_scope" {
		t.Fatalf("widening refresh = %d %s", r.status, r.body)
	}
	if r := rf(refresh, url.Values{"resource": {resA}}); r.status != 400 || decodeObject(t, r.body)["error"] != "invalid_target" {
		t.Fatalf("refresh for another resource = %d %s", r.status, r.body)
	}
	r2 := rf(refresh, url.Values{"resource": {resB}})
	if r2.status != http.StatusOK {
		t.Fatalf("refresh = %d %s", r2.status, r2.body)
	}
	tok2 := decodeObject(t, r2.body)
	if tok2["refresh_token"] == refresh || tok2["refresh_token"] == nil || tok2["scope"] != "mcp:read" {
		t.Fatalf("refresh response = %v", tok2)
	}
	_, claims = verify(t, set, "ES256", tok2["access_token"].(string))
	if claims["sub"] != "alice" || claims["aud"] != resB || claims["client_id"] != clientID {
		t.Fatalf("refreshed claims = %v", claims)
	}
	if r := rf(refresh, nil); r.status != 400 || decodeObject(t, r.body)["error"] != "invalid_grant" {
		t.Fatalf("reuse of a rotated refresh token = %d %s", r.status, r.body)
	}
}

func TestAuthorizationErrors(t *testing.T) {
	_, ts := startAS(t, Options{}, "")
	pub := register(t, ts.URL, `{"redirect_uris":["`+redirectCB+`","https://app.example.com/cb"],"token_endpoint_auth_method":"none","grant_types":["authorization_code"]}`)
	id := pub["client_id"].(string)
	cc := register(t, ts.URL, `{"grant_types":["client_credentials"]}`)

	// Errors shown on a page: nothing is redirected to an unchecked URI.
	pages := []struct {
		name string
		q    url.Values
		want string
	}{
		{"no client", url.Values{"redirect_uri": {redirectCB}}, "no client_id"},
		{"unknown client", url.Values{"client_id": {"dcr-gone"}, "redirect_uri": {redirectCB}}, "Unknown client_id dcr-gone"},
		{"no redirect", url.Values{"client_id": {id}}, "no redirect_uri"},
		{"other path", url.Values{"client_id": {id}, "redirect_uri": {"http://127.0.0.1:1234/other"}}, "is not registered"},
		{"localhost is not 127.0.0.1", url.Values{"client_id": {id}, "redirect_uri": {"http://localhost:1234/cb"}}, "is not registered"},
		{"https needs the exact port", url.Values{"client_id": {id}, "redirect_uri": {"https://app.example.com:8443/cb"}}, "is not registered"},
		{"extra query", url.Values{"client_id": {id}, "redirect_uri": {redirectCB + "?x=1"}}, "is not registered"},
		{"repeated redirect", url.Values{"client_id": {id}, "redirect_uri": {redirectCB, redirectCB}}, "repeats the redirect_uri"},
	}
	for _, tc := range pages {
		r := doNoRedirect(t, ts.URL+"/authorize?"+tc.q.Encode())
		if r.status != http.StatusBadRequest || r.header.Get("Location") != "" || !strings.Contains(html.UnescapeString(string(r.body)), tc.want) {
			t.Errorf("%s: %d Location %q %s; want a 400 page with %q", tc.name, r.status, r.header.Get("Location"), r.body, tc.want)
		}
	}

	// Errors redirected to the client with the state (and no iss, as the
	// success response).
	redirects := []struct {
		name       string
		client     string
		mod        func(url.Values)
		code, desc string
	}{
		{"token response type", id, func(q url.Values) { q.Set("response_type", "token") }, "unsupported_response_type", "only response_type=code"},
		{"no response type", id, func(q url.Values) { q.Del("response_type") }, "invalid_request", "missing response_type"},
		{"no PKCE", id, func(q url.Values) { q.Del("code_challenge") }, "invalid_request", "code_challenge is required"},
		{"plain PKCE", id, func(q url.Values) { q.Set("code_challenge_method", "plain") }, "invalid_request", "must be S256"},
		{"PKCE method missing", id, func(q url.Values) { q.Del("code_challenge_method") }, "invalid_request", "must be S256"},
		{"short challenge", id, func(q url.Values) { q.Set("code_challenge", "abc") }, "invalid_request", "malformed code_challenge"},
		{"unknown resource", id, func(q url.Values) { q.Set("resource", "http://127.0.0.1:9/mcp") }, "invalid_target", "not served"},
		{"two resources", id, func(q url.Values) { q["resource"] = []string{resA, resB} }, "invalid_target", "only one resource"},
		{"no offered scope", id, func(q url.Values) { q.Set("scope", "openid profile") }, "invalid_scope", "none of the requested scopes"},
		{"repeated scope", id, func(q url.Values) { q["scope"] = []string{"mcp:read", "mcp:write"} }, "invalid_request", "scope parameter is repeated"},
	}
	for _, tc := range redirects {
		q := authorizeQuery(tc.client, redirectCB)
		tc.mod(q)
		r := doNoRedirect(t, ts.URL+"/authorize?"+q.Encode())
		loc, _ := url.Parse(r.header.Get("Location"))
		got := loc.Query()
		if r.status != http.StatusFound || !strings.HasPrefix(loc.String(), redirectCB+"?") || got.Get("error") != tc.code ||
			!strings.Contains(got.Get("error_description"), tc.desc) || got.Get("state") != "st-1" || got.Has("iss") {
			t.Errorf("%s: %d Location %q; want %s %q", tc.name, r.status, loc, tc.code, tc.desc)
		}
	}
	// A client_credentials-only client has no redirect URI to send errors to.
	if r := doNoRedirect(t, ts.URL+"/authorize?"+authorizeQuery(cc["client_id"].(string), redirectCB).Encode()); r.status != http.StatusBadRequest {
		t.Errorf("authorize for a client_credentials client = %d", r.status)
	}

	// Deny, unknown user, no scope (= every scope).
	q := authorizeQuery(id, redirectCB)
	page := doNoRedirect(t, ts.URL+"/authorize?"+q.Encode())
	if !strings.Contains(string(page.body), `<code id="scopes">mcp:read mcp:write</code>`) {
		t.Errorf("no scope requested: page does not grant every scope:\n%s", page.body)
	}
	links := loginLinks(t, string(page.body))
	bogus := strings.Replace(links["alice"], "user=alice", "user=mallory", 1)
	if r := doNoRedirect(t, bogus); r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "Unknown user") {
		t.Errorf("unknown user = %d %s", r.status, r.body)
	}
	deny := regexp.MustCompile(`class="deny" href="([^"]+)"`).FindStringSubmatch(string(page.body))
	if deny == nil {
		t.Fatalf("no deny link:\n%s", page.body)
	}
	r := doNoRedirect(t, html.UnescapeString(deny[1]))
	loc, _ := url.Parse(r.header.Get("Location"))
	if r.status != http.StatusFound || loc.Query().Get("error") != "access_denied" || loc.Query().Get("state") != "st-1" {
		t.Errorf("deny = %d %q", r.status, loc)
	}
	if r := doNoRedirect(t, links["alice"]); r.status != http.StatusBadRequest {
		t.Errorf("approve after deny = %d, want 400 (the request is spent)", r.status)
	}
}

func TestCodeExchangeErrors(t *testing.T) {
	as, ts := startAS(t, Options{}, "")
	a := register(t, ts.URL, `{"redirect_uris":["`+redirectCB+`"],"token_endpoint_auth_method":"none"}`)
	b := register(t, ts.URL, `{"redirect_uris":["`+redirectCB+`"],"token_endpoint_auth_method":"client_secret_basic"}`)
	aID, bID, bSecret := a["client_id"].(string), b["client_id"].(string), b["client_secret"].(string)

	newCode := func(clientID string) string {
		return login(t, ts.URL, authorizeQuery(clientID, redirectCB), "dev-user").Get("code")
	}
	form := func(clientID, code string, mod func(url.Values)) url.Values {
		f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {redirectCB}}
		if clientID != "" {
			f.Set("client_id", clientID)
		}
		if mod != nil {
			mod(f)
		}
		return f
	}
	cases := []struct {
		name         string
		form         url.Values
		basic        []string
		status       int
		code, substr string
	}{
		{"wrong verifier", form(aID, newCode(aID), func(f url.Values) { f.Set("code_verifier", strings.Repeat("x", 43)) }), nil, 400, "invalid_grant", "PKCE verification failed"},
		{"no verifier", form(aID, newCode(aID), func(f url.Values) { f.Del("code_verifier") }), nil, 400, "invalid_request", "missing code_verifier"},
		{"wrong redirect", form(aID, newCode(aID), func(f url.Values) { f.Set("redirect_uri", "http://127.0.0.1:1/cb") }), nil, 400, "invalid_grant", "redirect_uri does not match"},
		{"no redirect", form(aID, newCode(aID), func(f url.Values) { f.Del("redirect_uri") }), nil, 400, "invalid_grant", "redirect_uri does not match"},
		{"other resource", form(aID, newCode(aID), func(f url.Values) { f.Set("resource", resB) }), nil, 400, "invalid_target", "differs from the authorization request"},
		{"another client's code", form("", newCode(aID), nil), []string{bID, bSecret}, 400, "invalid_grant", "issued to another client"},
		{"public client with a secret", form("", newCode(aID), nil), []string{aID, "guess"}, 401, "invalid_client", "client authentication failed"},
		{"confidential client without its secret", form(bID, newCode(bID), nil), nil, 401, "invalid_client", "client authentication failed"},
		{"public client may not use client_credentials", url.Values{"grant_type": {"client_credentials"}, "client_id": {aID}}, nil, 400, "unauthorized_client", "client_credentials"},
		{"refresh without refresh grant", url.Values{"grant_type": {"refresh_token"}, "client_id": {aID}, "refresh_token": {"x"}}, nil, 400, "unauthorized_client", "refresh_token grant"},
		{"unknown code", form(aID, "nope", nil), nil, 400, "invalid_grant", "invalid, expired or already used"},
	}
	for _, tc := range cases {
		r := postForm(t, as.TokenURL(), tc.form, tc.basic...)
		body := decodeObject(t, r.body)
		if r.status != tc.status || body["error"] != tc.code || !strings.Contains(body["error_description"].(string), tc.substr) {
			t.Errorf("%s: %d %v; want %d %s %q", tc.name, r.status, body, tc.status, tc.code, tc.substr)
		}
	}
	// The confidential client with its secret, no refresh grant: no refresh token.
	r := postForm(t, as.TokenURL(), form("", newCode(bID), nil), bID, bSecret)
	if body := decodeObject(t, r.body); r.status != 200 || body["refresh_token"] != nil || body["scope"] != "mcp:read mcp:write" {
		t.Fatalf("confidential exchange = %d %v", r.status, body)
	}
}

func TestRedirectMatches(t *testing.T) {
	cases := []struct {
		reg, req string
		ok       bool
	}{
		{"http://127.0.0.1:6276/oauth/callback", "http://127.0.0.1:6276/oauth/callback", true},
		{"http://127.0.0.1:6276/oauth/callback", "http://127.0.0.1:40000/oauth/callback", true},
		{"http://127.0.0.1/oauth/callback", "http://127.0.0.1:40000/oauth/callback", true},
		{"http://[::1]:1/cb", "http://[::1]:2/cb", true},
		{"http://localhost:6274/oauth/callback", "http://localhost:9999/oauth/callback", true},
		{"http://localhost:6274/oauth/callback", "http://127.0.0.1:6274/oauth/callback", false},
		{"http://127.0.0.1:6276/oauth/callback", "http://127.0.0.1:6276/oauth/callback/", false},
		{"http://127.0.0.1:6276/oauth/callback", "http://127.0.0.1:6276/oauth/callback#x", false},
		{"http://127.0.0.1:6276/cb", "https://127.0.0.1:6276/cb", false},
		{"https://app.example.com/cb", "https://app.example.com:443/cb", false},
		{"cursor://anysphere.cursor-mcp/oauth/callback", "cursor://anysphere.cursor-mcp/oauth/callback", true},
	}
	for _, tc := range cases {
		if got := redirectMatches(tc.reg, tc.req); got != tc.ok {
			t.Errorf("redirectMatches(%q, %q) = %v, want %v", tc.reg, tc.req, got, tc.ok)
		}
	}
}

func TestUsersOption(t *testing.T) {
	as, ts := startAS(t, Options{Users: []string{"carol"}}, "")
	c := register(t, ts.URL, `{"redirect_uris":["`+redirectCB+`"],"token_endpoint_auth_method":"none"}`)
	page := doNoRedirect(t, ts.URL+"/authorize?"+authorizeQuery(c["client_id"].(string), redirectCB).Encode())
	if links := loginLinks(t, string(page.body)); len(links) != 1 || links["carol"] == "" {
		t.Fatalf("links = %v", links)
	}
	if !reflect.DeepEqual(as.Users(), []string{"carol"}) {
		t.Fatalf("Users() = %v", as.Users())
	}
	for _, bad := range [][]string{{"a b"}, {"dev-client"}, {""}} {
		if _, err := New(Options{Issuer: "http://127.0.0.1:1", Resources: []string{resA}, Users: bad}); err == nil {
			t.Errorf("Users %q accepted", bad)
		}
	}
}
