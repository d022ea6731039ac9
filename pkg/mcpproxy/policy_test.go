package mcpproxy

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestOriginPolicy(t *testing.T) {
	loop, err := NewOriginPolicy("http://127.0.0.1:8080/mcp", []string{"https://App.Example.com:443"})
	if err != nil {
		t.Fatal(err)
	}
	public, err := NewOriginPolicy("https://mcp.example.com/mcp", nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		p      *OriginPolicy
		origin []string
		want   bool
	}{
		{loop, nil, true},
		{loop, []string{"https://app.example.com"}, true},
		{loop, []string{"http://localhost:6274"}, true},
		{loop, []string{"http://[::1]:3000"}, true},
		{loop, []string{"http://evil.example"}, false},
		{loop, []string{"null"}, false},
		{loop, []string{"file://"}, false},
		{loop, []string{"https://app.example.com", "https://app.example.com"}, false},
		{public, []string{"https://mcp.example.com"}, true},
		{public, []string{"https://MCP.example.com:443"}, true},
		{public, []string{"http://localhost:3000"}, false},
		{public, []string{"https://app.example.com"}, false},
	}
	for _, c := range cases {
		if got := c.p.AllowOrigin(c.origin); got != c.want {
			t.Errorf("AllowOrigin(%q) with resource %s = %v, want %v", c.origin, c.p.resourceOrigin, got, c.want)
		}
	}
	for host, want := range map[string]bool{"127.0.0.1:8080": true, "localhost": true, "[::1]:8080": true, "evil.example": false, "evil.example:8080": false} {
		if got := loop.AllowHost(host); got != want {
			t.Errorf("AllowHost(%q) = %v", host, got)
		}
	}
	if !public.AllowHost("anything.example") {
		t.Error("non-loopback resources do not check Host")
	}
	if _, err := NewOriginPolicy("https://h/mcp", []string{"https://app.example.com/path"}); err == nil || !strings.Contains(err.Error(), "allowed_origins[0]") {
		t.Errorf("bad origin accepted: %v", err)
	}
}

