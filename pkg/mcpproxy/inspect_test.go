package mcpproxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
)

// TestInspectRefuses lists bodies that an MCP server could read otherwise
// than the guard: each is refused with the exact JSON-RPC code and id.
func TestInspectRefuses(t *testing.T) {
	call := `"jsonrpc":"2.0","id":7,"method":"tools/call"`
	for _, c := range []struct {
		name, body string
		code       int
		id         string // "" = no id in the answer
	}{
		{"duplicate method", `{"jsonrpc":"2.0","id":7,"method":"tools/list","method":"tools/call","params":{"name":"admin"}}`, -32600, ""},
		{"Method beside method", `{"jsonrpc":"2.0","id":7,"method":"tools/list","Method":"tools/call","params":{"name":"admin"}}`, -32600, "7"},
		{"METHOD beside method", `{"jsonrpc":"2.0","id":7,"METHOD":"tools/call","method":"tools/list"}`, -32600, "7"},
		{"Params beside params", `{` + call + `,"params":{"name":"ok"},"Params":{"name":"admin"}}`, -32600, "7"},
		{"NAME beside name", `{` + call + `,"params":{"name":"ok","NAME":"admin"}}`, -32600, "7"},
		{"duplicate name", `{` + call + `,"params":{"name":"ok","name":"admin"}}`, -32600, ""},
		{"duplicate id", `{"jsonrpc":"2.0","id":1,"id":2,"method":"tools/list"}`, -32600, ""},
		{"long s folds to s", `{` + call + `,"paramſ":{"name":"admin"},"params":{"name":"ok"}}`, -32600, "7"},
		{"Kelvin sign folds to k", `{"jsonrpc":"2.0","id":7,"method":"tasks/get","params":{"taskId":"a","tasKId":"b"}}`, -32600, "7"},
		{"escaped duplicate", `{"jsonrpc":"2.0","id":7,"method":"tools/list","m\u0065thod":"tools/call"}`, -32600, ""},
		{"batch with case-variant member", `[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","id":2,"method":"tools/list","Method":"tools/call","params":{"name":"admin"}}]`, -32600, ""},
		{"batch with duplicate", `[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ok","name":"admin"}}]`, -32600, ""},
		{"uri of the wrong type", `{"jsonrpc":"2.0","id":7,"method":"resources/read","params":{"uri":1}}`, -32600, "7"},
		{"taskId of the wrong type", `{"jsonrpc":"2.0","id":7,"method":"tasks/get","params":{"taskId":{}}}`, -32600, "7"},
		{"name of the wrong type", `{` + call + `,"params":{"name":["admin"]}}`, -32600, "7"},
		{"name missing", `{` + call + `,"params":{"arguments":{}}}`, -32600, "7"},
		{"params missing", `{` + call + `}`, -32600, "7"},
		{"params an array", `{` + call + `,"params":["admin"]}`, -32600, "7"},
		{"method a number", `{"jsonrpc":"2.0","id":7,"method":1}`, -32600, "7"},
		{"method empty", `{"jsonrpc":"2.0","id":7,"method":""}`, -32600, "7"},
		{"id an object", `{"jsonrpc":"2.0","id":{},"method":"tools/list"}`, -32600, ""},
		{"id null", `{"jsonrpc":"2.0","id":null,"method":"tools/list"}`, -32600, ""},
		{"id true", `{"jsonrpc":"2.0","id":true,"method":"tools/list"}`, -32600, ""},
		{"no jsonrpc", `{"id":7,"method":"tools/list"}`, -32600, "7"},
		{"jsonrpc 1.0", `{"jsonrpc":"1.0","id":7,"method":"tools/list"}`, -32600, "7"},
		{"request with result", `{"jsonrpc":"2.0","id":7,"method":"tools/list","result":{}}`, -32600, "7"},
		{"response with both", `{"jsonrpc":"2.0","id":7,"result":{},"error":{}}`, -32600, "7"},
		{"response without id", `{"jsonrpc":"2.0","result":{}}`, -32600, ""},
		{"trailing value", `{"jsonrpc":"2.0","id":7,"method":"tools/list"}{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"admin"}}`, -32700, ""},
		{"trailing garbage", `{"jsonrpc":"2.0","id":7,"method":"tools/list"} x`, -32700, ""},
		{"invalid UTF-8 in a name", "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/list\",\"meth\xffod\":\"tools/call\"}", -32700, ""},
		{"invalid UTF-8 in a value", "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{\"name\":\"adm\xffin\"}}", -32700, ""},
		{"duplicate deep in arguments", `{` + call + `,"params":{"name":"ok","arguments":{"a":1,"a":2}}}`, -32600, ""},
		{"empty body", ``, -32700, ""},
		{"whitespace body", " \n", -32700, ""},
		{"truncated", `{"jsonrpc":`, -32700, ""},
		{"a string", `"tools/call"`, -32600, ""},
		{"empty batch", `[]`, -32600, ""},
		{"batch of numbers", `[1]`, -32600, ""},
		{"byte order mark", "\xef\xbb\xbf{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/list\"}", -32700, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, err := Inspect([]byte(c.body))
			if err == nil {
				t.Fatalf("accepted: %+v", req.Messages)
			}
			var be *BodyError
			if !errors.As(err, &be) || !errors.Is(err, ErrBodyRefused) {
				t.Fatalf("error %v is not a *BodyError", err)
			}
			if be.Code != c.code || string(be.ID) != c.id {
				t.Fatalf("code %d id %q, want %d %q (%s)", be.Code, be.ID, c.code, c.id, be.Msg)
			}
			if strings.Contains(be.Msg, "admin") {
				t.Fatalf("message echoes the body: %q", be.Msg)
			}
		})
	}
}

