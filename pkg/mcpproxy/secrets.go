package mcpproxy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

// Secret headers travel separately from the identity headers in a front
// door whose proxy logs the request it forwards (Caddy's reverse_proxy logs
// the upstream request's headers, redacting only Authorization-like ones):
// the guard sets the identity headers on the request (InjectIdentity) and
// puts the secret headers in its context (WithSecrets); the last hop adds
// them to its own copy of the outgoing request (SecretsFrom, Inject), after
// every log has seen it.

// Secrets are the secret headers of one admitted request, on their way to
// the hop that sends it upstream.
type Secrets struct {
	values    []secretValue
	delivered atomic.Bool
}

type secretsKey struct{}

// InjectIdentity strips the client's Authorization and every client copy of
// a managed header from h (see Injector.Strip), then sets the identity
// headers for st. Unlike Inject it sets no secret header.
func (g *Guard) InjectIdentity(h http.Header, st *State) {
	var id *rs.Identity
	if st != nil {
		id = st.id
	}
	g.inject.applyIdentity(h, id)
}

// Secrets returns the secret headers for one request, or nil when none
// are configured.
func (g *Guard) Secrets() *Secrets {
	if len(g.inject.secrets) == 0 {
		return nil
	}
	return &Secrets{values: g.inject.secrets}
}

// Delivered reports whether Inject has set s on an outgoing request.
func (s *Secrets) Delivered() bool { return s != nil && s.delivered.Load() }

// Format prints no value, so a stray %v in a log shows none.
func (s *Secrets) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, "mcpproxy.Secrets(redacted)") }

// WithSecrets returns ctx carrying s (ctx itself when s is nil).
func WithSecrets(ctx context.Context, s *Secrets) context.Context {
	if s == nil {
		return ctx
	}
	return context.WithValue(ctx, secretsKey{}, s)
}

// SecretsFrom returns the secrets ctx carries (WithSecrets), or nil.
func SecretsFrom(ctx context.Context) *Secrets {
	s, _ := ctx.Value(secretsKey{}).(*Secrets)
	return s
}

// Inject sets the secret headers on h, replacing any value there, and
// marks s delivered. h must be the header of the request copy that goes
// upstream, one that no log sees.
func (s *Secrets) Inject(h http.Header) {
	for _, v := range s.values {
		h[v.header] = []string{v.value}
	}
	s.delivered.Store(true)
}

// applyIdentity is Apply without the secret headers: it strips (see Strip)
// and sets the identity headers for id.
func (in *Injector) applyIdentity(h http.Header, id *rs.Identity) {
	in.Strip(h)
	if id == nil {
		return
	}
	h[in.subject] = []string{EncodeHeaderValue(id.Subject)}
	for _, c := range in.claims {
		if v, ok := ClaimHeaderValue(id.Claims[c.claim]); ok {
			h[c.header] = []string{v}
		}
	}
}
