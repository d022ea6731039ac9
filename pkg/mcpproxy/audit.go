package mcpproxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/errormap"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

// The audit log: one structured event per JSON-RPC message of every MCP
// request that reached the policy (a valid token and an inspected
// JSON-RPC body), whatever the decision. A front door calls BeginAudit
// before Admit and Finish once the answer is out (the same per-request
// record feeds the metrics, the trace and the access log line, for every
// request). Admit marks the request
// when it reaches the scope check (reachedPolicy), so refusals from there
// on (insufficient_scope, a rate limit, an unknown session) are events as
// well as admitted requests; earlier refusals (401, 400, PRM, preflight)
// are not. The ResponseWriter tells the record whether each tools/call
// result had isError. An event never holds a token, a header value, an
// argument (only the body's size) or a session id (only a hash).

// Decisions of an audit event.
const (
	AuditAllowed     = "allowed"
	AuditDenied      = "denied"
	AuditRateLimited = "rate_limited"
)

// AuditOptions configure the audit log (the `audit` block).
type AuditOptions struct {
	// Enabled turns the audit log on (default true).
	Enabled *bool `yaml:"enabled" json:"enabled,omitempty"`
	// File, when set, receives the events as JSON lines (appended; created
	// with mode 0600; opened once per configuration) instead of the front
	// door's log output.
	File string `yaml:"file" json:"file,omitempty"`
}

// On reports whether the audit log is on.
func (a AuditOptions) On() bool { return a.Enabled == nil || *a.Enabled }

func (a AuditOptions) clone() AuditOptions {
	if a.Enabled != nil {
		a.Enabled = ptr(*a.Enabled)
	}
	return a
}

// normalize fills the default and checks the file name (not whether it
// can be opened: see NewAuditLog).
func (a *AuditOptions) normalize() error {
	if a.Enabled == nil {
		a.Enabled = ptr(true)
	}
	return a.check()
}

func (a AuditOptions) check() error {
	f := a.File
	switch {
	case f == "":
		return nil
	case !a.On():
		return &rs.FieldError{Field: "audit.file", Msg: "is set but the audit log is off"}
	case strings.ContainsRune(f, 0) || strings.TrimSpace(f) != f:
		return &rs.FieldError{Field: "audit.file", Msg: fmt.Sprintf("%q is not a usable file name", f)}
	case strings.HasSuffix(f, "/") || strings.HasSuffix(f, string(filepath.Separator)) || filepath.Base(f) == "." || filepath.Base(f) == "..":
		return &rs.FieldError{Field: "audit.file", Msg: fmt.Sprintf("%q names a directory; name the file", f)}
	}
	return nil
}

// NewAuditLog returns the logger audit events go to (nil when the audit
// log is off): a JSON-lines logger on the file when a.File is set, opened
// with open (nil: OpenAuditFile), else log.Named("audit"), so the events
// share the front door's log output under their own logger name. a is
// normalized; an open error is a *rs.FieldError for audit.file.
func NewAuditLog(a AuditOptions, log *zap.Logger, open func(path string) (io.Writer, error)) (*zap.Logger, error) {
	if !a.On() {
		return nil, nil
	}
	if log == nil {
		log = zap.NewNop()
	}
	if a.File == "" {
		return log.Named("audit"), nil
	}
	if a.check() != nil {
		return nil, nil // reported by Policy.Normalized
	}
	if open == nil {
		open = OpenAuditFile
	}
	w, err := open(a.File)
	if err != nil {
		return nil, &rs.FieldError{Field: "audit.file", Msg: err.Error()}
	}
	enc := zapcore.NewJSONEncoder(zapcore.EncoderConfig{
		TimeKey: "ts", LevelKey: "level", NameKey: "logger", MessageKey: "msg",
		EncodeTime: zapcore.ISO8601TimeEncoder, EncodeLevel: zapcore.LowercaseLevelEncoder,
		EncodeDuration: zapcore.StringDurationEncoder, LineEnding: zapcore.DefaultLineEnding,
	})
	// One write per event (O_APPEND), so lines of concurrent writers (a
	// reload's old and new configuration) never interleave.
	return zap.New(zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), zapcore.InfoLevel)).Named("audit"), nil
}

