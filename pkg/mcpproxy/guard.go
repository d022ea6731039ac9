package mcpproxy

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/errormap"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/ratelimit"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

// Options are the collaborators of a Handler.
type Options struct {
	Logger *zap.Logger
	// Registerer receives the proxy's metrics (may be nil).
	Registerer prometheus.Registerer
	// Transport reaches the upstream (default: a tuned clone of
	// http.DefaultTransport).
	Transport http.RoundTripper
	// Limiter, when set, applies the per-caller rate limits after the
	// scope policy.
	Limiter *ratelimit.Limiter
	// Backend, when set, serves admitted requests in place of the reverse
	// proxy to Policy.Upstream (the stdio bridge); it finds the caller
	// with StateFrom.
	Backend http.Handler
	// SessionKey binds session ids to callers: session_key resolved, or
	// the per-process key when it is unset (front doors draw that once per
	// process with NewProcessSessionKey and keep it across reloads, so
	// open sessions survive them). Empty: a key is drawn for this Guard.
	SessionKey []byte
	// AuditLog receives the audit events (nil: no audit log); see
	// NewAuditLog and BeginAudit.
	AuditLog *zap.Logger
	// AccessLog receives the sidecar Handler's line per request (default
	// Logger). Sampling it, if at all, is the caller's choice; audit
	// events and warnings never go through it.
	AccessLog *zap.Logger
	// TracerProvider traces requests (see tracing.go). Nil: a span already
	// in the request's context (Caddy's tracing) is followed, else
	// nothing is traced.
	TracerProvider trace.TracerProvider
	// Tools and Methods are names the metrics' tool and method labels
	// keep besides the MCP methods and required_scopes.tools (the rate
	// limits' tools and methods); any other name is "other".
	Tools, Methods []string
}

// Guard is the MCP-aware part of the front door that does not depend on
// how the request is proxied, so the sidecar and the Caddy module share it:
// Origin/Host checks, CORS, bearer-token challenge, body buffering and
// inspection, header/body consistency, the scope policy and session
// unbinding on the way in; the ResponseWriter on the way out.
type Guard struct {
	validator  *rs.Validator
	challenger rs.Challenger
	prm        map[string]http.Handler
	inject     *Injector
	origins    *OriginPolicy
	scopes     *scopePolicy
	denial     string
	limiter    *ratelimit.Limiter
	binder     *SessionBinder
	rewrite    bool
	maxBody    int64
	bodyRead   time.Duration // body_read_timeout
	log        *zap.Logger
	audit      *zap.Logger // audit events (nil: off)
	metrics    *Metrics
	labels     *labels
	tp         trace.TracerProvider // nil: follow the context's span
}
type ctxKey struct{}

// State is what the Guard learned about an admitted request; it travels
// with the request to the proxy and the ResponseWriter.
type State struct {
	id  *rs.Identity
	req *Request
	// resumed marks a GET that resumes an SSE stream (Last-Event-ID).
	resumed bool
	// path is the request's, for the ResponseWriter's log.
	path string
	// filter removes list entries the caller may not use (nil: none).
	filter func([]byte) ([]byte, bool)
	// rec is the request's record (nil without BeginAudit).
	rec *auditRecord
}

// Identity is the validated caller.
func (s *State) Identity() *rs.Identity { return s.id }

// Request is the inspected JSON-RPC body (nil when not a JSON-RPC POST).
func (s *State) Request() *Request { return s.req }

