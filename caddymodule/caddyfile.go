package caddymodule

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/frontdoor"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/mcpproxy"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/ratelimit"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("mcp_auth", parseCaddyfile)
	// Before basic_auth, so request_header and reverse_proxy see the
	// identity headers and {http.auth.user.*} placeholders it sets.
	httpcaddyfile.RegisterDirectiveOrder("mcp_auth", httpcaddyfile.Before, "basic_auth")
	// mcp_stdio (stdio.go) responds in place of reverse_proxy, so it sorts
	// with the terminal handlers, after mcp_auth.
	httpcaddyfile.RegisterHandlerDirective("mcp_stdio", parseStdioCaddyfile)
	httpcaddyfile.RegisterDirectiveOrder("mcp_stdio", httpcaddyfile.Before, "reverse_proxy")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile reads the mcp_auth block. Its subdirectives mirror the
// sidecar's YAML keys one to one:
//
//	mcp_auth {
//		resource https://mcp.example.com/mcp
//		resource_name "Example MCP"
//		scopes_supported mcp:read mcp:write
//		challenge_scopes mcp:read
//		validation_cache_size 10000
//		authorization_server https://auth.example.com/realms/mcp {
//			jwks_uri https://auth.example.com/realms/mcp/protocol/openid-connect/certs
//			advertise_url https://auth.example.com/realms/mcp
//			audiences https://mcp.example.com/mcp
//			algorithms RS256 ES256
//			require_at_jwt_typ
//			leeway 30s
//			jwks_refresh_interval 15m
//			jwks_min_refetch_interval 30s
//			tenants 72f988bf-86f1-41af-91ab-2d7cd011db47     # with a {tid} issuer template
//			introspection {                                  # opaque tokens (RFC 7662)
//				client_id rs
//				client_secret {env.INTROSPECTION_SECRET}
//				cache_ttl 60s
//			}
//		}
//		identity_headers {
//			subject X-MCP-Subject
//			claims {
//				X-MCP-Email email
//			}
//		}
//		secret_headers {
//			X-Api-Key {env.UPSTREAM_API_KEY}
//			X-Tenant file /run/secrets/tenant
//		}
//		max_body_bytes 4194304
//		body_read_timeout 30s
//		allowed_origins https://app.example.com
//		required_scopes {
//			methods {
//				tools/list mcp:read
//			}
//			tools {
//				delete_everything mcp:admin
//			}
//		}
//		session_key {env.MCP_SESSION_KEY}
//		strip_error_structured_content on
//		audit {                                          # or: audit off
//			file /var/log/mcp-audit.jsonl                # default: Caddy's log, logger http.handlers.mcp_auth.audit
//		}
//	}
//
// (authorization_servers is accepted as a synonym of
// authorization_server.) Errors name the subdirective and the line.
// secret_headers are sent by reverse_proxy's `transport mcp_auth` (see
// Transport), which the site must use.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	lines := map[string]int{}
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		key := d.Val()
		lines[key] = d.Line()
		switch key {
		case "resource":
			if err := oneArg(d, &h.Config.Resource); err != nil {
				return err
			}
		case "resource_name":
			if err := oneArg(d, &h.Config.ResourceName); err != nil {
				return err
			}
		case "scopes_supported":
			h.Config.ScopesSupported = append(h.Config.ScopesSupported, d.RemainingArgs()...)
		case "challenge_scopes":
			h.Config.ChallengeScopes = append(h.Config.ChallengeScopes, d.RemainingArgs()...)
		case "validation_cache_size":
			if err := intArg(d, &h.Config.ValidationCacheSize); err != nil {
				return err
			}
		case "authorization_server", "authorization_servers":
			idx := len(h.Config.AuthorizationServers)
			p := fmt.Sprintf("authorization_servers[%d]", idx)
			lines[p] = d.Line()
			as, err := parseAS(d, p, lines)
			if err != nil {
				return err
			}
			h.Config.AuthorizationServers = append(h.Config.AuthorizationServers, as)
		case "identity_headers":
			if d.NextArg() {
				return d.ArgErr()
			}
			for nesting := d.Nesting(); d.NextBlock(nesting); {
				switch d.Val() {
				case "subject":
					lines["identity_headers.subject"] = d.Line()
					if err := oneArg(d, &h.Policy.IdentityHeaders.Subject); err != nil {
						return err
					}
				case "claims":
					for n2 := d.Nesting(); d.NextBlock(n2); {
						hdr := d.Val()
						var claim string
						if err := oneArg(d, &claim); err != nil {
							return err
						}
						if h.Policy.IdentityHeaders.Claims == nil {
							h.Policy.IdentityHeaders.Claims = map[string]string{}
						}
						lines["identity_headers.claims."+hdr] = d.Line()
						h.Policy.IdentityHeaders.Claims[hdr] = claim
					}
				default:
					return d.Errf("identity_headers: unknown subdirective %q (want subject or claims)", d.Val())
				}
			}
		case "secret_headers":
			if d.NextArg() {
				return d.ArgErr()
			}
			for nesting := d.Nesting(); d.NextBlock(nesting); {
				s := mcpproxy.SecretHeader{Header: d.Val()}
				lines[fmt.Sprintf("secret_headers[%d]", len(h.Policy.SecretHeaders))] = d.Line()
				args := d.RemainingArgs()
				switch {
				case len(args) == 2 && args[0] == "file":
					s.File = args[1]
				case len(args) == 2 && args[0] == "env":
					s.Env = args[1]
				case len(args) == 1:
					s.Value = args[0]
				default:
					return d.Errf("secret_headers %s: want a value ({env.NAME}), env NAME or file PATH", s.Header)
				}
				h.Policy.SecretHeaders = append(h.Policy.SecretHeaders, s)
			}
		case "max_body_bytes":
			var n int
			if err := intArg(d, &n); err != nil {
				return err
			}
			h.Policy.MaxBodyBytes = int64(n)
		case "body_read_timeout":
			if err := durArg(d, &h.Policy.BodyReadTimeout); err != nil {
				return err
			}
		case "allowed_origins":
			h.Policy.AllowedOrigins = append(h.Policy.AllowedOrigins, d.RemainingArgs()...)
		case "required_scopes":
			if d.NextArg() {
				return d.ArgErr()
			}
			for nesting := d.Nesting(); d.NextBlock(nesting); {
				kind := d.Val()
				var target *map[string][]string
				switch kind {
				case "methods":
					target = &h.Policy.RequiredScopes.Methods
				case "tools":
					target = &h.Policy.RequiredScopes.Tools
				case "prompts":
					target = &h.Policy.RequiredScopes.Prompts
				case "resources":
					target = &h.Policy.RequiredScopes.Resources
				default:
					return d.Errf("required_scopes: unknown subdirective %q (want methods, tools, prompts or resources)", kind)
				}
				lines["required_scopes."+kind] = d.Line()
				for n2 := d.Nesting(); d.NextBlock(n2); {
					name := d.Val()
					scopes := d.RemainingArgs()
					if len(scopes) == 0 {
						return d.Errf("required_scopes %s %s: list at least one scope", kind, name)
					}
					if *target == nil {
						*target = map[string][]string{}
					}
					lines["required_scopes."+kind+"."+name] = d.Line()
					(*target)[name] = append((*target)[name], scopes...)
				}
			}
		case "rate_limits":
			rl, err := parseRateLimits(d, lines)
			if err != nil {
				return err
			}
			h.RateLimits = rl
		case "scope_denial":
			if err := oneArg(d, &h.Policy.ScopeDenial); err != nil {
				return err
			}
		case "scope_implies":
			if d.NextArg() {
				return d.ArgErr()
			}
			for nesting := d.Nesting(); d.NextBlock(nesting); {
				scope, implied := d.Val(), d.RemainingArgs()
				if len(implied) == 0 {
					return d.Errf("scope_implies %s: list the scopes it implies", scope)
				}
				if h.Policy.ScopeImplies == nil {
					h.Policy.ScopeImplies = map[string][]string{}
				}
				lines["scope_implies."+scope] = d.Line()
				h.Policy.ScopeImplies[scope] = append(h.Policy.ScopeImplies[scope], implied...)
			}
		case "session_key":
			args := d.RemainingArgs()
			switch {
			case len(args) == 2 && args[0] == "file":
				h.Policy.SessionKey = &mcpproxy.SecretSource{File: args[1]}
			case len(args) == 2 && args[0] == "env":
				h.Policy.SessionKey = &mcpproxy.SecretSource{Env: args[1]}
			case len(args) == 1:
				h.Policy.SessionKey = &mcpproxy.SecretSource{Value: args[0]}
			default:
				return d.Errf("session_key: want a value ({env.NAME}), env NAME or file PATH")
			}
		case "strip_error_structured_content":
			var v string
			if err := oneArg(d, &v); err != nil {
				return err
			}
			b, err := onOff(v)
			if err != nil {
				return d.Errf("strip_error_structured_content: %v", err)
			}
			h.Policy.StripErrorStructuredContent = &b
		case "audit":
			if err := parseAudit(d, &h.Policy.Audit, lines); err != nil {
				return err
			}
		case "read_header_timeout":
			return d.Errf("read_header_timeout is a sidecar setting; in Caddy, set the global option servers { timeouts { read_header <duration> } } (Caddy's default is 1m)")
		case "tracing":
			return d.Errf("tracing is a sidecar setting; in Caddy, turn on the tracing directive in the site: mcp_auth's spans join its trace")
		case "log_sampling":
			return d.Errf("log_sampling is a sidecar setting; in Caddy, the log directive's sampling subdirective samples the access log")
		case "preserve_host", "upstream", "listen", "admin_listen", "log_level", "shutdown_timeout",
			"watch_config", "drain_delay", "readiness", "admin_detail", "admin_allow":
			return d.Errf("%s is a sidecar setting; in Caddy, reverse_proxy and the global options do this", key)
		default:
			return d.Errf("unknown subdirective %q", key)
		}
	}
	// The whole check now, so `caddy adapt` refuses what `mcp-sidecar
	// validate` refuses, with a line. It reads h and writes nothing to it,
	// so the adapted JSON holds what the Caddyfile says, no defaults.
	if err := frontdoor.Check(h.Options, checkEnv()); err != nil {
		return lineError(d, err, lines)
	}
	return nil
}

