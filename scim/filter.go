package scim

import (
	"fmt"
	"strings"
	"unicode/utf8"

	filter "github.com/scim2/filter-parser/v2"
)

// Limits on filters.
const (
	// MaxFilterLength is the longest filter accepted, in bytes.
	MaxFilterLength = 4096
	// maxFilterDepth bounds nesting: parentheses, brackets, not, value paths.
	maxFilterDepth = 16
)

// Filter is a parsed SCIM filter (RFC 7644 §3.4.2.2).
//
// All operators (eq ne co sw ew pr gt ge lt le), and/or/not, grouping,
// value paths (`emails[type eq "work" and value co "@x"]`) and URN-prefixed
// attributes are supported. Besides the RFC grammar, a value path followed by
// a sub-attribute comparison, `emails[type eq "work"].value eq "x"` (as
// attribute mappings are written), is read as
// `emails[type eq "work" and value eq "x"]`.
type Filter struct {
	raw  string
	root expr
	set  *SchemaSet
}

// ParseFilter parses s against the default schema set; errors are *Error
// with scimType invalidFilter.
func ParseFilter(s string) (*Filter, error) { return defaultSchemaSet.ParseFilter(s) }

// ParseFilter parses s, resolving attributes (caseExact, types) against the
// set; errors are *Error with scimType invalidFilter.
func (ss *SchemaSet) ParseFilter(s string) (*Filter, error) {
	ss = ss.set()
	trimmed := strings.TrimSpace(s)
	switch {
	case trimmed == "":
		return nil, BadRequest(ScimTypeInvalidFilter, "empty filter")
	case len(trimmed) > MaxFilterLength:
		return nil, BadRequest(ScimTypeInvalidFilter, "filter longer than %d bytes", MaxFilterLength)
	case !utf8.ValidString(trimmed):
		return nil, BadRequest(ScimTypeInvalidFilter, "filter is not valid UTF-8")
	}
	if d, ok := filterNesting(trimmed); !ok {
		return nil, BadRequest(ScimTypeInvalidFilter, "unbalanced brackets or quotes in filter")
	} else if d > maxFilterDepth {
		return nil, BadRequest(ScimTypeInvalidFilter, "filter nested deeper than %d levels", maxFilterDepth)
	}
	if f, ok := ss.parseCachedComparison(s, trimmed); ok {
		return f, nil
	}
	return ss.parseFilterText(s, trimmed)
}

// parseFilterText is ParseFilter's general path, after the checks on the
// text as a whole.
func (ss *SchemaSet) parseFilterText(s, trimmed string) (*Filter, error) {
	rewritten, extras, err := extractSubAttrValuePaths(trimmed)
	if err != nil {
		return nil, BadRequest(ScimTypeInvalidFilter, "invalid filter: %v", err)
	}
	parsed, err := filter.ParseFilter([]byte(rewritten))
	if err != nil {
		return nil, BadRequest(ScimTypeInvalidFilter, "invalid filter %q", s)
	}
	root, err := convertExpr(parsed, 1)
	if err != nil {
		return nil, BadRequest(ScimTypeInvalidFilter, "invalid filter: %v", err)
	}
	if len(extras) > 0 {
		root = substitutePlaceholders(root, extras)
	}
	if err := checkFilterTypes(root, evalContext{set: ss}); err != nil {
		return nil, err
	}
	return &Filter{raw: s, root: root, set: ss}, nil
}

// String returns the filter as written.
func (f *Filter) String() string { return f.raw }

// Match reports whether the rendered resource r (as built by RenderUser or
// RenderGroup, with id and meta) satisfies the filter. Attribute names match
// case-insensitively; string comparisons honour caseExact from the schema
// (unknown attributes compare case-insensitively); dateTime attributes
// compare as times, numbers as numbers, booleans with eq/ne only.
func (f *Filter) Match(r map[string]any) bool {
	return evalContext{set: f.set}.eval(f.root, r)
}

// filterNesting returns the deepest nesting of parentheses and brackets
// outside strings, and false when they or the quotes do not balance.
func filterNesting(s string) (int, bool) {
	return nesting(s, "([", ")]")
}

