package devas

// The interactive half of the dev authorization server: dynamic client
// registration, the authorization endpoint with its login page, and the
// authorization_code and refresh_token grants. Everything is in memory and
// bounded; nothing is logged.

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Grant types and client authentication methods.
const (
	grantAuthorizationCode = "authorization_code"
	grantRefreshToken      = "refresh_token"
	grantClientCredentials = "client_credentials"

	authNone  = "none"
	authBasic = "client_secret_basic"
	authPost  = "client_secret_post"
)

// Lifetimes and bounds of the in-memory grant state.
const (
	// LoginTTL is how long a login page (an authorization request waiting
	// for the user) stays usable.
	LoginTTL = 10 * time.Minute
	// CodeTTL is the lifetime of an authorization code.
	CodeTTL = 2 * time.Minute
	// RefreshTTL is the lifetime of a refresh token (each use rotates it).
	RefreshTTL = 24 * time.Hour

	maxClients           = 1000  // registered clients
	maxGrants            = 10000 // each of: pending logins, codes, refresh tokens
	maxRegistrationBytes = 64 << 10
)

// client is a registered client (or the built-in client_credentials one).
type client struct {
	ID            string
	Secret        string // "" for a public client (AuthMethod "none")
	AuthMethod    string
	RedirectURIs  []string
	GrantTypes    []string
	ResponseTypes []string
	Name          string
	Scope         string
}

// authRequest is an authorization request waiting on the login page and,
// once a user approved it (User set), the grant an authorization code
// stands for.
type authRequest struct {
	ClientID, RedirectURI, State, Challenge, Resource, User string
	Scopes                                                  []string
	expires                                                 time.Time
}

// refreshGrant is what a refresh token stands for.
type refreshGrant struct {
	ClientID, User, Resource string
	Scopes                   []string
	expires                  time.Time
}

func (a *authRequest) expiry() time.Time  { return a.expires }
func (g *refreshGrant) expiry() time.Time { return g.expires }

// grantStore is the server's mutable OAuth state.
type grantStore struct {
	mu      sync.Mutex
	clients map[string]*client
	logins  map[string]*authRequest // login request id → request
	codes   map[string]*authRequest // code → approved request
	refresh map[string]*refreshGrant
}

// errFull reports that a bounded map is full of live entries.
var errFull = errors.New("too many outstanding grants; restart the dev authorization server")

func (g *grantStore) init(clientID, clientSecret string) {
	g.clients = map[string]*client{clientID: {
		ID: clientID, Secret: clientSecret, AuthMethod: authBasic, GrantTypes: []string{grantClientCredentials},
	}}
	g.logins = map[string]*authRequest{}
	g.codes = map[string]*authRequest{}
	g.refresh = map[string]*refreshGrant{}
}

func (g *grantStore) client(id string) *client {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.clients[id]
}

// putBounded stores v under k, first dropping expired entries when m is
// full; it fails when m is still full.
func putBounded[V interface{ expiry() time.Time }](m map[string]V, k string, v V) error {
	now := time.Now()
	if len(m) >= maxGrants {
		for k2, v2 := range m {
			if now.After(v2.expiry()) {
				delete(m, k2)
			}
		}
	}
	if len(m) >= maxGrants {
		return errFull
	}
	m[k] = v
	return nil
}

// take removes and returns the live entry k of m.
func take[V interface{ expiry() time.Time }](m map[string]V, k string) (V, bool) {
	v, ok := m[k]
	if ok {
		delete(m, k)
	}
	if !ok || time.Now().After(v.expiry()) {
		var zero V
		return zero, false
	}
	return v, true
}

// randomToken returns n random bytes, base64url encoded.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// ---- client authentication (token endpoint) -------------------------------

