package rs

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Defaults applied by Config.Normalize.
const (
	DefaultLeeway              = 30 * time.Second
	DefaultJWKSRefreshInterval = 15 * time.Minute
	DefaultJWKSMinRefetch      = 30 * time.Second
	DefaultValidationCacheSize = 10000
	// DefaultIntrospectionCacheTTL bounds reuse of an introspection answer.
	DefaultIntrospectionCacheTTL = 60 * time.Second
)

// DefaultAlgorithms is the algorithm allow-list used when an authorization
// server lists none: every asymmetric JWS algorithm, never none or HS*.
var DefaultAlgorithms = []string{
	"RS256", "RS384", "RS512",
	"PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512",
	"EdDSA",
}

// Config is everything a user configures about the resource server. The
// sidecar fills it from YAML and the Caddy module from the Caddyfile; field
// names in errors are the YAML keys.
type Config struct {
	// Resource is the canonical URL of the protected MCP endpoint (RFC 8707,
	// RFC 9728 resource). https, or http on a loopback host.
	Resource string `yaml:"resource" json:"resource"`
	// ResourceName is the human-readable name published in the metadata.
	ResourceName string `yaml:"resource_name" json:"resource_name,omitempty"`
	// ScopesSupported is published as scopes_supported in the metadata.
	ScopesSupported []string `yaml:"scopes_supported" json:"scopes_supported,omitempty"`
	// ChallengeScopes is sent as scope="..." in 401 challenges.
	ChallengeScopes []string `yaml:"challenge_scopes" json:"challenge_scopes,omitempty"`
	// AuthorizationServers are the trusted token issuers (at least one).
	AuthorizationServers []AuthorizationServer `yaml:"authorization_servers" json:"authorization_servers"`
	// ValidationCacheSize bounds the validated-token cache (entries).
	// 0 means DefaultValidationCacheSize; a negative value disables it.
	ValidationCacheSize int `yaml:"validation_cache_size" json:"validation_cache_size,omitempty"`
}

// AuthorizationServer is one trusted issuer.
type AuthorizationServer struct {
	// Issuer is the exact iss value of its tokens.
	Issuer string `yaml:"issuer" json:"issuer"`
	// JWKSURI is the key set URL. Empty means discovery: RFC 8414
	// /.well-known/oauth-authorization-server, then OIDC
	// /.well-known/openid-configuration; the document's issuer must equal
	// Issuer.
	JWKSURI string `yaml:"jwks_uri" json:"jwks_uri,omitempty"`
	// AdvertiseURL is what the metadata lists in authorization_servers
	// (default: Issuer).
	AdvertiseURL string `yaml:"advertise_url" json:"advertise_url,omitempty"`
	// Audiences the token's aud must contain one of (default: the
	// resource's canonical URL).
	Audiences []string `yaml:"audiences" json:"audiences,omitempty"`
	// Algorithms is the JWS alg allow-list (default DefaultAlgorithms).
	Algorithms []string `yaml:"algorithms" json:"algorithms,omitempty"`
	// RequireATJWTType demands the RFC 9068 header typ at+jwt.
	RequireATJWTType bool `yaml:"require_at_jwt_typ" json:"require_at_jwt_typ,omitempty"`
	// Leeway is the clock skew allowed on exp, nbf and iat (default 30s).
	Leeway *Duration `yaml:"leeway" json:"leeway,omitempty"`
	// JWKSRefreshInterval is how often keys are refreshed (default 15m).
	JWKSRefreshInterval Duration `yaml:"jwks_refresh_interval" json:"jwks_refresh_interval,omitempty"`
	// JWKSMinRefetchInterval bounds refetches caused by an unknown kid
	// (default 30s).
	JWKSMinRefetchInterval Duration `yaml:"jwks_min_refetch_interval" json:"jwks_min_refetch_interval,omitempty"`
	// Tenants is the allow-list for an issuer template containing {tid}
	// (e.g. https://login.microsoftonline.com/{tid}/v2.0): Normalize
	// expands the entry into one issuer per tenant, each with its own key
	// set, and a token must carry a tid claim equal to its issuer's tenant.
	Tenants []string `yaml:"tenants" json:"tenants,omitempty"`
	// Introspection enables RFC 7662 introspection of opaque tokens.
	Introspection *Introspection `yaml:"introspection" json:"introspection,omitempty"`

	// Tenant is set by Normalize on entries expanded from a template.
	Tenant string `yaml:"-" json:"-"`
	// AlsoAdvertise lists further authorization_servers URLs for this
	// issuer (Arcade configurations may name several for one issuer).
	AlsoAdvertise []string `yaml:"-" json:"-"`
}

