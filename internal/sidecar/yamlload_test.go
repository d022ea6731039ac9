package sidecar

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

// Shapes of the configuration, in small: a struct with scalars, a
// duration and an optional duration, a list of structs, maps of strings
// and of lists, a pointer to a struct, an ignored field, an untyped value,
// an inline embedded struct and an inline named struct.
type yamlTestItem struct {
	Name string      `yaml:"name"`
	Wait rs.Duration `yaml:"wait"`
}

type YAMLTestEmbedded struct {
	Shared string `yaml:"shared"`
	Flag   *bool  `yaml:"flag"`
}

type yamlTestExtra struct {
	Extra []string `yaml:"extra"`
}

type yamlTestDoc struct {
	Title   string              `yaml:"title"`
	Count   int                 `yaml:"count"`
	Ratio   float64             `yaml:"ratio"`
	On      bool                `yaml:"on"`
	Timeout rs.Duration         `yaml:"timeout"`
	Leeway  *rs.Duration        `yaml:"leeway"`
	Items   []yamlTestItem      `yaml:"items"`
	Labels  map[string]string   `yaml:"labels"`
	Rules   map[string][]string `yaml:"rules"`
	Ptr     *yamlTestItem       `yaml:"ptr"`
	Hidden  string              `yaml:"-"`
	Any     any                 `yaml:"any"`
	Lower   string              // key "lower"

	YAMLTestEmbedded `yaml:",inline"`
	More             yamlTestExtra `yaml:",inline"`
}

const yamlTestValid = `
title: demo
count: 3
ratio: 0.5
on: true
timeout: 1m
leeway: 5s
items:
  - name: a
    wait: 2s
  - &item
    name: b
  - *item
labels:
  X-Anything: "1"
  other key: two
rules:
  tools/call: [a, b]
ptr:
  name: p
any: {nested: [1, {x: y}]}
lower: l
shared: s
flag: false
extra: [e]
`

func TestDecodeYAMLValidDecodesAsYAMLUnmarshal(t *testing.T) {
	for name, doc := range map[string]string{
		"shapes":     yamlTestValid,
		"merge":      "ptr:\n  <<: {name: from-merge, wait: 1s}\n  name: own\n",
		"merge list": "items:\n  - <<: [{name: x}, {wait: 2s}]\n",
		"nulls":      "leeway:\nptr: ~\nitems: null\ntitle: ~\n",
		"quoted key": "\"title\": q\n",
	} {
		t.Run(name, func(t *testing.T) {
			var got, want yamlTestDoc
			if err := decodeYAML([]byte(doc), &got); err != nil {
				t.Fatal(err)
			}
			if err := yaml.Unmarshal([]byte(doc), &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("decodeYAML = %+v\nyaml.Unmarshal = %+v", got, want)
			}
		})
	}
	var d yamlTestDoc
	if err := decodeYAML([]byte(yamlTestValid), &d); err != nil {
		t.Fatal(err)
	}
	if d.Shared != "s" || d.Flag == nil || *d.Flag || len(d.More.Extra) != 1 || d.Lower != "l" ||
		time.Duration(*d.Leeway) != 5*time.Second || len(d.Items) != 3 || d.Items[2].Name != "b" || d.Labels["other key"] != "two" {
		t.Fatalf("decoded %+v", d)
	}
}

