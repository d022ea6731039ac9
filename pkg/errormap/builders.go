package errormap

import (
	"encoding/json"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// CodeInternalError is the JSON-RPC error code JSONRPCError uses: -32603,
// JSON-RPC 2.0's "Internal error" (the MCP Go SDK's
// jsonrpc.CodeInternalError). Arcade uses it for unexpected failures, every
// MCP SDK maps it to a generic internal error, and the typed detail travels
// in error.data. The implementation-defined range -32000..-32099 is avoided
// on purpose: MCP and its SDKs hand out codes from it (-32002 resource not
// found, -32042 URL elicitation required, -32020 header mismatch, Arcade's
// -32043 insufficient scope), so a private pick there risks being read as
// one of those.
const CodeInternalError = jsonrpc.CodeInternalError

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

// errorFields are the typed-error members shared by _meta.arcade and
// error.data, in Arcade's order. Optional members are left out when zero,
// never null.
type errorFields struct {
	ErrorKind    Kind  `json:"errorKind"`
	CanRetry     bool  `json:"canRetry"`
	RetryAfterMs int64 `json:"retryAfterMs,omitempty"`
	StatusCode   int   `json:"statusCode,omitempty"`
}

func fieldsOf(f Failure) errorFields {
	return errorFields{ErrorKind: f.Kind, CanRetry: f.CanRetry, RetryAfterMs: f.RetryAfterMs, StatusCode: f.StatusCode}
}

type textContent struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// toolErrorResult is the CallToolResult of ToolErrorResult; it has no
// structuredContent member at all.
type toolErrorResult struct {
	Content []textContent `json:"content"`
	IsError bool          `json:"isError"`
	Meta    struct {
		Arcade errorFields `json:"arcade"`
	} `json:"_meta"`
}

// jsonrpcErrorObject is the error member of JSONRPCError.
type jsonrpcErrorObject struct {
	Code    int         `json:"code"`
	Message string      `json:"message"`
	Data    errorFields `json:"data"`
}

// marshal encodes values of this file's types, which cannot fail to encode.
func marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("errormap: " + err.Error())
	}
	return b
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
	r := toolErrorResult{Content: []textContent{{Type: "text", Text: f.Message}}, IsError: true}
	r.Meta.Arcade = fieldsOf(f)
	return marshal(r)
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
	// The envelope is spliced by hand because id is copied verbatim:
	// encoding/json would re-escape a json.RawMessage ("<" → "\u003c").
	e := marshal(jsonrpcErrorObject{Code: CodeInternalError, Message: f.Message, Data: fieldsOf(f)})
	b := make([]byte, 0, 40+len(id)+len(e))
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = appendID(b, id)
	b = append(b, `,"error":`...)
	b = append(b, e...)
	return append(b, '}')
}

// JSONRPCResult renders {"jsonrpc":"2.0","id":<id>,"result":<result>}. id and
// result are copied byte for byte (spliced, not re-encoded); an empty result
// is written as {} (MCP's empty result). An empty or invalid id becomes null.
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
