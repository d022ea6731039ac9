package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/testenv"
)

// npm packages and the bin names run from them.
const (
	conformancePackage = "@modelcontextprotocol/conformance"
	conformanceBin     = "conformance"
	inspectorPackage   = "@modelcontextprotocol/inspector"
	inspectorBin       = "mcp-inspector"
)

// npmBin returns the script that package pkg (installed in tools/npm)
// declares as bin name, checking that it exists. It calls
// [testenv.RequireTools] first.
func npmBin(t testing.TB, pkg, name string) string {
	t.Helper()
	testenv.RequireTools(t)
	dir := filepath.Join(testenv.NpmDir(t), "node_modules", filepath.FromSlash(pkg))
	data, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		t.Fatalf("conformance: %v", err)
	}
	var pj struct {
		Bin json.RawMessage `json:"bin"`
	}
	if err := json.Unmarshal(data, &pj); err != nil {
		t.Fatalf("conformance: %s/package.json: %v", pkg, err)
	}
	var rel string
	var one string
	var many map[string]string
	switch {
	case json.Unmarshal(pj.Bin, &one) == nil:
		rel = one
	case json.Unmarshal(pj.Bin, &many) == nil:
		rel = many[name]
	}
	if rel == "" {
		t.Fatalf("conformance: %s declares no bin %q", pkg, name)
	}
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if !fileExists(p) {
		testenv.ToolsMissing(t, fmt.Sprintf("%s bin %s missing at %s", pkg, name, p))
	}
	return p
}

// nodeRun is the outcome of one Node tool run.
type nodeRun struct {
	stdout, stderr string
	exitCode       int // -1 when killed or not started
	timedOut       bool
	duration       time.Duration
}

// runNode runs Node 22 on script with args in dir, with empty stdin, Node
// 22 first on PATH, colours off and env ("K=V") added, and kills it after
// timeout. Only a failure to start is an error; a non-zero exit or a
// timeout is reported in the result.
func runNode(t testing.TB, dir string, timeout time.Duration, env []string, script string, args ...string) (nodeRun, error) {
	t.Helper()
	node := testenv.Node(t)
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{script}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"PATH="+filepath.Dir(node)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"NO_COLOR=1",
		"FORCE_COLOR=0",
	)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdin = strings.NewReader("")
	var stdout, stderr logBuffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second // bound the wait for pipes after a kill
	start := time.Now()
	err := cmd.Run()
	r := nodeRun{stdout: stdout.String(), stderr: stderr.String(), exitCode: -1, duration: time.Since(start)}
	if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		r.timedOut = true
		return r, nil
	}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		r.exitCode = 0
	case errors.As(err, &exitErr):
		r.exitCode = exitErr.ExitCode()
	default:
		return r, fmt.Errorf("run %s %s: %w", node, script, err)
	}
	return r, nil
}

// ansi matches terminal colour escape sequences.
var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

// stripANSI removes colour escapes (some output has them despite NO_COLOR).
func stripANSI(s string) string { return ansi.ReplaceAllString(s, "") }
