package errormap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// row indexes of statusTable, spelled out so a reordering is noticed.
const (
	rowRateLimit403 = iota
	rowAuth
	rowNotFound
	row429
	row503
	row5xx
	row4xx
	rowElse
)

func TestStatusTableRows(t *testing.T) {
	wantNames := []string{"403 rate limit", "401/403", "404", "429", "503", ">=500", "other 4xx", "anything else"}
	if len(statusTable) != len(wantNames) {
		t.Fatalf("statusTable has %d rows, want %d", len(statusTable), len(wantNames))
	}
	for i, n := range wantNames {
		if statusTable[i].name != n {
			t.Errorf("row %d = %q, want %q", i, statusTable[i].name, n)
		}
	}

	tests := []struct {
		name   string
		status int
		h      http.Header
		row    int
		want   Failure
	}{
		{"403 remaining 0 + retry-after 120 (Arcade test)", 403,
			hdr("X-Ratelimit-Reset", "1640995200", "Retry-After", "120", "X-Ratelimit-Remaining", "0"), rowRateLimit403,
			Failure{KindUpstreamRateLimit, "Upstream HTTP request failed (Forbidden, client error). Retry after 120 second(s).", true, 120000, 403}},
		{"403 remaining 0 + reset-ms 30000 (Arcade test)", 403,
			hdr("X-Ratelimit-Reset-Ms", "30000", "X-Ratelimit-Remaining", "0"), rowRateLimit403,
			Failure{KindUpstreamRateLimit, "Upstream HTTP request failed (Forbidden, client error). Retry after 30 second(s).", true, 30000, 403}},
		{"403 remaining 0, no retry header", 403, hdr("X-Ratelimit-Remaining", "0"), rowRateLimit403,
			Failure{KindUpstreamRateLimit, "Upstream HTTP request failed (Forbidden, client error). Retry after 1 second(s).", true, 1000, 403}},
		{"401", 401, nil, rowAuth,
			Failure{KindUpstreamAuthError, "Upstream HTTP request failed (Unauthorized, client error).", false, 0, 401}},
		{"403 plain", 403, hdr("X-Ratelimit-Remaining", "4941"), rowAuth,
			Failure{KindUpstreamAuthError, "Upstream HTTP request failed (Forbidden, client error).", false, 0, 403}},
		{"404 (Arcade test)", 404, nil, rowNotFound,
			Failure{KindUpstreamNotFound, "Upstream HTTP request failed (Not Found, client error).", false, 0, 404}},
		{"429 retry-after 60", 429, hdr("Retry-After", "60"), row429,
			Failure{KindUpstreamRateLimit, "Upstream HTTP request failed (Too Many Requests, client error). Retry after 60 second(s).", true, 60000, 429}},
		{"429 no header → default 1000", 429, nil, row429,
			Failure{KindUpstreamRateLimit, "Upstream HTTP request failed (Too Many Requests, client error). Retry after 1 second(s).", true, 1000, 429}},
		{"429 sub-second → rate limit encountered", 429, hdr("X-Ratelimit-Reset-Ms", "500"), row429,
			Failure{KindUpstreamRateLimit, "Upstream HTTP request failed (Too Many Requests, client error). Rate limit encountered.", true, 500, 429}},
		{"429 past date → 0 → rate limit encountered", 429, hdr("Retry-After", testNow.Add(-time.Hour).Format(http.TimeFormat)), row429,
			Failure{KindUpstreamRateLimit, "Upstream HTTP request failed (Too Many Requests, client error). Rate limit encountered.", true, 0, 429}},
		{"503 with retry-after", 503, hdr("Retry-After", "30"), row503,
			Failure{KindUpstreamServerError, "Upstream HTTP request failed (Service Unavailable, server error).", true, 30000, 503}},
		{"503 with retry-after date", 503, hdr("Retry-After", testNow.Add(2*time.Minute).Format(http.TimeFormat)), row503,
			Failure{KindUpstreamServerError, "Upstream HTTP request failed (Service Unavailable, server error).", true, 120000, 503}},
		{"503 without retry-after", 503, hdr("X-Ratelimit-Reset", "5"), row503,
			Failure{KindUpstreamServerError, "Upstream HTTP request failed (Service Unavailable, server error).", true, 0, 503}},
		{"503 bad retry-after", 503, hdr("Retry-After", "soon"), row503,
			Failure{KindUpstreamServerError, "Upstream HTTP request failed (Service Unavailable, server error).", true, 0, 503}},
		{"500", 500, nil, row5xx,
			Failure{KindUpstreamServerError, "Upstream HTTP request failed (Internal Server Error, server error).", true, 0, 500}},
		{"502", 502, hdr("Retry-After", "30"), row5xx,
			Failure{KindUpstreamServerError, "Upstream HTTP request failed (Bad Gateway, server error).", true, 0, 502}},
		{"599 unknown", 599, nil, row5xx,
			Failure{KindUpstreamServerError, "Upstream HTTP request failed (Unknown Status, server error).", true, 0, 599}},
		{"600 is >=500 but class 'response'", 600, nil, row5xx,
			Failure{KindUpstreamServerError, "Upstream HTTP request failed (Unknown Status, response).", true, 0, 600}},
		{"400", 400, nil, row4xx,
			Failure{KindUpstreamBadRequest, "Upstream HTTP request failed (Bad Request, client error).", false, 0, 400}},
		{"422", 422, nil, row4xx,
			Failure{KindUpstreamBadRequest, "Upstream HTTP request failed (Unprocessable Entity, client error).", false, 0, 422}},
		{"499 unknown", 499, nil, row4xx,
			Failure{KindUpstreamBadRequest, "Upstream HTTP request failed (Unknown Status, client error).", false, 0, 499}},
		{"302", 302, nil, rowElse,
			Failure{KindUpstreamUnmapped, "Upstream HTTP request failed (Found, redirection).", false, 0, 302}},
		{"100", 100, nil, rowElse,
			Failure{KindUpstreamUnmapped, "Upstream HTTP request failed (Continue, informational).", false, 0, 100}},
		{"200", 200, nil, rowElse,
			Failure{KindUpstreamUnmapped, "Upstream HTTP request failed (OK, response).", false, 0, 200}},
		{"0", 0, nil, rowElse,
			Failure{KindUpstreamUnmapped, "Upstream HTTP request failed (Unknown Status, response).", false, 0, 0}},
	}
	hit := make([]bool, len(statusTable))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := statusRowFor(tc.status, tc.h); got != tc.row {
				t.Errorf("row = %d (%s), want %d (%s)", got, statusTable[got].name, tc.row, statusTable[tc.row].name)
			}
			hit[tc.row] = true
			got := FromStatus(tc.status, tc.h, testNow)
			if got != tc.want {
				t.Errorf("FromStatus(%d) =\n  %+v\nwant\n  %+v", tc.status, got, tc.want)
			}
			// Arcade: can_retry = status >= 500 or 429, and any rate limit.
			wantRetry := tc.status >= 500 || tc.status == 429 || got.Kind == KindUpstreamRateLimit
			if got.CanRetry != wantRetry {
				t.Errorf("CanRetry = %v, want %v", got.CanRetry, wantRetry)
			}
		})
	}
	for i, ok := range hit {
		if !ok {
			t.Errorf("status row %d (%s) has no test case", i, statusTable[i].name)
		}
	}
}

