package mcpproxy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

// OriginPolicy is the Origin allow-list that keeps DNS-rebinding
// protection in the front door, whatever the upstream checks.
type OriginPolicy struct {
	allowed        map[string]bool
	resourceOrigin string
	loopback       bool // the resource is on a loopback host
}

// NewOriginPolicy builds the policy: an Origin is allowed when it is in
// allowed (scheme://host[:port], compared case-insensitively), equals the
// resource's own origin, or — when the resource is on loopback — is itself
// a loopback origin.
func NewOriginPolicy(resource string, allowed []string) (*OriginPolicy, error) {
	p := &OriginPolicy{allowed: map[string]bool{}}
	ru, err := url.Parse(resource)
	if err != nil {
		return nil, fmt.Errorf("resource: %w", err)
	}
	p.resourceOrigin = canonicalOrigin(ru.Scheme, ru.Host)
	p.loopback = rs.IsLoopbackHost(ru.Hostname())
	for i, o := range allowed {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return nil, &rs.FieldError{Field: fmt.Sprintf("allowed_origins[%d]", i), Msg: fmt.Sprintf("%q must be an origin like https://app.example.com", o)}
		}
		p.allowed[canonicalOrigin(u.Scheme, u.Host)] = true
	}
	return p, nil
}

func canonicalOrigin(scheme, host string) string {
	scheme = strings.ToLower(scheme)
	host = strings.ToLower(host)
	if (scheme == "https" && strings.HasSuffix(host, ":443")) || (scheme == "http" && strings.HasSuffix(host, ":80")) {
		host = host[:strings.LastIndexByte(host, ':')]
	}
	return scheme + "://" + host
}

// AllowOrigin reports whether a request's Origin header values pass. No
// Origin (non-browser clients) passes; "null" and malformed values do not.
func (p *OriginPolicy) AllowOrigin(origins []string) bool {
	if len(origins) == 0 {
		return true
	}
	if len(origins) > 1 {
		return false
	}
	u, err := url.Parse(origins[0])
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	o := canonicalOrigin(u.Scheme, u.Host)
	if p.allowed[o] || o == p.resourceOrigin {
		return true
	}
	return p.loopback && rs.IsLoopbackHost(u.Hostname())
}

// AllowHost checks the Host header for a loopback resource: it must then
// name a loopback host too, so a DNS-rebound name is refused even when no
// Origin is sent. Non-loopback resources sit behind real DNS and TLS and
// are not checked here.
func (p *OriginPolicy) AllowHost(host string) bool {
	if !p.loopback {
		return true
	}
	h := host
	if u, err := url.Parse("http://" + host); err == nil {
		h = u.Hostname()
	}
	return rs.IsLoopbackHost(h)
}

// SessionBinder binds upstream session ids to the caller that created
// them: the id a client sees is the upstream id plus an HMAC over issuer,
// subject and id. Any replica with the same key accepts it, so no shared
// store is needed; another caller presenting it is refused.
type SessionBinder struct {
	key []byte
}

// NewSessionBinder returns a binder keyed with key (at least 16 bytes).
func NewSessionBinder(key []byte) (*SessionBinder, error) {
	if len(key) < 16 {
		return nil, fmt.Errorf("session key must be at least 16 bytes, got %d", len(key))
	}
	return &SessionBinder{key: append([]byte(nil), key...)}, nil
}

func (b *SessionBinder) mac(iss, sub, id string) []byte {
	m := hmac.New(sha256.New, b.key)
	for _, s := range []string{iss, sub, id} {
		fmt.Fprintf(m, "%d:%s", len(s), s)
	}
	return m.Sum(nil)[:18]
}

// Wrap returns the session id the client sees: base64url(upstream id) "."
// base64url(mac) — visible ASCII only, as MCP requires.
func (b *SessionBinder) Wrap(iss, sub, upstreamID string) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(upstreamID)) + "." + enc.EncodeToString(b.mac(iss, sub, upstreamID))
}

// Unwrap returns the upstream id of a wrapped id when it was issued to
// the same iss+sub.
func (b *SessionBinder) Unwrap(iss, sub, wrapped string) (string, bool) {
	enc := base64.RawURLEncoding
	idPart, macPart, ok := strings.Cut(wrapped, ".")
	if !ok || strings.Contains(macPart, ".") {
		return "", false
	}
	id, err1 := enc.DecodeString(idPart)
	mac, err2 := enc.DecodeString(macPart)
	if err1 != nil || err2 != nil || len(id) == 0 {
		return "", false
	}
	if !hmac.Equal(mac, b.mac(iss, sub, string(id))) {
		return "", false
	}
	return string(id), true
}