// OpenAuditFile opens the audit file for appending, creating it with mode
// 0600. It stays open as long as the front door that uses it is reachable
// (requests still served by a replaced configuration keep writing to it);
// the runtime closes it after that.
func OpenAuditFile(path string) (io.Writer, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
}

// CheckAuditFile is OpenAuditFile for a configuration check: it creates
// and writes nothing, but refuses a path that is a directory or whose
// directory does not exist.
func CheckAuditFile(path string) (io.Writer, error) {
	fi, err := os.Stat(path)
	switch {
	case err == nil && fi.IsDir():
		return nil, errors.New("is a directory")
	case err == nil:
		return io.Discard, nil
	case !errors.Is(err, os.ErrNotExist):
		return nil, err
	}
	dir := filepath.Dir(path)
	if di, err := os.Stat(dir); err != nil || !di.IsDir() {
		return nil, fmt.Errorf("directory %s does not exist", dir)
	}
	return io.Discard, nil
}

type auditKey struct{}

// auditRecord is one request's record, in its context from BeginAudit on:
// what the front door learned on the way in and out, for the metrics, the
// trace, the access log line and the audit events, all written once by
// Finish.
type auditRecord struct {
	start time.Time
	sw    *statusWriter
	// st is set when the request reached the policy (reachedPolicy): it
	// is then audited.
	st *State
	// id is the validated caller (also when a later check refused).
	id *rs.Identity
	// req is the inspected JSON-RPC body (nil: none, or not readable).
	req *Request
	// local names what the front door answered itself: "metadata" (the
	// Protected Resource Metadata), "preflight" (CORS).
	local string
	// admitted: Admit let the request through.
	admitted bool
	// session is the hash of the Mcp-Session-Id the client sent.
	session string
	bytes   int64
	// isError: normalized tools/call id → isError of its result.
	isError map[string]bool
	// upstream is the upstream's status (0: it gave none); outcome is how
	// the exchange with it ended (OutcomeOK, ...; "" before one).
	upstream int
	outcome  string
	// forwardAt is when the request left for the upstream, upstreamAt
	// when its response headers (or its failure) came back.
	forwardAt, upstreamAt time.Time
	// newSession: the upstream issued a session id to a request without
	// one.
	newSession bool
	// status is the answer's status (Finish).
	status int
	done   bool
	// The trace (nil: not traced): the request's span and the upstream
	// exchange's.
	tracer       trace.Tracer
	span, upSpan trace.Span
}

// recordFrom returns r's record (nil before BeginAudit).
func recordFrom(r *http.Request) *auditRecord {
	rec, _ := r.Context().Value(auditKey{}).(*auditRecord)
	return rec
}

// BeginAudit starts r's record (and its trace span); call it before Admit
// and pass what it returns to Admit and to the rest of the request; Finish
// ends it. w is wrapped so that the record learns the answer's status (a
// writer of the sidecar's Handler is used as it is).
func (g *Guard) BeginAudit(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, *http.Request) {
	sw, ok := w.(*statusWriter)
	if !ok {
		sw = &statusWriter{ResponseWriter: w}
	}
	rec := &auditRecord{start: time.Now(), sw: sw}
	if sids := r.Header.Values("Mcp-Session-Id"); len(sids) == 1 {
		rec.session = SessionHash(sids[0])
	}
	ctx := g.startSpan(r, rec)
	return sw, r.WithContext(context.WithValue(ctx, auditKey{}, rec))
}

// reachedPolicy marks r (Admit calls it at the scope check, st complete
// but for the upstream session id): the request will be audited whatever
// the decision.
func (g *Guard) reachedPolicy(r *http.Request, st *State) {
	rec := st.rec
	if rec == nil {
		return
	}
	rec.st = st
	rec.bytes = r.ContentLength
}

// SessionHash is how the audit log names a session: the first 16 hex
// digits of the SHA-256 of the id, never the id.
func SessionHash(sid string) string {
	sum := sha256.Sum256([]byte(sid))
	return hex.EncodeToString(sum[:8])
}

// Audit is Finish without the access log fields.
//
// Deprecated: call Finish.
func (g *Guard) Audit(r *http.Request, reason string, status int) { g.Finish(r, reason, status) }

