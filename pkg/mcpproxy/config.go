package mcpproxy

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

// DefaultMaxBodyBytes caps a request body the proxy buffers (4 MiB).
const DefaultMaxBodyBytes = 4 << 20

// DefaultBodyReadTimeout is how long a client has to send a request body.
const DefaultBodyReadTimeout = 30 * time.Second

// Config is the proxying part of the front door's configuration.
type Config struct {
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
	// RequiredScopes is the per-method / per-tool scope policy.
	RequiredScopes RequiredScopes `yaml:"required_scopes" json:"required_scopes,omitempty"`
	// SessionKey keys the HMAC that binds session ids to callers (env or
	// file; at least 16 bytes). Unset: a random key per process, so a
	// session only works on the replica that created it.
	SessionKey *SecretSource `yaml:"session_key" json:"session_key,omitempty"`
	// StripErrorStructuredContent deletes structuredContent from tools/call
	// results with isError: true (default true).
	StripErrorStructuredContent *bool `yaml:"strip_error_structured_content" json:"strip_error_structured_content,omitempty"`
}

// SecretSource is a secret read from an environment variable or a file.
type SecretSource = rs.SecretSource

// Normalize validates c and fills defaults; errors name the config key.
func (c *Config) Normalize() error {
	var errs []error
	u, err := url.Parse(c.Upstream)
	switch {
	case c.Upstream == "":
		errs = append(errs, &rs.FieldError{Field: "upstream", Msg: "is required"})
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		errs = append(errs, &rs.FieldError{Field: "upstream", Msg: fmt.Sprintf("%q must be an http:// or https:// URL with a host", c.Upstream)})
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		errs = append(errs, &rs.FieldError{Field: "upstream", Msg: "must not contain a query, fragment or user information"})
	}
	if err := c.NormalizeGuard(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// NormalizeGuard validates and defaults everything but upstream (the Caddy
// module proxies with reverse_proxy and has no upstream key).
func (c *Config) NormalizeGuard() error {
	var errs []error
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	} else if c.MaxBodyBytes < 0 {
		errs = append(errs, &rs.FieldError{Field: "max_body_bytes", Msg: "must be positive"})
	}
	if c.BodyReadTimeout == 0 {
		c.BodyReadTimeout = rs.Duration(DefaultBodyReadTimeout)
	} else if c.BodyReadTimeout < 0 {
		errs = append(errs, &rs.FieldError{Field: "body_read_timeout", Msg: "must be positive"})
	}
	if c.PreserveHost == nil {
		t := true
		c.PreserveHost = &t
	}
	if c.StripErrorStructuredContent == nil {
		t := true
		c.StripErrorStructuredContent = &t
	}
	if err := c.RequiredScopes.normalize(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
