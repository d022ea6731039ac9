// Package conformance runs the MCP conformance suite
// (@modelcontextprotocol/conformance) and the MCP Inspector CLI against an
// MCP server, directly and through an authorization front door, so tests
// can require that the front door changes nothing a client can observe.
//
// The pieces, all on 127.0.0.1 and all real processes or servers:
//
//   - [StartEverythingServer]: the go-sdk conformance fixture
//     (conformance/everything-server at [EverythingServerVersion], built by
//     scripts/install-test-tools.sh into .tools/bin), stateful or stateless.
//   - [FrontDoor] and its mcp-sidecar implementation [SidecarFrontDoor]:
//     oidc-provider as the authorization server, the sidecar in process in
//     front of an upstream, and a client-credentials token for it.
//   - [StartBearerHop]: a reverse proxy that adds the bearer token (the
//     conformance CLI cannot send headers) and keeps the client's Host and
//     Origin.
//   - [RunServer]: one `conformance server` run with its checks.json results
//     parsed into a [Result]; [Diff] compares pass sets.
//   - [RunInspector]: one `mcp-inspector --cli` call.
//
// Everything that needs Node or the fixture skips under -short, and skips
// (or fails when the CI environment variable is set) when the tools are not
// installed; see internal/testenv.
package conformance
