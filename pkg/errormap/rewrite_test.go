package errormap

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func sameSlice(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

func TestStripStructuredContentOnError(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // "" = unchanged
	}{
		{"isError true with structuredContent",
			`{"content":[{"type":"text","text":"boom"}],"structuredContent":{"error":"boom"},"isError":true}`,
			`{"content":[{"type":"text","text":"boom"}],"isError":true}`},
		{"isError true without structuredContent", `{"content":[],"isError":true}`, ""},
		{"isError false untouched", `{"content":[],"structuredContent":{"a":1},"isError":false}`, ""},
		{"isError absent untouched", `{"content":[],"structuredContent":{"a":1}}`, ""},
		{"isError string untouched", `{"structuredContent":{},"isError":"true"}`, ""},
		{"input_required skipped", `{"resultType":"input_required","isError":true,"structuredContent":{}}`, ""},
		{"resultType complete stripped", `{"resultType":"complete","isError":true,"structuredContent":{}}`, `{"resultType":"complete","isError":true}`},
		{"structuredContent first", `{"structuredContent":null,"isError":true}`, `{"isError":true}`},
		{"structuredContent last", `{"isError":true,"structuredContent":{"x":[1,2]}}`, `{"isError":true}`},
		{"only member left is isError", `{"structuredContent":1,"isError":true}`, `{"isError":true}`},
		{"key order and numbers kept",
			`{"z":1e2,"content":[{"type":"text","text":"x"}],"structuredContent":{"v":1.0},"m":1.50,"isError":true,"a":-0.0E+1}`,
			`{"z":1e2,"content":[{"type":"text","text":"x"}],"m":1.50,"isError":true,"a":-0.0E+1}`},
		{"pretty printed",
			"{\n  \"content\": [],\n  \"structuredContent\": {\n    \"a\": 1\n  },\n  \"isError\": true\n}",
			"{\n  \"content\": [],\n  \"isError\": true\n}"},
		{"surrounding whitespace kept", " {\"isError\":true,\"structuredContent\":{}} \n", " {\"isError\":true} \n"},
		{"duplicate structuredContent all removed", `{"structuredContent":1,"isError":true,"structuredContent":2}`, `{"isError":true}`},
		{"duplicate isError: last false wins", `{"isError":true,"structuredContent":1,"isError":false}`, ""},
		{"duplicate isError: last true wins", `{"isError":false,"structuredContent":1,"isError":true}`, `{"isError":false,"isError":true}`},
		{"escaped keys decoded", `{"is\u0045rror":true,"structured\u0043ontent":{},"b":2}`, `{"is\u0045rror":true,"b":2}`},
		{"escaped resultType value", `{"resultType":"input\u005frequired","isError":true,"structuredContent":{}}`, ""},
		{"nested structuredContent untouched", `{"content":[{"structuredContent":1}],"isError":true}`, ""},
		{"strings with braces and escapes", `{"content":[{"type":"text","text":"a\"}{\\"}],"structuredContent":{"s":"]\\\""},"isError":true}`,
			`{"content":[{"type":"text","text":"a\"}{\\"}],"isError":true}`},
		{"array", `[{"isError":true,"structuredContent":1}]`, ""},
		{"string", `"x"`, ""},
		{"null", `null`, ""},
		{"empty", ``, ""},
		{"empty object", `{}`, ""},
		{"invalid: unterminated", `{"isError":true,"structuredContent":{}`, ""},
		{"invalid: trailing garbage", `{"isError":true,"structuredContent":{}} x`, ""},
		{"invalid: trailing comma", `{"isError":true,"structuredContent":{},}`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := json.RawMessage(tc.in)
			got, changed := StripStructuredContentOnError(in)
			if tc.want == "" {
				if changed || !sameSlice(got, in) {
					t.Errorf("changed = %v, got %s; want the input slice back", changed, got)
				}
				return
			}
			if !changed || string(got) != tc.want {
				t.Errorf("got (%s, %v), want (%s, true)", got, changed, tc.want)
			}
			if !json.Valid(got) {
				t.Error("output is not valid JSON")
			}
			if tc.in[0] != ' ' && string(in) != tc.in {
				t.Error("input modified")
			}
		})
	}
}

