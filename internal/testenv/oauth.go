package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// requestTimeout bounds each HTTP call the helpers make.
const requestTimeout = 10 * time.Second

// PostForm sends an application/x-www-form-urlencoded POST to u with HTTP
// Basic client authentication (skipped when clientID is empty) and returns
// the status code and the decoded JSON object body.
func PostForm(ctx context.Context, u, clientID, clientSecret string, form url.Values) (int, map[string]any, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, fmt.Errorf("testenv: build POST %s: %w", u, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if clientID != "" {
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(clientSecret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("testenv: POST %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("testenv: read response of POST %s: %w", u, err)
	}
	var obj map[string]any
	if err := json.Unmarshal(body, &obj); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("testenv: POST %s: status %d, non-JSON body %q: %w", u, resp.StatusCode, body, err)
	}
	return resp.StatusCode, obj, nil
}

// TokenRequest runs the client_credentials grant as svc/svc-secret (HTTP
// Basic) and returns the status and JSON body without asserting anything.
// Empty resource or scope parameters are omitted.
func (p *OIDCProvider) TokenRequest(ctx context.Context, resource, scope string) (int, map[string]any, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if resource != "" {
		form.Set("resource", resource)
	}
	if scope != "" {
		form.Set("scope", scope)
	}
	return PostForm(ctx, p.TokenURL(), OIDCClientID, OIDCClientSecret, form)
}

// ClientCredentialsToken obtains an access token for resource with scope
// (either may be empty for the provider's defaults) as svc/svc-secret and
// fails the test unless the token endpoint answers 200 with a Bearer token.
func (p *OIDCProvider) ClientCredentialsToken(t testing.TB, resource, scope string) string {
	t.Helper()
	status, body, err := p.TokenRequest(t.Context(), resource, scope)
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusOK {
		t.Fatalf("testenv: token request (resource %q, scope %q) = %d %v", resource, scope, status, body)
	}
	tok, _ := body["access_token"].(string)
	if tok == "" || body["token_type"] != "Bearer" {
		t.Fatalf("testenv: token response without Bearer access_token: %v", body)
	}
	return tok
}

// Introspect calls the RFC 7662 introspection endpoint as rs/rs-secret and
// fails the test unless it answers 200; it returns the response object.
func (p *OIDCProvider) Introspect(t testing.TB, token string) map[string]any {
	t.Helper()
	status, body, err := PostForm(t.Context(), p.IntrospectionURL(), OIDCIntrospectionClientID, OIDCIntrospectionClientSecret,
		url.Values{"token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusOK {
		t.Fatalf("testenv: introspection = %d %v", status, body)
	}
	return body
}
