package scim

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// maxJSONDepth bounds the nesting of request bodies.
const maxJSONDepth = 32

// decodeObject decodes a request body that must be one JSON object. Invalid
// UTF-8, nesting deeper than maxJSONDepth, malformed JSON, trailing data and
// non-object bodies are 400 invalidSyntax.
func decodeObject(body []byte, what string) (map[string]any, error) {
	if !utf8.Valid(body) {
		return nil, BadRequest(ScimTypeInvalidSyntax, "%s: body is not valid UTF-8", what)
	}
	if jsonDepth(body) > maxJSONDepth {
		return nil, BadRequest(ScimTypeInvalidSyntax, "%s: JSON nested deeper than %d levels", what, maxJSONDepth)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, BadRequest(ScimTypeInvalidSyntax, "%s: malformed JSON: %v", what, err)
	}
	if dec.More() {
		return nil, BadRequest(ScimTypeInvalidSyntax, "%s: unexpected data after the JSON object", what)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, BadRequest(ScimTypeInvalidSyntax, "%s: body must be a JSON object", what)
	}
	if hasNUL(m) {
		// No store keeps a NUL inside text (PostgreSQL refuses it, C-based
		// LDAP servers cut at it): refuse it here, before anything is written.
		return nil, BadRequest(ScimTypeInvalidValue, "%s: a string contains the NUL character (\\u0000)", what)
	}
	return m, nil
}

// hasNUL reports whether any key or string value in v contains U+0000.
func hasNUL(v any) bool {
	switch t := v.(type) {
	case string:
		return strings.IndexByte(t, 0) >= 0
	case map[string]any:
		for k, x := range t {
			if strings.IndexByte(k, 0) >= 0 || hasNUL(x) {
				return true
			}
		}
	case []any:
		for _, x := range t {
			if hasNUL(x) {
				return true
			}
		}
	}
	return false
}

// jsonDepth returns the deepest nesting of objects and arrays in b, without
// decoding it (so a hostile body cannot make the decoder recurse).
func jsonDepth(b []byte) int {
	deepest, _ := nesting(b, "{[", "}]")
	return deepest
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