func TestRewriteResponse(t *testing.T) {
	ids := make(IDSet)
	for _, id := range []string{`1`, `"a"`, `7`, `"é"`} {
		ids.Add(json.RawMessage(id))
	}
	tests := []struct {
		name string
		in   string
		want string // "" = unchanged
	}{
		{"tools/call error result stripped",
			`{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"e"}],"structuredContent":{"n":1.50},"isError":true}}`,
			`{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"e"}],"isError":true}}`},
		{"string id", `{"jsonrpc":"2.0","id":"a","result":{"isError":true,"structuredContent":{}}}`,
			`{"jsonrpc":"2.0","id":"a","result":{"isError":true}}`},
		{"escaped string id matches", `{"jsonrpc":"2.0","id":"\u00e9","result":{"isError":true,"structuredContent":{}}}`,
			`{"jsonrpc":"2.0","id":"\u00e9","result":{"isError":true}}`},
		{"number id re-encoded as 1.0 matches", `{"jsonrpc":"2.0","id":1.0,"result":{"isError":true,"structuredContent":{}}}`,
			`{"jsonrpc":"2.0","id":1.0,"result":{"isError":true}}`},
		{"id mismatch untouched", `{"jsonrpc":"2.0","id":2,"result":{"isError":true,"structuredContent":{}}}`, ""},
		{`"1" is not 1`, `{"jsonrpc":"2.0","id":"1","result":{"isError":true,"structuredContent":{}}}`, ""},
		{"null id untouched", `{"jsonrpc":"2.0","id":null,"result":{"isError":true,"structuredContent":{}}}`, ""},
		{"no id untouched", `{"jsonrpc":"2.0","result":{"isError":true,"structuredContent":{}}}`, ""},
		{"isError false untouched", `{"jsonrpc":"2.0","id":1,"result":{"isError":false,"structuredContent":{}}}`, ""},
		{"input_required skipped", `{"jsonrpc":"2.0","id":1,"result":{"resultType":"input_required","isError":true,"structuredContent":{}}}`, ""},
		{"error response untouched", `{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"x"}}`, ""},
		{"server request with the same id untouched", `{"jsonrpc":"2.0","id":1,"method":"sampling/createMessage","result":{"isError":true,"structuredContent":{}}}`, ""},
		{"notification untouched", `{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1.50}}`, ""},
		{"non-object result untouched", `{"jsonrpc":"2.0","id":1,"result":[1]}`, ""},
		{"key order kept, result first",
			`{"result":{"isError":true,"structuredContent":{"a":1e2},"_meta":{"x":1.50}},"id":7,"jsonrpc":"2.0"}`,
			`{"result":{"isError":true,"_meta":{"x":1.50}},"id":7,"jsonrpc":"2.0"}`},
		{"SSE data trailing newline kept",
			"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"isError\":true,\"structuredContent\":{}}}\n",
			"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"isError\":true}}\n"},
		{"batch: only matching error results change",
			`[{"jsonrpc":"2.0","id":1,"result":{"structuredContent":{"v":1e2},"isError":true}}, {"jsonrpc":"2.0","id":2,"result":{"structuredContent":{},"isError":true}},{"jsonrpc":"2.0","id":"a","result":{"isError":true,"structuredContent":0}} ]`,
			`[{"jsonrpc":"2.0","id":1,"result":{"isError":true}}, {"jsonrpc":"2.0","id":2,"result":{"structuredContent":{},"isError":true}},{"jsonrpc":"2.0","id":"a","result":{"isError":true}} ]`},
		{"batch with nothing to do", `[{"jsonrpc":"2.0","id":2,"result":{"isError":true,"structuredContent":{}}},{"jsonrpc":"2.0","method":"x"}]`, ""},
		{"batch with odd elements", `[1,"s",null,[],{"jsonrpc":"2.0","id":1,"result":{"isError":true,"structuredContent":{}}}]`,
			`[1,"s",null,[],{"jsonrpc":"2.0","id":1,"result":{"isError":true}}]`},
		{"empty batch", `[]`, ""},
		{"invalid JSON untouched", `{"jsonrpc":"2.0","id":1,"result":{"isError":true,"structuredContent":{}}`, ""},
		{"invalid batch untouched", `[{"jsonrpc":"2.0","id":1,"result":{"isError":true,"structuredContent":{}}},]`, ""},
		{"scalar", `42`, ""},
		{"empty", ``, ""},
		{"whitespace", " \n", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.in)
			got, changed := RewriteResponse(in, ids.Has)
			if tc.want == "" {
				if changed || !sameSlice(got, in) {
					t.Errorf("changed = %v, got %s; want the input slice back", changed, got)
				}
				return
			}
			if !changed || string(got) != tc.want {
				t.Errorf("got\n  (%s, %v)\nwant\n  (%s, true)", got, changed, tc.want)
			}
			if string(in) != tc.in {
				t.Error("input modified")
			}
		})
	}
}