// Introspection configures RFC 7662 token introspection for opaque
// (non-JWT) tokens at one authorization server.
type Introspection struct {
	// Endpoint is the introspection URL (default: introspection_endpoint
	// from the server's metadata).
	Endpoint string `yaml:"endpoint" json:"endpoint,omitempty"`
	// ClientID and ClientSecret authenticate the resource server
	// (client_secret_basic).
	ClientID     string       `yaml:"client_id" json:"client_id"`
	ClientSecret SecretSource `yaml:"client_secret" json:"client_secret"`
	// CacheTTL bounds how long an answer is reused (default 60s; never
	// past the token's exp).
	CacheTTL Duration `yaml:"cache_ttl" json:"cache_ttl,omitempty"`
}

// SecretSource is a secret read from an environment variable or a file
// (exactly one), or given as a literal Value by a front door that resolves
// placeholders itself (Caddy's {env.*}). Values are never logged.
type SecretSource struct {
	Env   string `yaml:"env" json:"env,omitempty"`
	File  string `yaml:"file" json:"file,omitempty"`
	Value string `yaml:"-" json:"value,omitempty"`
}

// Resolve reads the secret (a file's trailing newline dropped); errors are
// *FieldError naming field. getenv/readFile default to the os functions.
func (s SecretSource) Resolve(field string, getenv func(string) string, readFile func(string) ([]byte, error)) (string, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if readFile == nil {
		readFile = os.ReadFile
	}
	n := 0
	for _, v := range []string{s.Env, s.File, s.Value} {
		if v != "" {
			n++
		}
	}
	switch {
	case n != 1:
		return "", &FieldError{Field: field, Msg: "set exactly one of env or file"}
	case s.Env != "":
		v := getenv(s.Env)
		if v == "" {
			return "", &FieldError{Field: field + ".env", Msg: fmt.Sprintf("environment variable %s is empty or unset", s.Env)}
		}
		return v, nil
	case s.File != "":
		b, err := readFile(s.File)
		if err != nil {
			cause := errors.Unwrap(err)
			if cause == nil {
				cause = err
			}
			return "", &FieldError{Field: field + ".file", Msg: fmt.Sprintf("cannot read %s: %v", s.File, cause)}
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return s.Value, nil
}

// Duration is a time.Duration that reads "30s"-style strings (or integer
// nanoseconds in JSON) from configuration.
type Duration time.Duration

// UnmarshalText parses a Go duration string such as "30s" or "5m".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("invalid duration %q (use e.g. 30s, 5m)", string(b))
	}
	*d = Duration(v)
	return nil
}

// UnmarshalJSON accepts a duration string or integer nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		return d.UnmarshalText([]byte(s))
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("invalid duration %s", string(b))
	}
	*d = Duration(n)
	return nil
}

// MarshalText writes the duration as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// ErrRequired is the cause of a *FieldError for a required option that
// is missing (errors.Is(err, ErrRequired)).
var ErrRequired = errors.New("is required")

