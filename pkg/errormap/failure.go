package errormap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Failure is one classified failure, ready to be rendered for an MCP client.
//
// Message is fixed, agent-safe text chosen from this package's tables; it
// never contains text taken from an error value, a header or a body.
//
// The zero Failure (Kind == "") is not a failure to report: FromTransport
// returns it for a nil error and for context.Canceled, meaning "the client is
// gone, write nothing". See IsZero.
type Failure struct {
	Kind         Kind
	Message      string
	CanRetry     bool
	RetryAfterMs int64 // 0 = absent
	StatusCode   int   // 0 = absent; the upstream's HTTP status when there was one
}

// IsZero reports whether f is the zero Failure, i.e. there is nothing to
// answer (see FromTransport).
func (f Failure) IsZero() bool { return f == Failure{} }

// Agent-safe messages for transport failures. They are Arcade's HTTP adapter
// strings (arcade_tdk/providers/http/error_adapter.py), verbatim.
const (
	MessageTimeout           = "HTTP request timed out before a complete response was received."
	MessageUnreachable       = "HTTP request failed before reaching the upstream service."
	MessageTLS               = "TLS handshake failed — likely a local certificate or trust configuration issue."
	MessageTransportUnmapped = "HTTP request failed before a complete response was received."
)

// ---------------------------------------------------------------------------
// Upstream HTTP status → Failure
// ---------------------------------------------------------------------------

// retryHint says which retry information a status row carries.
type retryHint uint8

const (
	hintNone       retryHint = iota
	hintRateLimit            // RetryAfterMs always set (Arcade default 1000) and message suffix
	hintRetryAfter           // RetryAfterMs only from a parseable Retry-After header; no suffix
)

// statusRow is one row of the status mapping table. Rows are tried in order;
// the first whose match returns true wins.
type statusRow struct {
	name     string
	match    func(status int, h http.Header) bool
	kind     Kind
	canRetry bool
	hint     retryHint
}

// statusTable is THE status mapping: Arcade §2.3 (UpstreamError, checked in
// this order, can_retry = status >= 500 || status == 429), preceded by the
// §2.4 rule that promotes some 403s to rate limits (UpstreamRateLimitError,
// always retryable). The "503" row only adds the Retry-After hint to what the
// ">=500" row would give.
var statusTable = []statusRow{
	{"403 rate limit", func(s int, h http.Header) bool { return s == http.StatusForbidden && isRateLimit403(h) },
		KindUpstreamRateLimit, true, hintRateLimit},
	{"401/403", func(s int, _ http.Header) bool { return s == http.StatusUnauthorized || s == http.StatusForbidden },
		KindUpstreamAuthError, false, hintNone},
	{"404", func(s int, _ http.Header) bool { return s == http.StatusNotFound },
		KindUpstreamNotFound, false, hintNone},
	{"429", func(s int, _ http.Header) bool { return s == http.StatusTooManyRequests },
		KindUpstreamRateLimit, true, hintRateLimit},
	{"503", func(s int, _ http.Header) bool { return s == http.StatusServiceUnavailable },
		KindUpstreamServerError, true, hintRetryAfter},
	{">=500", func(s int, _ http.Header) bool { return s >= 500 },
		KindUpstreamServerError, true, hintNone},
	{"other 4xx", func(s int, _ http.Header) bool { return s >= 400 && s < 500 },
		KindUpstreamBadRequest, false, hintNone},
	{"anything else", func(int, http.Header) bool { return true },
		KindUpstreamUnmapped, false, hintNone},
}

func statusRowFor(status int, h http.Header) int {
	if i := slices.IndexFunc(statusTable, func(r statusRow) bool { return r.match(status, h) }); i >= 0 {
		return i
	}
	return len(statusTable) - 1 // unreachable: the last row matches everything
}

