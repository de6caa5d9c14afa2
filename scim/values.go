package scim

import (
	"math"
	"sort"
	"strings"
	"time"
)

// normalizeValue checks v against def and returns it in canonical form:
// names spelled as in the schema, booleans as bool (the strings "true" and
// "false" in any case are accepted, as Entra sends them), a bare string given
// for a complex attribute with a "value" sub-attribute turned into
// {"value": s} (Entra's manager), multi-valued attributes as []any, unknown
// sub-attributes dropped, nulls and empty values dropped (nil result). An
// unknown attribute (def nil) is kept as is. name is used in errors.
func normalizeValue(def *Attribute, v any, name string) (any, error) {
	if v == nil {
		return nil, nil
	}
	if def == nil {
		return cloneValue(v), nil
	}
	if def.MultiValued {
		list, ok := v.([]any)
		if !ok {
			list = []any{v}
		}
		if limit := valueLimit(def); len(list) > limit {
			return nil, tooManyValues(name, len(list), limit)
		}
		out := make([]any, 0, len(list))
		seen := make(valueSet, len(list))
		for _, el := range list {
			n, err := normalizeSingle(def, el, name)
			if err != nil {
				return nil, err
			}
			if n != nil && seen.add(n) {
				out = append(out, n)
			}
		}
		if len(out) == 0 {
			return nil, nil
		}
		return out, nil
	}
	if _, isList := v.([]any); isList {
		return nil, BadRequest(ScimTypeInvalidValue, "attribute %q is single-valued, got an array", name)
	}
	return normalizeSingle(def, v, name)
}

func normalizeSingle(def *Attribute, v any, name string) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch def.Type {
	case TypeComplex:
		m, ok := asMap(v)
		if !ok {
			if s, isStr := v.(string); isStr && def.Sub("value") != nil {
				if s == "" {
					return nil, nil
				}
				return map[string]any{def.Sub("value").Name: s}, nil
			}
			return nil, BadRequest(ScimTypeInvalidValue, "attribute %q must be an object", name)
		}
		out := make(map[string]any, len(m))
		for _, k := range sortedKeys(m) {
			sd := def.Sub(k)
			if sd == nil {
				continue
			}
			n, err := normalizeValue(sd, m[k], name+"."+sd.Name)
			if err != nil {
				return nil, err
			}
			if n != nil {
				out[sd.Name] = n
			}
		}
		if len(out) == 0 {
			return nil, nil
		}
		return out, nil
	case TypeBoolean:
		switch t := v.(type) {
		case bool:
			return t, nil
		case string:
			switch strings.ToLower(strings.TrimSpace(t)) {
			case "true":
				return true, nil
			case "false":
				return false, nil
			}
		}
		return nil, BadRequest(ScimTypeInvalidValue, "attribute %q must be a boolean", name)
	case TypeString, TypeReference, TypeBinary:
		if s, ok := v.(string); ok {
			if def.maxChars > 0 {
				if err := checkPlainText(s, def.maxChars, name); err != nil {
					return nil, err
				}
			}
			return s, nil
		}
		return nil, BadRequest(ScimTypeInvalidValue, "attribute %q must be a string", name)
	case TypeDateTime:
		if s, ok := v.(string); ok {
			if _, err := time.Parse(time.RFC3339Nano, s); err == nil {
				return s, nil
			}
		}
		return nil, BadRequest(ScimTypeInvalidValue, "attribute %q must be an RFC 3339 date-time string", name)
	case TypeInteger:
		if f, ok := toFloat(v); ok && f == math.Trunc(f) && !math.IsInf(f, 0) {
			return f, nil
		}
		return nil, BadRequest(ScimTypeInvalidValue, "attribute %q must be an integer", name)
	case TypeDecimal:
		if f, ok := toFloat(v); ok && !math.IsInf(f, 0) {
			return f, nil
		}
		return nil, BadRequest(ScimTypeInvalidValue, "attribute %q must be a number", name)
	}
	return cloneValue(v), nil
}

// checkPlainText refuses, as 400 invalidValue naming the attribute but not
// echoing the value, a string with a control character (C0, DEL, C1: an
// escape sequence in a userName would rewrite the terminal of an operator
// listing it) or longer than maxChars characters.
func checkPlainText(s string, maxChars int, name string) error {
	n := 0
	for _, r := range s {
		n++
		if r < 0x20 || (0x7f <= r && r <= 0x9f) {
			return BadRequest(ScimTypeInvalidValue, "attribute %q contains the control character U+%04X (character %d): not allowed", name, r, n)
		}
	}
	if n > maxChars {
		return BadRequest(ScimTypeInvalidValue, "attribute %q has %d characters, at most %d are allowed", name, n, maxChars)
	}
	return nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
