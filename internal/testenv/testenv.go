// Package testenv holds helpers for tests that need the repository layout or
// the Node-based test tools (Node 22, oidc-provider, the MCP conformance
// suite, the MCP Inspector) installed by scripts/install-test-tools.sh.
//
// Tests that use Node call [RequireTools] (directly or through
// [StartOIDCProvider]). Under `go test -short` they are skipped. When the
// tools are missing they are skipped with a hint, unless the CI environment
// variable is non-empty, in which case they fail.
//
// Everything binds to and talks to 127.0.0.1 only.
package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// ModulePath is the Go module path whose go.mod marks the repository root.
const ModulePath = "github.com/mcp-frontdoor/mcp-frontdoor"

// InstallHint tells a developer how to install the Node test tools.
const InstallHint = "run scripts/install-test-tools.sh"

// NodeEnv is the environment variable that overrides the Node binary path.
const NodeEnv = "MCPFD_NODE"

// maxWalkUp bounds the directory walk of [RepoRoot].
const maxWalkUp = 64

// RepoRoot returns the repository root: the nearest ancestor of the working
// directory whose go.mod declares [ModulePath].
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("testenv: get working directory: %w", err)
	}
	for range maxWalkUp {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && declaresModule(data, ModulePath) {
			return dir, nil
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("testenv: read %s: %w", filepath.Join(dir, "go.mod"), err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", fmt.Errorf("testenv: no go.mod for module %s above the working directory", ModulePath)
}

// declaresModule reports whether go.mod content data declares module path.
func declaresModule(data []byte, path string) bool {
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "module" && strings.Trim(f[1], `"`) == path {
			return true
		}
	}
	return false
}

// mustRoot returns [RepoRoot] or fails the test.
func mustRoot(t testing.TB) string {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// ToolsMissing skips t because a test tool is missing (what says which and
// where), or fails it when the CI environment variable is non-empty. The
// message ends with [InstallHint].
func ToolsMissing(t testing.TB, what string) {
	t.Helper()
	toolsMissing(t, what)
}

// toolsMissing skips t (or fails it when CI is set) because a tool is missing.
func toolsMissing(t testing.TB, what string) {
	t.Helper()
	msg := fmt.Sprintf("Node test tools unavailable: %s; %s", what, InstallHint)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// NodePath returns the path of the Node 22 binary without checking that it
// exists: $MCPFD_NODE if set, else .tools/node/node_modules/node/bin/node
// under root.
func NodePath(root string) string {
	if p := os.Getenv(NodeEnv); p != "" {
		return p
	}
	return filepath.Join(root, ".tools", "node", "node_modules", "node", "bin", "node")
}

// Node returns the path of the Node 22 binary ($MCPFD_NODE overrides the
// default .tools/node/node_modules/node/bin/node). If it is missing the test
// is skipped, or failed when CI is set.
func Node(t testing.TB) string {
	t.Helper()
	p := NodePath(mustRoot(t))
	if st, err := os.Stat(p); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		toolsMissing(t, fmt.Sprintf("no executable node at %s", p))
	}
	return p
}

// npmPackages are the pinned packages that must exist in tools/npm.
var npmPackages = []string{"oidc-provider", "@modelcontextprotocol/conformance", "@modelcontextprotocol/inspector", "@modelcontextprotocol/server-everything"}

// NpmDir returns tools/npm, the directory whose node_modules holds the pinned
// npm test tools. If they are not installed the test is skipped, or failed
// when CI is set.
func NpmDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(mustRoot(t), "tools", "npm")
	for _, pkg := range npmPackages {
		pj := filepath.Join(dir, "node_modules", filepath.FromSlash(pkg), "package.json")
		if _, err := os.Stat(pj); err != nil {
			toolsMissing(t, fmt.Sprintf("%s not installed in %s", pkg, filepath.Join(dir, "node_modules")))
		}
	}
	return dir
}

// RequireTools skips t under -short, and otherwise checks that Node 22 and
// the npm test tools are installed (skipping, or failing when CI is set, if
// not).
func RequireTools(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping Node-based test in -short mode")
	}
	node := Node(t)
	NpmDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, "--version").Output()
	if err != nil {
		toolsMissing(t, fmt.Sprintf("%s --version: %v", node, err))
	}
	if v := strings.TrimSpace(string(out)); !strings.HasPrefix(v, "v22.") {
		toolsMissing(t, fmt.Sprintf("%s is %s, want Node 22", node, v))
	}
}

// FreeAddr returns a currently free "127.0.0.1:port" address. Another process
// may take the port before it is used; prefer listeners on port 0 when the
// code under test allows it.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: listen on 127.0.0.1:0: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatalf("testenv: close probe listener: %v", err)
	}
	return addr
}

// lineLog collects a child process's output and reports the first
// "ready <issuer>" stdout line. It is safe for concurrent use.
type lineLog struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	ready chan string // receives the issuer once
	sent  bool
}

func newLineLog() *lineLog { return &lineLog{ready: make(chan string, 1)} }

