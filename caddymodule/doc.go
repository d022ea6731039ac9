// Package caddymodule will hold the Caddy glue for the MCP auth front door:
// the http.handlers.mcp_auth module, its Caddyfile directive (mcp_auth), the
// usage pool that keeps key sets across config reloads, and the Caddy
// placeholders ({http.auth.user.id} and friends).
//
// It uses the same pkg/rs, pkg/mcpproxy and pkg/errormap code as the
// mcp-sidecar binary; only the wiring lives here.
package caddymodule
