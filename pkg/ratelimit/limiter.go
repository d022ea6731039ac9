package ratelimit

import (
	"context"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

// Env is what a Limiter needs from its front door.
type Env struct {
	// Logger receives the store warnings (nil: none).
	Logger *zap.Logger
	// Registerer receives the metrics (nil: none).
	Registerer prometheus.Registerer
	// Prefix is the option path of the block in errors ("rate_limits"
	// when empty).
	Prefix string
	// Getenv and ReadFile read store_password (the os functions when nil).
	Getenv   func(string) string
	ReadFile func(string) ([]byte, error)
	// Clock is the memory store's time (time.Now when nil); for tests.
	// The Redis store always uses the Redis server's TIME.
	Clock func() time.Time
}

// Decision is the answer for one request.
type Decision struct {
	// Allowed is whether the request may go on.
	Allowed bool
	// RetryAfter is, when denied, how long until the request would be
	// allowed (the denying bucket has a token again); 0 when allowed.
	RetryAfter time.Duration
	// Rule names the bucket that denied the request: "default",
	// "method:<method>" or "tool:<tool>"; "" when allowed or when the
	// store failed.
	Rule string
	// StoreError is set when the store (Redis) could not answer; then
	// Allowed follows on_store_error and, when denied, RetryAfter is 1s.
	StoreError bool
}

// RetryAfterSeconds is RetryAfter for a Retry-After header: whole seconds,
// rounded up, at least 1 when denied; 0 when allowed.
func (d Decision) RetryAfterSeconds() int {
	if d.Allowed {
		return 0
	}
	return max(1, int((d.RetryAfter+time.Second-1)/time.Second))
}

// RetryAfterMs is RetryAfter for the errormap taxonomy's retryAfterMs:
// milliseconds, rounded up, at least 1 when denied; 0 when allowed.
func (d Decision) RetryAfterMs() int64 {
	if d.Allowed {
		return 0
	}
	return max(1, int64((d.RetryAfter+time.Millisecond-1)/time.Millisecond))
}

// StoreErrorRetryAfter is the RetryAfter of a request denied because the
// store failed (on_store_error: deny).
const StoreErrorRetryAfter = time.Second

// MethodToolsCall is the method whose requests the tools limits apply to.
const MethodToolsCall = "tools/call"

// CallerKey is the caller identity Allow expects: the token's issuer and
// subject, joined so that no two pairs give the same key.
func CallerKey(issuer, subject string) string {
	return strconv.Itoa(len(issuer)) + ":" + issuer + subject
}

// rule is one configured bucket, compiled.
type rule struct {
	id       string        // "default", "method:…", "tool:…"
	idx      int           // index in Limiter.rules
	interval time.Duration // time for one token to come back
	burst    int
	tau      time.Duration // (burst-1) × interval
}

func compileRule(id string, idx int, l Limit) *rule {
	r, err := ParseRate(l.Rate)
	if err != nil { // Normalized checked it
		panic("ratelimit: " + err.Error())
	}
	iv := r.Interval()
	return &rule{id: id, idx: idx, interval: iv, burst: l.Burst, tau: time.Duration(l.Burst-1) * iv}
}

// store takes one token from each of rules' buckets of caller, all or
// none. When it cannot, deny is the index in rules of the bucket that
// waits longest and wait how long.
type store interface {
	take(ctx context.Context, caller string, rules []*rule) (ok bool, deny int, wait time.Duration, err error)
	ping(ctx context.Context) error
	close() error
}

// Limiter applies the rate limits. It is safe for concurrent use; a nil
// *Limiter allows everything.
type Limiter struct {
	opts    Options
	def     *rule
	methods map[string]*rule
	tools   map[string]*rule
	store   store
	metrics *metrics
	log     *zap.Logger
	storeID string // redacted, for logs

	warnMu     sync.Mutex
	lastWarn   time.Time
	suppressed int

	closeOnce sync.Once
	closeErr  error
}

// warnEvery bounds the store warnings to one per interval.
const warnEvery = 10 * time.Second

// New checks o (as Normalized, field paths under env.Prefix) and builds a
// Limiter. A Redis store is not contacted here: the first request does,
// and failures follow on_store_error.
func New(o Options, env Env) (*Limiter, error) {
	if env.Prefix == "" {
		env.Prefix = DefaultPrefix
	}
	if env.Logger == nil {
		env.Logger = zap.NewNop()
	}
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	if env.ReadFile == nil {
		env.ReadFile = os.ReadFile
	}
	if env.Clock == nil {
		env.Clock = time.Now
	}
	n, err := o.Normalized(env.Prefix)
	if err != nil {
		return nil, err
	}
	var password *string
	if n.StorePassword != nil {
		p, err := n.StorePassword.Resolve(env.Prefix+".store_password", env.Getenv, env.ReadFile)
		if err != nil {
			return nil, err
		}
		password = &p
	}
	m, err := newMetrics(env.Registerer)
	if err != nil {
		return nil, err
	}
	l := &Limiter{
		opts:    n,
		methods: map[string]*rule{},
		tools:   map[string]*rule{},
		metrics: m,
		log:     env.Logger.Named("ratelimit"),
		storeID: StoreMemory,
	}
	idx := 0
	if n.Default != nil {
		l.def = compileRule("default", idx, *n.Default)
		idx++
	}
	for k, v := range n.Methods {
		l.methods[k] = compileRule("method:"+k, idx, v)
		idx++
	}
	for k, v := range n.Tools {
		l.tools[k] = compileRule("tool:"+k, idx, v)
		idx++
	}
	if n.IsRedis() {
		l.storeID = redactedStore(n.Store)
		s, err := newRedisStore(n.Store, password, n.KeyPrefix)
		if err != nil {
			return nil, &rs.FieldError{Field: env.Prefix + ".store", Msg: err.Error()}
		}
		l.store = s
	} else {
		l.store = newMemoryStore(n.MaxCallers, env.Clock)
	}
	return l, nil
}

// Options returns the normalized options the Limiter runs with.
func (l *Limiter) Options() Options { return l.opts }

// Allow takes one token from every bucket that applies to the request —
// the caller's default bucket, its bucket of method, and, for a
// tools/call, its bucket of tool — or, when any of them is empty, from
// none of them (a denied request costs nothing). caller is the caller's
// identity (see CallerKey); tool is looked at only when method is
// "tools/call". A request no rule applies to is allowed without touching
// the store.
func (l *Limiter) Allow(ctx context.Context, caller, method, tool string) Decision {
	if l == nil {
		return Decision{Allowed: true}
	}
	var buf [3]*rule
	rules := buf[:0]
	if l.def != nil {
		rules = append(rules, l.def)
	}
	if r := l.methods[method]; r != nil {
		rules = append(rules, r)
	}
	if method == MethodToolsCall {
		if r := l.tools[tool]; r != nil {
			rules = append(rules, r)
		}
	}
	if len(rules) == 0 {
		l.metrics.decision(resultAllowed)
		return Decision{Allowed: true}
	}
	ok, deny, wait, err := l.store.take(ctx, caller, rules)
	if err != nil {
		l.metrics.decision(resultStoreError)
		l.warnStore(ctx, err)
		if l.opts.OnStoreError == OnStoreErrorDeny {
			return Decision{RetryAfter: StoreErrorRetryAfter, StoreError: true}
		}
		return Decision{Allowed: true, StoreError: true}
	}
	if ok {
		l.metrics.decision(resultAllowed)
		return Decision{Allowed: true}
	}
	l.metrics.decision(resultLimited)
	return Decision{RetryAfter: wait, Rule: rules[deny].id}
}

// warnStore logs a store failure, at most once per warnEvery (with the
// number left out since the last one). A request whose context ended is
// not logged: its client went away.
func (l *Limiter) warnStore(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	l.warnMu.Lock()
	now := time.Now()
	if !l.lastWarn.IsZero() && now.Sub(l.lastWarn) < warnEvery {
		l.suppressed++
		l.warnMu.Unlock()
		return
	}
	suppressed := l.suppressed
	l.lastWarn, l.suppressed = now, 0
	l.warnMu.Unlock()
	action := "requests are allowed (on_store_error: allow)"
	if l.opts.OnStoreError == OnStoreErrorDeny {
		action = "requests are denied (on_store_error: deny)"
	}
	l.log.Warn("rate limit store failed; "+action,
		zap.String("store", l.storeID), zap.Error(err), zap.Int("suppressed", suppressed))
}

// Ping checks that the store answers (always nil for memory).
func (l *Limiter) Ping(ctx context.Context) error {
	if l == nil {
		return nil
	}
	return l.store.ping(ctx)
}

// Close releases the store (the Redis connections). Calling it again
// returns the first result.
func (l *Limiter) Close() error {
	if l == nil {
		return nil
	}
	l.closeOnce.Do(func() { l.closeErr = l.store.close() })
	return l.closeErr
}
