package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// takeScript is the Redis store's token buckets, the same GCRA as the
// memory store's, in microseconds of the server's TIME, atomic for all of
// a request's buckets.
//
// KEYS: the buckets. ARGV: per key, its interval and its tolerance
// ((burst-1) × interval), both in µs. Each key holds its bucket's
// theoretical arrival time (µs) and expires when the bucket is full again.
// Returns {1, 0, 0} when allowed (every bucket took a token), else
// {0, i, wait_µs} with i the 1-based key that waits longest; nothing is
// written then.
const takeScript = `
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tats = {}
local deny, worst = 0, 0
for i = 1, #KEYS do
  local tau = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or now) or now
  if tat < now then tat = now end
  tats[i] = tat
  local wait = tat - now - tau
  if wait > worst then deny, worst = i, wait end
end
if deny > 0 then return {0, deny, worst} end
for i = 1, #KEYS do
  local tat = tats[i] + tonumber(ARGV[2 * i - 1])
  local ttl = math.ceil((tat - now) / 1000) + 1
  redis.call('SET', KEYS[i], string.format('%.0f', tat), 'PX', string.format('%.0f', ttl))
end
return {1, 0, 0}
`

// Defaults of the Redis client, used when the URL's query does not set
// them: a rate limit check must not hold a request for long.
const (
	redisDialTimeout  = time.Second
	redisReadTimeout  = 500 * time.Millisecond
	redisWriteTimeout = 500 * time.Millisecond
	redisPoolTimeout  = time.Second
	redisMaxRetries   = 1
)

type redisStore struct {
	client *redis.Client
	script *redis.Script
	prefix string
}

func newRedisStore(rawURL string, password *string, keyPrefix string) (*redisStore, error) {
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("is not a usable Redis URL: %s", strings.TrimPrefix(err.Error(), "redis: "))
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("is not a valid URL")
	}
	q := u.Query()
	if !q.Has("dial_timeout") {
		opt.DialTimeout = redisDialTimeout
	}
	if !q.Has("read_timeout") {
		opt.ReadTimeout = redisReadTimeout
	}
	if !q.Has("write_timeout") {
		opt.WriteTimeout = redisWriteTimeout
	}
	if !q.Has("pool_timeout") {
		opt.PoolTimeout = redisPoolTimeout
	}
	if !q.Has("max_retries") {
		opt.MaxRetries = redisMaxRetries
	}
	// One dial per attempt: go-redis's own dial retries (5, with backoff)
	// would hold every request while Redis is down; on_store_error
	// decides instead.
	opt.DialerRetries = 1
	if password != nil {
		opt.Password = *password
	}
	return &redisStore{client: redis.NewClient(opt), script: redis.NewScript(takeScript), prefix: keyPrefix}, nil
}

// key is a bucket's key: the prefix, the caller as a hash (no identity is
// stored in Redis) in a hash tag (all of a caller's buckets in one Redis
// Cluster slot), and the rule.
func (s *redisStore) key(callerHash string, r *rule) string {
	return s.prefix + "{" + callerHash + "}:" + r.id
}

func (s *redisStore) take(ctx context.Context, caller string, rules []*rule) (bool, int, time.Duration, error) {
	sum := sha256.Sum256([]byte(caller))
	h := hex.EncodeToString(sum[:16])
	keys := make([]string, len(rules))
	args := make([]any, 0, 2*len(rules))
	for i, r := range rules {
		keys[i] = s.key(h, r)
		iv := max(1, (r.interval+500*time.Nanosecond)/time.Microsecond) // µs, rounded
		args = append(args, int64(iv), int64(iv)*int64(r.burst-1))
	}
	res, err := s.script.Run(ctx, s.client, keys, args...).Int64Slice()
	if err != nil {
		return false, 0, 0, err
	}
	if len(res) != 3 {
		return false, 0, 0, fmt.Errorf("ratelimit: unexpected script reply %v", res)
	}
	if res[0] == 1 {
		return true, 0, 0, nil
	}
	deny := int(res[1]) - 1
	if deny < 0 || deny >= len(rules) {
		return false, 0, 0, fmt.Errorf("ratelimit: unexpected script reply %v", res)
	}
	return false, deny, time.Duration(res[2]) * time.Microsecond, nil
}

// SetRedisLogger sends go-redis's own log lines (e.g. "connection pool:
// failed to dial", at most a pool's size of them per outage) to l at debug
// level instead of stderr. go-redis has one logger per process, so only a
// program that owns the process (the sidecar) should call it, not a Caddy
// module. The Limiter logs store failures itself (warn, rate-limited).
func SetRedisLogger(l *zap.Logger) {
	redis.SetLogger(zapRedisLogger{l.Named("go-redis")})
}

type zapRedisLogger struct{ l *zap.Logger }

func (z zapRedisLogger) Printf(_ context.Context, format string, v ...any) {
	if z.l.Core().Enabled(zap.DebugLevel) {
		z.l.Debug(fmt.Sprintf(format, v...))
	}
}

func (s *redisStore) ping(ctx context.Context) error { return s.client.Ping(ctx).Err() }

func (s *redisStore) close() error { return s.client.Close() }
