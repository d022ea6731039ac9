package errormap

import (
	"encoding/json"
	"strconv"
)

// CodeInternalError is the JSON-RPC error code JSONRPCError uses: -32603,
// JSON-RPC 2.0's "Internal error". Arcade uses it for unexpected failures,
// every MCP SDK maps it to a generic internal error, and the typed detail
// travels in error.data. The implementation-defined range -32000..-32099 is
// avoided on purpose: MCP and its SDKs hand out codes from it (-32002
// resource not found, -32042 URL elicitation required, -32020 header
// mismatch, Arcade's -32043 insufficient scope), so a private pick there
// risks being read as one of those.
const CodeInternalError = -32603

// unspecifiedMessage is Arcade's text for a blank error message (#814).
const unspecifiedMessage = "Unspecified error during tool execution"

func (f Failure) forWire() Failure {
	if f.Kind == "" {
		f.Kind = KindUnknown
	}
	if f.Message == "" {
		f.Message = unspecifiedMessage
	}
	return f
}

// appendString appends s as a JSON string.
func appendString(dst []byte, s string) []byte {
	b, err := json.Marshal(s)
	if err != nil { // cannot happen for a string
		return append(dst, `""`...)
	}
	return append(dst, b...)
}

// appendErrorFields appends the typed-error members shared by _meta.arcade
// and error.data, in Arcade's order: errorKind, canRetry, retryAfterMs?,
// statusCode?. Optional members are left out when zero, never null.
func appendErrorFields(dst []byte, f Failure) []byte {
	dst = append(dst, `{"errorKind":`...)
	dst = appendString(dst, string(f.Kind))
	dst = append(dst, `,"canRetry":`...)
	dst = strconv.AppendBool(dst, f.CanRetry)
	if f.RetryAfterMs != 0 {
		dst = append(dst, `,"retryAfterMs":`...)
		dst = strconv.AppendInt(dst, f.RetryAfterMs, 10)
	}
	if f.StatusCode != 0 {
		dst = append(dst, `,"statusCode":`...)
		dst = strconv.AppendInt(dst, int64(f.StatusCode), 10)
	}
	return append(dst, '}')
}

// ToolErrorResult renders f as an MCP CallToolResult, shaped like Arcade's
// tool-error result (§2.5): no structuredContent key at all, isError true,
// the typed detail under _meta.arcade:
//
//	{"content":[{"type":"text","text":<Message>}],"isError":true,
//	 "_meta":{"arcade":{"errorKind":..,"canRetry":..,"retryAfterMs"?:..,"statusCode"?:..}}}
//
// A zero Kind is written as UNKNOWN and an empty Message as Arcade's
// "Unspecified error during tool execution".
func ToolErrorResult(f Failure) json.RawMessage {
	f = f.forWire()
	b := make([]byte, 0, 160+len(f.Message))
	b = append(b, `{"content":[{"type":"text","text":`...)
	b = appendString(b, f.Message)
	b = append(b, `}],"isError":true,"_meta":{"arcade":`...)
	b = appendErrorFields(b, f)
	b = append(b, "}}"...)
	return b
}

// appendID appends a JSON-RPC id; an empty or invalid id becomes null.
func appendID(dst []byte, id json.RawMessage) []byte {
	id = trimWS(id)
	if len(id) == 0 || !json.Valid(id) {
		return append(dst, "null"...)
	}
	return append(dst, id...)
}

// JSONRPCError renders f as a JSON-RPC error response:
//
//	{"jsonrpc":"2.0","id":<id>,"error":{"code":-32603,"message":<Message>,
//	 "data":{"errorKind":..,"canRetry":..,"retryAfterMs"?:..,"statusCode"?:..}}}
//
// id is copied as is (an empty or invalid id becomes null). See
// CodeInternalError for the choice of code.
func JSONRPCError(id json.RawMessage, f Failure) []byte {
	f = f.forWire()
	b := make([]byte, 0, 160+len(f.Message)+len(id))
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = appendID(b, id)
	b = append(b, `,"error":{"code":`...)
	b = strconv.AppendInt(b, CodeInternalError, 10)
	b = append(b, `,"message":`...)
	b = appendString(b, f.Message)
	b = append(b, `,"data":`...)
	b = appendErrorFields(b, f)
	b = append(b, "}}"...)
	return b
}

// JSONRPCResult renders {"jsonrpc":"2.0","id":<id>,"result":<result>}. result
// is copied byte for byte; an empty result is written as {} (MCP's empty
// result). An empty or invalid id becomes null.
func JSONRPCResult(id json.RawMessage, result json.RawMessage) []byte {
	result = trimWS(result)
	if len(result) == 0 {
		result = json.RawMessage("{}")
	}
	b := make([]byte, 0, 40+len(id)+len(result))
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = appendID(b, id)
	b = append(b, `,"result":`...)
	b = append(b, result...)
	return append(b, '}')
}
