package scim

import (
	"reflect"
	"strings"
	"testing"
)

func mustPatch(t *testing.T, body string) *Patch {
	t.Helper()
	p, err := ParsePatch([]byte(body))
	if err != nil {
		t.Fatalf("ParsePatch(%s): %v", body, err)
	}
	return p
}

func TestParsePatch(t *testing.T) {
	p := mustPatch(t, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
		{"op":"Add","path":"emails[type eq \"work\"].value","value":"a@b"},
		{"op":"REPLACE","value":{"active":false}},
		{"op":"remove","path":"title"}]}`)
	if len(p.Operations) != 3 || p.Operations[0].Op != OpAdd || p.Operations[1].Op != OpReplace || p.Operations[2].Op != OpRemove {
		t.Fatalf("ops = %#v", p.Operations)
	}
	if p.Operations[1].Path != nil || p.Operations[0].Path.String() != `emails[type eq "work"].value` {
		t.Errorf("paths = %v %v", p.Operations[0].Path, p.Operations[1].Path)
	}
	// schemas may be missing, keys in any case.
	mustPatch(t, `{"operations":[{"OP":"replace","PATH":"active","VALUE":"False"}]}`)

	bad := []struct{ body, scimType, inDetail string }{
		{`{"Operations":`, ScimTypeInvalidSyntax, ""},
		{`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"Operations":[{"op":"remove","path":"x"}]}`, ScimTypeInvalidSyntax, ""},
		{`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}`, ScimTypeInvalidSyntax, ""},
		{`{"Operations":{}}`, ScimTypeInvalidSyntax, ""},
		{`{"Operations":[]}`, ScimTypeInvalidValue, ""},
		{`{"Operations":["add"]}`, ScimTypeInvalidSyntax, "operation 0"},
		{`{"Operations":[{"op":"remove","path":"title"},{"op":"move","path":"x"}]}`, ScimTypeInvalidValue, "operation 1"},
		{`{"Operations":[{"op":"remove"}]}`, ScimTypeNoTarget, "operation 0"},
		{`{"Operations":[{"op":"remove","path":""}]}`, ScimTypeNoTarget, "operation 0"},
		{`{"Operations":[{"op":"add","path":"emails[type eq"}]}`, ScimTypeInvalidPath, "operation 0"},
		{`{"Operations":[{"op":"add","path":7,"value":1}]}`, ScimTypeInvalidPath, "operation 0"},
		{`{"Operations":[{"op":"add","path":"title"}]}`, ScimTypeInvalidValue, "operation 0"},
		{`{"Operations":[{"op":"replace","value":"x"}]}`, ScimTypeInvalidValue, "operation 0"},
	}
	for _, tt := range bad {
		_, err := ParsePatch([]byte(tt.body))
		wantScimError(t, err, 400, tt.scimType)
		if !strings.Contains(err.Error(), tt.inDetail) {
			t.Errorf("%s: error %q does not name %q", tt.body, err, tt.inDetail)
		}
	}
}

func TestApplyUser(t *testing.T) {
	base := func() Attrs {
		return Attrs{
			"userName": "jane@example.com", "active": true, "displayName": "Jane",
			"name":   map[string]any{"givenName": "Jane", "familyName": "Doe"},
			"emails": []any{map[string]any{"value": "jane@example.com", "type": "work", "primary": true}},
			entURN:   map[string]any{"department": "Legal"},
		}
	}
	with := func(change func(a Attrs)) Attrs {
		a := base()
		change(a)
		return a
	}
	tests := []struct {
		name     string
		body     string
		want     Attrs
		password string
	}{
		{"okta deactivate", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`,
			with(func(a Attrs) { a["active"] = false }), ""},
		{"okta sync password", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"password":"s3cret"}}]}`,
			base(), "s3cret"},
		{"password path", `{"Operations":[{"op":"replace","path":"password","value":"p2"}]}`, base(), "p2"},
		{"entra disable string", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"}]}`,
			with(func(a Attrs) { a["active"] = false }), ""},
		{"entra path-less dotted and urn keys", `{"Operations":[{"op":"replace","value":{"displayName":"X","name.givenName":"Y","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":"7"}}]}`,
			with(func(a Attrs) {
				a["displayName"] = "X"
				a["name"].(map[string]any)["givenName"] = "Y"
				a[entURN].(map[string]any)["employeeNumber"] = "7"
			}), ""},
		{"path-less nested urn object merges", `{"Operations":[{"op":"replace","value":{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"Manager":"m9"}}}]}`,
			with(func(a Attrs) { a[entURN].(map[string]any)["manager"] = map[string]any{"value": "m9"} }), ""},
		{"path-less ignores id meta schemas groups", `{"Operations":[{"op":"replace","value":{"id":"other","meta":{},"schemas":[],"groups":[],"title":"T"}}]}`,
			with(func(a Attrs) { a["title"] = "T" }), ""},
		{"entra add filtered creates element", `{"Operations":[{"op":"Add","path":"phoneNumbers[type eq \"mobile\"].value","value":"+1 555"}]}`,
			with(func(a Attrs) { a["phoneNumbers"] = []any{map[string]any{"type": "mobile", "value": "+1 555"}} }), ""},
		{"entra replace work email odd case", `{"Operations":[{"op":"Replace","path":"emails[type eq \"work\"].Value","value":"new@example.com"}]}`,
			with(func(a Attrs) {
				a["emails"] = []any{map[string]any{"value": "new@example.com", "type": "work", "primary": true}}
			}), ""},
		{"entra address postal code", `{"Operations":[{"op":"Add","path":"addresses[type eq \"work\"].postalCode","value":"98052"}]}`,
			with(func(a Attrs) { a["addresses"] = []any{map[string]any{"type": "work", "postalCode": "98052"}} }), ""},
		{"add to multi-valued appends and dedupes", `{"Operations":[{"op":"add","path":"emails","value":[{"value":"jane@example.com","type":"work","primary":true},{"value":"h@x","type":"home"}]}]}`,
			with(func(a Attrs) {
				a["emails"] = append(a["emails"].([]any), map[string]any{"value": "h@x", "type": "home"})
			}), ""},
		{"replace multi-valued replaces list", `{"Operations":[{"op":"replace","path":"emails","value":[{"value":"h@x","type":"home"}]}]}`,
			with(func(a Attrs) { a["emails"] = []any{map[string]any{"value": "h@x", "type": "home"}} }), ""},
		{"replace complex merges", `{"Operations":[{"op":"replace","path":"name","value":{"givenName":"J2"}}]}`,
			with(func(a Attrs) { a["name"] = map[string]any{"givenName": "J2", "familyName": "Doe"} }), ""},
		{"remove with value list", `{"Operations":[{"op":"add","path":"emails","value":[{"value":"h@x"}]},{"op":"remove","path":"emails","value":[{"value":"jane@example.com"}]}]}`,
			with(func(a Attrs) { a["emails"] = []any{map[string]any{"value": "h@x"}} }), ""},
		{"remove filtered", `{"Operations":[{"op":"remove","path":"emails[type eq \"work\"]"}]}`,
			with(func(a Attrs) { delete(a, "emails") }), ""},
		{"remove missing filtered is fine", `{"Operations":[{"op":"remove","path":"emails[type eq \"home\"]"}]}`, base(), ""},
		{"remove extension attribute", `{"Operations":[{"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"}]}`,
			with(func(a Attrs) { delete(a, entURN) }), ""},
		{"replace urn attribute path", `{"Operations":[{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:Department","value":"Ops"}]}`,
			with(func(a Attrs) { a[entURN] = map[string]any{"department": "Ops"} }), ""},
		{"replace manager.value", `{"Operations":[{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value","value":"m1"}]}`,
			with(func(a Attrs) { a[entURN].(map[string]any)["manager"] = map[string]any{"value": "m1"} }), ""},
		{"unknown core attribute ignored", `{"Operations":[{"op":"replace","path":"favouriteColour","value":"blue"},{"op":"add","value":{"shoeSize":9}}]}`, base(), ""},
		{"path-less add on complex", `{"Operations":[{"op":"add","value":{"name":{"middleName":"M"}}}]}`,
			with(func(a Attrs) { a["name"].(map[string]any)["middleName"] = "M" }), ""},
		{"core urn wrapper", `{"Operations":[{"op":"replace","value":{"urn:ietf:params:scim:schemas:core:2.0:User":{"title":"Boss"}}}]}`,
			with(func(a Attrs) { a["title"] = "Boss" }), ""},
		{"unknown extension", `{"Operations":[{"op":"add","value":{"urn:okta:custom:1.0:User":{"cc":"1"}}}]}`,
			with(func(a Attrs) { a["urn:okta:custom:1.0:User"] = map[string]any{"cc": "1"} }), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := base()
			got, pw, err := mustPatch(t, tt.body).ApplyUser(orig)
			if err != nil {
				t.Fatalf("ApplyUser: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %#v\nwant %#v", got, tt.want)
			}
			if !reflect.DeepEqual(orig, base()) {
				t.Error("ApplyUser changed its input")
			}
			switch {
			case tt.password == "" && pw != nil:
				t.Errorf("password = %q, want none", *pw)
			case tt.password != "" && (pw == nil || *pw != tt.password):
				t.Errorf("password = %v, want %q", pw, tt.password)
			}
		})
	}
}

