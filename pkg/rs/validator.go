package rs

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	lru "github.com/hashicorp/golang-lru/v2"
	"go.uber.org/zap"
)

// maxTokenBytes bounds the size of a token the validator will parse.
const maxTokenBytes = 16 << 10

// Options are the collaborators of a Validator.
type Options struct {
	// Client fetches discovery and JWKS documents.
	Client *http.Client
	// Logger receives validation failures and key-fetch problems. Tokens
	// are never logged.
	Logger *zap.Logger
	// Metrics counts validations and fetches (may be nil).
	Metrics *Metrics
	// Now is the clock (default time.Now).
	Now func() time.Time
	// KeySetFor, when set, supplies (possibly shared) key sets, e.g. from a
	// Caddy usage pool; their lifecycle is then the caller's. When nil the
	// Validator creates its own, started by Start and stopped by Close.
	KeySetFor func(AuthorizationServer) (*KeySet, error)
	// Cache, when set, is a shared validation cache; otherwise one of
	// Config.ValidationCacheSize entries is created (none if negative).
	Cache *Cache
	// Getenv and ReadFile resolve introspection client secrets (os
	// functions when nil).
	Getenv   func(string) string
	ReadFile func(string) ([]byte, error)
}

// Validator validates bearer tokens of several authorization servers. The
// key set is chosen by the token's iss before any signature check, so a key
// of one issuer never verifies a token that claims another.
type Validator struct {
	cfg     Config
	issuers map[string]*issuer
	order   []*issuer
	owned   bool
	cache   *Cache
	fp      uint64 // config fingerprint: cache entries of another config never match
	parser  *jwt.Parser
	// introspectors, in config order, for servers with introspection.
	introspectors []*introspector
	log           *zap.Logger
	metrics       *Metrics
	now           func() time.Time
}

type issuer struct {
	cfg       AuthorizationServer
	keys      *KeySet
	algs      map[string]bool
	audiences map[string]bool // normalized
	claims    *jwt.Validator
}

// Cache is a bounded cache of validated tokens keyed by the SHA-256 of the
// token; an entry never outlives the token's exp. Safe for concurrent use
// and shareable between validators (entries are tagged with the config
// they were validated under).
type Cache struct {
	lru *lru.Cache[[32]byte, cacheEntry]
}

type cacheEntry struct {
	id  *Identity
	exp time.Time
	fp  uint64
}

// NewCache returns a cache of at most size entries.
func NewCache(size int) (*Cache, error) {
	c, err := lru.New[[32]byte, cacheEntry](size)
	if err != nil {
		return nil, fmt.Errorf("validation cache: %w", err)
	}
	return &Cache{lru: c}, nil
}

// NewValidator builds a validator for a config that Normalize accepted.
func NewValidator(cfg Config, o Options) (*Validator, error) {
	v := &Validator{
		cfg:     cfg,
		issuers: map[string]*issuer{},
		log:     o.Logger,
		metrics: o.Metrics,
		now:     o.Now,
		cache:   o.Cache,
		parser:  jwt.NewParser(jwt.WithJSONNumber()),
	}
	if v.log == nil {
		v.log = zap.NewNop()
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.cache == nil && cfg.ValidationCacheSize > 0 {
		c, err := NewCache(cfg.ValidationCacheSize)
		if err != nil {
			return nil, err
		}
		v.cache = c
	}
	fpJSON, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("fingerprint config: %w", err)
	}
	sum := sha256.Sum256(fpJSON)
	v.fp = binary.BigEndian.Uint64(sum[:8])
	v.owned = o.KeySetFor == nil
	for _, as := range cfg.AuthorizationServers {
		var ks *KeySet
		if o.KeySetFor != nil {
			if ks, err = o.KeySetFor(as); err != nil {
				return nil, fmt.Errorf("key set for %s: %w", as.Issuer, err)
			}
		} else {
			ks = NewKeySet(as, KeySetOptions{Client: o.Client, Logger: v.log, Metrics: o.Metrics, Now: o.Now})
		}
		leeway := DefaultLeeway
		if as.Leeway != nil {
			leeway = time.Duration(*as.Leeway)
		}
		is := &issuer{
			cfg:       as,
			keys:      ks,
			algs:      map[string]bool{},
			audiences: map[string]bool{},
			claims: jwt.NewValidator(jwt.WithLeeway(leeway), jwt.WithExpirationRequired(),
				jwt.WithIssuedAt(), jwt.WithIssuer(as.Issuer), jwt.WithTimeFunc(v.now)),
		}
		for _, a := range as.Algorithms {
			is.algs[a] = true
		}
		for _, a := range as.Audiences {
			is.audiences[normalizeAudience(a)] = true
		}
		v.issuers[as.Issuer] = is
		v.order = append(v.order, is)
		if as.Introspection != nil {
			in, err := newIntrospector(is, o.Client, o.Getenv, o.ReadFile)
			if err != nil {
				return nil, fmt.Errorf("authorization server %s: %w", as.Issuer, err)
			}
			v.introspectors = append(v.introspectors, in)
		}
	}
	return v, nil
}

