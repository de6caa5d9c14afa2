package scim

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxJSONDepth bounds the nesting of request bodies.
const maxJSONDepth = 32

// decodeObject decodes a request body that must be one JSON object, into
// the values encoding/json gives an any (map[string]any, []any, string,
// float64, bool, nil), in one pass over the body and in time linear in its
// size. It is the one decoder of every request body (users, groups, PATCH,
// bulk, search) and refuses, as 400:
//
//   - invalidSyntax: malformed JSON, trailing data, a body that is not an
//     object, invalid UTF-8, nesting deeper than maxJSONDepth;
//   - invalidSyntax: two keys of one object that name one attribute: equal,
//     or equal but for case (attribute names are case-insensitive, RFC 7643
//     §2.1), at any level, since one of them would silently win;
//   - invalidSyntax: a \u escape of an unpaired UTF-16 surrogate (\ud800),
//     which encoding/json turns into U+FFFD, so distinct inputs collide;
//   - invalidValue: a string or key holding NUL (\u0000): no store keeps a
//     NUL inside text (PostgreSQL refuses it, C-based LDAP servers cut at
//     it).
func decodeObject(body []byte, what string) (map[string]any, error) {
	d := decoder{b: body}
	v, err := d.value()
	if err == nil {
		d.space()
		if d.i < len(d.b) {
			err = &syntaxError{"unexpected data after the JSON object", d.i}
		}
	}
	if err != nil {
		if se, ok := err.(*syntaxError); ok {
			if se.msg == "" {
				return nil, BadRequest(ScimTypeInvalidSyntax, "%s: body is not valid UTF-8", what)
			}
			return nil, BadRequest(ScimTypeInvalidSyntax, "%s: malformed JSON: %s (at byte %d)", what, se.msg, se.at)
		}
		return nil, prefixError(what, err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, BadRequest(ScimTypeInvalidSyntax, "%s: body must be a JSON object", what)
	}
	if d.nul {
		return nil, BadRequest(ScimTypeInvalidValue, "%s: a string contains the NUL character (\\u0000)", what)
	}
	return m, nil
}

// prefixError puts what in front of the message of a SCIM error.
func prefixError(what string, err error) error {
	if se, ok := err.(*Error); ok {
		c := *se
		c.Detail = what + ": " + c.Detail
		return &c
	}
	return err
}

// syntaxError is malformed JSON at byte at; an empty msg is invalid UTF-8.
type syntaxError struct {
	msg string
	at  int
}

func (e *syntaxError) Error() string { return e.msg + " at byte " + strconv.Itoa(e.at) }

// decoder is the state of one decodeObject.
type decoder struct {
	b     []byte
	i     int
	depth int
	nul   bool     // a string held U+0000 (reported once the JSON is known well-formed)
	buf   []byte   // scratch for strings with escapes
	keys  []string // the keys of the objects being decoded, innermost last
}

func (d *decoder) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *decoder) fail(msg string) error { return &syntaxError{msg, d.i} }

func (d *decoder) unexpected(looking string) error {
	if d.i >= len(d.b) {
		return d.fail("unexpected end of input " + looking)
	}
	return d.fail("invalid character " + strconv.QuoteRune(rune(d.b[d.i])) + " " + looking)
}

func (d *decoder) value() (any, error) {
	d.space()
	if d.i >= len(d.b) {
		return nil, d.unexpected("looking for a value")
	}
	switch c := d.b[d.i]; {
	case c == '{':
		return d.object()
	case c == '[':
		return d.array()
	case c == '"':
		return d.str()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	}
	return nil, d.unexpected("looking for a value")
}

func (d *decoder) literal(word string) error {
	if len(d.b)-d.i < len(word) || string(d.b[d.i:d.i+len(word)]) != word {
		return d.fail("invalid literal, want " + word)
	}
	d.i += len(word)
	return nil
}

func (d *decoder) enter() error {
	d.depth++
	if d.depth > maxJSONDepth {
		return BadRequest(ScimTypeInvalidSyntax, "JSON nested deeper than %d levels", maxJSONDepth)
	}
	d.i++ // the { or [
	return nil
}

func (d *decoder) array() (any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	list := []any{}
	d.space()
	if d.i < len(d.b) && d.b[d.i] == ']' {
		d.i++
		d.depth--
		return list, nil
	}
	for {
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		list = append(list, v)
		d.space()
		if d.i >= len(d.b) {
			return nil, d.unexpected("after an array element")
		}
		switch d.b[d.i] {
		case ',':
			d.i++
		case ']':
			d.i++
			d.depth--
			return list, nil
		default:
			return nil, d.unexpected("after an array element")
		}
	}
}

// foldScanLimit is how many keys of an object are compared pairwise for a
// case-insensitive duplicate; past it, folded keys go in a set, so an
// object of n keys costs O(n), not O(n²).
const foldScanLimit = 8

