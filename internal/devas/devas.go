// Package devas is a small built-in development authorization server.
//
// It exists for the `mcp-sidecar dev` demo and for tests. It is a small but
// honest OAuth 2.1 authorization server for MCP clients, loopback only, with
// all state in memory, and NOT meant for production:
//
//   - RFC 8414 / OpenID discovery metadata and a JWKS;
//   - the authorization code grant with PKCE (S256 only) and a login page
//     that offers a few built-in dev users (a user picker, no password) and
//     shows the scopes being granted;
//   - RFC 7591 dynamic client registration (public clients with
//     token_endpoint_auth_method "none", and confidential ones);
//   - refresh tokens (rotated on every use);
//   - the client_credentials grant for the built-in confidential client
//     ([Options.ClientID] / [Options.ClientSecret]) and for registered
//     confidential clients;
//   - RFC 8707 resource indicators: every token is an RFC 9068 JWT whose
//     "aud" is one resource from [Options.Resources].
//
// Redirect URIs match exactly, except that a registered loopback redirect
// URI (http://127.0.0.1, http://[::1] or http://localhost) matches any port
// (RFC 8252 §7.3).
//
// Endpoints (relative to the issuer; an issuer path p is honoured):
//
//	GET  /.well-known/oauth-authorization-server{p}  RFC 8414 metadata
//	GET  {p}/.well-known/openid-configuration        same document (OIDC form)
//	GET  {p}/jwks                                    public JWKS
//	GET  {p}/authorize                               authorization endpoint: the login page
//	GET  {p}/authorize/approve                       the login page's links: issue a code, or deny
//	POST {p}/token                                   authorization_code, refresh_token, client_credentials
//	POST {p}/register                                RFC 7591 dynamic client registration
//
// Token endpoint errors follow RFC 6749 §5.2: a missing or wrong client gets
// 401 invalid_client, an unknown grant 400 unsupported_grant_type, a grant
// the client may not use 400 unauthorized_client, a resource not in
// [Options.Resources] 400 invalid_target (RFC 8707), a scope outside
// [Options.Scopes] (client_credentials) 400 invalid_scope, and a bad, used
// or expired code or refresh token 400 invalid_grant.
//
// Nothing here logs; codes, tokens and secrets only ever appear in the
// responses that carry them.
package devas

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// Defaults applied by [New] to zero-valued [Options] fields.
const (
	DefaultClientID     = "dev-client"
	DefaultClientSecret = "dev-secret"
	DefaultAlg          = "ES256"
	DefaultKeyID        = "dev-1"
	DefaultTokenTTL     = time.Hour
)

// DefaultScopes is the scope set used when [Options.Scopes] is empty.
func DefaultScopes() []string { return []string{"mcp:read", "mcp:write"} }

// DefaultUsers are the dev users the login page offers when [Options.Users]
// is empty.
func DefaultUsers() []string { return []string{"dev-user", "alice", "bob"} }

// maxTokenRequestBytes bounds the size of a token request body.
const maxTokenRequestBytes = 64 << 10

// Options configures a [Server].
type Options struct {
	// Issuer is the exact "iss" value and the base URL of the endpoints,
	// e.g. "http://127.0.0.1:9090". Required; must be an absolute http(s)
	// URL without query or fragment. A trailing slash is kept in "iss" but
	// ignored when building endpoint URLs.
	Issuer string
	// Resources are the allowed RFC 8707 "resource" values (token audiences).
	// At least one is required; the first is used when a token request has
	// no "resource" parameter.
	Resources []string
	// Scopes are the scopes the server may grant. A token request without
	// "scope" is granted all of them. Default: [DefaultScopes].
	Scopes []string
	// ClientID and ClientSecret are the only accepted client credentials.
	// Defaults: [DefaultClientID] and [DefaultClientSecret].
	ClientID, ClientSecret string
	// Alg is the JWS algorithm: "ES256" (default, P-256), "RS256" (RSA 2048)
	// or "EdDSA" (Ed25519).
	Alg string
	// KeyID is the "kid" of the initial signing key. Default: [DefaultKeyID].
	// Keys created by [Server.RotateKey] are named "<KeyID>-r<n>".
	KeyID string
	// TokenTTL is the lifetime of tokens issued by the token endpoint and the
	// default for [Server.Mint]. Default: [DefaultTokenTTL].
	TokenTTL time.Duration
	// Users are the dev users the login page offers; the chosen one is the
	// "sub" of the tokens. Default: [DefaultUsers].
	Users []string
}

