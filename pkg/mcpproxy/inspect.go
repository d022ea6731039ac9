package mcpproxy

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/errormap"
)

// Message is what the front door reads from one JSON-RPC message of a
// request body.
type Message struct {
	// Method is empty for a response.
	Method string
	// ID is the raw id (a JSON string or number); nil for a notification.
	ID json.RawMessage
	// Name is what Mcp-Name mirrors: params.name (tools/call,
	// prompts/get), params.uri (resources/read) or params.taskId (tasks/*);
	// empty otherwise.
	Name string
}

// IsRequest reports whether m is a request (has a method and an id).
func (m Message) IsRequest() bool { return m.Method != "" && len(m.ID) > 0 && string(m.ID) != "null" }

// Request is the inspected MCP request: its JSON-RPC messages and the ids
// of its tools/call requests.
type Request struct {
	// Messages of the body: one, or several for a 2025-03-26 batch.
	Messages []Message
	// Batch is true when the body was a JSON array.
	Batch bool
	// ToolCallIDs holds the ids of tools/call requests.
	ToolCallIDs errormap.IDSet
}

// Single returns the one request message of a non-batch body, if any.
func (r *Request) Single() (Message, bool) {
	if r == nil || r.Batch || len(r.Messages) != 1 || !r.Messages[0].IsRequest() {
		return Message{}, false
	}
	return r.Messages[0], true
}

// ErrBodyRefused is the class of every BodyError: a request body the front
// door will not read, because an MCP server could read it differently.
var ErrBodyRefused = errors.New("request body refused")

// BodyError says why a POST body was refused and how to answer it.
type BodyError struct {
	// Code is the JSON-RPC error code: -32700 (not JSON) or -32600 (JSON,
	// but not one unambiguous JSON-RPC message or batch).
	Code int
	// ID is the request id when it could be read unambiguously, else nil.
	ID json.RawMessage
	// Msg is a fixed, client-safe phrase (never the body's text).
	Msg string
}

func (e *BodyError) Error() string { return "request body refused: " + e.Msg }

// Is makes errors.Is(err, ErrBodyRefused) true.
func (e *BodyError) Is(target error) bool { return target == ErrBodyRefused }

func invalid(id json.RawMessage, msg string) *BodyError {
	return &BodyError{Code: jsonrpc.CodeInvalidRequest, ID: id, Msg: "Invalid Request: " + msg}
}

func parseError() *BodyError { return &BodyError{Code: jsonrpc.CodeParseError, Msg: "Parse error"} }

// Member names the front door reads. A member that equals one of them
// under Unicode case folding without being it is refused: encoding/json
// would take "Method" or "meſhod"... as the member, a case-sensitive
// server would not.
var (
	messageMembers = []string{"jsonrpc", "id", "method", "params", "result", "error"}
	paramsMembers  = []string{"name", "uri", "taskId", "arguments", "_meta", "cursor"}
)

// foldsToOther reports whether name differs from, but case-folds to, one
// of the protocol names.
func foldsToOther(name string, protocol []string) bool {
	for _, p := range protocol {
		if name != p && strings.EqualFold(name, p) {
			return true
		}
	}
	return false
}

// Inspect reads a POST body strictly: one JSON-RPC message or a non-empty
// batch of them, with no duplicate member names anywhere, valid UTF-8, no
// member names that differ from a protocol member only in case, the
// protocol members of their JSON types (method, params.name, params.uri,
// params.taskId strings; id a string or number; params an object), and
// nothing after the value. A body that passes has one reading: the one
// every case-sensitive or case-insensitive, first-wins or last-wins JSON
// reader of the MCP server behind agrees with. Anything else is a
// *BodyError (errors.Is ErrBodyRefused).
func Inspect(body []byte) (*Request, error) {
	r := &Request{ToolCallIDs: errormap.IDSet{}}
	dec := jsontext.NewDecoder(bytes.NewReader(body))
	switch dec.PeekKind() {
	case '{':
		m, err := readMessage(dec)
		if err != nil {
			return nil, err
		}
		r.add(m)
	case '[':
		r.Batch = true
		if _, err := dec.ReadToken(); err != nil {
			return nil, parseError()
		}
		for dec.PeekKind() != ']' {
			if k := dec.PeekKind(); k != '{' {
				if k == 0 {
					return nil, syntaxError(dec)
				}
				return nil, invalid(nil, "a batch holds JSON-RPC message objects")
			}
			m, err := readMessage(dec)
			if err != nil {
				var be *BodyError
				if errors.As(err, &be) {
					be.ID = nil // ambiguous inside a batch
				}
				return nil, err
			}
			r.add(m)
		}
		if _, err := dec.ReadToken(); err != nil {
			return nil, parseError()
		}
		if len(r.Messages) == 0 {
			return nil, invalid(nil, "empty batch")
		}
	case 0:
		return nil, syntaxError(dec)
	default:
		return nil, invalid(nil, "not a JSON-RPC message")
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return nil, &BodyError{Code: jsonrpc.CodeParseError, Msg: "Parse error: data after the JSON value"}
	}
	return r, nil
}

