// Package errormap decides how failures look to an MCP client: the stable
// error-kind taxonomy (Arcade's ErrorKind names), the mapping from transport
// errors and upstream HTTP statuses to kinds and retry hints, the builders for
// agent-safe tool results and JSON-RPC errors, and the rule that a tools/call
// result with isError: true carries no structuredContent.
//
// Everything here is a pure function on bytes and values; there is no I/O.
package errormap
