package errormap

import (
	"encoding/json"
	"strings"
	"testing"
)

var validJSONCases = []string{
	``, ` `, `{}`, `[]`, `{"a":1}`, `{"a":1,}`, `[1,]`, `[,1]`, `{"a" 1}`, `{"a":}`, `{a:1}`, `{"a":1 "b":2}`,
	`"x"`, `"\u00e9"`, `"\u00g9"`, `"\u00e"`, `"\x"`, `"\/\b\f\n\r\t\"\\"`, "\"a\tb\"", "\"a\x7fb\"", "\"\xff\xfe\"",
	`"abc`, `"abc\"`, `0`, `-0`, `01`, `-`, `-a`, `1.`, `1.5`, `.5`, `1e`, `1e+`, `1e+5`, `1E-05`, `1.5e3`, `-12.30e+0`,
	`true`, `tru`, `truex`, `false`, `null`, `nul`, `nulll`, ` [ 1 , 2 ] `, "\t{\n\"a\"\r:\n[ ]}\n", `[1][2]`, `{}x`,
	`[true,false,null,"",{},[]]`, "\u00a0{}", `{"a":{"b":{"c":[1,{"d":null}]}}}`, `[[[]]`, `[[]]]`, `{"a":1}}`,
	`{"jsonrpc":"2.0","id":1,"result":{"isError":true,"structuredContent":{"x":[1,2,{"y":"z"}]}}}`,
	strings.Repeat(`[`, 10000) + strings.Repeat(`]`, 10000),
	strings.Repeat(`[`, 10001) + strings.Repeat(`]`, 10001),
	strings.Repeat(`{"a":`, 10000) + `1` + strings.Repeat(`}`, 10000),
	strings.Repeat(`{"a":`, 10001) + `1` + strings.Repeat(`}`, 10001),
	strings.Repeat(`[`, 9999) + `{"a":1}` + strings.Repeat(`]`, 9999),
	strings.Repeat(`[`, 10000) + `{"a":1}` + strings.Repeat(`]`, 10000),
}

func TestValidJSONMatchesEncodingJSON(t *testing.T) {
	for _, c := range validJSONCases {
		if got, want := validJSON([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("validJSON(%.60q) = %v, json.Valid = %v", c, got, want)
		}
	}
}

func FuzzValidJSON(f *testing.F) {
	for _, c := range validJSONCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid = %v", b, got, want)
		}
	})
}

// BenchmarkRewriteResponseLarge rewrites a 1 MiB tools/call error result
// (touched) and scans the same result without isError (untouched).
func BenchmarkRewriteResponseLarge(b *testing.B) {
	ids := make(IDSet)
	ids.Add(json.RawMessage(`42`))
	big := strings.Repeat(`{"type":"text","text":"The upstream tool produced this line of output \"quoted\" \u00e9."},`, 1<<20/90)
	msg := func(flag string) []byte {
		return []byte(`{"jsonrpc":"2.0","id":42,"result":{"content":[` + big + `{"type":"text","text":"end"}],` +
			`"structuredContent":{"items":[{"id":1,"score":1.50}]},"isError":` + flag + `}}`)
	}
	for _, bc := range []struct {
		name    string
		msg     []byte
		changed bool
	}{{"touched", msg("true"), true}, {"untouched", msg("false"), false}} {
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