// FieldError is a configuration error that names the offending field by its
// configuration key path, e.g. authorization_servers[1].algorithms[0].
type FieldError struct {
	Field string
	Msg   string
	// Err is the class of the error when callers may branch on it
	// (ErrRequired), else nil.
	Err error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Unwrap returns the error's class.
func (e *FieldError) Unwrap() error { return e.Err }

func requiredErr(field, msg string) error {
	return &FieldError{Field: field, Msg: msg, Err: ErrRequired}
}

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Normalized validates c and returns a copy with the defaults filled in
// and {tid} templates expanded; c itself is never written to. Every error
// is a *FieldError (joined with errors.Join when there are several).
func (c Config) Normalized() (Config, error) {
	n := c.clone()
	err := n.normalize()
	return n, err
}

// clone returns a deep copy of c: no slice, map or pointer is shared.
func (c Config) clone() Config {
	c.ScopesSupported = slices.Clone(c.ScopesSupported)
	c.ChallengeScopes = slices.Clone(c.ChallengeScopes)
	c.AuthorizationServers = slices.Clone(c.AuthorizationServers)
	for i := range c.AuthorizationServers {
		as := &c.AuthorizationServers[i]
		as.Audiences = slices.Clone(as.Audiences)
		as.Algorithms = slices.Clone(as.Algorithms)
		as.Tenants = slices.Clone(as.Tenants)
		as.AlsoAdvertise = slices.Clone(as.AlsoAdvertise)
		if as.Leeway != nil {
			l := *as.Leeway
			as.Leeway = &l
		}
		if as.Introspection != nil {
			in := *as.Introspection
			as.Introspection = &in
		}
	}
	return c
}

func (c *Config) normalize() error {
	var errs []error
	if c.Resource == "" {
		errs = append(errs, requiredErr("resource", "is required"))
	} else if err := ValidateCanonicalURL(c.Resource); err != nil {
		errs = append(errs, fieldErr("resource", "%v", err))
	}
	if !isFieldValue(c.ResourceName) {
		errs = append(errs, fieldErr("resource_name", "must be printable ASCII"))
	}
	var err error
	if c.ScopesSupported, err = normalizeScopes("scopes_supported", c.ScopesSupported); err != nil {
		errs = append(errs, err)
	}
	if c.ChallengeScopes, err = normalizeScopes("challenge_scopes", c.ChallengeScopes); err != nil {
		errs = append(errs, err)
	}
	if c.ValidationCacheSize == 0 {
		c.ValidationCacheSize = DefaultValidationCacheSize
	}
	if len(c.AuthorizationServers) == 0 {
		errs = append(errs, requiredErr("authorization_servers", "at least one authorization server is required"))
	}
	c.AuthorizationServers, errs = expandTenants(c.AuthorizationServers, errs)
	seen := map[string]int{}
	for i := range c.AuthorizationServers {
		as := &c.AuthorizationServers[i]
		p := fmt.Sprintf("authorization_servers[%d]", i)
		if err := as.normalize(p, c.Resource); err != nil {
			errs = append(errs, err)
		}
		if j, dup := seen[as.Issuer]; dup && as.Issuer != "" {
			errs = append(errs, fieldErr(p+".issuer", "duplicates authorization_servers[%d].issuer (one entry per issuer)", j))
		}
		seen[as.Issuer] = i
	}
	return errors.Join(errs...)
}

// expandTenants replaces every {tid} issuer template by one entry per
// allowed tenant.
func expandTenants(in []AuthorizationServer, errs []error) ([]AuthorizationServer, []error) {
	var out []AuthorizationServer
	for i, as := range in {
		p := fmt.Sprintf("authorization_servers[%d]", i)
		if !strings.Contains(as.Issuer, "{tid}") {
			if len(as.Tenants) > 0 {
				errs = append(errs, fieldErr(p+".tenants", "needs an issuer template containing {tid}"))
			}
			out = append(out, as)
			continue
		}
		if len(as.Tenants) == 0 {
			errs = append(errs, fieldErr(p+".tenants", "an issuer template with {tid} needs an allow-list of tenants"))
			continue
		}
		for j, tid := range as.Tenants {
			if !isTenantID(tid) {
				errs = append(errs, fieldErr(fmt.Sprintf("%s.tenants[%d]", p, j), "%q is not a tenant id (letters, digits, '.', '-', '_')", tid))
				continue
			}
			e := as
			e.Tenants = nil
			e.Tenant = tid
			e.Issuer = strings.ReplaceAll(as.Issuer, "{tid}", tid)
			e.JWKSURI = strings.ReplaceAll(as.JWKSURI, "{tid}", tid)
			e.AdvertiseURL = strings.ReplaceAll(as.AdvertiseURL, "{tid}", tid)
			e.Audiences = append([]string(nil), as.Audiences...)
			e.Algorithms = append([]string(nil), as.Algorithms...)
			out = append(out, e)
		}
	}
	return out, errs
}

func isTenantID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func (as *AuthorizationServer) normalize(p, resource string) error {
	var errs []error
	if in := as.Introspection; in != nil {
		if in.Endpoint != "" {
			if err := validateServerURL(in.Endpoint); err != nil {
				errs = append(errs, fieldErr(p+".introspection.endpoint", "%v", err))
			}
		}
		if in.ClientID == "" {
			errs = append(errs, fieldErr(p+".introspection.client_id", "is required"))
		}
		if in.CacheTTL == 0 {
			in.CacheTTL = Duration(DefaultIntrospectionCacheTTL)
		} else if in.CacheTTL < 0 {
			errs = append(errs, fieldErr(p+".introspection.cache_ttl", "must not be negative"))
		}
	}
	if err := validateServerURL(as.Issuer); err != nil {
		errs = append(errs, fieldErr(p+".issuer", "%v", err))
	}
	if as.JWKSURI != "" {
		if err := validateServerURL(as.JWKSURI); err != nil {
			errs = append(errs, fieldErr(p+".jwks_uri", "%v", err))
		}
	}
	if as.AdvertiseURL == "" {
		as.AdvertiseURL = as.Issuer
	} else if err := validateServerURL(as.AdvertiseURL); err != nil {
		errs = append(errs, fieldErr(p+".advertise_url", "%v", err))
	}
	for _, u := range as.AlsoAdvertise {
		if err := validateServerURL(u); err != nil {
			errs = append(errs, fieldErr(p+".advertise_url", "%q %v", u, err))
		}
	}
	if len(as.Audiences) == 0 {
		as.Audiences = []string{resource}
	}
	for i, a := range as.Audiences {
		if strings.TrimSpace(a) == "" || a != strings.TrimSpace(a) {
			errs = append(errs, fieldErr(fmt.Sprintf("%s.audiences[%d]", p, i), "must be a non-empty value without surrounding spaces"))
		}
	}
	if len(as.Algorithms) == 0 {
		as.Algorithms = append([]string(nil), DefaultAlgorithms...)
	}
	for i, a := range as.Algorithms {
		canon, err := canonicalAlg(a)
		if err != nil {
			errs = append(errs, fieldErr(fmt.Sprintf("%s.algorithms[%d]", p, i), "%v", err))
			continue
		}
		as.Algorithms[i] = canon
	}
	if as.Leeway == nil {
		d := Duration(DefaultLeeway)
		as.Leeway = &d
	} else if *as.Leeway < 0 || time.Duration(*as.Leeway) > 10*time.Minute {
		errs = append(errs, fieldErr(p+".leeway", "must be between 0s and 10m"))
	}
	if as.JWKSRefreshInterval == 0 {
		as.JWKSRefreshInterval = Duration(DefaultJWKSRefreshInterval)
	} else if time.Duration(as.JWKSRefreshInterval) < time.Second {
		errs = append(errs, fieldErr(p+".jwks_refresh_interval", "must be at least 1s"))
	}
	if as.JWKSMinRefetchInterval == 0 {
		as.JWKSMinRefetchInterval = Duration(DefaultJWKSMinRefetch)
	} else if as.JWKSMinRefetchInterval < 0 {
		errs = append(errs, fieldErr(p+".jwks_min_refetch_interval", "must not be negative"))
	}
	return errors.Join(errs...)
}

// canonicalAlg checks one allow-list entry. "Ed25519" is read as EdDSA.
func canonicalAlg(a string) (string, error) {
	if a == "Ed25519" {
		return "EdDSA", nil
	}
	for _, ok := range DefaultAlgorithms {
		if a == ok {
			return a, nil
		}
	}
	switch {
	case strings.EqualFold(a, "none"):
		return "", fmt.Errorf("%q is never allowed (unsigned tokens)", a)
	case strings.HasPrefix(strings.ToUpper(a), "HS"):
		return "", fmt.Errorf("%q is never allowed (symmetric algorithms are not accepted)", a)
	}
	return "", fmt.Errorf("unsupported algorithm %q (supported: %s)", a, strings.Join(DefaultAlgorithms, ", "))
}

// normalizeScopes validates RFC 6750 scope tokens and drops duplicates,
// keeping first-seen order.
func normalizeScopes(field string, in []string) ([]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make([]string, 0, len(in))
	seen := map[string]bool{}
	var errs []error
	for i, s := range in {
		if !IsScopeToken(s) {
			errs = append(errs, fieldErr(fmt.Sprintf("%s[%d]", field, i), "invalid scope token %q (RFC 6750: printable ASCII, no space, '\"' or '\\')", s))
			continue
		}
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out, errors.Join(errs...)
}

// IsScopeToken reports whether s is an RFC 6750 scope-token:
// 1*( %x21 / %x23-5B / %x5D-7E ).
func IsScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c == 0x22 || c == 0x5C || c > 0x7E {
			return false
		}
	}
	return true
}

