package mcpproxy

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/errormap"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

// maxRewriteBytes bounds a JSON response buffered for rewriting; a larger
// one passes through untouched.
const maxRewriteBytes = 16 << 20

type rwMode int

const (
	modePass   rwMode = iota // bytes go straight through
	modeJSON                 // buffer, rewrite, fix Content-Length
	modeSSE                  // parse events, rewrite data, flush per event
	modeMapped               // the upstream's answer was replaced; swallow it
)

// ResponseWriter sits between the proxy and the client. It wraps the
// upstream's Mcp-Session-Id for the caller, deletes structuredContent from
// tools/call error results (JSON and SSE, event by event), drops the
// upstream's WWW-Authenticate from every response (it would send MCP
// clients to the upstream's authorization server instead of ours), and
// replaces every upstream failure answer (401/403/429/5xx), whatever its
// body, with an agent-safe answer (see mapFailure). Everything else passes
// byte for byte. It keeps http.ResponseController working through Unwrap.
type ResponseWriter struct {
	w       http.ResponseWriter
	req     *Request
	id      *rs.Identity
	binder  *SessionBinder
	rewrite bool
	// ids says which response ids are tools/call results to rewrite; nil
	// means no structuredContent rewriting.
	ids func(json.RawMessage) bool
	// filter removes list entries the caller may not use (listFilter);
	// nil means no filtering.
	filter func([]byte) ([]byte, bool)
	now    func() time.Time
	// log receives one warning per replaced upstream failure (status and
	// path only: never header values or bodies); path is the request's.
	log  *zap.Logger
	path string
	// own are the front door's own response headers (CORS, server-level
	// headers) as they were before the upstream answered: a replaced
	// answer is built on them, never on the failing response's headers.
	own http.Header
	// sink is what Header returns once the answer was replaced, so that
	// the proxy's later header writes (trailers) go nowhere.
	sink http.Header
	// informational: a 1xx went out; the proxy may have cleared own.
	informational bool
	// audit learns isError of tools/call results (nil: not audited).
	audit *auditRecord

	wrote  bool
	status int
	mode   rwMode
	buf    bytes.Buffer
}

// NewResponseWriter wraps w for one request. req may be nil (not a
// JSON-RPC POST); binder may be nil (no session binding); rewrite turns
// the structuredContent rule on.
func NewResponseWriter(w http.ResponseWriter, req *Request, id *rs.Identity, binder *SessionBinder, rewrite bool) *ResponseWriter {
	rw := &ResponseWriter{w: w, req: req, id: id, binder: binder, rewrite: rewrite, now: time.Now,
		log: zap.NewNop(), own: w.Header().Clone()}
	if rewrite && req != nil && len(req.ToolCallIDs) > 0 {
		rw.ids = req.ToolCallIDs.Has
	}
	return rw
}

// anyResponse matches every response id: on a resumed stream (GET with
// Last-Event-ID) the tools/call requests were sent earlier, and a result
// with isError can only be a tools/call result (CallToolResult is the only
// MCP result with isError).
func anyResponse(json.RawMessage) bool { return true }

// Header returns the header map that will be sent (a throwaway one once
// the upstream's answer was replaced).
func (rw *ResponseWriter) Header() http.Header {
	if rw.mode == modeMapped {
		if rw.sink == nil {
			rw.sink = http.Header{}
		}
		return rw.sink
	}
	return rw.w.Header()
}

// Unwrap exposes the underlying writer to http.ResponseController.
func (rw *ResponseWriter) Unwrap() http.ResponseWriter { return rw.w }

// Wrote reports whether a status has been written (or swallowed).
func (rw *ResponseWriter) Wrote() bool { return rw.wrote }