// Start starts the key sets the validator owns (see Options.KeySetFor).
func (v *Validator) Start() {
	if v.owned {
		for _, is := range v.order {
			is.keys.Start()
		}
	}
}

// Close stops the key sets the validator owns.
func (v *Validator) Close() {
	if v.owned {
		for _, is := range v.order {
			is.keys.Stop()
		}
	}
}

// Ready reports whether every issuer's keys have been loaded.
func (v *Validator) Ready() bool {
	for _, is := range v.order {
		if !is.keys.ready() {
			return false
		}
	}
	return true
}

// Status reports each issuer's key set.
func (v *Validator) Status() []KeySetStatus {
	out := make([]KeySetStatus, 0, len(v.order))
	for _, is := range v.order {
		out = append(out, is.keys.status())
	}
	return out
}

// Validate checks a raw bearer token and returns the caller's identity. The
// error is always an *Error carrying a fixed client-safe description; the
// internal cause is only in its Unwrap chain. The returned Identity may be
// shared with other callers through the cache: do not modify it.
func (v *Validator) Validate(ctx context.Context, token string) (*Identity, error) {
	id, _, err := v.ValidateInfo(ctx, token)
	return id, err
}

// ValidationInfo says how Validate reached its answer, for traces.
type ValidationInfo struct {
	// CacheHit: the identity came from the validation cache.
	CacheHit bool
	// Issuer is the trusted issuer the token claimed ("" when it claimed
	// none that is configured).
	Issuer string
}

// ValidateInfo is Validate, also saying whether the cache answered and
// which issuer the token claimed.
func (v *Validator) ValidateInfo(ctx context.Context, token string) (*Identity, ValidationInfo, error) {
	now := v.now()
	var key [32]byte
	if v.cache != nil {
		key = sha256.Sum256([]byte(token))
		if e, ok := v.cache.lru.Get(key); ok && e.fp == v.fp {
			if now.Before(e.exp) {
				v.metrics.validation("cache_hit", e.id.Issuer)
				return e.id, ValidationInfo{CacheHit: true, Issuer: e.id.Issuer}, nil
			}
			v.cache.lru.Remove(key)
		}
	}
	id, iss, err := v.validate(ctx, token, nil)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			e = errSignature.withCause(err)
		}
		v.metrics.validation(e.Reason, iss)
		if ce := v.log.Check(zap.InfoLevel, "token rejected"); ce != nil {
			ce.Write(zap.String("reason", e.Reason), zap.String("issuer", iss), zap.NamedError("cause", e.cause))
		}
		return nil, ValidationInfo{Issuer: iss}, e
	}
	until := id.Expiry
	if !id.cacheUntil.IsZero() {
		until = id.cacheUntil
	}
	if v.cache != nil && now.Before(until) {
		v.cache.lru.Add(key, cacheEntry{id: id, exp: until, fp: v.fp})
	}
	v.metrics.validation("valid", id.Issuer)
	return id, ValidationInfo{Issuer: id.Issuer}, nil
}

// tracer records each check for Explain; nil in the hot path.
type tracer func(check string, ok bool, detail string)

func (tr tracer) pass(check, detail string) {
	if tr != nil {
		tr(check, true, detail)
	}
}

func (tr tracer) fail(check string, e *Error) *Error {
	if tr != nil {
		d := e.Description
		if e.cause != nil {
			d += " (" + e.cause.Error() + ")"
		}
		tr(check, false, d)
	}
	return e
}

// idTokenClaims mark an OpenID Connect ID token, never an access token.
var idTokenClaims = []string{"nonce", "at_hash", "c_hash"}

