package scim

import (
	"encoding/json"
	"testing"
)

// The fuzz targets check that parsing and applying hostile input never
// panics, and that accepted input behaves (results marshal to JSON, errors
// are *Error). Their seeds run with every `go test`.

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{
		`userName eq "jane@example.com"`,
		`userName eq "x" and active eq true`,
		`emails[type eq "work" and value co "@x"]`,
		`emails[type eq "work"].value eq "a@b"`,
		`not (title pr) or (meta.lastModified gt "2024-01-01T00:00:00Z")`,
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m"`,
		`a[b eq "]"].c eq "["`,
		`((((x pr))))`,
		`x eq 1.5e3 or y lt -2`,
		`displayName eq "\u00e9\"\\"`,
	} {
		f.Add(s)
	}
	r := renderedJane()
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := ParseFilter(s)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %T is not *Error", err)
			}
			return
		}
		flt.Match(r)
		flt.Match(map[string]any{})
		_ = flt.Lookups()
	})
}

func FuzzParsePatch(f *testing.F) {
	for _, s := range []string{
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`,
		`{"Operations":[{"op":"Replace","path":"active","value":"False"}]}`,
		`{"Operations":[{"op":"Add","path":"emails[type eq \"work\"].value","value":"a@b"}]}`,
		`{"Operations":[{"op":"replace","value":{"name.givenName":"Y","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":"7"}}]}`,
		`{"Operations":[{"op":"Remove","path":"members","value":[{"value":"u1"}]}]}`,
		`{"Operations":[{"op":"remove","path":"members[value eq \"u1\"]"},{"op":"add","path":"members","value":[{"value":"u2","$ref":null}]}]}`,
		`{"Operations":[{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User","value":{"manager":"1"}}]}`,
		`{"Operations":[{"op":"add","value":{"urn:x:y:1.0:User":{"a":[1,{"b":null}]}}}]}`,
	} {
		f.Add([]byte(s))
	}
	user := Attrs{"userName": "u", "emails": []any{map[string]any{"value": "a@b", "type": "work"}}, entURN: map[string]any{"department": "d"}}
	group := Attrs{"displayName": "g"}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := ParsePatch(body)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %T is not *Error", err)
			}
			return
		}
		if a, _, err := p.ApplyUser(user); err == nil {
			if _, err := json.Marshal(RenderUser("1", a, Meta{})); err != nil {
				t.Fatal(err)
			}
		} else if _, ok := err.(*Error); !ok {
			t.Fatalf("ApplyUser error %T is not *Error", err)
		}
		if _, _, err := p.ApplyGroup(group); err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("ApplyGroup error %T is not *Error", err)
			}
		}
		if cp, err := fuzzCustomSet.ParsePatch(body); err == nil {
			if _, _, err := cp.ApplyUser(user); err != nil {
				if _, ok := err.(*Error); !ok {
					t.Fatalf("custom ApplyUser error %T is not *Error", err)
				}
			}
		}
	})
}

