package errormap

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestGatewayStatus(t *testing.T) {
	tests := []struct {
		name string
		f    Failure
		want int
	}{
		{"401", FromStatus(401, hdr("Www-Authenticate", `Bearer realm="elsewhere"`), testNow), 502},
		{"403", FromStatus(403, nil, testNow), 502},
		{"403 that is a rate limit", FromStatus(403, hdr("X-Ratelimit-Remaining", "0"), testNow), 429},
		{"429", FromStatus(429, nil, testNow), 429},
		{"500", FromStatus(500, nil, testNow), 502},
		{"501", FromStatus(501, nil, testNow), 502},
		{"502", FromStatus(502, nil, testNow), 502},
		{"503", FromStatus(503, hdr("Retry-After", "5"), testNow), 503},
		{"504", FromStatus(504, nil, testNow), 504},
		{"599", FromStatus(599, nil, testNow), 502},
		{"transport timeout", FromTransport(context.DeadlineExceeded), 504},
		{"transport other", FromTransport(errors.New("boom")), 502},
		{"zero", Failure{}, 502},
	}
	for _, tc := range tests {
		if got := GatewayStatus(tc.f); got != tc.want {
			t.Errorf("%s: GatewayStatus = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	tests := []struct {
		name   string
		h      http.Header
		want   int64
		wantOK bool
	}{
		{"absent", nil, 0, false},
		{"empty", hdr("Retry-After", " "), 0, false},
		{"seconds", hdr("Retry-After", "7"), 7, true},
		{"seconds with spaces", hdr("Retry-After", " 7 "), 7, true},
		{"zero", hdr("Retry-After", "0"), 0, true},
		{"negative", hdr("Retry-After", "-3"), 0, false},
		{"fraction", hdr("Retry-After", "1.5"), 0, false},
		{"text", hdr("Retry-After", "soon; see https://internal.example/status"), 0, false},
		{"date in the future", hdr("Retry-After", testNow.Add(90*time.Second).Format(http.TimeFormat)), 90, true},
		{"date in the past", hdr("Retry-After", testNow.Add(-time.Hour).Format(http.TimeFormat)), 0, true},
		{"huge saturates", hdr("Retry-After", "99999999999999999999999"), 9223372036854776, true},
		{"only Retry-After counts", hdr("X-Ratelimit-Reset", "30"), 0, false},
		{"non-canonical key", http.Header{"retry-after": {"4"}}, 4, true},
	}
	for _, tc := range tests {
		got, ok := RetryAfterSeconds(tc.h, testNow)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("%s: RetryAfterSeconds = %d, %v; want %d, %v", tc.name, got, ok, tc.want, tc.wantOK)
		}
	}
	// An HTTP date 2.5 s away is 3 whole seconds.
	h := hdr("Retry-After", testNow.Add(3*time.Second).Format(http.TimeFormat))
	if got, ok := RetryAfterSeconds(h, testNow.Add(500*time.Millisecond)); got != 3 || !ok {
		t.Errorf("date 2.5 s away: RetryAfterSeconds = %d, %v; want 3, true", got, ok)
	}
}
