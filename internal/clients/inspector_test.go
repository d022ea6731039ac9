package clients

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/sidecar"
)

// inspectorTimeout bounds one Inspector CLI run, login included.
const inspectorTimeout = 90 * time.Second

// inspectorScript is the pinned Inspector's mcp-inspector bin.
func inspectorScript(t *testing.T, npmDir string) string {
	t.Helper()
	dir := filepath.Join(npmDir, "node_modules", "@modelcontextprotocol", "inspector")
	raw, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	var pj struct {
		Bin map[string]string `json:"bin"`
	}
	if err := json.Unmarshal(raw, &pj); err != nil || pj.Bin["mcp-inspector"] == "" {
		t.Fatalf("inspector package.json has no mcp-inspector bin: %v", err)
	}
	return filepath.Join(dir, filepath.FromSlash(pj.Bin["mcp-inspector"]))
}

// desktopVars would let xdg-open find a real browser.
var desktopVars = []string{"DISPLAY=", "WAYLAND_DISPLAY=", "XDG_CURRENT_DESKTOP=", "XDG_SESSION_DESKTOP=", "DESKTOP_SESSION=",
	"KDE_FULL_SESSION=", "GNOME_DESKTOP_SESSION_ID=", "BROWSER="}

// inspectorRun is the outcome of one Inspector CLI run.
type inspectorRun struct {
	stdout, stderr string
	logins         int
}

var navigateLine = regexp.MustCompile(`Please navigate to: (\S+)`)

// runInspectorCLI runs the pinned Inspector CLI with args, HOME (and so its
// catalog and file secret store) in home. Interactive OAuth is forced on
// (MCP_AUTO_OPEN_ENABLED=true) with BROWSER=true and no desktop, so no real
// browser opens; instead, for every "Please navigate to: <url>" the CLI
// prints, the test plays the browser and signs in as user ("" fails the
// test: no login was expected). It fails the test unless the CLI exits 0.
func runInspectorCLI(t *testing.T, home, user string, args ...string) *inspectorRun {
	t.Helper()
	node, npmDir := nodeTools(t)
	script := inspectorScript(t, npmDir)
	ctx, cancel := context.WithTimeout(t.Context(), inspectorTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{script}, args...)...)
	cmd.Dir = home
	for _, kv := range os.Environ() {
		if !hasAnyPrefix(desktopVars, kv) {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env,
		"PATH="+filepath.Dir(node)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"HOME="+home,
		"MCP_CATALOG_PATH="+filepath.Join(home, "mcp.json"),
		"MCP_INSPECTOR_SECRET_STORE=file",
		"MCP_AUTO_OPEN_ENABLED=true",
		"BROWSER=true",
		"NO_COLOR=1",
	)
	cmd.Stdin = strings.NewReader("")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderrPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("start inspector: %v", err)
	}
	var stderr bytes.Buffer
	browsed := make(chan error, 16)
	scanned := make(chan int, 1)
	go func() {
		logins := 0
		sc := bufio.NewScanner(stderrPipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			stderr.WriteString(line + "\n")
			m := navigateLine.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			logins++
			if user == "" {
				browsed <- fmt.Errorf("unexpected login: %s", line)
				continue
			}
			go func() { browsed <- signIn(m[1], user) }()
		}
		_, _ = io.Copy(io.Discard, stderrPipe)
		scanned <- logins
	}()
	err = cmd.Wait()
	logins := <-scanned
	r := &inspectorRun{stdout: stdout.String(), stderr: stderr.String(), logins: logins}
	for range logins {
		select {
		case berr := <-browsed:
			if berr != nil {
				t.Errorf("browser: %v", berr)
			}
		case <-time.After(20 * time.Second):
			t.Error("browser: sign-in did not finish")
		}
	}
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("inspector %q killed after %v\nstdout:\n%s\nstderr:\n%s", args, inspectorTimeout, r.stdout, r.stderr)
	case errors.As(err, &exitErr):
		t.Fatalf("inspector %q exited %d\nstdout:\n%s\nstderr:\n%s", args, exitErr.ExitCode(), r.stdout, r.stderr)
	case err != nil:
		t.Fatalf("inspector %q: %v", args, err)
	}
	return r
}

func hasAnyPrefix(prefixes []string, kv string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(kv, p) {
			return true
		}
	}
	return false
}

// signIn plays the browser: it opens authURL (the dev authorization
// server's login page), follows the link of user and the redirect to the
// client's redirect URI, which must answer 200.
func signIn(authURL, user string) error {
	loc, _, err := approve(authURL, user)
	if err != nil {
		return err
	}
	resp, err := browser.Get(loc)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("redirect URI: %d %s", resp.StatusCode, b)
	}
	return nil
}

