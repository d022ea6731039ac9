package mcpproxy

import (
	"context"
	"net/http"
)

// WithState returns ctx carrying the state of an admitted request, for
// the handler that serves it after the Guard (the sidecar's proxy, the
// stdio bridge, Caddy's next handlers).
func WithState(ctx context.Context, st *State) context.Context {
	return context.WithValue(ctx, ctxKey{}, st)
}

// StateFrom returns the state WithState put in ctx, or nil.
func StateFrom(ctx context.Context) *State {
	st, _ := ctx.Value(ctxKey{}).(*State)
	return st
}

// OwnAnswer returns the writer for an answer the front door gives itself
// (a limit of the stdio bridge, say) rather than one from the MCP server:
// it bypasses the ResponseWriter's upstream-failure mapping, which would
// otherwise present a 503 of ours as the upstream's. w may wrap the
// ResponseWriter (Caddy's wrappers unwrap to it); other writers are
// returned as they are.
func OwnAnswer(w http.ResponseWriter) http.ResponseWriter {
	for x := w; x != nil; {
		if rw, ok := x.(*ResponseWriter); ok {
			if rw.wrote {
				return w
			}
			rw.wrote, rw.mode = true, modeMapped
			rw.audit.noteOutcome(OutcomeLocal)
			return rw.w
		}
		u, ok := x.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			break
		}
		x = u.Unwrap()
	}
	return w
}
