package mcpproxy

import (
	"errors"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/promreg"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/errormap"
)

// Values of the result label of mcp_auth_requests_total.
const (
	// ResultAllowed: admitted and answered by the MCP server (whatever
	// its status, tool errors included).
	ResultAllowed = "allowed"
	// ResultDenied: refused by the front door (token, policy, Origin,
	// rate limit, a request it will not forward).
	ResultDenied = "denied"
	// ResultError: could not be served: keys or introspection
	// unavailable, or the MCP server failed (unreachable, timeout, an
	// error status replaced by an agent-safe answer).
	ResultError = "error"
	// ResultServed: answered by the front door itself as it should be
	// (Protected Resource Metadata, CORS preflight).
	ResultServed = "served"
)

// reasonNone is the reason of an allowed request.
const reasonNone = "none"

// requestReasons is every value of the reason label (anything else is
// "other"): Admit's reasons, renamed where the RFC 6750 error code says
// more, and the upstream outcomes.
var requestReasons = map[string]string{
	"missing":          "missing_token",
	"multiple_tokens":  "invalid_request:multiple_tokens",
	"malformed_header": "invalid_request:malformed_header",
	"token_in_query":   "invalid_request:token_in_query",
	// invalid_token, by class (rs.Error.Reason).
	"malformed":        "invalid_token:malformed",
	"issuer":           "invalid_token:issuer",
	"algorithm":        "invalid_token:algorithm",
	"type":             "invalid_token:type",
	"signature":        "invalid_token:signature",
	"expired":          "invalid_token:expired",
	"not_yet_valid":    "invalid_token:not_yet_valid",
	"issued_in_future": "invalid_token:issued_in_future",
	"missing_exp":      "invalid_token:missing_exp",
	"audience":         "invalid_token:audience",
	"missing_sub":      "invalid_token:missing_sub",
	"not_access_token": "invalid_token:not_access_token",
	"inactive":         "invalid_token:inactive",
	"invalid":          "invalid_token:other",
	// Errors.
	"keys_unavailable":          "keys_unavailable",
	"introspection_unavailable": "introspection_unavailable",
	// Policy and request shape.
	"insufficient_scope": "insufficient_scope",
	"rate_limited":       "rate_limited",
	"origin":             "origin",
	"method":             "method",
	"bad_request":        "bad_request",
	"body_too_large":     "body_too_large",
	"body_timeout":       "body_timeout",
	"content_encoding":   "content_encoding",
	"content_type":       "content_type",
	"charset":            "charset",
	"session":            "session",
}

// Upstream outcomes (the access log's upstream_outcome; reasons of
// ResultError).
const (
	// OutcomeOK: the MCP server answered; its answer went to the client.
	OutcomeOK = "ok"
	// OutcomeErrorStatus: the MCP server answered 401, 403, 429 or 5xx;
	// the front door replaced it with an agent-safe answer.
	OutcomeErrorStatus = "error_status"
	// OutcomeUnreachable: no connection (refused, DNS, TLS, reset).
	OutcomeUnreachable = "unreachable"
	// OutcomeTimeout: no answer in time.
	OutcomeTimeout = "timeout"
	// OutcomeTransportError: another transport failure.
	OutcomeTransportError = "transport_error"
	// OutcomeCanceled: the client went away before the answer.
	OutcomeCanceled = "canceled"
	// OutcomeLocal: the backend answered on the front door's behalf (a
	// limit of the stdio bridge).
	OutcomeLocal = "local"
)

// upstreamReasons name the ResultError reason of each failed outcome.
var upstreamReasons = map[string]string{
	OutcomeErrorStatus:    "upstream_error",
	OutcomeUnreachable:    "upstream_unreachable",
	OutcomeTimeout:        "upstream_timeout",
	OutcomeTransportError: "upstream_error",
}

// mcpMethods bounds the method label: the MCP methods (server-bound and
// client-bound, requests and notifications) and those the configuration
// names; anything else is "other".
var mcpMethods = []string{
	"initialize", "ping",
	"tools/list", "tools/call",
	"resources/list", "resources/read", "resources/templates/list", "resources/subscribe", "resources/unsubscribe",
	"prompts/list", "prompts/get",
	"completion/complete", "logging/setLevel",
	"sampling/createMessage", "elicitation/create", "roots/list",
	"tasks/get", "tasks/list", "tasks/result", "tasks/cancel",
	"notifications/initialized", "notifications/cancelled", "notifications/progress", "notifications/message",
	"notifications/roots/list_changed", "notifications/tools/list_changed", "notifications/prompts/list_changed",
	"notifications/resources/list_changed", "notifications/resources/updated", "notifications/tasks/status",
	"notifications/elicitation/complete",
}

// Label values other than method names.
const (
	labelOther    = "other"
	labelResponse = "response" // a JSON-RPC response the client posts (to a server request)
	labelBatch    = "batch"
)

// Metrics are the per-request collectors shared by both front doors; the
// Guard records into them once per request (Finish). Registering with a
// registry that has them already reuses those (a reload, several Caddy
// sites). Every label value is from a bounded set.
type Metrics struct {
	requests   *prometheus.CounterVec
	messages   *prometheus.CounterVec
	toolErrors *prometheus.CounterVec
	upstream   *prometheus.HistogramVec
	sessions   *prometheus.CounterVec
}

