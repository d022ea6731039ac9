package mcpproxy

import (
	"strings"
	"testing"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

func TestScopePolicy(t *testing.T) {
	p := newScopePolicy(RequiredScopes{
		Methods:   map[string][]string{"tools/call": {"mcp:call"}, "tools/list": {"mcp:read"}},
		Tools:     map[string][]string{"drop": {"db:admin", "mcp:call"}},
		Prompts:   map[string][]string{"secret": {"mcp:prompts"}},
		Resources: map[string][]string{"file:///etc/*": {"fs:etc"}, "file:///etc/hosts": {"fs:hosts"}, "file:///*": {"fs:read"}},
	}, map[string][]string{"mcp:admin": {"mcp:write", "db:admin"}, "mcp:write": {"mcp:call", "mcp:read"}})
	for _, c := range []struct {
		name, body, scopes string
		needed, missing    string
	}{
		{"tool rule after method rule", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"drop"}}`, "mcp:call", "mcp:call db:admin", "db:admin"},
		{"hierarchy: admin implies all", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"drop"}}`, "mcp:admin", "mcp:call db:admin", ""},
		{"hierarchy is transitive", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, "mcp:admin", "mcp:read", ""},
		{"implied scopes do not imply back", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"drop"}}`, "mcp:write", "mcp:call db:admin", "db:admin"},
		{"prompt rule", `{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"secret"}}`, "", "mcp:prompts", "mcp:prompts"},
		{"exact resource beats prefix", `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///etc/hosts"}}`, "fs:etc", "fs:hosts", "fs:hosts"},
		{"longest prefix", `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///etc/passwd"}}`, "fs:read", "fs:etc", "fs:etc"},
		{"shorter prefix", `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///home/a"}}`, "fs:read", "fs:read", ""},
		{"no rule", `{"jsonrpc":"2.0","id":1,"method":"ping"}`, "", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, err := Inspect([]byte(c.body))
			if err != nil {
				t.Fatal(err)
			}
			id := &rs.Identity{Scopes: strings.Fields(c.scopes)}
			needed := p.Needed(req)
			if got := strings.Join(needed, " "); got != c.needed {
				t.Errorf("Needed = %q, want %q", got, c.needed)
			}
			if got := strings.Join(p.Missing(needed, id), " "); got != c.missing {
				t.Errorf("Missing = %q, want %q", got, c.missing)
			}
		})
	}
	h := p.held(&rs.Identity{Scopes: []string{"mcp:call"}})
	for _, c := range []struct {
		kind, name string
		want       bool
	}{{"tools", "drop", false}, {"tools", "other", true}, {"prompts", "secret", false}, {"prompts", "open", true},
		{"resources", "file:///etc/hosts", false}, {"resources", "http://x", true}} {
		if got := p.allows(h, c.kind, c.name); got != c.want {
			t.Errorf("allows(%s %s) = %v, want %v", c.kind, c.name, got, c.want)
		}
	}
	bad := RequiredScopes{Tools: map[string][]string{"x": {"has space"}}, Prompts: map[string][]string{"": {"a"}}}
	if err := bad.normalize(); err == nil || !strings.Contains(err.Error(), "required_scopes.tools.x[0]") || !strings.Contains(err.Error(), "required_scopes.prompts: empty name") {
		t.Fatalf("normalize = %v", err)
	}
	if err := checkImplies(map[string][]string{"a": {"b c"}}); err == nil || !strings.Contains(err.Error(), "scope_implies.a[0]") {
		t.Fatalf("checkImplies = %v", err)
	}
}