func TestIsRateLimit403(t *testing.T) {
	date := testNow.Add(time.Minute).Format(http.TimeFormat)
	tests := []struct {
		name string
		h    http.Header
		want bool
	}{
		{"x-ratelimit-remaining 0", hdr("X-Ratelimit-Remaining", "0"), true},
		{"remaining 4941", hdr("X-Ratelimit-Remaining", "4941"), false},
		{"no headers", nil, false},
		{"x-rate-limit-remaining 0", hdr("X-Rate-Limit-Remaining", "0"), true},
		{"ratelimit-remaining 0", hdr("Ratelimit-Remaining", "0"), true},
		{"x-app-rate-limit-remaining 0", hdr("X-App-Rate-Limit-Remaining", "0"), true},
		{"remaining non-digit", hdr("X-Ratelimit-Remaining", "invalid"), false},
		{"remaining 0.0", hdr("X-Ratelimit-Remaining", "0.0"), true},
		{"remaining -0", hdr("X-Ratelimit-Remaining", "-0"), true},
		{"remaining padded", hdr("X-Ratelimit-Remaining", " 0 "), true},
		{"remaining 0.5", hdr("X-Ratelimit-Remaining", "0.5"), false},
		{"remaining .0 not numeric", hdr("X-Ratelimit-Remaining", ".0"), false},
		{"retry-after + limit + remaining 100", hdr("Retry-After", "60", "X-Ratelimit-Limit", "5000", "X-Ratelimit-Remaining", "100"), true},
		{"retry-after only", hdr("Retry-After", "60"), false},
		{"limit + remaining 100, no retry-after", hdr("X-Ratelimit-Limit", "5000", "X-Ratelimit-Remaining", "100"), false},
		{"retry-after 0 + limit", hdr("Retry-After", "0", "X-Ratelimit-Limit", "5000"), false},
		{"retry-after date + x-rate-limit-limit", hdr("Retry-After", date, "X-Rate-Limit-Limit", "10"), true},
		{"retry-after 1.5 + ratelimit-limit", hdr("Retry-After", "1.5", "Ratelimit-Limit", "10"), true},
		{"retry-after garbage + limit (not a date)", hdr("Retry-After", "soon", "X-Ratelimit-Limit", "10"), false},
		{"retry-after + empty limit header present", hdr("Retry-After", "5", "X-Ratelimit-Limit", ""), true},
		{"non-canonical map keys", http.Header{"x-ratelimit-remaining": {"0"}}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := isRateLimit403(tc.h); got != tc.want {
				t.Errorf("isRateLimit403 = %v, want %v", got, tc.want)
			}
			f := FromStatus(403, tc.h, testNow)
			if (f.Kind == KindUpstreamRateLimit) != tc.want {
				t.Errorf("FromStatus(403).Kind = %s", f.Kind)
			}
		})
	}
}

