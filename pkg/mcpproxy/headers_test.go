package mcpproxy_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/mcpproxy"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

func TestInjectorStripsSpoofsAndSets(t *testing.T) {
	env := map[string]string{"API_KEY": "k-123"}
	files := map[string][]byte{"/run/secrets/tenant": []byte("acme\n")}
	in, err := mcpproxy.NewInjector(
		mcpproxy.IdentityHeaders{Claims: map[string]string{"X-MCP-Email": "email", "X-MCP-Groups": "groups", "X-MCP-Admin": "admin", "X-MCP-Age": "age", "X-MCP-Missing": "nope"}},
		[]mcpproxy.SecretHeader{{Header: "X-Api-Key", Env: "API_KEY"}, {Header: "X-Tenant", File: "/run/secrets/tenant"}},
		func(k string) string { return env[k] },
		func(p string) ([]byte, error) {
			if b, ok := files[p]; ok {
				return b, nil
			}
			return nil, &os.PathError{Op: "open", Path: p, Err: os.ErrNotExist}
		})
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h["Authorization"] = []string{"Bearer client-token"}
	h["X-Mcp-Subject"] = []string{"mallory"}
	h["X_mcp_subject"] = []string{"mallory"}      // underscore variant
	h["x-mcp-subject"] = []string{"mallory"}      // non-canonical key
	h["X-Mcp-Missing"] = []string{"forged"}       // claim the token lacks: still stripped
	h["X-Api-Key"] = []string{"client-supplied"}  // secret spoof
	h["X_tenant"] = []string{"evil"}              // secret spoof, underscore
	h["X-Unrelated"] = []string{"kept"}           // untouched
	h["X-Mcp-Session-Something"] = []string{"ok"} // not managed
	var claims map[string]any
	_ = json.Unmarshal([]byte(`{"email":"a@example.com","groups":["eng","ops"],"admin":true,"age":42}`), &claims)
	in.Apply(h, &rs.Identity{Subject: "alice", Claims: claims})
	want := map[string]string{
		"X-Mcp-Subject":           "alice",
		"X-Mcp-Email":             "a@example.com",
		"X-Mcp-Groups":            `["eng","ops"]`,
		"X-Mcp-Admin":             "true",
		"X-Mcp-Age":               "42",
		"X-Api-Key":               "k-123",
		"X-Tenant":                "acme",
		"X-Unrelated":             "kept",
		"X-Mcp-Session-Something": "ok",
	}
	if len(h) != len(want) {
		t.Fatalf("headers = %v, want exactly %v", h, want)
	}
	for k, v := range want {
		if got := h[k]; len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

func TestClaimValuesAreNeverWrittenRaw(t *testing.T) {
	cases := []struct {
		in   any
		want string
	}{
		{"plain", "plain"},
		{"with space inside", "with space inside"},
		{"line\r\nX-Evil: 1", "=?base64?bGluZQ0KWC1FdmlsOiAx?="},
		{"nul\x00", "=?base64?bnVsAA==?="},
		{"caf\u00e9", "=?base64?Y2Fmw6k=?="},
		{" padded ", "=?base64?IHBhZGRlZCA=?="},
		{"=?base64?YWRtaW4=?=", "=?base64?PT9iYXNlNjQ/WVdSdGFXND0/PQ==?="}, // forged encoded form is re-encoded
		{json.Number("1.50"), "1.50"},
		{false, "false"},
		{[]any{"a", "b\n"}, `["a","b\n"]`}, // JSON escapes control characters
	}
	for _, tc := range cases {
		got, ok := mcpproxy.ClaimHeaderValue(tc.in)
		if !ok || got != tc.want {
			t.Errorf("ClaimHeaderValue(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
	if _, ok := mcpproxy.ClaimHeaderValue(nil); ok {
		t.Error("nil claim produced a header")
	}
	if _, ok := mcpproxy.ClaimHeaderValue(strings.Repeat("a", 9000)); ok {
		t.Error("oversized claim produced a header")
	}
	// The subject gets the same treatment.
	in, err := mcpproxy.NewInjector(mcpproxy.IdentityHeaders{Subject: "X-User"}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	in.Apply(h, &rs.Identity{Subject: "bob\r\nX-Admin: yes"})
	if got := h.Get("X-User"); got != "=?base64?Ym9iDQpYLUFkbWluOiB5ZXM=?=" {
		t.Fatalf("subject header = %q", got)
	}
}

func TestInjectorConfigErrorsNameTheField(t *testing.T) {
	cases := []struct {
		name    string
		ih      mcpproxy.IdentityHeaders
		secrets []mcpproxy.SecretHeader
		want    string
	}{
		{"bad subject name", mcpproxy.IdentityHeaders{Subject: "X User"}, nil, `identity_headers.subject: "X User" is not a valid header name`},
		{"reserved subject", mcpproxy.IdentityHeaders{Subject: "Authorization"}, nil, `identity_headers.subject: "Authorization" is reserved`},
		{"reserved claim header", mcpproxy.IdentityHeaders{Claims: map[string]string{"Mcp-Session-Id": "sid"}}, nil, `identity_headers.claims.Mcp-Session-Id: "Mcp-Session-Id" is reserved`},
		{"empty claim", mcpproxy.IdentityHeaders{Claims: map[string]string{"X-A": ""}}, nil, "identity_headers.claims.X-A: claim name is empty"},
		{"duplicate across", mcpproxy.IdentityHeaders{}, []mcpproxy.SecretHeader{{Header: "x_mcp_subject", Env: "A"}}, `secret_headers[0].header: header "x_mcp_subject" is configured twice`},
		{"env and file", mcpproxy.IdentityHeaders{}, []mcpproxy.SecretHeader{{Header: "X-K", Env: "A", File: "/f"}}, "secret_headers[0]: set exactly one of env or file"},
		{"neither", mcpproxy.IdentityHeaders{}, []mcpproxy.SecretHeader{{Header: "X-K"}}, "secret_headers[0]: set exactly one of env or file"},
		{"unset env", mcpproxy.IdentityHeaders{}, []mcpproxy.SecretHeader{{Header: "X-K", Env: "NOPE"}}, "secret_headers[0].env: environment variable NOPE is empty or unset"},
		{"missing file", mcpproxy.IdentityHeaders{}, []mcpproxy.SecretHeader{{Header: "X-K", File: "/does/not/exist"}}, "secret_headers[0].file: cannot read /does/not/exist"},
		{"multi-line secret", mcpproxy.IdentityHeaders{}, []mcpproxy.SecretHeader{{Header: "X-K", Env: "ML"}}, "secret_headers[0]: secret value must be printable ASCII on one line"},
	}
	env := func(k string) string {
		if k == "ML" {
			return "a\nb"
		}
		if k == "A" {
			return "x"
		}
		return ""
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mcpproxy.NewInjector(tc.ih, tc.secrets, env, nil)
			var fe *rs.FieldError
			if err == nil || !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "a\nb") {
				t.Fatal("secret value leaked into the error")
			}
		})
	}
}

// TestStripOwnsEverySpelling: every client spelling of a header the front
// door owns is gone before forwarding, and Connection cannot nominate one.
func TestStripOwnsEverySpelling(t *testing.T) {
	in, err := mcpproxy.NewInjector(mcpproxy.IdentityHeaders{}, []mcpproxy.SecretHeader{{Header: "X-Api-Key", Value: "k"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		in   http.Header
		want http.Header
	}{
		{"session id spellings", http.Header{"Mcp-Session-Id": {"bound"}, "Mcp_session_id": {"raw-of-bob"}, "MCP_SESSION_ID": {"x"}}, http.Header{"Mcp-Session-Id": {"bound"}}},
		{"authorization spellings", http.Header{"Authorization": {"Bearer t"}, "Authorization_": {"x"}, "AUTHORIZATION": {"y"}, "Proxy-Authorization": {"z"}, "Proxy_Authorization": {"z"}}, http.Header{"Authorization_": {"x"}}},
		{"identity and secret spellings", http.Header{"X_mcp_subject": {"admin"}, "X-Mcp-Subject": {"admin"}, "X_API_KEY": {"mine"}}, http.Header{}},
		{"forwarding headers", http.Header{"Forwarded": {"for=1.2.3.4"}, "X-Real-Ip": {"1.2.3.4"}, "X_forwarded_for": {"1.2.3.4"}, "X-Forwarded-For": {"5.6.7.8"}}, http.Header{"X-Forwarded-For": {"5.6.7.8"}}},
		{"Connection nominating owned headers", http.Header{"Connection": {"X-MCP-Subject, keep-alive", "x_api_key, Mcp-Session-Id, Authorization, X-Other"}}, http.Header{"Connection": {"keep-alive, X-Other"}}},
		{"Connection with only owned names", http.Header{"Connection": {"X-Api-Key"}}, http.Header{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := c.in.Clone()
			in.Strip(h)
			if len(h) != len(c.want) {
				t.Fatalf("after Strip: %v, want %v", h, c.want)
			}
			for k, v := range c.want {
				if strings.Join(h[k], "|") != strings.Join(v, "|") {
					t.Fatalf("after Strip: %v, want %v", h, c.want)
				}
			}
		})
	}
}