// FromStatus classifies an upstream HTTP error response (Arcade §2.3/§2.4).
// h are the upstream response headers (canonical keys expected; other
// spellings are found too, more slowly); now is used for HTTP-date retry
// headers.
//
// StatusCode is always the upstream's real status (a rate-limited 403 keeps
// 403; Arcade's UpstreamRateLimitError would report 429). RetryAfterMs is set
// on rate limits (Arcade's 1000 ms default when no usable header) and on a 503
// that carries a usable Retry-After.
func FromStatus(status int, h http.Header, now time.Time) Failure {
	r := statusTable[statusRowFor(status, h)]
	f := Failure{Kind: r.kind, CanRetry: r.canRetry, StatusCode: status}
	base := "Upstream HTTP request failed (" + statusPhrase(status) + ", " + statusClassLabel(status) + ")."
	switch r.hint {
	case hintRateLimit:
		ms, _ := RetryAfterMs(h, now)
		f.RetryAfterMs = ms
		if secs := ms / 1000; secs > 0 {
			f.Message = base + " Retry after " + strconv.FormatInt(secs, 10) + " second(s)."
		} else {
			f.Message = base + " Rate limit encountered."
		}
	case hintRetryAfter:
		if v, ok := headerValue(h, "Retry-After"); ok {
			if ms, ok := parseRetryValue(strings.TrimSpace(v), retrySeconds, now); ok {
				f.RetryAfterMs = ms
			}
		}
		f.Message = base
	default:
		f.Message = base
	}
	return f
}

// statusPhrase is the reason phrase: Go's http.StatusText, or "Unknown Status"
// (Arcade's fallback) for unregistered codes. Go and Python's HTTPStatus agree
// on the common codes; a few rare ones differ in spelling (e.g. 418 "I'm a
// teapot" vs "I'm a Teapot", 414 "Request URI Too Long" vs "Request-URI Too
// Long").
func statusPhrase(status int) string {
	if s := http.StatusText(status); s != "" {
		return s
	}
	return "Unknown Status"
}

func statusClassLabel(status int) string {
	switch {
	case status >= 400 && status < 500:
		return "client error"
	case status >= 500 && status < 600:
		return "server error"
	case status >= 300 && status < 400:
		return "redirection"
	case status >= 100 && status < 200:
		return "informational"
	}
	return "response"
}

// ---------------------------------------------------------------------------
// Retry-after parsing (Arcade §2.4)
// ---------------------------------------------------------------------------

type retryUnit uint8

const (
	retrySeconds retryUnit = iota
	retryResetSeconds
	retryMillis
)

// retryHeaders are tried in order; the first with a non-empty value is used.
var retryHeaders = [...]struct {
	name string
	unit retryUnit
}{
	{"Retry-After", retrySeconds},
	{"X-Ratelimit-Reset", retryResetSeconds},
	{"X-Ratelimit-Reset-Ms", retryMillis},
}

// DefaultRetryAfterMs is Arcade's fallback when no retry header is usable.
const DefaultRetryAfterMs = 1000

// epochThreshold: an X-Ratelimit-Reset value at or above this many seconds
// (≈ 31.7 years; 2001-09-09 as a Unix time) is read as an absolute Unix
// time, not a delay. Arcade reads it as a delay (a documented quirk that turns
// GitHub's epoch resets into decades).
const epochThreshold = 1_000_000_000

// RetryAfterMs derives a retry delay in milliseconds from the first non-empty
// header among Retry-After, X-RateLimit-Reset and X-RateLimit-Reset-Ms
// (Arcade §2.4):
//   - all digits: seconds × 1000 (the -Ms header: milliseconds as is);
//     deviation from Arcade: an X-RateLimit-Reset of 1e9 or more is a Unix
//     time and gives the delta from now;
//   - an HTTP date (any form http.ParseTime accepts): the delta from now,
//     never negative;
//   - anything else, or no such header: DefaultRetryAfterMs with ok == false.
//
// ok reports whether a header supplied the value. Values too large for int64
// milliseconds saturate at math.MaxInt64.
func RetryAfterMs(h http.Header, now time.Time) (ms int64, ok bool) {
	for _, rh := range retryHeaders {
		v, _ := headerValue(h, rh.name)
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if ms, ok := parseRetryValue(v, rh.unit, now); ok {
			return ms, true
		}
		return DefaultRetryAfterMs, false
	}
	return DefaultRetryAfterMs, false
}

func parseRetryValue(v string, unit retryUnit, now time.Time) (int64, bool) {
	if v == "" {
		return 0, false
	}
	if isDigits(v) {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil { // only ErrRange is possible here
			return math.MaxInt64, true
		}
		switch unit {
		case retryMillis:
			return n, true
		case retryResetSeconds:
			if n >= epochThreshold {
				return deltaMs(time.Unix(n, 0), now), true
			}
		}
		if n > math.MaxInt64/1000 {
			return math.MaxInt64, true
		}
		return n * 1000, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return deltaMs(t, now), true
	}
	return 0, false
}