// validate does the uncached work. iss is the trusted issuer the token
// claimed ("" when untrusted, so labels stay bounded).
func (v *Validator) validate(ctx context.Context, token string, tr tracer) (*Identity, string, error) {
	if len(token) > maxTokenBytes {
		return nil, "", tr.fail("format", errMalformedToken.withCause(errors.New("token too large")))
	}
	claims := jwt.MapClaims{}
	tok, parts, err := v.parser.ParseUnverified(token, claims)
	if err != nil {
		if errors.Is(err, jwt.ErrTokenUnverifiable) {
			return nil, "", tr.fail("algorithm", errAlgorithm.withCause(err))
		}
		if len(v.introspectors) > 0 && !looksLikeJWT(token) {
			tr.pass("format", "not a JWT: introspection (RFC 7662)")
			return v.introspect(ctx, token, tr)
		}
		return nil, "", tr.fail("format", errMalformedToken.withCause(err))
	}
	tr.pass("format", "JWT")
	issClaim, _ := claims["iss"].(string)
	is := v.issuers[issClaim]
	if is == nil {
		return nil, "", tr.fail("issuer", errUntrustedIssuer.withCause(fmt.Errorf("iss %q is not configured", issClaim)))
	}
	iss := is.cfg.Issuer
	tr.pass("issuer", iss)
	if is.cfg.Tenant != "" {
		if tid, _ := claims["tid"].(string); tid != is.cfg.Tenant {
			return nil, iss, tr.fail("tenant", errUntrustedIssuer.withCause(fmt.Errorf("tid %q does not match the issuer's tenant %q", tid, is.cfg.Tenant)))
		}
		tr.pass("tenant", is.cfg.Tenant)
	}
	alg := tok.Method.Alg()
	if !is.algs[alg] {
		return nil, iss, tr.fail("algorithm", errAlgorithm.withCause(fmt.Errorf("alg %q not in allow-list", alg)))
	}
	tr.pass("algorithm", alg)
	if _, ok := tok.Header["crit"]; ok {
		return nil, iss, tr.fail("header", errMalformedToken.withCause(errors.New("crit header parameters are not supported")))
	}
	typ, _ := tok.Header["typ"].(string)
	if is.cfg.RequireATJWTType {
		if t := strings.ToLower(typ); t != "at+jwt" && t != "application/at+jwt" {
			return nil, iss, tr.fail("type", errTokenType.withCause(fmt.Errorf("typ %q", typ)))
		}
	}
	for _, c := range idTokenClaims {
		if _, ok := claims[c]; ok {
			return nil, iss, tr.fail("type", errNotAccessToken.withCause(fmt.Errorf("claim %q marks an ID token", c)))
		}
	}
	if t, _ := claims["typ"].(string); strings.EqualFold(t, "ID") {
		return nil, iss, tr.fail("type", errNotAccessToken.withCause(errors.New(`claim typ "ID" marks an ID token`)))
	}
	tr.pass("type", "access token (header typ "+strconv.Quote(typ)+")")
	var kid string
	if raw, ok := tok.Header["kid"]; ok {
		if kid, ok = raw.(string); !ok {
			return nil, iss, tr.fail("key", errMalformedToken.withCause(errors.New("kid is not a string")))
		}
	}
	// jku, x5u and an embedded jwk are never read: keys come only from the
	// issuer's own key set.
	keys, err := is.keys.lookup(ctx, kid, alg)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, iss, tr.fail("key", e)
		}
		return nil, iss, tr.fail("key", errSignature.withCause(fmt.Errorf("no key of this issuer with kid %q fits %s: %w", kid, alg, err)))
	}
	tr.pass("key", fmt.Sprintf("kid %q: %d candidate key(s)", kid, len(keys)))
	signed := parts[0] + "." + parts[1]
	verified := false
	for _, k := range keys {
		if tok.Method.Verify(signed, tok.Signature, k) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return nil, iss, tr.fail("signature", errSignature)
	}
	tr.pass("signature", "verified")
	return v.checkClaims(is, claims, "", tr)
}

// checkClaims applies the claim rules shared by JWTs and introspection
// answers: exp (required), nbf, iat with leeway, aud, sub.
// subFallback is used when sub is absent (introspection of a
// client-credentials token: the client is the subject).
func (v *Validator) checkClaims(is *issuer, claims jwt.MapClaims, subFallback string, tr tracer) (*Identity, string, error) {
	iss := is.cfg.Issuer
	if err := is.claims.Validate(claims); err != nil {
		return nil, iss, tr.fail("time", claimsError(err))
	}
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil {
		return nil, iss, tr.fail("time", errMissingExp)
	}
	tr.pass("time", "exp "+exp.UTC().Format(time.RFC3339))
	if !is.audienceMatches(claims["aud"]) {
		return nil, iss, tr.fail("audience", errAudience.withCause(fmt.Errorf("aud %v", claims["aud"])))
	}
	tr.pass("audience", fmt.Sprint(claims["aud"]))
	sub, _ := claims["sub"].(string)
	if _, present := claims["sub"]; !present && subFallback != "" {
		sub = subFallback
	}
	if strings.TrimSpace(sub) == "" {
		return nil, iss, tr.fail("subject", errMissingSubject)
	}
	tr.pass("subject", sub)
	id := &Identity{
		Issuer:  iss,
		Subject: sub,
		Scopes:  scopesOf(claims),
		Claims:  claims,
		Expiry:  exp.Time,
	}
	if cid, ok := claims["client_id"].(string); ok && cid != "" {
		id.ClientID = cid
	} else if azp, ok := claims["azp"].(string); ok {
		id.ClientID = azp
	}
	return id, iss, nil
}

