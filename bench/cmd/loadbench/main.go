// Command loadbench is the front door's load harness. On 127.0.0.1 only,
// it starts a trivial upstream (a 46-byte JSON answer and an SSE
// endpoint), a loopback authorization server with an RS256 key (the JWKS
// the front doors fetch), and these targets:
//
//	(a) the upstream directly
//	(b) plain Caddy reverse_proxy (keepalive_idle_conns_per_host 128)   ← the baseline
//	(c) Caddy + mcp_auth, validation cache on (the token repeats: cache hits)
//	(d) Caddy + mcp_auth, validation_cache_size -1 (a full RS256 verify per request)
//	(e) mcp-sidecar, cache on
//	(f) mcp-sidecar, cache off
//
// It warms every target up, then runs interleaved rounds (a, b, c, … then
// again) of a fixed duration and a bounded request count with N
// keep-alive workers, then an unloaded pass with one worker, then an SSE
// check, and prints medians and ratios against (b) from the same run
// (caddy.md §4: on a shared 2-vCPU machine only ratios mean anything).
//
// The servers run in child processes (this binary re-executed), grouped
// as in production: upstream+issuer, Caddy (b, c, d), one sidecar each
// for (e) and (f). -inproc runs them in this process instead.
//
//	go run ./bench/cmd/loadbench -rounds 3 -duration 5s -concurrency 50 -json out.json
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// options are the harness settings (the flags).
type options struct {
	Duration    time.Duration `json:"duration_ns"`
	Warmup      time.Duration `json:"warmup_ns"`
	Concurrency int           `json:"concurrency"`
	Rounds      int           `json:"rounds"`
	RequestsMax int           `json:"requests_max"`
	C1Duration  time.Duration `json:"c1_duration_ns"`
	C1Requests  int           `json:"c1_requests_max"`
	SSETrials   int           `json:"sse_trials"`
	SSEGap      time.Duration `json:"sse_gap_ns"`
	Targets     []string      `json:"targets"`
	Post        bool          `json:"post"`
	InProc      bool          `json:"inproc"`
	SidecarLog  string        `json:"sidecar_log"`
	ProfileDir  string        `json:"profile_dir,omitempty"`
	Keep        bool          `json:"-"`
	// IdleProbe is how long the machine's idle time is sampled before the
	// run (0 skips it).
	IdleProbe time.Duration `json:"idle_probe_ns"`
}

func defaultOptions() options {
	return options{
		Duration: 5 * time.Second, Warmup: 2 * time.Second, Concurrency: 50, Rounds: 3, RequestsMax: 1_000_000,
		C1Duration: time.Second, C1Requests: 5000, SSETrials: 5, SSEGap: 300 * time.Millisecond,
		Targets: allKeys, SidecarLog: "info", IdleProbe: time.Second,
	}
}

// allKeys are the targets in their interleaving order.
var allKeys = []string{"a", "b", "c", "d", "e", "f"}

// baseline is the target every ratio is taken against.
const baseline = "b"

var targetNames = map[string]string{
	"a": "direct to upstream",
	"b": "caddy reverse_proxy (keep-alive 128)",
	"c": "caddy + mcp_auth, cache hit",
	"d": "caddy + mcp_auth, cache off (RS256 verify)",
	"e": "mcp-sidecar, cache hit",
	"f": "mcp-sidecar, cache off (RS256 verify)",
}

var targetRole = map[string]string{
	"a": roleBackend, "b": roleCaddy, "c": roleCaddy, "d": roleCaddy, "e": roleSidecar, "f": roleSidecarOff,
}

func (o *options) check() error {
	var errs []error
	if o.Duration <= 0 || o.Duration > 10*time.Minute {
		errs = append(errs, errors.New("-duration must be in (0, 10m]"))
	}
	if o.Warmup < 0 || o.Warmup > 10*time.Minute {
		errs = append(errs, errors.New("-warmup must be in [0, 10m]"))
	}
	if o.C1Duration <= 0 || o.C1Duration > 10*time.Minute {
		errs = append(errs, errors.New("-c1-duration must be in (0, 10m]"))
	}
	if o.Concurrency < 1 || o.Concurrency > 1024 {
		errs = append(errs, errors.New("-concurrency must be in [1, 1024]"))
	}
	if o.Rounds < 1 || o.Rounds > 50 {
		errs = append(errs, errors.New("-rounds must be in [1, 50]"))
	}
	if o.RequestsMax < 1 || o.RequestsMax > 50_000_000 {
		errs = append(errs, errors.New("-requests-max must be in [1, 5e7]"))
	}
	if o.C1Requests < 1 || o.C1Requests > 50_000_000 {
		errs = append(errs, errors.New("-c1-requests must be in [1, 5e7]"))
	}
	if o.SSETrials < 0 || o.SSETrials > 100 {
		errs = append(errs, errors.New("-sse-trials must be in [0, 100]"))
	}
	if o.SSEGap < 10*time.Millisecond || o.SSEGap > maxSSEGap {
		errs = append(errs, fmt.Errorf("-sse-gap must be in [10ms, %s]", maxSSEGap))
	}
	if o.SidecarLog != "info" && o.SidecarLog != "off" {
		errs = append(errs, errors.New("-sidecar-log must be info or off"))
	}
	var keys []string
	for _, k := range o.Targets {
		if _, ok := targetNames[k]; !ok {
			errs = append(errs, fmt.Errorf("-targets: unknown target %q (a–f)", k))
		}
		keys = append(keys, k)
	}
	if !slices.Contains(keys, baseline) {
		keys = append(keys, baseline) // ratios need the baseline
	}
	// Keep the canonical order a, b, c, ….
	o.Targets = slices.DeleteFunc(slices.Clone(allKeys), func(k string) bool { return !slices.Contains(keys, k) })
	return errors.Join(errs...)
}

