package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// step is one request of a scenario: advance the clock by after, then ask.
type step struct {
	after  time.Duration
	caller string
	method string
	tool   string
	want   Decision
}

var ok = Decision{Allowed: true}

func limited(rule string, d time.Duration) Decision { return Decision{Rule: rule, RetryAfter: d} }

// semanticsCases are the token bucket scenarios, exact to the nanosecond
// on the memory store's fake clock.
var semanticsCases = []struct {
	name  string
	o     Options
	steps []step
}{
	{
		name: "burst then exact retry-after then refill",
		o:    Options{Default: &Limit{Rate: "10/s", Burst: 3}},
		steps: []step{
			{0, "a", "tools/list", "", ok},
			{0, "a", "tools/list", "", ok},
			{0, "a", "tools/list", "", ok},
			{0, "a", "tools/list", "", limited("default", 100*time.Millisecond)},
			{99 * time.Millisecond, "a", "tools/list", "", limited("default", time.Millisecond)},
			{time.Millisecond, "a", "tools/list", "", ok},
			{0, "a", "tools/list", "", limited("default", 100*time.Millisecond)},
			// Idle for long: the bucket is full again, never above burst.
			{time.Hour, "a", "ping", "", ok},
			{0, "a", "ping", "", ok},
			{0, "a", "ping", "", ok},
			{0, "a", "ping", "", limited("default", 100*time.Millisecond)},
			// Partial refill: 250ms give back two tokens, the third is 50ms away.
			{250 * time.Millisecond, "a", "ping", "", ok},
			{0, "a", "ping", "", ok},
			{0, "a", "ping", "", limited("default", 50*time.Millisecond)},
			// Another caller has its own buckets.
			{0, "b", "ping", "", ok},
		},
	},
	{
		name: "fractional rate and default burst",
		o:    Options{Default: &Limit{Rate: "0.5/s"}},
		steps: []step{
			{0, "a", "x", "", ok},
			{0, "a", "x", "", limited("default", 2*time.Second)},
			{1500 * time.Millisecond, "a", "x", "", limited("default", 500*time.Millisecond)},
			{500 * time.Millisecond, "a", "x", "", ok},
		},
	},
	{
		name: "per minute",
		o:    Options{Methods: map[string]Limit{"initialize": {Rate: "2/m"}}},
		steps: []step{
			{0, "a", "initialize", "", ok},
			{0, "a", "initialize", "", ok},
			{0, "a", "initialize", "", limited("method:initialize", 30*time.Second)},
			{0, "a", "tools/list", "", ok}, // no rule for it
		},
	},
	{
		name: "tool vs method vs default",
		o: Options{
			Default: &Limit{Rate: "1/h", Burst: 8},
			Methods: map[string]Limit{"tools/call": {Rate: "1/m", Burst: 5}},
			Tools:   map[string]Limit{"expensive_search": {Rate: "1/s", Burst: 2}},
		},
		steps: []step{
			{0, "a", "tools/call", "expensive_search", ok},
			{0, "a", "tools/call", "expensive_search", ok},
			{0, "a", "tools/call", "expensive_search", limited("tool:expensive_search", time.Second)},
			// Denied requests took nothing: the method bucket still has 3.
			{0, "a", "tools/call", "expensive_search", limited("tool:expensive_search", time.Second)},
			{0, "a", "tools/call", "other", ok},
			{0, "a", "tools/call", "other", ok},
			{0, "a", "tools/call", "", ok},
			{0, "a", "tools/call", "other", limited("method:tools/call", time.Minute)},
			// The tool bucket refilled, but the method bucket is the longer wait.
			{time.Second, "a", "tools/call", "expensive_search", limited("method:tools/call", time.Minute-time.Second)},
			// A tool's name outside tools/call is not a tool call.
			{0, "a", "resources/read", "expensive_search", ok},
			{0, "a", "tools/list", "", ok},
			{0, "a", "tools/list", "", ok},
			{0, "a", "tools/list", "", limited("default", time.Hour-time.Second)},
			// Other callers are untouched.
			{0, "b", "tools/call", "expensive_search", ok},
		},
	},
	{
		name: "longest wait names the rule",
		o: Options{
			Default: &Limit{Rate: "1/s", Burst: 1},
			Tools:   map[string]Limit{"t": {Rate: "1/m", Burst: 1}},
		},
		steps: []step{
			{0, "a", "tools/call", "t", ok},
			{0, "a", "tools/call", "t", limited("tool:t", time.Minute)},
			{0, "a", "ping", "", limited("default", time.Second)},
			{time.Second, "a", "ping", "", ok},
		},
	},
}

func TestMemorySemantics(t *testing.T) {
	for _, tc := range semanticsCases {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			l, err := New(tc.o, Env{Clock: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			for i, s := range tc.steps {
				clk.Advance(s.after)
				if got := l.Allow(context.Background(), s.caller, s.method, s.tool); got != s.want {
					t.Fatalf("step %d (%s %s %s): %+v; want %+v", i, s.caller, s.method, s.tool, got, s.want)
				}
			}
		})
	}
}