// browser is the test's browser: it does not follow redirects by itself.
var browser = &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

var consentScopes = regexp.MustCompile(`<code id="scopes">([^<]*)</code>`)

// approve opens the login page at authURL and clicks the link of user; it
// returns where the authorization server redirects to (the client's
// redirect URI with the code) and the scopes the page grants.
func approve(authURL, user string) (location, scopes string, err error) {
	get := func(u string) (*http.Response, string, error) {
		resp, err := browser.Get(u)
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return resp, string(b), err
	}
	resp, page, err := get(authURL)
	if err != nil {
		return "", "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", "", fmt.Errorf("login page: %d %s", resp.StatusCode, page)
	}
	if m := consentScopes.FindStringSubmatch(page); m != nil {
		scopes = m[1]
	}
	m := regexp.MustCompile(`data-user="` + regexp.QuoteMeta(user) + `" href="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		return "", "", fmt.Errorf("login page has no link for %s:\n%s", user, page)
	}
	resp, body, err := get(html.UnescapeString(m[1]))
	if err != nil {
		return "", "", err
	}
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || loc == "" {
		return "", "", fmt.Errorf("approve: %d %s", resp.StatusCode, body)
	}
	return loc, scopes, nil
}

// TestInspectorCLILoginThroughDev runs the Inspector CLI as `mcp-sidecar
// dev` prints it: without a token it discovers the dev authorization
// server, registers, opens the login page (the test signs in as dev-user
// in its place) and calls whoami as dev-user; a second call uses the
// stored token without a login.
func TestInspectorCLILoginThroughDev(t *testing.T) {
	nodeTools(t)
	if runtime.GOOS != "linux" {
		t.Skip("the Inspector CLI opens the login page with the platform's browser opener; only on Linux can the test stub it (BROWSER=true, no desktop)")
	}
	info := startDev(t, sidecar.DevOptions{})
	home := t.TempDir()
	// The printed command, except for the callback port (any free one).
	cliArgs := strings.Fields(sidecar.DevInspectorCLI(info.Resource))
	if cliArgs[0] != "npx" || cliArgs[1] != "-y" || cliArgs[2] != "@modelcontextprotocol/inspector@"+sidecar.DevInspectorVersion {
		t.Fatalf("printed CLI command = %q", cliArgs)
	}
	args := append(cliArgs[3:], "--callback-url", "http://127.0.0.1:0/oauth/callback")

	first := runInspectorCLI(t, home, "dev-user", args...)
	if first.logins != 1 || !strings.Contains(first.stderr, "Authorization complete.") {
		t.Errorf("first run: %d logins, stderr:\n%s; want one completed login", first.logins, first.stderr)
	}
	var res struct {
		Content []struct {
			Type, Text string
		} `json:"content"`
		Structured struct {
			Subject    string `json:"subject"`
			MCPHeaders []struct {
				Name, Value string
			} `json:"mcp_headers"`
		} `json:"structuredContent"`
		IsError bool `json:"isError"`
	}
	if err := json.Unmarshal([]byte(first.stdout), &res); err != nil {
		t.Fatalf("whoami output is not JSON: %v\n%s", err, first.stdout)
	}
	clientID := ""
	for _, h := range res.Structured.MCPHeaders {
		if h.Name == "X-Mcp-Client-Id" {
			clientID = h.Value
		}
	}
	// The Inspector asks for the resource's scopes_supported.
	want := "subject: dev-user\nauthorization_header_present: false\nX-Mcp-Client-Id: " + clientID +
		"\nX-Mcp-Scope: mcp:read mcp:write mcp:admin\nX-Mcp-Subject: dev-user"
	if !strings.HasPrefix(clientID, "dcr-") || res.IsError || len(res.Content) != 1 || res.Content[0].Text != want || res.Structured.Subject != "dev-user" {
		t.Errorf("whoami through the Inspector CLI = %s\nwant text %q", first.stdout, want)
	}

	// The stored token: no login, and the admin tool works.
	second := runInspectorCLI(t, home, "", "--cli", info.Resource, "--transport", "http", "--stored-auth-only",
		"--method", "tools/call", "--tool-name", "admin_echo", "--tool-arg", "text=hello admin")
	if second.logins != 0 || !strings.Contains(second.stdout, `"text": "hello admin"`) {
		t.Errorf("second run: %d logins, stdout:\n%s\nstderr:\n%s", second.logins, second.stdout, second.stderr)
	}
	if strings.Contains(first.stdout+first.stderr+second.stdout+second.stderr, "eyJ") {
		t.Error("the Inspector printed what looks like a JWT")
	}
}
