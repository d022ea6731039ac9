package ratelimit

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

// Defaults and bounds of Options.
const (
	StoreMemory       = "memory"
	OnStoreErrorAllow = "allow"
	OnStoreErrorDeny  = "deny"

	DefaultMaxCallers = 100000
	DefaultKeyPrefix  = "mcpfd:rl:"

	// MaxBurst bounds a bucket's size.
	MaxBurst = 1000000
	// MaxRatePerSecond bounds a rate (one token per microsecond, the
	// Redis store's resolution).
	MaxRatePerSecond = 1000000
	// MaxWindow bounds burst × (1/rate), the time an empty bucket takes
	// to fill up again.
	MaxWindow = 365 * 24 * time.Hour
)

// Options configure the rate limits (the `rate_limits` block). The zero
// Options limit nothing (see Enabled).
type Options struct {
	// Store is "memory" (the default: one limit per process) or a Redis
	// URL, redis://[user:pass@]host:port/db or rediss:// for TLS, shared
	// by every replica (one global limit). go-redis URL query options
	// (dial_timeout, read_timeout, …) are accepted.
	Store string `yaml:"store" json:"store,omitempty"`
	// StorePassword is the Redis password from an environment variable or
	// a file, instead of (and overriding) the password in Store.
	StorePassword *rs.SecretSource `yaml:"store_password" json:"store_password,omitempty"`
	// OnStoreError is what happens when Redis cannot answer: "allow"
	// (fail-open, the default) or "deny" (fail-closed).
	OnStoreError string `yaml:"on_store_error" json:"on_store_error,omitempty"`
	// MaxCallers bounds the callers the memory store tracks (an LRU,
	// default 100000); the least recently seen caller is forgotten (its
	// buckets start full again).
	MaxCallers int `yaml:"max_callers" json:"max_callers,omitempty"`
	// KeyPrefix starts every Redis key (default "mcpfd:rl:"). Front doors
	// that share one Redis but must not share limits use different ones.
	KeyPrefix string `yaml:"key_prefix" json:"key_prefix,omitempty"`
	// Default limits every request of a caller (optional).
	Default *Limit `yaml:"default" json:"default,omitempty"`
	// Methods limits a caller's requests of one JSON-RPC method.
	Methods map[string]Limit `yaml:"methods" json:"methods,omitempty"`
	// Tools limits a caller's tools/call requests of one tool.
	Tools map[string]Limit `yaml:"tools" json:"tools,omitempty"`
}

// Limit is one token bucket: Rate tokens come back per unit of time, up
// to Burst.
type Limit struct {
	// Rate is "N/s", "N/m" or "N/h", N a positive number (may be
	// fractional, e.g. 0.5/s).
	Rate string `yaml:"rate" json:"rate"`
	// Burst is the bucket's size, ≥ 1 (default: max(1, ceil(N))).
	Burst int `yaml:"burst" json:"burst,omitempty"`
}

// Rate is a parsed Limit.Rate: N tokens per Per.
type Rate struct {
	N   float64
	Per time.Duration
}

