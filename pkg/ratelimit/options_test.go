package ratelimit

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		in       string
		interval time.Duration
		burst    int
		str      string
	}{
		{"10/s", 100 * time.Millisecond, 10, "10/s"},
		{" 20/s ", 50 * time.Millisecond, 20, "20/s"},
		{"1/m", time.Minute, 1, "1/m"},
		{"30/m", 2 * time.Second, 30, "30/m"},
		{"3600/h", time.Second, 3600, "3600/h"},
		{"0.5/s", 2 * time.Second, 1, "0.5/s"},
		{"2.5/s", 400 * time.Millisecond, 3, "2.5/s"},
		{"10.0/s", 100 * time.Millisecond, 10, "10/s"},
		{"3/s", 333333333 * time.Nanosecond, 3, "3/s"},
		{"1000000/s", time.Microsecond, 1000000, "1000000/s"},
	} {
		r, err := ParseRate(tc.in)
		if err != nil {
			t.Errorf("ParseRate(%q): %v", tc.in, err)
			continue
		}
		if r.Interval() != tc.interval || r.DefaultBurst() != tc.burst || r.String() != tc.str {
			t.Errorf("ParseRate(%q) = interval %v burst %d %q; want %v %d %q", tc.in, r.Interval(), r.DefaultBurst(), r.String(), tc.interval, tc.burst, tc.str)
		}
	}
	for _, bad := range []string{"", "10", "10/d", "/s", "0/s", "0.0/s", "-1/s", "1e3/s", "0x10/s", "Inf/s", "NaN/s", "1_000/s", "10 /s", "10/sec", ".5/s", "1000001/s"} {
		if _, err := ParseRate(bad); err == nil {
			t.Errorf("ParseRate(%q) accepted", bad)
		}
	}
}

func TestNormalizedDefaults(t *testing.T) {
	in := Options{
		Default: &Limit{Rate: "20/s"},
		Methods: map[string]Limit{"tools/call": {Rate: "10/s", Burst: 20}},
		Tools:   map[string]Limit{"expensive_search": {Rate: "0.5/s"}},
	}
	before := clone(in)
	n, err := in.Normalized("rate_limits")
	if err != nil {
		t.Fatal(err)
	}
	want := Options{
		Store: "memory", OnStoreError: "allow", MaxCallers: 100000, KeyPrefix: "mcpfd:rl:",
		Default: &Limit{Rate: "20/s", Burst: 20},
		Methods: map[string]Limit{"tools/call": {Rate: "10/s", Burst: 20}},
		Tools:   map[string]Limit{"expensive_search": {Rate: "0.5/s", Burst: 1}},
	}
	if !reflect.DeepEqual(n, want) {
		t.Fatalf("Normalized = %+v\nwant %+v", n, want)
	}
	if !reflect.DeepEqual(in, before) {
		t.Fatalf("Normalized wrote its receiver: %+v", in)
	}
	n.Default.Burst, n.Methods["x"], n.Tools["y"] = 7, Limit{}, Limit{}
	if !reflect.DeepEqual(in, before) {
		t.Fatal("Normalized shares maps or pointers with its receiver")
	}
	if !in.Enabled() || (Options{Store: "redis://h:1"}).Enabled() {
		t.Fatal("Enabled")
	}
}

func clone(o Options) Options {
	n := o
	if o.Default != nil {
		d := *o.Default
		n.Default = &d
	}
	n.Methods = map[string]Limit{}
	for k, v := range o.Methods {
		n.Methods[k] = v
	}
	n.Tools = map[string]Limit{}
	for k, v := range o.Tools {
		n.Tools[k] = v
	}
	return n
}

func TestNormalizedErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		o      Options
		fields []string
	}{
		{"store", Options{Store: "memcached://x"}, []string{"rate_limits.store"}},
		{"redis no host", Options{Store: "redis:///0"}, []string{"rate_limits.store"}},
		{"redis bad db", Options{Store: "redis://h:6379/x"}, []string{"rate_limits.store"}},
		{"redis bad option", Options{Store: "redis://h:6379/0?frobnicate=1"}, []string{"rate_limits.store"}},
		{"on_store_error", Options{OnStoreError: "maybe"}, []string{"rate_limits.on_store_error"}},
		{"max_callers", Options{MaxCallers: -1}, []string{"rate_limits.max_callers"}},
		{"password without redis", Options{StorePassword: &rs.SecretSource{Env: "X"}}, []string{"rate_limits.store_password"}},
		{"password two sources", Options{Store: "redis://h:1", StorePassword: &rs.SecretSource{Env: "X", File: "/f"}}, []string{"rate_limits.store_password"}},
		{"default rate missing", Options{Default: &Limit{Burst: 3}}, []string{"rate_limits.default.rate"}},
		{"all at once", Options{
			OnStoreError: "x",
			Default:      &Limit{Rate: "fast"},
			Methods:      map[string]Limit{"tools/call": {Rate: "10/s", Burst: -1}, "": {Rate: "1/s"}},
			Tools: map[string]Limit{
				"expensive_search": {Rate: "1/d"},
				"big":              {Rate: "1/s", Burst: MaxBurst + 1},
				"slow":             {Rate: "1/h", Burst: 10000},
			},
		}, []string{
			"rate_limits.default.rate", "rate_limits.methods",
			"rate_limits.methods.tools/call.burst", "rate_limits.on_store_error", "rate_limits.tools.big.burst",
			"rate_limits.tools.expensive_search.rate", "rate_limits.tools.slow.burst",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.o.Normalized("rate_limits")
			if err == nil {
				t.Fatal("accepted")
			}
			var got []string
			for _, e := range leaves(err) {
				var fe *rs.FieldError
				if !errors.As(e, &fe) {
					t.Fatalf("%v is not a *rs.FieldError", e)
				}
				got = append(got, fe.Field)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.fields) {
				t.Fatalf("fields %q; want %q (%v)", got, tc.fields, err)
			}
			if err := Check(tc.o, ""); err == nil {
				t.Fatal("Check accepted")
			}
		})
	}
	_, err := Options{Default: &Limit{}}.Normalized("p")
	if !errors.Is(err, rs.ErrRequired) {
		t.Fatalf("missing rate: %v is not rs.ErrRequired", err)
	}
}

func leaves(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leaves(e)...)
		}
		return out
	}
	return []error{err}
}

// TestStoreErrorsHidePassword: no error about the store URL repeats it.
func TestStoreErrorsHidePassword(t *testing.T) {
	for _, s := range []string{
		"redis://user:s3cret@h:6379/x",
		"redis://user:s3cret@h:port/0",
		"redis://user:s3cret@h:6379/0?frobnicate=1",
		"redis://user:s3cret@h:6379/0/1",
		"redis://user:s3cret@/0",
		"rediss://:s3cret@h: 1/0",
	} {
		err := Check(Options{Store: s}, "")
		if err == nil {
			t.Errorf("%q accepted", s)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("error repeats the password: %v", err)
		}
	}
	if got := redactedStore("redis://user:s3cret@h:6379/0"); strings.Contains(got, "s3cret") {
		t.Fatalf("redactedStore = %q", got)
	}
}

func TestCheckStorePassword(t *testing.T) {
	o := Options{Store: "redis://127.0.0.1:1/0", StorePassword: &rs.SecretSource{Env: "MCPFD_RL_TEST_UNSET_VAR"}}
	if err := Check(o, ""); err == nil || !strings.Contains(err.Error(), "rate_limits.store_password") {
		t.Fatalf("Check with an unset variable: %v", err)
	}
	t.Setenv("MCPFD_RL_TEST_PW", "pw")
	o.StorePassword.Env = "MCPFD_RL_TEST_PW"
	if err := Check(o, ""); err != nil {
		t.Fatal(err)
	}
}

func TestYAML(t *testing.T) {
	const doc = `
store: redis://:pw@127.0.0.1:6379/2
on_store_error: deny
max_callers: 5000
default: {rate: 20/s, burst: 40}
methods:
  tools/call: {rate: 10/s, burst: 20}
tools:
  expensive_search: {rate: 1/s, burst: 3}
`
	var o Options
	if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
		t.Fatal(err)
	}
	n, err := o.Normalized("rate_limits")
	if err != nil {
		t.Fatal(err)
	}
	if n.OnStoreError != "deny" || n.MaxCallers != 5000 || *n.Default != (Limit{"20/s", 40}) ||
		n.Methods["tools/call"] != (Limit{"10/s", 20}) || n.Tools["expensive_search"] != (Limit{"1/s", 3}) || !n.IsRedis() {
		t.Fatalf("%+v", n)
	}
}

func TestLimitFromArgs(t *testing.T) {
	if l, err := LimitFromArgs([]string{"10/s", "20"}); err != nil || l != (Limit{"10/s", 20}) {
		t.Fatal(l, err)
	}
	if l, err := LimitFromArgs([]string{"10/s"}); err != nil || l != (Limit{Rate: "10/s"}) {
		t.Fatal(l, err)
	}
	for _, bad := range [][]string{nil, {"1/s", "x"}, {"1/s", "2", "3"}} {
		if _, err := LimitFromArgs(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