func (r *Request) add(m Message) {
	if m.Method == "tools/call" && m.IsRequest() {
		r.ToolCallIDs.Add(m.ID)
	}
	r.Messages = append(r.Messages, m)
}

// syntaxError classifies the decoder's error at its current position.
func syntaxError(dec *jsontext.Decoder) error {
	_, err := dec.ReadValue()
	return classify(err)
}

// classify turns a decoder error into the refusal to send: a duplicate
// member name is valid JSON but not one JSON-RPC reading (-32600), other
// errors are not JSON (-32700).
func classify(err error) error {
	if errors.Is(err, jsontext.ErrDuplicateName) {
		return invalid(nil, "duplicate member name")
	}
	return parseError()
}

// readMessage reads one JSON-RPC message object. A syntactic problem
// (not JSON, duplicate names) ends the read at once and the id is unknown;
// a semantic one is reported after the whole object was read, with its id
// (then unambiguous).
func readMessage(dec *jsontext.Decoder) (Message, error) {
	var (
		m                 Message
		params            jsontext.Value
		hasResult, hasErr bool
		hasVersion        bool
		bad               string // the first semantic problem
	)
	fail := func(msg string) {
		if bad == "" {
			bad = msg
		}
	}
	if _, err := dec.ReadToken(); err != nil { // '{'
		return m, classify(err)
	}
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return m, classify(err)
		}
		name := tok.String()
		kind := dec.PeekKind()
		v, err := dec.ReadValue()
		if err != nil {
			return m, classify(err)
		}
		if foldsToOther(name, messageMembers) {
			fail("member name differs from a JSON-RPC member only in case")
			continue
		}
		switch name {
		case "jsonrpc":
			hasVersion = string(v) == `"2.0"`
			if !hasVersion {
				fail(`"jsonrpc" must be "2.0"`)
			}
		case "id":
			if kind != '"' && kind != '0' {
				fail(`"id" must be a string or a number`)
				continue
			}
			m.ID = json.RawMessage(bytes.Clone(v))
		case "method":
			if kind != '"' {
				fail(`"method" must be a string`)
				continue
			}
			m.Method = unquote(v)
			if m.Method == "" {
				fail(`"method" is empty`)
			}
		case "params":
			if kind != '{' {
				fail(`"params" must be an object`)
				continue
			}
			params = bytes.Clone(v)
		case "result":
			hasResult = true
		case "error":
			hasErr = true
		}
	}
	if _, err := dec.ReadToken(); err != nil { // '}'
		return m, classify(err)
	}
	if bad == "" && !hasVersion {
		fail(`"jsonrpc" must be "2.0"`)
	}
	if bad == "" {
		bad = m.check(params, hasResult, hasErr)
	}
	if bad != "" {
		return m, invalid(m.ID, bad)
	}
	return m, nil
}

// check completes m from params and says what is wrong with it, if
// anything.
func (m *Message) check(params jsontext.Value, hasResult, hasErr bool) string {
	if m.Method == "" {
		// A response to a server request (sampling, elicitation, roots).
		if len(m.ID) == 0 || hasResult == hasErr || params != nil {
			return "neither a request, a notification nor a response"
		}
		return ""
	}
	if hasResult || hasErr {
		return "a request has no result or error"
	}
	names, err := readParams(params)
	if err != nil {
		return err.Error()
	}
	switch {
	case m.Method == "resources/read":
		m.Name = names.uri
	case strings.HasPrefix(m.Method, "tasks/"):
		m.Name = names.taskID
	default:
		m.Name = names.name
	}
	if field, ok := requiredName(m.Method); ok && m.Name == "" {
		return `"params.` + field + `" is required`
	}
	return ""
}

// unquote returns the string a valid JSON string literal stands for.
func unquote(v jsontext.Value) string {
	b, err := jsontext.AppendUnquote(nil, v)
	if err != nil {
		return ""
	}
	return string(b)
}

type paramNames struct{ name, uri, taskID string }