func TestSessionBinder(t *testing.T) {
	b, err := NewSessionBinder([]byte("0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	w := b.Wrap("https://as", "alice", "up.session/1")
	for i := 0; i < len(w); i++ {
		if w[i] < 0x21 || w[i] > 0x7e {
			t.Fatalf("wrapped id has a non-visible byte: %q", w)
		}
	}
	if id, ok := b.Unwrap("https://as", "alice", w); !ok || id != "up.session/1" {
		t.Fatalf("Unwrap = %q %v", id, ok)
	}
	other, _ := NewSessionBinder([]byte("fedcba9876543210"))
	for name, c := range map[string]struct{ iss, sub, w string }{
		"other subject":    {"https://as", "bob", w},
		"other issuer":     {"https://as2", "alice", w},
		"tampered id":      {"https://as", "alice", "X" + w},
		"no mac":           {"https://as", "alice", strings.Split(w, ".")[0]},
		"raw upstream id":  {"https://as", "alice", "up.session/1"},
		"other key":        {"https://as", "alice", other.Wrap("https://as", "alice", "up.session/1")},
		"length ambiguity": {"https://as", "alicex", b.Wrap("https://as", "alice", "x")},
	} {
		if _, ok := b.Unwrap(c.iss, c.sub, c.w); ok {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := NewSessionBinder([]byte("short")); err == nil {
		t.Error("short key accepted")
	}
}

func TestInspectAndMirroredHeaders(t *testing.T) {
	req, err := Inspect([]byte(`[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}},{"jsonrpc":"2.0","method":"notifications/x"},{"jsonrpc":"2.0","id":"s","method":"tools/call","params":{"name":"b"}},{"jsonrpc":"2.0","id":2,"result":{}}]`))
	if err != nil || !req.Batch || len(req.Messages) != 4 || len(req.ToolCallIDs) != 2 || !req.ToolCallIDs.Has([]byte(`"s"`)) || req.ToolCallIDs.Has([]byte(`2`)) {
		t.Fatalf("Inspect batch = %+v, %v", req, err)
	}
	if _, ok := req.Single(); ok {
		t.Fatal("a batch has no single request")
	}
	if _, err := Inspect([]byte(`{"jsonrpc":`)); err == nil {
		t.Fatal("bad JSON accepted")
	}
	one, _ := Inspect([]byte(`{"jsonrpc":"2.0","id":3,"method":"resources/read","params":{"uri":"file:///x"}}`))
	cases := []struct {
		hdr  http.Header
		want string
	}{
		{http.Header{}, ""},
		{http.Header{"Mcp-Method": {"resources/read"}, "Mcp-Name": {"file:///x"}}, ""},
		{http.Header{"Mcp-Method": {"=?base64?cmVzb3VyY2VzL3JlYWQ=?="}}, ""},
		{http.Header{"Mcp-Method": {"tools/call"}}, "Mcp-Method header does not match the request body"},
		{http.Header{"Mcp-Name": {"file:///y"}}, "Mcp-Name header does not match the request body"},
		{http.Header{"Mcp-Name": {"=?base64?!!!?="}}, "Mcp-Name header does not match the request body"},
		{http.Header{"Mcp-Method": {"resources/read", "resources/read"}}, "Mcp-Method and Mcp-Name may appear at most once"},
	}
	for _, c := range cases {
		if got := CheckMirroredHeaders(c.hdr, one); got != c.want {
			t.Errorf("CheckMirroredHeaders(%v) = %q, want %q", c.hdr, got, c.want)
		}
	}
	if got := CheckMirroredHeaders(http.Header{"Mcp-Method": {"tools/call"}}, req); got == "" {
		t.Error("mirrored headers on a batch accepted")
	}
}

func TestSSEEventSplitting(t *testing.T) {
	ids, _ := Inspect([]byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t"}}`))
	cases := []struct{ in, want string }{
		// CRLF line endings kept, data rewritten.
		{"id: 1\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"structuredContent\":{},\"isError\":true}}\r\n\r\n",
			"id: 1\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"isError\":true}}\r\n\r\n"},
		// Multi-line data joined, rewritten into one data line.
		{"data: {\"jsonrpc\":\"2.0\",\"id\":1,\ndata: \"result\":{\"isError\":true,\"structuredContent\":1}}\n\n",
			"data: {\"jsonrpc\":\"2.0\",\"id\":1,\ndata: \"result\":{\"isError\":true}}\n\n"},
		// Lone-CR line endings (allowed by the SSE grammar) are split too.
		{"id: 1\rdata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"structuredContent\":{},\"isError\":true}}\r\r",
			"id: 1\rdata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"isError\":true}}\r\r"},
		// Comments and priming events pass byte for byte.
		{": keep-alive\n\n", ": keep-alive\n\n"},
		{"id: 0\ndata: \n\n", "id: 0\ndata: \n\n"},
		// Another id is untouched.
		{"data: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"structuredContent\":{},\"isError\":true}}\n\n",
			"data: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"structuredContent\":{},\"isError\":true}}\n\n"},
	}
	for _, c := range cases {
		rec := httptest.NewRecorder()
		rec.Header().Set("Content-Type", "text/event-stream")
		rw := NewResponseWriter(rec, ids, nil, nil, true)
		rw.WriteHeader(200)
		// Byte by byte: events must be reassembled across writes.
		for i := 0; i < len(c.in); i++ {
			_, _ = rw.Write([]byte{c.in[i]})
		}
		rw.Finish()
		if got := rec.Body.String(); got != c.want {
			t.Errorf("event %q\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

// FuzzSSEPassThrough: whatever the upstream streams, chunked anyhow, a
// stream with no matching tools/call result comes out byte for byte.
func FuzzSSEPassThrough(f *testing.F) {
	f.Add([]byte("id: 1\ndata: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"isError\":true,\"structuredContent\":{}}}\n\n"), uint8(3))
	f.Add([]byte("data: x\r\rdata: y\r\n\r\n: c\n\n"), uint8(1))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		ids, _ := Inspect([]byte(`{"jsonrpc":"2.0","id":"never-matches","method":"tools/call","params":{"name":"t"}}`))
		rec := httptest.NewRecorder()
		rec.Header().Set("Content-Type", "text/event-stream")
		rw := NewResponseWriter(rec, ids, nil, nil, true)
		rw.WriteHeader(200)
		n := int(chunk%16) + 1
		for i := 0; i < len(in); i += n {
			_, _ = rw.Write(in[i:min(i+n, len(in))])
		}
		rw.Finish()
		if !bytes.Equal(rec.Body.Bytes(), in) {
			t.Fatalf("changed:\n in %q\nout %q", in, rec.Body.Bytes())
		}
	})
}
