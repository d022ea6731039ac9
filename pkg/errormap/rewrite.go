package errormap

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
)

// This file holds the structuredContent rule (spec §1.4, Arcade #817): a
// tools/call result with "isError": true must not carry structuredContent,
// because clients validate it against the tool's outputSchema and reject the
// error payload. The key is deleted (not set to null).
//
// Messages are edited by splicing byte ranges out of the original text: every
// remaining key keeps its place, every value (numbers included) keeps its
// exact bytes, and untouched input is returned as the same slice. The scanner
// below is deliberately lenient; output is only ever produced from input that
// json.Valid accepts (validJSON, the same check in one pass), so valid
// JSON in means valid JSON out.

// StripStructuredContentOnError applies the rule to one CallToolResult: if
// result is a JSON object whose (last) isError member is literally true and
// which has a structuredContent member, it returns a copy with every
// structuredContent member removed, and true. A result whose resultType is
// "input_required" is left alone. Anything else — including invalid JSON —
// is returned as is (the same slice) with false.
func StripStructuredContentOnError(result json.RawMessage) (json.RawMessage, bool) {
	start := skipWS(result, 0)
	if start >= len(result) || result[start] != '{' {
		return result, false
	}
	info, end := analyzeResult(result, start)
	if end < 0 || !info.strip() || !validJSON(result) {
		return result, false
	}
	out := make([]byte, 0, len(result))
	out = append(out, result[:start]...)
	out = info.appendStripped(out, result, start, end)
	out = append(out, result[end:]...)
	return out, true
}

// RewriteResponse applies StripStructuredContentOnError to the result of
// every JSON-RPC response in msg whose id belongs to a tools/call request.
// msg is one JSON-RPC message or, for protocol 2025-03-26, a batch array.
//
// A member counts as a response when it has a "result" object and no
// "method" (server-to-client requests have ids from another id space). Its id
// is passed to toolCallIDs in NormalizeID form, so 1 and 1.0 match but "1"
// and 1 do not; null and absent ids are never passed. IDSet.Has is a ready
// callback.
//
// When nothing changes, msg itself is returned with false. Invalid JSON is
// never changed.
func RewriteResponse(msg []byte, toolCallIDs func(id json.RawMessage) bool) ([]byte, bool) {
	i := skipWS(msg, 0)
	if i >= len(msg) {
		return msg, false
	}
	switch msg[i] {
	case '{':
		_, e, ok := rewriteOne(msg, i, toolCallIDs)
		if !ok || !validJSON(msg) {
			return msg, false
		}
		return applyEdits(msg, []edit{e}), true
	case '[':
		var edits []edit
		i = skipWS(msg, i+1)
		if i < len(msg) && msg[i] == ']' {
			return msg, false
		}
		for {
			if i >= len(msg) {
				return msg, false
			}
			var end int
			if msg[i] == '{' {
				var e edit
				var ok bool
				end, e, ok = rewriteOne(msg, i, toolCallIDs)
				if ok {
					edits = append(edits, e)
				}
			} else {
				end = scanValue(msg, i)
			}
			if end < 0 {
				return msg, false
			}
			i = skipWS(msg, end)
			if i >= len(msg) {
				return msg, false
			}
			if msg[i] == ']' {
				break
			}
			if msg[i] != ',' {
				return msg, false
			}
			i = skipWS(msg, i+1)
		}
		if len(edits) == 0 || !validJSON(msg) {
			return msg, false
		}
		return applyEdits(msg, edits), true
	}
	return msg, false
}

// edit strips structuredContent from the result object b[start:end],
// whose analysis (its members) is info.
type edit struct {
	start, end int
	info       *resultInfo
}

