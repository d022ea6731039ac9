// Package jwkstest runs real JWKS and authorization-server metadata
// endpoints on loopback for tests, and signs real tokens with their keys.
package jwkstest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// Key is a private signing key with its kid and JWS alg.
type Key struct {
	KID  string
	Alg  string
	Priv crypto.Signer
}

// NewKey generates a key for alg (ES256/384/512, RS256/384/512,
// PS256/384/512, EdDSA).
func NewKey(t testing.TB, kid, alg string) Key {
	t.Helper()
	var (
		priv crypto.Signer
		err  error
	)
	switch alg {
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ES384":
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "ES512":
		priv, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case "EdDSA":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("jwkstest: unsupported alg %s", alg)
	}
	if err != nil {
		t.Fatalf("jwkstest: generate %s key: %v", alg, err)
	}
	return Key{KID: kid, Alg: alg, Priv: priv}
}

// Public returns the key's public JWK (with kid, alg and use=sig).
func (k Key) Public() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.Priv.Public(), KeyID: k.KID, Algorithm: k.Alg, Use: "sig"}
}

// Sign signs claims with the key. header entries are added to (or, with a
// nil value, removed from) the JOSE header; kid is set unless removed.
func (k Key) Sign(t testing.TB, claims jwt.MapClaims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(k.Alg), claims)
	tok.Header["kid"] = k.KID
	for h, v := range header {
		if v == nil {
			delete(tok.Header, h)
		} else {
			tok.Header[h] = v
		}
	}
	s, err := tok.SignedString(k.Priv)
	if err != nil {
		t.Fatalf("jwkstest: sign: %v", err)
	}
	return s
}

// Server is a loopback authorization server stand-in: it serves a JWKS at
// /jwks and RFC 8414 / OIDC metadata naming Issuer. Keys can be rotated and
// the server can be made to fail, to test key handling for real.
type Server struct {
	*httptest.Server
	// Issuer is the issuer its metadata names (default: the server URL).
	Issuer string

	mu       sync.Mutex
	keys     []jose.JSONWebKey
	failing  bool
	gate     chan struct{} // when non-nil, JWKS requests wait on it
	jwksHits atomic.Int64
	mdHits   atomic.Int64
	// Disable8414 makes the RFC 8414 document 404 (OIDC only).
	Disable8414 bool
	// MetadataIssuer overrides the issuer named in the metadata documents.
	MetadataIssuer string

	introspect func(token string) (status int, answer map[string]any)
	intHits    atomic.Int64
}

// IntrospectionClient is the client the /introspect endpoint accepts.
const (
	IntrospectionClientID     = "rs"
	IntrospectionClientSecret = "rs-secret"
)

// SetIntrospection installs the /introspect behaviour (RFC 7662): f gets
// the posted token and returns the status and JSON answer.
func (s *Server) SetIntrospection(f func(token string) (int, map[string]any)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.introspect = f
}

// IntrospectionHits counts introspection requests.
func (s *Server) IntrospectionHits() int64 { return s.intHits.Load() }

func (s *Server) serveIntrospect(w http.ResponseWriter, r *http.Request) {
	s.intHits.Add(1)
	id, secret, ok := r.BasicAuth()
	if !ok || id != IntrospectionClientID || secret != IntrospectionClientSecret || r.Method != http.MethodPost {
		http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
		return
	}
	s.mu.Lock()
	f := s.introspect
	s.mu.Unlock()
	if f == nil {
		http.NotFound(w, r)
		return
	}
	status, answer := f(r.PostFormValue("token"))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(answer)
}

// NewServer starts a server on 127.0.0.1 publishing keys; it is closed when
// the test ends.
func NewServer(t testing.TB, keys ...Key) *Server {
	t.Helper()
	s := &Server{}
	for _, k := range keys {
		s.keys = append(s.keys, k.Public())
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/jwks", s.serveJWKS)
	mux.HandleFunc("/.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		if s.Disable8414 {
			http.NotFound(w, r)
			return
		}
		s.serveMetadata(w, r)
	})
	mux.HandleFunc("/.well-known/openid-configuration", s.serveMetadata)
	mux.HandleFunc("/introspect", s.serveIntrospect)
	s.Server = httptest.NewServer(mux)
	s.Issuer = s.URL
	t.Cleanup(s.Close)
	return s
}

func (s *Server) serveMetadata(w http.ResponseWriter, _ *http.Request) {
	s.mdHits.Add(1)
	s.mu.Lock()
	iss := s.Issuer
	if s.MetadataIssuer != "" {
		iss = s.MetadataIssuer
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"issuer":                                iss,
		"jwks_uri":                              s.URL + "/jwks",
		"introspection_endpoint":                s.URL + "/introspect",
		"authorization_endpoint":                s.URL + "/authorize",
		"token_endpoint":                        s.URL + "/token",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
	})
}

func (s *Server) serveJWKS(w http.ResponseWriter, r *http.Request) {
	s.jwksHits.Add(1)
	s.mu.Lock()
	gate, failing := s.gate, s.failing
	set := jose.JSONWebKeySet{Keys: append([]jose.JSONWebKey(nil), s.keys...)}
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	if failing {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(set)
}

// SetKeys replaces the published keys (rotation).
func (s *Server) SetKeys(keys ...Key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = nil
	for _, k := range keys {
		s.keys = append(s.keys, k.Public())
	}
}

// SetFailing makes JWKS requests answer 503 (true) or succeed (false).
func (s *Server) SetFailing(f bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing = f
}

// Hold makes JWKS requests wait until the returned release func is called.
func (s *Server) Hold() (release func()) {
	g := make(chan struct{})
	s.mu.Lock()
	s.gate = g
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			s.gate = nil
			s.mu.Unlock()
			close(g)
		})
	}
}

// JWKSHits counts JWKS requests served (or started).
func (s *Server) JWKSHits() int64 { return s.jwksHits.Load() }

// MetadataHits counts metadata requests.
func (s *Server) MetadataHits() int64 { return s.mdHits.Load() }

// JWKSURL is the server's JWKS URL.
func (s *Server) JWKSURL() string { return s.URL + "/jwks" }