func TestMemoryLRUBound(t *testing.T) {
	const maxCallers = 50
	clk := newFakeClock()
	l, err := New(Options{
		MaxCallers: maxCallers,
		Default:    &Limit{Rate: "1/h", Burst: 1},
		Methods:    map[string]Limit{"tools/call": {Rate: "1/h", Burst: 1}},
		Tools:      map[string]Limit{"t": {Rate: "1/h", Burst: 1}},
	}, Env{Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ms := l.store.(*memoryStore)
	for i := range 10 * maxCallers {
		if d := l.Allow(context.Background(), fmt.Sprintf("caller-%d", i), "tools/call", "t"); !d.Allowed {
			t.Fatalf("caller %d: %+v", i, d)
		}
		if n := ms.len(); n > maxCallers {
			t.Fatalf("after %d callers the store tracks %d (max %d)", i+1, n, maxCallers)
		}
	}
	if n := ms.len(); n != maxCallers {
		t.Fatalf("tracks %d callers; want %d", n, maxCallers)
	}
	// The most recent callers are still limited; the first was forgotten.
	last := fmt.Sprintf("caller-%d", 10*maxCallers-1)
	if d := l.Allow(context.Background(), last, "ping", ""); d.Allowed {
		t.Fatalf("recent caller allowed again: %+v", d)
	}
	if d := l.Allow(context.Background(), "caller-0", "ping", ""); !d.Allowed {
		t.Fatalf("evicted caller still limited: %+v", d)
	}
	// Each entry holds only its not-yet-full buckets, at most one per rule.
	e, _ := ms.callers.Peek(last)
	if len(e.buckets) != 3 {
		t.Fatalf("entry has %d buckets; want 3", len(e.buckets))
	}
	clk.Advance(2 * time.Hour)
	l.Allow(context.Background(), last, "ping", "")
	if len(e.buckets) != 1 {
		t.Fatalf("full buckets not dropped: %d left", len(e.buckets))
	}
}

// TestMemoryConcurrent: with the clock stopped, exactly burst requests of
// many goroutines get through (run with -race).
func TestMemoryConcurrent(t *testing.T) {
	clk := newFakeClock()
	const burst = 100
	l, err := New(Options{Default: &Limit{Rate: "1/h", Burst: burst}, Tools: map[string]Limit{"t": {Rate: "1/h", Burst: burst * 2}}}, Env{Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if l.Allow(context.Background(), "a", "tools/call", "t").Allowed {
					allowed.Add(1)
				}
				l.Allow(context.Background(), fmt.Sprintf("other-%d", g), "ping", "")
			}
		}()
	}
	wg.Wait()
	if allowed.Load() != burst {
		t.Fatalf("%d allowed; want %d", allowed.Load(), burst)
	}
}

func TestMetricsAndNil(t *testing.T) {
	reg := prometheus.NewRegistry()
	clk := newFakeClock()
	o := Options{Default: &Limit{Rate: "1/h", Burst: 1}}
	l, err := New(o, Env{Registerer: reg, Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	// A second Limiter on the same registry (a reload) shares the counters.
	l2, err := New(o, Env{Registerer: reg, Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	l.Allow(context.Background(), "a", "ping", "")
	l.Allow(context.Background(), "a", "ping", "")
	l2.Allow(context.Background(), "a", "ping", "")
	c := l.metrics.decisions
	if a, lim, se := testutil.ToFloat64(c.WithLabelValues("allowed")), testutil.ToFloat64(c.WithLabelValues("limited")), testutil.ToFloat64(c.WithLabelValues("store_error")); a != 2 || lim != 1 || se != 0 {
		t.Fatalf("allowed %v limited %v store_error %v", a, lim, se)
	}
	if n, err := testutil.GatherAndCount(reg, "mcp_auth_ratelimit_decisions_total"); err != nil || n != 3 {
		t.Fatalf("series %d, %v", n, err)
	}
	var nl *Limiter
	if d := nl.Allow(context.Background(), "a", "ping", ""); !d.Allowed {
		t.Fatal("nil Limiter denied")
	}
	if nl.Close() != nil || nl.Ping(context.Background()) != nil || l.Close() != nil || l.Close() != nil {
		t.Fatal("Close")
	}
}

func TestDecisionRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		d  Decision
		s  int
		ms int64
	}{
		{Decision{Allowed: true}, 0, 0},
		{Decision{RetryAfter: 0}, 1, 1},
		{Decision{RetryAfter: time.Nanosecond}, 1, 1},
		{Decision{RetryAfter: 999 * time.Millisecond}, 1, 999},
		{Decision{RetryAfter: time.Second}, 1, 1000},
		{Decision{RetryAfter: 1001 * time.Millisecond}, 2, 1001},
		{Decision{RetryAfter: 1500*time.Microsecond + 1}, 1, 2},
	} {
		if s, ms := tc.d.RetryAfterSeconds(), tc.d.RetryAfterMs(); s != tc.s || ms != tc.ms {
			t.Errorf("%+v: %d s, %d ms; want %d, %d", tc.d, s, ms, tc.s, tc.ms)
		}
	}
}

func TestCallerKey(t *testing.T) {
	if CallerKey("https://a", "bc") == CallerKey("https://ab", "c") {
		t.Fatal("CallerKey is ambiguous")
	}
}

func BenchmarkMemoryAllow(b *testing.B) {
	l, err := New(Options{
		Default: &Limit{Rate: "1000000/s", Burst: 1000000},
		Methods: map[string]Limit{"tools/call": {Rate: "1000000/s", Burst: 1000000}},
		Tools:   map[string]Limit{"t": {Rate: "1000000/s", Burst: 1000000}},
	}, Env{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	callers := make([]string, 1024)
	for i := range callers {
		callers[i] = CallerKey("https://issuer.example", fmt.Sprint("user-", i))
	}
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			l.Allow(context.Background(), callers[i%len(callers)], "tools/call", "t")
			i++
		}
	})
}
