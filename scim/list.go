package scim

import (
	"errors"
	"strconv"
	"strings"
)

// ParseListParams reads the startIndex and count query parameters (RFC 7644
// §3.4.2.4): a missing or non-positive startIndex is 1; a missing count is
// maxCount, a negative one 0, one above maxCount is maxCount (when maxCount
// > 0). A value that is not an integer is 400 invalidValue.
func ParseListParams(startIndex, count string, maxCount int) (int, int, error) {
	start := 1
	if s := strings.TrimSpace(startIndex); s != "" {
		n, err := parseQueryInt(s)
		if err != nil {
			return 0, 0, BadRequest(ScimTypeInvalidValue, "startIndex %q is not an integer", truncate(startIndex, 32))
		}
		if n > 1 {
			start = n
		}
	}
	n := maxCount
	if s := strings.TrimSpace(count); s != "" {
		c, err := parseQueryInt(s)
		if err != nil {
			return 0, 0, BadRequest(ScimTypeInvalidValue, "count %q is not an integer", truncate(count, 32))
		}
		n = max(c, 0)
		if maxCount > 0 {
			n = min(n, maxCount)
		}
	}
	return start, n, nil
}

// parseQueryInt parses an integer, saturating out-of-range values.
func parseQueryInt(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if errors.Is(err, strconv.ErrRange) {
		return n, nil // Atoi saturates to the int limits
	}
	return n, err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// Project applies the attributes and excludedAttributes query parameters
// (RFC 7644 §3.9) to a rendered resource and returns a new map (r is left
// alone). With attributes, only those (attribute, sub-attribute or whole
// extension, names case-insensitive) are kept, plus id and schemas, which
// are always returned; excludedAttributes is then ignored. Otherwise the
// excluded ones are removed, except id and schemas. Extension URNs whose
// object is gone are dropped from schemas.
func Project(r map[string]any, attributes, excludedAttributes []string) map[string]any {
	return defaultSchemaSet.Project(r, attributes, excludedAttributes)
}

// Project is Project with the names resolved against the set (so a custom
// extension's URN and attributes are recognised).
func (ss *SchemaSet) Project(r map[string]any, attributes, excludedAttributes []string) map[string]any {
	ss = ss.set()
	var out map[string]any
	if paths := ss.parsePaths(attributes); len(paths) > 0 {
		out = map[string]any{}
		for _, k := range []string{"id", "schemas"} {
			if v, ok := r[k]; ok {
				out[k] = cloneValue(v)
			}
		}
		for _, p := range paths {
			includePath(out, r, p)
		}
	} else {
		out = cloneValue(r).(map[string]any)
		for _, p := range ss.parsePaths(excludedAttributes) {
			if p.urn == "" && p.sub == "" && (strings.EqualFold(p.name, "id") || strings.EqualFold(p.name, "schemas")) {
				continue
			}
			if d := p.def(); d != nil && d.Returned == ReturnedAlways && p.sub == "" {
				continue
			}
			p.Remove(Attrs(out))
		}
	}
	pruneSchemas(out)
	return out
}

// parsePaths parses an attributes / excludedAttributes list. Each path
// costs a pass over the values it names, so a name given twice (in any
// case) is kept once and a sub-attribute its schema does not have (which
// no stored value holds) is dropped: the work is bounded by the schema,
// not by the length of the list.
func (ss *SchemaSet) parsePaths(list []string) []*Path {
	var out []*Path
	seen := map[string]bool{}
	for _, item := range list {
		for _, s := range strings.Split(item, ",") {
			key := strings.ToLower(strings.TrimSpace(s))
			if key == "" || seen[key] {
				continue
			}
			seen[key] = true
			p, err := ss.ParsePath(s)
			if err != nil || p.filter != nil {
				continue
			}
			if d := p.def(); d != nil && p.sub != "" && d.Sub(p.sub) == nil {
				continue
			}
			out = append(out, p)
		}
	}
	return out
}

// includePath copies the value at p from r into out.
func includePath(out, r map[string]any, p *Path) {
	src, dst := r, out
	if p.urn != "" {
		k, v, ok := lookupKey(r, p.urn)
		if !ok {
			return
		}
		if p.whole {
			out[k] = cloneValue(v)
			return
		}
		m, isMap := asMap(v)
		if !isMap {
			return
		}
		src = m
		dm, isMap := asMap(out[k])
		if !isMap {
			dm = map[string]any{}
			out[k] = dm
		}
		dst = dm
	}
	k, v, ok := lookupKey(src, p.name)
	if !ok {
		return
	}
	if p.sub == "" {
		dst[k] = cloneValue(v)
		return
	}
	switch t := v.(type) {
	case []any:
		cur, _ := dst[k].([]any)
		if len(cur) != len(t) {
			cur = make([]any, len(t))
			for i := range cur {
				cur[i] = map[string]any{}
			}
		}
		for i, el := range t {
			em, ok1 := asMap(el)
			cm, ok2 := asMap(cur[i])
			if !ok1 || !ok2 {
				continue
			}
			if sk, sv, ok := lookupKey(em, p.sub); ok {
				cm[sk] = cloneValue(sv)
			}
		}
		dst[k] = cur
	default:
		m, isMap := asMap(v)
		if !isMap {
			return
		}
		sk, sv, ok := lookupKey(m, p.sub)
		if !ok {
			return
		}
		dm, isMap := asMap(dst[k])
		if !isMap {
			dm = map[string]any{}
			dst[k] = dm
		}
		dm[sk] = cloneValue(sv)
	}
}

// pruneSchemas drops extension URNs from schemas whose object is absent.
func pruneSchemas(out map[string]any) {
	list, ok := out["schemas"].([]any)
	if !ok {
		return
	}
	kept := make([]any, 0, len(list))
	for i, s := range list {
		urn, isStr := s.(string)
		if i > 0 && isStr && !isCoreURN(urn) {
			if _, _, present := lookupKey(out, urn); !present {
				continue
			}
		}
		kept = append(kept, s)
	}
	out["schemas"] = kept
}

// Includes reports whether a resource projected with attributes and
// excludedAttributes keeps the top-level core attribute name (e.g.
// "members"): so a caller can skip loading what would be dropped.
func Includes(name string, attributes, excludedAttributes []string) bool {
	if paths := defaultSchemaSet.parsePaths(attributes); len(paths) > 0 {
		for _, p := range paths {
			if p.urn == "" && !p.whole && strings.EqualFold(p.name, name) {
				return true
			}
		}
		return false
	}
	for _, p := range defaultSchemaSet.parsePaths(excludedAttributes) {
		if p.urn == "" && !p.whole && p.sub == "" && strings.EqualFold(p.name, name) {
			return false
		}
	}
	return true
}
