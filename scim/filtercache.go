package scim

import (
	"strings"
	"sync"
)

// The commonest filter by far is one comparison with a plain string,
// `userName eq "alice@example.com"`: Okta and Entra send one before every
// create. The general parser spends most of a filtered GET's CPU and
// allocations on it, yet the result differs between such filters only in
// the string. So ParseFilter parses each (schema set, attribute, operator)
// shape once, with a placeholder string, through the general path, and
// caches the resulting comparison; a filter of a cached shape is the cached
// comparison with its string. Strings with an escape, a quote or a control
// character, and every other filter, take the general path.

// maxCachedFilterShapes bounds the cache; past it the cache starts over.
const maxCachedFilterShapes = 4096

// filterShapeKey names a shape: `attr op "..."` against one schema set.
type filterShapeKey struct {
	set      *SchemaSet
	attr, op string
}

// filterShape is a cached shape: the parsed comparison (value unset), or
// ok false when the general path does not read the shape as one plain
// comparison (the filter then always takes the general path).
type filterShape struct {
	cmp compareExpr
	ok  bool
}

var filterShapes = struct {
	mu sync.RWMutex
	m  map[filterShapeKey]filterShape
}{m: make(map[filterShapeKey]filterShape)}

// filterShapePlaceholder is the string the shapes are parsed with.
const filterShapePlaceholder = "x"

// parseCachedComparison answers ParseFilter for a filter of a cached
// shape (ok false: take the general path). s is the filter as given,
// trimmed the same without surrounding space.
func (ss *SchemaSet) parseCachedComparison(s, trimmed string) (*Filter, bool) {
	attr, op, value, ok := splitPlainComparison(trimmed)
	if !ok {
		return nil, false
	}
	key := filterShapeKey{set: ss, attr: attr, op: op}
	filterShapes.mu.RLock()
	shape, found := filterShapes.m[key]
	filterShapes.mu.RUnlock()
	if !found {
		shape = ss.parseFilterShape(attr, op)
		filterShapes.mu.Lock()
		if len(filterShapes.m) >= maxCachedFilterShapes {
			clear(filterShapes.m)
		}
		filterShapes.m[key] = shape
		filterShapes.mu.Unlock()
	}
	if !shape.ok {
		return nil, false
	}
	cmp := shape.cmp
	cmp.value = value
	return &Filter{raw: s, root: cmp, set: ss}, true
}

// parseFilterShape parses `attr op "x"` through the general path.
func (ss *SchemaSet) parseFilterShape(attr, op string) filterShape {
	text := attr + " " + op + ` "` + filterShapePlaceholder + `"`
	f, err := ss.parseFilterText(text, text)
	if err != nil {
		return filterShape{}
	}
	cmp, ok := f.root.(compareExpr)
	if !ok || cmp.value != filterShapePlaceholder {
		return filterShape{}
	}
	cmp.value = nil
	return filterShape{cmp: cmp, ok: true}
}

// splitPlainComparison splits `attr op "value"` (single spaces) where attr
// is a plain attribute path (letters, digits, '_', '-', '$', '.', ':'),
// op two letters and value a string needing no unescaping: no quote, no
// backslash, no control character.
func splitPlainComparison(s string) (attr, op, value string, ok bool) {
	attr, rest, found := strings.Cut(s, " ")
	if !found || attr == "" || len(rest) < 5 || rest[2] != ' ' || rest[3] != '"' || rest[len(rest)-1] != '"' {
		return "", "", "", false
	}
	for i := 0; i < len(attr); i++ {
		c := attr[i]
		if !isAlnum(c) && c != '_' && c != '-' && c != '$' && c != '.' && c != ':' {
			return "", "", "", false
		}
	}
	op = rest[:2]
	if !isLetter(op[0]) || !isLetter(op[1]) {
		return "", "", "", false
	}
	value = rest[4 : len(rest)-1]
	for i := 0; i < len(value); i++ {
		if c := value[i]; c < 0x20 || c == 0x7f || c == '"' || c == '\\' {
			return "", "", "", false
		}
	}
	return attr, op, value, true
}

func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
