package mcpproxy

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// denyInProtocol answers a request the scope policy denies inside MCP
// (scope_denial: error) with HTTP 200, so clients that end the session on
// a 403 keep it: a tools/call gets a tool error result naming the scopes,
// any other request a JSON-RPC error (CodeInsufficientScope) with
// required_scopes and resource_metadata in data; a batch gets one answer
// per request. It returns false when the body has no request to answer
// (only notifications or responses): those get the challenge.
func (g *Guard) denyInProtocol(w http.ResponseWriter, req *Request, needed, missing []string) bool {
	var answers []json.RawMessage
	for _, m := range req.Messages {
		if !m.IsRequest() {
			continue
		}
		answers = append(answers, denial(m, needed, missing, g.challenger.MetadataURL))
	}
	if len(answers) == 0 {
		return false
	}
	var body []byte
	if req.Batch {
		body, _ = json.Marshal(answers)
	} else {
		body = answers[0]
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return true
}

// denial is the in-protocol answer to one denied request.
func denial(m Message, needed, missing []string, metadataURL string) json.RawMessage {
	text := "Insufficient scope: this request needs the scopes " + strings.Join(needed, " ") +
		" (missing: " + strings.Join(missing, " ") + "). Ask the user to authorize them and try again."
	type rpc struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Result  any             `json:"result,omitempty"`
		Error   any             `json:"error,omitempty"`
	}
	if m.Method == "tools/call" {
		type content struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}
		b, _ := json.Marshal(rpc{JSONRPC: "2.0", ID: m.ID, Result: struct {
			Content []content `json:"content"`
			IsError bool      `json:"isError"`
		}{[]content{{"text", text}}, true}})
		return b
	}
	type data struct {
		RequiredScopes   []string `json:"required_scopes"`
		MissingScopes    []string `json:"missing_scopes"`
		ResourceMetadata string   `json:"resource_metadata"`
	}
	b, _ := json.Marshal(rpc{JSONRPC: "2.0", ID: m.ID, Error: struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Data    data   `json:"data"`
	}{CodeInsufficientScope, text, data{needed, missing, metadataURL}}})
	return b
}