// applyEdits copies b with every edit applied, in one pass (edits never
// add bytes, so the copy never outgrows len(b)).
func applyEdits(b []byte, edits []edit) []byte {
	out := make([]byte, 0, len(b))
	pos := 0
	for _, e := range edits {
		out = append(out, b[pos:e.start]...)
		out = e.info.appendStripped(out, b, e.start, e.end)
		pos = e.end
	}
	return append(out, b[pos:]...)
}

// rewriteOne scans the message object at b[start] ('{'). It returns the index
// just past the object (-1 if malformed) and, when ok, the edit that strips
// structuredContent from its result.
func rewriteOne(b []byte, start int, toolCallIDs func(json.RawMessage) bool) (end int, e edit, ok bool) {
	s := objScanner{b: b, i: start + 1}
	var (
		idStart, idEnd = -1, -1
		resStart       = -1
		resEnd         = -1
		info           resultInfo
		hasMethod      bool
	)
	for {
		ks, ke, more := s.nextKey()
		if !more {
			break
		}
		vs := s.i
		var ve int
		switch {
		case keyIs(b, ks, ke, "result"):
			if vs < len(b) && b[vs] == '{' {
				info, ve = analyzeResult(b, vs)
				resStart, resEnd = vs, ve
			} else {
				ve = scanValue(b, vs)
				resStart, resEnd = -1, -1
			}
		case keyIs(b, ks, ke, "id"):
			ve = scanValue(b, vs)
			idStart, idEnd = vs, ve
		case keyIs(b, ks, ke, "method"):
			ve = scanValue(b, vs)
			hasMethod = true
		default:
			ve = scanValue(b, vs)
		}
		s.setValueEnd(ve)
	}
	if s.bad {
		return -1, edit{}, false
	}
	if hasMethod || resStart < 0 || !info.strip() || idStart < 0 {
		return s.end, edit{}, false
	}
	id := b[idStart:idEnd]
	if string(id) == "null" || !toolCallIDs(NormalizeID(id)) {
		return s.end, edit{}, false
	}
	stripped := info // only a result that is edited is moved to the heap
	return s.end, edit{start: resStart, end: resEnd, info: &stripped}, true
}

type resultInfo struct {
	isErrorTrue   bool
	hasSC         bool
	inputRequired bool
	// members are the object's first members, n how many it has: when
	// they all fit, stripping needs no second scan of the object.
	members [8]member
	n       int
}

// member is a member of an object: its key's start, its value's end, and
// whether it is dropped.
type member struct {
	ks, ve int
	drop   bool
}

// appendStripped appends the analyzed object b[start:end] without its
// structuredContent members (appendWithoutMembers).
func (r *resultInfo) appendStripped(dst, b []byte, start, end int) []byte {
	if r.n > len(r.members) {
		return appendWithoutMembers(dst, b, start, end, "structuredContent")
	}
	return appendKept(dst, b, start, end, r.members[:r.n])
}

func (r resultInfo) strip() bool { return r.isErrorTrue && r.hasSC && !r.inputRequired }

// analyzeResult scans the object at b[start] ('{') and reports what the
// structuredContent rule needs. end is -1 if the object is malformed. For
// duplicate keys the last one wins, as in encoding/json and JavaScript.
func analyzeResult(b []byte, start int) (info resultInfo, end int) {
	s := objScanner{b: b, i: start + 1}
	for {
		ks, ke, more := s.nextKey()
		if !more {
			break
		}
		vs := s.i
		ve := scanValue(b, vs)
		s.setValueEnd(ve)
		if ve < 0 {
			break
		}
		isSC := keyIs(b, ks, ke, "structuredContent")
		if info.n < len(info.members) {
			info.members[info.n] = member{ks: ks, ve: ve, drop: isSC}
		}
		info.n++
		switch {
		case keyIs(b, ks, ke, "isError"):
			info.isErrorTrue = string(b[vs:ve]) == "true"
		case isSC:
			info.hasSC = true
		case keyIs(b, ks, ke, "resultType"):
			info.inputRequired = stringValueIs(b[vs:ve], "input_required")
		}
	}
	if s.bad {
		return resultInfo{}, -1
	}
	return info, s.end
}