func TestRetryAfterMs(t *testing.T) {
	tests := []struct {
		name   string
		h      http.Header
		want   int64
		wantOK bool
	}{
		{"retry-after 60", hdr("Retry-After", "60"), 60000, true},
		{"x-ratelimit-reset 120", hdr("X-Ratelimit-Reset", "120"), 120000, true},
		{"x-ratelimit-reset-ms 5000", hdr("X-Ratelimit-Reset-Ms", "5000"), 5000, true},
		{"date → delta", hdr("Retry-After", testNow.Add(time.Minute).Format(http.TimeFormat)), 60000, true},
		{"RFC 850 date", hdr("Retry-After", testNow.Add(90*time.Second).Format(time.RFC850)), 90000, true},
		{"date in the past → 0", hdr("Retry-After", testNow.Add(-time.Minute).Format(http.TimeFormat)), 0, true},
		{"none → 1000", hdr("Content-Type", "application/json"), 1000, false},
		{"nil header → 1000", nil, 1000, false},
		{"invalid → 1000", hdr("Retry-After", "invalid-date"), 1000, false},
		{"negative → 1000", hdr("Retry-After", "-5"), 1000, false},
		{"decimal → 1000", hdr("Retry-After", "1.5"), 1000, false},
		{"padded digits", hdr("Retry-After", " 60 "), 60000, true},
		{"zero", hdr("Retry-After", "0"), 0, true},
		{"order: retry-after beats reset", hdr("X-Ratelimit-Reset", "5", "Retry-After", "7"), 7000, true},
		{"empty retry-after skipped", hdr("Retry-After", "", "X-Ratelimit-Reset", "5"), 5000, true},
		{"first non-empty wins even if unparseable", hdr("Retry-After", "soon", "X-Ratelimit-Reset", "5"), 1000, false},
		{"reset beats reset-ms", hdr("X-Ratelimit-Reset-Ms", "5", "X-Ratelimit-Reset", "2"), 2000, true},
		{"epoch x-ratelimit-reset → delta (deviation)", hdr("X-Ratelimit-Reset", fmt.Sprint(testNow.Unix()+90)), 90000, true},
		{"epoch in the past → 0", hdr("X-Ratelimit-Reset", fmt.Sprint(testNow.Unix()-90)), 0, true},
		{"retry-after large stays a delay", hdr("Retry-After", "1000000000"), 1000000000000, true},
		{"overflow saturates", hdr("Retry-After", "99999999999999999999999"), math.MaxInt64, true},
		{"largest exact seconds", hdr("Retry-After", "9223372036854775"), 9223372036854775000, true},
		{"seconds × 1000 overflow saturates", hdr("Retry-After", "9223372036854776"), math.MaxInt64, true},
		{"ms header not multiplied", hdr("X-Ratelimit-Reset-Ms", "9223372036854775807"), math.MaxInt64, true},
		{"non-canonical key", http.Header{"retry-after": {"3"}}, 3000, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := RetryAfterMs(tc.h, testNow)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("RetryAfterMs = (%d, %v), want (%d, %v)", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

// timeoutErr is a net.Error with Timeout() == true.
type timeoutErr struct{ msg string }

func (e timeoutErr) Error() string   { return e.msg }
func (e timeoutErr) Timeout() bool   { return true }
func (e timeoutErr) Temporary() bool { return true }

const secret = "SECRET-internal-detail-4711"

func urlErr(err error) error {
	return &url.Error{Op: "Post", URL: "http://upstream.internal:8080/mcp?token=" + secret, Err: err}
}

// row indexes of transportTable.
const (
	trCanceled = iota
	trTimeout
	trTLS
	trUnreachable
	trOther
)

func TestTransportTableRows(t *testing.T) {
	wantNames := []string{"client canceled", "timeout", "tls", "unreachable", "other"}
	if len(transportTable) != len(wantNames) {
		t.Fatalf("transportTable has %d rows, want %d", len(transportTable), len(wantNames))
	}
	for i, n := range wantNames {
		if transportTable[i].name != n {
			t.Errorf("row %d = %q, want %q", i, transportTable[i].name, n)
		}
	}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	tests := []struct {
		name string
		err  error
		row  int
	}{
		{"context.Canceled", context.Canceled, trCanceled},
		{"wrapped canceled", urlErr(fmt.Errorf("read: %w", context.Canceled)), trCanceled},
		{"context.DeadlineExceeded", context.DeadlineExceeded, trTimeout},
		{"url.Error deadline", urlErr(context.DeadlineExceeded), trTimeout},
		{"os.ErrDeadlineExceeded in OpError", &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}, trTimeout},
		{"net.Error Timeout()", timeoutErr{"i/o timeout " + secret}, trTimeout},
		{"dial timeout is a timeout", &net.OpError{Op: "dial", Net: "tcp", Err: timeoutErr{"i/o timeout"}}, trTimeout},
		{"Timeout() below a wrapper whose Timeout() is false", urlErr(fmt.Errorf("read: %w", timeoutErr{"i/o timeout"})), trTimeout},
		{"ETIMEDOUT on connect", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ETIMEDOUT)}, trTimeout},
		{"deadline inside errors.Join", errors.Join(errors.New(secret), context.DeadlineExceeded), trTimeout},
		{"tls handshake timeout", timeoutErr{"net/http: TLS handshake timeout"}, trTimeout},
		{"x509 unknown authority", x509.UnknownAuthorityError{}, trTLS},
		{"tls CertificateVerificationError", urlErr(&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), trTLS},
		{"x509 hostname", x509.HostnameError{Certificate: &x509.Certificate{}, Host: secret}, trTLS},
		{"x509 invalid", x509.CertificateInvalidError{Cert: &x509.Certificate{}, Reason: x509.Expired}, trTLS},
		{"tls record header", tls.RecordHeaderError{Msg: "tls: first record does not look like a TLS handshake"}, trTLS},
		{"tls alert", tls.AlertError(40), trTLS},
		{"scheme mismatch", http.ErrSchemeMismatch, trTLS},
		{"tls alert received", &net.OpError{Op: "remote error", Err: errors.New(secret)}, trTLS},
		{"tls alert sent", &net.OpError{Op: "local error", Err: errors.New(secret)}, trTLS},
		{"tls alert through a proxy", &net.OpError{Op: "proxyconnect", Net: "tcp", Err: &net.OpError{Op: "remote error", Err: errors.New(secret)}}, trTLS},
		{"tls ECH rejected", &tls.ECHRejectionError{}, trTLS},
		{"x509 system roots", x509.SystemRootsError{}, trTLS},
		{"x509 constraint violation", urlErr(x509.ConstraintViolationError{}), trTLS},
		{"x509 unhandled critical extension", x509.UnhandledCriticalExtension{}, trTLS},
		{"x509 insecure algorithm", x509.InsecureAlgorithmError(x509.SHA1WithRSA), trTLS},
		{"dial refused", refused, trUnreachable},
		{"wrapped dial refused", urlErr(refused), trUnreachable},
		{"proxyconnect", &net.OpError{Op: "proxyconnect", Net: "tcp", Err: errors.New(secret)}, trUnreachable},
		{"DNS not found", &net.DNSError{Err: "no such host", Name: secret + ".invalid", IsNotFound: true}, trUnreachable},
		{"ECONNRESET on read", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, trUnreachable},
		{"bare ECONNREFUSED", syscall.ECONNREFUSED, trUnreachable},
		{"EHOSTUNREACH", fmt.Errorf("x: %w", syscall.EHOSTUNREACH), trUnreachable},
		{"ENETUNREACH", fmt.Errorf("x: %w", syscall.ENETUNREACH), trUnreachable},
		{"ECONNABORTED", fmt.Errorf("x: %w", syscall.ECONNABORTED), trUnreachable},
		{"DNS error in a dial OpError", urlErr(&net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: secret, IsNotFound: true}}), trUnreachable},
		{"wrapped DNS error", fmt.Errorf("lookup: %w", &net.DNSError{Err: "server misbehaving", Name: secret, IsTemporary: true}), trUnreachable},
		{"ECONNREFUSED in SyscallError", os.NewSyscallError("connect", syscall.ECONNREFUSED), trUnreachable},
		{"io.EOF", io.EOF, trOther},
		{"unexpected EOF", urlErr(io.ErrUnexpectedEOF), trOther},
		{"arbitrary", errors.New("something odd " + secret), trOther},
		{"http.ErrAbortHandler", http.ErrAbortHandler, trOther},
		// Words alone classify nothing: only types and values do.
		{"timeout in words only", errors.New("net/http: timeout awaiting response headers"), trOther},
		{"tls in words only", errors.New("remote error: tls: bad certificate " + secret), trOther},
		{"x509 in words only", errors.New("x509: certificate signed by unknown authority"), trOther},
		{"no such host in words only", errors.New("dial tcp: lookup " + secret + ": no such host"), trOther},
		{"connection refused in words only", errors.New("connect: connection refused"), trOther},
		{"an OpError that is not a dial", &net.OpError{Op: "write", Net: "tcp", Err: errors.New("broken pipe")}, trOther},
	}
	hit := make([]bool, len(transportTable))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			row := transportRowFor(tc.err)
			if row != tc.row {
				t.Fatalf("row = %d (%s), want %d (%s)", row, transportTable[row].name, tc.row, transportTable[tc.row].name)
			}
			hit[row] = true
			r := transportTable[row]
			want := Failure{Kind: r.kind, Message: r.message, CanRetry: r.canRetry}
			got := FromTransport(tc.err)
			if got != want {
				t.Errorf("FromTransport = %+v, want %+v", got, want)
			}
			if strings.Contains(got.Message, secret) || (got.Message != "" && strings.Contains(got.Message, tc.err.Error())) {
				t.Errorf("message leaks error text: %q", got.Message)
			}
		})
	}
	for i, ok := range hit {
		if !ok {
			t.Errorf("transport row %d (%s) has no test case", i, transportTable[i].name)
		}
	}
}

