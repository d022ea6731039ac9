package rs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// introspector asks one authorization server about opaque tokens
// (RFC 7662, client_secret_basic).
type introspector struct {
	is       *issuer
	endpoint string // configured, or discovered on first use
	clientID string
	secret   string
	ttl      time.Duration
	client   *http.Client

	mu sync.Mutex // guards endpoint discovery
}

func newIntrospector(is *issuer, client *http.Client, getenv func(string) string, readFile func(string) ([]byte, error)) (*introspector, error) {
	c := is.cfg.Introspection
	secret, err := c.ClientSecret.Resolve("introspection.client_secret", getenv, readFile)
	if err != nil {
		return nil, err
	}
	ttl := time.Duration(c.CacheTTL)
	if ttl <= 0 {
		ttl = DefaultIntrospectionCacheTTL
	}
	if client == nil {
		client = &http.Client{Timeout: fetchTimeout}
	}
	return &introspector{is: is, endpoint: c.Endpoint, clientID: c.ClientID, secret: secret, ttl: ttl, client: client}, nil
}

func (in *introspector) url(ctx context.Context) (string, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.endpoint != "" {
		return in.endpoint, nil
	}
	md, err := discover(ctx, in.client, in.is.cfg.Issuer)
	if err != nil {
		return "", err
	}
	if md.IntrospectionEndpoint == "" {
		return "", errors.New("the authorization server metadata has no introspection_endpoint")
	}
	in.endpoint = md.IntrospectionEndpoint
	return in.endpoint, nil
}

// ask posts the token and returns the decoded answer.
func (in *introspector) ask(ctx context.Context, token string) (jwt.MapClaims, error) {
	u, err := in.url(ctx)
	if err != nil {
		return nil, err
	}
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("build introspection request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(in.clientID), url.QueryEscape(in.secret))
	resp, err := in.client.Do(req)
	if err != nil {
		// The transport error text can contain the URL, never the token
		// (it is in the body).
		return nil, fmt.Errorf("introspection request: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocBytes))
	if err != nil {
		return nil, fmt.Errorf("read introspection answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("introspection endpoint answered status %d", resp.StatusCode)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var claims jwt.MapClaims
	if err := dec.Decode(&claims); err != nil {
		return nil, fmt.Errorf("decode introspection answer: %w", err)
	}
	if _, ok := claims["active"].(bool); !ok {
		return nil, errors.New("introspection answer has no boolean active")
	}
	return claims, nil
}

// introspect validates an opaque token at every server with introspection
// configured, in config order, until one says it is active. An outage of
// a server that might have vouched for the token fails closed with 503.
func (v *Validator) introspect(ctx context.Context, token string, tr tracer) (*Identity, string, error) {
	var outage error
	for _, in := range v.introspectors {
		iss := in.is.cfg.Issuer
		claims, err := in.ask(ctx, token)
		if err != nil {
			outage = errors.Join(outage, fmt.Errorf("%s: %w", iss, err))
			tr.fail("introspection "+iss, errIntrospectionUnavailable.withCause(err))
			continue
		}
		if active, _ := claims["active"].(bool); !active {
			tr.pass("introspection "+iss, "inactive")
			continue
		}
		delete(claims, "active")
		if ci, ok := claims["iss"]; ok {
			if s, _ := ci.(string); s != iss {
				return nil, "", tr.fail("issuer", errUntrustedIssuer.withCause(fmt.Errorf("introspection answer names iss %v", ci)))
			}
		} else {
			claims["iss"] = iss
		}
		tr.pass("issuer", iss+" (introspection: active)")
		if in.is.cfg.Tenant != "" {
			if tid, _ := claims["tid"].(string); tid != in.is.cfg.Tenant {
				return nil, iss, tr.fail("tenant", errUntrustedIssuer.withCause(fmt.Errorf("tid %q", tid)))
			}
		}
		clientID, _ := claims["client_id"].(string)
		id, iss, err := v.checkClaims(in.is, claims, clientID, tr)
		if err != nil {
			return nil, iss, err
		}
		if until := v.now().Add(in.ttl); until.Before(id.Expiry) {
			id.cacheUntil = until
		}
		return id, iss, nil
	}
	if outage != nil {
		return nil, "", errIntrospectionUnavailable.withCause(outage)
	}
	return nil, "", tr.fail("introspection", errInactive)
}
