package scim

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"

	filter "github.com/scim2/filter-parser/v2"
)

const entURN = SchemaEnterpriseUser

func testUser() Attrs {
	return Attrs{
		"userName": "jane@example.com",
		"name":     map[string]any{"givenName": "Jane", "familyName": "Doe"},
		"emails": []any{
			map[string]any{"value": "jane@example.com", "type": "work", "primary": true},
			map[string]any{"value": "jane@home.example", "type": "home"},
		},
		"active": true,
		entURN:   map[string]any{"department": "Legal", "manager": map[string]any{"value": "m1"}},
	}
}

func mustPath(t *testing.T, s string) *Path {
	t.Helper()
	p, err := ParsePath(s)
	if err != nil {
		t.Fatalf("ParsePath(%q): %v", s, err)
	}
	return p
}

func TestParsePathErrors(t *testing.T) {
	for _, s := range []string{"", "   ", "emails[type eq]", "emails[", "9abc", "name..givenName", `emails.value[type eq "work"]`, "a b", SchemaUser} {
		_, err := ParsePath(s)
		var se *Error
		if !errors.As(err, &se) || se.ScimType != ScimTypeInvalidPath || se.Status != 400 {
			t.Errorf("ParsePath(%q) = %v, want 400 invalidPath", s, err)
		}
	}
}

func TestPathAccessors(t *testing.T) {
	tests := []struct {
		path, urn, attr, sub string
		filter, whole        bool
	}{
		{"userName", "", "userName", "", false, false},
		{"USERNAME", "", "userName", "", false, false},
		{"name.GivenName", "", "name", "givenName", false, false},
		{`emails[type eq "work"].Value`, "", "emails", "value", true, false},
		{`members[value eq "x"]`, "", "members", "", true, false},
		{entURN + ":department", entURN, "department", "", false, false},
		{entURN + ":manager.value", entURN, "manager", "value", false, false},
		{entURN, entURN, "", "", false, true},
		{"urn:ietf:params:scim:schemas:extension:ENTERPRISE:2.0:User", entURN, "", "", false, true},
		{SchemaUser + ":name.givenName", "", "name", "givenName", false, false},
		{"urn:okta:custom:1.0:User", "urn:okta:custom:1.0:User", "", "", false, true},
		{"urn:okta:custom:1.0:User:costCode", "urn:okta:custom:1.0:User", "costCode", "", false, false},
	}
	for _, tt := range tests {
		p := mustPath(t, tt.path)
		if p.URN() != tt.urn || p.Attribute() != tt.attr || p.SubAttribute() != tt.sub || p.HasFilter() != tt.filter || p.IsExtension() != tt.whole {
			t.Errorf("%q: got urn=%q attr=%q sub=%q filter=%v whole=%v", tt.path, p.URN(), p.Attribute(), p.SubAttribute(), p.HasFilter(), p.IsExtension())
		}
		if p.String() != tt.path {
			t.Errorf("String() = %q, want %q", p.String(), tt.path)
		}
	}
}

func TestPathGet(t *testing.T) {
	tests := []struct {
		path string
		want any
		ok   bool
	}{
		{"userName", "jane@example.com", true},
		{"username", "jane@example.com", true},
		{"name.givenName", "Jane", true},
		{"NAME.GIVENNAME", "Jane", true},
		{"name.middleName", nil, false},
		{"title", nil, false},
		{`emails[type eq "work"].value`, "jane@example.com", true},
		{`emails[type eq "work"].Value`, "jane@example.com", true},
		{`emails[TYPE eq "WORK"].value`, "jane@example.com", true},
		{`emails[type eq "other"].value`, nil, false},
		{`emails[type eq "home"]`, map[string]any{"value": "jane@home.example", "type": "home"}, true},
		{`emails[primary eq true].value`, "jane@example.com", true},
		{"emails.value", []any{"jane@example.com", "jane@home.example"}, true},
		{entURN + ":department", "Legal", true},
		{entURN + ":Department", "Legal", true},
		{entURN + ":manager.value", "m1", true},
		{entURN + ":employeeNumber", nil, false},
		{entURN, map[string]any{"department": "Legal", "manager": map[string]any{"value": "m1"}}, true},
		{"active", true, true},
	}
	for _, tt := range tests {
		got, ok := mustPath(t, tt.path).Get(testUser())
		if ok != tt.ok || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Get(%q) = %#v, %v; want %#v, %v", tt.path, got, ok, tt.want, tt.ok)
		}
	}
}

