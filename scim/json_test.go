package scim

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// Issue 17, point 3: two keys naming one attribute are 400 invalidSyntax at
// any level and in every body, never a guess; point 4: an unpaired
// surrogate escape is 400 invalidSyntax, not a silent U+FFFD.
func TestAmbiguousBodiesRefused(t *testing.T) {
	t.Parallel()
	enterprise := `"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`
	patch := func(value string) string {
		return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":` + value + `}]}`
	}
	parsers := map[string]func([]byte) error{
		"user":   func(b []byte) error { _, _, err := ParseUser(b); return err },
		"group":  func(b []byte) error { _, err := ParseGroup(b); return err },
		"patch":  func(b []byte) error { _, err := ParsePatch(b); return err },
		"bulk":   func(b []byte) error { _, err := ParseBulkRequest(b, 10); return err },
		"search": func(b []byte) error { _, err := ParseSearchRequest(b); return err },
	}
	for _, tc := range []struct {
		name, parser, body, scimType string
	}{
		{"top level, case", "user", `{"userName":"a","USERNAME":"b"}`, ScimTypeInvalidSyntax},
		{"top level, exact", "user", `{"userName":"a","userName":"b"}`, ScimTypeInvalidSyntax},
		{"exact, the same value", "user", `{"userName":"a","userName":"a"}`, ScimTypeInvalidSyntax},
		{"escaped spelling", "user", `{"userName":"a","user\u004eame":"b"}`, ScimTypeInvalidSyntax},
		{"Unicode case folding (long s)", "user", `{"userName":"a","u\u017ferName":"b"}`, ScimTypeInvalidSyntax},
		{"inside name", "user", `{"userName":"a","name":{"givenName":"x","GivenName":"y"}}`, ScimTypeInvalidSyntax},
		{"inside an emails element", "user", `{"userName":"a","emails":[{"value":"a@x","VALUE":"b@x"}]}`, ScimTypeInvalidSyntax},
		{"inside the enterprise extension", "user", `{"userName":"a",` + enterprise + `:{"department":"x","Department":"y"}}`, ScimTypeInvalidSyntax},
		{"two extension objects", "user", `{"userName":"a",` + enterprise + `:{},` + strings.ToUpper(enterprise) + `:{}}`, ScimTypeInvalidSyntax},
		{"in an unknown extension", "user", `{"userName":"a","urn:x:y:1.0:User":{"k":[{"a":1,"A":2}]}}`, ScimTypeInvalidSyntax},
		{"past the pairwise scan", "user", `{"userName":"a","k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":10,"K5":5}`, ScimTypeInvalidSyntax},
		{"group displayName", "group", `{"displayName":"g","displayname":"h"}`, ScimTypeInvalidSyntax},
		{"a member", "group", `{"displayName":"g","members":[{"value":"1","Value":"2"}]}`, ScimTypeInvalidSyntax},
		{"PATCH value", "patch", patch(`{"active":false,"Active":true}`), ScimTypeInvalidSyntax},
		{"PATCH operation keys", "patch", `{"Operations":[{"op":"add","OP":"remove","path":"title","value":"x"}]}`, ScimTypeInvalidSyntax},
		{"PATCH Operations twice", "patch", `{"Operations":[],"operations":[{"op":"add","path":"title","value":"x"}]}`, ScimTypeInvalidSyntax},
		{"bulk data", "bulk", `{"Operations":[{"method":"POST","path":"/Users","bulkId":"a","data":{"userName":"a","UserName":"b"}}]}`, ScimTypeInvalidSyntax},
		{"bulk operation keys", "bulk", `{"Operations":[{"method":"POST","Method":"DELETE","path":"/Users","data":{"userName":"a"}}]}`, ScimTypeInvalidSyntax},
		{"search", "search", `{"filter":"userName eq \"a\"","FILTER":"userName pr"}`, ScimTypeInvalidSyntax},
		{"lone high surrogate", "user", `{"userName":"\ud800"}`, ScimTypeInvalidSyntax},
		{"lone low surrogate", "user", `{"userName":"x\udc00y"}`, ScimTypeInvalidSyntax},
		{"high then not low", "user", `{"userName":"\ud800\u0041"}`, ScimTypeInvalidSyntax},
		{"high at the end", "user", `{"userName":"a\ud83d"}`, ScimTypeInvalidSyntax},
		{"surrogate in a key", "user", `{"userName":"a","\udfff":1}`, ScimTypeInvalidSyntax},
		{"surrogate in a PATCH value", "patch", patch(`{"title":"\ud800"}`), ScimTypeInvalidSyntax},
		{"surrogate in a filter", "search", `{"filter":"userName eq \"\ud800\""}`, ScimTypeInvalidSyntax},
		{"invalid UTF-8", "user", "{\"userName\":\"\xff\"}", ScimTypeInvalidSyntax},
		{"NUL", "user", `{"userName":"a\u0000"}`, ScimTypeInvalidValue},
	} {
		err := parsers[tc.parser]([]byte(tc.body))
		se, ok := err.(*Error)
		if !ok || se.Status != 400 || se.ScimType != tc.scimType {
			t.Errorf("%s: %s: %v, want 400 %s", tc.name, tc.body, err, tc.scimType)
		}
	}
	// What stays accepted: the same name in different objects, a proper
	// surrogate pair, keys that differ by more than case.
	for _, body := range []string{
		`{"userName":"a","name":{"userName":"x"},"emails":[{"value":"a@x"},{"value":"b@x"}]}`,
		`{"userName":"\ud83d\ude00 \u00e9"}`,
		`{"userName":"a","displayName":"d","nickName":"n","name":{"givenName":"g","familyName":"f"}}`,
		`{"userName":"a","k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":10,"k11":11}`,
	} {
		if _, _, err := ParseUser([]byte(body)); err != nil {
			t.Errorf("%s: %v", body, err)
		}
	}
	if a, _, err := ParseUser([]byte(`{"userName":"\ud83d\ude00"}`)); err != nil || a["userName"] != "😀" {
		t.Errorf("surrogate pair: %v %v", a, err)
	}
}

