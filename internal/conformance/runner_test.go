package conformance

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestParseOutputDir parses a results directory laid out like
// `conformance server -o`.
func TestParseOutputDir(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, "checks.json"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("server-server-stateless-2026-11-22T13-46-42-459Z", `[
		{"id":"a","name":"A","status":"SUCCESS"},
		{"id":"b","name":"B","status":"SUCCESS"},
		{"id":"b","name":"B","status":"FAILURE","errorMessage":"boom"}]`)
	write("server-ping-2026-11-22T13-46-37-579Z", `[{"id":"ping","name":"Ping","status":"SUCCESS","details":{"x":1}}]`)
	if err := os.Mkdir(filepath.Join(dir, "not-a-result"), 0o755); err != nil {
		t.Fatal(err)
	}

	checks, scenarios, err := ParseOutputDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(scenarios, []string{"ping", "server-stateless"}) {
		t.Errorf("scenarios %q", scenarios)
	}
	var keys []string
	for _, c := range checks {
		keys = append(keys, c.Key+"="+c.Status)
	}
	want := []string{"ping/ping/Ping=SUCCESS", "server-stateless/a/A=SUCCESS", "server-stateless/b/B=SUCCESS", "server-stateless/b/B#2=FAILURE"}
	if !slices.Equal(keys, want) {
		t.Errorf("checks %q\nwant %q", keys, want)
	}
	r := &Result{Checks: checks}
	if p, n := r.Counts(); p != 3 || n != 1 || r.NotPassed()[0].Error != "boom" {
		t.Errorf("counts %d/%d, not passed %+v", p, n, r.NotPassed())
	}

	write("server-ping-2026-11-22T13-50-00-000Z", `[]`)
	if _, _, err := ParseOutputDir(dir); err == nil {
		t.Error("two results directories for one scenario were accepted")
	}
}

// TestParseSummary reads the CLI's end-of-run summary.
func TestParseSummary(t *testing.T) {
	out := "=== Running scenario: ping ===\n✓ ping: 2 passed, 0 failed\n✗ tasks-lifecycle: 1 passed, 8 failed\n\nTotal: 3 passed, 8 failed\n"
	sum, p, f := ParseSummary(out)
	want := []ScenarioSummary{{"ping", true, 2, 0}, {"tasks-lifecycle", false, 1, 8}}
	if !slices.Equal(sum, want) || p != 3 || f != 8 {
		t.Errorf("ParseSummary = %+v, %d, %d", sum, p, f)
	}
	if _, p, f := ParseSummary("nothing"); p != -1 || f != -1 {
		t.Errorf("no Total line: %d, %d", p, f)
	}
}

// TestDiff is the symmetric difference of two pass sets.
func TestDiff(t *testing.T) {
	a, b := Diff(map[string]bool{"x": true, "y": true, "z": true}, map[string]bool{"y": true, "w": true})
	if !slices.Equal(a, []string{"x", "z"}) || !slices.Equal(b, []string{"w"}) {
		t.Errorf("Diff = %q, %q", a, b)
	}
}