func TestPathSet(t *testing.T) {
	tests := []struct {
		name  string
		start Attrs
		path  string
		value any
		want  Attrs
	}{
		{"simple", Attrs{}, "userName", "a", Attrs{"userName": "a"}},
		{"canonical case", Attrs{"USERNAME": "old"}, "username", "a", Attrs{"userName": "a"}},
		{"sub creates complex", Attrs{}, "name.givenName", "Y", Attrs{"name": map[string]any{"givenName": "Y"}}},
		{"sub keeps siblings", Attrs{"name": map[string]any{"familyName": "D"}}, "NAME.givenname", "Y",
			Attrs{"name": map[string]any{"familyName": "D", "givenName": "Y"}}},
		{"entra filtered add creates element", Attrs{}, `emails[type eq "work"].value`, "w@x",
			Attrs{"emails": []any{map[string]any{"type": "work", "value": "w@x"}}}},
		{"filtered odd case sub", Attrs{}, `emails[type eq "work"].Value`, "w@x",
			Attrs{"emails": []any{map[string]any{"type": "work", "value": "w@x"}}}},
		{"filtered replaces matching", Attrs{"emails": []any{map[string]any{"type": "work", "value": "old"}, map[string]any{"type": "home", "value": "h"}}},
			`emails[type eq "work"].value`, "new",
			Attrs{"emails": []any{map[string]any{"type": "work", "value": "new"}, map[string]any{"type": "home", "value": "h"}}}},
		{"filtered element", Attrs{}, `phoneNumbers[type eq "mobile"]`, map[string]any{"value": "+1"},
			Attrs{"phoneNumbers": []any{map[string]any{"type": "mobile", "value": "+1"}}}},
		{"address postal code", Attrs{}, `addresses[type eq "work"].postalCode`, "1000",
			Attrs{"addresses": []any{map[string]any{"type": "work", "postalCode": "1000"}}}},
		{"extension attr", Attrs{}, entURN + ":department", "Sales", Attrs{entURN: map[string]any{"department": "Sales"}}},
		{"extension attr case", Attrs{}, entURN + ":DEPARTMENT", "Sales", Attrs{entURN: map[string]any{"department": "Sales"}}},
		{"extension manager sub", Attrs{}, entURN + ":manager.value", "m2", Attrs{entURN: map[string]any{"manager": map[string]any{"value": "m2"}}}},
		{"extension manager bare string", Attrs{}, entURN + ":manager", "m3", Attrs{entURN: map[string]any{"manager": map[string]any{"value": "m3"}}}},
		{"extension object", Attrs{}, entURN, map[string]any{"Department": "X", "bogus": 1}, Attrs{entURN: map[string]any{"department": "X"}}},
		{"bool string", Attrs{}, "active", "False", Attrs{"active": false}},
		{"multi replace", Attrs{"emails": []any{map[string]any{"value": "a"}}}, "emails", []any{map[string]any{"Value": "b"}},
			Attrs{"emails": []any{map[string]any{"value": "b"}}}},
		{"unknown attr kept as written", Attrs{}, "nickname2", "n", Attrs{"nickname2": "n"}},
		{"nil removes", Attrs{"title": "x"}, "title", nil, Attrs{}},
		{"members filter creates", Attrs{}, `members[value eq "u1"]`, map[string]any{"display": "U"},
			Attrs{"members": []any{map[string]any{"value": "u1", "display": "U"}}}},
		{"unknown extension", Attrs{}, "urn:okta:custom:1.0:User:costCode", "c1", Attrs{"urn:okta:custom:1.0:User": map[string]any{"costCode": "c1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := tt.start.Clone()
			if err := mustPath(t, tt.path).Set(a, tt.value); err != nil {
				t.Fatalf("Set: %v", err)
			}
			if !reflect.DeepEqual(a, tt.want) {
				t.Errorf("got %#v\nwant %#v", a, tt.want)
			}
		})
	}
}

func TestPathSetInvalidValue(t *testing.T) {
	tests := []struct {
		path  string
		value any
	}{
		{"userName", 12.0},
		{"active", "maybe"},
		{"name", "flat"},
		{"name.givenName", true},
		{"emails", []any{"x", 3.0}},
		{entURN + ":department", []any{"a"}},
		{entURN, "notAnObject"},
	}
	for _, tt := range tests {
		a := testUser()
		err := mustPath(t, tt.path).Set(a, tt.value)
		var se *Error
		if !errors.As(err, &se) || se.ScimType != ScimTypeInvalidValue {
			t.Errorf("Set(%q, %#v) = %v, want invalidValue", tt.path, tt.value, err)
		}
		if !reflect.DeepEqual(a, testUser()) {
			t.Errorf("Set(%q) changed attributes on error", tt.path)
		}
	}
}

func TestPathRemove(t *testing.T) {
	tests := []struct {
		path  string
		check func(a Attrs) bool
	}{
		{"userName", func(a Attrs) bool { _, ok := a["userName"]; return !ok }},
		{"name.givenName", func(a Attrs) bool { return reflect.DeepEqual(a["name"], map[string]any{"familyName": "Doe"}) }},
		{`emails[type eq "work"]`, func(a Attrs) bool {
			return reflect.DeepEqual(a["emails"], []any{map[string]any{"value": "jane@home.example", "type": "home"}})
		}},
		{`emails[type eq "home"].value`, func(a Attrs) bool {
			return reflect.DeepEqual(a["emails"], []any{
				map[string]any{"value": "jane@example.com", "type": "work", "primary": true},
				map[string]any{"type": "home"},
			})
		}},
		{`emails[type ne "nothing"]`, func(a Attrs) bool { _, ok := a["emails"]; return !ok }},
		{"emails", func(a Attrs) bool { _, ok := a["emails"]; return !ok }},
		{entURN + ":department", func(a Attrs) bool {
			return reflect.DeepEqual(a[entURN], map[string]any{"manager": map[string]any{"value": "m1"}})
		}},
		{entURN, func(a Attrs) bool { _, ok := a[entURN]; return !ok }},
		{"title", func(a Attrs) bool { return reflect.DeepEqual(a, testUser()) }},
		{`emails[type eq "other"]`, func(a Attrs) bool { return reflect.DeepEqual(a, testUser()) }},
	}
	for _, tt := range tests {
		a := testUser()
		mustPath(t, tt.path).Remove(a)
		if !tt.check(a) {
			t.Errorf("Remove(%q) left %#v", tt.path, a)
		}
	}
	// The last extension attribute removed drops the extension object.
	a := Attrs{entURN: map[string]any{"department": "x"}}
	mustPath(t, entURN+":department").Remove(a)
	if len(a) != 0 {
		t.Errorf("emptied extension kept: %#v", a)
	}
}

// simplePath (ParsePath's shortcut) agrees with the path grammar on every
// input it takes: same name and sub-attribute, no URN, no filter; and it
// declines everything with a URN, a filter or characters outside ATTRNAME.
func TestSimplePathMatchesGrammar(t *testing.T) {
	inputs := []string{
		"userName", "active", "name.givenName", "emails", "x", "a1", "a-b", "a_b", "A.B", "name.familyName",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", `emails[type eq "work"].value`,
		`emails[type eq "work"]`, "1abc", "-a", "_a", "a.", ".a", "a..b", "a.b.c", "$ref", "a$", "é", "a b", "", "a:b",
		"members.value", "name.givenName2",
	}
	rng := rand.New(rand.NewPCG(14, 14))
	alphabet := "aZ09-_.:$[] \"é"
	for range 20000 {
		b := make([]byte, 1+rng.IntN(8))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		inputs = append(inputs, string(b))
	}
	for _, in := range inputs {
		name, sub, ok := simplePath(in)
		fp, err := filter.ParsePath([]byte(in))
		if !ok {
			continue
		}
		if err != nil {
			t.Fatalf("%q: simplePath takes it (%q, %q), the grammar refuses it: %v", in, name, sub, err)
		}
		if fp.ValueExpression != nil || fp.AttributePath.URI() != "" || fp.AttributePath.AttributeName != name || fp.AttributePath.SubAttributeName() != sub {
			t.Fatalf("%q: simplePath (%q, %q), grammar %+v", in, name, sub, fp)
		}
	}
	for _, in := range []string{"userName", "name.givenName", "a-b_c.d"} {
		if _, _, ok := simplePath(in); !ok {
			t.Fatalf("%q: the shortcut should take it", in)
		}
	}
	for _, in := range []string{"urn:x:User:a", `emails[type eq "work"]`, "a.b.c", "$ref", "1a", ""} {
		if _, _, ok := simplePath(in); ok {
			t.Fatalf("%q: the shortcut should leave it to the grammar", in)
		}
	}
}