// placeholderPrefix names the stand-in attribute put where a
// `path[filter].sub op value` comparison was; it cannot clash with a real
// name because real names in the filter text are replaced only here.
const placeholderPrefix = "zzScimValuePathPlaceholder"

// subAttrValuePath is one `path[filter].sub op value` found in a filter.
type subAttrValuePath struct {
	path expr // the valuePathExpr with the comparison ANDed into its filter
}

// extractSubAttrValuePaths replaces each `path[filter].sub op value` in s by
// a placeholder `zz...N pr` and returns the parsed replacements.
func extractSubAttrValuePaths(s string) (string, []subAttrValuePath, error) {
	var out strings.Builder
	var extras []subAttrValuePath
	inString, escaped := false, false
	openAt := -1 // start of the attribute path before the current '['
	last := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
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
		switch c {
		case '"':
			inString = true
		case '[':
			openAt = attrPathStart(s, i)
		case ']':
			if i+1 >= len(s) || s[i+1] != '.' || openAt < last {
				continue
			}
			end, cmp, err := readSubComparison(s, i+1)
			if err != nil {
				return "", nil, err
			}
			vp, err := filter.ParseValuePath([]byte(s[openAt : i+1]))
			if err != nil {
				return "", nil, fmt.Errorf("bad value path %q", s[openAt:i+1])
			}
			converted, err := convertExpr(&vp, 2)
			if err != nil {
				return "", nil, err
			}
			ve := converted.(valuePathExpr)
			ve.filter = andExpr{ve.filter, cmp}
			out.WriteString(s[last:openAt])
			fmt.Fprintf(&out, "%s%d pr", placeholderPrefix, len(extras))
			extras = append(extras, subAttrValuePath{path: ve})
			last = end
			i = end - 1
		}
	}
	out.WriteString(s[last:])
	return out.String(), extras, nil
}