func TestDecodeYAMLErrors(t *testing.T) {
	cases := []struct {
		name string
		doc  string
		want []string // every error, in order
	}{
		{"unknown top-level key", "title: x\ntitel: y\n", []string{`line 2: unknown key "titel"`}},
		{"unknown key in a list element", "items:\n  - name: a\n  - nmae: b\n", []string{`line 3: unknown key "items[1].nmae"`}},
		{"unknown key behind a pointer", "ptr:\n  name: a\n  nam: b\n", []string{`line 3: unknown key "ptr.nam"`}},
		{"yaml:\"-\" is no key", "hidden: x\n", []string{`line 1: unknown key "hidden"`}},
		{"the Go field name is no key", "Title: x\n", []string{`line 1: unknown key "Title"`}},
		{"an inline struct's field names are no keys", "YAMLTestEmbedded: {}\nmore: {}\n", []string{
			`line 1: unknown key "YAMLTestEmbedded"`, `line 2: unknown key "more"`}},
		{"unknown key in a merged map", "ptr:\n  <<: {nme: x}\n", []string{`line 2: unknown key "ptr.nme"`}},
		{"not a number", "count: many\n", []string{`line 1: count: must be a whole number`}},
		{"not a float", "ratio: half\n", []string{`line 1: ratio: must be a number`}},
		{"not a bool", "on: maybe\n", []string{`line 1: on: must be true or false`}},
		{"not a string", "title: [a]\n", []string{`line 1: title: must be a string`}},
		{"not a list", "items: {name: a}\n", []string{`line 1: items: must be a list`}},
		{"scalar for a list", "items: a\n", []string{`line 1: items: must be a list`}},
		{"not a map", "labels: [a]\n", []string{`line 1: labels: must be a map`}},
		{"scalar for a struct", "ptr: 3\n", []string{`line 1: ptr: must be a map`}},
		{"map value not a list", "rules:\n  tools/call: a\n", []string{`line 2: rules.tools/call: must be a list`}},
		{"map value not a string", "labels:\n  a: {b: c}\n", []string{`line 2: labels.a: must be a string`}},
		{"bad duration", "timeout: soon\n", []string{`line 1: timeout: invalid duration "soon" (use e.g. 30s, 5m)`}},
		{"bad optional duration", "leeway: soon\n", []string{`line 1: leeway: invalid duration "soon" (use e.g. 30s, 5m)`}},
		{"number for a duration", "leeway: 30\n", []string{`line 1: leeway: invalid duration "30" (use e.g. 30s, 5m)`}},
		{"list for a duration", "items:\n  - wait: [1s]\n", []string{`line 2: items[0].wait: must be a single value`}},
		{"bad value in an inline struct", "flag: maybe\nextra: x\n", []string{`line 1: flag: must be true or false`, `line 2: extra: must be a list`}},
		{"bad value through an alias", "ptr: &p {wait: soon}\nitems: [*p]\n", []string{`line 1: ptr.wait: invalid duration "soon" (use e.g. 30s, 5m)`}},
		{"duplicate key", "title: a\ncount: 1\ntitle: b\n", []string{`line 3: duplicate key "title" (first at line 1)`}},
		{"duplicate key in a map", "labels:\n  a: x\n  a: y\n", []string{`line 3: duplicate key "labels.a" (first at line 2)`}},
		{"duplicate key in an untyped value", "any:\n  - {k: 1, k: 2}\n", []string{`line 2: duplicate key "any[0].k" (first at line 2)`}},
		{"duplicate key in a list element", "items:\n  - name: a\n    name: b\n", []string{`line 3: duplicate key "items[0].name" (first at line 2)`}},
		{"a merged key is no duplicate", "ptr:\n  <<: {name: a}\n  name: b\n  name: c\n", []string{`line 4: duplicate key "ptr.name" (first at line 3)`}},
		{"document not a map", "- a\n", []string{`line 1: must be a map`}},
		{"several, in document order", `
titel: x
count: many
items:
  - name: a
    wait: soon
  - nmae: b
    wait: [1]
labels: [a]
count: 2
on: maybe
`, []string{
			`line 2: unknown key "titel"`,
			`line 3: count: must be a whole number`,
			`line 6: items[0].wait: invalid duration "soon" (use e.g. 30s, 5m)`,
			`line 7: unknown key "items[1].nmae"`,
			`line 8: items[1].wait: must be a single value`,
			`line 9: labels: must be a map`,
			`line 10: duplicate key "count" (first at line 3)`,
			`line 11: on: must be true or false`,
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := yamlTestDoc{Title: "untouched"}
			err := decodeYAML([]byte(tc.doc), &d)
			if err == nil {
				t.Fatal("no error")
			}
			got := yamlErrors(t, err)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("errors:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
			if err.Error() != strings.Join(tc.want, "\n") {
				t.Errorf("Error() = %q", err.Error())
			}
			if d.Title != "untouched" {
				t.Errorf("dst was written despite errors: %+v", d)
			}
		})
	}
}

// yamlTestInlineMap has an inline map, which takes every key that is no
// field, and an inline pointer to a struct.
type yamlTestInlineMap struct {
	Name              string         `yaml:"name"`
	Rest              map[string]int `yaml:",inline"`
	*YAMLTestEmbedded `yaml:",inline"`
}

func TestDecodeYAMLInlineMap(t *testing.T) {
	const doc = "name: a\nshared: s\nx: 1\ny: 2\n"
	var got, want yamlTestInlineMap
	if err := decodeYAML([]byte(doc), &got); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal([]byte(doc), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) || got.Rest["y"] != 2 || got.YAMLTestEmbedded == nil || got.Shared != "s" {
		t.Fatalf("decodeYAML = %+v\nyaml.Unmarshal = %+v", got, want)
	}
	err := decodeYAML([]byte("name: a\nx: one\nflag: maybe\n"), &yamlTestInlineMap{})
	if got := strings.Join(yamlErrors(t, err), "\n"); got != "line 2: x: must be a whole number\nline 3: flag: must be true or false" {
		t.Fatalf("errors:\n%s", got)
	}
}

// yamlErrors returns the text of every *yamlError joined in err, and fails
// when err holds anything else.
func yamlErrors(t *testing.T, err error) []string {
	t.Helper()
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	var out []string
	for _, e := range errs {
		var ye *yamlError
		if !errors.As(e, &ye) {
			t.Fatalf("%T %v is not a *yamlError", e, e)
		}
		out = append(out, ye.Error())
	}
	return out
}

func TestDecodeYAMLErrorFields(t *testing.T) {
	err := decodeYAML([]byte("items:\n  - name: a\n    wait: soon\n  - isuer: x\nitems: []\n"), &yamlTestDoc{})
	var got []yamlError
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var ye *yamlError
		if !errors.As(e, &ye) {
			t.Fatalf("%T", e)
		}
		got = append(got, *ye)
	}
	want := []yamlError{
		{Kind: yamlBadValue, Line: 3, Column: 11, Path: "items[0].wait", Msg: `invalid duration "soon" (use e.g. 30s, 5m)`},
		{Kind: yamlUnknownKey, Line: 4, Column: 5, Path: "items[1].isuer"},
		{Kind: yamlDuplicateKey, Line: 5, Column: 1, Path: "items", FirstLine: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("errors = %+v\nwant %+v", got, want)
	}
}

func TestDecodeYAMLDocument(t *testing.T) {
	for _, doc := range []string{"", "\n\n", "# only a comment\n", "~\n", "---\n", "null\n"} {
		if err := decodeYAML([]byte(doc), &yamlTestDoc{}); err == nil || err.Error() != "config is empty" {
			t.Errorf("%q: %v, want config is empty", doc, err)
		}
	}
	err := decodeYAML([]byte("title: a\n---\ntitle: b\n"), &yamlTestDoc{})
	if err == nil || err.Error() != "line 2: only one YAML document is allowed" {
		t.Errorf("two documents: %v", err)
	}
	var ye *yamlError
	for _, doc := range []string{"title: [a\n", "a: b: c\n", "\ttitle: x\n", "title: a\n---\n[\n"} {
		err := decodeYAML([]byte(doc), &yamlTestDoc{})
		if err == nil || !strings.HasPrefix(err.Error(), "config is not valid YAML: ") || errors.As(err, &ye) {
			t.Errorf("%q: %v, want a syntax error", doc, err)
		}
	}
	// A self-referencing anchor passes the check (each node once) and is
	// refused by the decoder, whose error is returned wrapped.
	err = decodeYAML([]byte("any: &a [*a]\n"), &yamlTestDoc{})
	if err == nil || !strings.HasPrefix(err.Error(), "decode config: ") {
		t.Errorf("self-referencing anchor: %v", err)
	}
	if err := decodeYAML([]byte("title: a\n"), yamlTestDoc{}); err == nil {
		t.Error("a non-pointer dst was accepted")
	}
}

// TestDecodeYAMLAliasExpansion: aliases are not expanded by the check, so
// a document of nested aliases ("billion laughs") costs linear time.
func TestDecodeYAMLAliasExpansion(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 30; i++ {
		b.WriteString("a" + strconv.Itoa(i) + ": &a" + strconv.Itoa(i) + " [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + strconv.Itoa(i-1))
		}
		b.WriteString("]\n")
	}
	c := &yamlChecker{seen: map[yamlVisit]bool{}}
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(b.String()), &root); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.node(root.Content[0], reflect.TypeFor[map[string]any](), "")
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the check expands aliases")
	}
	if len(c.errs) != 0 {
		t.Fatal(c.errs)
	}
}

