package conformance

import (
	"path/filepath"
	"testing"
	"time"
)

// DefaultInspectorTimeout bounds one Inspector CLI call when
// [InspectorCall.Timeout] is zero.
const DefaultInspectorTimeout = 60 * time.Second

// InspectorCall describes one `mcp-inspector --cli` invocation over
// Streamable HTTP.
type InspectorCall struct {
	// URL is the MCP endpoint.
	URL string
	// Headers are "Name: value" pairs sent on every request (--header).
	Headers []string
	// Method is the MCP method (--method), e.g. "tools/list".
	Method string
	// ToolName is --tool-name (tools/call).
	ToolName string
	// ToolArgs are --tool-arg key=value pairs (tools/call).
	ToolArgs []string
	// URI is --uri (resources/read).
	URI string
	// PromptName is --prompt-name and PromptArgs are --prompt-args
	// key=value pairs (prompts/get).
	PromptName string
	PromptArgs []string
	// Timeout kills the process. Zero: [DefaultInspectorTimeout].
	Timeout time.Duration
}

// InspectorResult is the outcome of one [RunInspector].
type InspectorResult struct {
	Stdout, Stderr string
	// ExitCode is the exit status (-1 when killed).
	ExitCode int
	TimedOut bool
	Duration time.Duration
}

// RunInspector runs the pinned MCP Inspector CLI (tools/npm,
// @modelcontextprotocol/inspector, bin mcp-inspector) with Node 22:
// `--cli <url> --transport http [--header h]... --method m [--tool-name n]
// [--tool-arg a]... [--uri u] [--prompt-name p] [--prompt-args a]...`,
// with stdin empty (no TTY, so it never starts an interactive OAuth flow),
// MCP_AUTO_OPEN_ENABLED=false, and HOME and the catalog in a temporary
// directory. The test fails only if the CLI cannot be started.
// It calls [testenv.RequireTools], so it skips under -short.
func RunInspector(t testing.TB, call InspectorCall) *InspectorResult {
	t.Helper()
	script := npmBin(t, inspectorPackage, inspectorBin)
	if call.Timeout == 0 {
		call.Timeout = DefaultInspectorTimeout
	}
	args := []string{"--cli", call.URL, "--transport", "http"}
	for _, h := range call.Headers {
		args = append(args, "--header", h)
	}
	args = append(args, "--method", call.Method)
	if call.ToolName != "" {
		args = append(args, "--tool-name", call.ToolName)
	}
	for _, a := range call.ToolArgs {
		args = append(args, "--tool-arg", a)
	}
	if call.URI != "" {
		args = append(args, "--uri", call.URI)
	}
	if call.PromptName != "" {
		args = append(args, "--prompt-name", call.PromptName)
	}
	for _, a := range call.PromptArgs {
		args = append(args, "--prompt-args", a)
	}
	home := t.TempDir()
	env := []string{"HOME=" + home, "MCP_CATALOG_PATH=" + filepath.Join(home, "mcp.json"), "MCP_AUTO_OPEN_ENABLED=false"}
	nr, err := runNode(t, home, call.Timeout, env, script, args...)
	if err != nil {
		t.Fatalf("conformance: %v", err)
	}
	return &InspectorResult{
		Stdout:   stripANSI(nr.stdout),
		Stderr:   stripANSI(nr.stderr),
		ExitCode: nr.exitCode,
		TimedOut: nr.timedOut,
		Duration: nr.duration,
	}
}
