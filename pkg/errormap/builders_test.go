package errormap

import (
	"encoding/json"
	"net/http"
	"testing"
)

func TestToolErrorResult(t *testing.T) {
	tests := []struct {
		name string
		f    Failure
		want string
	}{
		{"404 with statusCode", FromStatus(404, nil, testNow),
			`{"content":[{"type":"text","text":"Upstream HTTP request failed (Not Found, client error)."}],"isError":true,"_meta":{"arcade":{"errorKind":"UPSTREAM_RUNTIME_NOT_FOUND","canRetry":false,"statusCode":404}}}`},
		{"rate limit with retryAfterMs", FromStatus(429, http.Header{"Retry-After": {"2"}}, testNow),
			`{"content":[{"type":"text","text":"Upstream HTTP request failed (Too Many Requests, client error). Retry after 2 second(s)."}],"isError":true,"_meta":{"arcade":{"errorKind":"UPSTREAM_RUNTIME_RATE_LIMIT","canRetry":true,"retryAfterMs":2000,"statusCode":429}}}`},
		{"transport: optional keys omitted", FromTransport(errTimeoutForTest),
			`{"content":[{"type":"text","text":"HTTP request timed out before a complete response was received."}],"isError":true,"_meta":{"arcade":{"errorKind":"NETWORK_TRANSPORT_RUNTIME_TIMEOUT","canRetry":true}}}`},
		{"TLS message keeps the em dash", Failure{Kind: KindToolFatal, Message: MessageTLS},
			`{"content":[{"type":"text","text":"TLS handshake failed — likely a local certificate or trust configuration issue."}],"isError":true,"_meta":{"arcade":{"errorKind":"TOOL_RUNTIME_FATAL","canRetry":false}}}`},
		{"zero failure", Failure{},
			`{"content":[{"type":"text","text":"Unspecified error during tool execution"}],"isError":true,"_meta":{"arcade":{"errorKind":"UNKNOWN","canRetry":false}}}`},
		{"message is JSON-escaped", Failure{Kind: KindUnknown, Message: "a \"quoted\"\nline"},
			`{"content":[{"type":"text","text":"a \"quoted\"\nline"}],"isError":true,"_meta":{"arcade":{"errorKind":"UNKNOWN","canRetry":false}}}`},
		{"HTML characters escaped as encoding/json does", Failure{Kind: KindUnknown, Message: "a<b>&c\u2028"},
			`{"content":[{"type":"text","text":"a\u003cb\u003e\u0026c\u2028"}],"isError":true,"_meta":{"arcade":{"errorKind":"UNKNOWN","canRetry":false}}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ToolErrorResult(tc.f)
			if string(got) != tc.want {
				t.Errorf("got\n  %s\nwant\n  %s", got, tc.want)
			}
			var v struct {
				StructuredContent *json.RawMessage `json:"structuredContent"`
				IsError           bool             `json:"isError"`
			}
			if err := json.Unmarshal(got, &v); err != nil || !v.IsError || v.StructuredContent != nil {
				t.Errorf("not a valid error CallToolResult: %v %+v", err, v)
			}
			// The result passes the strip rule untouched.
			if _, changed := StripStructuredContentOnError(got); changed {
				t.Error("own result rewritten")
			}
		})
	}
}

var errTimeoutForTest = timeoutErr{"i/o timeout"}

func TestJSONRPCError(t *testing.T) {
	rl := FromStatus(429, http.Header{"Retry-After": {"2"}}, testNow)
	tests := []struct {
		name string
		id   json.RawMessage
		f    Failure
		want string
	}{
		{"number id", json.RawMessage(`7`), FromStatus(502, nil, testNow),
			`{"jsonrpc":"2.0","id":7,"error":{"code":-32603,"message":"Upstream HTTP request failed (Bad Gateway, server error).","data":{"errorKind":"UPSTREAM_RUNTIME_SERVER_ERROR","canRetry":true,"statusCode":502}}}`},
		{"string id kept verbatim", json.RawMessage(`"req-\u0031"`), rl,
			`{"jsonrpc":"2.0","id":"req-\u0031","error":{"code":-32603,"message":"Upstream HTTP request failed (Too Many Requests, client error). Retry after 2 second(s).","data":{"errorKind":"UPSTREAM_RUNTIME_RATE_LIMIT","canRetry":true,"retryAfterMs":2000,"statusCode":429}}}`},
		{"nil id → null", nil, FromTransport(errTimeoutForTest),
			`{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"HTTP request timed out before a complete response was received.","data":{"errorKind":"NETWORK_TRANSPORT_RUNTIME_TIMEOUT","canRetry":true}}}`},
		{"invalid id → null", json.RawMessage(`{oops`), Failure{Kind: KindNetworkUnmapped, Message: MessageTransportUnmapped, CanRetry: true},
			`{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"HTTP request failed before a complete response was received.","data":{"errorKind":"NETWORK_TRANSPORT_RUNTIME_UNMAPPED","canRetry":true}}}`},
		{"string id with HTML characters kept verbatim", json.RawMessage(`"a<b&c"`), Failure{Kind: KindUnknown, Message: "x<y"},
			`{"jsonrpc":"2.0","id":"a<b&c","error":{"code":-32603,"message":"x\u003cy","data":{"errorKind":"UNKNOWN","canRetry":false}}}`},
		{"padded id trimmed", json.RawMessage(" 1.50 "), Failure{Kind: KindToolFatal, Message: MessageTLS},
			`{"jsonrpc":"2.0","id":1.50,"error":{"code":-32603,"message":"TLS handshake failed — likely a local certificate or trust configuration issue.","data":{"errorKind":"TOOL_RUNTIME_FATAL","canRetry":false}}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := JSONRPCError(tc.id, tc.f)
			if string(got) != tc.want {
				t.Errorf("got\n  %s\nwant\n  %s", got, tc.want)
			}
			if !json.Valid(got) {
				t.Error("invalid JSON")
			}
		})
	}
}

func TestJSONRPCResult(t *testing.T) {
	tests := []struct {
		id, result json.RawMessage
		want       string
	}{
		{json.RawMessage(`1`), json.RawMessage(`{"b":1e2,"a":1.50}`), `{"jsonrpc":"2.0","id":1,"result":{"b":1e2,"a":1.50}}`},
		{json.RawMessage(`"x"`), nil, `{"jsonrpc":"2.0","id":"x","result":{}}`},
		{nil, json.RawMessage(` [] `), `{"jsonrpc":"2.0","id":null,"result":[]}`},
		{json.RawMessage(`3`), ToolErrorResult(FromStatus(404, nil, testNow)),
			`{"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"Upstream HTTP request failed (Not Found, client error)."}],"isError":true,"_meta":{"arcade":{"errorKind":"UPSTREAM_RUNTIME_NOT_FOUND","canRetry":false,"statusCode":404}}}}`},
	}
	for _, tc := range tests {
		if got := JSONRPCResult(tc.id, tc.result); string(got) != tc.want {
			t.Errorf("got\n  %s\nwant\n  %s", got, tc.want)
		}
	}
}