// writer returns an io.Writer tagging lines with prefix; watch enables the
// ready-line detection (stdout only).
func (l *lineLog) writer(prefix string, watch bool) *tagWriter {
	return &tagWriter{log: l, prefix: prefix, watch: watch}
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

type tagWriter struct {
	log     *lineLog
	prefix  string
	watch   bool
	partial []byte
}

func (w *tagWriter) Write(p []byte) (int, error) {
	l := w.log
	l.mu.Lock()
	defer l.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		line := string(w.partial[:i])
		w.partial = w.partial[i+1:]
		fmt.Fprintf(&l.buf, "%s%s\n", w.prefix, line)
		if w.watch && !l.sent {
			if issuer, ok := strings.CutPrefix(strings.TrimSpace(line), "ready "); ok {
				l.sent = true
				l.ready <- issuer
			}
		}
	}
	if len(w.partial) > 64<<10 { // bound memory for output without newlines
		fmt.Fprintf(&l.buf, "%s%s\n", w.prefix, w.partial)
		w.partial = w.partial[:0]
	}
	return len(p), nil
}

// OIDC test client credentials registered by tools/oidc/as.mjs.
const (
	// OIDCClientID / OIDCClientSecret: client_credentials client; its tokens
	// carry sub = client_id = "svc".
	OIDCClientID     = "svc"
	OIDCClientSecret = "svc-secret"
	// OIDCIntrospectionClientID / OIDCIntrospectionClientSecret: the client
	// a resource server uses for RFC 7662 introspection.
	OIDCIntrospectionClientID     = "rs"
	OIDCIntrospectionClientSecret = "rs-secret"
)

// OIDCReadyTimeout bounds how long [StartOIDCProvider] waits for the server.
const OIDCReadyTimeout = 20 * time.Second

// OIDCOptions configures [StartOIDCProvider].
type OIDCOptions struct {
	// Resources are the accepted RFC 8707 resource values; the first is the
	// default audience. Default: http://127.0.0.1:8080/mcp.
	Resources []string
	// KeyID is the "kid" of the ES256 signing key. Default: k1.
	KeyID string
	// Opaque makes the provider issue opaque (introspection-only) access
	// tokens instead of RFC 9068 JWTs.
	Opaque bool
	// Scopes overrides the scope set (default mcp:read mcp:write).
	Scopes []string
}

// OIDCProvider is a running oidc-provider test authorization server
// (tools/oidc/as.mjs) on 127.0.0.1.
type OIDCProvider struct {
	// Issuer is the exact issuer, e.g. http://127.0.0.1:40123.
	Issuer string

	log *lineLog
}

// StartOIDCProvider runs tools/oidc/as.mjs with Node 22 on a free loopback
// port and waits (at most [OIDCReadyTimeout]) for its ready line. The process
// is stopped in t.Cleanup; its output is logged if the test failed. It calls
// [RequireTools] first, so it skips under -short.
func StartOIDCProvider(t testing.TB, opts OIDCOptions) *OIDCProvider {
	t.Helper()
	RequireTools(t)
	root := mustRoot(t)
	node := Node(t)
	npmDir := NpmDir(t)

	format := "jwt"
	if opts.Opaque {
		format = "opaque"
	}
	env := append(os.Environ(),
		"PORT=0", // as.mjs listens first and reports the real port
		"FORMAT="+format,
		"NODE_PATH="+filepath.Join(npmDir, "node_modules"),
		"EXIT_ON_STDIN_EOF=1",
		"NODE_ENV=test",
	)
	if len(opts.Resources) > 0 {
		env = append(env, "RESOURCES="+strings.Join(opts.Resources, ","))
	}
	if opts.KeyID != "" {
		env = append(env, "KID="+opts.KeyID)
	}
	if len(opts.Scopes) > 0 {
		env = append(env, "SCOPES="+strings.Join(opts.Scopes, " "))
	}

	cmd := exec.Command(node, filepath.Join(root, "tools", "oidc", "as.mjs"))
	cmd.Dir = npmDir
	cmd.Env = env
	log := newLineLog()
	cmd.Stdout = log.writer("stdout: ", true)
	cmd.Stderr = log.writer("stderr: ", false)
	// as.mjs exits when stdin closes, so the child dies with this process.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatalf("testenv: stdin pipe: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("testenv: start %s: %v", strings.Join(cmd.Args, " "), err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Errorf("testenv: oidc-provider (pid %d) did not exit within 10s after kill", cmd.Process.Pid)
		}
		if t.Failed() {
			t.Logf("oidc-provider output:\n%s", log.String())
		}
	})

	timer := time.NewTimer(OIDCReadyTimeout)
	defer timer.Stop()
	select {
	case issuer := <-log.ready:
		return &OIDCProvider{Issuer: issuer, log: log}
	case err := <-exited:
		exited <- err // let the cleanup see it
		t.Fatalf("testenv: oidc-provider exited before ready: %v\n%s", err, log.String())
	case <-timer.C:
		t.Fatalf("testenv: oidc-provider not ready within %v\n%s", OIDCReadyTimeout, log.String())
	}
	return nil
}

// Output returns everything the provider has written so far (stdout and
// stderr, line-prefixed).
func (p *OIDCProvider) Output() string { return p.log.String() }

// TokenURL is the provider's token endpoint.
func (p *OIDCProvider) TokenURL() string { return p.Issuer + "/token" }

// JWKSURL is the provider's JWKS endpoint.
func (p *OIDCProvider) JWKSURL() string { return p.Issuer + "/jwks" }

// IntrospectionURL is the provider's RFC 7662 introspection endpoint.
func (p *OIDCProvider) IntrospectionURL() string { return p.Issuer + "/token/introspection" }
