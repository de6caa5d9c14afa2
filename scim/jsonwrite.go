package scim

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"unicode/utf8"
)

// AppendJSON appends the JSON of v to b exactly as a json.Encoder with
// SetEscapeHTML(false) writes it (without the trailing newline). Resources
// are map[string]any trees; encoding/json walks those by reflection and
// allocates for every key and value (a fifth of a GET's allocations), so
// the shapes resources and answers are made of are written here directly
// and anything else goes through encoding/json. TestAppendJSONMatchesEncoder
// and FuzzAppendJSON hold the two to the same bytes.
func AppendJSON(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendJSONString(b, v), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case int:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(b, v, 10), nil
	case Attrs:
		return AppendJSON(b, map[string]any(v))
	case map[string]any:
		if v == nil {
			return append(b, "null"...), nil
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			var err error
			if b, err = AppendJSON(b, v[k]); err != nil {
				return b, err
			}
		}
		return append(b, '}'), nil
	case []any:
		return appendJSONArray(b, v, AppendJSON)
	case []string:
		return appendJSONArray(b, v, func(b []byte, e string) ([]byte, error) { return appendJSONString(b, e), nil })
	case ListResponse:
		b = append(b, `{"schemas":`...)
		b, _ = AppendJSON(b, v.Schemas)
		b = append(b, `,"totalResults":`...)
		b = strconv.AppendInt(b, int64(v.TotalResults), 10)
		b = append(b, `,"startIndex":`...)
		b = strconv.AppendInt(b, int64(v.StartIndex), 10)
		b = append(b, `,"itemsPerPage":`...)
		b = strconv.AppendInt(b, int64(v.ItemsPerPage), 10)
		b = append(b, `,"Resources":`...)
		b, err := AppendJSON(b, v.Resources)
		if err != nil {
			return b, err
		}
		return append(b, '}'), nil
	}
	// Numbers of the stored documents (float64, json.Number) and every
	// other type: encoding/json.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return b, err
	}
	return append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...), nil
}

// appendJSONArray appends v as a JSON array (null when nil), each element
// by appendElem.
func appendJSONArray[E any](b []byte, v []E, appendElem func([]byte, E) ([]byte, error)) ([]byte, error) {
	if v == nil {
		return append(b, "null"...), nil
	}
	b = append(b, '[')
	for i, e := range v {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendElem(b, e); err != nil {
			return b, err
		}
	}
	return append(b, ']'), nil
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string the way encoding/json does
// without HTML escaping: '"' and '\\' escaped, control characters as \n,
// \r, \t, \b, \f or \u00XX, invalid UTF-8 as \ufffd, and U+2028 / U+2029
// escaped (JSONP-safe).
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
