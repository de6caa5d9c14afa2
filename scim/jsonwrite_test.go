package scim

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

// encodeStd is what writeJSON wrote before appendJSON: encoding/json without
// HTML escaping, trailing newline trimmed.
func encodeStd(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func checkSameJSON(t *testing.T, v any) {
	t.Helper()
	want, wantErr := encodeStd(v)
	got, gotErr := AppendJSON(nil, v)
	if (wantErr != nil) != (gotErr != nil) {
		t.Fatalf("%#v: error %v, encoding/json's %v", v, gotErr, wantErr)
	}
	if wantErr == nil && !bytes.Equal(got, want) {
		t.Fatalf("%#v:\n got %s\nwant %s", v, got, want)
	}
}

func TestAppendJSONMatchesEncoder(t *testing.T) {
	strs := []string{
		"", "plain", `quo"te`, `back\slash`, "new\nline\r\t", "\b\f\x00\x01\x1f\x7f",
		"<html>&amp;", "José Müller", "日本語", "emoji 🙂", "\u2028\u2029", "bad \xff utf8 \xc3",
		"\xed\xa0\x80 surrogate", strings.Repeat("long ", 100),
	}
	for _, s := range strs {
		checkSameJSON(t, s)
		checkSameJSON(t, map[string]any{s: s})
	}
	var nilMap map[string]any
	var nilSlice []any
	var nilStrings []string
	now := time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC)
	values := []any{
		nil, true, false, 0, -7, int64(math.MaxInt64), 1.5, 1e21, 1e-7, 123456789.0, math.Copysign(0, -1),
		json.Number("12.50"), nilMap, nilSlice, nilStrings, []string{}, []any{}, map[string]any{},
		now, math.NaN(), math.Inf(1), map[string]any{"x": math.NaN()},
		RenderUser("2819c223-7f76-453a-919d-413861904646", Attrs{
			"userName": "bjensen@example.com", "active": true, "displayName": "Babs <Jensen>",
			"name":   map[string]any{"givenName": "Barbara", "familyName": "Jensen", "middleName": nil},
			"emails": []any{map[string]any{"value": "bjensen@example.com", "type": "work", "primary": true}},
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"employeeNumber": "701984", "level": 3.0},
		}, Meta{Created: now, LastModified: now, Version: `W/"3"`, Location: "https://example.com/Users/2819c223"}),
		NewListResponse(0, 1, nil),
		Attrs{"userName": "a", "x": Attrs{"y": []any{Attrs{}}}}, Attrs(nil),
		NewListResponse(2, 1, []any{map[string]any{"id": "a"}, map[string]any{"id": "b", "n": []any{1.0, "x", nil}}}),
		&ListResponse{Schemas: []string{SchemaListResponse}},
		struct {
			A string `json:"a"`
		}{"<b>"},
	}
	for _, v := range values {
		checkSameJSON(t, v)
	}
}

// FuzzAppendJSON decodes arbitrary JSON into the generic shapes a stored
// document has and checks appendJSON writes what encoding/json writes; the
// input also serves as a raw (possibly invalid UTF-8) string and map key.
func FuzzAppendJSON(f *testing.F) {
	for _, s := range []string{`{"a":[1,"x\u2028",null,{"b":true}]}`, `"\ud800"`, "\xff\xfe", `{"<":">&"}`, `[1e400]`, `-0`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkSameJSON(t, string(data))
		checkSameJSON(t, map[string]any{string(data): []any{string(data)}})
		var v any
		if json.Unmarshal(data, &v) == nil {
			checkSameJSON(t, v)
		}
	})
}
