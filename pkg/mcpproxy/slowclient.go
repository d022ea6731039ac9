package mcpproxy

import (
	"net/http"
	"time"
)

// abandonUnreadBody makes an answer given without the whole request body
// independent of the client's pace. net/http (and so Caddy) reads what is
// left of an unread HTTP/1 body after the handler (up to 256 KiB, with no
// deadline of its own) before the answer goes out and again when the body
// is closed: a client sending its body at 1 byte/s, or not at all, would
// hold the connection and its goroutine as long as it liked.
//
// It moves the connection's read deadline to now, so that only bytes that
// have already arrived can still be read: that drain then ends at once and,
// when the body was incomplete, fails, and net/http answers with
// Connection: close and closes the connection after the answer. A body that
// had arrived whole is drained from the buffer and keeps the connection
// alive (the deadline is cleared for the next request). Called before the
// answer is written, it also sets Connection: close itself.
//
// It does nothing when there is no body, when bufferBody read it whole, or
// for HTTP/2 and later, where an unread body costs a stream reset and
// nothing else (and Connection: close would end every stream of the
// connection).
func (g *Guard) abandonUnreadBody(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor != 1 || r.Body == nil || r.Body == http.NoBody {
		return
	}
	if _, ok := r.Body.(bufferedBody); ok {
		return
	}
	w.Header().Set("Connection", "close")
	_ = http.NewResponseController(w).SetReadDeadline(time.Now())
}

// hasBody reports whether an HTTP/1 request comes with a body the guard
// has to read (a declared length or chunked).
func hasBody(r *http.Request) bool {
	return r.ProtoMajor == 1 && r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
}