func FuzzParseUser(f *testing.F) {
	for _, s := range []string{
		oktaCreateUser,
		oktaSpecCreateUser,
		`{"userName":"u","active":"True","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":"123"}}`,
		`{"userName":"u","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department":"D"}`,
		`{"USERNAME":"u","Emails":[{"Value":"x","Primary":"true"}],"id":"1","meta":{}}`,
		`{"userName":"u","urn:a:b:User":{"x":[[[]]]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		a, _, err := ParseUser(body)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %T is not *Error", err)
			}
			return
		}
		if _, ok := a["password"]; ok {
			t.Fatal("password in attributes")
		}
		if _, err := json.Marshal(RenderUser("1", a, Meta{})); err != nil {
			t.Fatal(err)
		}
		if _, err := ParseGroup(body); err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("ParseGroup error %T is not *Error", err)
			}
		}
		if a, _, err := fuzzCustomSet.ParseUser(body); err == nil {
			if _, err := json.Marshal(RenderUser("1", a, Meta{})); err != nil {
				t.Fatal(err)
			}
		} else if _, ok := err.(*Error); !ok {
			t.Fatalf("custom set error %T is not *Error", err)
		}
	})
}

// fuzzCustomSet is a schema set with a custom extension of every type.
var fuzzCustomSet = func() *SchemaSet {
	set, err := NewSchemaSet(&CustomExtension{URN: customURN, Attributes: []CustomAttribute{
		{Name: "costCenter"}, {Name: "flag", Type: "boolean"}, {Name: "n", Type: "integer"},
		{Name: "d", Type: "decimal"}, {Name: "at", Type: "dateTime"}, {Name: "tags", MultiValued: true},
	}})
	if err != nil {
		panic(err)
	}
	return set
}()

func FuzzPath(f *testing.F) {
	for _, s := range []string{"userName", "name.givenName", `emails[type eq "work"].Value`, `members[value eq "x"]`,
		entURN, entURN + ":manager.value", "urn:okta:custom:1.0:User:costCode"} {
		f.Add(s, "v")
	}
	f.Fuzz(func(t *testing.T, s, v string) {
		p, err := ParsePath(s)
		if err != nil {
			return
		}
		a := testUser()
		p.Get(a)
		_ = p.Set(a, v)
		_ = p.Set(a, map[string]any{"value": v})
		_ = p.Set(a, []any{v})
		p.Get(a)
		p.Remove(a)
		if _, err := json.Marshal(a); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzParseBulkRequest(f *testing.F) {
	for _, s := range []string{
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"failOnErrors":1,"Operations":[{"method":"POST","path":"/Users","bulkId":"a","data":{"userName":"u"}},{"method":"PATCH","path":"/Groups/bulkId:g","data":{"Operations":[{"op":"remove","path":"members[value eq \"bulkId:a\"]"}]}}]}`,
		`{"Operations":[{"method":"delete","path":"/Users/1","version":"W/\"2\""}]}`,
		`{"Operations":[{"method":"POST","path":"/Users","bulkId":"a","data":{}},{"method":"POST","path":"/Users","bulkId":"a","data":{}}]}`,
		`{"Operations":[{"method":"PUT","path":"/Users/1","data":[]}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseBulkRequest(body, 50)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %T is not *Error", err)
			}
			return
		}
		if len(r.Operations) > 50 {
			t.Fatalf("%d operations accepted", len(r.Operations))
		}
		created := map[string]string{}
		for i, op := range r.Operations {
			if op.BulkID != "" {
				created[op.BulkID] = itoa(i)
			}
			out, _ := ResolveBulkIDs(op.Data, created)
			if _, err := json.Marshal(out); err != nil {
				t.Fatal(err)
			}
			ResolveBulkIDs(op.Path, created)
		}
	})
}

func FuzzParseSearchRequest(f *testing.F) {
	for _, s := range []string{
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"attributes":["userName"],"filter":"userName sw \"j\"","sortBy":"userName","sortOrder":"descending","startIndex":1,"count":10}`,
		`{"count":1e300,"startIndex":-5}`,
		`{"attributes":"a,b","excludedAttributes":[1]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseSearchRequest(body)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %T is not *Error", err)
			}
			return
		}
		if r.SortBy != "" {
			_ = DefaultSchemaSet().ValidSortBy(r.SortBy)
		}
	})
}

// FuzzCompareForSort: the comparison is antisymmetric for any sortBy.
func FuzzCompareForSort(f *testing.F) {
	for _, s := range []string{"userName", "name.familyName", "emails", "emails.value", "meta.lastModified", "active", entURN + ":department", "x"} {
		f.Add(s, "b", "A")
	}
	f.Fuzz(func(t *testing.T, sortBy, x, y string) {
		a := RenderUser("1", Attrs{"userName": x, "name": map[string]any{"familyName": y}, "emails": []any{map[string]any{"value": y}}, entURN: map[string]any{"department": x}}, Meta{})
		b := RenderUser("2", Attrs{"userName": y, "name": map[string]any{"familyName": x}, "emails": []any{map[string]any{"value": x}}}, Meta{})
		if ab, ba := CompareForSort(a, b, sortBy), CompareForSort(b, a, sortBy); ab != -ba {
			t.Fatalf("CompareForSort(%q): a,b = %d, b,a = %d", sortBy, ab, ba)
		}
	})
}
