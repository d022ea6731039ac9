// Command caddy is Caddy with the standard modules plus the MCP auth front
// door (http.handlers.mcp_auth). It is what xcaddy would generate, plus the
// version line below; it is committed because xcaddy is not needed to
// build it:
//
//	go build -o caddy ./cmd/caddy
package main

import (
	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"
	_ "github.com/mcp-frontdoor/mcp-frontdoor/caddymodule"
	"github.com/mcp-frontdoor/mcp-frontdoor/internal/version"
)

func main() {
	setVersion()
	caddycmd.Main()
}

// setVersion makes `caddy version` name this build first:
//
//	mcp-frontdoor v0.2.0 (revision 0123456789ab, …) with Caddy v2.11.9 h1:…
//
// `caddy list-modules --versions` cannot show it (the module is the main
// module here, not a dependency); an xcaddy build from a tag shows it there.
// A -ldflags -X of caddy.CustomVersion is kept.
func setVersion() {
	if caddy.CustomVersion == "" {
		caddy.CustomVersion = "mcp-frontdoor " + version.String() + " with Caddy"
	}
}
