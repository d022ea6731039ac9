package rs

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"go.uber.org/zap"
)

// Key-fetch tuning that is not user configuration.
const (
	fetchTimeout   = 10 * time.Second
	initialBackoff = time.Second
	maxBackoff     = 5 * time.Minute
	minRSABits     = 2048
)

// errNoKey means no key of the issuer fits the token's kid and alg.
var errNoKey = errors.New("no matching key")

// KeySetOptions are the collaborators of a KeySet.
type KeySetOptions struct {
	// Client fetches discovery and JWKS documents (default: a client with
	// a 10s timeout).
	Client *http.Client
	// Logger receives fetch failures (default: no-op).
	Logger *zap.Logger
	// Metrics counts fetches (may be nil).
	Metrics *Metrics
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// KeySet holds the signing keys of ONE issuer. It is modelled on go-oidc's
// RemoteKeySet (coalesced in-flight fetches, tolerant JWKS parsing) and adds
// periodic refresh, a rate limit on refetches caused by unknown kids,
// serving the last good keys while the JWKS endpoint is down, and backoff.
// Keys of one KeySet never verify a token of another issuer: the Validator
// picks the KeySet by the token's iss before looking at kid.
type KeySet struct {
	issuer     string
	jwksURI    string // configured; "" means discovery
	refresh    time.Duration
	minRefetch time.Duration
	client     *http.Client
	log        *zap.Logger
	metrics    *Metrics
	now        func() time.Time

	mu       sync.RWMutex
	keys     []jose.JSONWebKey
	resolved *serverMetadata // discovery result (or the configured jwks_uri)
	loadedAt time.Time
	lastErr  error
	// stale: a refresh failed since the last success (logged once).
	stale      bool
	lastMissAt time.Time // last refetch caused by a kid miss
	inflight   *inflight
	life       context.Context // cancelled by Stop; parent of every fetch
	stopLife   context.CancelFunc
	fetches    sync.WaitGroup
	started    bool
	done       chan struct{}
	stopOnce   sync.Once
}

type inflight struct {
	done chan struct{}
	err  error
}

// NewKeySet returns an idle key set for one authorization server; call Start
// to load keys in the background.
func NewKeySet(as AuthorizationServer, o KeySetOptions) *KeySet {
	k := &KeySet{
		issuer:     as.Issuer,
		jwksURI:    as.JWKSURI,
		refresh:    time.Duration(as.JWKSRefreshInterval),
		minRefetch: time.Duration(as.JWKSMinRefetchInterval),
		client:     o.Client,
		log:        o.Logger,
		metrics:    o.Metrics,
		now:        o.Now,
		done:       make(chan struct{}),
	}
	k.life, k.stopLife = context.WithCancel(context.Background())
	if k.refresh <= 0 {
		k.refresh = DefaultJWKSRefreshInterval
	}
	if k.minRefetch < 0 {
		k.minRefetch = 0
	}
	if k.client == nil {
		k.client = &http.Client{Timeout: fetchTimeout}
	}
	if k.log == nil {
		k.log = zap.NewNop()
	}
	if k.now == nil {
		k.now = time.Now
	}
	k.metrics.track(k)
	return k
}

// SetMetrics points the key set's fetch counters at m (a reloaded Caddy
// config brings a new registry while the pooled key set lives on).
func (k *KeySet) SetMetrics(m *Metrics) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.metrics != m && k.life.Err() == nil {
		k.metrics.untrack(k)
		m.track(k)
	}
	k.metrics = m
}

func (k *KeySet) m() *Metrics {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.metrics
}

// Start loads the keys in the background and refreshes them every refresh
// interval; after a failure it retries with exponential backoff (1s up to
// 5m) while the last good keys keep serving. Start never blocks and never
// fails: an unreachable authorization server only keeps the key set not
// ready (Validator.Ready false).
func (k *KeySet) Start() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.started || k.life.Err() != nil {
		return
	}
	k.started = true
	go k.loop(k.life)
}

// Stop ends the background refresh, cancels any fetch in flight and waits
// for both; no goroutine of the key set outlives it.
func (k *KeySet) Stop() {
	k.stopOnce.Do(func() {
		k.mu.Lock()
		started := k.started
		k.stopLife()
		k.metrics.untrack(k) // its key gauges go with it
		k.mu.Unlock()
		if started {
			<-k.done
		}
		k.fetches.Wait()
	})
}

