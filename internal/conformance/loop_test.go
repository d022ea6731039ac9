package conformance

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/testenv"
)

// Loop test parameters: each scenario runs loopRuns times in a row.
const (
	loopRuns            = 20
	loopScenarioTimeout = 15 * time.Second // the CLI's own --timeout
	loopRunTimeout      = 45 * time.Second // kills a hung CLI process
)

// loopScenarios are the scenarios whose server→client requests travel on
// the SSE stream of a still-open tools/call POST; a proxy that cuts the
// request body once the response starts hangs them (spec §3.4).
var loopScenarios = []string{"tools-call-sampling", "tools-call-elicitation", "elicitation-sep1034-defaults"}

// TestSamplingElicitationLoop runs each of loopScenarios loopRuns times
// through bearer hop → sidecar → stateful fixture; any failed check, exit
// status or timeout fails the test.
func TestSamplingElicitationLoop(t *testing.T) {
	testenv.RequireTools(t)
	fixture := StartEverythingServer(t, FixtureOptions{Stateless: false})
	url, token := SidecarFrontDoor(t, fixture.URL)
	hop := StartBearerHop(t, url, token)
	exp, hasExp := jwtExpiry(token)

	start := time.Now()
	for _, scenario := range loopScenarios {
		var durations []time.Duration
		failures := 0
		for i := range loopRuns {
			if hasExp && time.Until(exp) < loopRunTimeout {
				t.Fatalf("token expires at %v, before run %d of %s could finish; shorten the loop", exp, i+1, scenario)
			}
			r := RunServer(t, ServerRun{URL: hop, Scenario: scenario, ScenarioTimeout: loopScenarioTimeout, Timeout: loopRunTimeout})
			durations = append(durations, r.Duration)
			np := r.NotPassed()
			if r.TimedOut || r.ExitCode != 0 || len(np) > 0 || len(r.Checks) == 0 || !slices.Contains(r.Scenarios, scenario) {
				failures++
				var b strings.Builder
				for _, c := range np {
					b.WriteString("\n  " + c.Key + " = " + c.Status + " " + c.Error)
				}
				t.Errorf("%s run %d/%d: exit %d, timed out %t, %d checks, %d not passed:%s\nreport:\n%s",
					scenario, i+1, loopRuns, r.ExitCode, r.TimedOut, len(r.Checks), len(np), b.String(), r.Report())
			}
		}
		slices.Sort(durations)
		var total time.Duration
		for _, d := range durations {
			total += d
		}
		t.Logf("%s: %d/%d runs passed; per run min %v, median %v, max %v; total %v",
			scenario, loopRuns-failures, loopRuns, durations[0].Round(time.Millisecond),
			durations[len(durations)/2].Round(time.Millisecond), durations[len(durations)-1].Round(time.Millisecond),
			total.Round(time.Millisecond))
	}
	t.Logf("%d scenarios × %d runs through hop → sidecar → stateful fixture in %v",
		len(loopScenarios), loopRuns, time.Since(start).Round(time.Millisecond))
}

// jwtExpiry returns the unverified "exp" of a JWT, if it has one.
func jwtExpiry(token string) (time.Time, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Exp == 0 {
		return time.Time{}, false
	}
	return time.Unix(claims.Exp, 0), true
}
