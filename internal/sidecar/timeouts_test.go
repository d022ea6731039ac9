package sidecar_test

import (
	"strings"
	"testing"
	"time"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/sidecar"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/frontdoor"
)

const timeoutsYAML = `
upstream: http://127.0.0.1:3000
resource: https://mcp.example.com/mcp
authorization_servers:
  - issuer: https://as.example.com
`

// TestTimeoutKeys: read_header_timeout and body_read_timeout default to
// 10s and 30s, take Go durations, refuse negative values, and a reload
// cannot change read_header_timeout (the listener's server keeps it).
func TestTimeoutKeys(t *testing.T) {
	c, err := sidecar.Parse([]byte(timeoutsYAML))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.HeaderTimeout(); got != 10*time.Second {
		t.Errorf("read_header_timeout default = %v", got)
	}
	f, err := frontdoor.Compile(c.Options, sidecar.Env(nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := time.Duration(f.Policy().BodyReadTimeout); got != 30*time.Second {
		t.Errorf("body_read_timeout default = %v", got)
	}
	c, err = sidecar.Parse([]byte(timeoutsYAML + "read_header_timeout: 2s\nbody_read_timeout: 1m\n"))
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(c.ReadHeaderTimeout) != 2*time.Second || time.Duration(c.BodyReadTimeout) != time.Minute {
		t.Errorf("parsed %v, %v", time.Duration(c.ReadHeaderTimeout), time.Duration(c.BodyReadTimeout))
	}
	for _, tc := range []struct{ yaml, want string }{
		{"read_header_timeout: -1s\n", "read_header_timeout: must be positive"},
		{"body_read_timeout: -1s\n", "body_read_timeout: must be positive"},
		{"body_read_timeout: soon\n", `body_read_timeout: invalid duration "soon"`},
	} {
		if _, err := sidecar.Parse([]byte(timeoutsYAML + tc.yaml)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.yaml, err, tc.want)
		}
	}

	a, err := sidecar.New(c, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := sidecar.Parse([]byte(timeoutsYAML + "read_header_timeout: 3s\nbody_read_timeout: 5s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(c2); err != nil {
		t.Fatal(err)
	}
	if got := a.ReadHeaderTimeout(); got != 2*time.Second {
		t.Errorf("read_header_timeout after reload = %v, want the running 2s", got)
	}
	if got := time.Duration(a.FrontDoor().Policy().BodyReadTimeout); got != 5*time.Second {
		t.Errorf("body_read_timeout after reload = %v, want 5s (it follows reloads)", got)
	}
}