// NewMetrics registers (or reuses) the request collectors in reg (nil:
// unregistered ones).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mcp_auth", Name: "requests_total",
			Help: "HTTP requests to the MCP endpoint by result (allowed, denied, error, served) and reason (none, missing_token, invalid_token:<class>, insufficient_scope, rate_limited, origin, upstream_error, ...).",
		}, []string{"result", "reason"}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mcp_auth", Name: "mcp_requests_total",
			Help: "JSON-RPC messages forwarded to the MCP server by method, and tool for tools/call (a configured tool name, else other).",
		}, []string{"method", "tool"}),
		toolErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mcp_auth", Name: "mcp_tool_errors_total",
			Help: "tools/call results with isError true (the tool's own errors and upstream failures answered as tool errors), by tool.",
		}, []string{"tool"}),
		upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "mcp_auth", Name: "upstream_duration_seconds",
			Help:    "Time from forwarding a request to the MCP server until its response headers (or its failure), by JSON-RPC method and status code (error: no response).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}, []string{"method", "code"}),
		sessions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mcp_auth", Name: "sessions_total",
			Help: "MCP sessions by event: started (the MCP server issued a session id), deleted (a DELETE it accepted).",
		}, []string{"event"}),
	}
	var errs [5]error
	m.requests, errs[0] = promreg.Register(reg, m.requests)
	m.messages, errs[1] = promreg.Register(reg, m.messages)
	m.toolErrors, errs[2] = promreg.Register(reg, m.toolErrors)
	m.upstream, errs[3] = promreg.Register(reg, m.upstream)
	m.sessions, errs[4] = promreg.Register(reg, m.sessions)
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	m.requests.WithLabelValues(ResultAllowed, reasonNone)
	for _, e := range []string{"started", "deleted"} {
		m.sessions.WithLabelValues(e)
	}
	return m, nil
}

// labels are the bounded label sets of one Guard's configuration.
type labels struct {
	methods map[string]bool
	tools   map[string]bool
}

func newLabels(methods, tools []string) *labels {
	l := &labels{methods: map[string]bool{}, tools: map[string]bool{}}
	for _, m := range mcpMethods {
		l.methods[m] = true
	}
	for _, m := range methods {
		l.methods[m] = true
	}
	for _, t := range tools {
		l.tools[t] = true
	}
	return l
}

// method is m's method label.
func (l *labels) method(m Message) string {
	switch {
	case m.Method == "":
		return labelResponse
	case l.methods[m.Method]:
		return m.Method
	}
	return labelOther
}

// tool is the tool label of a tools/call ("" for other methods).
func (l *labels) tool(m Message) string {
	switch {
	case m.Method != "tools/call":
		return ""
	case l.tools[m.Name]:
		return m.Name
	}
	return labelOther
}

// requestMethod is the method label of a whole HTTP request: its one
// message's, "batch", or the HTTP method (GET, DELETE) without a body.
func (l *labels) requestMethod(req *Request, httpMethod string) string {
	switch {
	case req == nil:
		return httpMethod
	case req.Batch:
		return labelBatch
	case len(req.Messages) == 1:
		return l.method(req.Messages[0])
	}
	return labelOther
}

// classifyRequest maps a finished request to its result and reason labels.
func classifyRequest(reason string, rec *auditRecord) (result, label string) {
	switch {
	case rec.local != "":
		return ResultServed, rec.local
	case reason == "" && rec.admitted:
		if r, failed := upstreamReasons[rec.outcome]; failed {
			return ResultError, r
		}
		if rec.status >= 500 && rec.outcome == "" {
			return ResultError, labelOther // a handler after mcp_auth failed
		}
		return ResultAllowed, reasonNone
	case reason == "":
		return ResultError, labelOther
	}
	label, ok := requestReasons[reason]
	if !ok {
		label = labelOther
	}
	if label == "keys_unavailable" || label == "introspection_unavailable" {
		return ResultError, label
	}
	return ResultDenied, label
}

// outcomeOfTransport names a transport failure.
func outcomeOfTransport(f errormap.Failure) string {
	switch f.Kind {
	case errormap.KindNetworkTimeout:
		return OutcomeTimeout
	case errormap.KindNetworkUnreachable:
		return OutcomeUnreachable
	}
	return OutcomeTransportError
}

// record counts a finished request (Finish calls it once).
func (m *Metrics) record(l *labels, rec *auditRecord, result, reason, httpMethod string) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(result, reason).Inc()
	if !rec.admitted {
		return
	}
	if !rec.forwardAt.IsZero() && !rec.upstreamAt.IsZero() {
		code := "error"
		if rec.upstream != 0 {
			code = strconv.Itoa(rec.upstream)
		}
		m.upstream.WithLabelValues(l.requestMethod(rec.req, httpMethod), code).Observe(rec.upstreamAt.Sub(rec.forwardAt).Seconds())
	}
	if rec.newSession {
		m.sessions.WithLabelValues("started").Inc()
	}
	if strings.EqualFold(httpMethod, "DELETE") && rec.outcome == OutcomeOK && rec.upstream >= 200 && rec.upstream < 300 {
		m.sessions.WithLabelValues("deleted").Inc()
	}
	if rec.req == nil {
		return
	}
	for _, msg := range rec.req.Messages {
		tool := l.tool(msg)
		m.messages.WithLabelValues(l.method(msg), tool).Inc()
		if msg.Method == "tools/call" && msg.IsRequest() && rec.isError[string(errormap.NormalizeID(msg.ID))] {
			m.toolErrors.WithLabelValues(tool).Inc()
		}
	}
}

// prime creates the tool error series of the configured tools (and
// other) at 0, so that their rates exist before the first error.
func (m *Metrics) prime(l *labels) {
	m.toolErrors.WithLabelValues(labelOther)
	for t := range l.tools {
		m.toolErrors.WithLabelValues(t)
	}
}
