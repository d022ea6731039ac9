// Package behaviour is the front-door behaviour table: one set of cases
// (challenges, metadata, header injection, Origin checks, scope policy,
// session binding, response rewriting, upstream-failure mapping, stream
// fidelity) run against any front door — the mcp-sidecar and the Caddy
// module — configured with the same Settings. Everything is real: JWKS
// servers, signed tokens, an upstream HTTP server, all on loopback.
package behaviour

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/jwkstest"
)

// Fixed values of the shared configuration.
const (
	APIKey     = "key-123"
	SessionKey = "0123456789abcdef0123456789abcdef"
	Tenant     = "acme"
	// EnvAPIKey and EnvSessionKey are the environment variables the front
	// door reads them from.
	EnvAPIKey     = "BEHAVIOUR_API_KEY"
	EnvSessionKey = "BEHAVIOUR_SESSION_KEY"
)

// Settings is the one configuration both front doors are given. Render it
// with SidecarYAML or the Caddy module's equivalent.
type Settings struct {
	Listen string // 127.0.0.1:port
	// AdminListen is the sidecar's admin address ("" means off).
	AdminListen string
	Resource    string // http://127.0.0.1:port/mcp
	Upstream    string // http://127.0.0.1:port
	Issuer1     string // jwks_uri configured
	JWKS1       string
	Issuer2     string // discovery, advertise_url, require_at_jwt_typ, ES256+RS256 only
	SecretFile  string // holds Tenant
	// StripOff turns strip_error_structured_content off.
	StripOff bool
	// ReadHeaderTimeout and BodyReadTimeout, when set, are the front
	// door's read_header_timeout (Caddy: the global servers timeouts
	// read_header) and body_read_timeout.
	ReadHeaderTimeout, BodyReadTimeout time.Duration
	// DenyError sets scope_denial: error.
	DenyError bool
	// RateLimit limits each caller's tools/call of "ok" to a burst of 2
	// (refilling at 1/h).
	RateLimit bool
	// AuditFile, when set, is audit.file (the audit events' own file).
	AuditFile string
}

// SidecarYAML renders the settings as an mcp-sidecar config.
func (s Settings) SidecarYAML() string {
	extra := ""
	if s.StripOff {
		extra = "strip_error_structured_content: false\n"
	}
	if s.DenyError {
		extra += "scope_denial: error\n"
	}
	if s.RateLimit {
		extra += "rate_limits:\n  tools:\n    ok: {rate: 1/h, burst: 2}\n"
	}
	if s.AuditFile != "" {
		extra += fmt.Sprintf("audit:\n  file: %s\n", s.AuditFile)
	}
	admin := s.AdminListen
	if admin == "" {
		admin = "off"
	}
	if s.ReadHeaderTimeout > 0 {
		extra += fmt.Sprintf("read_header_timeout: %s\n", s.ReadHeaderTimeout)
	}
	if s.BodyReadTimeout > 0 {
		extra += fmt.Sprintf("body_read_timeout: %s\n", s.BodyReadTimeout)
	}
	return fmt.Sprintf(`listen: %s
admin_listen: %q
upstream: %s
resource: %s
resource_name: Test MCP
scopes_supported: [mcp:read, mcp:write]
challenge_scopes: [mcp:read]
authorization_servers:
  - issuer: %s
    jwks_uri: %s
  - issuer: %s
    advertise_url: https://login.example.com
    require_at_jwt_typ: true
    algorithms: [ES256, RS256]
identity_headers:
  claims:
    X-MCP-Client-Id: client_id
    X-MCP-Email: email
secret_headers:
  - header: X-Api-Key
    env: %s
  - header: X-Tenant
    file: %s
max_body_bytes: 4096
allowed_origins: [https://app.example.com]
required_scopes:
  methods:
    tools/list: [mcp:read]
  tools:
    admin_tool: [mcp:write, mcp:admin]
  prompts:
    admin_prompt: [mcp:admin]
  resources:
    "file:///admin/*": [mcp:admin]
scope_implies:
  mcp:root: [mcp:admin, mcp:write]
session_key:
  env: %s
%s`, s.Listen, admin, s.Upstream, s.Resource, s.Issuer1, s.JWKS1, s.Issuer2, EnvAPIKey, s.SecretFile, EnvSessionKey, extra)
}

