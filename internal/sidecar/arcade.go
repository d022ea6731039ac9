package sidecar

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

// Arcade's environment variables (arcade-mcp-server ResourceServerSettings).
const (
	EnvArcadeCanonicalURL    = "MCP_RESOURCE_SERVER_CANONICAL_URL"
	EnvArcadeAuthServers     = "MCP_RESOURCE_SERVER_AUTHORIZATION_SERVERS"
	EnvArcadeScopesSupported = "MCP_RESOURCE_SERVER_SCOPES_SUPPORTED"
	EnvArcadeChallengeScopes = "MCP_RESOURCE_SERVER_DEFAULT_CHALLENGE_SCOPES"
)

// arcadeAS is one entry of MCP_RESOURCE_SERVER_AUTHORIZATION_SERVERS.
type arcadeAS struct {
	AuthorizationServerURL string   `json:"authorization_server_url"`
	Issuer                 string   `json:"issuer"`
	JWKSURI                string   `json:"jwks_uri"`
	Algorithm              *string  `json:"algorithm"`
	ExpectedAudiences      []string `json:"expected_audiences"`
	ValidationOptions      *struct {
		VerifyExp *bool `json:"verify_exp"`
		VerifyIat *bool `json:"verify_iat"`
		VerifyIss *bool `json:"verify_iss"`
		VerifyNbf *bool `json:"verify_nbf"`
		Leeway    *int  `json:"leeway"`
	} `json:"validation_options"`
}

// ApplyArcadeEnv fills the resource-server keys the config file leaves
// unset from Arcade's MCP_RESOURCE_SERVER_* variables, with Arcade's
// parsing rules and error messages, so a server that used arcade-mcp's
// in-process front-door auth can move it into the sidecar unchanged. As in
// Arcade (where keyword arguments win over the environment), values in the
// file win.
func ApplyArcadeEnv(c *Config, getenv func(string) string) error {
	var errs []error
	if c.Resource == "" {
		if v := strings.TrimSpace(getenv(EnvArcadeCanonicalURL)); v != "" {
			if err := rs.ValidateCanonicalURL(v); err != nil {
				errs = append(errs, fmt.Errorf("%s: invalid canonical URL %q: %v", EnvArcadeCanonicalURL, v, err))
			}
			c.Resource = v
		}
	}
	if len(c.AuthorizationServers) == 0 {
		if v := getenv(EnvArcadeAuthServers); strings.TrimSpace(v) != "" {
			servers, err := parseArcadeServers(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", EnvArcadeAuthServers, err))
			}
			c.AuthorizationServers = servers
		}
	}
	for _, sc := range []struct {
		env string
		dst *[]string
	}{{EnvArcadeScopesSupported, &c.ScopesSupported}, {EnvArcadeChallengeScopes, &c.ChallengeScopes}} {
		if len(*sc.dst) > 0 {
			continue
		}
		// Space-separated; empty or whitespace-only means unset.
		for _, s := range strings.Fields(getenv(sc.env)) {
			if !rs.IsScopeToken(s) {
				errs = append(errs, fmt.Errorf("%s: Invalid scope token %q: must match RFC 6750 scope-token (printable ASCII except space, '\"' and '\\')", sc.env, s))
				continue
			}
			*sc.dst = append(*sc.dst, s)
		}
	}
	return errors.Join(errs...)
}

// arcadeAlgorithms are the algorithms Arcade's JWKS validator accepts.
var arcadeAlgorithms = map[string]string{
	"RS256": "RS256", "RS384": "RS384", "RS512": "RS512",
	"ES256": "ES256", "ES384": "ES384", "ES512": "ES512",
	"PS256": "PS256", "PS384": "PS384", "PS512": "PS512",
	"Ed25519": "EdDSA", "EdDSA": "EdDSA",
}

func parseArcadeServers(v string) ([]rs.AuthorizationServer, error) {
	var raw json.RawMessage
	if err := json.Unmarshal([]byte(v), &raw); err != nil {
		//lint:ignore ST1005 Arcade's wording, kept for users moving from it
		return nil, fmt.Errorf("Invalid JSON in authorization_servers: %v", err)
	}
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '[' {
		return nil, errors.New("authorization_servers must be a JSON array")
	}
	var entries []arcadeAS
	if err := json.Unmarshal(raw, &entries); err != nil {
		//lint:ignore ST1005 Arcade's wording, kept for users moving from it
		return nil, fmt.Errorf("Invalid JSON in authorization_servers: %v", err)
	}
	var out []rs.AuthorizationServer
	byIssuer := map[string]int{}
	var errs []error
	for i, e := range entries {
		p := fmt.Sprintf("authorization_servers[%d]", i)
		alg := "RS256"
		if e.Algorithm != nil {
			alg = *e.Algorithm
		}
		canon, ok := arcadeAlgorithms[alg]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: Unsupported algorithm '%s'. Supported algorithms: RS256, RS384, RS512, ES256, ES384, ES512, PS256, PS384, PS512, Ed25519, EdDSA", p, alg))
			continue
		}
		leeway := rs.Duration(0) // Arcade's default leeway is 0
		if o := e.ValidationOptions; o != nil {
			for name, b := range map[string]*bool{"verify_exp": o.VerifyExp, "verify_iat": o.VerifyIat, "verify_iss": o.VerifyIss, "verify_nbf": o.VerifyNbf} {
				if b != nil && !*b {
					errs = append(errs, fmt.Errorf("%s.validation_options.%s: false is not supported: the sidecar always verifies it", p, name))
				}
			}
			if o.Leeway != nil {
				if *o.Leeway < 0 {
					errs = append(errs, fmt.Errorf("%s.validation_options.leeway: must not be negative", p))
				}
				leeway = rs.Duration(int64(*o.Leeway) * 1e9)
			}
		}
		as := rs.AuthorizationServer{
			Issuer: e.Issuer, JWKSURI: e.JWKSURI, AdvertiseURL: e.AuthorizationServerURL,
			Audiences: e.ExpectedAudiences, Algorithms: []string{canon}, Leeway: &leeway,
		}
		if e.Issuer == "" {
			errs = append(errs, fmt.Errorf("%s.issuer: is required", p))
		}
		if j, dup := byIssuer[e.Issuer]; dup && e.Issuer != "" {
			// Arcade allows several authorization_server_urls for one
			// issuer; the sidecar picks keys by iss, so they must agree.
			first := out[j]
			if first.JWKSURI != as.JWKSURI || first.Algorithms[0] != canon || strings.Join(first.Audiences, " ") != strings.Join(as.Audiences, " ") || *first.Leeway != leeway {
				errs = append(errs, fmt.Errorf("%s: shares issuer %s with authorization_servers[%d] but not its jwks_uri, algorithm, audiences and options", p, e.Issuer, j))
				continue
			}
			out[j].AlsoAdvertise = append(out[j].AlsoAdvertise, e.AuthorizationServerURL)
			continue
		}
		byIssuer[e.Issuer] = len(out)
		out = append(out, as)
	}
	return out, errors.Join(errs...)
}
