// Package errormap decides how failures look to an MCP client: the stable
// error-kind taxonomy (Arcade's ErrorKind names), the mapping from transport
// errors and upstream HTTP statuses to kinds and retry hints, the builders for
// agent-safe tool results and JSON-RPC errors, and the rule that a tools/call
// result with isError: true carries no structuredContent.
//
// Everything here is a pure function on bytes and values; there is no I/O.
//
// # Classification
//
// FromStatus (upstream answered with an error status) and FromTransport
// (no complete response) each read one ordered table of rows, statusTable and
// transportTable in failure.go; the first matching row wins. Both return a
// Failure whose Message is fixed text from those tables (Arcade's wire
// strings), never text from an error, header or body.
//
// FromTransport decides by the error's type and value only (errors.Is and
// errors.As on context.DeadlineExceeded, net.Error timeouts, the crypto/tls
// and crypto/x509 error types, *net.OpError, *net.DNSError, syscall errnos),
// never by its text; an error that says what it is only in words lands in
// the "other" row. It returns the zero Failure (IsZero) for
// context.Canceled: the client went away and nothing should be written.
//
// # Rendering
//
// ToolErrorResult renders a CallToolResult with isError: true and Arcade's
// _meta.arcade block; JSONRPCError renders a -32603 error
// (CodeInternalError, the MCP Go SDK's jsonrpc.CodeInternalError) with the
// same block as error.data; JSONRPCResult wraps a result. The tool result and
// the error object are encoded with encoding/json from structs; only the
// JSON-RPC envelope is spliced, because the request id and a result are
// copied byte for byte.
//
// When there is no JSON-RPC request to answer (a GET stream, a DELETE, a POST
// of only notifications or responses), GatewayStatus is the front door's own
// HTTP status for a Failure (502, or 429, 503, 504), and RetryAfterSeconds
// the Retry-After it may carry, read from the upstream's header, never
// copied from it.
//
// # The structuredContent rule
//
// StripStructuredContentOnError and RewriteResponse delete structuredContent
// from error results by splicing bytes: remaining members keep their order and
// their exact bytes (numbers such as 1e2 or 1.50 included), and untouched
// input comes back as the same slice. Response ids are matched in NormalizeID
// form; IDSet keeps the ids of the tools/call requests of one POST.
package errormap