func (k *KeySet) loop(ctx context.Context) {
	defer close(k.done)
	backoff := initialBackoff
	for {
		err := k.fetch(ctx)
		if ctx.Err() != nil {
			return
		}
		wait := k.refresh
		if err != nil {
			wait = backoff
			backoff = min(backoff*2, maxBackoff)
			if wait > k.refresh {
				wait = k.refresh
			}
		} else {
			backoff = initialBackoff
		}
		// ±10% jitter so replicas do not fetch in lockstep.
		wait += time.Duration((rand.Float64()*0.2 - 0.1) * float64(wait))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// fetch runs one coalesced discovery+JWKS fetch and waits for it (or ctx).
func (k *KeySet) fetch(ctx context.Context) error {
	k.mu.Lock()
	f := k.inflight
	if f == nil {
		if k.life.Err() != nil {
			k.mu.Unlock()
			return errors.New("key set stopped")
		}
		f = &inflight{done: make(chan struct{})}
		k.inflight = f
		k.fetches.Add(1)
		go k.doFetch(f)
	}
	k.mu.Unlock()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-f.done:
		return f.err
	}
}

func (k *KeySet) doFetch(f *inflight) {
	defer k.fetches.Done()
	ctx, cancel := context.WithTimeout(k.life, fetchTimeout)
	defer cancel()
	keys, md, err := k.load(ctx)
	k.mu.Lock()
	first, recovered, stale := false, false, false
	if err == nil {
		first, recovered = k.loadedAt.IsZero(), k.stale
		k.stale = false
		if k.loadedAt.IsZero() {
			// The first load is not a refetch: it does not use up the
			// unknown-kid allowance.
			k.lastMissAt = time.Time{}
		}
		k.keys = keys
		k.resolved = md
		k.loadedAt = k.now()
		k.lastErr = nil
	} else {
		k.lastErr = err
		// Keys that were loaded and now fail to refresh are stale (still
		// served); said once, until a fetch succeeds again.
		stale = !k.loadedAt.IsZero() && !k.stale && k.life.Err() == nil
		k.stale = k.stale || stale
	}
	k.inflight = nil
	had := len(k.keys)
	loadedAt := k.loadedAt
	k.mu.Unlock()
	f.err = err
	close(f.done)
	if err != nil {
		k.m().jwksFetch(k.issuer, "error")
		if stale {
			k.log.Info("issuer keys stale: refreshing them failed; the last good keys keep serving",
				zap.String("issuer", k.issuer), zap.Int("keys", had), zap.Time("loaded_at", loadedAt))
		}
		k.log.Warn("jwks fetch failed; serving last good keys", zap.String("issuer", k.issuer), zap.Int("keys_kept", had), zap.Error(err))
		return
	}
	k.m().jwksFetch(k.issuer, "ok")
	switch {
	case first:
		k.log.Info("issuer keys ready", zap.String("issuer", k.issuer), zap.Int("keys", len(keys)), zap.String("jwks_uri", md.JWKSURI))
	case recovered:
		k.log.Info("issuer keys ready again: refreshed after failures", zap.String("issuer", k.issuer), zap.Int("keys", len(keys)), zap.String("jwks_uri", md.JWKSURI))
	default:
		k.log.Debug("jwks loaded", zap.String("issuer", k.issuer), zap.Int("keys", len(keys)))
	}
}

func (k *KeySet) load(ctx context.Context) ([]jose.JSONWebKey, *serverMetadata, error) {
	k.mu.RLock()
	md := k.resolved
	k.mu.RUnlock()
	if md == nil {
		if k.jwksURI != "" {
			md = &serverMetadata{Issuer: k.issuer, JWKSURI: k.jwksURI}
		} else {
			var err error
			if md, err = discover(ctx, k.client, k.issuer); err != nil {
				return nil, nil, err
			}
		}
	}
	body, err := getDoc(ctx, k.client, md.JWKSURI)
	if err != nil {
		return nil, nil, err
	}
	keys, err := parseJWKS(body)
	if err != nil {
		return nil, nil, fmt.Errorf("jwks %s: %w", md.JWKSURI, err)
	}
	return keys, md, nil
}

// parseJWKS decodes a JWK Set, keeping only public signature keys go-jose
// understands (like go-oidc, unknown key types are skipped rather than
// failing the whole set). Symmetric keys, keys for encryption and RSA keys
// under 2048 bits are dropped. An empty result is an error so the last good
// keys stay in place.
func parseJWKS(body []byte) ([]jose.JSONWebKey, error) {
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	var out []jose.JSONWebKey
	for _, r := range raw.Keys {
		var jwk jose.JSONWebKey
		if err := json.Unmarshal(r, &jwk); err != nil {
			continue
		}
		if jwk.Use != "" && jwk.Use != "sig" {
			continue
		}
		pub := jwk.Public()
		if !pub.Valid() {
			continue // symmetric or unusable
		}
		if rk, ok := pub.Key.(*rsa.PublicKey); ok && rk.N.BitLen() < minRSABits {
			continue
		}
		out = append(out, pub)
	}
	if len(out) == 0 {
		return nil, errors.New("no usable signing keys")
	}
	return out, nil
}

// lookup returns the keys that may verify a token with this kid and alg. On
// a miss it refetches, at most once per minimum refetch interval; misses
// that arrive while a fetch is in flight wait for it instead of starting
// another. An empty kid matches every key of the issuer that fits alg.
func (k *KeySet) lookup(ctx context.Context, kid, alg string) ([]crypto.PublicKey, error) {
	if keys := k.match(kid, alg); len(keys) > 0 {
		return keys, nil
	}
	k.mu.Lock()
	f := k.inflight
	allowed := f != nil || k.lastMissAt.IsZero() || k.now().Sub(k.lastMissAt) >= k.minRefetch
	if f == nil && allowed {
		k.lastMissAt = k.now()
	}
	loaded := !k.loadedAt.IsZero()
	k.mu.Unlock()
	if !allowed {
		k.m().jwksFetch(k.issuer, "rate_limited")
		if !loaded {
			return nil, errKeysUnavailable
		}
		return nil, errNoKey
	}
	err := k.fetch(ctx)
	if keys := k.match(kid, alg); len(keys) > 0 {
		return keys, nil
	}
	if err != nil && !k.ready() {
		return nil, errKeysUnavailable.withCause(err)
	}
	return nil, errNoKey
}

func (k *KeySet) match(kid, alg string) []crypto.PublicKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	var out []crypto.PublicKey
	for i := range k.keys {
		jk := &k.keys[i]
		if kid != "" && jk.KeyID != kid {
			continue
		}
		if jk.Algorithm != "" && jk.Algorithm != alg {
			continue
		}
		if keyFitsAlg(jk.Key, alg) {
			out = append(out, jk.Key)
		}
	}
	return out
}