// attrPathStart returns where the attribute path ending just before s[i]
// begins.
func attrPathStart(s string, i int) int {
	j := i
	for j > 0 && s[j-1] == ' ' {
		j--
	}
	for j > 0 {
		c := s[j-1]
		if c == '.' || c == ':' || c == '-' || c == '_' || c == '$' || isAlnum(c) {
			j--
			continue
		}
		break
	}
	return j
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// readSubComparison reads `.sub op value` (or `.sub pr`) starting at the dot
// at s[i]; it returns the end offset and the comparison.
func readSubComparison(s string, i int) (int, expr, error) {
	j := i + 1
	for j < len(s) && (isAlnum(s[j]) || s[j] == '_' || s[j] == '-' || s[j] == '$') {
		j++
	}
	sub := s[i+1 : j]
	if sub == "" {
		return 0, nil, fmt.Errorf("missing sub-attribute after ']'")
	}
	k := j
	for k < len(s) && s[k] == ' ' {
		k++
	}
	opStart := k
	for k < len(s) && isAlnum(s[k]) {
		k++
	}
	op := strings.ToLower(s[opStart:k])
	if op == "pr" {
		return k, compareExpr{attr: attrRef{name: sub}, op: "pr"}, nil
	}
	for k < len(s) && s[k] == ' ' {
		k++
	}
	valStart := k
	if k < len(s) && s[k] == '"' {
		k++
		for k < len(s) && s[k] != '"' {
			if s[k] == '\\' {
				k++
			}
			k++
		}
		k++
	} else {
		for k < len(s) && s[k] != ' ' && s[k] != ')' {
			k++
		}
	}
	if k > len(s) {
		return 0, nil, fmt.Errorf("unterminated string")
	}
	ae, err := filter.ParseAttrExp([]byte(sub + " " + op + " " + s[valStart:k]))
	if err != nil {
		return 0, nil, fmt.Errorf("bad comparison after %q", s[:i])
	}
	converted, err := convertExpr(&ae, 2)
	if err != nil {
		return 0, nil, err
	}
	return k, converted, nil
}

// substitutePlaceholders puts the extracted value paths back in place of
// their placeholders.
func substitutePlaceholders(e expr, extras []subAttrValuePath) expr {
	switch t := e.(type) {
	case andExpr:
		return andExpr{substitutePlaceholders(t.left, extras), substitutePlaceholders(t.right, extras)}
	case orExpr:
		return orExpr{substitutePlaceholders(t.left, extras), substitutePlaceholders(t.right, extras)}
	case notExpr:
		return notExpr{substitutePlaceholders(t.inner, extras)}
	case compareExpr:
		if n, ok := strings.CutPrefix(t.attr.name, placeholderPrefix); ok && t.attr.urn == "" && t.attr.sub == "" {
			var idx int
			if _, err := fmt.Sscanf(n, "%d", &idx); err == nil && idx >= 0 && idx < len(extras) {
				return extras[idx].path
			}
		}
	}
	return e
}

// checkFilterTypes rejects ordering comparisons of boolean and binary
// attributes (RFC 7644 §3.4.2.2).
func checkFilterTypes(e expr, ctx evalContext) error {
	switch t := e.(type) {
	case andExpr:
		if err := checkFilterTypes(t.left, ctx); err != nil {
			return err
		}
		return checkFilterTypes(t.right, ctx)
	case orExpr:
		if err := checkFilterTypes(t.left, ctx); err != nil {
			return err
		}
		return checkFilterTypes(t.right, ctx)
	case notExpr:
		return checkFilterTypes(t.inner, ctx)
	case valuePathExpr:
		def := ctx.defOf(t.attr)
		if def == nil {
			return nil
		}
		return checkFilterTypes(t.filter, evalContext{parent: def, set: ctx.set})
	case compareExpr:
		def := ctx.defOf(t.attr)
		if def == nil {
			return nil
		}
		switch t.op {
		case "gt", "ge", "lt", "le":
			if def.Type == TypeBoolean || def.Type == TypeBinary {
				return BadRequest(ScimTypeInvalidFilter, "%q cannot be compared with %s", def.Name, t.op)
			}
		}
	}
	return nil
}

// Lookup is an equality condition that every match of a filter must meet,
// usable to answer the filter from an index: Attr is one of "userName",
// "externalId", "emails.value", "displayName", "id". userName, emails.value
// and displayName compare case-insensitively, externalId and id exactly.
type Lookup struct {
	Attr  string
	Value string
}

// Lookups returns the indexable equality conditions ANDed at the top of the
// filter (empty when the filter has none and needs a scan). `userName eq
// "x"` and `userName eq "x" and active eq true` both give
// [{userName x}]; `emails.value eq "x"`, `emails eq "x"`,
// `emails[value eq "x"]` and `emails[type eq "work"].value eq "x"` give
// [{emails.value x}]. Every match satisfies all of the lookups; the caller
// still runs Match on the candidates.
func (f *Filter) Lookups() []Lookup {
	var out []Lookup
	add := func(l Lookup) {
		for _, x := range out {
			if x == l {
				return
			}
		}
		out = append(out, l)
	}
	var walk func(e expr, inEmails bool)
	walk = func(e expr, inEmails bool) {
		switch t := e.(type) {
		case andExpr:
			walk(t.left, inEmails)
			walk(t.right, inEmails)
		case valuePathExpr:
			if !inEmails && t.attr.urn == "" && t.attr.sub == "" && strings.EqualFold(t.attr.name, "emails") {
				walk(t.filter, true)
			}
		case compareExpr:
			s, ok := t.value.(string)
			if t.op != "eq" || !ok || t.attr.urn != "" {
				return
			}
			if inEmails {
				if t.attr.sub == "" && strings.EqualFold(t.attr.name, "value") {
					add(Lookup{Attr: "emails.value", Value: s})
				}
				return
			}
			if strings.EqualFold(t.attr.name, "emails") && (t.attr.sub == "" || strings.EqualFold(t.attr.sub, "value")) {
				add(Lookup{Attr: "emails.value", Value: s})
				return
			}
			if t.attr.sub != "" {
				return
			}
			for _, name := range []string{"userName", "externalId", "displayName", "id"} {
				if strings.EqualFold(t.attr.name, name) {
					add(Lookup{Attr: name, Value: s})
				}
			}
		}
	}
	walk(f.root, false)
	return out
}