// NewGuard builds the shared request guard from normalized configs.
func NewGuard(rc *rs.Config, pc *Policy, v *rs.Validator, inj *Injector, o Options) (*Guard, error) {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	mdURL, err := rs.MetadataURL(rc.Resource)
	if err != nil {
		return nil, fmt.Errorf("metadata url: %w", err)
	}
	mh, err := rs.NewMetadataHandler(rc.Metadata())
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	origins, err := NewOriginPolicy(rc.Resource, pc.AllowedOrigins)
	if err != nil {
		return nil, err
	}
	g := &Guard{
		validator:  v,
		challenger: rs.Challenger{MetadataURL: mdURL, Scopes: rc.ChallengeScopes},
		prm:        map[string]http.Handler{},
		inject:     inj,
		origins:    origins,
		scopes:     newScopePolicy(pc.RequiredScopes, pc.ScopeImplies),
		denial:     pc.ScopeDenial,
		limiter:    o.Limiter,
		rewrite:    pc.StripErrorStructuredContent == nil || *pc.StripErrorStructuredContent,
		maxBody:    pc.MaxBodyBytes,
		bodyRead:   time.Duration(pc.BodyReadTimeout),
		log:        o.Logger,
		audit:      o.AuditLog,
		tp:         o.TracerProvider,
	}
	if g.metrics, err = NewMetrics(o.Registerer); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	g.labels = newLabels(append(slices.Sorted(maps.Keys(pc.RequiredScopes.Methods)), o.Methods...),
		append(slices.Sorted(maps.Keys(pc.RequiredScopes.Tools)), o.Tools...))
	g.metrics.prime(g.labels)
	if g.maxBody <= 0 {
		g.maxBody = DefaultMaxBodyBytes
	}
	if g.bodyRead <= 0 {
		g.bodyRead = DefaultBodyReadTimeout
	}
	for _, p := range rs.MetadataPaths(rc.Resource) {
		g.prm[p] = mh
	}
	key := o.SessionKey
	if len(key) == 0 {
		if key, err = NewProcessSessionKey(); err != nil {
			return nil, err
		}
	}
	if g.binder, err = NewSessionBinder(key); err != nil {
		return nil, err
	}
	return g, nil
}

// NewProcessSessionKey draws a random session-binding key for a process
// whose configuration sets no session_key.
func NewProcessSessionKey() ([]byte, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("session key: %w", err)
	}
	return key, nil
}

// UpstreamFailure answers a transport failure reaching the MCP server: an
// agent-safe MCP answer for each JSON-RPC request (a tool error result for
// tools/call, a JSON-RPC error otherwise; a JSON array for a batch), else
// 502 (504 on timeout).
// The cause is logged, never sent. w may be the request's ResponseWriter.
func (g *Guard) UpstreamFailure(w http.ResponseWriter, r *http.Request, st *State, err error) {
	g.log.Warn("upstream request failed", zap.String("path", r.URL.Path), zap.Error(err))
	f := errormap.FromTransport(err)
	var rec *auditRecord
	if st != nil {
		rec = st.rec
	}
	if f.IsZero() {
		rec.noteOutcome(OutcomeCanceled)
		return
	}
	if rw, ok := w.(*ResponseWriter); ok {
		if rw.wrote {
			return
		}
		rw.wrote, rw.mode = true, modeMapped
		w = rw.w
	}
	rec.noteOutcome(outcomeOfTransport(f))
	rec.noteFailure()
	if st != nil {
		if body, ok := failureAnswer(st.req, f); ok {
			writeFailureBody(w, body)
			return
		}
	}
	plain(w, errormap.GatewayStatus(f))
}

// Inject sets the identity and secret headers on h (after stripping the
// client's Authorization and spoofed copies).
func (g *Guard) Inject(h http.Header, st *State) {
	var id *rs.Identity
	if st != nil {
		id = st.id
	}
	g.inject.Apply(h, id)
}

func plain(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, http.StatusText(status))
}

// jsonrpcError writes an HTTP error status with a JSON-RPC error body
// without id (as MCP servers do for transport-level refusals).
func jsonrpcError(w http.ResponseWriter, status, code int, msg string) {
	jsonrpcErrorID(w, nil, status, code, msg)
}