// signingKey is one generation of the server's signing key.
type signingKey struct {
	kid  string
	priv crypto.Signer
}

// Server is a development authorization server. It is safe for concurrent
// use. Create it with [New].
type Server struct {
	opts    Options
	baseURL string // issuer without trailing slash
	method  jwt.SigningMethod
	handler http.Handler

	mu       sync.RWMutex
	current  signingKey
	previous *signingKey // the key replaced by the last RotateKey, if any
	rotation int

	// grants holds registered clients, pending logins, codes and refresh
	// tokens (see oauth.go).
	grants grantStore
}

// New validates opts, applies defaults, generates the first signing key and
// returns a ready [Server].
func New(opts Options) (*Server, error) {
	if opts.Issuer == "" {
		return nil, errors.New("devas: Options.Issuer is required")
	}
	iu, err := url.Parse(opts.Issuer)
	if err != nil {
		return nil, fmt.Errorf("devas: parse issuer %q: %w", opts.Issuer, err)
	}
	if (iu.Scheme != "http" && iu.Scheme != "https") || iu.Host == "" || iu.RawQuery != "" || iu.Fragment != "" || iu.User != nil {
		return nil, fmt.Errorf("devas: issuer %q must be an absolute http(s) URL without userinfo, query or fragment", opts.Issuer)
	}
	if len(opts.Resources) == 0 {
		return nil, errors.New("devas: Options.Resources needs at least one resource")
	}
	opts.Resources = slices.Clone(opts.Resources)
	for _, r := range opts.Resources {
		if err := validateResource(r); err != nil {
			return nil, fmt.Errorf("devas: resource %q: %w", r, err)
		}
	}
	if len(opts.Scopes) == 0 {
		opts.Scopes = DefaultScopes()
	} else {
		opts.Scopes = slices.Clone(opts.Scopes)
	}
	for _, sc := range opts.Scopes {
		if !validScopeToken(sc) {
			return nil, fmt.Errorf("devas: invalid scope token %q", sc)
		}
	}
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = DefaultClientSecret
	}
	if opts.Alg == "" {
		opts.Alg = DefaultAlg
	}
	if opts.KeyID == "" {
		opts.KeyID = DefaultKeyID
	}
	if opts.TokenTTL == 0 {
		opts.TokenTTL = DefaultTokenTTL
	}
	if opts.TokenTTL < 0 {
		return nil, fmt.Errorf("devas: negative TokenTTL %v", opts.TokenTTL)
	}
	if len(opts.Users) == 0 {
		opts.Users = DefaultUsers()
	} else {
		opts.Users = slices.Clone(opts.Users)
	}
	for _, u := range opts.Users {
		if !validScopeToken(u) {
			return nil, fmt.Errorf("devas: invalid user name %q (printable ASCII without spaces or quotes)", u)
		}
	}
	if slices.Contains(opts.Users, opts.ClientID) {
		return nil, fmt.Errorf("devas: user %q is also the client_credentials client id", opts.ClientID)
	}

	var method jwt.SigningMethod
	switch opts.Alg {
	case "ES256":
		method = jwt.SigningMethodES256
	case "RS256":
		method = jwt.SigningMethodRS256
	case "EdDSA":
		method = jwt.SigningMethodEdDSA
	default:
		return nil, fmt.Errorf("devas: unsupported Alg %q (want ES256, RS256 or EdDSA)", opts.Alg)
	}

	priv, err := generateKey(opts.Alg)
	if err != nil {
		return nil, fmt.Errorf("devas: generate initial key: %w", err)
	}
	s := &Server{
		opts:    opts,
		baseURL: strings.TrimSuffix(opts.Issuer, "/"),
		method:  method,
		current: signingKey{kid: opts.KeyID, priv: priv},
	}
	s.grants.init(opts.ClientID, opts.ClientSecret)
	s.handler = s.routes(strings.TrimSuffix(iu.EscapedPath(), "/"))
	return s, nil
}

// validateResource checks that r is an absolute URI without fragment
// (RFC 8707 §2).
func validateResource(r string) error {
	u, err := url.Parse(r)
	if err != nil {
		return fmt.Errorf("parse: %w", err)
	}
	if !u.IsAbs() || u.Fragment != "" || strings.Contains(r, "#") {
		return errors.New("must be an absolute URI without fragment")
	}
	return nil
}

