package rs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"
)

// serverMetadata is the part of RFC 8414 / OIDC discovery the front door
// uses.
type serverMetadata struct {
	Issuer                string `json:"issuer"`
	JWKSURI               string `json:"jwks_uri"`
	IntrospectionEndpoint string `json:"introspection_endpoint,omitempty"`
}

// maxDocBytes bounds discovery and JWKS documents.
const maxDocBytes = 1 << 20

// discover finds an authorization server's metadata: RFC 8414
// (/.well-known/oauth-authorization-server inserted before the issuer's
// path) first, then OpenID Connect discovery through go-oidc. Either
// document's issuer must equal issuer exactly, and its jwks_uri must be an
// https (or loopback http) URL.
func discover(ctx context.Context, client *http.Client, issuer string) (*serverMetadata, error) {
	md, err8414 := discover8414(ctx, client, issuer)
	if err8414 == nil {
		return md, nil
	}
	p, errOIDC := oidc.NewProvider(oidc.ClientContext(ctx, client), issuer)
	if errOIDC != nil {
		return nil, fmt.Errorf("discovery for %s failed: RFC 8414: %v; OIDC: %w", issuer, err8414, errOIDC)
	}
	var oidcMD serverMetadata
	if err := p.Claims(&oidcMD); err != nil {
		return nil, fmt.Errorf("OIDC discovery for %s: %w", issuer, err)
	}
	oidcMD.Issuer = issuer // go-oidc verified it
	if err := checkDiscovered(&oidcMD); err != nil {
		return nil, fmt.Errorf("OIDC discovery for %s: %w", issuer, err)
	}
	return &oidcMD, nil
}

// rfc8414URL returns the RFC 8414 §3.1 metadata URL of an issuer.
func rfc8414URL(issuer string) (string, error) {
	u, err := url.Parse(issuer)
	if err != nil {
		return "", err
	}
	p := strings.TrimSuffix(u.EscapedPath(), "/")
	out := url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/.well-known/oauth-authorization-server" + p}
	return out.String(), nil
}

func discover8414(ctx context.Context, client *http.Client, issuer string) (*serverMetadata, error) {
	mdURL, err := rfc8414URL(issuer)
	if err != nil {
		return nil, err
	}
	body, err := getDoc(ctx, client, mdURL)
	if err != nil {
		return nil, err
	}
	var md serverMetadata
	if err := json.Unmarshal(body, &md); err != nil {
		return nil, fmt.Errorf("decode %s: %w", mdURL, err)
	}
	if md.Issuer != issuer {
		return nil, fmt.Errorf("%s names issuer %q, want %q", mdURL, md.Issuer, issuer)
	}
	if err := checkDiscovered(&md); err != nil {
		return nil, err
	}
	return &md, nil
}

func checkDiscovered(md *serverMetadata) error {
	if md.JWKSURI == "" {
		return errors.New("metadata has no jwks_uri")
	}
	if err := validateServerURL(md.JWKSURI); err != nil {
		return fmt.Errorf("metadata jwks_uri %q %v", md.JWKSURI, err)
	}
	if md.IntrospectionEndpoint != "" {
		if err := validateServerURL(md.IntrospectionEndpoint); err != nil {
			md.IntrospectionEndpoint = ""
		}
	}
	return nil
}

// getDoc GETs a JSON document (200 only, at most maxDocBytes).
func getDoc(ctx context.Context, client *http.Client, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("build request for %s: %w", u, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d", u, resp.StatusCode)
	}
	if len(body) > maxDocBytes {
		return nil, fmt.Errorf("GET %s: document larger than %d bytes", u, maxDocBytes)
	}
	return body, nil
}