// Finish ends the record of r (as returned by BeginAudit, or derived from
// it) once its answer is out, exactly once: it counts the request in the
// metrics, ends its trace spans, writes its audit events (one per JSON-RPC
// message, if the request reached the policy) and returns the fields of
// its access log line. reason is Admit's ("" when admitted); a reason of
// "rate_limited" (or starting with "rate_limit") is decision rate_limited,
// any other denied. status is the answer's HTTP status, 0 for the one
// BeginAudit's writer saw (200 when nothing was written).
func (g *Guard) Finish(r *http.Request, reason string, status int) []zap.Field {
	_, fields := g.finish(r, reason, status)
	return fields
}

// finish is Finish, also returning the request's result ("" when it was
// finished already).
func (g *Guard) finish(r *http.Request, reason string, status int) (string, []zap.Field) {
	rec := recordFrom(r)
	if rec == nil || rec.done {
		return "", nil
	}
	rec.done = true
	if status == 0 {
		status = rec.sw.statusCode()
	}
	rec.status = status
	if rec.admitted && rec.outcome == "" && !rec.forwardAt.IsZero() && r.Context().Err() != nil {
		rec.outcome = OutcomeCanceled
	}
	result, label := classifyRequest(reason, rec)
	g.metrics.record(g.labels, rec, result, label, r.Method)
	g.endSpans(r, rec, result, label)
	g.auditEvents(rec, reason, status)
	return result, rec.accessFields(result, reason)
}

// accessFields are the request's fields of the access log line, after
// the HTTP method, path, status and duration the front door logs itself.
func (rec *auditRecord) accessFields(result, reason string) []zap.Field {
	f := make([]zap.Field, 0, 16)
	f = append(f, zap.String("result", result))
	if reason != "" {
		f = append(f, zap.String("auth_failure", reason))
	} else if rec.local != "" {
		f = append(f, zap.String("served", rec.local))
	}
	if req := rec.req; req != nil {
		if req.Batch {
			f = append(f, zap.String("mcp_method", labelBatch), zap.Int("mcp_batch_size", len(req.Messages)))
		} else if len(req.Messages) == 1 {
			m := req.Messages[0]
			if m.Method != "" {
				f = append(f, zap.String("mcp_method", m.Method))
			} else {
				f = append(f, zap.String("mcp_method", labelResponse))
			}
			if m.Name != "" {
				f = append(f, zap.String("mcp_name", m.Name))
			}
			if m.Method == "tools/call" && m.IsRequest() {
				if v, ok := rec.isError[string(errormap.NormalizeID(m.ID))]; ok {
					f = append(f, zap.Bool("is_error", v))
				}
			}
		}
	}
	if id := rec.id; id != nil {
		f = append(f, zap.String("issuer", id.Issuer), zap.String("subject", id.Subject))
		if id.ClientID != "" {
			f = append(f, zap.String("client_id", id.ClientID))
		}
	}
	if rec.session != "" {
		f = append(f, zap.String("session", rec.session))
	}
	if rec.outcome != "" {
		f = append(f, zap.String("upstream_outcome", rec.outcome))
	}
	if rec.upstream != 0 {
		f = append(f, zap.Int("upstream_status", rec.upstream))
	}
	if rec.span != nil {
		if sc := rec.span.SpanContext(); sc.IsValid() {
			f = append(f, zap.String("trace_id", sc.TraceID().String()))
		}
	}
	return f
}

