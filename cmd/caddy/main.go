// Command caddy is Caddy with the standard modules plus the MCP auth front
// door (http.handlers.mcp_auth). It is what xcaddy would generate; it is
// committed because xcaddy is not needed to build it:
//
//	go build -o caddy ./cmd/caddy
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"
	_ "github.com/mcp-frontdoor/mcp-frontdoor/caddymodule"
)

func main() {
	caddycmd.Main()
}
