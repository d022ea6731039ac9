// Package mcpproxy decides what may flow between an MCP client and an MCP
// server, and how: identity and secret header injection with spoof
// stripping (Injector), request-body buffering, and Handler, the
// net/http front door the mcp-sidecar binary serves (Protected Resource
// Metadata, CORS preflight, bearer-token challenge, reverse proxy that
// flushes SSE events as they come). The Caddy module uses the same pieces
// around Caddy's reverse_proxy.
package mcpproxy
