package mcpproxy

import (
	"bytes"
	"encoding/json"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/errormap"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

// listKind says which member of a list result is filtered, by which
// entry field, under which rules.
type listKind struct{ member, kind, field string }

var listKinds = map[string]listKind{
	"tools/list":               {"tools", "tools", "name"},
	"prompts/list":             {"prompts", "prompts", "name"},
	"resources/list":           {"resources", "resources", "uri"},
	"resources/templates/list": {"resourceTemplates", "resources", "uriTemplate"},
}

// listFilter returns the filter for the list results of req (every page):
// entries the caller could not use under the scope policy are removed, so
// an agent is not offered a tool it may not call. nil when req lists
// nothing the policy has rules for.
func (g *Guard) listFilter(req *Request, id *rs.Identity) func([]byte) ([]byte, bool) {
	if req == nil || g.scopes.rules.Empty() {
		return nil
	}
	lists := map[string]listKind{}
	for _, m := range req.Messages {
		if k, ok := listKinds[m.Method]; ok && m.IsRequest() && g.scopes.hasRules(k.kind) {
			lists[string(errormap.NormalizeID(m.ID))] = k
		}
	}
	if len(lists) == 0 {
		return nil
	}
	held := g.scopes.held(id)
	filterOne := func(msg json.RawMessage) (json.RawMessage, bool) {
		var head struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Result json.RawMessage `json:"result"`
		}
		if json.Unmarshal(msg, &head) != nil || head.Method != "" || len(head.Result) == 0 {
			return msg, false
		}
		k, ok := lists[string(errormap.NormalizeID(head.ID))]
		if !ok {
			return msg, false
		}
		var result map[string]json.RawMessage
		if json.Unmarshal(head.Result, &result) != nil {
			return msg, false
		}
		var entries []json.RawMessage
		if json.Unmarshal(result[k.member], &entries) != nil {
			return msg, false
		}
		kept := entries[:0:0]
		for _, e := range entries {
			var named map[string]json.RawMessage
			var name string
			if json.Unmarshal(e, &named) != nil || json.Unmarshal(named[k.field], &name) != nil {
				continue // an entry the policy cannot name is not offered
			}
			if g.scopes.allows(held, k.kind, name) {
				kept = append(kept, e)
			}
		}
		if len(kept) == len(entries) {
			return msg, false
		}
		if result[k.member], _ = json.Marshal(kept); result[k.member] == nil {
			return msg, false
		}
		var whole map[string]json.RawMessage
		if json.Unmarshal(msg, &whole) != nil {
			return msg, false
		}
		whole["result"], _ = json.Marshal(result)
		out, err := json.Marshal(whole)
		if err != nil {
			return msg, false
		}
		return out, true
	}
	return func(body []byte) ([]byte, bool) {
		t := bytes.TrimSpace(body)
		if len(t) == 0 {
			return body, false
		}
		if t[0] != '[' {
			return filterOne(t)
		}
		var batch []json.RawMessage
		if json.Unmarshal(t, &batch) != nil {
			return body, false
		}
		changed := false
		for i, m := range batch {
			if out, ok := filterOne(m); ok {
				batch[i], changed = out, true
			}
		}
		if !changed {
			return body, false
		}
		out, err := json.Marshal(batch)
		if err != nil {
			return body, false
		}
		return out, true
	}
}