func deltaMs(t, now time.Time) int64 {
	d := t.Sub(now)
	if d <= 0 {
		return 0
	}
	return d.Milliseconds()
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseNumeric mirrors Arcade's _parse_numeric_header: ^-?\d+(\.\d+)?$ after
// trimming.
func parseNumeric(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	t := strings.TrimPrefix(s, "-")
	intPart, frac, hasDot := strings.Cut(t, ".")
	if !isDigits(intPart) || (hasDot && !isDigits(frac)) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false
	}
	return f, true
}

var (
	remainingHeaders = [...]string{"X-Ratelimit-Remaining", "X-Rate-Limit-Remaining", "Ratelimit-Remaining", "X-App-Rate-Limit-Remaining"}
	limitHeaders     = [...]string{"X-Ratelimit-Limit", "X-Rate-Limit-Limit", "Ratelimit-Limit"}
)

// isRateLimit403 is Arcade's _is_rate_limit_403: a remaining-quota header that
// is numerically 0, or a Retry-After that is a positive number or an HTTP date
// together with some *-limit header. (Arcade's code accepts any non-numeric
// Retry-After there; this port requires a parseable date.)
func isRateLimit403(h http.Header) bool {
	for _, name := range remainingHeaders {
		if v, ok := headerValue(h, name); ok {
			if f, ok := parseNumeric(v); ok && f == 0 {
				return true
			}
		}
	}
	ra, _ := headerValue(h, "Retry-After")
	ra = strings.TrimSpace(ra)
	meaningful := false
	if ra != "" {
		if f, ok := parseNumeric(ra); ok {
			meaningful = f > 0
		} else if _, err := http.ParseTime(ra); err == nil {
			meaningful = true
		}
	}
	if !meaningful {
		return false
	}
	for _, name := range limitHeaders {
		if _, ok := headerValue(h, name); ok {
			return true
		}
	}
	return false
}

// headerValue returns the first value of the header name (given in canonical
// form) and whether the header is present. Non-canonical keys (a hand-built
// map) are found by a case-insensitive scan.
func headerValue(h http.Header, name string) (string, bool) {
	if vs, ok := h[name]; ok {
		if len(vs) == 0 {
			return "", true
		}
		return vs[0], true
	}
	for k, vs := range h {
		if strings.EqualFold(k, name) {
			if len(vs) == 0 {
				return "", true
			}
			return vs[0], true
		}
	}
	return "", false
}

// ---------------------------------------------------------------------------
// Transport error → Failure
// ---------------------------------------------------------------------------

// transportRow is one row of the transport error table; the first matching
// row wins.
type transportRow struct {
	name     string
	match    func(error) bool
	kind     Kind
	canRetry bool
	message  string
}

// transportTable is THE transport error mapping (Arcade §2.4 routing, ported
// to Go's net/http errors). Order matters: a dial timeout is a timeout (as
// Arcade's ConnectTimeout), a TLS handshake timeout is a timeout, not a trust
// failure. The "client canceled" row yields the zero Failure.
var transportTable = []transportRow{
	{"client canceled", isCanceled, "", false, ""},
	{"timeout", isTimeout, KindNetworkTimeout, true, MessageTimeout},
	{"tls", isTLS, KindToolFatal, false, MessageTLS},
	{"unreachable", isUnreachable, KindNetworkUnreachable, true, MessageUnreachable},
	{"other", func(error) bool { return true }, KindNetworkUnmapped, true, MessageTransportUnmapped},
}

func transportRowFor(err error) int {
	if i := slices.IndexFunc(transportTable, func(r transportRow) bool { return r.match(err) }); i >= 0 {
		return i
	}
	return len(transportTable) - 1 // unreachable: the last row matches everything
}

