package sidecar

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// yamlErrorKind says what a yamlError is about.
type yamlErrorKind int

const (
	// yamlBadValue: a value the key's Go type cannot take.
	yamlBadValue yamlErrorKind = iota
	// yamlUnknownKey: a mapping key that names no field.
	yamlUnknownKey
	// yamlDuplicateKey: a key given twice in one mapping.
	yamlDuplicateKey
)

// yamlError is one problem decodeYAML found in a configuration document.
// Its text is one of
//
//	line 7: authorization_servers[0].leeway: invalid duration "soon" (use e.g. 30s, 5m)
//	line 8: unknown key "authorization_servers[0].isuer"
//	line 9: duplicate key "listen" (first at line 2)
type yamlError struct {
	Kind yamlErrorKind
	// Line and Column locate the offending node (the key for unknown and
	// duplicate keys, the value otherwise); 1-based.
	Line, Column int
	// Path is the key path: authorization_servers[0].leeway. Empty for the
	// document itself.
	Path string
	// Msg is the reason for a yamlBadValue: a fixed phrase chosen by the
	// target's Go kind ("must be a list"), or the text of the target's own
	// UnmarshalText error, verbatim.
	Msg string
	// FirstLine is where a duplicated key first appears.
	FirstLine int
}

func (e *yamlError) Error() string {
	switch e.Kind {
	case yamlUnknownKey:
		return fmt.Sprintf("line %d: unknown key %q", e.Line, e.Path)
	case yamlDuplicateKey:
		return fmt.Sprintf("line %d: duplicate key %q (first at line %d)", e.Line, e.Path, e.FirstLine)
	}
	if e.Path == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return fmt.Sprintf("line %d: %s: %s", e.Line, e.Path, e.Msg)
}

// decodeYAML decodes one YAML document into dst (a non-nil pointer),
// strictly, with errors that name the key.
//
// The document is first parsed into a yaml.Node tree, which is checked
// against dst's Go type (yaml:"name" tags, yaml:",inline" structs and maps,
// maps, slices, pointers; yaml:"-" fields are not keys). Every problem is
// a *yamlError, all of them are reported at once (errors.Join, in document
// order), and dst is left untouched when there is any:
//
//   - a mapping key that is no field of its struct: yamlUnknownKey;
//   - a key given twice in one mapping: yamlDuplicateKey (yaml.v3 itself
//     only notices duplicates when decoding, as message strings);
//   - a leaf (a scalar, or any node whose target is an
//     encoding.TextUnmarshaler or yaml.Unmarshaler) that does not decode,
//     alone, into a fresh value of its target type, and a list or map
//     where the type wants something else: yamlBadValue. The reason is the
//     target's own error text when it is a TextUnmarshaler (rs.Duration:
//     `invalid duration "soon" (use e.g. 30s, 5m)`), otherwise a fixed
//     phrase chosen by the target's Go kind (kindPhrase): "must be true
//     or false", "must be a whole number", "must be a number", "must be a
//     string", "must be a list", "must be a map"; "must be a single value"
//     for a list or map given to a TextUnmarshaler.
//
// No error message of yaml.v3 is parsed: the key path, the line and the
// reason all come from the node tree and the Go types. Only when the check
// finds nothing is the whole document decoded into dst (node.Decode), an
// error of which is returned wrapped.
//
// An empty document (nothing, only comments, or null) is the error
// "config is empty"; a stream of several documents is refused; YAML syntax
// errors are returned wrapped as yaml.v3 reports them.
func decodeYAML(data []byte, dst any) error {
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("decodeYAML: dst must be a non-nil pointer, not %T", dst)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("config is empty")
		}
		return fmt.Errorf("config is not valid YAML: %w", err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return errors.New("config is empty")
		}
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.ShortTag() == nullTag {
		return errors.New("config is empty")
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		return &yamlError{Line: next.Line, Column: next.Column, Msg: "only one YAML document is allowed"}
	case !errors.Is(err, io.EOF):
		return fmt.Errorf("config is not valid YAML: %w", err)
	}

	c := &yamlChecker{seen: map[yamlVisit]bool{}}
	c.node(root, rv.Type().Elem(), "")
	if len(c.errs) > 0 {
		sort.SliceStable(c.errs, func(i, j int) bool {
			a, b := c.errs[i], c.errs[j]
			if a.Line != b.Line {
				return a.Line < b.Line
			}
			return a.Column < b.Column
		})
		errs := make([]error, len(c.errs))
		for i, e := range c.errs {
			errs[i] = e
		}
		return errors.Join(errs...)
	}
	if err := doc.Decode(dst); err != nil {
		return fmt.Errorf("decode config: %w", err)
	}
	return nil
}

