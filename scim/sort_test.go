package scim

import (
	"net/http"
	"reflect"
	"sort"
	"testing"
)

func TestCompareForSort(t *testing.T) {
	t.Parallel()
	user := func(a Attrs, modified string) map[string]any {
		r := RenderUser("id", a, Meta{})
		if modified != "" {
			r["meta"].(map[string]any)["lastModified"] = modified
		}
		return r
	}
	a := user(Attrs{"userName": "alice", "name": map[string]any{"familyName": "Zed"}, "active": true, "externalId": "B",
		"emails": []any{map[string]any{"value": "z@x"}, map[string]any{"value": "a@x", "primary": true}},
		entURN:   map[string]any{"department": "legal"}}, "2024-01-02T00:00:00+01:00")
	b := user(Attrs{"userName": "Bob", "name": map[string]any{"familyName": "adams"}, "active": false, "externalId": "a",
		"emails": []any{map[string]any{"value": "m@x"}}}, "2024-01-01T23:30:00Z")
	for _, tc := range []struct {
		sortBy string
		want   int
	}{
		{"userName", -1},              // case-insensitive: alice < Bob
		{"USERNAME", -1},              // names match in any case
		{"name.familyName", 1},        // adams < Zed
		{"active", 1},                 // false < true
		{"externalId", -1},            // caseExact: "B" < "a"
		{"emails", -1},                // primary a@x < m@x
		{"emails.value", -1},          // same, by sub-attribute
		{"meta.lastModified", -1},     // as instants: 23:00Z < 23:30Z
		{entURN + ":department", -1},  // b has none: missing sorts last
		{"title", 0},                  // both missing
		{`emails[type eq "work"]`, 0}, // unusable
		{"nickName", 0},               // both missing
		{"urn:x:y:1.0:User:level", 0}, // unknown extension, missing
		{"displayName", 0},            // missing in both
		{"id", 0},                     // equal
	} {
		if got := CompareForSort(a, b, tc.sortBy); got != tc.want {
			t.Errorf("CompareForSort(a, b, %q) = %d, want %d", tc.sortBy, got, tc.want)
		}
		if got := CompareForSort(b, a, tc.sortBy); got != -tc.want && !(tc.sortBy == entURN+":department" && got == 1) {
			t.Errorf("CompareForSort(b, a, %q) = %d, want %d", tc.sortBy, got, -tc.want)
		}
	}
	// Numbers by value, missing last, in a full sort.
	list := []map[string]any{
		{"x": map[string]any{}}, {"urn:x:y:1.0:User": map[string]any{"level": 10.0}},
		{"urn:x:y:1.0:User": map[string]any{"level": 9.0}},
	}
	sort.SliceStable(list, func(i, j int) bool { return CompareForSort(list[i], list[j], "urn:x:y:1.0:User:level") < 0 })
	if !reflect.DeepEqual(list[0]["urn:x:y:1.0:User"], map[string]any{"level": 9.0}) || list[2]["x"] == nil {
		t.Fatalf("sorted %v", list)
	}
}

func TestSortParameters(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "ascending", "Ascending"} {
		if d, err := ParseSortOrder(s); err != nil || d {
			t.Errorf("%q: %v %v", s, d, err)
		}
	}
	if d, err := ParseSortOrder("DESCENDING"); err != nil || !d {
		t.Errorf("descending: %v %v", d, err)
	}
	_, err := ParseSortOrder("up")
	wantScimError(t, err, 400, ScimTypeInvalidValue)
	if err := DefaultSchemaSet().ValidSortBy("name.familyName"); err != nil {
		t.Error(err)
	}
	wantScimError(t, DefaultSchemaSet().ValidSortBy(`emails[type eq "work"]`), 400, ScimTypeInvalidPath)
	wantScimError(t, DefaultSchemaSet().ValidSortBy(`a b`), 400, ScimTypeInvalidPath)
}