func (d *decoder) object() (any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	m := map[string]any{}
	first := len(d.keys)
	defer func() { d.keys = d.keys[:first] }()
	var folded map[string]string // fold → key, once the object has more than foldScanLimit keys
	d.space()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
		d.depth--
		return m, nil
	}
	for {
		d.space()
		if d.i >= len(d.b) || d.b[d.i] != '"' {
			return nil, d.unexpected("looking for an object key")
		}
		at := d.i
		k, err := d.str()
		if err != nil {
			return nil, err
		}
		// Two keys naming one attribute: refused, not guessed.
		if _, dup := m[k]; dup {
			return nil, BadRequest(ScimTypeInvalidSyntax, "the key %s appears twice in one object (at byte %d)", quoteShort(k), at)
		}
		if folded == nil {
			for _, prev := range d.keys[first:] {
				if strings.EqualFold(prev, k) {
					return nil, ambiguousKeys(prev, k, at)
				}
			}
			d.keys = append(d.keys, k)
			if len(d.keys)-first > foldScanLimit {
				folded = make(map[string]string, 2*foldScanLimit)
				for _, prev := range d.keys[first:] {
					folded[foldKey(prev)] = prev
				}
			}
		} else {
			f := foldKey(k)
			if prev, dup := folded[f]; dup {
				return nil, ambiguousKeys(prev, k, at)
			}
			folded[f] = k
		}
		d.space()
		if d.i >= len(d.b) || d.b[d.i] != ':' {
			return nil, d.unexpected("after an object key")
		}
		d.i++
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		m[k] = v
		d.space()
		if d.i >= len(d.b) {
			return nil, d.unexpected("after an object value")
		}
		switch d.b[d.i] {
		case ',':
			d.i++
		case '}':
			d.i++
			d.depth--
			return m, nil
		default:
			return nil, d.unexpected("after an object value")
		}
	}
}

func ambiguousKeys(a, b string, at int) error {
	return BadRequest(ScimTypeInvalidSyntax, "the keys %s and %s name one attribute (names are case-insensitive) in one object (at byte %d)",
		quoteShort(a), quoteShort(b), at)
}

// quoteShort quotes s for an error message, cut to 64 bytes.
func quoteShort(s string) string {
	if len(s) > 64 {
		cut := 64
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "…"
	}
	return strconv.Quote(s)
}

// foldKey is a key in the form strings.EqualFold compares: each rune
// replaced by the smallest rune of its case-folding orbit, so two keys are
// EqualFold exactly when their foldKeys are equal.
func foldKey(k string) string {
	ascii, upper := true, false
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
		upper = upper || ('A' <= c && c <= 'Z')
	}
	if ascii {
		if !upper {
			return k
		}
		return strings.ToLower(k)
	}
	var sb strings.Builder
	sb.Grow(len(k))
	for _, r := range k {
		low := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			low = min(low, f)
		}
		sb.WriteRune(low)
	}
	return sb.String()
}

// str decodes the string at d.i (its opening quote). Strings without
// escapes are one copy of their bytes; escapes go through d.buf.
func (d *decoder) str() (string, error) {
	d.i++ // the opening quote
	start := d.i
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			s := string(d.b[start:d.i])
			d.i++
			return s, nil
		case c == '\\':
			d.buf = append(d.buf[:0], d.b[start:d.i]...)
			return d.escaped()
		case c < 0x20:
			return "", d.fail("control character " + strconv.QuoteRune(rune(c)) + " in a string (escape it)")
		case c < utf8.RuneSelf:
			d.i++
		default:
			if err := d.rune(); err != nil {
				return "", err
			}
		}
	}
	return "", d.unexpected("in a string")
}

// rune steps over one multi-byte UTF-8 sequence, which must be valid.
func (d *decoder) rune() error {
	r, size := utf8.DecodeRune(d.b[d.i:])
	if r == utf8.RuneError && size <= 1 {
		return &syntaxError{"", d.i}
	}
	d.i += size
	return nil
}

