package conformance

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// DefaultRunTimeout bounds one `conformance server` process when
// [ServerRun.Timeout] is zero.
const DefaultRunTimeout = 5 * time.Minute

// StatusSuccess is the checks.json status of a passed check.
const StatusSuccess = "SUCCESS"

// ServerRun describes one `conformance server` invocation.
type ServerRun struct {
	// URL is the MCP endpoint to test (--url).
	URL string
	// Requirements runs exactly the scenarios a spec revision requires
	// (--requirements, e.g. "2025-11-25"). Empty: not passed.
	Requirements string
	// Scenario runs one scenario (--scenario). Empty: not passed.
	Scenario string
	// ScenarioTimeout is the CLI's per-scenario timeout (--timeout). Zero:
	// the CLI default (30 s).
	ScenarioTimeout time.Duration
	// Timeout kills the whole process. Zero: [DefaultRunTimeout].
	Timeout time.Duration
	// OutputDir receives the results (-o). Empty: a new t.TempDir().
	OutputDir string
}

// Check is one entry of a scenario's checks.json.
type Check struct {
	// Scenario is the scenario name, e.g. "tools-call-sampling".
	Scenario string
	// ID and Name are the check's "id" and "name".
	ID, Name string
	// Status is SUCCESS, FAILURE, WARNING, SKIPPED, ...
	Status string
	// Error is the check's errorMessage, if any.
	Error string
	// Key identifies the check across runs: "scenario/id/name", with
	// "#2", "#3", ... appended to repeats of the same triple.
	Key string
}

// ScenarioSummary is one "✓ name: N passed, M failed" line of the CLI.
type ScenarioSummary struct {
	Name           string
	OK             bool
	Passed, Failed int
}

// Result is the outcome of one [RunServer].
type Result struct {
	Run ServerRun
	// Checks are all checks of all scenarios, sorted by Key.
	Checks []Check
	// Scenarios are the scenario names that have a results directory.
	Scenarios []string
	// Summary is the CLI's per-scenario summary (requirements/suite runs
	// only), and TotalPassed/TotalFailed its "Total:" line (-1 if absent).
	Summary                  []ScenarioSummary
	TotalPassed, TotalFailed int
	// ExitCode is the CLI's exit status (-1 when killed).
	ExitCode int
	// TimedOut is set when the process was killed after Run.Timeout.
	TimedOut bool
	// Duration is the wall time of the CLI process.
	Duration time.Duration
	// Output is the CLI's stdout followed by its stderr, colours removed.
	Output string
}

// Passed is the set of keys of the checks with status SUCCESS.
func (r *Result) Passed() map[string]bool {
	m := map[string]bool{}
	for _, c := range r.Checks {
		if c.Status == StatusSuccess {
			m[c.Key] = true
		}
	}
	return m
}

// NotPassed returns the checks whose status is not SUCCESS.
func (r *Result) NotPassed() []Check {
	var out []Check
	for _, c := range r.Checks {
		if c.Status != StatusSuccess {
			out = append(out, c)
		}
	}
	return out
}

// ScenarioChecks returns the checks of one scenario.
func (r *Result) ScenarioChecks(scenario string) []Check {
	var out []Check
	for _, c := range r.Checks {
		if c.Scenario == scenario {
			out = append(out, c)
		}
	}
	return out
}

// Counts returns how many checks passed and how many did not.
func (r *Result) Counts() (passed, notPassed int) {
	for _, c := range r.Checks {
		if c.Status == StatusSuccess {
			passed++
		} else {
			notPassed++
		}
	}
	return passed, notPassed
}

// Report is Output without the progress lines ("Running ...", "Results
// saved to ...") and blank lines: the failed checks' details and the
// summary.
func (r *Result) Report() string {
	var b strings.Builder
	for line := range strings.Lines(r.Output) {
		l := strings.TrimSpace(line)
		if l == "" || strings.HasPrefix(l, "Results saved to ") || strings.HasPrefix(l, "Running ") || strings.HasPrefix(l, "=== Running scenario") {
			continue
		}
		b.WriteString(strings.TrimRight(line, "\n"))
		b.WriteByte('\n')
	}
	return b.String()
}

// String summarises the run in one line.
func (r *Result) String() string {
	p, n := r.Counts()
	return fmt.Sprintf("%d scenarios, %d checks passed, %d not passed (CLI total: %d passed, %d failed), exit %d, timed out %t, %v",
		len(r.Scenarios), p, n, r.TotalPassed, r.TotalFailed, r.ExitCode, r.TimedOut, r.Duration.Round(time.Millisecond))
}