// validScopeToken reports whether s is an RFC 6749 §3.3 scope-token.
func validScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// generateKey creates a fresh private key for alg.
func generateKey(alg string) (crypto.Signer, error) {
	switch alg {
	case "ES256":
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("ecdsa P-256: %w", err)
		}
		return k, nil
	case "RS256":
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, fmt.Errorf("rsa 2048: %w", err)
		}
		return k, nil
	case "EdDSA":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("ed25519: %w", err)
		}
		return k, nil
	default:
		return nil, fmt.Errorf("unsupported alg %q", alg)
	}
}

// Issuer returns the exact issuer ("iss") of this server.
func (s *Server) Issuer() string { return s.opts.Issuer }

// Alg returns the JWS algorithm used to sign tokens.
func (s *Server) Alg() string { return s.opts.Alg }

// ClientID returns the accepted client_id.
func (s *Server) ClientID() string { return s.opts.ClientID }

// ClientSecret returns the accepted client secret.
func (s *Server) ClientSecret() string { return s.opts.ClientSecret }

// Resources returns a copy of the allowed resource values; the first one is
// the default audience.
func (s *Server) Resources() []string { return slices.Clone(s.opts.Resources) }

// Scopes returns a copy of the scopes the server can grant.
func (s *Server) Scopes() []string { return slices.Clone(s.opts.Scopes) }

// Users returns a copy of the dev users the login page offers.
func (s *Server) Users() []string { return slices.Clone(s.opts.Users) }

// JWKSURL returns the absolute URL of the JWKS endpoint.
func (s *Server) JWKSURL() string { return s.baseURL + "/jwks" }

// TokenURL returns the absolute URL of the token endpoint.
func (s *Server) TokenURL() string { return s.baseURL + "/token" }

// AuthorizationURL returns the absolute URL of the authorization endpoint
// (the login page).
func (s *Server) AuthorizationURL() string { return s.baseURL + "/authorize" }

// RegistrationURL returns the absolute URL of the RFC 7591 dynamic client
// registration endpoint.
func (s *Server) RegistrationURL() string { return s.baseURL + "/register" }

// KeyID returns the "kid" of the key currently used for signing.
func (s *Server) KeyID() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.current.kid
}

// RotateKey generates a new signing key with a new kid ("<KeyID>-r<n>").
// New tokens are signed with it; the JWKS then serves the new key and the
// one it replaced (older keys are dropped), so tokens minted before the
// rotation keep verifying until the next rotation.
func (s *Server) RotateKey() error {
	priv, err := generateKey(s.opts.Alg)
	if err != nil {
		return fmt.Errorf("devas: rotate key: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rotation++
	prev := s.current
	s.previous = &prev
	s.current = signingKey{kid: fmt.Sprintf("%s-r%d", s.opts.KeyID, s.rotation), priv: priv}
	return nil
}

// publicKeySet returns the public keys currently published, newest first.
func (s *Server) publicKeySet() jose.JSONWebKeySet {
	s.mu.RLock()
	defer s.mu.RUnlock()
	keys := []signingKey{s.current}
	if s.previous != nil {
		keys = append(keys, *s.previous)
	}
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(keys))}
	for _, k := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{
			Key:       k.priv.Public(),
			KeyID:     k.kid,
			Algorithm: s.opts.Alg,
			Use:       "sig",
		})
	}
	return set
}

// JWKS returns the public JSON Web Key Set (current key first, then the
// previous key after a rotation). Each key carries kid, alg and use "sig";
// no private material is included.
func (s *Server) JWKS() []byte {
	b, err := json.Marshal(s.publicKeySet())
	if err != nil {
		// Marshaling public ECDSA/RSA/Ed25519 keys cannot fail; keep the
		// signature simple for callers and surface the impossible case loudly.
		panic(fmt.Sprintf("devas: marshal JWKS: %v", err))
	}
	return b
}

// Mint signs an RFC 9068 access token with the current key.
//
// Claims: iss (the issuer), sub, aud (aud, or the first resource when aud
// is empty), client_id (the configured client), scope (space separated;
// omitted when scopes is empty), iat, exp (iat+ttl; ttl 0 means
// [Options.TokenTTL], a negative ttl yields an already expired token) and a
// random jti. Entries in extra are added to the claims and override the
// standard ones; an entry with a nil value removes that claim, which lets
// tests forge tokens with missing claims. The header is
// {"alg":<Alg>,"typ":"at+jwt","kid":<current kid>}.
//
// Mint does not check aud or scopes against [Options]; it is a test and
// demo helper.
func (s *Server) Mint(sub string, scopes []string, aud string, ttl time.Duration, extra map[string]any) (string, error) {
	return s.mint(sub, s.opts.ClientID, scopes, aud, ttl, extra)
}

