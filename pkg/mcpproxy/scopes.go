package mcpproxy

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

// RequiredScopes is the scope policy: the scopes a caller needs per
// JSON-RPC method, per tool (tools/call), per prompt (prompts/get) and per
// resource (resources/read; a key ending in "*" is a URI prefix). The same
// rules filter tools/list, prompts/list, resources/list and
// resources/templates/list.
type RequiredScopes struct {
	Methods   map[string][]string `yaml:"methods" json:"methods,omitempty"`
	Tools     map[string][]string `yaml:"tools" json:"tools,omitempty"`
	Prompts   map[string][]string `yaml:"prompts" json:"prompts,omitempty"`
	Resources map[string][]string `yaml:"resources" json:"resources,omitempty"`
}

// Empty reports whether no rule is configured.
func (p RequiredScopes) Empty() bool {
	return len(p.Methods) == 0 && len(p.Tools) == 0 && len(p.Prompts) == 0 && len(p.Resources) == 0
}

func (p RequiredScopes) clone() RequiredScopes {
	return RequiredScopes{Methods: cloneRules(p.Methods), Tools: cloneRules(p.Tools), Prompts: cloneRules(p.Prompts), Resources: cloneRules(p.Resources)}
}

func (p *RequiredScopes) normalize() error {
	var errs []error
	check := func(kind string, m map[string][]string) {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if k == "" {
				errs = append(errs, &rs.FieldError{Field: "required_scopes." + kind, Msg: "empty name"})
				continue
			}
			for i, s := range m[k] {
				if !rs.IsScopeToken(s) {
					errs = append(errs, &rs.FieldError{Field: fmt.Sprintf("required_scopes.%s.%s[%d]", kind, k, i), Msg: fmt.Sprintf("invalid scope token %q", s)})
				}
			}
		}
	}
	check("methods", p.Methods)
	check("tools", p.Tools)
	check("prompts", p.Prompts)
	check("resources", p.Resources)
	return joinErrs(errs)
}

func joinErrs(errs []error) error { return errors.Join(errs...) }

// Denial styles (scope_denial).
const (
	// DenyChallenge answers a denied request with the RFC 6750 403
	// insufficient_scope challenge (step-up).
	DenyChallenge = "challenge"
	// DenyError answers inside the protocol with HTTP 200: a tool error
	// result for tools/call, a JSON-RPC error otherwise.
	DenyError = "error"
)

// CodeInsufficientScope is the JSON-RPC error code of an in-protocol
// scope denial (scope_denial: error).
const CodeInsufficientScope = -32003

// scopePolicy is the compiled scope policy: the rules and the scope
// hierarchy (scope_implies).
type scopePolicy struct {
	rules   RequiredScopes
	implies map[string][]string
}

func newScopePolicy(rules RequiredScopes, implies map[string][]string) *scopePolicy {
	return &scopePolicy{rules: rules, implies: implies}
}

func checkImplies(m map[string][]string) error {
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !rs.IsScopeToken(k) {
			errs = append(errs, &rs.FieldError{Field: "scope_implies", Msg: fmt.Sprintf("invalid scope token %q", k)})
		}
		for i, s := range m[k] {
			if !rs.IsScopeToken(s) {
				errs = append(errs, &rs.FieldError{Field: fmt.Sprintf("scope_implies.%s[%d]", k, i), Msg: fmt.Sprintf("invalid scope token %q", s)})
			}
		}
	}
	return joinErrs(errs)
}

// held is the caller's scopes with everything they imply.
func (p *scopePolicy) held(id *rs.Identity) map[string]bool {
	out := map[string]bool{}
	if id == nil {
		return out
	}
	stack := slices.Clone(id.Scopes)
	for len(stack) > 0 {
		s := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if out[s] {
			continue
		}
		out[s] = true
		stack = append(stack, p.implies[s]...)
	}
	return out
}

// resourceRule returns the scopes of the most specific rule matching uri:
// an exact key, else the longest "prefix*" key.
func (p *scopePolicy) resourceRule(uri string) []string {
	if ss, ok := p.rules.Resources[uri]; ok {
		return ss
	}
	best, bestLen := []string(nil), -1
	for k, ss := range p.rules.Resources {
		if pre, ok := strings.CutSuffix(k, "*"); ok && strings.HasPrefix(uri, pre) && len(pre) > bestLen {
			best, bestLen = ss, len(pre)
		}
	}
	return best
}

// neededFor lists what one message needs: its method's rule, then its
// tool's, prompt's or resource's.
func (p *scopePolicy) neededFor(m Message, add func([]string)) {
	add(p.rules.Methods[m.Method])
	switch m.Method {
	case "tools/call":
		add(p.rules.Tools[m.Name])
	case "prompts/get":
		add(p.rules.Prompts[m.Name])
	case "resources/read", "resources/subscribe", "resources/unsubscribe":
		add(p.resourceRule(m.Name))
	}
}

// Needed returns every scope the request needs (for each message: method
// rule, then tool/prompt/resource rule; first-seen order, no duplicates),
// so that one challenge asks for all of them, held ones included.
func (p *scopePolicy) Needed(req *Request) []string {
	if req == nil || p.rules.Empty() {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	add := func(ss []string) {
		for _, s := range ss {
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	for _, m := range req.Messages {
		if m.Method != "" {
			p.neededFor(m, add)
		}
	}
	return out
}

// Missing returns the needed scopes id lacks (counting what its scopes
// imply), or nil.
func (p *scopePolicy) Missing(needed []string, id *rs.Identity) []string {
	if len(needed) == 0 {
		return nil
	}
	h := p.held(id)
	var out []string
	for _, s := range needed {
		if !h[s] {
			out = append(out, s)
		}
	}
	return out
}

// hasRules reports whether any rule bears on the entries of kind.
func (p *scopePolicy) hasRules(kind string) bool {
	switch kind {
	case "tools":
		return len(p.rules.Methods["tools/call"]) > 0 || len(p.rules.Tools) > 0
	case "prompts":
		return len(p.rules.Methods["prompts/get"]) > 0 || len(p.rules.Prompts) > 0
	case "resources":
		return len(p.rules.Methods["resources/read"]) > 0 || len(p.rules.Resources) > 0
	}
	return false
}

// allows reports whether a caller holding h may use the list entry of
// kind ("tools", "prompts", "resources") named name: the scopes of the
// call that would use it (method rule and entry rule) are all held.
func (p *scopePolicy) allows(h map[string]bool, kind, name string) bool {
	var need []string
	switch kind {
	case "tools":
		need = append(slices.Clone(p.rules.Methods["tools/call"]), p.rules.Tools[name]...)
	case "prompts":
		need = append(slices.Clone(p.rules.Methods["prompts/get"]), p.rules.Prompts[name]...)
	case "resources":
		need = append(slices.Clone(p.rules.Methods["resources/read"]), p.resourceRule(name)...)
	}
	for _, s := range need {
		if !h[s] {
			return false
		}
	}
	return true
}