// FrontDoor starts a front door serving s until the test ends.
type FrontDoor func(t *testing.T, s Settings)

// Env is one front door with its issuers and upstream.
type Env struct {
	Settings
	Base     string // http://127.0.0.1:port
	K1, K2   jwkstest.Key
	AS1, AS2 *jwkstest.Server
	Up       *Upstream
}

// FreeAddr returns a free 127.0.0.1 port (closed again; a tiny race that
// tests accept).
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// NewEnv starts two issuers and the upstream, then the front door, and
// waits until it accepts a valid token of each issuer.
func NewEnv(t *testing.T, fd FrontDoor, mod func(*Settings)) *Env {
	t.Helper()
	e := &Env{}
	e.K1 = jwkstest.NewKey(t, "shared", "ES256")
	e.K2 = jwkstest.NewKey(t, "shared", "RS256") // same kid, other issuer
	e.AS1 = jwkstest.NewServer(t, e.K1)
	e.AS2 = jwkstest.NewServer(t, e.K2)
	e.Up = NewUpstream(t)
	secretFile := filepath.Join(t.TempDir(), "tenant")
	if err := os.WriteFile(secretFile, []byte(Tenant+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvAPIKey, APIKey)
	t.Setenv(EnvSessionKey, SessionKey)
	addr := FreeAddr(t)
	e.Base = "http://" + addr
	e.Settings = Settings{
		Listen: addr, Resource: e.Base + "/mcp", Upstream: e.Up.URL,
		Issuer1: e.AS1.Issuer, JWKS1: e.AS1.JWKSURL(), Issuer2: e.AS2.Issuer, SecretFile: secretFile,
	}
	if mod != nil {
		mod(&e.Settings)
	}
	fd(t, e.Settings)
	e.waitReady(t)
	return e
}

func (e *Env) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, which := range []int{1, 2} {
		tok := e.Token(t, which, nil, nil)
		for {
			resp, _ := e.Do(t, "GET", "/ready-probe", http.Header{"Authorization": {"Bearer " + tok}}, "")
			if resp != nil && resp.StatusCode != http.StatusServiceUnavailable {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("front door not ready for issuer %d", which)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	e.Up.Reset()
}

// Token signs a token of issuer 1 (sub alice, ES256) or 2 (sub bob,
// RS256, typ at+jwt) for the resource; mod adjusts the claims.
func (e *Env) Token(t testing.TB, which int, mod func(jwt.MapClaims), hdr map[string]any) string {
	t.Helper()
	now := time.Now()
	c := jwt.MapClaims{"iss": e.Issuer1, "sub": "alice", "aud": e.Resource, "exp": now.Add(time.Hour).Unix(), "iat": now.Unix(),
		"client_id": "client-1", "scope": "mcp:read", "email": "alice@example.com"}
	k := e.K1
	if which == 2 {
		k = e.K2
		c["iss"] = e.Issuer2
		c["sub"] = "bob"
		if hdr == nil {
			hdr = map[string]any{"typ": "at+jwt"}
		}
	}
	if mod != nil {
		mod(c)
	}
	return k.Sign(t, c, hdr)
}

// Do sends a request to the front door; a nil response means the
// connection failed.
func (e *Env) Do(t testing.TB, method, path string, hdr http.Header, body string) (*http.Response, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, e.Base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if strings.EqualFold(k, "Host") {
			req.Host = v[0]
			continue
		}
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err.Error()
	}
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, rerr := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if rerr != nil {
			break
		}
	}
	return resp, sb.String()
}
