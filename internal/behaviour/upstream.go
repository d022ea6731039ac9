package behaviour

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// Seen is one request as it reached the upstream.
type Seen struct {
	Method, Path, Host string
	Header             http.Header
	Body               string
	Cancelled          bool // the request's context ended before the answer
}

// Upstream is a scripted MCP-ish server on loopback that records what
// reaches it. POST bodies are JSON-RPC; tools/call names pick a script:
//
//	ok         JSON result
//	ok_sc      JSON result with structuredContent and isError false
//	err_json   JSON error result with structuredContent
//	err_sse    SSE: a progress notification, then an error result with structuredContent
//	status     answers arguments.status with arguments.headers and an internal-looking body
//	session    sets Mcp-Session-Id: up-session-1
//	slow       waits until the client goes away (at most 5 s)
//
// initialize sets Mcp-Session-Id up-session-1; a message without id gets
// 202. GET /mcp streams SSE (echoing Last-Event-ID); DELETE /mcp answers
// 204 for up-session-1 and 404 otherwise; /status/405 answers 405. Any
// request with ?reply=<status> gets that status as a failing server sends
// it (see reply).
type Upstream struct {
	URL  string
	mu   sync.Mutex
	seen []Seen
}

// NewUpstream starts the upstream; it stops when the test ends.
func NewUpstream(t *testing.T) *Upstream {
	t.Helper()
	u := &Upstream{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(u.serve), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	u.URL = "http://" + ln.Addr().String()
	return u
}

// Reset forgets what was seen.
func (u *Upstream) Reset() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.seen = nil
}

// Count is how many requests arrived.
func (u *Upstream) Count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.seen)
}

// Last is the most recent request (zero Seen if none).
func (u *Upstream) Last() Seen {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		return Seen{}
	}
	return u.seen[len(u.seen)-1]
}

func (u *Upstream) record(s Seen) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.seen = append(u.seen, s)
	return len(u.seen) - 1
}

func (u *Upstream) setCancelled(i int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.seen[i].Cancelled = true
}

type rpc struct {
	Method string          `json:"method"`
	ID     json.RawMessage `json:"id"`
	Params struct {
		Name      string `json:"name"`
		Arguments struct {
			Status  int               `json:"status"`
			Headers map[string]string `json:"headers"`
		} `json:"arguments"`
	} `json:"params"`
}

func (u *Upstream) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	idx := u.record(Seen{Method: r.Method, Path: r.URL.Path, Host: r.Host, Header: r.Header.Clone(), Body: string(b)})
	if code := r.URL.Query().Get("reply"); code != "" {
		reply(w, r, code)
		return
	}
	switch {
	case r.URL.Path == "/status/405":
		w.Header().Set("Allow", "GET, POST")
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	case r.Method == http.MethodGet && r.URL.Path == "/mcp" && r.Header.Get("Last-Event-ID") == "e1":
		// Resumption of err_sse's stream: the tools/call result is replayed.
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "id: e2\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":15,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"boom\"}],\"structuredContent\":{\"error\":\"boom\"},\"isError\":true}}\n\n")
		fmt.Fprint(w, "id: e3\ndata: {\"jsonrpc\":\"2.0\",\"id\":16,\"result\":{\"content\":[],\"structuredContent\":{\"ok\":true}}}\n\n")
		return
	case r.Method == http.MethodGet && r.URL.Path == "/mcp":
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "id: s1\nretry: 1500\ndata: {\"last_event_id\":%q}\n\n", r.Header.Get("Last-Event-ID"))
		w.(http.Flusher).Flush()
		time.Sleep(300 * time.Millisecond)
		fmt.Fprint(w, "id: s2\ndata: {\"n\":2}\n\n")
		return
	case r.Method == http.MethodDelete:
		if r.Header.Get("Mcp-Session-Id") == "up-session-1" {
			w.WriteHeader(http.StatusNoContent)
		} else {
			http.Error(w, "session not found", http.StatusNotFound)
		}
		return
	case r.Method != http.MethodPost:
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"ok":true}`)
		return
	}
	var m rpc
	if json.Unmarshal(b, &m) != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}`)
		return
	}
	if len(m.ID) == 0 {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	id := string(m.ID)
	jsonAnswer := func(result string) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":%s}`, id, result)
	}
	switch m.Method {
	case "initialize":
		w.Header().Set("Mcp-Session-Id", "up-session-1")
		jsonAnswer(`{"protocolVersion":"2025-11-25","capabilities":{},"serverInfo":{"name":"up","version":"1"}}`)
		return
	case "tools/call":
	case "tools/list":
		jsonAnswer(`{"tools":[{"name":"ok","inputSchema":{"type":"object"}},{"name":"admin_tool","inputSchema":{"type":"object"}}],"nextCursor":"p2"}`)
		return
	case "prompts/list":
		jsonAnswer(`{"prompts":[{"name":"open_prompt"},{"name":"admin_prompt"}]}`)
		return
	case "resources/list":
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{\"resources\":[{\"uri\":\"file:///pub/a\",\"name\":\"a\"},{\"uri\":\"file:///admin/b\",\"name\":\"b\"}]}}\n\n", id)
		return
	default:
		jsonAnswer(`{}`)
		return
	}
	switch m.Params.Name {
	case "ok":
		jsonAnswer(`{"content":[{"type":"text","text":"ok"}]}`)
	case "ok_sc":
		jsonAnswer(`{"content":[{"type":"text","text":"ok"}],"structuredContent":{"v":1.50},"isError":false}`)
	case "err_json":
		jsonAnswer(`{"content":[{"type":"text","text":"boom"}],"structuredContent":{"error":"boom"},"isError":true,"_meta":{"k":1e2}}`)
	case "err_sse":
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "id: e1\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progress\":1}}\n\n")
		w.(http.Flusher).Flush()
		time.Sleep(300 * time.Millisecond)
		fmt.Fprintf(w, "id: e2\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"boom\"}],\"structuredContent\":{\"error\":\"boom\"},\"isError\":true}}\n\n", id)
	case "status":
		for k, v := range m.Params.Arguments.Headers {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(m.Params.Arguments.Status)
		fmt.Fprint(w, "internal detail: db password=hunter2 at /srv/app.go:42")
	case "session":
		w.Header().Set("Mcp-Session-Id", "up-session-1")
		jsonAnswer(`{"content":[]}`)
	case "slow":
		select {
		case <-r.Context().Done():
			u.setCancelled(idx)
		case <-time.After(5 * time.Second):
		}
		jsonAnswer(`{"content":[]}`)
	default:
		jsonAnswer(`{"content":[{"type":"text","text":"unknown tool"}]}`)
	}
}