// decodeObject gives what encoding/json gives for every body both accept.
func TestDecodeObjectAsEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, body := range decodeSeeds {
		checkDecodeAsEncodingJSON(t, []byte(body))
	}
}

var decodeSeeds = []string{
	`{}`, ` { } `, `{"a":1}`, `{"a":-0.5e-3,"b":1E+2,"c":0,"d":-0,"e":123456789012345678901234567890}`,
	`{"a":[],"b":[1,"x",null,true,false,{"c":{}}],"d":"\"\\\/\b\f\n\r\t\u00e9\u20ac\ud83d\ude00"}`,
	`{"a":"é€😀","b":"\u0041"}`, `{"a":1e400}`, `{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":+1}`, `{"a":-}`,
	`{"a":tru}`, `{"a":nul}`, `{"a" 1}`, `{"a":1,}`, `[1,]`, `{"a":1}x`, `{"a":1} {"b":2}`, `{"a":1}   `,
	`[1]`, `"x"`, `1`, `null`, ``, `   `, `{`, `{"a`, `{"a":"b`, `{"a":"\`, `{"a":"\x"}`, `{"a":"\u12"}`,
	`{"a":"\uzzzz"}`, "{\"a\":\"\t\"}", "{\"a\":\"\x01\"}", "\xef\xbb\xbf{}", `{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`,
	`{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`, `{"a":1}]`, `{"a":1}}`,
}

// checkDecodeAsEncodingJSON: where encoding/json decodes body to an object
// without duplicate keys, NUL or lone surrogates, decodeObject gives the same
// value; where encoding/json refuses it, decodeObject does too.
func checkDecodeAsEncodingJSON(t *testing.T, body []byte) {
	t.Helper()
	got, err := decodeObject(body, "t")
	if err != nil {
		if _, ok := err.(*Error); !ok {
			t.Fatalf("%q: error %T is not *Error", body, err)
		}
	}
	var want any
	stdErr := json.Unmarshal(body, &want)
	wantObj, isObj := want.(map[string]any)
	switch {
	case stdErr != nil || !isObj:
		if err == nil {
			t.Fatalf("%q: accepted; encoding/json: %v (%T)", body, stdErr, want)
		}
	case err == nil:
		if !reflect.DeepEqual(got, wantObj) {
			t.Fatalf("%q: got %#v, encoding/json %#v", body, got, wantObj)
		}
	case !utf8.Valid(body) || strings.Contains(string(body), `\u`) || hasAmbiguousKeys(body) || depthOver(body):
		// Refused for a reason encoding/json does not see: invalid UTF-8,
		// an escape (NUL, surrogate), keys naming one attribute, nesting.
	default:
		t.Fatalf("%q: refused (%v), encoding/json accepts it", body, err)
	}
}

// hasAmbiguousKeys is the slow reference: some object of body (valid JSON)
// has two keys equal but for case, compared pairwise.
func hasAmbiguousKeys(body []byte) bool {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	type frame struct {
		object bool
		keys   []string
		key    bool // the next token of an object is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].key {
			top := stack[n-1]
			if k, ok := tok.(string); ok {
				for _, prev := range top.keys {
					if strings.EqualFold(prev, k) {
						return true
					}
				}
				top.keys = append(top.keys, k)
				top.key = false
				continue
			}
		}
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].key = true // after this value, a key again
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, key: true})
		case json.Delim('['):
			stack = append(stack, &frame{})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			if n := len(stack); n > 0 && stack[n-1].object {
				stack[n-1].key = true
			}
		}
	}
}

func depthOver(b []byte) bool { d, _ := nesting(b, "{[", "}]"); return d > maxJSONDepth }

// FuzzDecodeObject: decodeObject agrees with encoding/json.
func FuzzDecodeObject(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"userName":"a","USERNAME":"b"}`))
	f.Add([]byte(`{"userName":"\ud800"}`))
	f.Fuzz(checkDecodeAsEncodingJSON)
}

