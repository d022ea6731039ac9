package mcpproxy

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"time"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

// DefaultMaxBodyBytes caps a request body the proxy buffers (4 MiB).
const DefaultMaxBodyBytes = 4 << 20

// DefaultBodyReadTimeout is how long a client has to send a request body.
const DefaultBodyReadTimeout = 30 * time.Second

// Policy is the proxying part of the front door's configuration.
type Policy struct {
	// Upstream is the MCP server's base URL (http or https).
	Upstream string `yaml:"upstream" json:"upstream"`
	// IdentityHeaders carry the caller's sub and chosen claims.
	IdentityHeaders IdentityHeaders `yaml:"identity_headers" json:"identity_headers,omitempty"`
	// SecretHeaders are configured secrets sent as headers.
	SecretHeaders []SecretHeader `yaml:"secret_headers" json:"secret_headers,omitempty"`
	// MaxBodyBytes caps buffered request bodies (default 4 MiB → 413).
	MaxBodyBytes int64 `yaml:"max_body_bytes" json:"max_body_bytes,omitempty"`
	// BodyReadTimeout bounds how long a client may take to send the whole
	// request body once its headers are in (default 30s → 408 and the
	// connection closed).
	BodyReadTimeout rs.Duration `yaml:"body_read_timeout" json:"body_read_timeout,omitempty"`
	// PreserveHost keeps the client's Host header (default true); false
	// sends the upstream's host instead.
	PreserveHost *bool `yaml:"preserve_host" json:"preserve_host,omitempty"`
	// AllowedOrigins are browser origins allowed besides the resource's own
	// (and loopback origins when the resource is on loopback).
	AllowedOrigins []string `yaml:"allowed_origins" json:"allowed_origins,omitempty"`
	// RequiredScopes is the per-method / per-tool / per-prompt /
	// per-resource scope policy; it also filters the lists.
	RequiredScopes RequiredScopes `yaml:"required_scopes" json:"required_scopes,omitempty"`
	// ScopeDenial is how a request the policy denies is answered:
	// "challenge" (default; RFC 6750 403 insufficient_scope) or "error"
	// (HTTP 200 with a tool error result or JSON-RPC error).
	ScopeDenial string `yaml:"scope_denial" json:"scope_denial,omitempty"`
	// ScopeImplies is the scope hierarchy: a scope and the scopes holding
	// it implies (transitively), e.g. mcp:admin: [mcp:write].
	ScopeImplies map[string][]string `yaml:"scope_implies" json:"scope_implies,omitempty"`
	// SessionKey keys the HMAC that binds session ids to callers (env or
	// file; at least 16 bytes). Unset: a random key per process, so a
	// session only works on the replica that created it.
	SessionKey *SecretSource `yaml:"session_key" json:"session_key,omitempty"`
	// StripErrorStructuredContent deletes structuredContent from tools/call
	// results with isError: true (default true).
	StripErrorStructuredContent *bool `yaml:"strip_error_structured_content" json:"strip_error_structured_content,omitempty"`
	// Audit is the audit log: one event per MCP request that reached the
	// policy (on by default, to the log output).
	Audit AuditOptions `yaml:"audit" json:"audit,omitzero"`
}

// SecretSource is a secret read from an environment variable or a file.
type SecretSource = rs.SecretSource

// UpstreamRule says whether the upstream option is required (the
// sidecar proxies itself) or must be absent (Caddy's reverse_proxy
// proxies).
type UpstreamRule int

const (
	// UpstreamRequired: upstream must be an http(s) URL.
	UpstreamRequired UpstreamRule = iota
	// UpstreamForbidden: upstream must not be set.
	UpstreamForbidden
	// UpstreamOptional: upstream is checked when set (another option,
	// such as stdio, may take its place).
	UpstreamOptional
)

// Normalized validates c and returns a copy with the defaults filled in;
// c itself is never written to. Errors are *rs.FieldError naming the key.
func (c Policy) Normalized(up UpstreamRule) (Policy, error) {
	n := c.clone()
	var errs []error
	switch up {
	case UpstreamRequired:
		if err := checkUpstream(n.Upstream); err != nil {
			errs = append(errs, err)
		}
	case UpstreamForbidden:
		if n.Upstream != "" {
			errs = append(errs, &rs.FieldError{Field: "upstream", Msg: "is not used here (reverse_proxy proxies)"})
		}
	case UpstreamOptional:
		if n.Upstream != "" {
			if err := checkUpstream(n.Upstream); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if n.MaxBodyBytes == 0 {
		n.MaxBodyBytes = DefaultMaxBodyBytes
	} else if n.MaxBodyBytes < 0 {
		errs = append(errs, &rs.FieldError{Field: "max_body_bytes", Msg: "must be positive"})
	}
	if n.BodyReadTimeout == 0 {
		n.BodyReadTimeout = rs.Duration(DefaultBodyReadTimeout)
	} else if n.BodyReadTimeout < 0 {
		errs = append(errs, &rs.FieldError{Field: "body_read_timeout", Msg: "must be positive"})
	}
	if n.PreserveHost == nil {
		n.PreserveHost = ptr(true)
	}
	if n.StripErrorStructuredContent == nil {
		n.StripErrorStructuredContent = ptr(true)
	}
	if err := n.RequiredScopes.normalize(); err != nil {
		errs = append(errs, err)
	}
	switch n.ScopeDenial {
	case "":
		n.ScopeDenial = DenyChallenge
	case DenyChallenge, DenyError:
	default:
		errs = append(errs, &rs.FieldError{Field: "scope_denial", Msg: fmt.Sprintf("%q is not one of challenge, error", n.ScopeDenial)})
	}
	if err := checkImplies(n.ScopeImplies); err != nil {
		errs = append(errs, err)
	}
	if err := n.Audit.normalize(); err != nil {
		errs = append(errs, err)
	}
	return n, errors.Join(errs...)
}

func ptr[T any](v T) *T { return &v }

func checkUpstream(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return &rs.FieldError{Field: "upstream", Msg: "is required", Err: rs.ErrRequired}
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return &rs.FieldError{Field: "upstream", Msg: fmt.Sprintf("%q must be an http:// or https:// URL with a host", raw)}
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return &rs.FieldError{Field: "upstream", Msg: "must not contain a query, fragment or user information"}
	}
	return nil
}

// clone returns a deep copy of c: no slice, map or pointer is shared.
func (c Policy) clone() Policy {
	c.IdentityHeaders.Claims = maps.Clone(c.IdentityHeaders.Claims)
	c.SecretHeaders = slices.Clone(c.SecretHeaders)
	c.AllowedOrigins = slices.Clone(c.AllowedOrigins)
	c.RequiredScopes = c.RequiredScopes.clone()
	c.ScopeImplies = cloneRules(c.ScopeImplies)
	if c.SessionKey != nil {
		c.SessionKey = ptr(*c.SessionKey)
	}
	if c.PreserveHost != nil {
		c.PreserveHost = ptr(*c.PreserveHost)
	}
	if c.StripErrorStructuredContent != nil {
		c.StripErrorStructuredContent = ptr(*c.StripErrorStructuredContent)
	}
	c.Audit = c.Audit.clone()
	return c
}

func cloneRules(m map[string][]string) map[string][]string {
	if m == nil {
		return nil
	}
	out := make(map[string][]string, len(m))
	for k, v := range m {
		out[k] = slices.Clone(v)
	}
	return out
}
