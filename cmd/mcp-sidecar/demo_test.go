package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/sidecar"
	"github.com/mcp-frontdoor/mcp-frontdoor/internal/sidecar/sidecartest"
)

func TestDemoCommandFlags(t *testing.T) {
	cases := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"dev-as needs a resource", []string{"dev-as", "--listen", "127.0.0.1:0"}, exitConfig, "at least one --resource URL is required"},
		// Checked before anything binds: no non-loopback socket is opened.
		{"dev-as off loopback needs an issuer", []string{"dev-as", "--listen", "0.0.0.0:0", "--resource", "http://localhost:8080/mcp"}, exitConfig, "--issuer is required"},
		{"dev-as bad resource", []string{"dev-as", "--listen", "127.0.0.1:0", "--resource", "mcp"}, exitConfig, "must be an absolute URI"},
		{"dev-as bad issuer", []string{"dev-as", "--listen", "127.0.0.1:0", "--issuer", "ftp://as", "--resource", "http://localhost:8080/mcp"}, exitConfig, "must be an absolute http(s) URL"},
		{"dev-as negative ttl", []string{"dev-as", "--listen", "127.0.0.1:0", "--resource", "http://localhost:8080/mcp", "--token-ttl", "-1s"}, exitConfig, "--token-ttl must be positive"},
		{"dev-as bad user", []string{"dev-as", "--listen", "127.0.0.1:0", "--resource", "http://localhost:8080/mcp", "--user", "a b"}, exitConfig, `invalid user name "a b"`},
		{"dev-as bad scope", []string{"dev-as", "--listen", "127.0.0.1:0", "--resource", "http://localhost:8080/mcp", "--scope", "a\"b"}, exitConfig, `invalid scope token`},
		{"dev-as unknown flag", []string{"dev-as", "--bogus"}, exitConfig, "flag provided but not defined: -bogus"},
		{"dev-as stray argument", []string{"dev-as", "--resource", "http://localhost:8080/mcp", "extra"}, exitConfig, `unexpected argument "extra"`},
		{"demo-mcp stray argument", []string{"demo-mcp", "extra"}, exitConfig, `unexpected argument "extra"`},
		{"demo-mcp bad address", []string{"demo-mcp", "--listen", "127.0.0.1"}, exitFail, "missing port"},
		{"demo-mcp stdio is not HTTP", []string{"demo-mcp", "--stdio", "--listen", "127.0.0.1:0", "--stateful"}, exitConfig, "--listen and --stateful do not apply with --stdio"},
		{"demo-mcp stdio is not stateful", []string{"demo-mcp", "--stdio", "--stateful"}, exitConfig, "--stateful does not apply with --stdio"},
		{"help lists the commands", []string{"help"}, exitOK, "mcp-sidecar demo-mcp"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(tc.args, &out, &errb)
			if code != tc.code || !strings.Contains(out.String()+errb.String(), tc.out) {
				t.Fatalf("run(%q) = %d, stdout %q, stderr %q; want %d and %q", tc.args, code, out.String(), errb.String(), tc.code, tc.out)
			}
		})
	}
}

func TestNonLoopbackWarning(t *testing.T) {
	cases := []struct {
		addr string
		warn bool
	}{
		{"127.0.0.1:9090", false},
		{"localhost:9090", false},
		{"[::1]:9090", false},
		{"127.0.0.2:9090", false},
		{"0.0.0.0:9090", true},
		{":9090", true},
		{"[::]:9090", true},
		{"10.0.0.5:9090", true},
		{"not-an-address", true},
	}
	for _, tc := range cases {
		got := nonLoopbackWarning("dev-as", tc.addr)
		if (got != "") != tc.warn {
			t.Errorf("nonLoopbackWarning(%q) = %q, want warning %v", tc.addr, got, tc.warn)
		}
		if tc.warn && !strings.Contains(got, "warning: listening on "+tc.addr) {
			t.Errorf("warning for %q does not name the address: %q", tc.addr, got)
		}
	}
}

// started is a demo command running in the background.
type started struct {
	addr   string
	stdout *bytes.Buffer
	stderr *bytes.Buffer
	done   chan int
}

