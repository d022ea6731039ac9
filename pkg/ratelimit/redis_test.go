package ratelimit

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

// testRedisPassword is the password of the test's redis-server; no log
// line or error may contain it.
const testRedisPassword = "s3cret-rl-pw"

// redisServer is a real redis-server on 127.0.0.1 run by a test: no
// persistence, a password, a free port it keeps across restarts.
type redisServer struct {
	t    *testing.T
	bin  string
	port int
	mu   sync.Mutex
	cmd  *exec.Cmd
	out  *bytes.Buffer
}

// startRedis starts redis-server, or skips the test when the binary is
// missing outside CI (CI=true fails instead).
func startRedis(t *testing.T) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server not found on PATH, and CI=true: install it (scripts/install-test-tools.sh, or apt-get install redis-server)")
		}
		t.Skip("redis-server not found on PATH; skipping the Redis store tests (install it with scripts/install-test-tools.sh, or apt-get install redis-server)")
	}
	s := &redisServer{t: t, bin: bin}
	t.Cleanup(s.stop)
	// A free port can be taken by someone else before redis-server binds
	// it: try a few.
	for attempt := 0; ; attempt++ {
		s.port = freePort(t)
		if err := s.start(); err == nil {
			return s
		} else if attempt == 4 {
			t.Fatalf("redis-server did not start: %v\n%s", err, s.output())
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func (s *redisServer) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.out = &bytes.Buffer{}
	cmd := exec.Command(s.bin,
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no",
		"--requirepass", testRedisPassword,
		"--dir", s.t.TempDir(), "--daemonize", "no", "--loglevel", "warning")
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd = cmd
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	c := redis.NewClient(&redis.Options{Addr: s.addr(), Password: testRedisPassword, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			s.cmd = nil
			return fmt.Errorf("redis-server exited: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			s.cmd = nil
			return fmt.Errorf("redis-server not answering after 10s: %v", err)
		}
	}
}

// restart starts the server again on the same port.
func (s *redisServer) restart() {
	s.t.Helper()
	var err error
	for range 20 { // the port may linger for a moment
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("redis-server did not restart: %v\n%s", err, s.output())
}

// stop kills the server and waits until its port refuses connections.
func (s *redisServer) stop() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", s.addr(), 100*time.Millisecond)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Errorf("redis-server on %s still answers 10s after SIGKILL", s.addr())
}

func (s *redisServer) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.out == nil {
		return ""
	}
	return s.out.String()
}

func (s *redisServer) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// url is the store URL, password in it.
func (s *redisServer) url(db int) string {
	return fmt.Sprintf("redis://:%s@%s/%d", testRedisPassword, s.addr(), db)
}

// client is a plain client for looking at the keys.
func (s *redisServer) client(db int) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.addr(), Password: testRedisPassword, DB: db})
	s.t.Cleanup(func() { c.Close() })
	return c
}

func newRedisLimiter(t *testing.T, o Options, env Env) *Limiter {
	t.Helper()
	l, err := New(o, env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// closeTo compares a Redis decision to the exact (fake clock) one: the
// same but for RetryAfter, which real time may have shortened by up to
// slack (and the µs rounding lengthened by a µs).
func closeTo(got, want Decision, slack time.Duration) bool {
	if got.Allowed != want.Allowed || got.Rule != want.Rule || got.StoreError != want.StoreError {
		return false
	}
	return got.RetryAfter <= want.RetryAfter+time.Microsecond && got.RetryAfter >= want.RetryAfter-slack
}

// TestRedisSemantics runs the memory store's scenarios against a real
// Redis, up to the first step that needs the clock to move (Redis uses its
// own), with two Limiters sharing the server: alternate steps go to each,
// so the limits are global.
func TestRedisSemantics(t *testing.T) {
	srv := startRedis(t)
	for i, tc := range semanticsCases {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			o.Store = srv.url(i % 16)
			a := newRedisLimiter(t, o, Env{})
			b := newRedisLimiter(t, o, Env{})
			start := time.Now()
			n := 0
			for j, s := range tc.steps {
				if s.after > 0 {
					break
				}
				l := a
				if j%2 == 1 {
					l = b
				}
				got := l.Allow(context.Background(), s.caller, s.method, s.tool)
				if !closeTo(got, s.want, time.Since(start)+5*time.Millisecond) {
					t.Fatalf("step %d (%s %s %s): %+v; want %+v", j, s.caller, s.method, s.tool, got, s.want)
				}
				n++
			}
			if n < 2 {
				t.Fatalf("only %d steps ran", n)
			}
		})
	}
}

