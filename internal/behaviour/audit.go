package behaviour

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// auditArgument is a tool argument that must never be logged.
const auditArgument = "audit-argument-never-logged"

// AuditLog runs a front door with audit.file set: an allowed tools/call
// (is_error true, then false) in a session, a denied one, a 401; the file
// then holds one JSON line per request that reached the policy, with the
// caller, the decision and a hash of the session, and no token, secret
// header value, argument or session id.
func AuditLog(t *testing.T, fd FrontDoor) {
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	e := NewEnv(t, fd, func(s *Settings) { s.AuditFile = file })
	alice := e.Token(t, 1, nil, nil)
	hdr := http.Header{"Authorization": {"Bearer " + alice}, "Content-Type": {"application/json"}, "Accept": {"application/json, text/event-stream"}}
	resp, _ := e.Do(t, "POST", "/mcp", hdr, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`)
	if resp == nil || resp.StatusCode != 200 {
		t.Fatalf("initialize: %v", resp)
	}
	sid := resp.Header.Get("Mcp-Session-Id")
	if sid == "" {
		t.Fatal("no session id")
	}
	hdr.Set("Mcp-Session-Id", sid)
	args := `{"q":"` + auditArgument + `"}`
	for _, c := range []struct {
		body   string
		status int
	}{
		{rpcCall(2, "err_json", args), 200},
		{rpcCall(3, "ok", args), 200},
		{rpcCall(4, "admin_tool", args), 403},
	} {
		if resp, body := e.Do(t, "POST", "/mcp", hdr, c.body); resp == nil || resp.StatusCode != c.status {
			t.Fatalf("%s = %v %q, want %d", c.body, resp, body, c.status)
		}
	}
	noToken := http.Header{"Content-Type": {"application/json"}}
	if resp, _ := e.Do(t, "POST", "/mcp", noToken, rpcCall(5, "ok", args)); resp == nil || resp.StatusCode != 401 {
		t.Fatalf("no token: %v", resp)
	}

	// An event is written once the answer is out: wait for them.
	var lines []string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		lines = readAuditFile(t, file)
		if len(lines) >= 4 || time.Now().After(deadline) {
			break
		}
	}
	time.Sleep(50 * time.Millisecond) // nothing more (the 401) comes
	if lines = readAuditFile(t, file); len(lines) != 4 {
		t.Fatalf("audit file has %d lines, want 4 (the 401 is not audited):\n%s", len(lines), strings.Join(lines, "\n"))
	}
	sum := sha256.Sum256([]byte(sid))
	session := hex.EncodeToString(sum[:8])
	want := []map[string]any{
		{"method": "initialize", "decision": "allowed", "status": 200.0, "session": nil},
		{"method": "tools/call", "name": "err_json", "decision": "allowed", "status": 200.0, "is_error": true, "session": session},
		{"method": "tools/call", "name": "ok", "decision": "allowed", "status": 200.0, "is_error": false, "session": session},
		{"method": "tools/call", "name": "admin_tool", "decision": "denied", "reason": "insufficient_scope", "status": 403.0, "is_error": nil, "session": session},
	}
	for i, l := range lines {
		for _, secret := range []string{alice, APIKey, auditArgument, sid, "up-session-1", "Bearer", "uthorization"} {
			if strings.Contains(l, secret) {
				t.Errorf("audit line holds %q: %s", secret, l)
			}
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		w := want[i]
		w["logger"], w["msg"], w["issuer"], w["subject"], w["client_id"] = "audit", "mcp request", e.Issuer1, "alice", "client-1"
		for k, v := range w {
			got, ok := ev[k]
			if v == nil && ok || v != nil && got != v {
				t.Errorf("line %d: %s = %v, want %v\n%s", i, k, got, v, l)
			}
		}
		for _, k := range []string{"ts", "latency_ms", "request_bytes"} {
			if _, ok := ev[k]; !ok {
				t.Errorf("line %d has no %s: %s", i, k, l)
			}
		}
	}
}

func readAuditFile(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}