var rateRE = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)/([smh])$`)

// ParseRate parses "N/s", "N/m" or "N/h".
func ParseRate(s string) (Rate, error) {
	m := rateRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return Rate{}, fmt.Errorf("%q is not a rate (want N/s, N/m or N/h, e.g. 10/s)", s)
	}
	n, err := strconv.ParseFloat(m[1], 64)
	if err != nil || n <= 0 || math.IsInf(n, 0) {
		return Rate{}, fmt.Errorf("%q: N must be a positive number", s)
	}
	r := Rate{N: n, Per: map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour}[m[2]]}
	if r.PerSecond() > MaxRatePerSecond {
		return Rate{}, fmt.Errorf("%q is above %d/s", s, MaxRatePerSecond)
	}
	return r, nil
}

// PerSecond is the rate in tokens per second.
func (r Rate) PerSecond() float64 { return r.N / r.Per.Seconds() }

// Interval is the time one token takes to come back (Per / N), rounded
// to the nanosecond.
func (r Rate) Interval() time.Duration {
	return time.Duration(math.Round(float64(r.Per) / r.N))
}

// DefaultBurst is the burst of a Limit without one: max(1, ceil(N)).
func (r Rate) DefaultBurst() int { return max(1, int(math.Ceil(r.N))) }

func (r Rate) String() string {
	u := map[time.Duration]string{time.Second: "s", time.Minute: "m", time.Hour: "h"}[r.Per]
	return strconv.FormatFloat(r.N, 'f', -1, 64) + "/" + u
}

// LimitFromArgs reads a limit written as "RATE [BURST]" (the Caddyfile
// form, e.g. `10/s 20`). It only splits the words; Normalized checks them.
func LimitFromArgs(args []string) (Limit, error) {
	switch len(args) {
	case 1:
		return Limit{Rate: args[0]}, nil
	case 2:
		b, err := strconv.Atoi(args[1])
		if err != nil {
			return Limit{}, fmt.Errorf("burst %q is not a whole number", args[1])
		}
		return Limit{Rate: args[0], Burst: b}, nil
	}
	return Limit{}, errors.New("want RATE [BURST], e.g. 10/s 20")
}

// Enabled reports whether o limits anything (a default, a method or a
// tool). A front door need not build a Limiter when it does not.
func (o Options) Enabled() bool {
	return o.Default != nil || len(o.Methods) > 0 || len(o.Tools) > 0
}

// IsRedis reports whether the store is a Redis URL.
func (o Options) IsRedis() bool {
	s := strings.TrimSpace(o.Store)
	return strings.HasPrefix(s, "redis://") || strings.HasPrefix(s, "rediss://")
}

// Normalized validates o and returns a copy with the defaults filled in;
// o is never written to. Every error is a *rs.FieldError whose path starts
// with prefix (e.g. "rate_limits"), all of them joined with errors.Join.
// It connects to nothing and reads no secret.
func (o Options) Normalized(prefix string) (Options, error) {
	n := o
	n.Methods = maps.Clone(o.Methods)
	n.Tools = maps.Clone(o.Tools)
	if o.Default != nil {
		d := *o.Default
		n.Default = &d
	}
	if o.StorePassword != nil {
		p := *o.StorePassword
		n.StorePassword = &p
	}
	var errs []error
	fe := func(field, format string, args ...any) {
		errs = append(errs, &rs.FieldError{Field: prefix + "." + field, Msg: fmt.Sprintf(format, args...)})
	}

	n.Store = strings.TrimSpace(n.Store)
	switch {
	case n.Store == "" || n.Store == StoreMemory:
		n.Store = StoreMemory
	case n.IsRedis():
		if msg := checkRedisURL(n.Store); msg != "" {
			fe("store", "%s", msg)
		}
	default:
		fe("store", "want memory or a redis:// or rediss:// URL")
	}
	if n.StorePassword != nil {
		k := 0
		for _, v := range []string{n.StorePassword.Env, n.StorePassword.File, n.StorePassword.Value} {
			if v != "" {
				k++
			}
		}
		switch {
		case !n.IsRedis():
			fe("store_password", "is only for a redis:// or rediss:// store")
		case k != 1:
			fe("store_password", "set exactly one of env or file")
		}
	}
	switch n.OnStoreError {
	case "":
		n.OnStoreError = OnStoreErrorAllow
	case OnStoreErrorAllow, OnStoreErrorDeny:
	default:
		fe("on_store_error", "%q is not allow or deny", n.OnStoreError)
	}
	if n.MaxCallers == 0 {
		n.MaxCallers = DefaultMaxCallers
	} else if n.MaxCallers < 0 {
		fe("max_callers", "must be positive")
	}
	if n.KeyPrefix == "" {
		n.KeyPrefix = DefaultKeyPrefix
	}

	if n.Default != nil {
		errs = append(errs, normalizeLimit(n.Default, prefix+".default")...)
	}
	for _, group := range []struct {
		name string
		m    map[string]Limit
	}{{"methods", n.Methods}, {"tools", n.Tools}} {
		for _, k := range slices.Sorted(maps.Keys(group.m)) {
			field := prefix + "." + group.name + "." + k
			if strings.TrimSpace(k) == "" {
				errs = append(errs, &rs.FieldError{Field: prefix + "." + group.name, Msg: fmt.Sprintf("has an empty name (%q)", k)})
				continue
			}
			l := group.m[k]
			errs = append(errs, normalizeLimit(&l, field)...)
			group.m[k] = l
		}
	}
	return n, errors.Join(errs...)
}

func normalizeLimit(l *Limit, field string) []error {
	var errs []error
	if strings.TrimSpace(l.Rate) == "" {
		return []error{&rs.FieldError{Field: field + ".rate", Msg: "is required (N/s, N/m or N/h, e.g. 10/s)", Err: rs.ErrRequired}}
	}
	r, err := ParseRate(l.Rate)
	if err != nil {
		errs = append(errs, &rs.FieldError{Field: field + ".rate", Msg: err.Error()})
	}
	switch {
	case l.Burst < 0:
		errs = append(errs, &rs.FieldError{Field: field + ".burst", Msg: "must be at least 1"})
	case l.Burst > MaxBurst:
		errs = append(errs, &rs.FieldError{Field: field + ".burst", Msg: fmt.Sprintf("must be at most %d", MaxBurst)})
	}
	if err != nil || len(errs) > 0 {
		return errs
	}
	l.Rate = r.String()
	if l.Burst == 0 {
		l.Burst = r.DefaultBurst()
	}
	if float64(l.Burst)*float64(r.Interval()) > float64(MaxWindow) {
		errs = append(errs, &rs.FieldError{Field: field + ".burst",
			Msg: fmt.Sprintf("burst %d at %s takes longer than %s to fill (raise the rate or lower the burst)", l.Burst, l.Rate, "365 days")})
	}
	return errs
}

// checkRedisURL returns why s is not a usable Redis URL, or "". The
// message never repeats s (it may hold a password).
func checkRedisURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "is not a valid URL (want redis://[user:pass@]host:port/db or rediss://…)"
	}
	if u.Host == "" || u.Hostname() == "" {
		return "names no host (want redis://[user:pass@]host:port/db or rediss://…)"
	}
	if _, err := redis.ParseURL(s); err != nil {
		msg := strings.TrimPrefix(err.Error(), "redis: ")
		return "is not a usable Redis URL: " + msg
	}
	return ""
}

// redactedStore is the store for logs: the URL without its password.
func redactedStore(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(invalid URL)"
	}
	return u.Redacted()
}

// Check validates o the way New does (field paths start with prefix,
// "rate_limits" when empty) without connecting to anything; a
// store_password must be readable (from the process's environment or the
// file).
func Check(o Options, prefix string) error {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	n, err := o.Normalized(prefix)
	if err != nil {
		return err
	}
	if n.StorePassword != nil {
		_, err = n.StorePassword.Resolve(prefix+".store_password", os.Getenv, os.ReadFile)
	}
	return err
}

// DefaultPrefix is the option path of the block in errors.
const DefaultPrefix = "rate_limits"