// lineError turns every field error into "mcp_auth <subdirective>
// (<field>): msg, at File:line", joined.
func lineError(d *caddyfile.Dispenser, err error, lines map[string]int) error {
	return directiveLineError(d, "mcp_auth", "", err, lines)
}

// directiveLineError is lineError for any directive whose field paths
// start with prefix ("stdio." for mcp_stdio; the subdirective is named
// without it).
func directiveLineError(d *caddyfile.Dispenser, directive, prefix string, err error, lines map[string]int) error {
	var out []error
	for _, e := range frontdoor.Problems(err) {
		var fe *rs.FieldError
		if !errors.As(e, &fe) {
			out = append(out, d.Errf("%s: %v", directive, e))
			continue
		}
		line, best := 0, ""
		for k, l := range lines {
			if strings.HasPrefix(fe.Field, k) && len(k) > len(best) {
				line, best = l, k
			}
		}
		sub := strings.TrimPrefix(fe.Field, prefix)
		if i := strings.IndexAny(sub, ".["); i > 0 {
			sub = sub[:i]
		}
		if sub == "authorization_servers" {
			sub = "authorization_server"
		}
		if line == 0 {
			out = append(out, fmt.Errorf("%s %s: %s, in %s", directive, fe.Field, fe.Msg, d.File()))
			continue
		}
		out = append(out, fmt.Errorf("%s %s (%s): %s, at %s:%d", directive, sub, fe.Field, fe.Msg, d.File(), line))
	}
	return errors.Join(out...)
}

