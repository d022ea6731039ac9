package conformance

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/testenv"
)

// allowedDiff is one check allowed to pass on one side only.
type allowedDiff struct {
	// reason says why the stdio bridge differs here.
	reason string
	// racy marks a difference that depends on timing, so it may not show
	// in every run; other entries must differ in every run.
	racy bool
}

// stdioOnlyDirect are the checks of the 2025-11-25 requirements that the
// go-sdk fixture passes over HTTP but not as a stdio child behind the
// sidecar, each with the reason. Any other difference fails
// TestConformanceStdioDifferential, and so does an entry here (not racy)
// that no longer differs: remove it then.
var stdioOnlyDirect = map[string]allowedDiff{
	// SEP-1699 SSE polling: the go-sdk HTTP server sends a "retry:" field
	// with its event ids so that a client can reconnect and resume with
	// Last-Event-ID. The bridge sends no event ids and does not resume
	// (GET with Last-Event-ID is 400), so it sends no retry field either:
	// a reconnection hint for a stream that cannot be resumed would only
	// mislead the client. The server-sse-polling checks that both sides
	// fail (priming event, disconnect/resume) are the same limitation.
	"server-sse-polling/server-sse-retry-field/ServerSendsRetryField": {
		reason: "the bridge sends no event ids and no retry field: SSE streams are not resumable",
	},
	// A bug of pkg/stdiobridge (reported, with a failing test): DELETE
	// answers 204 and stops the process in the background, but the
	// session stays found until the child's stdout ends, so the request
	// the check sends right after the DELETE gets 200 (an agent-safe
	// "process ended" error) instead of 404. The window is the child's
	// exit time, so it is racy. Remove this entry with the fix.
	"server-session-lifecycle/server-session-terminated-returns-404/SessionTerminatedReturns404": {
		reason: "BUG (pkg/stdiobridge): a session is found until its process has exited, so a request right after DELETE is not 404",
		racy:   true,
	},
}

// stdioOnlyVia are the checks allowed to pass only through the stdio
// bridge (none).
var stdioOnlyVia = map[string]allowedDiff{}

// TestConformanceStdioDifferential runs the 2025-11-25 (stateful)
// requirements directly against the go-sdk fixture over HTTP and through
// bearer hop → mcp-sidecar with `stdio: {command: [everything-server]}`
// (the same fixture binary, serving stdio, one process per session), and
// requires the same pass sets except the allow-listed checks above, and
// dns-rebinding-protection to pass through the sidecar.
func TestConformanceStdioDifferential(t *testing.T) {
	testenv.RequireTools(t)
	const requirements = "2025-11-25"
	bin := EverythingServerBinary(t)

	direct := RunServer(t, ServerRun{URL: StartEverythingServer(t, FixtureOptions{}).MCPURL(), Requirements: requirements})
	t.Logf("direct (stateful HTTP fixture): %s", direct)
	logNotPassed(t, "direct", direct)
	if direct.TimedOut || direct.ExitCode != 0 || len(direct.Checks) == 0 {
		t.Fatalf("direct run against the fixture is not a usable baseline (exit %d, timed out %t, %d checks); report:\n%s",
			direct.ExitCode, direct.TimedOut, len(direct.Checks), direct.Report())
	}

	// No -http: the fixture serves MCP on stdin/stdout.
	url, token := SidecarStdioFrontDoor(t, StdioOptions{Command: []string{bin}})
	via := RunServer(t, ServerRun{URL: StartBearerHop(t, url, token), Requirements: requirements})
	t.Logf("through hop → sidecar → stdio fixture: %s", via)
	logNotPassed(t, "through the stdio sidecar", via)
	if via.TimedOut {
		t.Errorf("conformance run through the stdio sidecar timed out after %v", via.Run.Timeout)
	}

	onlyDirect, onlyVia := Diff(direct.Passed(), via.Passed())
	check := func(side string, got []string, allowed map[string]allowedDiff) {
		var unexpected []string
		for _, k := range got {
			if a, ok := allowed[k]; ok {
				t.Logf("allowed difference (%s): %s: %s", side, k, a.reason)
			} else {
				unexpected = append(unexpected, k)
			}
		}
		if len(unexpected) > 0 {
			var a, b []string
			if side == "passed only directly" {
				a = unexpected
			} else {
				b = unexpected
			}
			t.Errorf("pass sets differ beyond the allow-list (direct vs through the stdio sidecar):\n%s", describeDiff(direct, via, a, b))
		}
		for _, k := range slices.Sorted(maps.Keys(allowed)) {
			if slices.Contains(got, k) {
				continue
			}
			if allowed[k].racy {
				t.Logf("racy allow-listed check %s (%s) did not differ this run", k, side)
			} else {
				t.Errorf("allow-listed check %s (%s) no longer differs; remove it from the allow-list", k, side)
			}
		}
	}
	check("passed only directly", onlyDirect, stdioOnlyDirect)
	check("passed only through the stdio sidecar", onlyVia, stdioOnlyVia)

	if d := differentFailures(direct, via); d != "" {
		t.Logf("checks that fail both ways, with different errors (not a test failure):\n%s", d)
	}
	dns := via.ScenarioChecks("dns-rebinding-protection")
	if len(dns) == 0 {
		t.Errorf("dns-rebinding-protection did not run through the stdio sidecar")
	}
	for _, c := range dns {
		if c.Status != StatusSuccess {
			t.Errorf("dns-rebinding-protection through the stdio sidecar: %s = %s %s", c.Key, c.Status, c.Error)
		}
	}
	if t.Failed() {
		t.Logf("conformance report through the stdio sidecar:\n%s", strings.TrimSpace(via.Report()))
	}
}