// looksLikeJWT reports whether a token has the JWS compact shape; such a
// token is never sent to an introspection endpoint.
func looksLikeJWT(tok string) bool {
	return strings.Count(tok, ".") == 2 && strings.HasPrefix(tok, "eyJ")
}

func claimsError(err error) *Error {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return errExpired.withCause(err)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return errMissingExp.withCause(err)
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return errNotYetValid.withCause(err)
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return errIssuedInFuture.withCause(err)
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return errUntrustedIssuer.withCause(err)
	}
	return errMalformedToken.withCause(err)
}

func (is *issuer) audienceMatches(aud any) bool {
	switch a := aud.(type) {
	case string:
		return is.audiences[normalizeAudience(a)]
	case []any:
		for _, x := range a {
			if s, ok := x.(string); ok && is.audiences[normalizeAudience(s)] {
				return true
			}
		}
	}
	return false
}

// normalizeAudience puts an audience value in the form used for
// comparison: for http(s) URLs the scheme and host are lower-cased, a
// default port is dropped and a trailing slash is removed (the MCP
// canonical URI rules); any other value is compared exactly.
func normalizeAudience(a string) string {
	u, err := url.Parse(a)
	if err != nil || u.Host == "" || u.Opaque != "" || u.User != nil {
		return a
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return a
	}
	host := strings.ToLower(u.Host)
	if (scheme == "https" && strings.HasSuffix(host, ":443")) || (scheme == "http" && strings.HasSuffix(host, ":80")) {
		host = host[:strings.LastIndexByte(host, ':')]
	}
	out := scheme + "://" + host + strings.TrimSuffix(u.EscapedPath(), "/")
	if u.RawQuery != "" || u.ForceQuery {
		out += "?" + u.RawQuery
	}
	return out
}

// scopesOf reads granted scopes: scope (space-separated string) wins over
// scp (string or array). Invalid tokens are dropped, duplicates removed.
func scopesOf(c jwt.MapClaims) []string {
	var raw []string
	if s, ok := c["scope"].(string); ok {
		raw = strings.Fields(s)
	} else {
		switch scp := c["scp"].(type) {
		case string:
			raw = strings.Fields(scp)
		case []any:
			for _, x := range scp {
				if s, ok := x.(string); ok {
					raw = append(raw, s)
				}
			}
		}
	}
	out := make([]string, 0, len(raw))
	seen := map[string]bool{}
	for _, s := range raw {
		if IsScopeToken(s) && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// Step is one check of Explain.
type Step struct {
	Check  string `json:"check"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// Explanation is what the front door would decide for a token, for
// operators (mcp-sidecar token-info). It never contains the token.
type Explanation struct {
	// Header and Claims are the token's decoded, UNVERIFIED contents (nil
	// for opaque tokens).
	Header map[string]any `json:"header,omitempty"`
	Claims map[string]any `json:"claims,omitempty"`
	// Steps are the checks in the order they ran; the first failure ends them.
	Steps []Step `json:"steps"`
	// Identity is set when the token is accepted.
	Identity *Identity `json:"-"`
	// Error is set when it is refused.
	Error *Error `json:"-"`
}

// Explain validates like Validate, without the cache and without metrics,
// and records every check.
func (v *Validator) Explain(ctx context.Context, token string) *Explanation {
	ex := &Explanation{}
	if len(token) <= maxTokenBytes {
		claims := jwt.MapClaims{}
		// Whatever decodes is shown, even when the token is refused later.
		if tok, _, _ := v.parser.ParseUnverified(token, claims); tok != nil && tok.Header != nil {
			ex.Header = tok.Header
			if len(claims) > 0 {
				ex.Claims = claims
			}
		}
	}
	id, _, err := v.validate(ctx, token, func(check string, ok bool, detail string) {
		ex.Steps = append(ex.Steps, Step{Check: check, OK: ok, Detail: detail})
	})
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			e = errSignature.withCause(err)
		}
		ex.Error = e
		return ex
	}
	ex.Identity = id
	return ex
}