// budget is an upper bound for a whole run; the run is cancelled after it.
func (o options) budget() time.Duration {
	n := time.Duration(len(o.Targets))
	per := o.Warmup + time.Duration(o.Rounds)*(o.Duration+o.C1Duration+2*time.Second) +
		time.Duration(o.SSETrials)*(o.SSEGap+time.Second)
	return 2*n*per + 2*time.Minute
}

func main() {
	if r := os.Getenv(envChild); r != "" {
		os.Exit(childMain(r))
	}
	os.Exit(cliMain(os.Args[1:], os.Stdout, os.Stderr))
}

func cliMain(args []string, stdout, stderr io.Writer) int {
	o := defaultOptions()
	fs := flag.NewFlagSet("loadbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.Duration, "duration", o.Duration, "measured time per target per round")
	fs.DurationVar(&o.Warmup, "warmup", o.Warmup, "warm-up per target before the first round")
	fs.IntVar(&o.Concurrency, "concurrency", o.Concurrency, "concurrent keep-alive workers (connections)")
	fs.IntVar(&o.Rounds, "rounds", o.Rounds, "interleaved rounds over all targets")
	fs.IntVar(&o.RequestsMax, "requests-max", o.RequestsMax, "at most this many requests per target per round")
	fs.DurationVar(&o.C1Duration, "c1-duration", o.C1Duration, "unloaded (one worker) pass: time per target per round")
	fs.IntVar(&o.C1Requests, "c1-requests", o.C1Requests, "unloaded pass: at most this many requests per target per round")
	fs.IntVar(&o.SSETrials, "sse-trials", o.SSETrials, "SSE first-event checks per target (0 skips)")
	fs.DurationVar(&o.SSEGap, "sse-gap", o.SSEGap, "pause between the upstream's two SSE events")
	targets := fs.String("targets", strings.Join(allKeys, ","), "targets to run, from a,b,c,d,e,f (b is always added)")
	fs.BoolVar(&o.Post, "post", false, "send POST /mcp with a JSON-RPC tools/list body instead of GET /")
	fs.BoolVar(&o.InProc, "inproc", false, "run the servers in this process instead of child processes")
	fs.StringVar(&o.SidecarLog, "sidecar-log", o.SidecarLog, "sidecar logging: info (as deployed: a JSON line per request, to a file) or off")
	fs.StringVar(&o.ProfileDir, "profile", "", "write a CPU profile of the serving process per target and round into this directory")
	jsonOut := fs.String("json", "", "write the full results as JSON to this file")
	fs.BoolVar(&o.Keep, "keep", false, "keep the scratch directory (server logs)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	o.Targets = strings.Split(strings.ReplaceAll(*targets, " ", ""), ",")
	if err := o.check(); err != nil {
		fmt.Fprintf(stderr, "loadbench: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.budget())
	defer cancel()
	rep, err := run(ctx, o, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "loadbench: %v\n", err)
		return 1
	}
	rep.print(stdout)
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintf(stderr, "loadbench: %v\n", err)
			return 1
		}
	}
	if !rep.AllOK {
		fmt.Fprintln(stderr, "loadbench: some responses were not 2xx or failed (see the table)")
		return 1
	}
	return 0
}

// target is one front door under test.
type target struct {
	Key, Name, Base string
	role            role
	client          *http.Client
}

// run starts everything, measures, stops everything and returns the report.
func run(ctx context.Context, o options, progress io.Writer) (*report, error) {
	logf := func(format string, a ...any) { fmt.Fprintf(progress, format+"\n", a...) }
	dir, err := os.MkdirTemp("", "loadbench-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if o.Keep {
			logf("scratch dir kept: %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	}()
	if o.ProfileDir != "" {
		if err := os.MkdirAll(o.ProfileDir, 0o755); err != nil {
			return nil, err
		}
		if o.ProfileDir, err = filepath.Abs(o.ProfileDir); err != nil {
			return nil, err
		}
	}

	mach := machineInfo(o.InProc)
	if h0, err := readHostCPU(); err == nil && o.IdleProbe > 0 {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(min(o.IdleProbe, 10*time.Second)):
		}
		if h1, err := readHostCPU(); err == nil {
			idle, all := h1.idle-h0.idle, (h1.idle+h1.busy+h1.steal)-(h0.idle+h0.busy+h0.steal)
			if all > 0 {
				mach.IdleBefore = float64(mach.NumCPU) * float64(idle) / float64(all)
			}
		}
	}

	start := func(name string, s spec) (role, error) {
		if o.InProc {
			r, stop, err := startRole(name, s)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			return &inprocRole{r: r, stop: stop}, nil
		}
		return startChild(name, s)
	}
	var roles []role
	defer func() {
		for _, r := range slices.Backward(roles) {
			r.Close()
		}
	}()
	s := spec{Dir: dir, SidecarLog: o.SidecarLog}
	backend, err := start(roleBackend, s)
	if err != nil {
		return nil, err
	}
	roles = append(roles, backend)
	br := backend.Ready()
	s.Upstream, s.Issuer, s.JWKS = br.Upstream, br.Issuer, br.JWKS
	byRole := map[string]role{roleBackend: backend}
	for _, name := range []string{roleCaddy, roleSidecar, roleSidecarOff} {
		need := false
		for _, k := range o.Targets {
			need = need || targetRole[k] == name
		}
		if !need {
			continue
		}
		r, err := start(name, s)
		if err != nil {
			return nil, err
		}
		roles = append(roles, r)
		byRole[name] = r
	}

	sh := shape{method: http.MethodGet, path: "/", token: br.Token}
	if o.Post {
		sh = shape{method: http.MethodPost, path: "/mcp", token: br.Token, body: []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)}
	}
	var targets []*target
	for _, k := range o.Targets {
		r := byRole[targetRole[k]]
		t := &target{Key: k, Name: targetNames[k], Base: r.Ready().Targets[k], role: r, client: newClient(o.Concurrency)}
		if t.Base == "" {
			return nil, fmt.Errorf("role %s did not report target %s", targetRole[k], k)
		}
		if err := waitReady(ctx, t.client, t.Base, sh, 15*time.Second); err != nil {
			return nil, fmt.Errorf("target (%s) %s at %s: %w", k, t.Name, t.Base, err)
		}
		targets = append(targets, t)
		defer t.client.CloseIdleConnections()
	}

	rep := &report{Options: o, Machine: mach, Started: time.Now(), Token: len(br.Token)}
	logf("loadbench: %d targets, warm-up %s each, %d rounds × %s at c=%d (max %d requests), then c=1 and SSE",
		len(targets), o.Warmup, o.Rounds, o.Duration, o.Concurrency, o.RequestsMax)
	if o.Warmup > 0 {
		for _, t := range targets {
			res := runLoad(ctx, t.client, t.Base, sh, o.Concurrency, o.Warmup, o.RequestsMax)
			res.Target = t.Key
			rep.Warmup = append(rep.Warmup, res)
		}
	}
	for round := 1; round <= o.Rounds; round++ {
		for _, t := range targets {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			runtime.GC()
			prof := ""
			if o.ProfileDir != "" {
				prof = filepath.Join(o.ProfileDir, fmt.Sprintf("%s-r%d.pprof", t.Key, round))
				if err := t.role.StartProfile(prof); err != nil {
					return nil, fmt.Errorf("profile: %w", err)
				}
			}
			cpu := startCPU(t.role.PID(), backend.PID())
			res := runLoad(ctx, t.client, t.Base, sh, o.Concurrency, o.Duration, o.RequestsMax)
			cpu.stop(&res)
			if prof != "" {
				if err := t.role.StopProfile(); err != nil {
					return nil, fmt.Errorf("profile: %w", err)
				}
			}
			res.Target, res.Round = t.Key, round
			rep.Runs = append(rep.Runs, res)
			logf("  round %d (%s) %-44s %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  server CPU %4.0f µs/req  non-2xx %d  errors %d",
				round, t.Key, t.Name, res.RPS, ms(res.P50), ms(res.P99), us(res.ServerCPUPerReq), res.Non2xx, res.Errors)
		}
	}
	for round := 1; round <= o.Rounds; round++ {
		for _, t := range targets {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			res := runLoad(ctx, t.client, t.Base, sh, 1, o.C1Duration, o.C1Requests)
			res.Target, res.Round = t.Key, round
			rep.C1 = append(rep.C1, res)
		}
	}
	logf("  c=1 pass done")
	if o.SSETrials > 0 {
		for _, t := range targets {
			res := sseCheck(ctx, t.Base, br.Token, o.SSETrials, o.SSEGap)
			res.Target = t.Key
			rep.SSE = append(rep.SSE, res)
		}
		logf("  SSE check done")
	}
	rep.Finished = time.Now()
	rep.summarize(targets)
	return rep, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