func TestRewriteResponseCallback(t *testing.T) {
	var seen []string
	cb := func(id json.RawMessage) bool { seen = append(seen, string(id)); return false }
	msg := []byte(`[{"id":null,"result":{"isError":true,"structuredContent":{}}},` +
		`{"id":1e0,"result":{"isError":true,"structuredContent":{}}},` +
		`{"id": "a\u0062" ,"result":{"isError":true,"structuredContent":{}}},` +
		`{"id":5,"result":{"isError":false,"structuredContent":{}}}]`)
	if _, changed := RewriteResponse(msg, cb); changed {
		t.Fatal("changed")
	}
	// null skipped; ids normalized; callback not consulted when the result
	// would not be rewritten anyway.
	if want := []string{`1`, `"ab"`}; !reflect.DeepEqual(seen, want) {
		t.Errorf("callback saw %q, want %q", seen, want)
	}
}

func TestNormalizeID(t *testing.T) {
	tests := []struct{ in, want string }{
		{`1`, `1`},
		{` 1 `, `1`},
		{`-12`, `-12`},
		{`0`, `0`},
		{`-0`, `0`},
		{`1.0`, `1`},
		{`1e2`, `100`},
		{`1E+2`, `100`},
		{`1.50`, `1.5`},
		{`-0.0`, `0`},
		{`12345678901234567890`, `12345678901234567890`},
		{`1e300`, `1e+300`},
		{`"a"`, `"a"`},
		{`"a\u0062"`, `"ab"`},
		{`"\u00e9"`, `"é"`},
		{`"é"`, `"é"`},
		{`"\/"`, `"/"`},
		{`"<&>"`, `"\u003c\u0026\u003e"`},
		{`null`, `null`},
		{`true`, `true`},
		{`{ "a" : 1 }`, `{"a":1}`},
		{``, ``},
		{`"unterminated`, `"unterminated`},
		{`1e999`, `1e999`},
	}
	for _, tc := range tests {
		got := NormalizeID(json.RawMessage(tc.in))
		if string(got) != tc.want {
			t.Errorf("NormalizeID(%s) = %s, want %s", tc.in, got, tc.want)
		}
		if again := NormalizeID(got); string(again) != string(got) {
			t.Errorf("NormalizeID not idempotent on %s: %s", got, again)
		}
	}
	if string(NormalizeID(json.RawMessage(`"1"`))) == string(NormalizeID(json.RawMessage(`1`))) {
		t.Error(`"1" and 1 normalize equal`)
	}
}

func TestIDSet(t *testing.T) {
	s := make(IDSet)
	s.Add(json.RawMessage(`1`))
	s.Add(json.RawMessage(`"x"`))
	for in, want := range map[string]bool{`1`: true, `1.0`: true, ` 1`: true, `"1"`: false, `"x"`: true, `"\u0078"`: true, `2`: false} {
		if got := s.Has(json.RawMessage(in)); got != want {
			t.Errorf("Has(%s) = %v, want %v", in, got, want)
		}
	}
	s.Remove(json.RawMessage(`1.0`))
	if s.Has(json.RawMessage(`1`)) {
		t.Error("Remove did not normalize")
	}
}