// appendWithoutMembers appends the object b[start:end] with every member
// whose key is drop removed. Remaining members keep their order, their bytes
// and the separators that preceded them.
func appendWithoutMembers(dst, b []byte, start, end int, drop string) []byte {
	var members []member
	s := objScanner{b: b, i: start + 1}
	for {
		ks, ke, more := s.nextKey()
		if !more {
			break
		}
		ve := scanValue(b, s.i)
		s.setValueEnd(ve)
		if ve < 0 {
			break
		}
		members = append(members, member{ks: ks, ve: ve, drop: keyIs(b, ks, ke, drop)})
	}
	if s.bad {
		return append(dst, b[start:end]...)
	}
	return appendKept(dst, b, start, end, members)
}

// appendKept appends the object b[start:end], whose members are members,
// without the members marked drop.
func appendKept(dst, b []byte, start, end int, members []member) []byte {
	if len(members) == 0 {
		return append(dst, b[start:end]...)
	}
	dst = append(dst, b[start:members[0].ks]...)
	kept := false
	for i, m := range members {
		if m.drop {
			continue
		}
		if kept {
			dst = append(dst, b[members[i-1].ve:m.ks]...) // the original ", "
		}
		dst = append(dst, b[m.ks:m.ve]...)
		kept = true
	}
	return append(dst, b[members[len(members)-1].ve:end]...)
}

// ---------------------------------------------------------------------------
// ids
// ---------------------------------------------------------------------------

// NormalizeID returns a canonical form of a JSON-RPC id so that ids echoed by
// an upstream compare equal to the ids the client sent even when re-encoded:
//   - strings: decoded and re-encoded by encoding/json ("a\u0062" → "ab");
//   - numbers: integral values below 2^53 as plain integers (1.0, 1e0 → 1),
//     others in strconv 'g' form; plain digit strings are kept as they are;
//   - null, booleans, objects, arrays: compacted.
//
// A string and a number never compare equal. Surrounding whitespace is
// dropped; invalid input is returned trimmed. The result may share memory
// with id.
func NormalizeID(id json.RawMessage) json.RawMessage {
	t := trimWS(id)
	if len(t) == 0 {
		return t
	}
	switch c := t[0]; {
	case c == '"':
		if plainString(t) {
			return t
		}
		var s string
		if json.Unmarshal(t, &s) != nil {
			return t
		}
		out, err := json.Marshal(s)
		if err != nil {
			return t
		}
		return out
	case c == '-' || (c >= '0' && c <= '9'):
		return normalizeNumber(t)
	default:
		var buf bytes.Buffer
		if json.Compact(&buf, t) != nil {
			return t
		}
		if buf.Len() == len(t) {
			return t
		}
		return buf.Bytes()
	}
}

// plainString reports whether t is a JSON string that encoding/json would
// re-encode identically: printable ASCII, no escapes, no HTML characters.
func plainString(t []byte) bool {
	if len(t) < 2 || t[len(t)-1] != '"' {
		return false
	}
	for _, c := range t[1 : len(t)-1] {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

func normalizeNumber(t []byte) json.RawMessage {
	digits := t
	if digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) > 0 && isDigits(string(digits)) && (len(digits) == 1 || digits[0] != '0') && string(t) != "-0" {
		return t
	}
	f, err := strconv.ParseFloat(string(t), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return t
	}
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return strconv.AppendInt(nil, int64(f), 10)
	}
	return strconv.AppendFloat(nil, f, 'g', -1, 64)
}

// IDSet is a set of JSON-RPC ids keyed by NormalizeID. Its Has method can be
// passed to RewriteResponse directly. The zero value is not usable; make one
// with make(IDSet).
type IDSet map[string]struct{}

// Add records id.
func (s IDSet) Add(id json.RawMessage) { s[string(NormalizeID(id))] = struct{}{} }