// FromTransport classifies an error returned by an http.Transport round trip
// (as seen by httputil.ReverseProxy's ErrorHandler), i.e. a failure before a
// complete response header arrived:
//
//   - context.Canceled (the client went away) and a nil error give the zero
//     Failure: answer nothing, there is nobody to answer;
//   - context.DeadlineExceeded, os.ErrDeadlineExceeded, any error in the
//     chain whose Timeout() is true (net.Error, net/http's response header
//     and TLS handshake timeouts, ETIMEDOUT):
//     NETWORK_TRANSPORT_RUNTIME_TIMEOUT, retryable;
//   - TLS and X.509 failures (*tls.CertificateVerificationError,
//     tls.RecordHeaderError, tls.AlertError, *tls.ECHRejectionError, the
//     x509 error types, a TLS alert sent or received, an HTTPS request
//     answered in plain HTTP): TOOL_RUNTIME_FATAL (Arcade's
//     FatalToolError), not retryable;
//   - dial/proxyconnect *net.OpError, *net.DNSError, ECONNREFUSED,
//     ECONNRESET, ECONNABORTED, EHOSTUNREACH, ENETUNREACH:
//     NETWORK_TRANSPORT_RUNTIME_UNREACHABLE, retryable;
//   - anything else: NETWORK_TRANSPORT_RUNTIME_UNMAPPED, retryable.
//
// Classification is by error type and value only (errors.Is, errors.As,
// net.OpError.Op), never by the error's text; an error that only says what
// it is in words is "anything else". A caller whose transport hides the
// cause from errors.As must make it visible by type: Caddy's
// reverseproxy.DialError has no Unwrap, so wrap it in a *net.OpError with Op
// "dial". StatusCode and RetryAfterMs are 0. The error's text never reaches
// Message.
func FromTransport(err error) Failure {
	if err == nil {
		return Failure{}
	}
	r := transportTable[transportRowFor(err)]
	return Failure{Kind: r.kind, Message: r.message, CanRetry: r.canRetry}
}

func isCanceled(err error) bool { return errors.Is(err, context.Canceled) }

// inChain reports whether match holds for err or for any error it wraps,
// following Unwrap() error chains and Unwrap() []error trees. Unlike
// errors.As it does not stop at the first error of a type: a *url.Error
// whose Timeout() is false may still wrap one whose Timeout() is true.
func inChain(err error, match func(error) bool) bool {
	for err != nil {
		if match(err) {
			return true
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			return slices.ContainsFunc(u.Unwrap(), func(e error) bool { return inChain(e, match) })
		default:
			return false
		}
	}
	return false
}

// isTimeout: the request's deadline (context.DeadlineExceeded, also what
// net/http's "timeout awaiting response headers" error Is), a connection
// deadline (os.ErrDeadlineExceeded), or any error in the chain whose
// Timeout() is true (net.Error, *url.Error, net/http's TLS handshake and
// response header timeouts, syscall.ETIMEDOUT).
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	return inChain(err, func(e error) bool {
		t, ok := e.(interface{ Timeout() bool })
		return ok && t.Timeout()
	})
}

// isTLS: the TLS and X.509 error types, an HTTPS request answered in plain
// HTTP (http.ErrSchemeMismatch), and a TLS alert crypto/tls sent or
// received, which it reports as a *net.OpError with Op "local error" or
// "remote error" wrapping the alert. A handshake error crypto/tls returns
// without a type (a bare "tls: ..." error) is not recognized: it falls to
// "other".
func isTLS(err error) bool {
	var (
		cve  *tls.CertificateVerificationError
		ech  *tls.ECHRejectionError
		rhe  tls.RecordHeaderError
		ale  tls.AlertError
		uae  x509.UnknownAuthorityError
		cie  x509.CertificateInvalidError
		hne  x509.HostnameError
		sre  x509.SystemRootsError
		cons x509.ConstraintViolationError
		uce  x509.UnhandledCriticalExtension
		iae  x509.InsecureAlgorithmError
	)
	if errors.Is(err, http.ErrSchemeMismatch) ||
		errors.As(err, &cve) || errors.As(err, &ech) || errors.As(err, &rhe) || errors.As(err, &ale) ||
		errors.As(err, &uae) || errors.As(err, &cie) || errors.As(err, &hne) || errors.As(err, &sre) ||
		errors.As(err, &cons) || errors.As(err, &uce) || errors.As(err, &iae) {
		return true
	}
	return inChain(err, func(e error) bool {
		op, ok := e.(*net.OpError)
		return ok && (op.Op == tlsAlertSent || op.Op == tlsAlertReceived)
	})
}

// The net.OpError.Op values crypto/tls uses for the alerts it sends and
// receives (crypto/tls conn.go).
const (
	tlsAlertSent     = "local error"
	tlsAlertReceived = "remote error"
)

// unreachableErrnos are the system errors of a connection that could not be
// made or was torn down.
var unreachableErrnos = []syscall.Errno{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EHOSTUNREACH, syscall.ENETUNREACH}

// isUnreachable: a failed dial or proxy connect (*net.OpError), a failed
// name lookup (*net.DNSError), or one of unreachableErrnos anywhere in the
// chain.
func isUnreachable(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && (op.Op == "dial" || op.Op == "proxyconnect") {
		return true
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return true
	}
	return slices.ContainsFunc(unreachableErrnos, func(e syscall.Errno) bool { return errors.Is(err, e) })
}