// keyFitsAlg reports whether a public key can verify alg (one algorithm
// family per key type, RFC 8725 §3.1).
func keyFitsAlg(key any, alg string) bool {
	switch alg {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		_, ok := key.(*rsa.PublicKey)
		return ok
	case "ES256", "ES384", "ES512":
		ec, ok := key.(*ecdsa.PublicKey)
		if !ok {
			return false
		}
		want := map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()}[alg]
		return ec.Curve == want
	case "EdDSA":
		_, ok := key.(ed25519.PublicKey)
		return ok
	}
	return false
}

// ready reports whether keys have been loaded at least once.
func (k *KeySet) ready() bool {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return !k.loadedAt.IsZero()
}

// KeySetStatus describes a key set for /readyz and token-info.
type KeySetStatus struct {
	Issuer    string    `json:"issuer"`
	Ready     bool      `json:"ready"`
	Keys      int       `json:"keys"`
	JWKSURI   string    `json:"jwks_uri,omitempty"`
	LoadedAt  time.Time `json:"loaded_at,omitzero"`
	LastError string    `json:"last_error,omitempty"`
}

// status reports the key set's state. LastError is operator-facing text.
func (k *KeySet) status() KeySetStatus {
	k.mu.RLock()
	defer k.mu.RUnlock()
	s := KeySetStatus{Issuer: k.issuer, Ready: !k.loadedAt.IsZero(), Keys: len(k.keys), LoadedAt: k.loadedAt}
	if k.resolved != nil {
		s.JWKSURI = k.resolved.JWKSURI
	} else {
		s.JWKSURI = k.jwksURI
	}
	if k.lastErr != nil {
		s.LastError = k.lastErr.Error()
	}
	return s
}
