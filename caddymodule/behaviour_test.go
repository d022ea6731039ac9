package caddymodule

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	_ "github.com/caddyserver/caddy/v2/modules/filestorage"
	_ "github.com/caddyserver/caddy/v2/modules/logging"
	_ "github.com/caddyserver/caddy/v2/modules/metrics"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/behaviour"
)

// caddyfileFor renders the shared behaviour Settings as a Caddyfile: the
// same configuration the sidecar gets as YAML, subdirective for key.
func caddyfileFor(t *testing.T, s behaviour.Settings) string {
	var extra []string
	if s.StripOff {
		extra = append(extra, "strip_error_structured_content off")
	}
	if s.DenyError {
		extra = append(extra, "scope_denial error")
	}
	if s.RateLimit {
		extra = append(extra, "rate_limits {\n\t\t\ttools {\n\t\t\t\tok 1/h 2\n\t\t\t}\n\t\t}")
	}
	if s.AuditFile != "" {
		extra = append(extra, "audit {\n\t\t\tfile "+s.AuditFile+"\n\t\t}")
	}
	if s.BodyReadTimeout > 0 {
		extra = append(extra, fmt.Sprintf("body_read_timeout %s", s.BodyReadTimeout))
	}
	strip, global := strings.Join(extra, "\n\t\t"), ""
	if s.ReadHeaderTimeout > 0 {
		global = fmt.Sprintf("\n\tservers {\n\t\ttimeouts {\n\t\t\tread_header %s\n\t\t}\n\t}", s.ReadHeaderTimeout)
	}
	return fmt.Sprintf(`{
	admin off
	persist_config off
	auto_https off
	storage file_system %s
	grace_period 1ns%s
}
http://%s {
	bind 127.0.0.1
	mcp_auth {
		resource %s
		resource_name "Test MCP"
		scopes_supported mcp:read mcp:write
		challenge_scopes mcp:read
		authorization_server %s {
			jwks_uri %s
		}
		authorization_server %s {
			advertise_url https://login.example.com
			require_at_jwt_typ
			algorithms ES256 RS256
		}
		identity_headers {
			claims {
				X-MCP-Client-Id client_id
				X-MCP-Email email
			}
		}
		secret_headers {
			X-Api-Key {env.%s}
			X-Tenant file %s
		}
		max_body_bytes 4096
		allowed_origins https://app.example.com
		required_scopes {
			methods {
				tools/list mcp:read
			}
			tools {
				admin_tool mcp:write mcp:admin
			}
			prompts {
				admin_prompt mcp:admin
			}
			resources {
				file:///admin/* mcp:admin
			}
		}
		scope_implies {
			mcp:root mcp:admin mcp:write
		}
		session_key env %s
		%s
	}
	# Secrets are added by the mcp_auth transport, after Caddy logs the request.
	reverse_proxy %s {
		transport mcp_auth
	}
}
`, t.TempDir(), global, ":"+portOf(s.Listen), s.Resource, s.Issuer1, s.JWKS1, s.Issuer2, behaviour.EnvAPIKey, s.SecretFile, behaviour.EnvSessionKey, strip, s.Upstream)
}

func portOf(addr string) string {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			return addr[i+1:]
		}
	}
	return addr
}

// loadCaddy adapts and loads a Caddyfile in-process (one caddy.Load per
// test, admin off) and stops Caddy when the test ends.
func loadCaddy(t *testing.T, caddyfile string) {
	t.Helper()
	cfgJSON, warns, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		t.Fatalf("adapt: %v\n%s", err, caddyfile)
	}
	for _, w := range warns {
		t.Logf("adapt warning: %s", w.String())
	}
	if err := caddy.Load(cfgJSON, true); err != nil {
		t.Fatalf("load: %v", err)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
}

func caddyFrontDoor(t *testing.T, s behaviour.Settings) { loadCaddy(t, caddyfileFor(t, s)) }

func TestBehaviourTable(t *testing.T) { behaviour.Run(t, caddyFrontDoor) }

func TestUpstreamDown(t *testing.T) {
	e := behaviour.NewEnv(t, caddyFrontDoor, func(s *behaviour.Settings) { s.Upstream = "http://" + behaviour.FreeAddr(t) })
	behaviour.UpstreamDown(t, e)
}

func TestSlowClients(t *testing.T) {
	e := behaviour.NewEnv(t, caddyFrontDoor, func(s *behaviour.Settings) {
		s.ReadHeaderTimeout, s.BodyReadTimeout = 500*time.Millisecond, 500*time.Millisecond
	})
	behaviour.SlowClients(t, e)
}

func TestStripSwitchOff(t *testing.T) {
	e := behaviour.NewEnv(t, caddyFrontDoor, func(s *behaviour.Settings) { s.StripOff = true })
	behaviour.StripOff(t, e)
}

func TestForbiddenToolNeverRuns(t *testing.T) { behaviour.ForbiddenToolNeverRuns(t, caddyFrontDoor) }

func TestAuditLog(t *testing.T) { behaviour.AuditLog(t, caddyFrontDoor) }

func TestErrorDenial(t *testing.T) {
	behaviour.ErrorDenial(t, behaviour.NewEnv(t, caddyFrontDoor, func(s *behaviour.Settings) { s.DenyError = true }))
}

func TestErrorDenialKeepsSession(t *testing.T) { behaviour.ErrorDenialKeepsSession(t, caddyFrontDoor) }

func TestRateLimits(t *testing.T) {
	behaviour.RateLimits(t, behaviour.NewEnv(t, caddyFrontDoor, func(s *behaviour.Settings) { s.RateLimit = true }), false)
	behaviour.RateLimits(t, behaviour.NewEnv(t, caddyFrontDoor, func(s *behaviour.Settings) { s.RateLimit, s.DenyError = true, true }), true)
}