func TestFromTransportExactResults(t *testing.T) {
	tests := []struct {
		err  error
		want Failure
	}{
		{nil, Failure{}},
		{context.Canceled, Failure{}},
		{context.DeadlineExceeded, Failure{KindNetworkTimeout, "HTTP request timed out before a complete response was received.", true, 0, 0}},
		{syscall.ECONNREFUSED, Failure{KindNetworkUnreachable, "HTTP request failed before reaching the upstream service.", true, 0, 0}},
		{x509.UnknownAuthorityError{}, Failure{KindToolFatal, "TLS handshake failed — likely a local certificate or trust configuration issue.", false, 0, 0}},
		{io.EOF, Failure{KindNetworkUnmapped, "HTTP request failed before a complete response was received.", true, 0, 0}},
	}
	for _, tc := range tests {
		got := FromTransport(tc.err)
		if got != tc.want {
			t.Errorf("FromTransport(%v) = %+v, want %+v", tc.err, got, tc.want)
		}
		if got.IsZero() != (tc.want.Kind == "") {
			t.Errorf("IsZero mismatch for %v", tc.err)
		}
	}
	if KindToolFatal != "TOOL_RUNTIME_FATAL" {
		t.Error("FatalToolError kind")
	}
}

func TestStatusMessagesNeverCarryHeaderText(t *testing.T) {
	h := hdr("Retry-After", secret, "X-Ratelimit-Remaining", "0", "X-Upstream-Error", secret)
	for _, s := range []int{400, 401, 403, 404, 429, 500, 503} {
		if f := FromStatus(s, h, testNow); strings.Contains(f.Message, secret) {
			t.Errorf("%d: message leaks header text: %q", s, f.Message)
		}
	}
}