func TestParseSearchRequest(t *testing.T) {
	t.Parallel()
	one, ten := 1, 10
	for _, tc := range []struct {
		name     string
		body     string
		want     *SearchRequest
		scimType string
	}{
		{"full", `{"schemas":["` + SchemaSearchRequest + `"],"attributes":["userName","name"],"excludedAttributes":["emails"],"filter":"userName sw \"j\"","sortBy":"userName","sortOrder":"descending","startIndex":1,"count":10}`,
			&SearchRequest{Attributes: []string{"userName", "name"}, ExcludedAttributes: []string{"emails"}, Filter: `userName sw "j"`, SortBy: "userName", SortOrder: "descending", StartIndex: &one, Count: &ten}, ""},
		{"empty", `{}`, &SearchRequest{}, ""},
		{"any case, comma string", `{"ATTRIBUTES":"userName,name","Count":10}`, &SearchRequest{Attributes: []string{"userName,name"}, Count: &ten}, ""},
		{"foreign schema", `{"schemas":["` + SchemaPatchOp + `"]}`, nil, ScimTypeInvalidValue},
		{"count not integer", `{"count":"10"}`, nil, ScimTypeInvalidValue},
		{"count fraction", `{"count":1.5}`, nil, ScimTypeInvalidValue},
		{"filter not string", `{"filter":1}`, nil, ScimTypeInvalidValue},
		{"attributes of numbers", `{"attributes":[1]}`, nil, ScimTypeInvalidValue},
		{"not an object", `[]`, nil, ScimTypeInvalidSyntax},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseSearchRequest([]byte(tc.body))
			if tc.scimType != "" {
				wantScimError(t, err, 400, tc.scimType)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseBulkRequest(t *testing.T) {
	t.Parallel()
	good := `{"schemas":["` + SchemaBulkRequest + `"],"failOnErrors":1,"Operations":[
	 {"method":"post","path":"/Users","bulkId":"u1","data":{"userName":"a"}},
	 {"method":"PATCH","path":"/Groups/bulkId:g1","version":"W/\"1\"","data":{"Operations":[]}},
	 {"method":"DELETE","path":"/Users/x"}]}`
	r, err := ParseBulkRequest([]byte(good), 3)
	if err != nil {
		t.Fatal(err)
	}
	if r.FailOnErrors != 1 || len(r.Operations) != 3 || r.Operations[0].Method != "POST" ||
		r.Operations[1].Version != `W/"1"` || r.Operations[2].Data != nil {
		t.Fatalf("parsed %+v", r)
	}
	_, err = ParseBulkRequest([]byte(good), 2)
	wantScimError(t, err, http.StatusRequestEntityTooLarge, ScimTypeTooMany)
	for _, tc := range []struct {
		name, body, scimType string
	}{
		{"foreign schemas", `{"schemas":["` + SchemaPatchOp + `"],"Operations":[]}`, ScimTypeInvalidSyntax},
		{"no operations", `{"schemas":["` + SchemaBulkRequest + `"]}`, ScimTypeInvalidSyntax},
		{"bad method", `{"schemas":["` + SchemaBulkRequest + `"],"Operations":[{"method":"GET","path":"/Users"}]}`, ScimTypeInvalidValue},
		{"post without bulkId", `{"schemas":["` + SchemaBulkRequest + `"],"Operations":[{"method":"POST","path":"/Users","data":{}}]}`, ScimTypeInvalidValue},
		{"put without data", `{"schemas":["` + SchemaBulkRequest + `"],"Operations":[{"method":"PUT","path":"/Users/1"}]}`, ScimTypeInvalidValue},
		{"data not object", `{"schemas":["` + SchemaBulkRequest + `"],"Operations":[{"method":"PUT","path":"/Users/1","data":[]}]}`, ScimTypeInvalidSyntax},
		{"duplicate bulkId", `{"schemas":["` + SchemaBulkRequest + `"],"Operations":[{"method":"POST","path":"/Users","bulkId":"a","data":{}},{"method":"POST","path":"/Users","bulkId":"a","data":{}}]}`, ScimTypeInvalidValue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseBulkRequest([]byte(tc.body), 10)
			wantScimError(t, err, 400, tc.scimType)
		})
	}
}

func TestResolveBulkIDs(t *testing.T) {
	t.Parallel()
	in := map[string]any{"members": []any{map[string]any{"value": "bulkId:u1"}, map[string]any{"value": "x"}},
		entURN: map[string]any{"manager": "bulkId:u2"}}
	out, missing := ResolveBulkIDs(in, map[string]string{"u1": "id-1", "u2": "id-2"})
	want := map[string]any{"members": []any{map[string]any{"value": "id-1"}, map[string]any{"value": "x"}},
		entURN: map[string]any{"manager": "id-2"}}
	if missing != "" || !reflect.DeepEqual(out, want) {
		t.Fatalf("got %v %q", out, missing)
	}
	if in["members"].([]any)[0].(map[string]any)["value"] != "bulkId:u1" {
		t.Fatal("input modified")
	}
	if _, missing := ResolveBulkIDs("/Users/bulkId:zz", nil); missing != "zz" {
		t.Fatalf("missing %q", missing)
	}
	if p, _ := ResolveBulkIDs("/Groups/bulkId:g1", map[string]string{"g1": "G"}); p != "/Groups/G" {
		t.Fatalf("path %v", p)
	}
	p, missing := ResolveBulkIDs(`members[value eq "bulkId:a" or value eq "bulkId:b"]`, map[string]string{"a": "1"})
	if p != `members[value eq "1" or value eq "bulkId:b"]` || missing != "b" {
		t.Fatalf("quoted: %v %q", p, missing)
	}
	body := BulkResponse([]BulkResult{{Method: "POST", BulkID: "u1", Status: 201, Location: "l", Version: `W/"1"`}})
	op := body["Operations"].([]any)[0].(map[string]any)
	if op["status"] != "201" || op["location"] != "l" || op["bulkId"] != "u1" {
		t.Fatalf("response %v", body)
	}
}
