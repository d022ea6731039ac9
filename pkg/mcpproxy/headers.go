package mcpproxy

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

// DefaultSubjectHeader carries the token's sub to the MCP server.
const DefaultSubjectHeader = "X-MCP-Subject"

// maxClaimHeaderBytes bounds one injected claim header.
const maxClaimHeaderBytes = 8 << 10

// IdentityHeaders says which headers carry the caller's identity upstream.
type IdentityHeaders struct {
	// Subject is the header for the token's sub (default X-MCP-Subject).
	Subject string `yaml:"subject" json:"subject,omitempty"`
	// Claims maps a header name to the claim whose value it carries.
	Claims map[string]string `yaml:"claims" json:"claims,omitempty"`
}

// SecretHeader is a header with a secret value sent to the MCP server,
// read from an environment variable or a file (exactly one of them).
type SecretHeader struct {
	Header string `yaml:"header" json:"header"`
	Env    string `yaml:"env" json:"env,omitempty"`
	File   string `yaml:"file" json:"file,omitempty"`
	// Value is the literal value; used by front doors that resolve the
	// secret themselves (Caddy's {env.*} placeholders). Never logged.
	Value string `yaml:"-" json:"value,omitempty"`
}

// reservedHeaders may not be configured as identity or secret headers.
var reservedHeaders = map[string]bool{
	"authorization": true, "proxy-authorization": true, "host": true, "content-length": true,
	"content-type": true, "transfer-encoding": true, "connection": true, "keep-alive": true,
	"te": true, "trailer": true, "upgrade": true, "cookie": true, "accept": true,
	"mcp-session-id": true, "mcp-protocol-version": true, "mcp-method": true, "mcp-name": true,
	"last-event-id": true, "origin": true, "x-forwarded-for": true, "x-forwarded-host": true,
	"x-forwarded-proto": true, "forwarded": true,
}

// normName folds a header name for spoof matching: case-insensitive, and
// "_" equal to "-" (some servers treat X_MCP_Subject as X-MCP-Subject).
func normName(h string) string {
	return strings.ReplaceAll(strings.ToLower(h), "_", "-")
}