// RunServer runs `conformance server` (the pinned
// @modelcontextprotocol/conformance from tools/npm, with Node 22) as
// described by run and parses the checks.json files it writes. Failed
// checks, a non-zero exit and a timeout are reported in the Result; the
// test is failed only when the CLI cannot be run or its results cannot be
// read. It calls [testenv.RequireTools], so it skips under -short.
func RunServer(t testing.TB, run ServerRun) *Result {
	t.Helper()
	script := npmBin(t, conformancePackage, conformanceBin)
	if run.Timeout == 0 {
		run.Timeout = DefaultRunTimeout
	}
	if run.OutputDir == "" {
		run.OutputDir = t.TempDir()
	}
	args := []string{"server", "--url", run.URL, "-o", run.OutputDir}
	if run.Requirements != "" {
		args = append(args, "--requirements", run.Requirements)
	}
	if run.Scenario != "" {
		args = append(args, "--scenario", run.Scenario)
	}
	if run.ScenarioTimeout > 0 {
		args = append(args, "--timeout", strconv.FormatInt(run.ScenarioTimeout.Milliseconds(), 10))
	}
	nr, err := runNode(t, run.OutputDir, run.Timeout, nil, script, args...)
	if err != nil {
		t.Fatalf("conformance: %v", err)
	}
	res := &Result{
		Run:      run,
		ExitCode: nr.exitCode,
		TimedOut: nr.timedOut,
		Duration: nr.duration,
		Output:   stripANSI(nr.stdout + nr.stderr),
	}
	res.Summary, res.TotalPassed, res.TotalFailed = ParseSummary(res.Output)
	res.Checks, res.Scenarios, err = ParseOutputDir(run.OutputDir)
	if err != nil {
		t.Fatalf("conformance: results of `conformance %s`: %v\n%s", strings.Join(args, " "), err, res.Output)
	}
	return res
}

// resultDir matches a scenario's results directory name,
// "server-<scenario>-<timestamp>".
var resultDir = regexp.MustCompile(`^server-(.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$`)

// ParseOutputDir reads dir/server-<scenario>-<timestamp>/checks.json (as
// written by `conformance server -o dir`) and returns every check, sorted
// by Key, and the sorted scenario names found.
func ParseOutputDir(dir string) ([]Check, []string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	var checks []Check
	var scenarios []string
	seen := map[string]int{}
	for _, e := range entries {
		m := resultDir.FindStringSubmatch(e.Name())
		if !e.IsDir() || m == nil {
			continue
		}
		scenario := m[1]
		if slices.Contains(scenarios, scenario) {
			return nil, nil, fmt.Errorf("scenario %s has more than one results directory in %s", scenario, dir)
		}
		scenarios = append(scenarios, scenario)
		data, err := os.ReadFile(filepath.Join(dir, e.Name(), "checks.json"))
		if err != nil {
			return nil, nil, err
		}
		var raw []struct {
			ID           string `json:"id"`
			Name         string `json:"name"`
			Status       string `json:"status"`
			ErrorMessage string `json:"errorMessage"`
		}
		if err := json.Unmarshal(data, &raw); err != nil {
			return nil, nil, fmt.Errorf("%s/checks.json: %w", e.Name(), err)
		}
		for _, c := range raw {
			if c.ID == "" || c.Status == "" {
				return nil, nil, fmt.Errorf("%s/checks.json: check without id or status: %+v", e.Name(), c)
			}
			key := scenario + "/" + c.ID + "/" + c.Name
			seen[key]++
			if n := seen[key]; n > 1 {
				key += "#" + strconv.Itoa(n)
			}
			checks = append(checks, Check{Scenario: scenario, ID: c.ID, Name: c.Name, Status: c.Status, Error: c.ErrorMessage, Key: key})
		}
	}
	slices.SortFunc(checks, func(a, b Check) int { return strings.Compare(a.Key, b.Key) })
	slices.Sort(scenarios)
	return checks, scenarios, nil
}

// summaryLine and totalLine match the CLI's end-of-run summary.
var (
	summaryLine = regexp.MustCompile(`(?m)^([✓✗]) (\S+): (\d+) passed, (\d+) failed\s*$`)
	totalLine   = regexp.MustCompile(`(?m)^Total: (\d+) passed, (\d+) failed\s*$`)
)

// ParseSummary extracts the per-scenario summary lines and the "Total:"
// line (-1, -1 when absent) from the CLI output of a requirements or suite
// run.
func ParseSummary(output string) (summary []ScenarioSummary, totalPassed, totalFailed int) {
	for _, m := range summaryLine.FindAllStringSubmatch(output, -1) {
		p, _ := strconv.Atoi(m[3])
		f, _ := strconv.Atoi(m[4])
		summary = append(summary, ScenarioSummary{Name: m[2], OK: m[1] == "✓", Passed: p, Failed: f})
	}
	totalPassed, totalFailed = -1, -1
	if m := totalLine.FindStringSubmatch(output); m != nil {
		totalPassed, _ = strconv.Atoi(m[1])
		totalFailed, _ = strconv.Atoi(m[2])
	}
	return summary, totalPassed, totalFailed
}

// Diff returns the keys only in a and only in b, each sorted.
func Diff(a, b map[string]bool) (onlyA, onlyB []string) {
	for k := range a {
		if !b[k] {
			onlyA = append(onlyA, k)
		}
	}
	for k := range b {
		if !a[k] {
			onlyB = append(onlyB, k)
		}
	}
	slices.Sort(onlyA)
	slices.Sort(onlyB)
	return onlyA, onlyB
}
