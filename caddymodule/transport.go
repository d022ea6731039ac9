package caddymodule

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/mcpproxy"
)

func init() {
	caddy.RegisterModule(Transport{})
}

// Transport is the http.reverse_proxy.transport.mcp_auth module: Caddy's
// standard HTTP transport (the same JSON fields and Caddyfile subdirectives
// as `transport http`) that adds mcp_auth's secret_headers to the request
// it sends upstream. reverse_proxy logs the upstream request's headers
// (redacting only Cookie and Authorization-like ones) in its debug
// "upstream roundtrip" line and its "aborting with incomplete response"
// warning; it logs the request it handed to RoundTrip, so secrets added to
// a private copy here never reach a log, at any level:
//
//	reverse_proxy 127.0.0.1:8080 {
//		transport mcp_auth {
//			keepalive_idle_conns_per_host 128
//		}
//	}
//
// Requests that did not pass an mcp_auth with secret_headers go out as
// with `transport http`.
type Transport struct {
	reverseproxy.HTTPTransport
}

// CaddyModule returns the Caddy module information.
func (Transport) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.reverse_proxy.transport.mcp_auth", New: func() caddy.Module { return new(Transport) }}
}

// Provision sets up the HTTP transport.
func (t *Transport) Provision(ctx caddy.Context) error { return t.HTTPTransport.Provision(ctx) }

// UnmarshalCaddyfile reads the same subdirectives as `transport http`.
func (t *Transport) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return t.HTTPTransport.UnmarshalCaddyfile(d)
}

// RoundTrip sends a copy of req with the secret headers that mcp_auth put
// in its context; req itself, which reverse_proxy logs, is left without
// them.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	// As the HTTP transport would, on the request reverse_proxy keeps.
	t.SetScheme(req)
	if s := mcpproxy.SecretsFrom(req.Context()); s != nil {
		req = req.Clone(req.Context())
		s.Inject(req.Header)
	}
	return t.HTTPTransport.RoundTrip(req)
}

// errNoSecretsTransport is the config error for secret_headers in front of
// a reverse_proxy that cannot send them.
var errNoSecretsTransport = errors.New("secret_headers are sent only by reverse_proxy's `transport mcp_auth` " +
	"(it takes the same subdirectives as `transport http`), but the reverse_proxy after this mcp_auth uses another transport, " +
	"so the MCP server would never receive them: add `transport mcp_auth` to that reverse_proxy")

// checkSecretsTransport refuses a configuration in which an mcp_auth with
// secret_headers is followed (in config order, within one server's routes,
// subroutes included, not past a terminal route) by reverse_proxy handlers
// of which none uses the mcp_auth transport. It runs while the http app
// provisions its routes: the routes not provisioned yet (this handler's
// own and all after it) still hold their JSON. Where it cannot see the
// reverse_proxy (invoke, handle_errors, a route provisioned earlier),
// ServeHTTP logs the mistake at the first proxied request instead.
func checkSecretsTransport(ctx caddy.Context) error {
	var app *caddyhttp.App
	for _, m := range ctx.Modules() {
		if a, ok := m.(*caddyhttp.App); ok {
			app = a
		}
	}
	if app == nil {
		return nil
	}
	var c routeCheck
	for _, srv := range app.Servers {
		lists := []caddyhttp.RouteList{srv.Routes}
		if srv.Errors != nil {
			lists = append(lists, srv.Errors.Routes)
		}
		for _, r := range srv.NamedRoutes {
			if r != nil {
				lists = append(lists, caddyhttp.RouteList{*r})
			}
		}
		for _, l := range lists {
			var pending []rawRoute
			for _, r := range l {
				if r.HandlersRaw != nil {
					pending = append(pending, rawRoute{Handle: r.HandlersRaw, Terminal: r.Terminal})
				}
			}
			c.routes(pending, nil)
		}
	}
	return c.err()
}

// proxiesAfter counts the reverse_proxy handlers after one mcp_auth with
// secret_headers, by transport.
type proxiesAfter struct{ plain, viaMCPAuth int }

type routeCheck struct{ scopes []*proxiesAfter }

// err is errNoSecretsTransport when an mcp_auth with secret_headers is
// followed by reverse_proxy handlers and none of them uses the mcp_auth
// transport.
func (c *routeCheck) err() error {
	for _, s := range c.scopes {
		if s.plain > 0 && s.viaMCPAuth == 0 {
			return errNoSecretsTransport
		}
	}
	return nil
}

type rawRoute struct {
	Handle   []json.RawMessage `json:"handle"`
	Terminal bool              `json:"terminal"`
}

type rawHandler struct {
	Handler   string     `json:"handler"`
	Routes    []rawRoute `json:"routes"`
	Transport *struct {
		Protocol string `json:"protocol"`
	} `json:"transport"`
	SecretHeaders []json.RawMessage `json:"secret_headers"`
}

// routes walks a route list in order; active are the mcp_auth handlers that
// ran before it. It returns the mcp_auth handlers that may have run after
// it: those of a terminal route end with it.
func (c *routeCheck) routes(rs []rawRoute, active []*proxiesAfter) []*proxiesAfter {
	for _, r := range rs {
		after := c.handlers(r.Handle, active)
		if !r.Terminal {
			active = after
		}
	}
	return active
}

// handlers walks handler JSON in order, like routes (appending never
// touches the caller's array).
func (c *routeCheck) handlers(hs []json.RawMessage, active []*proxiesAfter) []*proxiesAfter {
	active = slices.Clip(active)
	for _, raw := range hs {
		var h rawHandler
		if json.Unmarshal(raw, &h) != nil {
			continue // not ours, nor a subroute or reverse_proxy we know
		}
		switch h.Handler {
		case "mcp_auth":
			if len(h.SecretHeaders) > 0 {
				s := &proxiesAfter{}
				c.scopes = append(c.scopes, s)
				active = append(active, s)
			}
		case "reverse_proxy":
			via := h.Transport != nil && h.Transport.Protocol == "mcp_auth"
			for _, s := range active {
				if via {
					s.viaMCPAuth++
				} else {
					s.plain++
				}
			}
		case "subroute":
			active = c.routes(h.Routes, active)
		}
	}
	return active
}

// Interface guards: reverse_proxy type-asserts these on its transport.
var (
	_ caddy.Provisioner                                = (*Transport)(nil)
	_ caddy.CleanerUpper                               = (*Transport)(nil)
	_ caddyfile.Unmarshaler                            = (*Transport)(nil)
	_ http.RoundTripper                                = (*Transport)(nil)
	_ reverseproxy.TLSTransport                        = (*Transport)(nil)
	_ reverseproxy.H2CTransport                        = (*Transport)(nil)
	_ reverseproxy.HealthCheckSchemeOverriderTransport = (*Transport)(nil)
	_ reverseproxy.ProxyProtocolTransport              = (*Transport)(nil)
	_ reverseproxy.RequestHeaderOpsTransport           = (*Transport)(nil)
)