func TestInspectAccepts(t *testing.T) {
	for _, c := range []struct {
		name, body string
		want       []Message
	}{
		{"tools/call", `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"admin","arguments":{"Name":"x","name":"y"}}}`,
			[]Message{{Method: "tools/call", ID: json.RawMessage("7"), Name: "admin"}}},
		{"escaped names and values", `{"jsonrpc":"2.0","id":"a","m\u0065thod":"resources/read","params":{"uri":"file:///\u0078"}}`,
			[]Message{{Method: "resources/read", ID: json.RawMessage(`"a"`), Name: "file:///x"}}},
		{"notification", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, []Message{{Method: "notifications/initialized"}}},
		{"response", `{"jsonrpc":"2.0","id":1,"result":{"Result":1}}`, []Message{{ID: json.RawMessage("1")}}},
		{"error response", `{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"x"}}`, []Message{{ID: json.RawMessage("1")}}},
		{"task", `{"jsonrpc":"2.0","id":1,"method":"tasks/get","params":{"taskId":"t1","_meta":{}}}`, []Message{{Method: "tasks/get", ID: json.RawMessage("1"), Name: "t1"}}},
		{"unknown members", `{"jsonrpc":"2.0","id":1.5,"method":"x/y","params":{"other":[1,{"a":null}]},"extra":true}`, []Message{{Method: "x/y", ID: json.RawMessage("1.5")}}},
		{"batch", ` [{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}},{"jsonrpc":"2.0","method":"n"}] `,
			[]Message{{Method: "tools/call", ID: json.RawMessage("1"), Name: "a"}, {Method: "n"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, err := Inspect([]byte(c.body))
			if err != nil {
				t.Fatal(err)
			}
			if len(req.Messages) != len(c.want) {
				t.Fatalf("messages %+v, want %+v", req.Messages, c.want)
			}
			for i, m := range req.Messages {
				w := c.want[i]
				if m.Method != w.Method || string(m.ID) != string(w.ID) || m.Name != w.Name {
					t.Errorf("message %d = %+v, want %+v", i, m, w)
				}
			}
		})
	}
}

// reading is what a server takes from one message: the fields the policy
// decides on.
type reading struct{ Method, ID, Name, URI, TaskID string }

// readAs reads a single-message body the way a server might: member names
// matched case-sensitively, the first or the last of duplicates winning.
func readAs(body []byte, lastWins bool) (reading, bool) {
	var r reading
	dec := jsontext.NewDecoder(bytes.NewReader(body), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	seen := map[string]bool{}
	set := func(dst *string, key, v string) {
		if lastWins || !seen[key] {
			*dst = v
		}
		seen[key] = true
	}
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return r, false
	}
	for dec.PeekKind() == '"' {
		tok, _ := dec.ReadToken()
		name := tok.String()
		v, err := dec.ReadValue()
		if err != nil {
			return r, false
		}
		switch name {
		case "method":
			var s string
			_ = json.Unmarshal(v, &s)
			set(&r.Method, "method", s)
		case "id":
			set(&r.ID, "id", string(v))
		case "params":
			pd := jsontext.NewDecoder(bytes.NewReader(v), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
			if tok, err := pd.ReadToken(); err != nil || tok.Kind() != '{' {
				continue
			}
			for pd.PeekKind() == '"' {
				ptok, _ := pd.ReadToken()
				pn := ptok.String()
				pv, err := pd.ReadValue()
				if err != nil {
					break
				}
				var s string
				_ = json.Unmarshal(pv, &s)
				switch pn {
				case "name":
					set(&r.Name, "params.name", s)
				case "uri":
					set(&r.URI, "params.uri", s)
				case "taskId":
					set(&r.TaskID, "params.taskId", s)
				}
			}
		}
	}
	return r, true
}

// readStd reads a single-message body with encoding/json (case-insensitive
// member matching, the last duplicate winning).
func readStd(body []byte) (reading, bool) {
	var m struct {
		Method string          `json:"method"`
		ID     json.RawMessage `json:"id"`
		Params struct {
			Name   string `json:"name"`
			URI    string `json:"uri"`
			TaskID string `json:"taskId"`
		} `json:"params"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return reading{}, false
	}
	return reading{Method: m.Method, ID: string(m.ID), Name: m.Params.Name, URI: m.Params.URI, TaskID: m.Params.TaskID}, true
}

// FuzzInspect: a body Inspect accepts is read identically by encoding/json,
// by a case-sensitive first-wins reader and by a last-wins reader, and
// that reading is the guard's.
func FuzzInspect(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/list","Method":"tools/call"}`,
		`{"jsonrpc":"2.0","id":"x","method":"resources/read","params":{"uri":"u","URI":"v"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tasks/get","params":{"taskId":"a","tasKId":"b"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","paramſ":{"name":"b"},"params":{"name":"a"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","name":"b"}}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`{"jsonrpc":"2.0","id":1,"result":{}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := Inspect(body)
		if err != nil || req.Batch {
			return
		}
		m := req.Messages[0]
		first, ok1 := readAs(body, false)
		last, ok2 := readAs(body, true)
		std, ok3 := readStd(body)
		if !ok1 || !ok2 || !ok3 {
			t.Fatalf("accepted, but a reader failed: %v %v %v", ok1, ok2, ok3)
		}
		if first != last || first != std {
			t.Fatalf("readings differ:\n first %+v\n last  %+v\n std   %+v", first, last, std)
		}
		name := first.Name
		switch {
		case m.Method == "resources/read":
			name = first.URI
		case strings.HasPrefix(m.Method, "tasks/"):
			name = first.TaskID
		}
		if first.Method != m.Method || first.ID != string(m.ID) || name != m.Name {
			t.Fatalf("guard read %+v, servers read %+v", m, first)
		}
	})
}