const (
	nullTag  = "!!null"
	mergeTag = "!!merge"
)

var (
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	yamlUnmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
	yamlNodeType        = reflect.TypeFor[yaml.Node]()
)

// yamlVisit is one (node, target type) pair already checked: an anchored
// node reached again through an alias is checked (and its errors reported)
// once, where it is defined, which also keeps an alias-heavy document
// ("billion laughs") linear and a self-referencing anchor finite.
type yamlVisit struct {
	n *yaml.Node
	t reflect.Type
}

type yamlChecker struct {
	errs []*yamlError
	seen map[yamlVisit]bool
}

func (c *yamlChecker) bad(n *yaml.Node, path, msg string) {
	c.errs = append(c.errs, &yamlError{Kind: yamlBadValue, Line: n.Line, Column: n.Column, Path: path, Msg: msg})
}

// node checks n against the Go type t at path. t == nil means any value
// (an interface): only duplicate keys are looked for.
func (c *yamlChecker) node(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return // yaml.v3 refuses unknown anchors when parsing
		}
		n = n.Alias
	}
	v := yamlVisit{n, t}
	if c.seen[v] {
		return
	}
	c.seen[v] = true
	if t != nil {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() == reflect.Interface && t.NumMethod() == 0 {
			t = nil
		}
	}
	switch {
	case t == nil:
		// Any value: its mappings may still not repeat a key.
		switch n.Kind {
		case yaml.MappingNode:
			c.mapping(n, path, nil, func(_, v *yaml.Node, key string) {
				c.node(v, nil, joinPath(path, key))
			})
		case yaml.SequenceNode:
			for i, e := range n.Content {
				c.node(e, nil, path+"["+strconv.Itoa(i)+"]")
			}
		}
	case t == yamlNodeType:
		// Decoded as the node itself.
	case n.Kind == yaml.ScalarNode || isLeafType(t):
		c.leaf(n, t, path)
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct:
		c.structMapping(n, t, path, nil)
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Map:
		c.mapMapping(n, t, path, nil)
	case n.Kind == yaml.SequenceNode && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array):
		for i, e := range n.Content {
			c.node(e, t.Elem(), path+"["+strconv.Itoa(i)+"]")
		}
	default:
		// A list or a map where t wants something else.
		c.leaf(n, t, path)
	}
}

// isLeafType reports whether values of t decode themselves.
func isLeafType(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	return pt.Implements(textUnmarshalerType) || pt.Implements(yamlUnmarshalerType)
}

// leaf decodes n alone into a fresh value of t and reports a failure.
func (c *yamlChecker) leaf(n *yaml.Node, t reflect.Type, path string) {
	err := n.Decode(reflect.New(t).Interface())
	if err == nil {
		return
	}
	var te *yaml.TypeError
	if isLeafType(t) && !errors.As(err, &te) {
		// The type's own words (rs.Duration's "invalid duration ...").
		c.bad(n, path, err.Error())
		return
	}
	c.bad(n, path, kindPhrase(t))
}

// kindPhrase is the reason given for a value t cannot take.
func kindPhrase(t reflect.Type) string {
	switch {
	case isLeafType(t):
		return "must be a single value"
	case t == reflect.TypeFor[time.Duration]():
		return "must be a duration like 30s or 5m"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "must be true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "must be a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "must be a whole number, 0 or more"
	case reflect.Float32, reflect.Float64:
		return "must be a number"
	case reflect.String:
		return "must be a string"
	case reflect.Slice, reflect.Array:
		return "must be a list"
	case reflect.Map, reflect.Struct:
		return "must be a map"
	}
	return "has the wrong type"
}

