package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// report is everything one run measured.
type report struct {
	Machine  machine         `json:"machine"`
	Options  options         `json:"options"`
	Token    int             `json:"token_bytes"`
	Started  time.Time       `json:"started"`
	Finished time.Time       `json:"finished"`
	Warmup   []loadResult    `json:"warmup"`
	Runs     []loadResult    `json:"runs"`
	C1       []loadResult    `json:"c1"`
	SSE      []sseResult     `json:"sse,omitempty"`
	Summary  []targetSummary `json:"summary"`
	Goals    []goalCheck     `json:"goals"`
	// AllOK: every response of every run (warm-up included) was 2xx, no
	// transport errors, and the SSE check passed where it ran.
	AllOK bool `json:"all_ok"`
}

// machine describes where the run happened.
type machine struct {
	CPUModel   string `json:"cpu_model"`
	NumCPU     int    `json:"num_cpu"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	GoVersion  string `json:"go_version"`
	OSArch     string `json:"os_arch"`
	Servers    string `json:"servers"` // child processes or in-process
	// IdleBefore is how many cores were idle during the second before the
	// run started (-1: unknown). Well below NumCPU means other work shares
	// the machine and the ratios will be noisy.
	IdleBefore float64 `json:"idle_cores_before"`
}

func machineInfo(inproc bool) machine {
	m := machine{IdleBefore: -1, NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(),
		OSArch: runtime.GOOS + "/" + runtime.GOARCH, Servers: "child processes (backend, caddy, sidecar, sidecar-off)"}
	if inproc {
		m.Servers = "in-process (shares the load generator's runtime)"
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// targetSummary is one target over all rounds: medians, their ratios to
// the baseline's medians, and the spread of the per-round paired ratios.
type targetSummary struct {
	Target string `json:"target"`
	Name   string `json:"name"`
	URL    string `json:"url"`

	RPS      float64       `json:"rps_median"`
	RPSMin   float64       `json:"rps_min"`
	RPSMax   float64       `json:"rps_max"`
	P50      time.Duration `json:"p50_median_ns"`
	P99      time.Duration `json:"p99_median_ns"`
	Requests int           `json:"requests"`
	Non2xx   int           `json:"non_2xx"`
	Errors   int           `json:"errors"`

	RatioRPS float64 `json:"ratio_rps"` // median / baseline median
	RatioP50 float64 `json:"ratio_p50"`
	RatioP99 float64 `json:"ratio_p99"`
	// Per-round ratio of req/s to the baseline's in the same round.
	PairedRPSMin float64 `json:"paired_ratio_rps_min"`
	PairedRPSMax float64 `json:"paired_ratio_rps_max"`

	// CPU time of the serving process per request (median of rounds), its
	// ratio to the baseline's and the difference in µs; the cores the
	// serving process and the load generator used (medians).
	CPUPerReq    time.Duration `json:"server_cpu_per_request_median_ns"`
	RatioCPU     float64       `json:"ratio_server_cpu_per_request"`
	AddedCPU     float64       `json:"added_server_cpu_per_request_us"`
	ServerCores  float64       `json:"server_cores"`
	LoadgenCores float64       `json:"loadgen_cores"`
	UpCores      float64       `json:"upstream_cores"`
	HostIdle     float64       `json:"host_idle_cores"`
	HostSteal    float64       `json:"host_steal_cores"`
	// SysCPUPerReq is the CPU per request of every measured process
	// (serving process, upstream, load generator); Capacity is the
	// baseline's over this target's: the throughput ratio a machine with
	// nothing else running would show if the run were CPU-bound, a
	// contention-free estimate of RatioRPS (kernel time outside these
	// processes is not included).
	SysCPUPerReq time.Duration `json:"all_cpu_per_request_median_ns"`
	Capacity     float64       `json:"capacity_ratio"`
	// Contended counts rounds in which more than contendedCores of busy
	// CPU was outside the measured processes.
	Contended int `json:"contended_rounds"`
	// Other: host busy time not spent in the three measured processes
	// (kernel softirq work, and anything else running on the machine).
	Other float64 `json:"other_cores"`

	C1P50       time.Duration `json:"c1_p50_median_ns"`
	C1P99       time.Duration `json:"c1_p99_median_ns"`
	C1Mean      time.Duration `json:"c1_mean_median_ns"`
	C1RPS       float64       `json:"c1_rps_median"`
	C1AddedP50  float64       `json:"c1_added_p50_us"`  // vs baseline
	C1AddedMean float64       `json:"c1_added_mean_us"` // vs baseline
}

// goalCheck is one of caddy.md's suggested goals.
type goalCheck struct {
	Target string  `json:"target"`
	What   string  `json:"what"`
	Value  float64 `json:"value"`
	Limit  float64 `json:"limit"`
	Min    bool    `json:"at_least"` // value must be ≥ limit (else ≤)
	Result string  `json:"result"`   // met, within noise, missed
}

// contendedCores: a round with more busy CPU than this outside the
// measured processes shared the machine with other work.
const contendedCores = 0.25

// noise is the run-to-run noise on this kind of machine (caddy.md §4).
const noise = 0.08

func median[T int64 | float64 | time.Duration](v []T) T {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

func (r *report) summarize(targets []*target) {
	r.AllOK = true
	for _, l := range [][]loadResult{r.Warmup, r.Runs, r.C1} {
		for _, x := range l {
			if x.Non2xx > 0 || x.Errors > 0 || x.Requests == 0 {
				r.AllOK = false
			}
		}
	}
	for _, s := range r.SSE {
		if s.Error != "" {
			r.AllOK = false
		}
	}
	runsOf := func(l []loadResult, key string) []loadResult {
		return slices.DeleteFunc(slices.Clone(l), func(x loadResult) bool { return x.Target != key })
	}
	for _, t := range targets {
		runs := runsOf(r.Runs, t.Key)
		s := targetSummary{Target: t.Key, Name: t.Name, URL: t.Base, RPSMin: math.Inf(1)}
		var rps []float64
		var p50, p99, cpu, sys []time.Duration
		var srvCores, genCores, upCores, idle, steal, other []float64
		for _, x := range runs {
			if sec := x.Elapsed.Seconds(); sec > 0 {
				upCores = append(upCores, x.UpstreamCPU.Seconds()/sec)
				idle = append(idle, x.HostIdle.Seconds()/sec)
				steal = append(steal, x.HostSteal.Seconds()/sec)
				mine := x.ServerCPU + x.LoadgenCPU
				if x.Target != "a" {
					mine += x.UpstreamCPU
				}
				o := (x.HostBusy - mine).Seconds() / sec
				other = append(other, o)
				if o > contendedCores {
					s.Contended++
				}
				if x.ServerCPU > 0 && x.Requests > 0 {
					sys = append(sys, mine/time.Duration(x.Requests))
				}
			}
			if x.ServerCPU > 0 && x.Elapsed > 0 {
				cpu = append(cpu, x.ServerCPUPerReq)
				srvCores = append(srvCores, x.ServerCPU.Seconds()/x.Elapsed.Seconds())
				genCores = append(genCores, x.LoadgenCPU.Seconds()/x.Elapsed.Seconds())
			}
			rps = append(rps, x.RPS)
			p50 = append(p50, x.P50)
			p99 = append(p99, x.P99)
			s.Requests += x.Requests
			s.Non2xx += x.Non2xx
			s.Errors += x.Errors
			s.RPSMin = min(s.RPSMin, x.RPS)
			s.RPSMax = max(s.RPSMax, x.RPS)
		}
		s.RPS, s.P50, s.P99 = median(rps), median(p50), median(p99)
		s.CPUPerReq, s.ServerCores, s.LoadgenCores = median(cpu), median(srvCores), median(genCores)
		s.SysCPUPerReq = median(sys)
		s.UpCores, s.HostIdle, s.HostSteal, s.Other = median(upCores), median(idle), median(steal), median(other)
		c1 := runsOf(r.C1, t.Key)
		var c1p50, c1p99, c1mean []time.Duration
		var c1rps []float64
		for _, x := range c1 {
			c1p50 = append(c1p50, x.P50)
			c1p99 = append(c1p99, x.P99)
			c1mean = append(c1mean, x.Mean)
			c1rps = append(c1rps, x.RPS)
			s.Non2xx += x.Non2xx
			s.Errors += x.Errors
		}
		s.C1P50, s.C1P99, s.C1Mean, s.C1RPS = median(c1p50), median(c1p99), median(c1mean), median(c1rps)
		r.Summary = append(r.Summary, s)
	}
	var base *targetSummary
	for i := range r.Summary {
		if r.Summary[i].Target == baseline {
			base = &r.Summary[i]
		}
	}
	if base == nil {
		return
	}
	baseRuns := runsOf(r.Runs, baseline)
	for i := range r.Summary {
		s := &r.Summary[i]
		s.RatioRPS = ratio(s.RPS, base.RPS)
		s.RatioP50 = ratio(float64(s.P50), float64(base.P50))
		s.RatioP99 = ratio(float64(s.P99), float64(base.P99))
		if s.CPUPerReq > 0 && base.CPUPerReq > 0 {
			s.RatioCPU = ratio(float64(s.CPUPerReq), float64(base.CPUPerReq))
			s.AddedCPU = us(s.CPUPerReq - base.CPUPerReq)
		}
		if s.SysCPUPerReq > 0 && base.SysCPUPerReq > 0 {
			s.Capacity = ratio(float64(base.SysCPUPerReq), float64(s.SysCPUPerReq))
		}
		s.C1AddedP50 = us(s.C1P50 - base.C1P50)
		s.C1AddedMean = us(s.C1Mean - base.C1Mean)
		s.PairedRPSMin, s.PairedRPSMax = math.Inf(1), math.Inf(-1)
		for _, x := range runsOf(r.Runs, s.Target) {
			for _, b := range baseRuns {
				if b.Round == x.Round {
					p := ratio(x.RPS, b.RPS)
					s.PairedRPSMin, s.PairedRPSMax = min(s.PairedRPSMin, p), max(s.PairedRPSMax, p)
				}
			}
		}
	}
	for i := range r.Summary {
		s := &r.Summary[i]
		for _, f := range []*float64{&s.RatioRPS, &s.RatioP50, &s.RatioP99, &s.RatioCPU, &s.Capacity, &s.PairedRPSMin, &s.PairedRPSMax, &s.RPSMin} {
			if math.IsNaN(*f) || math.IsInf(*f, 0) {
				*f = 0 // not computable (JSON has no NaN)
			}
		}
	}
	// caddy.md's suggested goals, for the Caddy module and (as a
	// reference) the sidecar.
	goal := func(s targetSummary, what string, v, limit float64, atLeast bool) {
		g := goalCheck{Target: s.Target, What: what, Value: v, Limit: limit, Min: atLeast}
		switch {
		case atLeast && v >= limit, !atLeast && v <= limit:
			g.Result = "met"
		case atLeast && v >= limit*(1-noise), !atLeast && v <= limit*(1+noise):
			g.Result = "within noise"
		default:
			g.Result = "missed"
		}
		r.Goals = append(r.Goals, g)
	}
	for _, s := range r.Summary {
		switch s.Target {
		case "c", "e":
			goal(s, "req/s ×(b)", s.RatioRPS, 0.90, true)
			if s.Capacity > 0 {
				goal(s, "req/s ×(b), CPU-derived capacity", s.Capacity, 0.90, true)
			}
			goal(s, "p50 ×(b)", s.RatioP50, 1.10, false)
			goal(s, "added latency at c=1, p50 µs", s.C1AddedP50, 100, false)
		case "d", "f":
			goal(s, "req/s ×(b)", s.RatioRPS, 0.65, true)
			if s.Capacity > 0 {
				goal(s, "req/s ×(b), CPU-derived capacity", s.Capacity, 0.65, true)
			}
			goal(s, "added latency at c=1, p50 µs", s.C1AddedP50, 150, false)
		}
	}
}

// print writes the tables as Markdown.
func (r *report) print(w io.Writer) {
	o := r.Options
	m := r.Machine
	fmt.Fprintf(w, "\nloadbench: %d CPU (GOMAXPROCS %d) %s, %s, %s; servers: %s\n", m.NumCPU, m.GOMAXPROCS, m.CPUModel, m.GoVersion, m.OSArch, m.Servers)
	if m.IdleBefore >= 0 {
		fmt.Fprintf(w, "idle before the run: %.2f of %d cores", m.IdleBefore, m.NumCPU)
		if m.IdleBefore < 0.8*float64(m.NumCPU) {
			fmt.Fprint(w, " (WARNING: other work is running on this machine; expect noisy ratios)")
		}
		fmt.Fprintln(w)
	}
	req := "GET /"
	if o.Post {
		req = "POST /mcp (tools/list)"
	}
	fmt.Fprintf(w, "%s with an RS256 bearer token (%d bytes); %d rounds × %s at c=%d (≤ %d requests), warm-up %s; c=1 pass %d × %s (≤ %d requests); sidecar log: %s; took %s\n\n",
		req, r.Token, o.Rounds, o.Duration, o.Concurrency, o.RequestsMax, o.Warmup, o.Rounds, o.C1Duration, o.C1Requests, o.SidecarLog, r.Finished.Sub(r.Started).Round(time.Second))

	fmt.Fprintf(w, "Saturation, c=%d (median of %d rounds; req/s range; ×(b) = ratio of medians, per-round paired range in brackets):\n\n", o.Concurrency, o.Rounds)
	fmt.Fprintln(w, "| target | req/s | ×(b) | p50 | ×(b) | p99 | ×(b) | non-2xx / errors |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, s := range r.Summary {
		fmt.Fprintf(w, "| (%s) %s | %s [%s–%s] | **%.2f** [%.2f–%.2f] | %.2f ms | %.2f | %.2f ms | %.2f | %d / %d |\n",
			s.Target, s.Name, kilo(s.RPS), kilo(s.RPSMin), kilo(s.RPSMax), s.RatioRPS, s.PairedRPSMin, s.PairedRPSMax,
			ms(s.P50), s.RatioP50, ms(s.P99), s.RatioP99, s.Non2xx, s.Errors)
	}
	if len(r.Summary) > 0 && r.Summary[0].CPUPerReq > 0 {
		fmt.Fprintf(w, "\nCPU of the serving process per request under the same load (median of rounds; the process serving (a) is the upstream itself, (b)–(d) the Caddy process, (e)/(f) a sidecar process; cores = CPU seconds per second of the run; other busy = machine-wide busy time outside these processes (kernel softirq work and anything else running); host idle and steal are machine-wide; capacity ×(b) = all-process CPU/request of (b) over this target's, the throughput ratio to expect on a machine running nothing else; a round is contended when other busy > %.2f cores):\n\n", contendedCores)
		fmt.Fprintln(w, "| target | CPU/request | ×(b) | added vs (b) | all processes CPU/request | capacity ×(b) | cores: serving process | upstream | load generator | other busy | host idle | steal | contended rounds |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|")
		for _, s := range r.Summary {
			up := fmt.Sprintf("%.2f", s.UpCores)
			if s.Target == "a" {
				up = "(same)"
			}
			fmt.Fprintf(w, "| (%s) %s | %.0f µs | %.2f | %+.0f µs | %.0f µs | **%.2f** | %.2f | %s | %.2f | %.2f | %.2f | %.2f | %d/%d |\n",
				s.Target, s.Name, us(s.CPUPerReq), s.RatioCPU, s.AddedCPU, us(s.SysCPUPerReq), s.Capacity,
				s.ServerCores, up, s.LoadgenCores, s.Other, s.HostIdle, s.HostSteal, s.Contended, r.Options.Rounds)
		}
	}
	fmt.Fprintf(w, "\nUnloaded, c=1 (median of %d rounds; added = minus (b)):\n\n", o.Rounds)
	fmt.Fprintln(w, "| target | req/s | p50 | p99 | mean | added p50 | added mean |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, s := range r.Summary {
		fmt.Fprintf(w, "| (%s) %s | %s | %.0f µs | %.0f µs | %.0f µs | %+.0f µs | %+.0f µs |\n",
			s.Target, s.Name, kilo(s.C1RPS), us(s.C1P50), us(s.C1P99), us(s.C1Mean), s.C1AddedP50, s.C1AddedMean)
	}
	if len(r.SSE) > 0 {
		fmt.Fprintf(w, "\nSSE: upstream flush → first event at the client (the second event follows %s later):\n\n", o.SSEGap)
		fmt.Fprintln(w, "| target | median | max | streamed |")
		fmt.Fprintln(w, "|---|---|---|---|")
		for _, s := range r.SSE {
			if s.Error != "" {
				fmt.Fprintf(w, "| (%s) %s | error: %s | | no |\n", s.Target, targetNames[s.Target], s.Error)
				continue
			}
			st := "yes"
			if !s.Streamed {
				st = "**no (buffered)**"
			}
			fmt.Fprintf(w, "| (%s) %s | %.2f ms | %.2f ms | %s |\n", s.Target, targetNames[s.Target], ms(s.Median), ms(s.Max), st)
		}
	}
	if len(r.Goals) > 0 {
		fmt.Fprintf(w, "\nGoals (caddy.md §4, against (b) in this run; \"within noise\" = missed by less than %.0f%%):\n\n", noise*100)
		fmt.Fprintln(w, "| target | goal | measured | result |")
		fmt.Fprintln(w, "|---|---|---|---|")
		for _, g := range r.Goals {
			op := "≤"
			if g.Min {
				op = "≥"
			}
			fmt.Fprintf(w, "| (%s) | %s %s %g | %.2f | %s |\n", g.Target, g.What, op, g.Limit, g.Value, g.Result)
		}
	}
	if !r.AllOK {
		fmt.Fprintln(w, "\nWARNING: some responses were not 2xx or failed; see non-2xx / errors (and -json for the first error).")
	}
}

func kilo(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.2fk", v/1000)
	}
	return fmt.Sprintf("%.0f", v)
}
