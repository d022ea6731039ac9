// Package rs is the OAuth 2.1 resource server of the MCP auth front door:
// who is calling. It owns no listener; it works on http.Header values,
// tokens and bytes, so the mcp-sidecar binary and the Caddy module share it.
//
// The pieces:
//   - Config / AuthorizationServer: the user-facing configuration;
//     Config.Normalized returns a validated copy with the defaults filled
//     in, and every error is a *FieldError naming the offending field.
//   - KeySet: one issuer's keys (discovery with issuer check, JWKS cache,
//     periodic refresh, rate-limited refetch on an unknown kid with
//     coalesced misses, last good keys kept during an outage, backoff).
//     Validator.Status reports each one as a KeySetStatus.
//   - Validator: picks the KeySet by the token's iss before any signature
//     check, verifies the signature with an allow-listed algorithm, checks
//     exp/nbf/iat (with leeway), aud (RFC 8707 canonical comparison) and
//     sub, asks RFC 7662 introspection about opaque tokens when configured,
//     and caches the result (Cache) by token hash until exp. Explain runs
//     the same checks for operators and records each Step.
//   - Identity: what a valid token says about the caller.
//   - ExtractBearer, Challenger, Error, InsufficientScope: RFC 6750 token
//     extraction and the exact WWW-Authenticate challenges (401, 400, 403
//     insufficient_scope). Every failure is an *Error; callers branch on
//     its Status, Code and Reason (errors.As), never on its text.
//   - Metadata, MetadataURL, MetadataPaths, MetadataHandler: RFC 9728
//     Protected Resource Metadata and where it is served.
//   - Metrics: the token validation and JWKS fetch counters (NewMetrics).
package rs
