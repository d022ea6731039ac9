// Package ratelimit limits the request rate of each caller (the token's
// issuer and subject) of an MCP front door: token buckets with a burst,
// one per caller for every request (default), per caller and JSON-RPC
// method (methods) and per caller and tool of tools/call (tools). A
// request takes a token from every bucket that applies, or from none when
// one of them is empty; it is then refused with the time until that
// bucket has a token again (for Retry-After, or the errormap taxonomy's
// retryAfterMs).
//
// Buckets live in memory (a bounded LRU of callers: the default, one limit
// per process) or in Redis (rate_limits.store: redis://…, one limit shared
// by every replica, taken atomically by one Lua script with the server's
// clock). When Redis cannot answer, on_store_error decides: allow
// (fail-open, the default) or deny (fail-closed).
//
// Options are the `rate_limits` block of the front door's options; New
// builds a Limiter from them and Limiter.Allow decides one request.
package ratelimit
