package scim

import (
	"strings"
	"time"
)

// CompareForSort orders two rendered resources (as RenderUser / RenderGroup
// build them) by the attribute sortBy (RFC 7644 §3.4.2.3), with the default
// schema set. See SchemaSet.CompareForSort.
func CompareForSort(a, b map[string]any, sortBy string) int {
	return defaultSchemaSet.CompareForSort(a, b, sortBy)
}

// CompareForSort returns -1, 0 or 1 as a sorts before, with or after b in
// ascending order of sortBy ("userName", "name.familyName",
// "meta.lastModified", "emails", "emails.value", a URN-prefixed extension
// attribute). Values compare by the attribute's schema type: strings
// case-insensitively unless the attribute is caseExact, dateTime as
// instants, numbers numerically, false before true. A multi-valued
// attribute sorts by its primary element, else its first (its "value" when
// no sub-attribute is named). A resource without a value sorts after every
// resource with one; two without compare equal. An unusable sortBy (bad
// path, value filter, whole extension) compares everything equal; callers
// validate it with ValidSortBy first. Descending order is the caller's
// reversal of the result.
func (ss *SchemaSet) CompareForSort(a, b map[string]any, sortBy string) int {
	return ss.Sorter(sortBy)(a, b)
}

// Sorter returns CompareForSort for one sortBy, with the path parsed once:
// what a sort of many resources calls for each comparison.
func (ss *SchemaSet) Sorter(sortBy string) func(a, b map[string]any) int {
	p, err := ss.set().ParsePath(sortBy)
	if err != nil || p.filter != nil || p.whole {
		return func(map[string]any, map[string]any) int { return 0 }
	}
	def := p.def()
	if p.sub != "" {
		def = def.Sub(p.sub)
	} else if def != nil && def.Type == TypeComplex {
		def = def.Sub("value")
	}
	return func(a, b map[string]any) int {
		va, okA := sortValue(a, p)
		vb, okB := sortValue(b, p)
		switch {
		case !okA && !okB:
			return 0
		case !okA:
			return 1
		case !okB:
			return -1
		}
		return compareTyped(va, vb, def)
	}
}

// ValidSortBy checks a sortBy parameter: an attribute path without a value
// filter. Errors are 400 invalidPath (RFC 7644 names no scimType for a bad
// sortBy; it is an attribute path like any other).
func (ss *SchemaSet) ValidSortBy(sortBy string) error {
	p, err := ss.set().ParsePath(sortBy)
	if err != nil {
		return err
	}
	if p.filter != nil || p.whole {
		return BadRequest(ScimTypeInvalidPath, "sortBy %q must name an attribute, without a value filter", truncate(sortBy, 200))
	}
	return nil
}

// ParseSortOrder reads sortOrder: "" or "ascending" (any case) is false,
// "descending" true, anything else 400 invalidValue.
func ParseSortOrder(s string) (descending bool, err error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "ascending":
		return false, nil
	case "descending":
		return true, nil
	}
	return false, BadRequest(ScimTypeInvalidValue, "sortOrder %q must be ascending or descending", truncate(s, 40))
}

// sortValue is the single value p designates in r for sorting.
func sortValue(r map[string]any, p *Path) (any, bool) {
	c := r
	if p.urn != "" {
		_, ext, ok := lookupKey(r, p.urn)
		if !ok {
			return nil, false
		}
		if c, ok = asMap(ext); !ok {
			return nil, false
		}
	}
	_, v, ok := lookupKey(c, p.name)
	if !ok {
		return nil, false
	}
	if list, isList := v.([]any); isList {
		if len(list) == 0 {
			return nil, false
		}
		v = list[0]
		for _, el := range list {
			if m, ok := asMap(el); ok {
				if _, pr, ok := lookupKey(m, "primary"); ok && pr == true {
					v = el
					break
				}
			}
		}
	}
	if m, isMap := asMap(v); isMap {
		sub := p.sub
		if sub == "" {
			sub = "value"
		}
		_, sv, ok := lookupKey(m, sub)
		if !ok {
			return nil, false
		}
		v = sv
	} else if p.sub != "" {
		return nil, false
	}
	return v, present(v)
}

// compareTyped compares two present values of the attribute def (nil:
// unknown, compared by their JSON types).
func compareTyped(a, b any, def *Attribute) int {
	ra, rb := typeRank(a), typeRank(b)
	if ra != rb {
		return compareInts(ra, rb)
	}
	switch x := a.(type) {
	case string:
		y := b.(string)
		if def != nil && def.Type == TypeDateTime {
			tx, err1 := time.Parse(time.RFC3339Nano, x)
			ty, err2 := time.Parse(time.RFC3339Nano, y)
			if err1 == nil && err2 == nil {
				return tx.Compare(ty)
			}
		}
		if def == nil || !def.CaseExact {
			if c := strings.Compare(strings.ToLower(x), strings.ToLower(y)); c != 0 {
				return c
			}
			return 0
		}
		return strings.Compare(x, y)
	case bool:
		y := b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	}
	fx, ok1 := toFloat(a)
	fy, ok2 := toFloat(b)
	if ok1 && ok2 {
		switch {
		case fx < fy:
			return -1
		case fx > fy:
			return 1
		}
	}
	return 0
}

// typeRank orders values of different JSON types: numbers, strings,
// booleans, anything else.
func typeRank(v any) int {
	switch v.(type) {
	case string:
		return 1
	case bool:
		return 2
	}
	if _, ok := toFloat(v); ok {
		return 0
	}
	return 3
}

func compareInts(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
