package scim

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

func TestServiceProviderConfig(t *testing.T) {
	doc := ServiceProviderConfig(SPConfigOptions{FilterMaxResults: 500, ETagSupported: true, ChangePassword: true, Location: "https://h/scim/v2/ServiceProviderConfig"})
	checks := map[string]any{
		"patch":          map[string]any{"supported": true},
		"filter":         map[string]any{"supported": true, "maxResults": 500},
		"etag":           map[string]any{"supported": true},
		"sort":           map[string]any{"supported": false},
		"changePassword": map[string]any{"supported": true},
		"bulk":           map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
		"meta":           map[string]any{"resourceType": "ServiceProviderConfig", "location": "https://h/scim/v2/ServiceProviderConfig"},
	}
	for k, want := range checks {
		if !reflect.DeepEqual(doc[k], want) {
			t.Errorf("%s = %#v, want %#v", k, doc[k], want)
		}
	}
	schemes := doc["authenticationSchemes"].([]any)
	if len(schemes) != 2 || schemes[0].(map[string]any)["type"] != "oauthbearertoken" || schemes[1].(map[string]any)["type"] != "httpbasic" {
		t.Errorf("authenticationSchemes = %#v", schemes)
	}
	if d := ServiceProviderConfig(SPConfigOptions{})["filter"].(map[string]any); d["maxResults"] != 200 {
		t.Errorf("default maxResults = %v", d["maxResults"])
	}
	if _, err := json.Marshal(doc); err != nil {
		t.Fatal(err)
	}
}

func TestResourceTypes(t *testing.T) {
	rts := ResourceTypes("https://h/scim/v2")
	if len(rts) != 2 || rts[0]["endpoint"] != "/Users" || rts[1]["endpoint"] != "/Groups" ||
		rts[0]["schema"] != SchemaUser || rts[1]["schema"] != SchemaGroup {
		t.Fatalf("ResourceTypes = %#v", rts)
	}
	if rts[0]["meta"].(map[string]any)["location"] != "https://h/scim/v2/ResourceTypes/User" {
		t.Errorf("location = %v", rts[0]["meta"])
	}
	if _, ok := ResourceTypes("")[0]["meta"].(map[string]any)["location"]; ok {
		t.Error("location set without base URL")
	}
}

// The schema documents must describe exactly what the parser accepts: every
// attribute documented is kept by ParseUser, and ParseUser keeps nothing
// undocumented.
func TestSchemasAreTruthful(t *testing.T) {
	docs := Schemas()
	if len(docs) != 3 {
		t.Fatalf("%d schemas", len(docs))
	}
	byID := map[string]map[string]any{}
	for _, d := range docs {
		byID[d["id"].(string)] = d
		if _, err := json.Marshal(d); err != nil {
			t.Fatal(err)
		}
	}
	names := func(id string) map[string]map[string]any {
		out := map[string]map[string]any{}
		for _, a := range byID[id]["attributes"].([]any) {
			m := a.(map[string]any)
			out[m["name"].(string)] = m
		}
		return out
	}
	user := names(SchemaUser)
	for _, want := range []string{"userName", "name", "displayName", "emails", "phoneNumbers", "addresses", "active", "password", "groups", "roles", "x509Certificates"} {
		if user[want] == nil {
			t.Errorf("User schema lacks %s", want)
		}
	}
	if user["userName"]["required"] != true || user["userName"]["caseExact"] != false || user["userName"]["uniqueness"] != "server" {
		t.Errorf("userName = %#v", user["userName"])
	}
	if user["password"]["returned"] != "never" || user["password"]["mutability"] != "writeOnly" {
		t.Errorf("password = %#v", user["password"])
	}
	if user["groups"]["mutability"] != "readOnly" {
		t.Errorf("groups = %#v", user["groups"])
	}
	ent := names(SchemaEnterpriseUser)
	if len(ent) != 6 || ent["manager"]["type"] != "complex" {
		t.Errorf("enterprise = %#v", ent)
	}
	group := names(SchemaGroup)
	if group["displayName"]["required"] != true || group["members"]["multiValued"] != true {
		t.Errorf("group = %#v", group)
	}
	// Every documented writable core attribute survives ParseUser.
	for name, d := range user {
		if d["mutability"] == "readOnly" || name == "password" {
			continue
		}
		var v any = "x"
		switch {
		case d["type"] == "boolean":
			v = true
		case d["type"] == "complex":
			v = map[string]any{d["subAttributes"].([]any)[0].(map[string]any)["name"].(string): "x"}
			if d["multiValued"] == true {
				v = []any{v}
			}
		}
		body, _ := json.Marshal(map[string]any{"userName": "u", name: v})
		a, _, err := ParseUser(body)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if _, ok := a[name]; !ok {
			t.Errorf("documented attribute %s dropped by ParseUser", name)
		}
	}
}

