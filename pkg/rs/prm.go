package rs

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// wellKnownPRM is the RFC 9728 well-known path prefix.
const wellKnownPRM = "/.well-known/oauth-protected-resource"

// Metadata is an RFC 9728 Protected Resource Metadata document. Field order
// is the wire order.
type Metadata struct {
	Resource               string   `json:"resource"`
	AuthorizationServers   []string `json:"authorization_servers"`
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
	ScopesSupported        []string `json:"scopes_supported,omitempty"`
	ResourceName           string   `json:"resource_name,omitempty"`
}

// Metadata returns the PRM document of a normalized config: resource is
// exactly the configured canonical URL, authorization_servers lists each
// server's advertised URL once, in config order.
func (c *Config) Metadata() Metadata {
	m := Metadata{
		Resource:               c.Resource,
		BearerMethodsSupported: []string{"header"},
		ScopesSupported:        c.ScopesSupported,
		ResourceName:           c.ResourceName,
	}
	seen := map[string]bool{}
	for _, as := range c.AuthorizationServers {
		u := as.AdvertiseURL
		if u == "" {
			u = as.Issuer
		}
		for _, x := range append([]string{u}, as.AlsoAdvertise...) {
			if !seen[x] {
				seen[x] = true
				m.AuthorizationServers = append(m.AuthorizationServers, x)
			}
		}
	}
	return m
}

// MetadataURL returns the RFC 9728 §3.1 metadata URL of a resource: the
// well-known prefix inserted between the host and the path, the query kept
// (https://h/mcp?t=a → https://h/.well-known/oauth-protected-resource/mcp?t=a).
func MetadataURL(resource string) (string, error) {
	u, err := url.Parse(resource)
	if err != nil {
		return "", err
	}
	out := url.URL{Scheme: u.Scheme, Host: u.Host, Path: metadataPath(u.EscapedPath()), RawQuery: u.RawQuery}
	return out.String(), nil
}

// metadataPath returns the well-known path for an escaped resource path:
// "/mcp" → "/.well-known/oauth-protected-resource/mcp"; "" or "/" → the
// bare prefix.
func metadataPath(resourcePath string) string {
	p := strings.TrimSuffix(resourcePath, "/")
	if p == "" {
		return wellKnownPRM
	}
	return wellKnownPRM + p
}

// MetadataPaths lists the request paths that serve the document: the
// path-specific one and, when different, the root one.
func MetadataPaths(resource string) []string {
	u, err := url.Parse(resource)
	if err != nil {
		return []string{wellKnownPRM}
	}
	p := metadataPath(u.EscapedPath())
	if p == wellKnownPRM {
		return []string{p}
	}
	return []string{p, wellKnownPRM}
}

// MetadataHandler serves a PRM document: GET/HEAD → 200 application/json
// with Arcade's CORS headers, OPTIONS → 204, anything else → 405.
type MetadataHandler struct {
	body []byte
}

// NewMetadataHandler marshals m once.
func NewMetadataHandler(m Metadata) (*MetadataHandler, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return &MetadataHandler{body: b}, nil
}

func (h *MetadataHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Access-Control-Allow-Origin", "*")
	hd.Set("Access-Control-Allow-Methods", "GET, OPTIONS")
	hd.Set("Access-Control-Allow-Headers", "Content-Type")
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		hd.Set("Content-Type", "application/json")
		hd.Set("Cache-Control", "public, max-age=300")
		hd.Set("Content-Length", strconv.Itoa(len(h.body)))
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(h.body)
		}
	case http.MethodOptions:
		hd.Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
	default:
		hd.Set("Allow", "GET, HEAD, OPTIONS")
		hd.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusMethodNotAllowed)
		_, _ = w.Write([]byte(http.StatusText(http.StatusMethodNotAllowed)))
	}
}
