package mcpproxy

import (
	"net/url"
	"testing"
)

// TestHostnameMatchesURLParse: the fast path of hostname gives what
// url.Parse gives.
func TestHostnameMatchesURLParse(t *testing.T) {
	for _, host := range []string{
		"", "localhost", "localhost:8080", "localhost:", "127.0.0.1", "127.0.0.1:80", "LOCALHOST:1", "a-b.example:443",
		"[::1]", "[::1]:8080", "::1", "localhost:80:90", "localhost:abc", "local%68ost", "localhost/x", "a b", ":80",
		"127.0.0.1.", "evil.com@localhost", "localhost#x", "localhost?x", "[::1%25lo]:80", "xn--ls8h.example",
	} {
		want := host
		if u, err := url.Parse("http://" + host); err == nil {
			want = u.Hostname()
		}
		if got := hostname(host); got != want {
			t.Errorf("hostname(%q) = %q, url.Parse gives %q", host, got, want)
		}
	}
}
