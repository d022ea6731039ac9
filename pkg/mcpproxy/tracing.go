package mcpproxy

import (
	"context"
	"net"
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/errormap"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

// Tracing: a span per request (BeginAudit to Finish), with children for
// token validation, the policy and the upstream exchange. The tracer
// provider is Options.TracerProvider (the sidecar's, from its `tracing`
// option and the OTEL_* variables) or, without one, the provider of a span
// already in the request's context (Caddy's `tracing` directive), so the
// front door's spans hang under Caddy's; with neither, nothing is traced.
// The upstream gets a W3C traceparent naming the upstream span.
//
// Attributes follow the OpenTelemetry semantic conventions for MCP
// (semconv 1.40: mcp.method.name, mcp.session.id, mcp.protocol.version,
// mcp.resource.uri, gen_ai.tool.name, gen_ai.prompt.name,
// gen_ai.operation.name, jsonrpc.request.id, error.type) and HTTP; the
// front door's own are under mcp_auth.*. mcp.session.id is the session's
// hash (SessionHash), never the id; no token, header value, argument or
// subject is recorded.

// TracerName is the instrumentation scope of the front door's spans.
const TracerName = "github.com/mcp-frontdoor/mcp-frontdoor/pkg/mcpproxy"

// Span names.
const (
	SpanRequest  = "mcp.request"
	SpanValidate = "mcp_auth.validate"
	SpanPolicy   = "mcp_auth.policy"
	SpanUpstream = "mcp_auth.upstream"
)

// Attribute keys (semconv 1.40 names where they exist).
const (
	attrMCPMethod        = attribute.Key("mcp.method.name")
	attrMCPSession       = attribute.Key("mcp.session.id")
	attrMCPProtocol      = attribute.Key("mcp.protocol.version")
	attrMCPResourceURI   = attribute.Key("mcp.resource.uri")
	attrToolName         = attribute.Key("gen_ai.tool.name")
	attrPromptName       = attribute.Key("gen_ai.prompt.name")
	attrOperationName    = attribute.Key("gen_ai.operation.name")
	attrJSONRPCRequestID = attribute.Key("jsonrpc.request.id")
	attrErrorType        = attribute.Key("error.type")
	attrHTTPMethod       = attribute.Key("http.request.method")
	attrHTTPStatus       = attribute.Key("http.response.status_code")
	attrURLPath          = attribute.Key("url.path")
	attrClientAddress    = attribute.Key("client.address")
	attrNetworkProtocol  = attribute.Key("network.protocol.name")

	attrResult    = attribute.Key("mcp_auth.result")
	attrReason    = attribute.Key("mcp_auth.reason")
	attrIssuer    = attribute.Key("mcp_auth.issuer")
	attrClientID  = attribute.Key("mcp_auth.client_id")
	attrCacheHit  = attribute.Key("mcp_auth.cache.hit")
	attrDecision  = attribute.Key("mcp_auth.decision")
	attrOutcome   = attribute.Key("mcp_auth.upstream.outcome")
	attrBatchSize = attribute.Key("mcp_auth.batch.size")
)

// traceContext is the propagator of the sidecar (W3C Trace Context).
var traceContext = propagation.TraceContext{}

// startSpan starts r's request span when r is traced and returns the
// context carrying it.
func (g *Guard) startSpan(r *http.Request, rec *auditRecord) context.Context {
	ctx := r.Context()
	parent := trace.SpanFromContext(ctx)
	tp, kind := g.tp, trace.SpanKindServer
	switch {
	case tp == nil && !parent.IsRecording():
		return ctx
	case tp == nil:
		// Under the server span of the proxy we run in (Caddy).
		tp, kind = parent.TracerProvider(), trace.SpanKindInternal
	case !parent.SpanContext().IsValid():
		// The caller's traceparent, if any, is our parent.
		ctx = traceContext.Extract(ctx, propagation.HeaderCarrier(r.Header))
	default:
		kind = trace.SpanKindInternal
	}
	rec.tracer = tp.Tracer(TracerName)
	attrs := []attribute.KeyValue{attrHTTPMethod.String(r.Method), attrURLPath.String(r.URL.Path)}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		attrs = append(attrs, attrClientAddress.String(host))
	}
	ctx, rec.span = rec.tracer.Start(ctx, SpanRequest, trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
	return ctx
}

// validate validates the token in a validation span.
func (g *Guard) validate(r *http.Request, rec *auditRecord, tok string) (*rs.Identity, error) {
	if rec == nil || rec.span == nil {
		return g.validator.Validate(r.Context(), tok)
	}
	ctx, span := rec.tracer.Start(r.Context(), SpanValidate)
	id, info, err := g.validator.ValidateInfo(ctx, tok)
	span.SetAttributes(attrCacheHit.Bool(info.CacheHit), attrIssuer.String(info.Issuer))
	if err != nil {
		reason := "invalid"
		if e, ok := err.(*rs.Error); ok {
			reason = e.Reason
		}
		span.SetAttributes(attrErrorType.String(reason))
		span.SetStatus(codes.Error, reason)
	}
	span.End()
	return id, err
}

// policySpan starts the policy span of a traced request; the returned
// function ends it with the decision.
func (g *Guard) policySpan(r *http.Request, rec *auditRecord) func(decision, reason string) {
	if rec == nil || rec.span == nil {
		return func(string, string) {}
	}
	_, span := rec.tracer.Start(r.Context(), SpanPolicy)
	return func(decision, reason string) {
		span.SetAttributes(attrDecision.String(decision))
		if reason != "" {
			span.SetAttributes(attrReason.String(reason))
		}
		span.End()
	}
}

// upstreamSpan starts the upstream span of a traced request and puts its
// traceparent in r's header for the MCP server.
func (g *Guard) upstreamSpan(ctx context.Context, r *http.Request, rec *auditRecord) context.Context {
	if rec == nil || rec.span == nil {
		return ctx
	}
	ctx, rec.upSpan = rec.tracer.Start(ctx, SpanUpstream, trace.WithSpanKind(trace.SpanKindClient))
	r.Header.Del("Traceparent")
	r.Header.Del("Tracestate")
	traceContext.Inject(ctx, propagation.HeaderCarrier(r.Header))
	return ctx
}

// endSpans ends the upstream and request spans of a finished request.
func (g *Guard) endSpans(r *http.Request, rec *auditRecord, result, reason string) {
	if rec.span == nil {
		return
	}
	if sp := rec.upSpan; sp != nil {
		if rec.upstream != 0 {
			sp.SetAttributes(attrHTTPStatus.Int(rec.upstream))
		}
		if rec.outcome != "" {
			sp.SetAttributes(attrOutcome.String(rec.outcome))
		}
		if r, failed := upstreamReasons[rec.outcome]; failed {
			sp.SetAttributes(attrErrorType.String(r))
			sp.SetStatus(codes.Error, r)
		}
		sp.End()
	}
	sp := rec.span
	attrs := []attribute.KeyValue{attrHTTPStatus.Int(rec.status), attrResult.String(result)}
	if result != ResultAllowed {
		attrs = append(attrs, attrReason.String(reason))
	}
	if rec.session != "" {
		attrs = append(attrs, attrMCPSession.String(rec.session))
	}
	if v := r.Header.Get("Mcp-Protocol-Version"); v != "" && len(v) <= 32 {
		attrs = append(attrs, attrMCPProtocol.String(v))
	}
	if id := rec.id; id != nil {
		attrs = append(attrs, attrIssuer.String(id.Issuer))
		if id.ClientID != "" {
			attrs = append(attrs, attrClientID.String(id.ClientID))
		}
	}
	name := SpanRequest
	if req := rec.req; req != nil && req.Batch {
		attrs = append(attrs, attrBatchSize.Int(len(req.Messages)))
	} else if req != nil && len(req.Messages) == 1 {
		m := req.Messages[0]
		if m.Method != "" {
			// Span name per the MCP conventions: {mcp.method.name} {target}.
			attrs = append(attrs, attrMCPMethod.String(m.Method))
			name = m.Method
		}
		if len(m.ID) > 0 {
			attrs = append(attrs, attrJSONRPCRequestID.String(strings.Trim(string(m.ID), `"`)))
		}
		switch m.Method {
		case "tools/call":
			attrs = append(attrs, attrToolName.String(m.Name), attrOperationName.String("execute_tool"))
			if m.Name != "" {
				name += " " + m.Name
			}
			if rec.isError[string(errormap.NormalizeID(m.ID))] && result == ResultAllowed {
				attrs = append(attrs, attrErrorType.String("tool_error"))
				sp.SetStatus(codes.Error, "tool_error")
			}
		case "prompts/get":
			attrs = append(attrs, attrPromptName.String(m.Name))
			if m.Name != "" {
				name += " " + m.Name
			}
		case "resources/read", "resources/subscribe", "resources/unsubscribe":
			attrs = append(attrs, attrMCPResourceURI.String(m.Name))
		}
	}
	if result == ResultError {
		attrs = append(attrs, attrErrorType.String(reason))
		sp.SetStatus(codes.Error, reason)
	}
	attrs = append(attrs, attrNetworkProtocol.String("http"))
	sp.SetAttributes(attrs...)
	sp.SetName(name)
	sp.End()
}