func start(t *testing.T, ctx context.Context, fn func(context.Context, []string, io.Writer, io.Writer, func(net.Addr)) int, args ...string) *started {
	t.Helper()
	s := &started{stdout: new(bytes.Buffer), stderr: new(bytes.Buffer), done: make(chan int, 1)}
	addrc := make(chan string, 1)
	go func() {
		s.done <- fn(ctx, args, s.stdout, s.stderr, func(a net.Addr) { addrc <- a.String() })
	}()
	select {
	case s.addr = <-addrc:
	case code := <-s.done:
		t.Fatalf("%q exited with %d before listening: %s", args, code, s.stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatalf("%q did not start", args)
	}
	return s
}

func (s *started) wait(t *testing.T) int {
	t.Helper()
	select {
	case code := <-s.done:
		return code
	case <-time.After(10 * time.Second):
		t.Fatal("command did not stop after cancellation")
		return -1
	}
}

// TestComposeTopology runs what docker-compose.yml runs, in-process and on
// loopback: `demo-mcp`, `dev-as` and a sidecar in front of the demo
// server; a client_credentials token from dev-as makes a tool call.
func TestComposeTopology(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fdLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	resource := "http://" + fdLn.Addr().String() + "/mcp"

	mcpSrv := start(t, ctx, demoMCP, "--listen", "127.0.0.1:0")
	asSrv := start(t, ctx, devAS, "--listen", "127.0.0.1:0", "--resource", resource, "--resource", "http://localhost:1/other", "--token-ttl", "10m")
	issuer := "http://" + asSrv.addr
	if out := asSrv.stdout.String(); !strings.Contains(out, "issuer     "+issuer) || !strings.Contains(out, "-d 'resource="+resource+"' "+issuer+"/token") ||
		!strings.Contains(out, "login      "+issuer+"/authorize (authorization code + PKCE S256; users dev-user, alice, bob, no password)") ||
		!strings.Contains(out, "register   "+issuer+"/register (RFC 7591 dynamic client registration)") {
		t.Fatalf("dev-as output lacks the issuer, the login page, registration or the token command:\n%s", out)
	}
	if s := asSrv.stderr.String() + mcpSrv.stderr.String(); s != "" {
		t.Fatalf("loopback commands printed to stderr: %q", s)
	}
	if out := mcpSrv.stdout.String(); !strings.Contains(out, "http://"+mcpSrv.addr+"/mcp") || !strings.Contains(out, "stateless") {
		t.Fatalf("demo-mcp output = %q", out)
	}

	cfg, err := sidecar.Parse([]byte(`
listen: ` + fdLn.Addr().String() + `
admin_listen: "off"
drain_delay: 0s
upstream: http://` + mcpSrv.addr + `
resource: ` + resource + `
authorization_servers:
  - issuer: ` + issuer + `
    require_at_jwt_typ: true
identity_headers:
  claims:
    X-MCP-Client-Id: client_id
`))
	if err != nil {
		t.Fatal(err)
	}
	app, err := sidecar.New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	appDone := make(chan error, 1)
	go func() { appDone <- app.Serve(ctx, fdLn, nil) }()

	token := func(res string) (int, string) {
		form := url.Values{"grant_type": {"client_credentials"}, "resource": {res}}
		req, _ := http.NewRequest("POST", issuer+"/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("dev-client", "dev-secret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var tr struct {
			AccessToken string `json:"access_token"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&tr)
		return resp.StatusCode, tr.AccessToken
	}
	call := func(tok string) (int, string) {
		req, _ := http.NewRequest("POST", resource, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{}}}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("MCP-Protocol-Version", "2025-11-25")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	st, good := token(resource)
	if st != 200 || good == "" {
		t.Fatalf("token for %s: %d", resource, st)
	}
	st, other := token("http://localhost:1/other")
	if st != 200 || other == "" {
		t.Fatalf("token for the other resource: %d", st)
	}
	if st, _ := token("http://localhost:2/unknown"); st != 400 {
		t.Fatalf("token for an unknown resource: %d, want 400 invalid_target", st)
	}
	var code int
	var body string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if code, body = call(good); code != http.StatusServiceUnavailable {
			break // keys loaded
		}
	}
	if code != 200 || !strings.Contains(body, `"subject":"dev-client"`) || !strings.Contains(body, `"authorization_header_present":false`) || !strings.Contains(body, "X-Mcp-Client-Id") {
		t.Fatalf("tool call with the dev-as token = %d %s", code, body)
	}
	if code, body = call(other); code != 401 || !strings.Contains(body, "Unauthorized") {
		t.Fatalf("token for another resource = %d %s, want 401", code, body)
	}

	cancel()
	if c := asSrv.wait(t); c != exitOK {
		t.Errorf("dev-as exited %d: %s", c, asSrv.stderr.String())
	}
	if c := mcpSrv.wait(t); c != exitOK {
		t.Errorf("demo-mcp exited %d: %s", c, mcpSrv.stderr.String())
	}
	select {
	case err := <-appDone:
		if err != nil {
			t.Errorf("sidecar: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("sidecar did not stop")
	}
}

// TestDevPrintsClientInstructions runs the dev demo and checks that it
// prints, besides the curl, the MCP URL to paste into a client and the
// exact Inspector commands (UI and CLI) with the Node note, at the
// Inspector version pinned in tools/npm (the one the tests run).
func TestDevPrintsClientInstructions(t *testing.T) {
	info, out, stop := sidecartest.StartDev(t, sidecar.DevOptions{Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0", ASListen: "127.0.0.1:0", MCPListen: "127.0.0.1:0"})
	stop()
	printed := out.String()
	res := info.Resource
	for _, want := range []string{
		"Use it from an MCP client: add this MCP server URL (Streamable HTTP) and log in\nas a dev user in the browser when the client asks:\n\n  " + res + "\n",
		"\n  npx -y @modelcontextprotocol/inspector@" + sidecar.DevInspectorVersion + " --transport http --server-url " + res + "\n",
		"\n  npx -y @modelcontextprotocol/inspector@" + sidecar.DevInspectorVersion + " --cli " + res + " --transport http --method tools/call --tool-name whoami\n",
		"The Inspector needs Node >= 22.19 (older Node installs an old Inspector without --header).",
		"(login page: pick dev-user, alice, bob, no password;",
		"The tool admin_echo needs the scope mcp:admin",
		sidecar.DevCurl(res),
	} {
		if !strings.Contains(printed, want) {
			t.Errorf("dev output lacks %q:\n%s", want, printed)
		}
	}
	if !strings.Contains(printed, sidecar.DevInspectorUI(res)) || !strings.Contains(printed, sidecar.DevInspectorCLI(res)) {
		t.Errorf("dev output lacks DevInspectorUI/DevInspectorCLI:\n%s", printed)
	}

	// The printed version is the pinned one.
	raw, err := os.ReadFile(filepath.Join("..", "..", "tools", "npm", "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	if err := json.Unmarshal(raw, &pkg); err != nil {
		t.Fatal(err)
	}
	if pin := pkg.Dependencies["@modelcontextprotocol/inspector"]; pin != sidecar.DevInspectorVersion {
		t.Errorf("dev prints Inspector %s, tools/npm pins %q", sidecar.DevInspectorVersion, pin)
	}
}
