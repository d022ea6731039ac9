package rs

import (
	"slices"
	"time"
)

// Identity is what the front door knows about a caller once its token has
// been validated. It never holds the token itself.
type Identity struct {
	// Issuer is the token's exact iss, one of the configured issuers.
	Issuer string
	// Subject is the token's sub (never empty).
	Subject string
	// ClientID is client_id, else azp, else empty.
	ClientID string
	// Scopes are the granted scopes from scope (space separated) or scp
	// (string or array), in token order, without duplicates.
	Scopes []string
	// Claims holds every claim of the token payload as decoded JSON values.
	Claims map[string]any
	// Expiry is the token's exp.
	Expiry time.Time

	// cacheUntil, when set, ends caching before Expiry (introspection TTL).
	cacheUntil time.Time
}

// HasScopes reports whether every scope in want was granted.
func (id *Identity) HasScopes(want ...string) bool {
	for _, w := range want {
		if !slices.Contains(id.Scopes, w) {
			return false
		}
	}
	return true
}