func TestApplyUserErrors(t *testing.T) {
	base := Attrs{"userName": "u", "active": true}
	tests := []struct{ body, scimType, inDetail string }{
		{`{"Operations":[{"op":"replace","path":"active","value":"maybe"}]}`, ScimTypeInvalidValue, "operation 0"},
		{`{"Operations":[{"op":"replace","path":"title","value":"ok"},{"op":"replace","path":"id","value":"x"}]}`, ScimTypeMutability, "operation 1"},
		{`{"Operations":[{"op":"add","path":"groups","value":[{"value":"g"}]}]}`, ScimTypeMutability, "operation 0"},
		{`{"Operations":[{"op":"remove","path":"userName"}]}`, ScimTypeInvalidValue, "userName"},
		{`{"Operations":[{"op":"replace","value":{"name.givenName":5}}]}`, ScimTypeInvalidValue, "operation 0"},
		{`{"Operations":[{"op":"replace","value":{"bad path[":1}}]}`, ScimTypeInvalidPath, "operation 0"},
		{`{"Operations":[{"op":"replace","value":{"password":5}}]}`, ScimTypeInvalidValue, "operation 0"},
	}
	for _, tt := range tests {
		orig := base.Clone()
		got, pw, err := mustPatch(t, tt.body).ApplyUser(orig)
		wantScimError(t, err, 400, tt.scimType)
		if got != nil || pw != nil {
			t.Errorf("%s: result returned with an error", tt.body)
		}
		if !strings.Contains(err.Error(), tt.inDetail) {
			t.Errorf("%s: error %q does not name %q", tt.body, err, tt.inDetail)
		}
		if !reflect.DeepEqual(orig, base) {
			t.Errorf("%s: input changed", tt.body)
		}
	}
}