const configYAML = `
listen: 127.0.0.1:8080
admin_listen: "off"
log_level: debug
shutdown_timeout: 10s
read_header_timeout: 5s
upstream: http://127.0.0.1:3000
resource: https://mcp.example.com/mcp
resource_name: Demo
scopes_supported: [mcp:read, mcp:write]
challenge_scopes: [mcp:read]
validation_cache_size: 100
authorization_servers:
  - issuer: https://as.example.com
    jwks_uri: https://as.example.com/jwks
    audiences: [https://mcp.example.com/mcp]
    algorithms: [ES256]
    require_at_jwt_typ: true
    leeway: 10s
    jwks_refresh_interval: 5m
    jwks_min_refetch_interval: 10s
  - issuer: https://login.example.com/{tid}/v2.0
    tenants: [a, b]
    introspection:
      endpoint: https://login.example.com/introspect
      client_id: rs
      client_secret:
        env: RS_SECRET
      cache_ttl: 30s
identity_headers:
  subject: X-User
  claims:
    X-Org: org
    X-Anything-At-All: whatever
secret_headers:
  - header: X-Api-Key
    env: API_KEY
max_body_bytes: 1048576
body_read_timeout: 20s
preserve_host: false
allowed_origins: [https://app.example.com]
required_scopes:
  methods:
    tools/call: [mcp:write]
  tools:
    search: [mcp:read]
session_key:
  file: /run/secrets/session
strip_error_structured_content: false
`

