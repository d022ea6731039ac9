// Package mcpproxy decides what may flow between an MCP client and an MCP
// server, and how. Policy holds its options (checked by Policy.Normalized,
// compiled by pkg/frontdoor). Guard runs every check of the way in:
// Origin/Host, CORS, the transport methods, the bearer-token challenge,
// body buffering with bounded read time (slowclient.go), the strict
// reading of the JSON-RPC body (Inspect), header/body consistency, the
// scope policy and session unbinding. ResponseWriter does the way out:
// session wrapping, the structuredContent rule (JSON and SSE) and the
// agent-safe answer for upstream failures. Injector sets identity and
// secret headers and owns every client spelling of them; Secrets carries
// the secret headers to the last hop in a front door whose proxy logs
// requests (Caddy). Handler is the sidecar's net/http front door: a Guard
// around a reverse proxy that flushes SSE events as they come; the Caddy
// module puts the same Guard around Caddy's reverse_proxy.
package mcpproxy