// TestRedisRefillAndKeys: buckets refill on Redis's clock, keys hold no
// identity and expire when the bucket is full again.
func TestRedisRefillAndKeys(t *testing.T) {
	srv := startRedis(t)
	l := newRedisLimiter(t, Options{Store: srv.url(0), Tools: map[string]Limit{"t": {Rate: "20/s", Burst: 2}}}, Env{})
	ctx := context.Background()
	caller := CallerKey("https://issuer.example", "alice@example.com")
	for range 2 {
		if d := l.Allow(ctx, caller, "tools/call", "t"); !d.Allowed {
			t.Fatalf("%+v", d)
		}
	}
	d := l.Allow(ctx, caller, "tools/call", "t")
	if d.Allowed || d.Rule != "tool:t" || d.RetryAfter <= 0 || d.RetryAfter > 50*time.Millisecond {
		t.Fatalf("third request: %+v", d)
	}
	time.Sleep(d.RetryAfter + 5*time.Millisecond)
	if d := l.Allow(ctx, caller, "tools/call", "t"); !d.Allowed {
		t.Fatalf("after RetryAfter: %+v", d)
	}
	if d := l.Allow(ctx, caller, "tools/call", "t"); d.Allowed {
		t.Fatalf("refilled more than one token: %+v", d)
	}

	c := srv.client(0)
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || !strings.HasPrefix(keys[0], "mcpfd:rl:{") || !strings.HasSuffix(keys[0], "}:tool:t") ||
		strings.Contains(keys[0], "alice") || strings.Contains(keys[0], "issuer") {
		t.Fatalf("keys %q", keys)
	}
	ttl, err := c.PTTL(ctx, keys[0]).Result()
	if err != nil || ttl <= 0 || ttl > 102*time.Millisecond {
		t.Fatalf("PTTL %v, %v; want (0, ~100ms]", ttl, err)
	}
	// Idle, the bucket's key goes away.
	deadline := time.Now().Add(5 * time.Second)
	for c.Exists(ctx, keys[0]).Val() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("idle bucket key did not expire")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if d := l.Allow(ctx, caller, "tools/call", "t"); !d.Allowed {
		t.Fatalf("after expiry: %+v", d)
	}

	// A Redis that lost its script cache (restart, SCRIPT FLUSH): EVALSHA
	// fails with NOSCRIPT and EVAL runs the script.
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if d := l.Allow(ctx, caller, "tools/call", "t"); !d.Allowed || d.StoreError {
		t.Fatalf("after SCRIPT FLUSH: %+v", d)
	}

	// key_prefix separates front doors sharing one Redis.
	other := newRedisLimiter(t, Options{Store: srv.url(0), KeyPrefix: "other:", Tools: map[string]Limit{"t": {Rate: "1/h", Burst: 1}}}, Env{})
	if !other.Allow(ctx, caller, "tools/call", "t").Allowed || other.Allow(ctx, caller, "tools/call", "t").Allowed {
		t.Fatal("key_prefix limiter")
	}
	if n := len(c.Keys(ctx, "other:{*}:tool:t").Val()); n != 1 {
		t.Fatalf("%d keys under other:", n)
	}
}