func validHeaderName(h string) bool {
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// Injector sets the identity and secret headers on requests to the MCP
// server, after removing the client's Authorization header and every
// client-sent copy of those headers.
type Injector struct {
	subject string
	claims  []claimHeader
	secrets []secretValue
	strip   map[string]bool
}

type claimHeader struct{ header, claim string }
type secretValue struct{ header, value string }

// NewInjector validates the header configuration (field names in errors
// are the config keys) and resolves the secrets with getenv and readFile
// (os.Getenv / os.ReadFile when nil). A file's trailing newline is dropped.
func NewInjector(ih IdentityHeaders, secrets []SecretHeader, getenv func(string) string, readFile func(string) ([]byte, error)) (*Injector, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if readFile == nil {
		readFile = os.ReadFile
	}
	in := &Injector{strip: map[string]bool{}}
	var errs []error
	claim := func(field, name string) bool {
		switch {
		case !validHeaderName(name):
			errs = append(errs, &rs.FieldError{Field: field, Msg: fmt.Sprintf("%q is not a valid header name", name)})
		case reservedHeaders[normName(name)]:
			errs = append(errs, &rs.FieldError{Field: field, Msg: fmt.Sprintf("%q is reserved and cannot be injected", name)})
		case in.strip[normName(name)]:
			errs = append(errs, &rs.FieldError{Field: field, Msg: fmt.Sprintf("header %q is configured twice", name)})
		default:
			in.strip[normName(name)] = true
			return true
		}
		return false
	}
	in.subject = ih.Subject
	if in.subject == "" {
		in.subject = DefaultSubjectHeader
	}
	if claim("identity_headers.subject", in.subject) {
		in.subject = http.CanonicalHeaderKey(in.subject)
	}
	names := make([]string, 0, len(ih.Claims))
	for h := range ih.Claims {
		names = append(names, h)
	}
	sort.Strings(names)
	for _, h := range names {
		field := "identity_headers.claims." + h
		c := ih.Claims[h]
		if c == "" {
			errs = append(errs, &rs.FieldError{Field: field, Msg: "claim name is empty"})
			continue
		}
		if claim(field, h) {
			in.claims = append(in.claims, claimHeader{header: http.CanonicalHeaderKey(h), claim: c})
		}
	}
	for i, s := range secrets {
		field := fmt.Sprintf("secret_headers[%d]", i)
		if !claim(field+".header", s.Header) {
			continue
		}
		val, err := rs.SecretSource{Env: s.Env, File: s.File, Value: s.Value}.Resolve(field, getenv, readFile)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !safeValue(val) {
			errs = append(errs, &rs.FieldError{Field: field, Msg: "secret value must be printable ASCII on one line"})
			continue
		}
		in.secrets = append(in.secrets, secretValue{header: http.CanonicalHeaderKey(s.Header), value: val})
	}
	return in, errors.Join(errs...)
}

// SubjectHeader returns the canonical subject header name.
func (in *Injector) SubjectHeader() string { return in.subject }

// ownedHeaders are the headers the front door owns besides the
// configured identity and secret headers: the client's credentials never
// pass, and the session id the upstream sees is the one the guard
// unwrapped (sent as canonical "Mcp-Session-Id").
var ownedHeaders = map[string]bool{
	"authorization": true, "proxy-authorization": true, "mcp-session-id": true,
	// Forwarding headers: the sidecar sets its own X-Forwarded-*; Caddy's
	// reverse_proxy sets them unless trusted_proxies says otherwise.
	"forwarded": true, "x-real-ip": true,
	"x-forwarded-for": true, "x-forwarded-host": true, "x-forwarded-proto": true,
}

// keptCanonical are owned headers whose canonical spelling is decided
// elsewhere and kept by Strip: the guard sets Mcp-Session-Id; the
// sidecar's proxy replaces X-Forwarded-*, and Caddy's reverse_proxy
// trusts them only from its trusted_proxies. Other spellings
// (X_Forwarded_For, Mcp_Session_Id) never pass.
var keptCanonical = map[string]bool{
	"Mcp-Session-Id": true, "X-Forwarded-For": true, "X-Forwarded-Host": true, "X-Forwarded-Proto": true,
}

// Strip removes Authorization and every client copy of a header the front
// door owns (identity, secret, Authorization, Mcp-Session-Id, Forwarded),
// in any case and with "_" for "-", keeping only the canonical
// spellings in keptCanonical. It also drops the names of owned headers
// from Connection, so a client cannot make a proxy remove an injected
// header as hop-by-hop ("Connection: X-MCP-Subject").
func (in *Injector) Strip(h http.Header) {
	for k := range h {
		n := normName(k)
		if (in.strip[n] || ownedHeaders[n]) && !keptCanonical[k] {
			delete(h, k)
		}
	}
	if conn, ok := h["Connection"]; ok {
		var keep []string
		for _, v := range conn {
			for _, f := range strings.Split(v, ",") {
				f = strings.TrimSpace(f)
				if n := normName(f); f != "" && !in.strip[n] && !ownedHeaders[n] {
					keep = append(keep, f)
				}
			}
		}
		if len(keep) == 0 {
			delete(h, "Connection")
		} else {
			h["Connection"] = []string{strings.Join(keep, ", ")}
		}
	}
}

// Apply strips (see Strip) and then sets the identity and secret headers
// for id. A claim the token does not carry sets no header.
func (in *Injector) Apply(h http.Header, id *rs.Identity) {
	in.applyIdentity(h, id)
	for _, s := range in.secrets {
		h[s.header] = []string{s.value}
	}
}

// Headers returns what Apply would set for id, for token-info style
// reporting (secrets are shown as "<redacted>").
func (in *Injector) Headers(id *rs.Identity) map[string]string {
	h := http.Header{}
	in.Apply(h, id)
	out := map[string]string{}
	for k, v := range h {
		out[k] = v[0]
	}
	for _, s := range in.secrets {
		out[s.header] = "<redacted>"
	}
	return out
}

// ClaimHeaderValue renders a claim for a header: strings as they are,
// numbers and booleans as JSON literals, arrays and objects as compact
// JSON; then EncodeHeaderValue. A missing or null claim, or one over 8 KiB,
// gives false.
func ClaimHeaderValue(v any) (string, bool) {
	var s string
	switch x := v.(type) {
	case nil:
		return "", false
	case string:
		s = x
	case json.Number:
		s = x.String()
	case bool:
		s = strconv.FormatBool(x)
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return "", false
		}
		s = string(b)
	}
	if len(s) > maxClaimHeaderBytes {
		return "", false
	}
	return EncodeHeaderValue(s), true
}

// EncodeHeaderValue returns s unchanged when it is safe in a header value
// (printable ASCII, no leading or trailing space, not itself in encoded
// form); otherwise the MCP header encoding "=?base64?<std base64 of the
// UTF-8 bytes>?=", so CR, LF, NUL or non-ASCII never reach the upstream raw
// and an attacker cannot forge an encoded-looking value.
func EncodeHeaderValue(s string) string {
	if safeValue(s) && !strings.HasPrefix(s, "=?") {
		return s
	}
	return "=?base64?" + base64.StdEncoding.EncodeToString([]byte(s)) + "?="
}

func safeValue(s string) bool {
	if s == "" {
		return true
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7E {
			return false
		}
	}
	return true
}
