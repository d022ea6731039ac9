package sidecar_test

import (
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/behaviour"
)

// sidecarFrontDoor runs the sidecar from the behaviour Settings rendered
// as YAML, serving on s.Listen until the test ends.
func sidecarFrontDoor(t *testing.T, s behaviour.Settings) {
	t.Helper()
	ln, err := net.Listen("tcp", s.Listen)
	if err != nil {
		t.Fatal(err)
	}
	serveYAML(t, ln, nil, s.SidecarYAML())
}

func TestBehaviourTable(t *testing.T) { behaviour.Run(t, sidecarFrontDoor) }

func TestUpstreamDown(t *testing.T) {
	e := behaviour.NewEnv(t, sidecarFrontDoor, func(s *behaviour.Settings) { s.Upstream = "http://" + behaviour.FreeAddr(t) })
	behaviour.UpstreamDown(t, e)
}

func TestSlowClients(t *testing.T) {
	e := behaviour.NewEnv(t, sidecarFrontDoor, func(s *behaviour.Settings) {
		s.ReadHeaderTimeout, s.BodyReadTimeout = 500*time.Millisecond, 500*time.Millisecond
	})
	behaviour.SlowClients(t, e)
}

func TestStripSwitchOff(t *testing.T) {
	e := behaviour.NewEnv(t, sidecarFrontDoor, func(s *behaviour.Settings) { s.StripOff = true })
	behaviour.StripOff(t, e)
}

// TestSessionAcrossReplicas: two sidecars with the same session_key and no
// shared store accept each other's wrapped ids for the same caller only.
func TestSessionAcrossReplicas(t *testing.T) {
	a := behaviour.NewEnv(t, sidecarFrontDoor, nil)
	// Replica B: same issuers, upstream and key, another port.
	s := a.Settings
	s.Listen = behaviour.FreeAddr(t)
	s.Resource = a.Resource // the same public resource behind a load balancer
	sidecarFrontDoor(t, s)
	b := *a
	b.Base = "http://" + s.Listen
	tok := a.Token(t, 1, nil, nil)
	hdr := http.Header{"Authorization": {"Bearer " + tok}, "Content-Type": {"application/json"}}
	resp, _ := a.Do(t, "POST", "/mcp", hdr, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`)
	sid := resp.Header.Get("Mcp-Session-Id")
	if sid == "" || sid == "up-session-1" {
		t.Fatalf("replica A session id %q", sid)
	}
	hdr.Set("Mcp-Session-Id", sid)
	hdr.Set("Host", "localhost") // replica B sees the shared public host
	resp, _ = b.Do(t, "DELETE", "/mcp", hdr, "")
	if resp.StatusCode != 204 || a.Up.Last().Header.Get("Mcp-Session-Id") != "up-session-1" {
		t.Fatalf("replica B with A's session = %d (upstream saw %q)", resp.StatusCode, a.Up.Last().Header.Get("Mcp-Session-Id"))
	}
	other := a.Token(t, 2, nil, nil)
	hdr.Set("Authorization", "Bearer "+other)
	resp, body := b.Do(t, "DELETE", "/mcp", hdr, "")
	if resp.StatusCode != 404 || !strings.Contains(body, "Session not found") {
		t.Fatalf("other caller on replica B = %d %q", resp.StatusCode, body)
	}
}

func TestForbiddenToolNeverRuns(t *testing.T) { behaviour.ForbiddenToolNeverRuns(t, sidecarFrontDoor) }

func TestAuditLog(t *testing.T) { behaviour.AuditLog(t, sidecarFrontDoor) }

func TestErrorDenial(t *testing.T) {
	behaviour.ErrorDenial(t, behaviour.NewEnv(t, sidecarFrontDoor, func(s *behaviour.Settings) { s.DenyError = true }))
}

func TestErrorDenialKeepsSession(t *testing.T) {
	behaviour.ErrorDenialKeepsSession(t, sidecarFrontDoor)
}

func TestRateLimits(t *testing.T) {
	behaviour.RateLimits(t, behaviour.NewEnv(t, sidecarFrontDoor, func(s *behaviour.Settings) { s.RateLimit = true }), false)
	behaviour.RateLimits(t, behaviour.NewEnv(t, sidecarFrontDoor, func(s *behaviour.Settings) { s.RateLimit, s.DenyError = true, true }), true)
}
