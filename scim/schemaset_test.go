package scim

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

const customURN = "urn:ietf:params:scim:schemas:extension:acme:2.0:CustomUser"

func acmeSet(t *testing.T) *SchemaSet {
	t.Helper()
	set, err := NewSchemaSet(&CustomExtension{URN: customURN, Attributes: []CustomAttribute{
		{Name: "costCenter", Type: "string"},
		{Name: "badgeId", Type: "string", CaseExact: true},
		{Name: "contractor", Type: "boolean"},
		{Name: "level", Type: "integer"},
		{Name: "rate", Type: "decimal"},
		{Name: "hired", Type: "dateTime"},
		{Name: "skills", Type: "string", MultiValued: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func TestNewSchemaSetRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		ext  CustomExtension
		want string
	}{
		{"not a urn", CustomExtension{URN: "acme", Attributes: []CustomAttribute{{Name: "a"}}}, "not a URN"},
		{"enterprise urn", CustomExtension{URN: SchemaEnterpriseUser, Attributes: []CustomAttribute{{Name: "a"}}}, "standard"},
		{"core urn", CustomExtension{URN: SchemaUser, Attributes: []CustomAttribute{{Name: "a"}}}, "standard"},
		{"no attributes", CustomExtension{URN: customURN}, "no attributes"},
		{"bad name", CustomExtension{URN: customURN, Attributes: []CustomAttribute{{Name: "cost center"}}}, "name"},
		{"bad type", CustomExtension{URN: customURN, Attributes: []CustomAttribute{{Name: "a", Type: "complex"}}}, "type"},
		{"duplicate", CustomExtension{URN: customURN, Attributes: []CustomAttribute{{Name: "a"}, {Name: "A"}}}, "twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewSchemaSet(&tc.ext)
			if !errors.Is(err, ErrInvalidSchema) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrInvalidSchema mentioning %q", err, tc.want)
			}
		})
	}
}

func TestSchemaSetParseUser(t *testing.T) {
	t.Parallel()
	set := acmeSet(t)
	for _, tc := range []struct {
		name     string
		body     string
		want     map[string]any // the custom extension object; nil: absent
		scimType string
	}{
		{"nested object, typed", `{"schemas":["` + SchemaUser + `","` + customURN + `"],"userName":"u","` + customURN + `":{"CostCenter":"CC1","contractor":"True","level":3,"rate":1.5,"hired":"2024-01-02T03:04:05Z","skills":["go","sql"],"unknown":"x"}}`,
			map[string]any{"costCenter": "CC1", "contractor": true, "level": 3.0, "rate": 1.5, "hired": "2024-01-02T03:04:05Z", "skills": []any{"go", "sql"}}, ""},
		{"urn-prefixed key", `{"userName":"u","` + customURN + `:costCenter":"CC2"}`, map[string]any{"costCenter": "CC2"}, ""},
		{"undeclared extension ignored", `{"userName":"u","urn:okta:other:1.0:User":{"x":"y"}}`, nil, ""},
		{"wrong type", `{"userName":"u","` + customURN + `":{"level":"high"}}`, nil, ScimTypeInvalidValue},
		{"fraction for integer", `{"userName":"u","` + customURN + `":{"level":1.5}}`, nil, ScimTypeInvalidValue},
		{"bad dateTime", `{"userName":"u","` + customURN + `":{"hired":"yesterday"}}`, nil, ScimTypeInvalidValue},
		{"undeclared schema listed", `{"schemas":["` + SchemaUser + `","urn:okta:other:1.0:User"],"userName":"u"}`, nil, ScimTypeInvalidValue},
		{"enterprise and microsoft listed", `{"schemas":["` + SchemaUser + `","` + SchemaEnterpriseUser + `","` + MicrosoftGroupSchema + `"],"userName":"u"}`, nil, ""},
		{"schemas not an array", `{"schemas":"` + SchemaUser + `","userName":"u"}`, nil, ScimTypeInvalidValue},
		{"group schema on a user", `{"schemas":["` + SchemaGroup + `"],"userName":"u"}`, nil, ScimTypeInvalidValue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, _, err := set.ParseUser([]byte(tc.body))
			if tc.scimType != "" {
				wantScimError(t, err, 400, tc.scimType)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := a[customURN].(map[string]any)
			if tc.want == nil {
				if len(a) != 1 {
					t.Fatalf("attrs %v, want only userName", a)
				}
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("custom = %#v, want %#v", got, tc.want)
			}
			r := RenderUser("1", a, Meta{})
			if !reflect.DeepEqual(r["schemas"], []any{SchemaUser, customURN}) {
				t.Errorf("schemas %v", r["schemas"])
			}
		})
	}
}

func TestSchemaSetDefaultStaysLenient(t *testing.T) {
	t.Parallel()
	a, _, err := ParseUser([]byte(`{"schemas":["` + SchemaUser + `","urn:okta:custom:1.0:User"],"userName":"u","urn:okta:custom:1.0:User":{"x":"y"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a["urn:okta:custom:1.0:User"], map[string]any{"x": "y"}) {
		t.Fatalf("attrs %v", a)
	}
	_, _, err = ParseUser([]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"userName":"u"}`))
	wantScimError(t, err, 400, ScimTypeInvalidValue)
	// Entra's group body with the Microsoft URI.
	if _, err := ParseGroup([]byte(`{"schemas":["` + SchemaGroup + `","` + MicrosoftGroupSchema + `"],"displayName":"G"}`)); err != nil {
		t.Fatal(err)
	}
}

func TestSchemaSetPatch(t *testing.T) {
	t.Parallel()
	set := acmeSet(t)
	start := Attrs{"userName": "u", customURN: map[string]any{"costCenter": "A", "level": 1.0}}
	for _, tc := range []struct {
		name     string
		ops      string
		want     map[string]any
		scimType string
	}{
		{"replace urn path", `{"op":"replace","path":"` + customURN + `:costCenter","value":"B"}`, map[string]any{"costCenter": "B", "level": 1.0}, ""},
		{"path-less urn key, Entra", `{"op":"Replace","value":{"` + customURN + `:contractor":"False"}}`, map[string]any{"costCenter": "A", "level": 1.0, "contractor": false}, ""},
		{"extension object merge", `{"op":"add","path":"` + customURN + `","value":{"level":4}}`, map[string]any{"costCenter": "A", "level": 4.0}, ""},
		{"remove", `{"op":"remove","path":"` + customURN + `:level"}`, map[string]any{"costCenter": "A"}, ""},
		{"wrong type", `{"op":"replace","path":"` + customURN + `:level","value":"x"}`, nil, ScimTypeInvalidValue},
		{"undeclared extension ignored", `{"op":"add","path":"urn:okta:other:1.0:User:x","value":"y"}`, map[string]any{"costCenter": "A", "level": 1.0}, ""},
		{"explicit id is mutability", `{"op":"replace","path":"id","value":"x"}`, nil, ScimTypeMutability},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := set.ParsePatch([]byte(`{"Operations":[` + tc.ops + `]}`))
			if err != nil {
				t.Fatal(err)
			}
			a, _, err := p.ApplyUser(start)
			if tc.scimType != "" {
				wantScimError(t, err, 400, tc.scimType)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(a[customURN], tc.want) {
				t.Fatalf("custom = %#v, want %#v", a[customURN], tc.want)
			}
			if len(a) != 2 {
				t.Fatalf("attrs %v", a)
			}
		})
	}
}