// Remove forgets id.
func (s IDSet) Remove(id json.RawMessage) { delete(s, string(NormalizeID(id))) }

// Has reports whether id was added.
func (s IDSet) Has(id json.RawMessage) bool {
	_, ok := s[string(NormalizeID(id))]
	return ok
}

// ---------------------------------------------------------------------------
// lenient JSON scanner (byte offsets, no allocation)
// ---------------------------------------------------------------------------

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipWS(b []byte, i int) int {
	for i < len(b) && isWS(b[i]) {
		i++
	}
	return i
}

func trimWS(b []byte) []byte {
	i, j := 0, len(b)
	for i < j && isWS(b[i]) {
		i++
	}
	for j > i && isWS(b[j-1]) {
		j--
	}
	return b[i:j]
}

// scanString expects b[i] == '"' and returns the index just past the closing
// quote, or -1.
func scanString(b []byte, i int) int {
	open := i
	i++
	for i <= len(b) {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return -1
		}
		j += i
		n := 0
		for k := j - 1; k > open && b[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return j + 1
		}
		i = j + 1
	}
	return -1
}

// scanValue returns the index just past the value starting at b[i], or -1.
// Containers are matched by bracket depth only.
func scanValue(b []byte, i int) int {
	if i < 0 || i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return scanString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				e := scanString(b, i)
				if e < 0 {
					return -1
				}
				i = e
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	default:
		start := i
		for i < len(b) {
			c := b[i]
			if c == ',' || c == '}' || c == ']' || c == ':' || c == '"' || c == '{' || c == '[' || isWS(c) {
				break
			}
			i++
		}
		if i == start {
			return -1
		}
		return i
	}
}

// objScanner walks the members of an object. Use: s := objScanner{b: b, i:
// open+1}; loop { ks, ke, ok := s.nextKey(); if !ok {break}; value starts at
// s.i; s.setValueEnd(end) }. Afterwards s.bad or s.end (index past '}').
type objScanner struct {
	b     []byte
	i     int
	after bool // a member has been read: expect ',' or '}'
	done  bool
	bad   bool
	end   int
}

// nextKey reads the next key and the ':' after it. ks/ke delimit the quoted
// key (quotes included); s.i is left at the value.
func (s *objScanner) nextKey() (ks, ke int, ok bool) {
	if s.done || s.bad {
		return 0, 0, false
	}
	b := s.b
	i := skipWS(b, s.i)
	if i >= len(b) {
		s.bad = true
		return 0, 0, false
	}
	if b[i] == '}' {
		s.done, s.end = true, i+1
		return 0, 0, false
	}
	if s.after {
		if b[i] != ',' {
			s.bad = true
			return 0, 0, false
		}
		i = skipWS(b, i+1)
	}
	if i >= len(b) || b[i] != '"' {
		s.bad = true
		return 0, 0, false
	}
	ke = scanString(b, i)
	if ke < 0 {
		s.bad = true
		return 0, 0, false
	}
	j := skipWS(b, ke)
	if j >= len(b) || b[j] != ':' {
		s.bad = true
		return 0, 0, false
	}
	s.i = skipWS(b, j+1)
	s.after = true
	return i, ke, true
}

func (s *objScanner) setValueEnd(ve int) {
	if ve < 0 {
		s.bad = true
		return
	}
	s.i = ve
}

// keyIs reports whether the quoted key b[ks:ke] decodes to name.
func keyIs(b []byte, ks, ke int, name string) bool {
	return stringValueIs(b[ks:ke], name)
}

// stringValueIs reports whether raw is a JSON string that decodes to want.
func stringValueIs(raw []byte, want string) bool {
	if len(raw) < 2 || raw[0] != '"' {
		return false
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner) == want
	}
	var s string
	return json.Unmarshal(raw, &s) == nil && s == want
}