func FuzzRewriteResponse(f *testing.F) {
	seeds := []string{
		`{"jsonrpc":"2.0","id":1,"result":{"content":[],"structuredContent":{"a":1e2},"isError":true}}`,
		`{"jsonrpc":"2.0","id":"a","result":{"isError":true,"structuredContent":null,"m":1.50}}`,
		`[{"id":1,"result":{"isError":true,"structuredContent":1}},{"id":2,"result":{}}]`,
		`{"id":1,"result":{"resultType":"input_required","isError":true,"structuredContent":{}}}`,
		`{"id":1,"method":"x","result":{"isError":true,"structuredContent":{}}}`,
		`{"is\u0045rror":true}`, `[]`, `{}`, `"\\"`, `{"id":1,"result":{"isError":true,"structuredContent":"\"}"}}`,
		" {\n \"id\" : 1 ,\n \"result\" : { \"structuredContent\" : [ ] , \"isError\" : true } \n} ",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		orig := bytes.Clone(msg)
		all := func(json.RawMessage) bool { return true }
		out, changed := RewriteResponse(msg, all)
		if !bytes.Equal(msg, orig) {
			t.Fatal("input modified")
		}
		if !changed {
			if !sameSlice(out, msg) {
				t.Fatal("unchanged but a different slice")
			}
			return
		}
		if !json.Valid(msg) {
			t.Fatalf("changed invalid input %q", msg)
		}
		if !json.Valid(out) {
			t.Fatalf("valid input %q gave invalid output %q", msg, out)
		}
		if _, again := RewriteResponse(out, all); again {
			t.Fatalf("not idempotent: %q", out)
		}
		// For a single message, the output must decode to the input minus
		// result.structuredContent (numbers compared as written).
		if t0 := bytes.TrimLeft(msg, " \t\r\n"); len(t0) > 0 && t0[0] == '{' {
			in, outV := decodeNumbers(t, msg), decodeNumbers(t, out)
			res, ok := in.(map[string]any)["result"].(map[string]any)
			if !ok {
				t.Fatalf("changed a message without an object result: %q", msg)
			}
			delete(res, "structuredContent")
			if !reflect.DeepEqual(in, outV) {
				t.Fatalf("semantic change:\n in %q\nout %q", msg, out)
			}
		}
	})
}

func FuzzStripStructuredContentOnError(f *testing.F) {
	for _, s := range []string{`{"isError":true,"structuredContent":{}}`, `{"a":1,"structuredContent":2,"isError":true,"b":[3]}`, `{}`, `[]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, changed := StripStructuredContentOnError(in)
		if !changed {
			if !sameSlice(out, in) {
				t.Fatal("unchanged but a different slice")
			}
			return
		}
		if !json.Valid(in) || !json.Valid(out) {
			t.Fatalf("in valid=%v out valid=%v: %q → %q", json.Valid(in), json.Valid(out), in, out)
		}
		inV := decodeNumbers(t, in).(map[string]any)
		delete(inV, "structuredContent")
		if outV := decodeNumbers(t, out); !reflect.DeepEqual(inV, outV) {
			t.Fatalf("semantic change: %q → %q", in, out)
		}
	})
}

func decodeNumbers(t *testing.T, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
	return v
}

// benchMessage builds a tools/call response of about 2 KB.
func benchMessage(isError bool) []byte {
	text := strings.Repeat("The upstream tool produced this line of output. ", 26)
	flag := "false"
	if isError {
		flag = "true"
	}
	return []byte(`{"jsonrpc":"2.0","id":42,"result":{"content":[{"type":"text","text":"` + text +
		`"}],"structuredContent":{"items":[{"id":1,"name":"alpha","score":1.50},{"id":2,"name":"beta","score":1e2}],"total":2,"next":null},` +
		`"isError":` + flag + `,"_meta":{"trace":"abc123"}}}`)
}

func BenchmarkRewriteResponse(b *testing.B) {
	ids := make(IDSet)
	ids.Add(json.RawMessage(`42`))
	for _, bc := range []struct {
		name    string
		msg     []byte
		changed bool
	}{
		{"touched", benchMessage(true), true},
		{"untouched", benchMessage(false), false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			if _, ch := RewriteResponse(bc.msg, ids.Has); ch != bc.changed {
				b.Fatalf("changed = %v", ch)
			}
			b.SetBytes(int64(len(bc.msg)))
			b.ReportAllocs()
			for b.Loop() {
				RewriteResponse(bc.msg, ids.Has)
			}
		})
	}
}