func TestSchemaSetFilterAndDiscovery(t *testing.T) {
	t.Parallel()
	set := acmeSet(t)
	r := RenderUser("1", Attrs{"userName": "u", customURN: map[string]any{"badgeId": "AbC", "level": 3.0}}, Meta{})
	for _, tc := range []struct {
		filter string
		want   bool
	}{
		{customURN + `:badgeId eq "AbC"`, true},
		{customURN + `:badgeId eq "abc"`, false}, // caseExact from the tenant's schema
		{customURN + `:level ge 3`, true},
		{customURN + `:level gt 3`, false},
	} {
		f, err := set.ParseFilter(tc.filter)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.Match(r); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.filter, got, tc.want)
		}
	}
	if _, err := set.ParseFilter(customURN + `:contractor gt true`); err == nil {
		t.Error("ordering a custom boolean was accepted")
	}
	var ids []any
	for _, d := range set.SchemaDocuments("") {
		ids = append(ids, d["id"])
	}
	if !reflect.DeepEqual(ids, []any{SchemaUser, SchemaEnterpriseUser, customURN, SchemaGroup}) {
		t.Fatalf("schemas %v", ids)
	}
	user := set.ResourceTypes("")[0]
	if exts := user["schemaExtensions"].([]any); len(exts) != 2 || exts[1].(map[string]any)["schema"] != customURN {
		t.Fatalf("schemaExtensions %v", user["schemaExtensions"])
	}
	if n := len(DefaultSchemaSet().SchemaDocuments("")); n != 3 {
		t.Fatalf("default set has %d schemas", n)
	}
	p := set.Project(r, []string{customURN + ":level"}, nil)
	if !reflect.DeepEqual(p[customURN], map[string]any{"level": 3.0}) {
		t.Fatalf("projection %v", p)
	}
}

func TestPatchOperationLimit(t *testing.T) {
	t.Parallel()
	op := `{"op":"add","path":"title","value":"x"}`
	ops := strings.TrimSuffix(strings.Repeat(op+",", MaxPatchOperations+1), ",")
	_, err := ParsePatch([]byte(`{"Operations":[` + ops + `]}`))
	wantScimError(t, err, 400, ScimTypeTooMany)
	ops = strings.TrimSuffix(strings.Repeat(op+",", MaxPatchOperations), ",")
	if _, err := ParsePatch([]byte(`{"Operations":[` + ops + `]}`)); err != nil {
		t.Fatal(err)
	}
}
