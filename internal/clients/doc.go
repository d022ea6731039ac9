// Package clients holds end-to-end tests in which stock MCP clients log in
// to an MCP server behind a front door through OAuth 2.1, with the dev
// authorization server (internal/devas) as the authorization server:
//
//   - the MCP TypeScript SDK (@modelcontextprotocol/client, pinned in
//     tools/npm) with its StreamableHTTPClientTransport and an
//     OAuthClientProvider, run by tools/npm/e2e/mcp-oauth-client.mjs: the
//     SDK does discovery, dynamic client registration, the authorization
//     code grant with PKCE, the token exchange, a refresh and the 403
//     insufficient_scope step-up; the script only plays the browser on the
//     login page;
//   - the MCP Go SDK (go-sdk, the module's version) with its
//     auth.AuthorizationCodeHandler: the same login and step-up, in process
//     (no Node needed), and a plain bearer header;
//   - the MCP Inspector CLI (pinned in tools/npm) logging in interactively
//     against `mcp-sidecar dev`, with the test playing the browser.
//
// Front doors: the `mcp-sidecar dev` demo in process (internal/sidecar.Dev)
// and Caddy in process with mcp_auth and reverse_proxy in front of the demo
// MCP server.
//
// Everything listens on 127.0.0.1. The Node-based tests need Node 22 and
// the npm tools (scripts/install-test-tools.sh); they skip under -short and
// when the tools are missing, and fail instead when the CI environment
// variable is set (see internal/testenv). Run them with
//
//	go test ./internal/clients/
package clients