// WriteRPCError writes an HTTP status with a JSON-RPC error body answering
// id (null when empty): the transport-level refusals of the front door
// and of the handlers behind the Guard (the stdio bridge).
func WriteRPCError(w http.ResponseWriter, status int, id json.RawMessage, code int, msg string) {
	jsonrpcErrorID(w, id, status, code, msg)
}

// jsonrpcErrorID is jsonrpcError answering the request with the given id
// (null when id is empty).
func jsonrpcErrorID(w http.ResponseWriter, id json.RawMessage, status, code int, msg string) {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	type errObj struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	b, _ := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   errObj          `json:"error"`
	}{"2.0", id, errObj{code, msg}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// corsHeaders are the CORS answers for browser MCP clients (Arcade's,
// with the allowed Origin echoed when there is one).
func corsHeaders(h http.Header, origin string) {
	if origin != "" {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
	} else {
		h.Set("Access-Control-Allow-Origin", "*")
	}
	h.Set("Access-Control-Expose-Headers", "WWW-Authenticate, Mcp-Session-Id, MCP-Protocol-Version")
}

func preflightHeaders(h http.Header, origin string) {
	corsHeaders(h, origin)
	h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization, Mcp-Session-Id, Accept, MCP-Protocol-Version, Last-Event-ID, Mcp-Method, Mcp-Name")
	h.Set("Access-Control-Max-Age", "86400")
}

// Admit runs every check of the way in. It returns the state to proxy
// with, or false when it has already answered the request (PRM, preflight,
// challenge, refusal). r's body is replaced by its buffered copy and the
// Mcp-Session-Id header by the upstream's id. A refusal never waits for a
// body it did not read (abandonUnreadBody).
func (g *Guard) Admit(w http.ResponseWriter, r *http.Request) (_ *State, _ string, admitted bool) {
	rec := recordFrom(r)
	// Until the body is read, any answer closes the connection: a refusal
	// abandons the body (abandonUnreadBody moves the read deadline to now),
	// and a kept-alive connection would carry that deadline into the next
	// request (Caddy's body reader keeps it), cancelling it at once.
	unread := hasBody(r)
	if unread {
		w.Header().Set("Connection", "close")
	}
	defer func() {
		if !admitted {
			g.abandonUnreadBody(w, r) // a refusal never waits for the rest of the body
		} else if rec != nil {
			rec.admitted = true
		}
	}()
	if mh, ok := g.prm[r.URL.Path]; ok {
		g.abandonUnreadBody(w, r) // before the answer: it may be flushed early
		mh.ServeHTTP(w, r)
		rec.served("metadata")
		return nil, "", false
	}
	origins := r.Header.Values("Origin")
	if !g.origins.AllowOrigin(origins) || !g.origins.AllowHost(r.Host) {
		jsonrpcError(w, http.StatusForbidden, -32000, "Forbidden: Origin or Host not allowed")
		return nil, "origin", false
	}
	origin := ""
	if len(origins) == 1 {
		origin = origins[0]
	}
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		preflightHeaders(w.Header(), origin)
		w.WriteHeader(http.StatusNoContent)
		rec.served("preflight")
		return nil, "", false
	}
	if !transportMethod(r.Method) {
		// PUT, PATCH, HEAD, a plain OPTIONS, custom tokens: not MCP, and
		// never forwarded, whatever the body says.
		w.Header().Set("Allow", allowedMethods)
		plain(w, http.StatusMethodNotAllowed)
		return nil, "method", false
	}
	corsHeaders(w.Header(), origin)
	tok, perr := rs.ExtractBearer(r.Header, r.URL.Query())
	if perr != nil {
		g.challenger.Write(w, perr)
		return nil, perr.Reason, false
	}
	id, err := g.validate(r, rec, tok)
	if err != nil {
		g.challenger.Write(w, err)
		var e *rs.Error
		if errors.As(err, &e) {
			return nil, e.Reason, false
		}
		return nil, "invalid", false
	}
	st := &State{id: id, path: r.URL.Path, rec: rec}
	if rec != nil {
		rec.id = id
	}
	body, err := g.bufferBody(w, r)
	if err != nil {
		status, reason := bodyRefusal(err)
		plain(w, status)
		return nil, reason, false
	}
	if unread {
		w.Header().Del("Connection") // the body is in: the connection may live on
	}
	if r.Method == http.MethodPost {
		if reason := unreadableBody(r.Header); reason != "" {
			// Forwarding bytes the guard cannot read would let the MCP
			// server see a request the policy never saw.
			plain(w, http.StatusUnsupportedMediaType)
			return nil, reason, false
		}
		req, err := Inspect(body)
		if err != nil {
			var be *BodyError
			if !errors.As(err, &be) {
				be = parseError()
			}
			jsonrpcErrorID(w, be.ID, http.StatusBadRequest, be.Code, be.Msg)
			return nil, "bad_request", false
		}
		st.req = req
		if rec != nil {
			rec.req = req
		}
		if msg := CheckMirroredHeaders(r.Header, req); msg != "" {
			var id json.RawMessage
			if req != nil && !req.Batch && len(req.Messages) == 1 {
				id = req.Messages[0].ID
			}
			jsonrpcErrorID(w, id, http.StatusBadRequest, -32020, msg)
			return nil, "bad_request", false
		}
		g.reachedPolicy(r, st) // audited from here on, admitted or not
		if reason := g.policy(w, r, rec, req, id); reason != "" {
			return nil, reason, false
		}
		st.filter = g.listFilter(req, id)
		if req != nil && (len(req.ToolCallIDs) > 0 && g.rewrite || st.filter != nil) {
			// Rewriting needs plain bytes: the transport then asks for
			// gzip itself and decodes it.
			r.Header.Del("Accept-Encoding")
		}
	} else if h := r.Header["Mcp-Method"]; len(h) > 0 {
		jsonrpcError(w, http.StatusBadRequest, -32020, "Mcp-Method header requires a JSON-RPC body")
		return nil, "bad_request", false
	} else if len(body) > 0 {
		// GET and DELETE carry no message: a body here is read by nobody
		// the policy knows of.
		jsonrpcError(w, http.StatusBadRequest, jsonrpc.CodeInvalidRequest, "Bad Request: "+r.Method+" takes no body")
		return nil, "bad_request", false
	}
	if r.Method == http.MethodGet && r.Header.Get("Last-Event-ID") != "" && g.rewrite {
		st.resumed = true
		r.Header.Del("Accept-Encoding")
	}
	if sids := r.Header.Values("Mcp-Session-Id"); len(sids) > 0 {
		if len(sids) > 1 {
			jsonrpcError(w, http.StatusBadRequest, jsonrpc.CodeInvalidRequest, "Bad Request: more than one Mcp-Session-Id")
			return nil, "bad_request", false
		}
		upstreamID, ok := g.binder.Unwrap(id.Issuer, id.Subject, sids[0])
		if !ok {
			// As for an unknown session: the client starts a new one.
			jsonrpcError(w, http.StatusNotFound, -32001, "Session not found")
			return nil, "session", false
		}
		r.Header.Set("Mcp-Session-Id", upstreamID)
	}
	return st, "", true
}