// WriteHeader decides how the response is handled.
func (rw *ResponseWriter) WriteHeader(code int) {
	if rw.wrote {
		return
	}
	h := rw.w.Header()
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		// Informational (103 Early Hints): passed on; the final status
		// follows.
		delHeader(h, "Www-Authenticate")
		rw.informational = true
		rw.w.WriteHeader(code)
		return
	}
	rw.wrote = true
	rw.status = code
	if rw.informational {
		// httputil.ReverseProxy clears the whole header map after a 1xx.
		for k, v := range rw.own {
			if _, ok := h[k]; !ok {
				h[k] = slices.Clone(v)
			}
		}
	}
	rw.audit.noteAnswer(code, h)
	challenged := delHeader(h, "Www-Authenticate")
	if rw.binder != nil && rw.id != nil {
		if sid := h.Get("Mcp-Session-Id"); sid != "" {
			h.Set("Mcp-Session-Id", rw.binder.Wrap(rw.id.Issuer, rw.id.Subject, sid))
		}
	}
	if mapsStatus(code) {
		rw.mapFailure(code, h)
		return
	}
	if challenged {
		rw.log.Debug("dropped the upstream's WWW-Authenticate", zap.Int("status", code), zap.String("path", rw.path))
	}
	if code == http.StatusOK && (rw.ids != nil || rw.filter != nil) && h.Get("Content-Encoding") == "" {
		mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
		switch mt {
		case "application/json":
			rw.mode = modeJSON
			return // header written in Finish
		case "text/event-stream":
			rw.mode = modeSSE
			h.Del("Content-Length")
		}
	}
	rw.w.WriteHeader(code)
}

// mapsStatus: statuses of an MCP server that mean "the tool could not
// run" rather than protocol answers the client must see (202, 400, 404,
// 405 pass through).
func mapsStatus(code int) bool {
	return code == http.StatusUnauthorized || code == http.StatusForbidden || code == http.StatusTooManyRequests || code >= 500
}

// mapFailure replaces an upstream failure answer (see mapsStatus); the
// decision rests on the status alone, never on the upstream's body, which
// is discarded unread. h is the failing response's header map, with the
// session id already wrapped. The client gets, by request shape:
//
//   - one JSON-RPC request: 200 with the agent-safe answer for its id (a
//     tools/call a CallToolResult with isError and _meta.arcade, any other
//     method a JSON-RPC error, see failureMessage);
//   - a batch with requests: 200 with a JSON array of one such answer per
//     request, in order (notifications and responses get none);
//   - anything else (a POST of only notifications or responses, a body
//     that is not JSON-RPC, GET, DELETE): the front door's own plain-text
//     status, errormap.GatewayStatus: 502 for 401, 403 and 5xx, 429 for a
//     rate limit, 503 and 504 kept; a 429 or 503 keeps a valid Retry-After
//     (as whole delay-seconds).
//
// Headers: the front door's own (CORS, server-level) and the wrapped
// Mcp-Session-Id; none of the failing response's others (WWW-Authenticate,
// Set-Cookie, Server, rate-limit and debug headers, trailers).
func (rw *ResponseWriter) mapFailure(code int, h http.Header) {
	now := rw.now()
	f := errormap.FromStatus(code, h, now)
	status := errormap.GatewayStatus(f)
	retryAfter := ""
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		if s, ok := errormap.RetryAfterSeconds(h, now); ok {
			retryAfter = strconv.FormatInt(s, 10)
		}
	}
	sid := h.Values("Mcp-Session-Id")
	clear(h)
	for k, v := range rw.own {
		h[k] = slices.Clone(v)
	}
	if len(sid) > 0 {
		h["Mcp-Session-Id"] = sid
	}
	rw.mode = modeMapped
	body, answered := failureAnswer(rw.req, f)
	rw.audit.noteFailure()
	if answered {
		writeFailureJSON(rw.w, body)
		status = http.StatusOK
	} else {
		writeGatewayStatus(rw.w, status, retryAfter)
	}
	msg := "upstream failure replaced by an agent-safe answer"
	if code == http.StatusUnauthorized || code == http.StatusForbidden {
		msg = "upstream refused the front door's request (check the secret headers it sends); replaced by an agent-safe answer"
	}
	rw.log.Warn(msg, zap.Int("status", code), zap.String("path", rw.path),
		zap.Int("client_status", status), zap.String("error_kind", string(f.Kind)))
}

// failureAnswer renders f as the answer to every JSON-RPC request of req:
// one message for a single request, a JSON array for a batch. ok is false
// when there is no request to answer.
func failureAnswer(req *Request, f errormap.Failure) (body []byte, ok bool) {
	if msg, ok := req.Single(); ok {
		return failureMessage(msg, f), true
	}
	if req == nil || !req.Batch {
		return nil, false
	}
	for _, m := range req.Messages {
		if !m.IsRequest() {
			continue
		}
		if body == nil {
			body = append(body, '[')
		} else {
			body = append(body, ',')
		}
		body = append(body, failureMessage(m, f)...)
	}
	if body == nil {
		return nil, false
	}
	return append(body, ']'), true
}