// authenticateClient identifies and authenticates the client of a token
// request (RFC 6749 §2.3.1): HTTP Basic or client_id/client_secret in the
// form for confidential clients, client_id alone for public ones.
func (s *Server) authenticateClient(r *http.Request, form url.Values) (*client, *oauthError) {
	basicID, basicSecret, hasBasic := r.BasicAuth()
	if hasBasic {
		// The Basic credentials are form-urlencoded before base64 encoding.
		id, err1 := url.QueryUnescape(basicID)
		sec, err2 := url.QueryUnescape(basicSecret)
		if err1 != nil || err2 != nil {
			return nil, &oauthError{http.StatusUnauthorized, "invalid_client", "malformed basic credentials"}
		}
		basicID, basicSecret = id, sec
	}
	_, hasFormID := form["client_id"]
	_, hasFormSecret := form["client_secret"]
	var id, secret string
	switch {
	case hasBasic && hasFormSecret:
		return nil, badRequest("invalid_request", "more than one client authentication method")
	case hasBasic:
		id, secret = basicID, basicSecret
		if hasFormID && form.Get("client_id") != basicID {
			return nil, badRequest("invalid_request", "client_id does not match basic credentials")
		}
	case hasFormID || hasFormSecret:
		id, secret = form.Get("client_id"), form.Get("client_secret")
	default:
		return nil, &oauthError{http.StatusUnauthorized, "invalid_client", "client authentication required"}
	}
	failed := &oauthError{http.StatusUnauthorized, "invalid_client", "client authentication failed"}
	c := s.grants.client(id)
	if c == nil {
		return nil, failed
	}
	if c.AuthMethod == authNone {
		if secret != "" {
			return nil, failed // a public client has no secret to present
		}
		return c, nil
	}
	if subtle.ConstantTimeCompare([]byte(secret), []byte(c.Secret)) != 1 {
		return nil, failed
	}
	return c, nil
}

// ---- dynamic client registration (RFC 7591) --------------------------------