// mapping walks the keys of the mapping n in order: a key already given
// is a yamlDuplicateKey, a key in skip (set by the mapping that merges n)
// is passed over, a non-scalar key is a yamlBadValue; each other key goes
// to visit. Merge keys (<<) are walked last, with every key of n skipped,
// as yaml.v3 lets the mapping's own keys win over merged ones.
func (c *yamlChecker) mapping(n *yaml.Node, path string, skip map[string]bool, visit func(k, v *yaml.Node, key string)) {
	first := map[string]int{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Kind == yaml.AliasNode && k.Alias != nil {
			k = k.Alias
		}
		if k.Kind == yaml.ScalarNode && k.Value == "<<" && k.ShortTag() == mergeTag {
			merges = append(merges, n.Content[i+1])
			continue
		}
		if k.Kind != yaml.ScalarNode {
			c.bad(n.Content[i], path, "a key must be a single value")
			continue
		}
		if line, dup := first[k.Value]; dup {
			c.errs = append(c.errs, &yamlError{Kind: yamlDuplicateKey, Line: n.Content[i].Line, Column: n.Content[i].Column,
				Path: joinPath(path, k.Value), FirstLine: line})
			continue
		}
		first[k.Value] = n.Content[i].Line
		if skip[k.Value] {
			continue
		}
		visit(n.Content[i], n.Content[i+1], k.Value)
	}
	if len(merges) == 0 {
		return
	}
	inner := map[string]bool{}
	for k := range skip {
		inner[k] = true
	}
	for k := range first {
		inner[k] = true
	}
	for _, m := range merges {
		c.merge(m, path, inner, visit)
	}
}

// merge walks the value of a merge key: a map, or a list of maps.
func (c *yamlChecker) merge(m *yaml.Node, path string, skip map[string]bool, visit func(k, v *yaml.Node, key string)) {
	src := m
	if src.Kind == yaml.AliasNode && src.Alias != nil {
		src = src.Alias
	}
	switch src.Kind {
	case yaml.MappingNode:
		c.mapping(src, path, skip, visit)
	case yaml.SequenceNode:
		for _, e := range src.Content {
			s := e
			if s.Kind == yaml.AliasNode && s.Alias != nil {
				s = s.Alias
			}
			if s.Kind != yaml.MappingNode {
				c.bad(e, path, "a merge (<<) takes a map or a list of maps")
				continue
			}
			c.mapping(s, path, skip, visit)
		}
	default:
		c.bad(m, path, "a merge (<<) takes a map or a list of maps")
	}
}

// structMapping checks the mapping n against the struct type t.
func (c *yamlChecker) structMapping(n *yaml.Node, t reflect.Type, path string, skip map[string]bool) {
	fields, inlineMap := yamlFields(t)
	c.mapping(n, path, skip, func(k, v *yaml.Node, key string) {
		switch ft, ok := fields[key]; {
		case ok:
			c.node(v, ft, joinPath(path, key))
		case inlineMap != nil:
			c.node(v, inlineMap.Elem(), joinPath(path, key))
		default:
			c.errs = append(c.errs, &yamlError{Kind: yamlUnknownKey, Line: k.Line, Column: k.Column, Path: joinPath(path, key)})
		}
	})
}

// mapMapping checks the mapping n against the map type t.
func (c *yamlChecker) mapMapping(n *yaml.Node, t reflect.Type, path string, skip map[string]bool) {
	kt, et := t.Key(), t.Elem()
	c.mapping(n, path, skip, func(k, v *yaml.Node, key string) {
		p := joinPath(path, key)
		if err := k.Decode(reflect.New(kt).Interface()); err != nil {
			c.bad(k, p, "key "+kindPhrase(kt))
			return
		}
		c.node(v, et, p)
	})
}

// yamlFields maps the YAML keys of struct type t to their field types, as
// yaml.v3 reads them: the name before the comma of the yaml tag, else the
// lower-cased field name; yaml:"-" and unexported fields are no keys;
// yaml:",inline" structs (or pointers to them) lend their keys, and an
// inline map[string]X takes every other key.
func yamlFields(t reflect.Type) (map[string]reflect.Type, reflect.Type) {
	fields := map[string]reflect.Type{}
	var inlineMap reflect.Type
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if f.PkgPath != "" && !f.Anonymous {
				continue
			}
			tag := f.Tag.Get("yaml")
			if tag == "" && !strings.Contains(string(f.Tag), ":") {
				tag = string(f.Tag)
			}
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			inline := false
			for _, o := range strings.Split(opts, ",") {
				if o == "inline" {
					inline = true
				}
			}
			if inline {
				ft := f.Type
				for ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				switch ft.Kind() {
				case reflect.Struct:
					walk(ft)
				case reflect.Map:
					inlineMap = ft
				}
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			fields[name] = f.Type
		}
	}
	walk(t)
	return fields, inlineMap
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