// failureMessage: a tools/call gets a result with isError true and
// _meta.arcade; any other request a JSON-RPC error with the same data.
func failureMessage(msg Message, f errormap.Failure) []byte {
	if msg.Method == "tools/call" {
		return errormap.JSONRPCResult(msg.ID, errormap.ToolErrorResult(f))
	}
	return errormap.JSONRPCError(msg.ID, f)
}

// writeFailureJSON sends an agent-safe JSON answer with status 200.
func writeFailureJSON(w http.ResponseWriter, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// writeGatewayStatus sends the front door's own plain-text status.
func writeGatewayStatus(w http.ResponseWriter, status int, retryAfter string) {
	body := http.StatusText(status)
	h := w.Header()
	if retryAfter != "" {
		h.Set("Retry-After", retryAfter)
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// delHeader deletes every spelling of name (canonical or not, plain or as
// a trailer) and reports whether there was one.
func delHeader(h http.Header, name string) bool {
	found := false
	for k := range h {
		if strings.EqualFold(k, name) || strings.EqualFold(strings.TrimPrefix(k, http.TrailerPrefix), name) {
			delete(h, k)
			found = true
		}
	}
	return found
}

func (rw *ResponseWriter) Write(b []byte) (int, error) {
	if !rw.wrote {
		rw.WriteHeader(http.StatusOK)
	}
	switch rw.mode {
	case modeMapped:
		return len(b), nil
	case modeJSON:
		if rw.buf.Len()+len(b) > maxRewriteBytes {
			// Too large to rewrite: send what we have and pass through.
			rw.mode = modePass
			rw.w.WriteHeader(rw.status)
			if _, err := rw.w.Write(rw.buf.Bytes()); err != nil {
				return 0, err
			}
			rw.buf.Reset()
			return rw.w.Write(b)
		}
		rw.buf.Write(b)
		return len(b), nil
	case modeSSE:
		rw.buf.Write(b)
		if err := rw.drainEvents(false); err != nil {
			return 0, err
		}
		if rw.buf.Len() > maxRewriteBytes {
			// An event larger than we rewrite: send it on untouched.
			rw.mode = modePass
			_, err := rw.w.Write(rw.buf.Bytes())
			rw.buf.Reset()
			if err != nil {
				return 0, err
			}
		}
		return len(b), nil
	}
	return rw.w.Write(b)
}

// Flush sends buffered bytes on (SSE events are flushed as they complete;
// a JSON body being rewritten is held until Finish).
func (rw *ResponseWriter) Flush() {
	if rw.mode == modeJSON || rw.mode == modeMapped {
		return
	}
	if !rw.wrote {
		rw.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(rw.w).Flush()
}

// Finish completes a buffered JSON rewrite or a trailing partial SSE
// event. Call it once the proxy has returned.
func (rw *ResponseWriter) Finish() {
	if rw.mode != modeMapped {
		// A trailer the proxy set after the header went out.
		delHeader(rw.w.Header(), "Www-Authenticate")
	}
	switch rw.mode {
	case modeJSON:
		body := rw.buf.Bytes()
		if out, changed := rw.rewriteMessage(body); changed {
			body = out
		}
		rw.w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		rw.w.WriteHeader(rw.status)
		_, _ = rw.w.Write(body)
		rw.mode = modePass
	case modeSSE:
		_ = rw.drainEvents(true)
	}
}

// drainEvents writes every complete SSE event in buf (all of it at EOF),
// rewriting its data when it is a tools/call error result, and flushes
// after each event.
func (rw *ResponseWriter) drainEvents(eof bool) error {
	for {
		b := rw.buf.Bytes()
		end := eventEnd(b)
		if end < 0 {
			if eof && len(b) > 0 {
				end = len(b)
			} else {
				return nil
			}
		}
		ev := rewriteEvent(b[:end], rw.rewriteMessage)
		if _, err := rw.w.Write(ev); err != nil {
			return err
		}
		rw.buf.Next(end)
		_ = http.NewResponseController(rw.w).Flush()
	}
}

// eventEnd returns the index just past the blank line that ends the first
// event in b, or -1. Lines end in CRLF, LF or a lone CR (the SSE grammar);
// a CR at the very end of a non-empty line may still be followed by LF, so
// it waits. Bytes are never changed by where events are cut.
func eventEnd(b []byte) int {
	lineStart := 0
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '\n' && c != '\r' {
			continue
		}
		end := i + 1
		if c == '\r' {
			if i+1 == len(b) {
				if i == lineStart {
					return end // the event is complete; a LF may follow as its own blank line
				}
				return -1
			}
			if b[i+1] == '\n' {
				end++
			}
		}
		if i == lineStart {
			return end
		}
		lineStart = end
		i = end - 1
	}
	return -1
}

// splitLines splits an event into lines, each keeping its terminator.
func splitLines(ev []byte) [][]byte {
	var out [][]byte
	start := 0
	for i := 0; i < len(ev); i++ {
		switch ev[i] {
		case '\n':
			out = append(out, ev[start:i+1])
			start = i + 1
		case '\r':
			end := i + 1
			if end < len(ev) && ev[end] == '\n' {
				end++
			}
			out = append(out, ev[start:end])
			start = end
			i = end - 1
		}
	}
	if start < len(ev) {
		out = append(out, ev[start:])
	}
	return out
}

// rewriteMessage applies the structuredContent rule and the list filter
// to one JSON-RPC message (or batch).
func (rw *ResponseWriter) rewriteMessage(msg []byte) ([]byte, bool) {
	rw.audit.noteResults(msg, rw.ids)
	changed := false
	if rw.ids != nil {
		msg, changed = errormap.RewriteResponse(msg, rw.ids)
	}
	if rw.filter != nil {
		if out, ok := rw.filter(msg); ok {
			msg, changed = out, true
		}
	}
	return msg, changed
}

// rewriteEvent applies rewrite (rewriteMessage) to an event's data; an
// event it does not change is returned byte for byte.
func rewriteEvent(ev []byte, rewrite func([]byte) ([]byte, bool)) []byte {
	var data [][]byte
	lines := splitLines(ev)
	for _, l := range lines {
		t := bytes.TrimRight(l, "\r\n")
		if v, ok := bytes.CutPrefix(t, []byte("data:")); ok {
			data = append(data, bytes.TrimPrefix(v, []byte(" ")))
		}
	}
	if len(data) == 0 {
		return ev
	}
	joined := bytes.Join(data, []byte("\n"))
	out, changed := rewrite(joined)
	if !changed {
		return ev
	}
	var res bytes.Buffer
	done := false
	for _, l := range lines {
		t := bytes.TrimRight(l, "\r\n")
		if bytes.HasPrefix(t, []byte("data:")) {
			if !done {
				// One data line per line of the (whitespace-preserving)
				// rewrite, so a newline inside the JSON stays legal SSE.
				for _, seg := range bytes.Split(out, []byte("\n")) {
					res.WriteString("data: ")
					res.Write(seg)
					res.Write(l[len(t):]) // the line's own terminator
				}
				done = true
			}
			continue
		}
		res.Write(l)
	}
	return res.Bytes()
}

// WriteFailure answers a JSON-RPC request with an agent-safe MCP answer
// instead of a bare HTTP error: a tools/call gets a result with isError
// true and _meta.arcade; any other request a JSON-RPC error with the same
// data. Headers other than CORS and Mcp-Session-Id are dropped.
func WriteFailure(w http.ResponseWriter, msg Message, f errormap.Failure) {
	writeFailureBody(w, failureMessage(msg, f))
}

// writeFailureBody is writeFailureJSON after dropping every header but
// CORS and Mcp-Session-Id.
func writeFailureBody(w http.ResponseWriter, body []byte) {
	h := w.Header()
	for k := range h {
		if !keepOnFailure[k] {
			delete(h, k)
		}
	}
	writeFailureJSON(w, body)
}

var keepOnFailure = map[string]bool{
	"Access-Control-Allow-Origin": true, "Access-Control-Expose-Headers": true, "Vary": true, "Mcp-Session-Id": true,
}