// clientMetadata is the part of an RFC 7591 registration request the
// server uses; other members are ignored (RFC 7591 §2).
type clientMetadata struct {
	RedirectURIs            []string `json:"redirect_uris"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	ClientName              string   `json:"client_name"`
	Scope                   string   `json:"scope"`
}

// registrationError is an RFC 7591 §3.2.2 error.
func registrationError(w http.ResponseWriter, code, desc string) {
	writeJSON(w, http.StatusBadRequest, &oauthError{Code: code, Description: desc})
}

func (s *Server) serveRegister(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	var md clientMetadata
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRegistrationBytes))
	if err := dec.Decode(&md); err != nil {
		registrationError(w, "invalid_client_metadata", "the body must be a JSON object of client metadata (RFC 7591)")
		return
	}
	c, code, desc := s.newClient(md)
	if c == nil {
		registrationError(w, code, desc)
		return
	}
	s.grants.mu.Lock()
	full := len(s.grants.clients) >= maxClients+1 // +1: the built-in client
	if !full {
		s.grants.clients[c.ID] = c
	}
	s.grants.mu.Unlock()
	if full {
		registrationError(w, "invalid_client_metadata", fmt.Sprintf("more than %d registered clients; restart the dev authorization server", maxClients))
		return
	}
	resp := map[string]any{
		"client_id":                  c.ID,
		"client_id_issued_at":        time.Now().Unix(),
		"redirect_uris":              c.RedirectURIs,
		"grant_types":                c.GrantTypes,
		"response_types":             c.ResponseTypes,
		"token_endpoint_auth_method": c.AuthMethod,
	}
	if c.Name != "" {
		resp["client_name"] = c.Name
	}
	if c.Scope != "" {
		resp["scope"] = c.Scope
	}
	if c.Secret != "" {
		resp["client_secret"] = c.Secret
		resp["client_secret_expires_at"] = 0
	}
	writeJSON(w, http.StatusCreated, resp)
}

// newClient validates registration metadata and returns the new client,
// or nil and an RFC 7591 error code and description.
func (s *Server) newClient(md clientMetadata) (*client, string, string) {
	const bad = "invalid_client_metadata"
	c := &client{
		AuthMethod:    md.TokenEndpointAuthMethod,
		GrantTypes:    dedup(md.GrantTypes),
		ResponseTypes: dedup(md.ResponseTypes),
		Name:          md.ClientName,
		Scope:         strings.Join(strings.Fields(md.Scope), " "),
	}
	if c.AuthMethod == "" {
		c.AuthMethod = authBasic // the RFC 7591 §2 default
	}
	if !slices.Contains([]string{authNone, authBasic, authPost}, c.AuthMethod) {
		return nil, bad, "token_endpoint_auth_method must be none, client_secret_basic or client_secret_post"
	}
	if len(c.GrantTypes) == 0 {
		c.GrantTypes = []string{grantAuthorizationCode}
	}
	for _, gt := range c.GrantTypes {
		if !slices.Contains([]string{grantAuthorizationCode, grantRefreshToken, grantClientCredentials}, gt) {
			return nil, bad, fmt.Sprintf("unsupported grant type %q (supported: authorization_code, refresh_token, client_credentials)", gt)
		}
	}
	if slices.Contains(c.GrantTypes, grantClientCredentials) && c.AuthMethod == authNone {
		return nil, bad, "the client_credentials grant needs a confidential client (token_endpoint_auth_method client_secret_basic or client_secret_post)"
	}
	if len(c.ResponseTypes) == 0 {
		c.ResponseTypes = []string{"code"}
	}
	if !slices.Equal(c.ResponseTypes, []string{"code"}) {
		return nil, bad, `response_types must be ["code"]`
	}
	for _, sc := range strings.Fields(c.Scope) {
		if !validScopeToken(sc) {
			return nil, bad, fmt.Sprintf("invalid scope token %q", sc)
		}
	}
	if len(md.RedirectURIs) == 0 && slices.Contains(c.GrantTypes, grantAuthorizationCode) {
		return nil, "invalid_redirect_uri", "the authorization_code grant needs at least one redirect URI"
	}
	for _, u := range md.RedirectURIs {
		if err := checkRedirectURI(u); err != nil {
			return nil, "invalid_redirect_uri", fmt.Sprintf("redirect URI %q: %v", u, err)
		}
	}
	c.RedirectURIs = slices.Clone(md.RedirectURIs)
	c.ID = "dcr-" + randomToken(12)
	if c.AuthMethod != authNone {
		c.Secret = randomToken(24)
	}
	return c, "", ""
}

func dedup(in []string) []string {
	var out []string
	for _, v := range in {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// isLoopbackHost reports whether host (no brackets, no port) is a loopback
// IP literal or "localhost".
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkRedirectURI accepts an absolute URI without fragment or userinfo:
// https anywhere, http only on loopback (RFC 8252 §7.3), or a private-use
// scheme of a native app (RFC 8252 §7.1).
func checkRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Fragment != "" || strings.Contains(raw, "#") || u.User != nil {
		return errors.New("must be an absolute URI without fragment or userinfo")
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		if u.Host == "" {
			return errors.New("https redirect URI without host")
		}
	case "http":
		if !isLoopbackHost(u.Hostname()) {
			return errors.New("an http redirect URI must be on loopback (127.0.0.1, [::1] or localhost); use https otherwise")
		}
	case "javascript", "data", "file", "vbscript", "about", "blob":
		return fmt.Errorf("scheme %q is not allowed", u.Scheme)
	}
	return nil
}

// redirectMatches reports whether requested matches the registered
// redirect URI: exactly, or for an http loopback URI with any port
// (RFC 8252 §7.3; scheme, host, path and query still exact).
func redirectMatches(registered, requested string) bool {
	if registered == requested {
		return true
	}
	ru, err1 := url.Parse(registered)
	qu, err2 := url.Parse(requested)
	if err1 != nil || err2 != nil || ru.Scheme != "http" || qu.Scheme != "http" || !isLoopbackHost(ru.Hostname()) {
		return false
	}
	return ru.Hostname() == qu.Hostname() && ru.EscapedPath() == qu.EscapedPath() && ru.RawQuery == qu.RawQuery &&
		qu.Fragment == "" && !strings.Contains(requested, "#") && qu.User == nil && ru.User == nil
}

func (c *client) allowsRedirect(uri string) bool {
	return slices.ContainsFunc(c.RedirectURIs, func(reg string) bool { return redirectMatches(reg, uri) })
}

// ---- authorization endpoint and login page ---------------------------------

// validPKCE reports whether v is a well-formed RFC 7636 code verifier or
// S256 challenge: 43 to 128 unreserved characters.
func validPKCE(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// withParams returns uri with the non-empty params added to its query.
func withParams(uri string, params [][2]string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return uri // registered URIs parse; not reached
	}
	q := u.Query()
	for _, p := range params {
		if p[1] != "" {
			q.Set(p[0], p[1])
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// pageHeaders are the headers of every HTML page: never cached, never
// framed, no scripts, no Referer leaking the login request id.
func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; form-action 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
}

// errorPage answers with an HTML error (used while the redirect URI is not
// yet known to be good, so nothing may be redirected to it).
func errorPage(w http.ResponseWriter, status int, msg string) {
	pageHeaders(w)
	w.WriteHeader(status)
	_ = pageTemplate.ExecuteTemplate(w, "error", msg)
}

// redirectError sends an authorization error response to the client's
// redirect URI (RFC 6749 §4.1.2.1).
//
// Authorization responses carry no RFC 9207 "iss" and the metadata does not
// advertise it: with a single authorization server on loopback there is no
// mix-up to defend against, and clients disagree on the optional parameter
// (the Go SDK refuses an unadvertised iss; TypeScript SDK applications that
// pass only the code to finishAuth fail when it is advertised).
func (s *Server) redirectError(w http.ResponseWriter, r *http.Request, redirectURI, state, code, desc string) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, withParams(redirectURI, [][2]string{{"error", code}, {"error_description", desc}, {"state", state}}), http.StatusFound)
}

// grantableScopes resolves the "scope" of an authorization request: none
// (or an empty one) means every scope of the server; otherwise the
// requested scopes the server offers, in order (others, such as
// offline_access or openid, are left out, as RFC 6749 §3.3 allows: the
// token response names the granted scope).
func (s *Server) grantableScopes(raw string) ([]string, *oauthError) {
	requested := dedup(strings.Fields(raw))
	if len(requested) == 0 {
		return slices.Clone(s.opts.Scopes), nil
	}
	var granted []string
	for _, sc := range requested {
		if slices.Contains(s.opts.Scopes, sc) {
			granted = append(granted, sc)
		}
	}
	if len(granted) == 0 {
		return nil, badRequest("invalid_scope", "none of the requested scopes is offered (offered: "+strings.Join(s.opts.Scopes, " ")+")")
	}
	return granted, nil
}

// singleParams are the authorization request parameters that must not
// repeat (RFC 6749 §3.1).
var singleParams = []string{"response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method"}

func (s *Server) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	// Until the client and its redirect URI check out, errors are shown
	// here and never redirected (RFC 6749 §4.1.2.1).
	for _, p := range []string{"client_id", "redirect_uri"} {
		if len(q[p]) > 1 {
			errorPage(w, http.StatusBadRequest, "The request repeats the "+p+" parameter.")
			return
		}
	}
	clientID, redirectURI := q.Get("client_id"), q.Get("redirect_uri")
	if clientID == "" {
		errorPage(w, http.StatusBadRequest, "The request has no client_id.")
		return
	}
	c := s.grants.client(clientID)
	if c == nil {
		errorPage(w, http.StatusBadRequest, "Unknown client_id "+clientID+". This dev server keeps registered clients in memory only, so a restart forgets them: "+
			"let the MCP client register again (clear its stored OAuth state for this server, e.g. the Inspector CLI's --relogin).")
		return
	}
	if redirectURI == "" {
		errorPage(w, http.StatusBadRequest, "The request has no redirect_uri.")
		return
	}
	if !c.allowsRedirect(redirectURI) {
		errorPage(w, http.StatusBadRequest, "The redirect_uri "+redirectURI+" is not registered for client "+clientID+".")
		return
	}
	state := q.Get("state")
	fail := func(oerr *oauthError) { s.redirectError(w, r, redirectURI, state, oerr.Code, oerr.Description) }
	for _, p := range singleParams {
		if len(q[p]) > 1 {
			fail(badRequest("invalid_request", "the "+p+" parameter is repeated"))
			return
		}
	}
	switch rt := q.Get("response_type"); {
	case rt == "":
		fail(badRequest("invalid_request", "missing response_type"))
		return
	case rt != "code":
		fail(badRequest("unsupported_response_type", "only response_type=code is supported"))
		return
	case !slices.Contains(c.GrantTypes, grantAuthorizationCode):
		fail(badRequest("unauthorized_client", "this client is not registered for the authorization_code grant"))
		return
	}
	challenge := q.Get("code_challenge")
	switch {
	case challenge == "":
		fail(badRequest("invalid_request", "code_challenge is required (PKCE, S256)"))
		return
	case q.Get("code_challenge_method") != "S256":
		fail(badRequest("invalid_request", "code_challenge_method must be S256"))
		return
	case !validPKCE(challenge):
		fail(badRequest("invalid_request", "malformed code_challenge"))
		return
	}
	resource, oerr := s.resourceParam(q["resource"], s.opts.Resources[0])
	if oerr != nil {
		fail(oerr)
		return
	}
	scopes, oerr := s.grantableScopes(q.Get("scope"))
	if oerr != nil {
		fail(oerr)
		return
	}
	id := randomToken(24)
	req := &authRequest{ClientID: c.ID, RedirectURI: redirectURI, State: state, Challenge: challenge, Resource: resource, Scopes: scopes,
		expires: time.Now().Add(LoginTTL)}
	s.grants.mu.Lock()
	err := putBounded(s.grants.logins, id, req)
	s.grants.mu.Unlock()
	if err != nil {
		fail(&oauthError{Code: "temporarily_unavailable", Description: err.Error()})
		return
	}
	page := loginPage{Issuer: s.opts.Issuer, ClientID: c.ID, ClientName: c.Name, Resource: resource, Scopes: strings.Join(scopes, " "),
		RedirectURI: redirectURI, DenyHref: s.approveURL(url.Values{"request": {id}, "deny": {"1"}})}
	if page.ClientName == "" {
		page.ClientName = "An MCP client"
	}
	for _, u := range s.opts.Users {
		page.Users = append(page.Users, loginUser{Name: u, Href: s.approveURL(url.Values{"request": {id}, "user": {u}})})
	}
	pageHeaders(w)
	w.WriteHeader(http.StatusOK)
	_ = pageTemplate.ExecuteTemplate(w, "login", page)
}

func (s *Server) approveURL(v url.Values) string {
	return s.AuthorizationURL() + "/approve?" + v.Encode()
}

// serveApprove is where the login page's links lead: ?request=ID&user=U
// issues a code for user U and redirects to the client; ?request=ID&deny=1
// redirects with access_denied. A login request is used once.
func (s *Server) serveApprove(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id, user, deny := q.Get("request"), q.Get("user"), q.Get("deny") != ""
	if !deny && !slices.Contains(s.opts.Users, user) {
		errorPage(w, http.StatusBadRequest, "Unknown user. Pick one of the users on the login page.")
		return
	}
	s.grants.mu.Lock()
	req, ok := take(s.grants.logins, id)
	s.grants.mu.Unlock()
	if !ok {
		errorPage(w, http.StatusBadRequest, "This sign-in request has expired or was already used. Start again from your MCP client.")
		return
	}
	if deny {
		s.redirectError(w, r, req.RedirectURI, req.State, "access_denied", "the user denied the request")
		return
	}
	req.User = user
	req.expires = time.Now().Add(CodeTTL)
	code := randomToken(32)
	s.grants.mu.Lock()
	err := putBounded(s.grants.codes, code, req)
	s.grants.mu.Unlock()
	if err != nil {
		s.redirectError(w, r, req.RedirectURI, req.State, "temporarily_unavailable", err.Error())
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, withParams(req.RedirectURI, [][2]string{{"code", code}, {"state", req.State}}), http.StatusFound)
}

// ---- authorization_code and refresh_token grants ---------------------------

// exchangeCode runs the authorization_code grant (with PKCE) for client c.
func (s *Server) exchangeCode(c *client, form url.Values) (*TokenResponse, *oauthError) {
	code, verifier := form.Get("code"), form.Get("code_verifier")
	switch {
	case code == "":
		return nil, badRequest("invalid_request", "missing code")
	case verifier == "":
		return nil, badRequest("invalid_request", "missing code_verifier (PKCE)")
	case !validPKCE(verifier):
		return nil, badRequest("invalid_request", "malformed code_verifier")
	}
	// The code is used up by this request, whatever its outcome.
	s.grants.mu.Lock()
	req, ok := take(s.grants.codes, code)
	s.grants.mu.Unlock()
	if !ok {
		return nil, badRequest("invalid_grant", "authorization code is invalid, expired or already used")
	}
	if req.ClientID != c.ID {
		return nil, badRequest("invalid_grant", "authorization code was issued to another client")
	}
	if form.Get("redirect_uri") != req.RedirectURI {
		return nil, badRequest("invalid_grant", "redirect_uri does not match the authorization request")
	}
	sum := sha256.Sum256([]byte(verifier))
	if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(req.Challenge)) != 1 {
		return nil, badRequest("invalid_grant", "PKCE verification failed (code_verifier does not match code_challenge)")
	}
	aud, oerr := s.resourceParam(form["resource"], req.Resource)
	if oerr != nil {
		return nil, oerr
	}
	if aud != req.Resource {
		return nil, badRequest("invalid_target", "resource differs from the authorization request")
	}
	refresh, oerr := s.newRefreshToken(c, req.User, req.Resource, req.Scopes)
	if oerr != nil {
		return nil, oerr
	}
	return s.tokenResponse(req.User, c.ID, req.Scopes, aud, refresh)
}

// newRefreshToken stores a refresh grant and returns its token, or "" when
// c is not registered for the refresh_token grant.
func (s *Server) newRefreshToken(c *client, user, resource string, scopes []string) (string, *oauthError) {
	if !slices.Contains(c.GrantTypes, grantRefreshToken) {
		return "", nil
	}
	rt := randomToken(32)
	s.grants.mu.Lock()
	err := putBounded(s.grants.refresh, rt, &refreshGrant{ClientID: c.ID, User: user, Resource: resource, Scopes: scopes, expires: time.Now().Add(RefreshTTL)})
	s.grants.mu.Unlock()
	if err != nil {
		return "", &oauthError{http.StatusServiceUnavailable, "temporarily_unavailable", err.Error()}
	}
	return rt, nil
}

// refresh runs the refresh_token grant for client c. The refresh token is
// rotated: the new response carries a new one and the old one is spent.
// A narrower scope may be asked for; the refresh grant keeps the original.
func (s *Server) refresh(c *client, form url.Values) (*TokenResponse, *oauthError) {
	rt := form.Get("refresh_token")
	if rt == "" {
		return nil, badRequest("invalid_request", "missing refresh_token")
	}
	s.grants.mu.Lock()
	g, ok := s.grants.refresh[rt]
	s.grants.mu.Unlock()
	if !ok || time.Now().After(g.expires) || g.ClientID != c.ID {
		return nil, badRequest("invalid_grant", "refresh token is invalid, expired, already used or issued to another client")
	}
	scopes := g.Scopes
	if raw, ok := form["scope"]; ok {
		requested := dedup(strings.Fields(strings.Join(raw, " ")))
		if len(requested) == 0 {
			return nil, badRequest("invalid_scope", "empty scope")
		}
		for _, sc := range requested {
			if !slices.Contains(g.Scopes, sc) {
				return nil, badRequest("invalid_scope", "a refresh cannot widen the grant (granted: "+strings.Join(g.Scopes, " ")+"); authorize again")
			}
		}
		scopes = requested
	}
	aud, oerr := s.resourceParam(form["resource"], g.Resource)
	if oerr != nil {
		return nil, oerr
	}
	if aud != g.Resource {
		return nil, badRequest("invalid_target", "resource differs from the original authorization")
	}
	s.grants.mu.Lock()
	_, live := take(s.grants.refresh, rt)
	s.grants.mu.Unlock()
	if !live {
		return nil, badRequest("invalid_grant", "refresh token is invalid, expired, already used or issued to another client")
	}
	next, oerr := s.newRefreshToken(c, g.User, g.Resource, g.Scopes)
	if oerr != nil {
		return nil, oerr
	}
	return s.tokenResponse(g.User, c.ID, scopes, aud, next)
}

// ---- HTML ------------------------------------------------------------------

type loginUser struct{ Name, Href string }

type loginPage struct {
	Issuer, ClientID, ClientName, Resource, Scopes, RedirectURI, DenyHref string
	Users                                                                 []loginUser
}

var pageTemplate = template.Must(template.New("").Parse(`
{{define "style"}}<style>
body{font-family:system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#222}
.warn{background:#fff3cd;border:1px solid #e0c36a;padding:.5rem .75rem;border-radius:4px}
code{background:#f2f2f2;padding:0 .25rem;border-radius:3px}
ul.users{list-style:none;padding:0}
ul.users li{margin:.5rem 0}
a.user{display:inline-block;padding:.5rem 1rem;background:#1f6feb;color:#fff;border-radius:4px;text-decoration:none}
a.deny{color:#a40e26}
.small{font-size:.9rem;color:#555}
</style>{{end}}
{{define "login"}}<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in - mcp-sidecar dev authorization server</title>{{template "style"}}</head>
<body>
<p class="warn"><strong>Development authorization server, not for production.</strong> Loopback only, no passwords: pick a dev user.</p>
<h1>Sign in</h1>
<p><strong>{{.ClientName}}</strong> <span class="small">(client_id <code>{{.ClientID}}</code>)</span> asks for access to <code>{{.Resource}}</code>.</p>
<p class="consent">Scopes granted: <code id="scopes">{{.Scopes}}</code></p>
<ul class="users">
{{range .Users}}<li><a class="user" data-user="{{.Name}}" href="{{.Href}}">Sign in as {{.Name}}</a></li>
{{end}}</ul>
<p><a class="deny" href="{{.DenyHref}}">Deny</a></p>
<p class="small">You will be sent back to <code>{{.RedirectURI}}</code>. Issuer <code>{{.Issuer}}</code>.</p>
</body>
</html>
{{end}}
{{define "error"}}<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Error - mcp-sidecar dev authorization server</title>{{template "style"}}</head>
<body>
<p class="warn"><strong>Development authorization server, not for production.</strong></p>
<h1>Cannot sign in</h1>
<p class="error">{{.}}</p>
</body>
</html>
{{end}}`))