// TestRedisGlobalLimitConcurrent: two Limiters (two replicas) hammering
// one Redis let exactly burst requests through.
func TestRedisGlobalLimitConcurrent(t *testing.T) {
	srv := startRedis(t)
	o := Options{Store: srv.url(1), Default: &Limit{Rate: "1/h", Burst: 25}, Methods: map[string]Limit{"tools/call": {Rate: "1/h", Burst: 40}}}
	ls := []*Limiter{newRedisLimiter(t, o, Env{}), newRedisLimiter(t, o, Env{})}
	var mu sync.Mutex
	allowed := 0
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				d := ls[g%2].Allow(context.Background(), "caller", "tools/call", "")
				if d.StoreError {
					t.Errorf("store error: %+v", d)
				}
				if d.Allowed {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if allowed != 25 {
		t.Fatalf("%d allowed across replicas; want 25", allowed)
	}
}

// TestRedisStoreErrors: Redis goes away, then comes back. on_store_error
// allow lets requests through, deny refuses them for 1s; both say
// StoreError, count it, and warn once (rate-limited) without the
// password. After a restart (an empty script cache: EVALSHA falls back to
// EVAL) the limits work again.
func TestRedisStoreErrors(t *testing.T) {
	srv := startRedis(t)
	core, logs := observer.New(zapcore.WarnLevel)
	reg := prometheus.NewRegistry()
	t.Setenv("MCPFD_RL_TEST_PASSWORD", testRedisPassword)
	o := Options{
		// The password from the environment, not the URL.
		Store:         "redis://" + srv.addr() + "/2",
		StorePassword: &rs.SecretSource{Env: "MCPFD_RL_TEST_PASSWORD"},
		Default:       &Limit{Rate: "1/h", Burst: 3},
	}
	open := newRedisLimiter(t, o, Env{Logger: zap.New(core), Registerer: reg})
	o.OnStoreError = "deny"
	o.StorePassword = nil
	o.Store = srv.url(2) // the password in the URL
	closed := newRedisLimiter(t, o, Env{Logger: zap.New(core), Registerer: reg})
	ctx := context.Background()
	if err := open.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	for i, l := range []*Limiter{open, closed, open} {
		if d := l.Allow(ctx, "c", "ping", ""); !d.Allowed || d.StoreError {
			t.Fatalf("request %d with Redis up: %+v", i, d)
		}
	}
	if d := closed.Allow(ctx, "c", "ping", ""); d.Allowed || d.Rule != "default" {
		t.Fatalf("global limit: %+v", d)
	}

	srv.stop()
	for i := range 5 {
		start := time.Now()
		d := open.Allow(ctx, "c", "ping", "")
		if !d.Allowed || !d.StoreError || d.RetryAfter != 0 {
			t.Fatalf("allow mode, Redis down, request %d: %+v", i, d)
		}
		d = closed.Allow(ctx, "c", "ping", "")
		if d.Allowed || !d.StoreError || d.RetryAfter != time.Second || d.Rule != "" {
			t.Fatalf("deny mode, Redis down, request %d: %+v", i, d)
		}
		if el := time.Since(start); el > 3*time.Second {
			t.Fatalf("a decision with Redis down took %v", el)
		}
	}
	if err := open.Ping(ctx); err == nil {
		t.Fatal("Ping with Redis down")
	}
	if got := testutil.ToFloat64(open.metrics.decisions.WithLabelValues("store_error")); got != 10 {
		t.Fatalf("store_error decisions %v; want 10", got)
	}
	warns := logs.FilterMessageSnippet("rate limit store failed").All()
	if len(warns) != 2 { // one per Limiter, the rest suppressed
		t.Fatalf("%d warnings; want 2: %+v", len(warns), warns)
	}
	for _, e := range logs.All() {
		line := e.Message
		for k, v := range e.ContextMap() {
			line += fmt.Sprintf(" %s=%v", k, v)
		}
		if strings.Contains(line, testRedisPassword) {
			t.Fatalf("log line has the password: %s", line)
		}
		if !strings.Contains(line, srv.addr()) {
			t.Fatalf("log line does not name the store: %s", line)
		}
	}
	// A canceled request is not logged nor decided differently.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if d := open.Allow(cctx, "c", "ping", ""); !d.Allowed || !d.StoreError {
		t.Fatalf("canceled: %+v", d)
	}

	srv.restart()
	deadline := time.Now().Add(15 * time.Second)
	for {
		d := open.Allow(ctx, "c2", "ping", "")
		if !d.StoreError {
			if !d.Allowed {
				t.Fatalf("after restart: %+v", d)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing 15s after Redis came back: %+v", d)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The restarted Redis is empty: c starts over, globally.
	for i, want := range []bool{true, true, true, false} {
		var d Decision
		for {
			if d = closed.Allow(ctx, "c", "ping", ""); !d.StoreError || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if d.Allowed != want || d.StoreError {
			t.Fatalf("after restart, request %d: %+v (want allowed=%v)", i, d, want)
		}
	}
}

// TestRedisNewDoesNotConnect: New and Check need no Redis.
func TestRedisNewDoesNotConnect(t *testing.T) {
	port := freePort(t) // nothing listens there
	o := Options{Store: fmt.Sprintf("redis://127.0.0.1:%d/0", port), Default: &Limit{Rate: "1/s"}}
	if err := Check(o, ""); err != nil {
		t.Fatal(err)
	}
	l, err := New(o, Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if d := l.Allow(context.Background(), "c", "ping", ""); !d.Allowed || !d.StoreError {
		t.Fatalf("%+v", d)
	}
	if _, err := New(Options{Store: o.Store, StorePassword: &rs.SecretSource{Env: "X"}}, Env{Getenv: func(string) string { return "" }}); err == nil ||
		!strings.Contains(err.Error(), "rate_limits.store_password") {
		t.Fatalf("unset store_password: %v", err)
	}
}

// TestSetRedisLogger: go-redis's own lines go to zap at debug level.
func TestSetRedisLogger(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	SetRedisLogger(zap.New(core))
	t.Cleanup(func() { SetRedisLogger(zap.NewNop()) })
	port := freePort(t)
	l := newRedisLimiter(t, Options{Store: fmt.Sprintf("redis://:%s@127.0.0.1:%d/0", testRedisPassword, port), Default: &Limit{Rate: "1/s"}}, Env{})
	l.Allow(context.Background(), "c", "ping", "")
	got := logs.FilterMessageSnippet("failed to dial").All()
	if len(got) == 0 || got[0].Level != zapcore.DebugLevel || got[0].LoggerName != "go-redis" {
		t.Fatalf("go-redis lines: %+v", logs.All())
	}
	for _, e := range logs.All() {
		if strings.Contains(e.Message, testRedisPassword) {
			t.Fatalf("go-redis line has the password: %s", e.Message)
		}
	}
}

func TestMain(m *testing.M) {
	// go-redis's dial failures (the tests make many) stay off stderr.
	SetRedisLogger(zap.NewNop())
	os.Exit(m.Run())
}
