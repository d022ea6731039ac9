// Package caddymodule is the Caddy glue of the MCP auth front door: the
// http.handlers.mcp_auth module and its Caddyfile directive (mcp_auth),
// which only fill frontdoor.Options and compile them with pkg/frontdoor
// (the same check as `mcp-sidecar validate`); the reverse_proxy transport
// http.reverse_proxy.transport.mcp_auth that adds the secret headers after
// Caddy has logged the request; the http.handlers.mcp_stdio terminal
// handler (directive mcp_stdio) that serves a stdio MCP server per session
// with pkg/stdiobridge behind mcp_auth; the usage pools that keep key sets, the
// validation cache and the per-process session key across config loads;
// and the {http.auth.user.*} placeholders.
package caddymodule
