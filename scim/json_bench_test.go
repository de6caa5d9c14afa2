package scim

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// The decoder's cost against what it replaced (encoding/json, with the
// UTF-8, depth and NUL passes around it), on an Okta create, a PATCH and a
// large body: go test ./scim -run '^$' -bench Decode -benchmem.

func largeUserBody() []byte {
	var b strings.Builder
	b.WriteString(`{"userName":"big@example.com","emails":[`)
	for i := range 500 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"value":"user` + strconv.Itoa(i) + `@example.com","type":"work","primary":false,"display":"Us\u00e9r ` + strconv.Itoa(i) + `"}`)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

var benchBodies = map[string][]byte{
	"okta-user":  []byte(oktaCreateUser),
	"patch":      []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false,"name.givenName":"Y","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":"7"}}]}`),
	"500-emails": largeUserBody(),
}

// previousDecodeObject is decodeObject before issue 17: four passes.
func previousDecodeObject(body []byte) (map[string]any, error) {
	if !utf8.Valid(body) {
		return nil, BadRequest(ScimTypeInvalidSyntax, "utf8")
	}
	if d, _ := nesting(body, "{[", "}]"); d > maxJSONDepth {
		return nil, BadRequest(ScimTypeInvalidSyntax, "depth")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, BadRequest(ScimTypeInvalidSyntax, "trailing")
	}
	m, _ := v.(map[string]any)
	if previousHasNUL(m) {
		return nil, BadRequest(ScimTypeInvalidValue, "nul")
	}
	return m, nil
}

func previousHasNUL(v any) bool {
	switch t := v.(type) {
	case string:
		return strings.IndexByte(t, 0) >= 0
	case map[string]any:
		for k, x := range t {
			if strings.IndexByte(k, 0) >= 0 || previousHasNUL(x) {
				return true
			}
		}
	case []any:
		for _, x := range t {
			if previousHasNUL(x) {
				return true
			}
		}
	}
	return false
}

func BenchmarkDecode(b *testing.B) {
	for _, name := range []string{"okta-user", "patch", "500-emails"} {
		body := benchBodies[name]
		b.Run(name+"/decodeObject", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := decodeObject(body, "x"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/previous", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := previousDecodeObject(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeWideObject: one object of many keys stays linear.
func BenchmarkDecodeWideObject(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		var sb strings.Builder
		sb.WriteByte('{')
		for i := range n {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(`"Key` + strconv.Itoa(i) + `":1`)
		}
		sb.WriteByte('}')
		body := []byte(sb.String())
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := decodeObject(body, "x"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