// Two keys of different forms naming one attribute (issue 17, point 3):
// the core URN object, URN-prefixed keys, extension objects, dotted PATCH
// keys.
func TestAliasedKeysRefused(t *testing.T) {
	t.Parallel()
	ent := "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	core := "urn:ietf:params:scim:schemas:core:2.0:User"
	patch := func(value string) string { return `{"Operations":[{"op":"replace","value":` + value + `}]}` }
	for _, tc := range []struct {
		name, body string
		isPatch    bool
		refused    bool
	}{
		{"userName and the core URN object", `{"userName":"a","` + core + `":{"userName":"b"}}`, false, true},
		{"userName and its URN-prefixed key", `{"userName":"a","` + core + `:USERNAME":"b"}`, false, true},
		{"name.givenName, object and core URN object", `{"userName":"a","name":{"givenName":"x"},"` + core + `":{"name":{"givenName":"y"}}}`, false, true},
		{"extension object and URN-prefixed key", `{"userName":"a","` + ent + `":{"department":"x"},"` + ent + `:Department":"y"}`, false, true},
		{"extension sub-attribute both ways", `{"userName":"a","` + ent + `":{"manager":{"value":"1"}},"` + ent + `:manager.value":"2"}`, false, true},
		{"different name parts", `{"userName":"a","name":{"givenName":"x"},"` + core + `":{"name":{"familyName":"y"}}}`, false, false},
		{"different extension attributes", `{"userName":"a","` + ent + `":{"department":"x"},"` + ent + `:division":"y"}`, false, false},
		{"PATCH dotted and object", patch(`{"name.givenName":"a","name":{"givenName":"b"}}`), true, true},
		{"PATCH top and core URN object", patch(`{"active":false,"` + core + `":{"active":true}}`), true, true},
		{"PATCH extension both ways", patch(`{"` + ent + `:department":"a","` + ent + `":{"department":"b"}}`), true, true},
		{"PATCH two name parts", patch(`{"name.givenName":"a","name.familyName":"b"}`), true, false},
		{"PATCH dotted and another part", patch(`{"name.givenName":"a","name":{"familyName":"b"}}`), true, false},
	} {
		var err error
		if tc.isPatch {
			_, err = ParsePatch([]byte(tc.body))
		} else {
			_, _, err = ParseUser([]byte(tc.body))
		}
		se, ok := err.(*Error)
		switch {
		case tc.refused && (!ok || se.Status != 400 || se.ScimType != ScimTypeInvalidSyntax):
			t.Errorf("%s: %v, want 400 invalidSyntax", tc.name, err)
		case !tc.refused && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