func parseAS(d *caddyfile.Dispenser, p string, lines map[string]int) (rs.AuthorizationServer, error) {
	var as rs.AuthorizationServer
	if !d.NextArg() {
		return as, d.Errf("authorization_server: the issuer URL is required")
	}
	as.Issuer = d.Val()
	lines[p+".issuer"] = d.Line()
	if d.NextArg() {
		return as, d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		k := d.Val()
		lines[p+"."+k] = d.Line()
		var err error
		switch k {
		case "jwks_uri":
			err = oneArg(d, &as.JWKSURI)
		case "advertise_url":
			err = oneArg(d, &as.AdvertiseURL)
		case "audiences":
			as.Audiences = append(as.Audiences, d.RemainingArgs()...)
		case "algorithms":
			as.Algorithms = append(as.Algorithms, d.RemainingArgs()...)
		case "require_at_jwt_typ":
			as.RequireATJWTType = true
			if d.NextArg() {
				b, perr := onOff(d.Val())
				if perr != nil {
					return as, d.Errf("require_at_jwt_typ: %v", perr)
				}
				as.RequireATJWTType = b
			}
		case "leeway":
			var dur rs.Duration
			if err = durArg(d, &dur); err == nil {
				as.Leeway = &dur
			}
		case "jwks_refresh_interval":
			err = durArg(d, &as.JWKSRefreshInterval)
		case "jwks_min_refetch_interval":
			err = durArg(d, &as.JWKSMinRefetchInterval)
		case "tenants":
			as.Tenants = append(as.Tenants, d.RemainingArgs()...)
		case "introspection":
			if d.NextArg() {
				return as, d.ArgErr()
			}
			in := &rs.Introspection{}
			for n2 := d.Nesting(); d.NextBlock(n2); {
				sub := d.Val()
				lines[p+".introspection."+sub] = d.Line()
				switch sub {
				case "endpoint":
					err = oneArg(d, &in.Endpoint)
				case "client_id":
					err = oneArg(d, &in.ClientID)
				case "client_secret":
					args := d.RemainingArgs()
					switch {
					case len(args) == 2 && args[0] == "file":
						in.ClientSecret = rs.SecretSource{File: args[1]}
					case len(args) == 2 && args[0] == "env":
						in.ClientSecret = rs.SecretSource{Env: args[1]}
					case len(args) == 1:
						in.ClientSecret = rs.SecretSource{Value: args[0]}
					default:
						return as, d.Errf("introspection client_secret: want a value ({env.NAME}), env NAME or file PATH")
					}
				case "cache_ttl":
					err = durArg(d, &in.CacheTTL)
				default:
					return as, d.Errf("introspection: unknown subdirective %q", sub)
				}
				if err != nil {
					return as, err
				}
			}
			as.Introspection = in
		default:
			return as, d.Errf("authorization_server: unknown subdirective %q", k)
		}
		if err != nil {
			return as, err
		}
	}
	return as, nil
}