// isErrorChar reports whether s uses only RFC 6750 error-description
// characters: %x20-21 / %x23-5B / %x5D-7E.
func isErrorChar(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x22 || c == 0x5C || c > 0x7E {
			return false
		}
	}
	return true
}

func isFieldValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7E {
			return false
		}
	}
	return true
}

// ValidateCanonicalURL checks an MCP resource canonical URL the way Arcade
// does: absolute, https (http only on a loopback host), a host, no fragment,
// no whitespace, valid percent-escapes, RFC 6750-safe characters. A query
// and a port are allowed.
func ValidateCanonicalURL(raw string) error {
	if raw == "" {
		return errors.New("is required")
	}
	if !isErrorChar(raw) || strings.ContainsAny(raw, " \t") {
		return errors.New("contains whitespace, quotes, backslashes or non-ASCII characters")
	}
	if strings.Contains(raw, "#") {
		return errors.New("must not contain a fragment")
	}
	if err := checkPercentEscapes(raw); err != nil {
		return err
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("is not a valid URL")
	}
	if u.User != nil {
		return errors.New("must not contain user information")
	}
	return checkSchemeHost(u)
}

func checkPercentEscapes(s string) error {
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return errors.New("contains an invalid percent-escape")
		}
	}
	return nil
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

func checkSchemeHost(u *url.URL) error {
	if u.Host == "" || u.Hostname() == "" {
		return errors.New("must be an absolute URL with a host")
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return nil
	case "http":
		if IsLoopbackHost(u.Hostname()) {
			return nil
		}
		return errors.New("must use https (http is allowed only for localhost, 127.0.0.1 or [::1])")
	default:
		return fmt.Errorf("must use https, not %q", u.Scheme)
	}
}

// validateServerURL checks an authorization-server URL (issuer, jwks_uri,
// advertise_url): absolute, https or loopback http, no fragment.
func validateServerURL(raw string) error {
	if raw == "" {
		return errors.New("is required")
	}
	u, err := url.Parse(raw)
	if err != nil || !isFieldValue(raw) {
		return errors.New("is not a valid URL")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return errors.New("must not contain a fragment")
	}
	return checkSchemeHost(u)
}

// IsLoopbackHost reports whether host (without port or brackets) is
// localhost or a loopback IP address.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
