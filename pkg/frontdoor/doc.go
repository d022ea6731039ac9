// Package frontdoor is the one core both front doors compile. Options is
// every option a user configures (the resource server of pkg/rs and the
// MCP policy of pkg/mcpproxy, embedded); Check validates it completely and
// Compile turns it into the immutable parts that serve requests: the token
// Validator, the request Guard and, for the sidecar, the proxy Handler.
// The sidecar's YAML and the Caddy module's Caddyfile/JSON only fill
// Options; `mcp-sidecar validate`, a sidecar reload, `caddy adapt` and
// Caddy's Provision all run the same Check. Options are only read: the
// defaults and derived state live in the compiled FrontDoor.
package frontdoor
