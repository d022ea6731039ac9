package conformance

import (
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/testenv"
)

// The go-sdk conformance fixture that scripts/install-test-tools.sh builds.
// EverythingServerVersion must equal GO_SDK_VERSION in that script.
const (
	EverythingServerModule  = "github.com/modelcontextprotocol/go-sdk"
	EverythingServerPackage = EverythingServerModule + "/conformance/everything-server"
	EverythingServerVersion = "v1.8.0"
)

// FixtureReadyTimeout bounds how long [StartEverythingServer] waits for the
// fixture to answer HTTP.
const FixtureReadyTimeout = 20 * time.Second

// fixtureStartAttempts bounds the retries when the probed free port was
// taken before the fixture could bind it.
const fixtureStartAttempts = 3

// EverythingServerPath returns .tools/bin/everything-server under the
// repository root, without checking that it exists.
func EverythingServerPath(root string) string {
	return filepath.Join(root, ".tools", "bin", "everything-server")
}

// EverythingServerBinary returns the path of the fixture binary after
// checking that its embedded build info names [EverythingServerPackage] at
// [EverythingServerVersion]. Otherwise the test is skipped, or failed when
// CI is set (see [testenv.ToolsMissing]).
func EverythingServerBinary(t testing.TB) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	p := EverythingServerPath(root)
	info, err := buildinfo.ReadFile(p)
	if err != nil {
		testenv.ToolsMissing(t, fmt.Sprintf("conformance fixture %s: %v", p, err))
		return ""
	}
	if info.Path != EverythingServerPackage || info.Main.Path != EverythingServerModule || info.Main.Version != EverythingServerVersion {
		testenv.ToolsMissing(t, fmt.Sprintf("%s is %s from %s@%s, want %s@%s", p,
			info.Path, info.Main.Path, info.Main.Version, EverythingServerModule, EverythingServerVersion))
		return ""
	}
	return p
}

// FixtureOptions configures [StartEverythingServer].
type FixtureOptions struct {
	// Stateless runs the fixture with -stateless=true (the 2026-07-28
	// era); false gives the stateful, session-based server (2025-11-25).
	Stateless bool
}

// Fixture is a running go-sdk conformance everything-server on 127.0.0.1.
type Fixture struct {
	// URL is the base URL, http://127.0.0.1:<port>. The fixture serves MCP
	// on every path; [Fixture.MCPURL] is the conventional one.
	URL string
	// Stateless reports the mode it runs in.
	Stateless bool

	log *logBuffer
}

// MCPURL is URL + "/mcp".
func (f *Fixture) MCPURL() string { return f.URL + "/mcp" }

// Output returns what the fixture has written so far.
func (f *Fixture) Output() string { return f.log.String() }

// StartEverythingServer runs the conformance fixture on a free loopback
// port and waits (at most [FixtureReadyTimeout]) until it answers HTTP. It
// is stopped in t.Cleanup, and its output is logged if the test failed. It
// skips under -short and when the binary is missing (see
// [EverythingServerBinary]).
func StartEverythingServer(t testing.TB, opts FixtureOptions) *Fixture {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping conformance fixture test in -short mode")
	}
	bin := EverythingServerBinary(t)
	var lastErr error
	for range fixtureStartAttempts {
		f, err := startFixture(t, bin, opts)
		if err == nil {
			return f
		}
		lastErr = err
		if !errors.Is(err, errFixtureExited) {
			break
		}
	}
	t.Fatalf("conformance: start everything-server: %v", lastErr)
	return nil
}

// errFixtureExited marks a fixture that exited before answering (most
// likely a port taken between probe and bind), which is retried.
var errFixtureExited = errors.New("fixture exited before it answered")

func startFixture(t testing.TB, bin string, opts FixtureOptions) (*Fixture, error) {
	t.Helper()
	addr := testenv.FreeAddr(t)
	cmd := exec.Command(bin, "-http="+addr, fmt.Sprintf("-stateless=%t", opts.Stateless))
	log := &logBuffer{}
	cmd.Stdout = log
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", strings.Join(cmd.Args, " "), err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	stop := func() {
		_ = cmd.Process.Kill()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Errorf("conformance: everything-server (pid %d) did not exit within 10s after kill", cmd.Process.Pid)
		}
	}

	f := &Fixture{URL: "http://" + addr, Stateless: opts.Stateless, log: log}
	client := &http.Client{Timeout: time.Second}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(FixtureReadyTimeout)
	for {
		if fixtureAnswers(t.Context(), client, f.MCPURL()) {
			break
		}
		select {
		case <-exited:
			return nil, fmt.Errorf("%w (%v): %s\n%s", errFixtureExited, waitErr, strings.Join(cmd.Args, " "), log.String())
		default:
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("%s did not answer within %v\n%s", strings.Join(cmd.Args, " "), FixtureReadyTimeout, log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("everything-server %s output:\n%s", f.URL, log.String())
		}
	})
	return f, nil
}

// fixtureAnswers reports whether an HTTP request to u gets any response.
func fixtureAnswers(ctx context.Context, client *http.Client, u string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return true
}

// fileExists reports whether p is an existing regular file.
func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