// policy applies the scope policy and the rate limits to an inspected
// request, answering a refusal; it returns the refusal's reason ("":
// allowed).
func (g *Guard) policy(w http.ResponseWriter, r *http.Request, rec *auditRecord, req *Request, id *rs.Identity) string {
	end := g.policySpan(r, rec)
	if needed := g.scopes.Needed(req); g.scopes.Missing(needed, id) != nil {
		end(AuditDenied, "insufficient_scope")
		// The challenge names every scope the operation needs, held
		// ones included (the client asks for the whole set).
		if g.denial == DenyError && g.denyInProtocol(w, req, needed, g.scopes.Missing(needed, id)) {
			return "insufficient_scope"
		}
		g.challenger.Write(w, rs.InsufficientScope(needed))
		return "insufficient_scope"
	}
	if g.limiter != nil && !g.allowRate(w, r, req, id) {
		end(AuditRateLimited, "rate_limited")
		return "rate_limited"
	}
	end(AuditAllowed, "")
	return ""
}

// Forward prepares an admitted request for the MCP server (or the handler
// that serves it): the ResponseWriter for the way out (Writer), the state
// in the context (WithState), and, when traced, the upstream span with its
// traceparent in r's header. Serve the returned request through the
// returned writer, then call its Finish.
func (g *Guard) Forward(w http.ResponseWriter, r *http.Request, st *State) (*ResponseWriter, *http.Request) {
	rw := g.Writer(w, st)
	ctx := WithState(r.Context(), st)
	if rec := st.rec; rec != nil {
		rec.forwardAt = time.Now()
		ctx = g.upstreamSpan(ctx, r, rec)
	}
	return rw, r.WithContext(ctx)
}