// readParams reads the params members the policy and Mcp-Name use; they
// must be strings where present.
func readParams(params jsontext.Value) (paramNames, error) {
	var p paramNames
	if params == nil {
		return p, nil
	}
	dec := jsontext.NewDecoder(bytes.NewReader(params))
	if _, err := dec.ReadToken(); err != nil {
		return p, errors.New("params")
	}
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return p, errors.New("params")
		}
		name := tok.String()
		if foldsToOther(name, paramsMembers) {
			return p, errors.New("params member name differs from an MCP member only in case")
		}
		var dst *string
		switch name {
		case "name":
			dst = &p.name
		case "uri":
			dst = &p.uri
		case "taskId":
			dst = &p.taskID
		}
		if dst == nil {
			if _, err := dec.ReadValue(); err != nil {
				return p, errors.New("params")
			}
			continue
		}
		if dec.PeekKind() != '"' {
			return p, errors.New(`"params.` + name + `" must be a string`)
		}
		tok, err = dec.ReadToken()
		if err != nil {
			return p, errors.New("params")
		}
		*dst = tok.String()
	}
	return p, nil
}

// requiredName gives the params member a method must carry, because the
// policy or Mcp-Name reads it.
func requiredName(method string) (string, bool) {
	switch method {
	case "tools/call", "prompts/get":
		return "name", true
	case "resources/read":
		return "uri", true
	case "tasks/get", "tasks/update", "tasks/cancel", "tasks/result":
		return "taskId", true
	}
	return "", false
}

// hasMirroredName reports whether the front door knows which body field
// Mcp-Name mirrors for method; for other methods the header is forwarded
// unchecked (policy never reads it).
func hasMirroredName(method string) bool {
	_, ok := requiredName(method)
	return ok
}

// DecodeHeaderValue decodes the MCP header encoding "=?base64?…?=";
// other values are returned as they are.
func DecodeHeaderValue(v string) (string, bool) {
	if !strings.HasPrefix(v, "=?base64?") || !strings.HasSuffix(v, "?=") || len(v) < len("=?base64??=") {
		return v, true
	}
	b, err := base64.StdEncoding.DecodeString(v[len("=?base64?") : len(v)-2])
	if err != nil {
		return "", false
	}
	return string(b), true
}

// CheckMirroredHeaders enforces that Mcp-Method and Mcp-Name, when sent,
// agree with the JSON-RPC body (2026-07-28 §header validation); policy
// never trusts a header the body contradicts. It returns a description
// of the mismatch or "".
func CheckMirroredHeaders(h http.Header, req *Request) string {
	methods, hasMethod := h["Mcp-Method"]
	names, hasName := h["Mcp-Name"]
	if !hasMethod && !hasName {
		return ""
	}
	if len(methods) > 1 || len(names) > 1 {
		return "Mcp-Method and Mcp-Name may appear at most once"
	}
	if req == nil || req.Batch || len(req.Messages) != 1 {
		return "Mcp-Method and Mcp-Name require a single JSON-RPC message"
	}
	m := req.Messages[0]
	if hasMethod {
		v, ok := DecodeHeaderValue(methods[0])
		if !ok || v != m.Method {
			return "Mcp-Method header does not match the request body"
		}
	}
	if hasName && hasMirroredName(m.Method) {
		v, ok := DecodeHeaderValue(names[0])
		if !ok || v != m.Name {
			return "Mcp-Name header does not match the request body"
		}
	}
	return ""
}

// allowedMethods are the Streamable HTTP transport's methods (and the CORS
// preflight); the Allow header of a 405.
const allowedMethods = "GET, POST, DELETE, OPTIONS"

// transportMethod reports whether m is an MCP transport method (a CORS
// preflight OPTIONS is answered before this check).
func transportMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodPost || m == http.MethodDelete
}

// unreadableBody returns a reason when a POST body is in a form the guard
// does not read: any Content-Encoding (the server would decompress what
// the guard saw compressed), or a charset other than UTF-8 (the server
// would transcode what the guard read as UTF-8). Such bodies get 415.
func unreadableBody(h http.Header) string {
	for _, ce := range h.Values("Content-Encoding") {
		if strings.TrimSpace(ce) != "" && !strings.EqualFold(strings.TrimSpace(ce), "identity") {
			return "content_encoding"
		}
	}
	cts := h.Values("Content-Type")
	if len(cts) > 1 {
		return "content_type"
	}
	if len(cts) == 1 {
		_, params, err := mime.ParseMediaType(cts[0])
		if err != nil {
			return "content_type"
		}
		if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
			return "charset"
		}
	}
	return ""
}
