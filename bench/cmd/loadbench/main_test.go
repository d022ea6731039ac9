package main

import (
	"context"
	"io"
	"os"
	"testing"
	"time"
)

// TestMain lets the test binary serve as the harness's child processes.
func TestMain(m *testing.M) {
	if r := os.Getenv(envChild); r != "" {
		os.Exit(childMain(r))
	}
	os.Exit(m.Run())
}

// TestTinyRun runs the whole harness with tiny settings (about 1.5 s per
// mode: child processes, then in-process) and checks that every target answered only 2xx and that the ratios and
// the c=1 and SSE results exist. It asserts nothing about timing.
func TestTinyRun(t *testing.T) {
	for _, inproc := range []bool{false, true} {
		name := "children"
		if inproc {
			name = "inproc"
		}
		t.Run(name, func(t *testing.T) {
			o := defaultOptions()
			o.Duration, o.Warmup, o.Concurrency, o.Rounds = 100*time.Millisecond, 30*time.Millisecond, 2, 1
			o.RequestsMax, o.C1Duration, o.C1Requests = 5000, 30*time.Millisecond, 200
			o.SSETrials, o.SSEGap = 1, 30*time.Millisecond
			o.InProc, o.IdleProbe = inproc, 0
			if err := o.check(); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var progress io.Writer = io.Discard
			if testing.Verbose() {
				progress = os.Stderr
			}
			rep, err := run(ctx, o, progress)
			if err != nil {
				t.Fatal(err)
			}
			if testing.Verbose() {
				rep.print(os.Stderr)
			}
			if !rep.AllOK {
				for _, l := range [][]loadResult{rep.Warmup, rep.Runs, rep.C1} {
					for _, x := range l {
						if x.Non2xx > 0 || x.Errors > 0 || x.Requests == 0 {
							t.Errorf("(%s) round %d: %d requests, %d non-2xx, %d errors, first: %s", x.Target, x.Round, x.Requests, x.Non2xx, x.Errors, x.FirstErr)
						}
					}
				}
				for _, s := range rep.SSE {
					if s.Error != "" {
						t.Errorf("(%s) SSE: %s", s.Target, s.Error)
					}
				}
				t.Fatal("not every response was 2xx")
			}
			if len(rep.Summary) != len(allKeys) {
				t.Fatalf("%d summaries, want %d", len(rep.Summary), len(allKeys))
			}
			for _, s := range rep.Summary {
				if s.Requests == 0 || s.RatioRPS <= 0 || s.RatioP50 <= 0 || s.RatioP99 <= 0 || s.PairedRPSMin <= 0 || s.C1P50 <= 0 {
					t.Errorf("(%s) ratios not computed: %+v", s.Target, s)
				}
				if s.Target == baseline && s.RatioRPS != 1 {
					t.Errorf("baseline ratio %v, want 1", s.RatioRPS)
				}
			}
			if len(rep.SSE) != len(allKeys) || len(rep.Goals) == 0 {
				t.Errorf("%d SSE results, %d goals", len(rep.SSE), len(rep.Goals))
			}
		})
	}
}
