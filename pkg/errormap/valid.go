package errormap

// validJSON reports what json.Valid(b) reports, in one pass without
// allocation (encoding/json's scanner steps a state function per byte):
// RFC 8259 syntax with the whitespace " \t\n\r", string bytes not checked
// for UTF-8 (as encoding/json), and containers nested at most
// maxNestingDepth deep (encoding/json's limit).
func validJSON(b []byte) bool {
	v := validator{b: b}
	i := skipWS(b, 0)
	if i >= len(b) {
		return false
	}
	i = v.value(i)
	return i >= 0 && skipWS(b, i) == len(b)
}

// maxNestingDepth is encoding/json's limit on nested arrays and objects.
const maxNestingDepth = 10000

type validator struct {
	b     []byte
	depth int
}

// value validates the value at b[i] (not whitespace) and returns the index
// just past it, or -1.
func (v *validator) value(i int) int {
	b := v.b
	switch c := b[i]; {
	case c == '"':
		return validString(b, i)
	case c == '{':
		return v.object(i)
	case c == '[':
		return v.array(i)
	case c == 't':
		return literal(b, i, "true")
	case c == 'f':
		return literal(b, i, "false")
	case c == 'n':
		return literal(b, i, "null")
	case c == '-' || c >= '0' && c <= '9':
		return validNumber(b, i)
	}
	return -1
}

func (v *validator) object(i int) int {
	if v.depth++; v.depth > maxNestingDepth {
		return -1
	}
	b := v.b
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		v.depth--
		return i + 1
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return -1
		}
		if i = validString(b, i); i < 0 {
			return -1
		}
		if i = skipWS(b, i); i >= len(b) || b[i] != ':' {
			return -1
		}
		if i = skipWS(b, i+1); i >= len(b) {
			return -1
		}
		if i = v.value(i); i < 0 {
			return -1
		}
		if i = skipWS(b, i); i >= len(b) {
			return -1
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case '}':
			v.depth--
			return i + 1
		default:
			return -1
		}
	}
}

func (v *validator) array(i int) int {
	if v.depth++; v.depth > maxNestingDepth {
		return -1
	}
	b := v.b
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		v.depth--
		return i + 1
	}
	for {
		if i >= len(b) {
			return -1
		}
		if i = v.value(i); i < 0 {
			return -1
		}
		if i = skipWS(b, i); i >= len(b) {
			return -1
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case ']':
			v.depth--
			return i + 1
		default:
			return -1
		}
	}
}

// validString expects b[i] == '"'; it returns the index just past the
// closing quote, or -1 (a control character, a bad escape, no end).
func validString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1
		case c < 0x20:
			return -1
		case c == '\\':
			i++
			if i >= len(b) {
				return -1
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) || !isHex(b[i+1]) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) {
					return -1
				}
				i += 4
			default:
				return -1
			}
		}
	}
	return -1
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// validNumber validates -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at b[i].
func validNumber(b []byte, i int) int {
	if b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return -1
	case b[i] == '0':
		i++
	case isDigit(b[i]):
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return -1
		}
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return -1
		}
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	}
	return i
}

func literal(b []byte, i int, lit string) int {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}