// mint is [Server.Mint] with the "client_id" claim given.
func (s *Server) mint(sub, clientID string, scopes []string, aud string, ttl time.Duration, extra map[string]any) (string, error) {
	if ttl == 0 {
		ttl = s.opts.TokenTTL
	}
	if aud == "" {
		aud = s.opts.Resources[0]
	}
	now := time.Now()
	jti, err := randomID()
	if err != nil {
		return "", fmt.Errorf("devas: mint: %w", err)
	}
	claims := map[string]any{
		"iss":       s.opts.Issuer,
		"sub":       sub,
		"aud":       aud,
		"client_id": clientID,
		"iat":       now.Unix(),
		"exp":       now.Add(ttl).Unix(),
		"jti":       jti,
	}
	if len(scopes) > 0 {
		claims["scope"] = strings.Join(scopes, " ")
	}
	for k, v := range extra {
		if v == nil {
			delete(claims, k)
			continue
		}
		claims[k] = v
	}
	tok, err := s.Sign(claims, nil)
	if err != nil {
		return "", fmt.Errorf("devas: mint: %w", err)
	}
	return tok, nil
}

// Sign signs arbitrary claims with the current key. The header starts as
// {"alg":<Alg>,"typ":"at+jwt","kid":<current kid>}; entries in header
// override or add header parameters (a nil value removes one, except "alg",
// which always reflects the signing key). It is meant for tests that need
// tokens the RS must reject (wrong typ, unknown kid, ...).
func (s *Server) Sign(claims map[string]any, header map[string]any) (string, error) {
	s.mu.RLock()
	key := s.current
	s.mu.RUnlock()

	tok := jwt.NewWithClaims(s.method, jwt.MapClaims(claims))
	tok.Header["typ"] = "at+jwt"
	tok.Header["kid"] = key.kid
	for k, v := range header {
		if k == "alg" {
			continue
		}
		if v == nil {
			delete(tok.Header, k)
			continue
		}
		tok.Header[k] = v
	}
	signed, err := tok.SignedString(key.priv)
	if err != nil {
		return "", fmt.Errorf("sign %s token: %w", s.opts.Alg, err)
	}
	return signed, nil
}

// randomID returns 16 random bytes, base64url encoded.
func randomID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("read random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// Handler returns the HTTP handler serving the metadata, JWKS and token
// endpoints.
func (s *Server) Handler() http.Handler { return s.handler }

// routes builds the endpoint mux; p is the issuer path without trailing
// slash ("" for a host-only issuer).
func (s *Server) routes(p string) http.Handler {
	mux := http.NewServeMux()
	// The endpoints a browser-based client calls cross-origin allow CORS
	// (no cookies are involved anywhere).
	api := func(pattern string, h http.HandlerFunc) {
		method, path, _ := strings.Cut(pattern, " ")
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Access-Control-Allow-Origin", "*")
			h(w, r)
		})
		mux.HandleFunc("OPTIONS "+path, func(w http.ResponseWriter, _ *http.Request) {
			hdr := w.Header()
			hdr.Set("Access-Control-Allow-Origin", "*")
			hdr.Set("Access-Control-Allow-Methods", method+", OPTIONS")
			hdr.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, MCP-Protocol-Version")
			hdr.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
		})
	}
	api("GET /.well-known/oauth-authorization-server"+p, s.serveMetadata)
	api("GET "+p+"/.well-known/openid-configuration", s.serveMetadata)
	api("GET "+p+"/jwks", s.serveJWKS)
	api("POST "+p+"/token", s.serveToken)
	api("POST "+p+"/register", s.serveRegister)
	mux.HandleFunc("GET "+p+"/authorize", s.serveAuthorize)
	mux.HandleFunc("GET "+p+"/authorize/approve", s.serveApprove)
	return mux
}

// Metadata returns the RFC 8414 authorization server metadata document.
func (s *Server) Metadata() map[string]any {
	return map[string]any{
		"issuer":                                s.opts.Issuer,
		"authorization_endpoint":                s.AuthorizationURL(),
		"token_endpoint":                        s.TokenURL(),
		"registration_endpoint":                 s.RegistrationURL(),
		"jwks_uri":                              s.JWKSURL(),
		"grant_types_supported":                 []string{grantAuthorizationCode, grantRefreshToken, grantClientCredentials},
		"response_types_supported":              []string{"code"},
		"response_modes_supported":              []string{"query"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{authBasic, authPost, authNone},
		"scopes_supported":                      slices.Clone(s.opts.Scopes),
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{s.opts.Alg},
	}
}

func (s *Server) serveMetadata(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Metadata())
}

