package main

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/sidecar"
	"github.com/mcp-frontdoor/mcp-frontdoor/internal/sidecar/sidecartest"
)

// TestMain lets the test binary stand in for mcp-sidecar as a child:
// `mcp-sidecar dev --stdio` runs os.Executable() demo-mcp --stdio, which in
// these tests is this binary, so it runs the real demo-mcp command.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "demo-mcp" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestDevDemoStdio runs `mcp-sidecar dev --stdio` in-process on free
// loopback ports: the demo MCP server is `<this executable> demo-mcp
// --stdio`, one process per session with MCP_SUBJECT set. It makes the
// session it prints (with curl, when bash and curl are installed, and as
// Go requests): initialize, initialized, whoami showing MCP_SUBJECT
// dev-user, DELETE; a request without a session gets the bridge's 400.
func TestDevDemoStdio(t *testing.T) {
	info, out, _ := sidecartest.StartDev(t, sidecar.DevOptions{Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0", ASListen: "127.0.0.1:0", Stdio: true})
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	printed := out.String()
	if want := []string{exe, "demo-mcp", "--stdio"}; strings.Join(info.Command, " ") != strings.Join(want, " ") || info.Upstream != "" {
		t.Errorf("dev info command %q upstream %q, want %q and none", info.Command, info.Upstream, want)
	}
	for _, want := range []string{"export TOKEN='" + info.Token + "'", sidecar.DevStdioCurl(info.Resource), "stdio: " + exe + " demo-mcp --stdio"} {
		if !strings.Contains(printed, want) {
			t.Fatalf("dev output lacks %q:\n%s", want, printed)
		}
	}

	post := func(sid, body string) (*http.Response, string) {
		t.Helper()
		h := http.Header{
			"Authorization": {"Bearer " + info.Token},
			"Content-Type":  {"application/json"},
			"Accept":        {"application/json, text/event-stream"},
		}
		if sid != "" {
			h.Set("Mcp-Session-Id", sid)
			h.Set("MCP-Protocol-Version", "2025-11-25")
		}
		return send(t, http.MethodPost, info.Resource, h, body)
	}
	// The HTTP demo's stateless call: a stdio server needs a session.
	var resp *http.Response
	var body string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, body = post("", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{}}}`); resp.StatusCode != http.StatusServiceUnavailable {
			break // keys loaded
		}
	}
	if want := `{"jsonrpc":"2.0","id":1,"error":{"code":-32600,"message":"Bad Request: Mcp-Session-Id required; this MCP server runs one process per session, so send initialize first"}}`; resp.StatusCode != 400 || body != want {
		t.Fatalf("a call without a session = %d %s\nwant 400 %s", resp.StatusCode, body, want)
	}

	// The printed session, as Go requests.
	resp, body = post("", `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}`)
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != 200 || sid == "" || !strings.Contains(body, `"name":"mcp-frontdoor-demo"`) {
		t.Fatalf("initialize = %d %q %s", resp.StatusCode, sid, body)
	}
	if resp, body = post(sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`); resp.StatusCode != 202 {
		t.Fatalf("initialized = %d %s", resp.StatusCode, body)
	}
	const whoami = `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"subject: (none)\nauthorization_header_present: false\nMCP_SUBJECT: dev-user"}],` +
		`"structuredContent":{"authorization_header_present":false,"mcp_headers":[],"subject":"","subject_env":"dev-user"}}}`
	resp, body = post(sid, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{}}}`)
	if want := "event: message\ndata: " + whoami + "\n\n"; resp.StatusCode != 200 || body != want {
		t.Fatalf("whoami = %d %q\nwant %q", resp.StatusCode, body, want)
	}
	resp, body = send(t, http.MethodDelete, info.Resource, http.Header{"Authorization": {"Bearer " + info.Token}, "Mcp-Session-Id": {sid}}, "")
	if resp.StatusCode != 204 {
		t.Fatalf("DELETE = %d %s", resp.StatusCode, body)
	}
	waitMetric(t, info.Admin, `mcp_auth_stdio_exits_total{reason="deleted"} 1`)

	// The printed commands themselves.
	bash, berr := exec.LookPath("bash")
	_, cerr := exec.LookPath("curl")
	if berr != nil || cerr != nil {
		t.Logf("bash or curl not installed: the printed commands were only replayed as Go requests")
	} else {
		cmd := exec.Command(bash, "-euo", "pipefail", "-c", sidecar.DevStdioCurl(info.Resource))
		cmd.Env = append(os.Environ(), "TOKEN="+info.Token)
		outb, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("the printed commands failed: %v\n%s", err, outb)
		}
		// curl prints the SSE answer of the whoami call, nothing else.
		if got, want := string(outb), "event: message\ndata: "+whoami+"\n\n"; got != want {
			t.Fatalf("the printed commands printed %q\nwant %q", got, want)
		}
		waitMetric(t, info.Admin, `mcp_auth_stdio_exits_total{reason="deleted"} 2`)
	}
	if m := metrics(t, info.Admin); !strings.Contains(m, "mcp_auth_stdio_processes 0") {
		t.Errorf("processes left:\n%s", m)
	}
}

func send(t *testing.T, method, url string, h http.Header, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var stdioMetric = regexp.MustCompile(`(?m)^mcp_auth_stdio_.*$`)

func metrics(t *testing.T, admin string) string {
	t.Helper()
	_, body := send(t, http.MethodGet, admin+"/metrics", http.Header{}, "")
	return strings.Join(stdioMetric.FindAllString(body, -1), "\n")
}

// waitMetric waits (5 s at most) until the admin metrics have line.
func waitMetric(t *testing.T, admin, line string) {
	t.Helper()
	var m string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m = metrics(t, admin); strings.Contains(m, line) {
			return
		}
	}
	t.Fatalf("metrics lack %q:\n%s", line, m)
}
