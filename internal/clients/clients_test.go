package clients

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/sidecar"
	"github.com/mcp-frontdoor/mcp-frontdoor/internal/testenv"
)

// sdkPackage is the MCP TypeScript SDK client package the script imports.
const sdkPackage = "@modelcontextprotocol/client"

// scriptTimeout bounds one run of the client script (its own deadline is
// a little shorter, so that it reports which step hung).
const scriptTimeout = 120 * time.Second

// nodeTools returns Node 22 and tools/npm, skipping (or failing under CI)
// when they or the SDK client package are missing, and under -short.
func nodeTools(t *testing.T) (node, npmDir string) {
	t.Helper()
	testenv.RequireTools(t)
	node, npmDir = testenv.Node(t), testenv.NpmDir(t)
	if _, err := os.Stat(filepath.Join(npmDir, "node_modules", filepath.FromSlash(sdkPackage), "package.json")); err != nil {
		testenv.ToolsMissing(t, sdkPackage+" not installed in "+filepath.Join(npmDir, "node_modules"))
	}
	return node, npmDir
}

// event is one JSON line of the client script.
type event map[string]any

func (e event) str(k string) string {
	s, _ := e[k].(string)
	return s
}

// clientRun is the outcome of one client script run.
type clientRun struct {
	events         []event
	stdout, stderr string
}

// all returns the events named name, in order.
func (r *clientRun) all(name string) []event {
	var out []event
	for _, e := range r.events {
		if e.str("event") == name {
			out = append(out, e)
		}
	}
	return out
}

// one returns the only event named name, failing the test otherwise.
func (r *clientRun) one(t *testing.T, name string) event {
	t.Helper()
	es := r.all(name)
	if len(es) != 1 {
		t.Fatalf("client script: %d %q events, want 1\nstdout:\n%s\nstderr:\n%s", len(es), name, r.stdout, r.stderr)
	}
	return es[0]
}

// runClientScript runs tools/npm/e2e/mcp-oauth-client.mjs against mcpURL,
// logging in as user, and fails the test unless it exits 0.
func runClientScript(t *testing.T, mcpURL, user string) *clientRun {
	t.Helper()
	node, npmDir := nodeTools(t)
	script := filepath.Join(npmDir, "e2e", "mcp-oauth-client.mjs")
	ctx, cancel := context.WithTimeout(t.Context(), scriptTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Dir = npmDir
	cmd.Env = append(os.Environ(),
		"PATH="+filepath.Dir(node)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"NO_COLOR=1",
		"MCP_URL="+mcpURL,
		"LOGIN_USER="+user,
		"STEP_UP_TOOL=admin_echo",
		fmt.Sprintf("TIMEOUT_MS=%d", (scriptTimeout-10*time.Second).Milliseconds()),
	)
	cmd.Stdin = strings.NewReader("")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run()
	r := &clientRun{stdout: stdout.String(), stderr: stderr.String()}
	t.Logf("client script: %v in %v", err, time.Since(start).Round(time.Millisecond))
	for line := range strings.Lines(r.stdout) {
		var e event
		if json.Unmarshal([]byte(line), &e) == nil && e.str("event") != "" {
			r.events = append(r.events, e)
		}
	}
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("client script killed after %v\nstdout:\n%s\nstderr:\n%s", scriptTimeout, r.stdout, r.stderr)
	case errors.As(err, &exitErr):
		t.Fatalf("client script exited %d\nstdout:\n%s\nstderr:\n%s", exitErr.ExitCode(), r.stdout, r.stderr)
	case err != nil:
		t.Fatalf("client script: %v", err)
	}
	// Access tokens are JWTs; none may be printed.
	if strings.Contains(r.stdout+r.stderr, "eyJ") {
		t.Errorf("client script output contains what looks like a JWT:\n%s\n%s", r.stdout, r.stderr)
	}
	return r
}