func (s *Server) serveJWKS(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(s.JWKS())
}

// TokenResponse is the successful token endpoint response (RFC 6749 §5.1).
type TokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope"`
	// RefreshToken is issued with the authorization_code and refresh_token
	// grants to clients registered for the refresh_token grant.
	RefreshToken string `json:"refresh_token,omitempty"`
}

// oauthError is an RFC 6749 §5.2 error response.
type oauthError struct {
	status      int
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func badRequest(code, desc string) *oauthError {
	return &oauthError{http.StatusBadRequest, code, desc}
}

func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	resp, oerr := s.issue(w, r)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	if oerr != nil {
		if oerr.status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="devas"`)
		}
		writeJSON(w, oerr.status, oerr)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// issue authenticates the client of token request r and runs its grant.
func (s *Server) issue(w http.ResponseWriter, r *http.Request) (*TokenResponse, *oauthError) {
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenRequestBytes)
	if err := r.ParseForm(); err != nil {
		return nil, badRequest("invalid_request", "malformed form body")
	}
	form := r.PostForm
	c, oerr := s.authenticateClient(r, form)
	if oerr != nil {
		return nil, oerr
	}
	gt := form.Get("grant_type")
	switch gt {
	case "":
		return nil, badRequest("invalid_request", "missing grant_type")
	case grantClientCredentials, grantAuthorizationCode, grantRefreshToken:
	default:
		return nil, badRequest("unsupported_grant_type", "supported grants: authorization_code, refresh_token, client_credentials")
	}
	if !slices.Contains(c.GrantTypes, gt) || (gt == grantClientCredentials && c.AuthMethod == authNone) {
		return nil, badRequest("unauthorized_client", "this client is not registered for the "+gt+" grant")
	}
	switch gt {
	case grantAuthorizationCode:
		return s.exchangeCode(c, form)
	case grantRefreshToken:
		return s.refresh(c, form)
	}
	return s.clientCredentials(c, form)
}

// clientCredentials runs the client_credentials grant for confidential
// client c: the token's sub and client_id are the client id.
func (s *Server) clientCredentials(c *client, form url.Values) (*TokenResponse, *oauthError) {
	// RFC 8707 resource indicator: one value, from the allow-list.
	aud, oerr := s.resourceParam(form["resource"], s.opts.Resources[0])
	if oerr != nil {
		return nil, oerr
	}
	granted := s.opts.Scopes
	if raw, ok := form["scope"]; ok {
		requested := strings.Fields(strings.Join(raw, " "))
		if len(requested) == 0 {
			return nil, badRequest("invalid_scope", "empty scope")
		}
		granted = nil
		for _, sc := range requested {
			if !slices.Contains(s.opts.Scopes, sc) {
				return nil, badRequest("invalid_scope", "scope not allowed for this client")
			}
			if !slices.Contains(granted, sc) {
				granted = append(granted, sc)
			}
		}
	}
	return s.tokenResponse(c.ID, c.ID, granted, aud, "")
}

// resourceParam checks the RFC 8707 "resource" values of a request: none
// gives def, one must be in [Options.Resources], more than one is refused
// (a token has one audience).
func (s *Server) resourceParam(res []string, def string) (string, *oauthError) {
	switch {
	case len(res) == 0:
		return def, nil
	case len(res) > 1:
		return "", badRequest("invalid_target", "only one resource per token request")
	case !slices.Contains(s.opts.Resources, res[0]):
		return "", badRequest("invalid_target", "resource is not served by this authorization server")
	}
	return res[0], nil
}

// tokenResponse mints an access token for sub and client clientID and
// builds the response (refresh is the refresh token, "" for none).
func (s *Server) tokenResponse(sub, clientID string, scopes []string, aud, refresh string) (*TokenResponse, *oauthError) {
	tok, err := s.mint(sub, clientID, scopes, aud, s.opts.TokenTTL, nil)
	if err != nil {
		return nil, &oauthError{http.StatusInternalServerError, "server_error", "token signing failed"}
	}
	return &TokenResponse{
		AccessToken:  tok,
		TokenType:    "Bearer",
		ExpiresIn:    int64(s.opts.TokenTTL / time.Second),
		Scope:        strings.Join(scopes, " "),
		RefreshToken: refresh,
	}, nil
}

// writeJSON writes v as a JSON response with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":"server_error"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
