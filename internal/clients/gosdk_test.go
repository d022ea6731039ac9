package clients

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/sidecar"
)

// TestGoSDKLoginThroughDev: the Go SDK's own OAuth client
// (auth.AuthorizationCodeHandler on a StreamableClientTransport) registers
// with the dev authorization server, logs in as bob (the fetcher plays the
// browser and reads the code off the redirect, as an application's
// callback listener would), calls whoami, and steps up for admin_echo
// after the 403 insufficient_scope. Pure Go: no Node needed.
func TestGoSDKLoginThroughDev(t *testing.T) {
	info := startDev(t, sidecar.DevOptions{})
	const redirect = "http://127.0.0.1:48123/oauth/callback" // nothing listens: the fetcher reads the redirect
	var mu sync.Mutex
	var granted []string // the scopes of each login page
	fetch := func(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
		loc, scopes, err := approve(args.URL, "bob")
		if err != nil {
			return nil, err
		}
		mu.Lock()
		granted = append(granted, scopes)
		mu.Unlock()
		u, err := url.Parse(loc)
		if err != nil || !strings.HasPrefix(loc, redirect+"?") {
			return nil, fmt.Errorf("redirected to %q, want %s", loc, redirect)
		}
		q := u.Query()
		return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
	}
	h, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
		DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{Metadata: &oauthex.ClientRegistrationMetadata{
			ClientName:              "mcp-frontdoor e2e (Go SDK)",
			RedirectURIs:            []string{redirect},
			GrantTypes:              []string{"authorization_code", "refresh_token"},
			ResponseTypes:           []string{"code"},
			TokenEndpointAuthMethod: "none",
		}},
		AuthorizationCodeFetcher: fetch,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "mcp-frontdoor-e2e-go", Version: "1.0.0"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: info.Resource, OAuthHandler: h}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer cs.Close()

	text := func(res *mcp.CallToolResult) string {
		var b strings.Builder
		for _, c := range res.Content {
			if tc, ok := c.(*mcp.TextContent); ok {
				b.WriteString(tc.Text)
			}
		}
		return b.String()
	}
	whoami := func(scope string) {
		t.Helper()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami", Arguments: map[string]any{}})
		if err != nil {
			t.Fatalf("whoami: %v", err)
		}
		got := text(res)
		if !strings.HasPrefix(got, "subject: bob\nauthorization_header_present: false\nX-Mcp-Client-Id: dcr-") ||
			!strings.HasSuffix(got, "\nX-Mcp-Scope: "+scope+"\nX-Mcp-Subject: bob") || res.IsError {
			t.Errorf("whoami = %q, want subject bob with scope %q", got, scope)
		}
	}
	whoami("mcp:read")
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "admin_echo", Arguments: map[string]any{"text": "hello from Go"}})
	if err != nil {
		t.Fatalf("admin_echo (step-up): %v", err)
	}
	if text(res) != "hello from Go" || res.IsError {
		t.Errorf("admin_echo = %q", text(res))
	}
	whoami("mcp:read mcp:admin")
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"mcp:read", "mcp:read mcp:admin"}; !reflect.DeepEqual(granted, want) {
		t.Errorf("login pages granted %q, want %q (login, step-up)", granted, want)
	}
}

// bearer is the README's http.RoundTripper that sends a fixed token.
type bearer string

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+string(b))
	return http.DefaultTransport.RoundTrip(r)
}

// TestGoSDKWithTokenHeader: the Go SDK with the token `mcp-sidecar dev`
// prints, sent as a header (no OAuth handler), as the README shows.
func TestGoSDKWithTokenHeader(t *testing.T) {
	info := startDev(t, sidecar.DevOptions{})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "my-app", Version: "1.0.0"}, nil).
		Connect(ctx, &mcp.StreamableClientTransport{Endpoint: info.Resource, HTTPClient: &http.Client{Transport: bearer(info.Token)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami", Arguments: map[string]any{}})
	if err != nil {
		t.Fatal(err)
	}
	want := "subject: dev-user\nauthorization_header_present: false\nX-Mcp-Client-Id: dev-client\nX-Mcp-Scope: mcp:read mcp:write\nX-Mcp-Subject: dev-user"
	if len(res.Content) != 1 || res.Content[0].(*mcp.TextContent).Text != want {
		t.Errorf("whoami = %+v, want %q", res.Content, want)
	}
	// admin_echo needs mcp:admin, which the printed token lacks: 403, and
	// without an OAuth handler the call fails.
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "admin_echo", Arguments: map[string]any{"text": "x"}}); err == nil {
		t.Error("admin_echo with the printed token succeeded, want the 403 insufficient_scope")
	} else {
		t.Logf("admin_echo without mcp:admin: %v", err)
	}
}