// parseAudit reads `audit off`, `audit on` or an audit block with `file
// <path>`.
func parseAudit(d *caddyfile.Dispenser, a *mcpproxy.AuditOptions, lines map[string]int) error {
	if d.NextArg() {
		b, err := onOff(d.Val())
		if err != nil {
			return d.Errf("audit: %v", err)
		}
		if d.NextArg() {
			return d.ArgErr()
		}
		a.Enabled = &b
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		sub := d.Val()
		lines["audit."+sub] = d.Line()
		switch sub {
		case "file":
			if err := oneArg(d, &a.File); err != nil {
				return err
			}
		default:
			return d.Errf("audit: unknown subdirective %q (want file)", sub)
		}
	}
	return nil
}

func oneArg(d *caddyfile.Dispenser, dst *string) error {
	args := d.RemainingArgs()
	if len(args) != 1 {
		return d.Errf("%s: want exactly one value", d.Val())
	}
	*dst = args[0]
	return nil
}

func intArg(d *caddyfile.Dispenser, dst *int) error {
	name := d.Val()
	var s string
	if err := oneArg(d, &s); err != nil {
		return err
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return d.Errf("%s: %q is not a whole number", name, s)
	}
	*dst = n
	return nil
}

func durArg(d *caddyfile.Dispenser, dst *rs.Duration) error {
	name := d.Val()
	var s string
	if err := oneArg(d, &s); err != nil {
		return err
	}
	if err := dst.UnmarshalText([]byte(s)); err != nil {
		return d.Errf("%s: %v", name, err)
	}
	return nil
}

func onOff(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "on", "true", "yes":
		return true, nil
	case "off", "false", "no":
		return false, nil
	}
	return false, fmt.Errorf("%q is not on or off", v)
}

// Interface guard.
var _ caddyfile.Unmarshaler = (*Handler)(nil)

// parseRateLimits reads a rate_limits block; a limit is `RATE [BURST]`.
func parseRateLimits(d *caddyfile.Dispenser, lines map[string]int) (*ratelimit.Options, error) {
	o := &ratelimit.Options{}
	lines["rate_limits"] = d.Line()
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		key := d.Val()
		lines["rate_limits."+key] = d.Line()
		switch key {
		case "store", "on_store_error", "key_prefix":
			var v string
			if err := oneArg(d, &v); err != nil {
				return nil, err
			}
			switch key {
			case "store":
				o.Store = v
			case "on_store_error":
				o.OnStoreError = v
			default:
				o.KeyPrefix = v
			}
		case "store_password":
			args := d.RemainingArgs()
			switch {
			case len(args) == 2 && args[0] == "env":
				o.StorePassword = &rs.SecretSource{Env: args[1]}
			case len(args) == 2 && args[0] == "file":
				o.StorePassword = &rs.SecretSource{File: args[1]}
			case len(args) == 1:
				o.StorePassword = &rs.SecretSource{Value: args[0]}
			default:
				return nil, d.Errf("rate_limits store_password: want {env.NAME}, env NAME or file PATH")
			}
		case "max_callers":
			if err := intArg(d, &o.MaxCallers); err != nil {
				return nil, err
			}
		case "default":
			l, err := ratelimit.LimitFromArgs(d.RemainingArgs())
			if err != nil {
				return nil, d.Errf("rate_limits default: %v", err)
			}
			o.Default = &l
		case "methods", "tools":
			if d.NextArg() {
				return nil, d.ArgErr()
			}
			m := map[string]ratelimit.Limit{}
			for n2 := d.Nesting(); d.NextBlock(n2); {
				name := d.Val()
				l, err := ratelimit.LimitFromArgs(d.RemainingArgs())
				if err != nil {
					return nil, d.Errf("rate_limits %s %s: %v", key, name, err)
				}
				lines["rate_limits."+key+"."+name] = d.Line()
				m[name] = l
			}
			if key == "methods" {
				o.Methods = m
			} else {
				o.Tools = m
			}
		default:
			return nil, d.Errf("rate_limits: unknown subdirective %q", key)
		}
	}
	return o, nil
}
