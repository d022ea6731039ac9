package sidecar_test

import (
	"strings"
	"testing"
	"time"

	"net/http"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/sidecar"
	"github.com/mcp-frontdoor/mcp-frontdoor/internal/sidecar/sidecartest"
)

// TestDevDemo runs `mcp-sidecar dev` in-process on free loopback ports and
// makes exactly the tool call it prints.
func TestDevDemo(t *testing.T) {
	info, out, _ := sidecartest.StartDev(t, sidecar.DevOptions{Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0", ASListen: "127.0.0.1:0", MCPListen: "127.0.0.1:0"})
	printed := out.String()
	if !strings.Contains(printed, "export TOKEN='"+info.Token+"'") || !strings.Contains(printed, sidecar.DevCurl(info.Resource)) {
		t.Fatalf("dev output lacks the token or the command:\n%s", printed)
	}
	// The printed curl, as a Go request.
	call := func(token string) (*http.Response, string) {
		return do(t, "POST", info.Resource, http.Header{
			"Authorization":        {"Bearer " + token},
			"Content-Type":         {"application/json"},
			"Accept":               {"application/json, text/event-stream"},
			"Mcp-Protocol-Version": {"2025-11-25"},
		}, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{}}}`)
	}
	deadline := time.Now().Add(5 * time.Second)
	var resp *http.Response
	var body string
	for time.Now().Before(deadline) {
		if resp, body = call(info.Token); resp.StatusCode != http.StatusServiceUnavailable {
			break
		}
		time.Sleep(20 * time.Millisecond) // keys still loading
	}
	if resp.StatusCode != 200 || !strings.Contains(body, `"subject":"dev-user"`) || !strings.Contains(body, `"authorization_header_present":false`) {
		t.Fatalf("tool call = %d %s", resp.StatusCode, body)
	}
	if resp, _ := call("bogus"); resp.StatusCode != 401 {
		t.Fatalf("bad token = %d", resp.StatusCode)
	}
}
