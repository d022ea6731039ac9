package conformance

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/testenv"
)

// frontDoors are the front doors the differential tests run through.
var frontDoors = []struct {
	name string
	door FrontDoor
}{
	{"sidecar", SidecarFrontDoor},
	{"caddy", CaddyFrontDoor},
}

// requirementRuns pairs each spec revision with the fixture mode it needs.
var requirementRuns = []struct {
	requirements string
	stateless    bool
}{
	{"2025-11-25", false},
	{"2026-07-28", true},
}

// TestConformanceDifferential runs `conformance server --requirements <rev>`
// directly against the go-sdk fixture and through bearer hop → front door →
// fixture, and requires the same set of passed checks both ways, and
// dns-rebinding-protection to pass through the front door.
func TestConformanceDifferential(t *testing.T) {
	testenv.RequireTools(t)
	for _, rr := range requirementRuns {
		t.Run(rr.requirements, func(t *testing.T) {
			mode := map[bool]string{false: "stateful", true: "stateless"}[rr.stateless]

			direct := RunServer(t, ServerRun{
				URL:          StartEverythingServer(t, FixtureOptions{Stateless: rr.stateless}).MCPURL(),
				Requirements: rr.requirements,
			})
			t.Logf("direct (%s fixture): %s", mode, direct)
			logNotPassed(t, "direct", direct)
			if direct.TimedOut || direct.ExitCode != 0 || len(direct.Checks) == 0 {
				t.Fatalf("direct run against the fixture is not a usable baseline (exit %d, timed out %t, %d checks); report:\n%s",
					direct.ExitCode, direct.TimedOut, len(direct.Checks), direct.Report())
			}

			for _, fd := range frontDoors {
				t.Run(fd.name, func(t *testing.T) {
					fixture := StartEverythingServer(t, FixtureOptions{Stateless: rr.stateless})
					url, token := fd.door(t, fixture.URL)
					via := RunServer(t, ServerRun{URL: StartBearerHop(t, url, token), Requirements: rr.requirements})
					t.Logf("through hop → %s → %s fixture: %s", fd.name, mode, via)
					logNotPassed(t, "through "+fd.name, via)
					if via.TimedOut {
						t.Errorf("conformance run through %s timed out after %v", fd.name, via.Run.Timeout)
					}

					onlyDirect, onlyVia := Diff(direct.Passed(), via.Passed())
					if len(onlyDirect)+len(onlyVia) > 0 {
						t.Errorf("pass sets differ (direct vs through %s):\n%s", fd.name, describeDiff(direct, via, onlyDirect, onlyVia))
					}

					if d := differentFailures(direct, via); d != "" {
						t.Logf("checks that fail both ways, with different errors (not a test failure):\n%s", d)
					}

					dns := via.ScenarioChecks("dns-rebinding-protection")
					if len(dns) == 0 {
						t.Errorf("dns-rebinding-protection did not run through %s", fd.name)
					}
					for _, c := range dns {
						if c.Status != StatusSuccess {
							t.Errorf("dns-rebinding-protection through %s: %s = %s %s", fd.name, c.Key, c.Status, c.Error)
						}
					}
					if t.Failed() {
						t.Logf("conformance report through %s:\n%s", fd.name, via.Report())
					}
				})
			}
		})
	}
}

// logNotPassed logs the checks of r that did not pass.
func logNotPassed(t *testing.T, label string, r *Result) {
	t.Helper()
	np := r.NotPassed()
	if len(np) == 0 {
		return
	}
	var b strings.Builder
	for _, c := range np {
		fmt.Fprintf(&b, "  %s = %s %s\n", c.Key, c.Status, c.Error)
	}
	t.Logf("%s: %d checks not passed:\n%s", label, len(np), b.String())
}

// describeDiff renders the symmetric difference of two pass sets with the
// other side's status of each check.
func describeDiff(a, b *Result, onlyA, onlyB []string) string {
	status := func(r *Result, key string) string {
		for _, c := range r.Checks {
			if c.Key == key {
				if c.Error != "" {
					return c.Status + ": " + c.Error
				}
				return c.Status
			}
		}
		return "absent"
	}
	var s strings.Builder
	for _, k := range onlyA {
		fmt.Fprintf(&s, "  passed only directly:        %s (through: %s)\n", k, status(b, k))
	}
	for _, k := range onlyB {
		fmt.Fprintf(&s, "  passed only through the door: %s (direct: %s)\n", k, status(a, k))
	}
	return s.String()
}

// differentFailures lists the checks that did not pass in either run but
// whose status or error message differs between a and b.
func differentFailures(a, b *Result) string {
	other := map[string]Check{}
	for _, c := range b.NotPassed() {
		other[c.Key] = c
	}
	var s strings.Builder
	for _, c := range a.NotPassed() {
		o, ok := other[c.Key]
		if ok && (o.Status != c.Status || o.Error != c.Error) {
			fmt.Fprintf(&s, "  %s\n    direct:  %s %s\n    through: %s %s\n", c.Key, c.Status, c.Error, o.Status, o.Error)
		}
	}
	return s.String()
}
