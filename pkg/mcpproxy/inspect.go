package mcpproxy

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/errormap"
)

// Message is what the front door reads from one JSON-RPC message of a
// request body.
type Message struct {
	// Method is empty for a response.
	Method string
	// ID is the raw id; nil for a notification.
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

// errNotJSONRPC means the body is not a JSON-RPC message or batch.
var errNotJSONRPC = errors.New("body is not JSON-RPC")

// Inspect parses a POST body. An empty body gives an empty Request.
func Inspect(body []byte) (*Request, error) {
	r := &Request{ToolCallIDs: errormap.IDSet{}}
	b := bytes.TrimSpace(body)
	if len(b) == 0 {
		return r, nil
	}
	type raw struct {
		Method string          `json:"method"`
		ID     json.RawMessage `json:"id"`
		Params json.RawMessage `json:"params"`
	}
	var msgs []raw
	if b[0] == '[' {
		r.Batch = true
		if err := json.Unmarshal(b, &msgs); err != nil {
			return nil, errNotJSONRPC
		}
	} else {
		var m raw
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, errNotJSONRPC
		}
		msgs = []raw{m}
	}
	for _, m := range msgs {
		msg := Message{Method: m.Method, ID: m.ID}
		if len(m.Params) > 0 && hasMirroredName(m.Method) {
			var p struct {
				Name   string `json:"name"`
				URI    string `json:"uri"`
				TaskID string `json:"taskId"`
			}
			if err := json.Unmarshal(m.Params, &p); err == nil {
				switch {
				case m.Method == "resources/read":
					msg.Name = p.URI
				case strings.HasPrefix(m.Method, "tasks/"):
					msg.Name = p.TaskID
				default:
					msg.Name = p.Name
				}
			}
		}
		if msg.Method == "tools/call" && msg.IsRequest() {
			r.ToolCallIDs.Add(msg.ID)
		}
		r.Messages = append(r.Messages, msg)
	}
	return r, nil
}

// hasMirroredName reports whether the front door knows which body field
// Mcp-Name mirrors for method; for other methods the header is forwarded
// unchecked (policy never reads it).
func hasMirroredName(method string) bool {
	switch method {
	case "tools/call", "prompts/get", "resources/read", "tasks/get", "tasks/update", "tasks/cancel", "tasks/result":
		return true
	}
	return false
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