func TestParseListParams(t *testing.T) {
	tests := []struct {
		start, count     string
		max              int
		wantStart, wantN int
		bad              bool
	}{
		{"", "", 100, 1, 100, false},
		{"1", "2", 100, 1, 2, false},
		{"101", "100", 100, 101, 100, false},
		{"0", "5", 100, 1, 5, false},
		{"-4", "5", 100, 1, 5, false},
		{"1", "-1", 100, 1, 0, false},
		{"1", "0", 100, 1, 0, false},
		{"1", "100000", 500, 1, 500, false},
		{"1", "99999999999999999999999", 500, 1, 500, false},
		{" 3 ", "", 10, 3, 10, false},
		{"x", "", 100, 0, 0, true},
		{"1", "ten", 100, 0, 0, true},
		{"1.5", "", 100, 0, 0, true},
	}
	for _, tt := range tests {
		s, n, err := ParseListParams(tt.start, tt.count, tt.max)
		if tt.bad {
			var se *Error
			if !errors.As(err, &se) || se.ScimType != ScimTypeInvalidValue {
				t.Errorf("(%q,%q): err = %v, want invalidValue", tt.start, tt.count, err)
			}
			continue
		}
		if err != nil || s != tt.wantStart || n != tt.wantN {
			t.Errorf("(%q,%q,%d) = %d, %d, %v; want %d, %d", tt.start, tt.count, tt.max, s, n, err, tt.wantStart, tt.wantN)
		}
	}
}

func TestProject(t *testing.T) {
	r := renderedJane()
	tests := []struct {
		name               string
		attributes, exclud []string
		want               map[string]any
	}{
		{"userName only", []string{"userName"}, nil, map[string]any{
			"id": r["id"], "schemas": []any{SchemaUser}, "userName": "Jane@Example.com"}},
		{"case-insensitive and comma list", []string{"USERNAME,name.givenName"}, nil, map[string]any{
			"id": r["id"], "schemas": []any{SchemaUser}, "userName": "Jane@Example.com", "name": map[string]any{"givenName": "Jane"}}},
		{"multi-valued sub-attribute", []string{"emails.value"}, nil, map[string]any{
			"id": r["id"], "schemas": []any{SchemaUser},
			"emails": []any{map[string]any{"value": "jane@example.com"}, map[string]any{"value": "jd@home.example.org"}}}},
		{"extension attribute", []string{entURN + ":department"}, nil, map[string]any{
			"id": r["id"], "schemas": []any{SchemaUser, entURN}, entURN: map[string]any{"department": "Legal"}}},
		{"meta requested", []string{"meta.version"}, nil, map[string]any{
			"id": r["id"], "schemas": []any{SchemaUser}, "meta": map[string]any{"version": `W/"1"`}}},
	}
	for _, tt := range tests {
		got := Project(r, tt.attributes, tt.exclud)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s:\n got %#v\nwant %#v", tt.name, got, tt.want)
		}
	}
	ex := Project(r, nil, []string{"emails", "ID", "schemas", entURN, "name.familyName"})
	if _, ok := ex["emails"]; ok {
		t.Error("emails not excluded")
	}
	if ex["id"] != r["id"] || ex["schemas"] == nil {
		t.Error("id or schemas excluded")
	}
	if _, ok := ex[entURN]; ok {
		t.Error("extension not excluded")
	}
	if !reflect.DeepEqual(ex["schemas"], []any{SchemaUser, "urn:okta:custom:1.0:User"}) {
		t.Errorf("schemas = %v", ex["schemas"])
	}
	if !reflect.DeepEqual(ex["name"], map[string]any{"givenName": "Jane"}) {
		t.Errorf("name = %v", ex["name"])
	}
	if _, ok := r["emails"]; !ok {
		t.Error("Project changed its input")
	}
	// Entra: GET /Groups/{id}?excludedAttributes=members
	g := RenderGroup("g1", Attrs{"displayName": "G", "members": []any{map[string]any{"value": "u1"}}}, Meta{})
	pg := Project(g, nil, []string{"members"})
	if _, ok := pg["members"]; ok || pg["displayName"] != "G" {
		t.Errorf("group projection = %#v", pg)
	}
}