// Writer wraps w for the way out of an admitted request.
func (g *Guard) Writer(w http.ResponseWriter, st *State) *ResponseWriter {
	rw := NewResponseWriter(w, st.req, st.id, g.binder, g.rewrite)
	rw.log, rw.path = g.log, st.path
	rw.filter = st.filter
	rw.audit = st.rec
	if st.resumed {
		rw.ids = anyResponse
	}
	return rw
}

var errTooLarge = errors.New("request body too large")

// bufferedBody is a request body bufferBody read whole: nothing of it is
// left on the connection.
type bufferedBody struct{ *bytes.Reader }

func (bufferedBody) Close() error { return nil }

// errBodyTimeout is a body not sent within body_read_timeout.
var errBodyTimeout = errors.New("request body not received in time")

// bodyRefusal is the answer to a body bufferBody could not read: 413
// too large, 408 too slow, 400 otherwise (broken chunking, client gone).
func bodyRefusal(err error) (status int, reason string) {
	switch {
	case errors.Is(err, errTooLarge):
		return http.StatusRequestEntityTooLarge, "body_too_large"
	case errors.Is(err, errBodyTimeout):
		return http.StatusRequestTimeout, "body_timeout"
	}
	return http.StatusBadRequest, "bad_request"
}

// bufferBody reads the whole request body (at most maxBody bytes) before
// forwarding: a streamed body can hang server→client requests behind Go's
// reverse proxy (spec.md §3.4). The client has bodyRead to send it. On
// any error the rest of the body is abandoned (abandonUnreadBody): the
// answer carries Connection: close and nothing waits for the client again;
// the read deadline is cleared only after a complete read, since an
// admitted request (an SSE stream) must not inherit it.
func (g *Guard) bufferBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.ContentLength > g.maxBody {
		g.abandonUnreadBody(w, r)
		return nil, errTooLarge
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(g.bodyRead))
	b, err := io.ReadAll(io.LimitReader(r.Body, g.maxBody+1))
	if err == nil && int64(len(b)) > g.maxBody {
		err = errTooLarge
	}
	if err != nil {
		g.abandonUnreadBody(w, r)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			err = fmt.Errorf("%w: %w", errBodyTimeout, err)
		}
		if errors.Is(err, errTooLarge) {
			return nil, err
		}
		return nil, fmt.Errorf("read body: %w", err)
	}
	_ = rc.SetReadDeadline(time.Time{})
	_ = r.Body.Close()
	r.Body = http.NoBody
	if len(b) > 0 {
		r.Body = bufferedBody{bytes.NewReader(b)}
	}
	r.ContentLength = int64(len(b))
	r.Header.Del("Transfer-Encoding")
	r.TransferEncoding = nil
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	return b, nil
}

// statusWriter records the status for the access log and keeps
// http.ResponseController working (Flush for SSE) through Unwrap.