// checkLoginAndStepUp asserts the whole story of one client script run
// against the MCP endpoint resource whose front door requires mcp:admin
// for admin_echo and challenges with scope mcp:read: 401, discovery,
// registration, a login as user granting mcp:read, whoami as user, a
// refresh without a new login, 403 insufficient_scope for admin_echo, a
// second login granting mcp:read mcp:admin, and the call succeeding.
func checkLoginAndStepUp(t *testing.T, r *clientRun, resource, user string) {
	t.Helper()
	dump := func() string { return "stdout:\n" + r.stdout + "\nstderr:\n" + r.stderr }
	origin := strings.TrimSuffix(resource, "/mcp")
	prm := origin + "/.well-known/oauth-protected-resource/mcp"

	https := r.all("http")
	if len(https) == 0 || https[0].str("method") != "POST" || https[0]["status"] != float64(401) ||
		https[0].str("www_authenticate") != `Bearer resource_metadata="`+prm+`", scope="mcp:read"` {
		t.Fatalf("first MCP request: %v, want POST 401 with the mcp:read challenge\n%s", https, dump())
	}
	var forbidden []event
	for _, e := range https {
		if e["status"] == float64(403) {
			forbidden = append(forbidden, e)
		}
	}
	if len(forbidden) != 1 || forbidden[0].str("www_authenticate") != `Bearer resource_metadata="`+prm+`", error="insufficient_scope", scope="mcp:admin"` {
		t.Errorf("403 responses = %v, want one insufficient_scope challenge for mcp:admin\n%s", forbidden, dump())
	}

	reg := r.one(t, "registered")
	clientID := reg.str("client_id")
	if !strings.HasPrefix(clientID, "dcr-") || reg["has_secret"] != false {
		t.Errorf("registration = %v, want a public dcr- client", reg)
	}
	logins := r.all("login_page")
	if len(logins) != 2 {
		t.Fatalf("%d login pages, want 2 (login, step-up)\n%s", len(logins), dump())
	}
	for i, want := range []string{"mcp:read", "mcp:read mcp:admin"} {
		l := logins[i]
		if l.str("scopes") != want || l.str("scope_param") != want || l.str("resource_param") != resource || l.str("code_challenge_method") != "S256" ||
			l["not_for_production"] != true || !reflect.DeepEqual(l["users"], []any{"dev-user", "alice", "bob"}) {
			t.Errorf("login page %d = %v, want scopes %q for resource %s", i+1, l, want, resource)
		}
	}
	for _, c := range r.all("callback") {
		if c["has_code"] != true || c["has_state"] != true || c["iss"] != nil {
			t.Errorf("callback = %v", c)
		}
	}
	var scopes []string
	for _, tok := range r.all("tokens") {
		scopes = append(scopes, tok.str("scope"))
		if tok.str("token_type") != "Bearer" || tok["has_refresh_token"] != true {
			t.Errorf("tokens = %v", tok)
		}
	}
	if want := []string{"mcp:read", "mcp:read", "mcp:read mcp:admin"}; !reflect.DeepEqual(scopes, want) {
		t.Errorf("token scopes = %q, want %q (login, refresh, step-up)", scopes, want)
	}

	whoami := func(scope string) string {
		return "subject: " + user + "\nauthorization_header_present: false\nX-Mcp-Client-Id: " + clientID +
			"\nX-Mcp-Scope: " + scope + "\nX-Mcp-Subject: " + user
	}
	if c := r.one(t, "connected"); c.str("server") != "mcp-frontdoor-demo" || c["logins"] != float64(1) {
		t.Errorf("connected = %v", c)
	}
	if tl := r.one(t, "tools"); !reflect.DeepEqual(tl["names"], []any{"echo", "fail", "whoami"}) {
		t.Errorf("tools/list before the step-up = %v, want admin_echo filtered out", tl["names"])
	}
	w := r.one(t, "whoami")
	if w.str("text") != whoami("mcp:read") || w["is_error"] != false {
		t.Errorf("whoami = %q, want %q", w.str("text"), whoami("mcp:read"))
	}
	if st, _ := w["structured"].(map[string]any); st["subject"] != user || st["authorization_header_present"] != false {
		t.Errorf("whoami structuredContent = %v", w["structured"])
	}
	if rf := r.one(t, "whoami_after_refresh"); rf.str("text") != whoami("mcp:read") || rf["new_logins"] != float64(0) {
		t.Errorf("whoami after the refresh = %v, want no new login", rf)
	}
	if su := r.one(t, "step_up_call"); su.str("text") != "hello from the step-up" || su["is_error"] != false || su["logins"] != float64(2) {
		t.Errorf("admin_echo after the step-up = %v", su)
	}
	if wa := r.one(t, "whoami_after_step_up"); wa.str("text") != whoami("mcp:read mcp:admin") {
		t.Errorf("whoami after the step-up = %q, want %q", wa.str("text"), whoami("mcp:read mcp:admin"))
	}
	if tl := r.one(t, "tools_after_step_up"); !reflect.DeepEqual(tl["names"], []any{"admin_echo", "echo", "fail", "whoami"}) {
		t.Errorf("tools/list after the step-up = %v", tl["names"])
	}
	r.one(t, "done")
	if errs := r.all("error"); len(errs) > 0 {
		t.Errorf("client script errors: %v", errs)
	}
}

// startDev runs `mcp-sidecar dev` in process on free loopback ports until
// the test ends, and waits until the front door accepts its printed token.
func startDev(t *testing.T, o sidecar.DevOptions) sidecar.DevInfo {
	t.Helper()
	o.Listen, o.AdminListen, o.ASListen, o.MCPListen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	infoc := make(chan sidecar.DevInfo, 1)
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() { done <- sidecar.Dev(ctx, o, &out, func(i sidecar.DevInfo) { infoc <- i }) }()
	var info sidecar.DevInfo
	select {
	case info = <-infoc:
	case err := <-done:
		cancel()
		t.Fatalf("dev exited: %v", err)
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatal("dev did not start")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("dev returned %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("dev did not stop")
		}
	})
	waitReady(t, info.Resource, info.Token)
	return info
}

// waitReady waits until a tools/list with token is answered with neither
// 503 (keys loading) nor 401.
func waitReady(t *testing.T, resource, token string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodPost, resource, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("MCP-Protocol-Version", "2025-11-25")
		resp, err := http.DefaultClient.Do(req)
		status := 0
		if err == nil {
			status = resp.StatusCode
			resp.Body.Close()
			if status == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("front door at %s not ready: status %d, %v", resource, status, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}
