// Package stdiobridge serves a stdio MCP server over Streamable HTTP, one
// child process per MCP session: each initialize from an authenticated
// caller starts the configured command with that caller's identity and
// secrets in its environment, and the session can reach only that
// process. Messages pass both ways as they are (one compact JSON line
// each on the child's stdin and stdout); responses and the child's own
// requests and notifications go back as SSE events. It sits behind the
// mcpproxy Guard like an HTTP upstream, so the scope policy, session
// binding and the response rules apply unchanged. Options are its
// settings (the stdio block of the front door's options).
package stdiobridge