func TestApplyGroup(t *testing.T) {
	base := Attrs{"displayName": "Eng", "externalId": "x1"}
	tests := []struct {
		name  string
		body  string
		want  Attrs
		delta MemberDelta
	}{
		{"okta rename with id, removals and additions", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
			{"op":"replace","value":{"id":"g1","displayName":"Engineering"}},
			{"op":"remove","path":"members[value eq \"u1\"]"},
			{"op":"add","path":"members","value":[{"value":"u2","display":"jane@example.com"}]}]}`,
			Attrs{"displayName": "Engineering", "externalId": "x1"},
			MemberDelta{Add: []Member{{Value: "u2", Display: "jane@example.com"}}, Remove: []string{"u1"}}},
		{"okta replace members", `{"Operations":[{"op":"replace","path":"members","value":[{"value":"u1"},{"value":"u2"}]}]}`,
			base, MemberDelta{Replace: true, Add: []Member{{Value: "u1"}, {Value: "u2"}}}},
		{"entra remove with value list", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Remove","path":"members","value":[{"value":"u1"}]}]}`,
			base, MemberDelta{Remove: []string{"u1"}}},
		{"entra add with $ref null", `{"Operations":[{"op":"Add","path":"members","value":[{"$ref":null,"value":"u3"}]}]}`,
			base, MemberDelta{Add: []Member{{Value: "u3"}}}},
		{"remove all members", `{"Operations":[{"op":"remove","path":"members"}]}`, base, MemberDelta{Replace: true}},
		{"or-ed member filter", `{"Operations":[{"op":"remove","path":"members[value eq \"a\" or value eq \"b\"]"}]}`,
			base, MemberDelta{Remove: []string{"a", "b"}}},
		{"add then remove same member", `{"Operations":[{"op":"add","path":"members","value":[{"value":"u1"}]},{"op":"remove","path":"members[value eq \"u1\"]"}]}`,
			base, MemberDelta{Remove: []string{"u1"}}},
		{"remove then add same member", `{"Operations":[{"op":"remove","path":"members[value eq \"u1\"]"},{"op":"add","path":"members","value":[{"value":"u1"}]}]}`,
			base, MemberDelta{Add: []Member{{Value: "u1"}}}},
		{"path-less members add", `{"Operations":[{"op":"add","value":{"members":[{"value":"u5"}]}}]}`,
			base, MemberDelta{Add: []Member{{Value: "u5"}}}},
		{"entra replace displayName and externalId", `{"Operations":[{"op":"Replace","path":"displayName","value":"New"},{"op":"Replace","path":"externalId","value":"x2"}]}`,
			Attrs{"displayName": "New", "externalId": "x2"}, MemberDelta{}},
		{"member display sub-attribute ignored", `{"Operations":[{"op":"replace","path":"members[value eq \"u1\"].display","value":"x"}]}`, base, MemberDelta{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, delta, err := mustPatch(t, tt.body).ApplyGroup(base)
			if err != nil {
				t.Fatalf("ApplyGroup: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("attrs %#v, want %#v", got, tt.want)
			}
			if !reflect.DeepEqual(delta, tt.delta) {
				t.Errorf("delta %#v, want %#v", delta, tt.delta)
			}
			// A patch that changes only members is seen as one, with
			// ApplyGroup's delta; one that changes attributes is not.
			onlyDelta, only, err := mustPatch(t, tt.body).MembersOnly()
			if wantOnly := reflect.DeepEqual(tt.want, base); only != wantOnly || err != nil {
				t.Fatalf("MembersOnly = %v, %v; want %v, nil", only, err, wantOnly)
			}
			if only && !reflect.DeepEqual(onlyDelta, tt.delta) {
				t.Errorf("MembersOnly delta %#v, want %#v", onlyDelta, tt.delta)
			}
		})
	}
	for _, body := range []string{
		`{"Operations":[{"op":"remove","path":"members[display eq \"x\"]"}]}`,
		`{"Operations":[{"op":"remove","path":"displayName"}]}`,
		`{"Operations":[{"op":"add","path":"members","value":[{"display":"no value"}]}]}`,
	} {
		_, _, err := mustPatch(t, body).ApplyGroup(base)
		if err == nil {
			t.Errorf("%s: no error", body)
		}
		// MembersOnly fails the same patches, or leaves them to ApplyGroup.
		if _, only, err := mustPatch(t, body).MembersOnly(); only && err == nil {
			t.Errorf("%s: MembersOnly accepted it", body)
		}
	}
}

func TestMemberDeltaApply(t *testing.T) {
	cur := []Member{{Value: "a"}, {Value: "b"}, {Value: "c"}}
	got := MemberDelta{Add: []Member{{Value: "d"}, {Value: "a", Display: "A"}}, Remove: []string{"b", "zz"}}.Apply(cur)
	want := []Member{{Value: "a", Display: "A"}, {Value: "c"}, {Value: "d"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Apply = %#v", got)
	}
	if got := (MemberDelta{Replace: true}).Apply(cur); len(got) != 0 {
		t.Errorf("replace with nothing = %#v", got)
	}
	if !(MemberDelta{}).Empty() || (MemberDelta{Replace: true}).Empty() {
		t.Error("Empty wrong")
	}
}
