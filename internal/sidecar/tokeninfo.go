package sidecar

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"sort"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

// FromFlags builds a configuration without a file: the upstream and listen
// address from flags, everything else from Arcade's MCP_RESOURCE_SERVER_*
// variables.
func FromFlags(upstream, listen string) (*Config, error) {
	c := &Config{Listen: listen}
	c.Upstream = upstream
	if err := ApplyArcadeEnv(c, os.Getenv); err != nil {
		return nil, err
	}
	if err := c.Check(nil, nil); err != nil {
		return nil, err
	}
	return c, nil
}

// TokenReport is what `mcp-sidecar token-info` prints. It never contains
// the token: Fingerprint (a SHA-256 prefix) identifies it.
type TokenReport struct {
	Fingerprint string         `json:"token_sha256_prefix"`
	Header      map[string]any `json:"header,omitempty"`
	Claims      map[string]any `json:"claims_unverified,omitempty"`
	Steps       []rs.Step      `json:"checks"`
	Accepted    bool           `json:"accepted"`
	// For an accepted token:
	Issuer   string            `json:"issuer,omitempty"`
	Subject  string            `json:"subject,omitempty"`
	ClientID string            `json:"client_id,omitempty"`
	Scopes   []string          `json:"scopes,omitempty"`
	Headers  map[string]string `json:"upstream_headers,omitempty"`
	// For a refused one: the answer the client would get.
	Status          int    `json:"status,omitempty"`
	WWWAuthenticate string `json:"www_authenticate,omitempty"`
	Reason          string `json:"reason,omitempty"`
}

// TokenInfo explains what the current configuration decides for token
// (keys are fetched as a request would fetch them).
func (a *App) TokenInfo(ctx context.Context, token string) (*TokenReport, error) {
	sum := sha256.Sum256([]byte(token))
	fd := a.FrontDoor()
	cfg := fd.Resource()
	ex := fd.Validator().Explain(ctx, token)
	r := &TokenReport{Fingerprint: hex.EncodeToString(sum[:6]), Header: ex.Header, Claims: ex.Claims, Steps: ex.Steps}
	if ex.Error != nil {
		md, err := rs.MetadataURL(cfg.Resource)
		if err != nil {
			return nil, err
		}
		ch := rs.Challenger{MetadataURL: md, Scopes: cfg.ChallengeScopes}
		r.Status, r.WWWAuthenticate, r.Reason = ex.Error.Status, ch.Header(ex.Error), ex.Error.Reason
		return r, nil
	}
	id := ex.Identity
	r.Accepted, r.Issuer, r.Subject, r.ClientID, r.Scopes = true, id.Issuer, id.Subject, id.ClientID, id.Scopes
	r.Headers = fd.Injector().Headers(id)
	return r, nil
}

// SortedHeaderNames lists a header map's names in order, for printing.
func SortedHeaderNames(h map[string]string) []string {
	out := make([]string, 0, len(h))
	for k := range h {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
