// Package rs is the OAuth 2.1 resource server of the MCP auth front door:
// who is calling. It owns no listener; it works on http.Header values,
// tokens and bytes, so the mcp-sidecar binary and the Caddy module share it.
//
// The pieces:
//   - Config / AuthorizationServer: the user-facing configuration, with
//     Normalize filling defaults and naming the offending field on error.
//   - KeySet: one issuer's keys (discovery with issuer check, JWKS cache,
//     periodic refresh, rate-limited refetch on an unknown kid with
//     coalesced misses, last good keys kept during an outage, backoff).
//   - Validator: picks the KeySet by the token's iss before any signature
//     check, verifies the signature with an allow-listed algorithm, checks
//     exp/nbf/iat (with leeway), aud (RFC 8707 canonical comparison) and
//     sub, and caches the result by token hash until exp.
//   - ExtractBearer, Challenger, Error: RFC 6750 token extraction and the
//     exact WWW-Authenticate challenges (401, 400, 403 insufficient_scope).
//   - Metadata, MetadataURL, MetadataHandler: RFC 9728 Protected Resource
//     Metadata and where it is served.
package rs