// auditEvents writes the audit events of a request that reached the
// policy.
func (g *Guard) auditEvents(rec *auditRecord, reason string, status int) {
	if g.audit == nil || rec.st == nil || rec.st.req == nil {
		return
	}
	ce := g.audit.Check(zap.InfoLevel, "mcp request")
	if ce == nil {
		return
	}
	decision := AuditAllowed
	switch {
	case strings.HasPrefix(reason, "rate_limit"):
		decision = AuditRateLimited
	case reason != "":
		decision = AuditDenied
	}
	common := make([]zap.Field, 0, 16)
	common = append(common, zap.String("decision", decision))
	if reason != "" {
		common = append(common, zap.String("reason", reason))
	}
	if id := rec.st.id; id != nil {
		common = append(common, zap.String("issuer", id.Issuer), zap.String("subject", id.Subject))
		if id.ClientID != "" {
			common = append(common, zap.String("client_id", id.ClientID))
		}
	}
	if rec.session != "" {
		common = append(common, zap.String("session", rec.session))
	}
	common = append(common, zap.Int("status", status))
	if rec.outcome == OutcomeErrorStatus {
		common = append(common, zap.Int("upstream_status", rec.upstream))
	}
	common = append(common,
		zap.Float64("latency_ms", float64(time.Since(rec.start).Microseconds())/1000),
		zap.Int64("request_bytes", rec.bytes))
	msgs := rec.st.req.Messages
	for i, m := range msgs {
		if i > 0 {
			if ce = g.audit.Check(zap.InfoLevel, "mcp request"); ce == nil {
				return
			}
		}
		fields := make([]zap.Field, 0, len(common)+3)
		if m.Method != "" {
			fields = append(fields, zap.String("method", m.Method))
		}
		if m.Name != "" {
			fields = append(fields, zap.String("name", m.Name))
		}
		fields = append(fields, common...)
		if m.Method == "tools/call" && m.IsRequest() {
			if v, ok := rec.isError[string(errormap.NormalizeID(m.ID))]; ok {
				fields = append(fields, zap.Bool("is_error", v))
			}
		}
		ce.Write(fields...)
	}
}

// auditResponse is what the audit reads of a JSON-RPC message of the
// answer.
type auditResponse struct {
	ID     jsontext.Value `json:"id"`
	Method jsontext.Value `json:"method"`
	Result *struct {
		IsError jsontext.Value `json:"isError"`
	} `json:"result"`
}

// noteResults records isError of the tools/call results in msg (one
// JSON-RPC message or a batch; a JSON body or an SSE event's data), as the
// ResponseWriter passes it before rewriting. ids is the ResponseWriter's
// (nil: rewriting is off, and so is this).
func (a *auditRecord) noteResults(msg []byte, ids func(json.RawMessage) bool) {
	if a == nil || ids == nil || a.req == nil || len(a.isError) >= len(a.req.ToolCallIDs) {
		return
	}
	var batch []auditResponse
	if t := bytes.TrimLeft(msg, " \t\r\n"); len(t) > 0 && t[0] == '[' {
		if jsonv2.Unmarshal(msg, &batch) != nil {
			return
		}
	} else {
		var one auditResponse
		if jsonv2.Unmarshal(msg, &one) != nil {
			return
		}
		batch = []auditResponse{one}
	}
	for _, m := range batch {
		if m.Method != nil || m.Result == nil || len(m.ID) == 0 || !a.req.ToolCallIDs.Has(json.RawMessage(m.ID)) {
			continue
		}
		if a.isError == nil {
			a.isError = map[string]bool{}
		}
		a.isError[string(errormap.NormalizeID(json.RawMessage(m.ID)))] = string(m.Result.IsError) == "true"
	}
}

// noteFailure records that the front door answered in place of the
// upstream: every tools/call of the request got a tool error result.
func (a *auditRecord) noteFailure() {
	if a == nil || a.req == nil {
		return
	}
	for _, m := range a.req.Messages {
		if m.Method == "tools/call" && m.IsRequest() {
			if a.isError == nil {
				a.isError = map[string]bool{}
			}
			a.isError[string(errormap.NormalizeID(m.ID))] = true
		}
	}
}

// noteAnswer records the upstream's answer (its final status and
// headers, before the session id is wrapped).
func (a *auditRecord) noteAnswer(code int, h http.Header) {
	if a == nil || a.outcome != "" {
		return
	}
	a.upstream, a.upstreamAt = code, time.Now()
	a.outcome = OutcomeOK
	if mapsStatus(code) {
		a.outcome = OutcomeErrorStatus
	}
	if a.session == "" && h.Get("Mcp-Session-Id") != "" {
		a.newSession = true
	}
}

// noteOutcome records how an exchange without an upstream answer ended.
func (a *auditRecord) noteOutcome(outcome string) {
	if a == nil || a.outcome != "" {
		return
	}
	a.outcome, a.upstreamAt = outcome, time.Now()
}

// served records what the front door answered itself (metadata,
// preflight).
func (a *auditRecord) served(what string) {
	if a != nil {
		a.local = what
	}
}