// escaped is the rest of a string from its first backslash, d.buf holding
// what came before it.
func (d *decoder) escaped() (string, error) {
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			return string(d.buf), nil
		case c == '\\':
			if d.i+1 >= len(d.b) {
				return "", d.unexpected("in a string escape")
			}
			e := d.b[d.i+1]
			d.i += 2
			switch e {
			case '"', '\\', '/':
				d.buf = append(d.buf, e)
			case 'b':
				d.buf = append(d.buf, '\b')
			case 'f':
				d.buf = append(d.buf, '\f')
			case 'n':
				d.buf = append(d.buf, '\n')
			case 'r':
				d.buf = append(d.buf, '\r')
			case 't':
				d.buf = append(d.buf, '\t')
			case 'u':
				r, err := d.hex4()
				if err != nil {
					return "", err
				}
				switch {
				case r == 0:
					d.nul = true
				case utf16IsHigh(r):
					// Only a high surrogate followed by a low one is a
					// character; anything else would become U+FFFD.
					if d.i+6 > len(d.b) || d.b[d.i] != '\\' || d.b[d.i+1] != 'u' {
						return "", d.lone(r)
					}
					d.i += 2
					lo, err := d.hex4()
					if err != nil {
						return "", err
					}
					if !utf16IsLow(lo) {
						return "", d.lone(r)
					}
					r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
				case utf16IsLow(r):
					return "", d.lone(r)
				}
				d.buf = utf8.AppendRune(d.buf, r)
			default:
				d.i -= 1
				return "", d.fail("invalid escape " + strconv.Quote(`\`+string(rune(e))) + " in a string")
			}
		case c < 0x20:
			return "", d.fail("control character " + strconv.QuoteRune(rune(c)) + " in a string (escape it)")
		case c < utf8.RuneSelf:
			d.buf = append(d.buf, c)
			d.i++
		default:
			from := d.i
			if err := d.rune(); err != nil {
				return "", err
			}
			d.buf = append(d.buf, d.b[from:d.i]...)
		}
	}
	return "", d.unexpected("in a string")
}

func utf16IsHigh(r rune) bool { return 0xD800 <= r && r < 0xDC00 }
func utf16IsLow(r rune) bool  { return 0xDC00 <= r && r < 0xE000 }

func (d *decoder) lone(r rune) error {
	return BadRequest(ScimTypeInvalidSyntax, "a string has an unpaired UTF-16 surrogate escape (\\u%04x at byte %d): not a character", r, d.i)
}

// hex4 reads the four hex digits of a \u escape.
func (d *decoder) hex4() (rune, error) {
	if d.i+4 > len(d.b) {
		return 0, d.unexpected("in a \\u escape")
	}
	var r rune
	for _, c := range d.b[d.i : d.i+4] {
		var v byte
		switch {
		case '0' <= c && c <= '9':
			v = c - '0'
		case 'a' <= c && c <= 'f':
			v = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			v = c - 'A' + 10
		default:
			return 0, d.fail("invalid \\u escape")
		}
		r = r<<4 | rune(v)
	}
	d.i += 4
	return r, nil
}

// number decodes a JSON number (RFC 8259 §6) as a float64, as
// encoding/json does for an any; one out of float64's range is refused.
func (d *decoder) number() (any, error) {
	start := d.i
	digits := func() int {
		n := 0
		for d.i < len(d.b) && '0' <= d.b[d.i] && d.b[d.i] <= '9' {
			d.i++
			n++
		}
		return n
	}
	if d.b[d.i] == '-' {
		d.i++
	}
	switch {
	case d.i < len(d.b) && d.b[d.i] == '0':
		d.i++
	case digits() == 0:
		return nil, d.unexpected("in a number")
	}
	if d.i < len(d.b) && d.b[d.i] == '.' {
		d.i++
		if digits() == 0 {
			return nil, d.unexpected("after the decimal point of a number")
		}
	}
	if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		d.i++
		if d.i < len(d.b) && (d.b[d.i] == '+' || d.b[d.i] == '-') {
			d.i++
		}
		if digits() == 0 {
			return nil, d.unexpected("in the exponent of a number")
		}
	}
	f, err := strconv.ParseFloat(string(d.b[start:d.i]), 64)
	if err != nil {
		return nil, &syntaxError{"number " + string(d.b[start:min(d.i, start+40)]) + " is out of range", start}
	}
	return f, nil
}

// nesting scans text for the deepest nesting of the opening and closing
// bytes outside double-quoted strings (with backslash escapes), without
// recursion. balanced is false when the closings or quotes do not match.
func nesting[T string | []byte](text T, opens, closes string) (deepest int, balanced bool) {
	depth := 0
	inString, escaped, underflow := false, false, false
	for i := 0; i < len(text); i++ {
		c := text[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch {
		case c == '"':
			inString = true
		case strings.IndexByte(opens, c) >= 0:
			depth++
			deepest = max(deepest, depth)
		case strings.IndexByte(closes, c) >= 0:
			depth--
			underflow = underflow || depth < 0
		}
	}
	return deepest, !underflow && depth == 0 && !inString
}

// DecodeStored decodes a stored document (one AppendJSON wrote) into the
// values encoding/json gives, with the request decoder (about twice as
// fast). ok is false for a document the request decoder refuses (not an
// object, keys equal but for case, NUL, a lone surrogate, deep nesting,
// invalid UTF-8): the caller then decodes it with encoding/json. Where it
// is accepted the values are encoding/json's (checkDecodeAsEncodingJSON).
func DecodeStored(doc []byte) (map[string]any, bool) {
	m, err := decodeObject(doc, "stored document")
	return m, err == nil
}
