package stdiotest

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Bearer is an http.RoundTripper that sends its token as a bearer token
// (new connections each time, so tests leave no idle ones behind).
type Bearer string

// RoundTrip sends r with Authorization: Bearer <token>.
func (b Bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+string(b))
	return (&http.Transport{DisableKeepAlives: true}).RoundTrip(r)
}

// Connect opens a Go SDK client session to url with token; it is closed
// when the test ends.
func Connect(t testing.TB, url, token string, opts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: Bearer(token)}, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

// CallWhoami calls the whoami tool of this server through cs.
func CallWhoami(t testing.TB, cs *mcp.ClientSession) Who {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami"})
	if err != nil {
		t.Fatal(err)
	}
	var w Who
	b, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(b, &w); err != nil || w.PID == 0 {
		t.Fatalf("whoami = %s (%v)", b, err)
	}
	return w
}