// TestDecodeYAMLConfig runs decodeYAML on the sidecar's own Config.
func TestDecodeYAMLConfig(t *testing.T) {
	var got, want Config
	if err := decodeYAML([]byte(configYAML), &got); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal([]byte(configYAML), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decodeYAML = %+v\nyaml.Unmarshal = %+v", got, want)
	}

	const base = "upstream: http://127.0.0.1:3000\nresource: https://mcp.example.com/mcp\nauthorization_servers:\n  - issuer: https://as.example.com\n"
	cases := []struct {
		name, extra string
		want        []string
	}{
		{"typo in an authorization server", "    isuer: https://as.example.com\n", []string{`line 5: unknown key "authorization_servers[0].isuer"`}},
		{"typo at the top", "upstrem: x\n", []string{`line 5: unknown key "upstrem"`}},
		{"typo in introspection", "    introspection:\n      client_id: rs\n      client_sercet: {env: X}\n", []string{`line 7: unknown key "authorization_servers[0].introspection.client_sercet"`}},
		{"any claim header", "identity_headers:\n  claims:\n    X-Whatever: sub\n", nil},
		{"typo in identity_headers", "identity_headers:\n  subjet: X-User\n", []string{`line 6: unknown key "identity_headers.subjet"`}},
		{"yaml:\"-\" fields are no keys", "    tenant: a\nsecret_headers:\n  - header: X-Key\n    value: v\n", []string{
			`line 5: unknown key "authorization_servers[0].tenant"`, `line 8: unknown key "secret_headers[0].value"`}},
		{"bad leeway", "    leeway: soon\n", []string{`line 5: authorization_servers[0].leeway: invalid duration "soon" (use e.g. 30s, 5m)`}},
		{"bad body_read_timeout", "body_read_timeout: soon\n", []string{`line 5: body_read_timeout: invalid duration "soon" (use e.g. 30s, 5m)`}},
		{"bad cache_ttl", "    introspection:\n      cache_ttl: [1]\n", []string{`line 6: authorization_servers[0].introspection.cache_ttl: must be a single value`}},
		{"session_key a string", "session_key: abc\n", []string{`line 5: session_key: must be a map`}},
		{"preserve_host maybe", "preserve_host: maybe\n", []string{`line 5: preserve_host: must be true or false`}},
		{"max_body_bytes with a unit", "max_body_bytes: 4MB\n", []string{`line 5: max_body_bytes: must be a whole number`}},
		{"secret_headers a map", "secret_headers: {header: X}\n", []string{`line 5: secret_headers: must be a list`}},
		{"authorization_servers twice", "authorization_servers: []\n", []string{`line 5: duplicate key "authorization_servers" (first at line 3)`}},
		{"several", "    isuer: x\n    leeway: soon\nbody_read_timeout: soon\nlisten: [a]\n", []string{
			`line 5: unknown key "authorization_servers[0].isuer"`,
			`line 6: authorization_servers[0].leeway: invalid duration "soon" (use e.g. 30s, 5m)`,
			`line 7: body_read_timeout: invalid duration "soon" (use e.g. 30s, 5m)`,
			`line 8: listen: must be a string`,
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			err := decodeYAML([]byte(base+tc.extra), &c)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			if got := yamlErrors(t, err); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("errors:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}
