package scim

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func wantScimError(t *testing.T, err error, status int, scimType string) {
	t.Helper()
	var se *Error
	if !errors.As(err, &se) {
		t.Fatalf("error %v is not a *scim.Error", err)
	}
	if se.Status != status || se.ScimType != scimType {
		t.Fatalf("error = %d %q (%s), want %d %q", se.Status, se.ScimType, se.Detail, status, scimType)
	}
}

// Okta's create body (docs/idp-behaviour.md, Okta 3).
const oktaCreateUser = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"jane@example.com",
 "name":{"givenName":"Jane","familyName":"Doe"},
 "emails":[{"primary":true,"value":"jane@example.com","type":"work"}],
 "displayName":"Jane Doe","locale":"en-US","externalId":"00ujl29u0le5T6Aj10h7",
 "groups":[],"password":"1mz050nq","active":true}`

// Okta's OIN spec test create body, variables filled in.
const oktaSpecCreateUser = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"Runscope123Bc@atko.com","name":{"givenName":"Jane","familyName":"Abc"},"emails":[{"primary":true,"value":"Runscope123Bc@atko.com","type":"work"}],"displayName":"Jane Abc","active":true}`

func TestParseUserAccepted(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		want     Attrs
		password string
	}{
		{"okta create", oktaCreateUser, Attrs{
			"userName":    "jane@example.com",
			"name":        map[string]any{"givenName": "Jane", "familyName": "Doe"},
			"emails":      []any{map[string]any{"primary": true, "value": "jane@example.com", "type": "work"}},
			"displayName": "Jane Doe", "locale": "en-US", "externalId": "00ujl29u0le5T6Aj10h7", "active": true,
		}, "1mz050nq"},
		{"okta spec test", oktaSpecCreateUser, Attrs{
			"userName":    "Runscope123Bc@atko.com",
			"name":        map[string]any{"givenName": "Jane", "familyName": "Abc"},
			"emails":      []any{map[string]any{"primary": true, "value": "Runscope123Bc@atko.com", "type": "work"}},
			"displayName": "Jane Abc", "active": true,
		}, ""},
		{"okta enterprise extension", `{"userName":"j","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"42","department":"Legal"}}`,
			Attrs{"userName": "j", entURN: map[string]any{"employeeNumber": "42", "department": "Legal"}}, ""},
		{"okta PUT with id, meta, groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"abc","userName":"j","groups":[],"meta":{"resourceType":"User","location":"https://x/Users/abc"},"active":true}`,
			Attrs{"userName": "j", "active": true}, ""},
		{"entra create", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
			"externalId":"e1","userName":"Test_User@contoso.com","active":"True","displayName":"Test User","roles":[],
			"meta":{"resourceType":"User"},"name":{"formatted":"Test User","familyName":"User","givenName":"Test"},
			"emails":[{"primary":true,"type":"work","value":"Test_User@contoso.com"}],
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"Department":"Sales","manager":"123"}}`,
			Attrs{"externalId": "e1", "userName": "Test_User@contoso.com", "active": true, "displayName": "Test User",
				"name":   map[string]any{"formatted": "Test User", "familyName": "User", "givenName": "Test"},
				"emails": []any{map[string]any{"primary": true, "type": "work", "value": "Test_User@contoso.com"}},
				entURN:   map[string]any{"department": "Sales", "manager": map[string]any{"value": "123"}}}, ""},
		{"any key case", `{"USERNAME":"u","Name":{"GivenName":"G"},"Active":"false","EMAILS":[{"Value":"a@b","TYPE":"work"}]}`,
			Attrs{"userName": "u", "name": map[string]any{"givenName": "G"}, "active": false, "emails": []any{map[string]any{"value": "a@b", "type": "work"}}}, ""},
		{"unknown core attribute ignored", `{"userName":"u","favouriteColour":"blue","name":{"nick":"x","givenName":"g"}}`,
			Attrs{"userName": "u", "name": map[string]any{"givenName": "g"}}, ""},
		{"unknown extension kept", `{"userName":"u","urn:okta:custom:1.0:User":{"costCode":"7","n":{"x":1}}}`,
			Attrs{"userName": "u", "urn:okta:custom:1.0:User": map[string]any{"costCode": "7", "n": map[string]any{"x": 1.0}}}, ""},
		{"urn-prefixed attribute key", `{"userName":"u","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department":"D"}`,
			Attrs{"userName": "u", entURN: map[string]any{"department": "D"}}, ""},
		{"nulls dropped", `{"userName":"u","title":null,"name":null,"emails":[null]}`, Attrs{"userName": "u"}, ""},
		{"manager object", `{"userName":"u","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"9","displayName":"Boss"}}}`,
			Attrs{"userName": "u", entURN: map[string]any{"manager": map[string]any{"value": "9", "displayName": "Boss"}}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, pw, err := ParseUser([]byte(tt.body))
			if err != nil {
				t.Fatalf("ParseUser: %v", err)
			}
			if !reflect.DeepEqual(a, tt.want) {
				t.Errorf("attrs\n got %#v\nwant %#v", a, tt.want)
			}
			switch {
			case tt.password == "" && pw != nil:
				t.Errorf("password = %q, want none", *pw)
			case tt.password != "" && (pw == nil || *pw != tt.password):
				t.Errorf("password = %v, want %q", pw, tt.password)
			}
			if _, ok := a["password"]; ok {
				t.Error("password kept in attributes")
			}
		})
	}
}

func TestParseUserRejected(t *testing.T) {
	deep := strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40)
	tests := []struct {
		name, body, scimType string
	}{
		{"malformed", `{"userName":`, ScimTypeInvalidSyntax},
		{"not an object", `["userName"]`, ScimTypeInvalidSyntax},
		{"empty", ``, ScimTypeInvalidSyntax},
		{"trailing data", `{"userName":"u"} {}`, ScimTypeInvalidSyntax},
		{"invalid utf-8", "{\"userName\":\"\xff\xfe\"}", ScimTypeInvalidSyntax},
		{"too deep", `{"userName":"u","urn:x:y:User":` + deep + `}`, ScimTypeInvalidSyntax},
		{"missing userName", `{"name":{"givenName":"x"}}`, ScimTypeInvalidValue},
		{"empty userName", `{"userName":"  "}`, ScimTypeInvalidValue},
		{"userName number", `{"userName":5}`, ScimTypeInvalidValue},
		{"active not boolean", `{"userName":"u","active":"yes"}`, ScimTypeInvalidValue},
		{"name not object", `{"userName":"u","name":"Jane"}`, ScimTypeInvalidValue},
		{"emails wrong element", `{"userName":"u","emails":[{"value":3}]}`, ScimTypeInvalidValue},
		{"password number", `{"userName":"u","password":1234}`, ScimTypeInvalidValue},
		{"enterprise wrong type", `{"userName":"u","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":["a"]}}`, ScimTypeInvalidValue},
		{"single-valued given array", `{"userName":"u","title":["a"]}`, ScimTypeInvalidValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ParseUser([]byte(tt.body))
			wantScimError(t, err, 400, tt.scimType)
			if strings.Contains(err.Error(), "1234") {
				t.Error("error echoes the password")
			}
		})
	}
}

func TestRenderUser(t *testing.T) {
	created := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	a := Attrs{"userName": "j", "active": true, entURN: map[string]any{"department": "D"}, "urn:okta:custom:1.0:User": map[string]any{"x": "y"}, "password": "leak"}
	r := RenderUser("id1", a, Meta{Created: created, LastModified: created.Add(time.Hour), Version: `W/"2"`, Location: "https://h/scim/v2/Users/id1"})
	want := map[string]any{
		"schemas":  []any{SchemaUser, entURN, "urn:okta:custom:1.0:User"},
		"id":       "id1",
		"userName": "j", "active": true,
		entURN:                     map[string]any{"department": "D"},
		"urn:okta:custom:1.0:User": map[string]any{"x": "y"},
		"meta": map[string]any{"resourceType": "User", "created": "2024-05-01T10:00:00Z", "lastModified": "2024-05-01T11:00:00Z",
			"version": `W/"2"`, "location": "https://h/scim/v2/Users/id1"},
	}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("got  %#v\nwant %#v", r, want)
	}
	// The rendering is a copy: changing it leaves a alone.
	r[entURN].(map[string]any)["department"] = "changed"
	if a[entURN].(map[string]any)["department"] != "D" {
		t.Error("RenderUser shares maps with its input")
	}
	r = RenderUser("id2", Attrs{"userName": "k"}, Meta{})
	if m := r["meta"].(map[string]any); !reflect.DeepEqual(m, map[string]any{"resourceType": "User"}) {
		t.Errorf("empty meta rendered as %#v", m)
	}
	if _, err := json.Marshal(r); err != nil {
		t.Fatal(err)
	}
}

func TestParseGroup(t *testing.T) {
	tests := []struct {
		name string
		body string
		want Attrs
	}{
		{"okta push", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Engineering","members":[]}`,
			Attrs{"displayName": "Engineering"}},
		{"entra without members, microsoft schema", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group","http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/Group"],"externalId":"8aa1","displayName":"Group1","meta":{"resourceType":"Group"}}`,
			Attrs{"displayName": "Group1", "externalId": "8aa1"}},
		{"members with $ref null and duplicates", `{"displayName":"G","members":[{"value":"u1","display":"a@b","$ref":null},{"value":"u2","type":"User"},{"value":"u1"}]}`,
			Attrs{"displayName": "G", "members": []any{map[string]any{"value": "u1", "display": "a@b"}, map[string]any{"value": "u2", "type": "User"}}}},
		{"key case", `{"DisplayName":"G","Members":[{"Value":"u1"}]}`, Attrs{"displayName": "G", "members": []any{map[string]any{"value": "u1"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := ParseGroup([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(a, tt.want) {
				t.Errorf("got  %#v\nwant %#v", a, tt.want)
			}
		})
	}
	for _, body := range []string{`{"members":[]}`, `{"displayName":""}`, `{"displayName":"G","members":[{"display":"x"}]}`, `{"displayName":"G","members":[{"value":7}]}`, `{"displayName":"G","members":[["u1"]]}`} {
		_, err := ParseGroup([]byte(body))
		wantScimError(t, err, 400, ScimTypeInvalidValue)
	}
	r := RenderGroup("g1", Attrs{"displayName": "G", "members": []any{map[string]any{"value": "u1"}}}, Meta{})
	if r["id"] != "g1" || !reflect.DeepEqual(r["schemas"], []any{SchemaGroup}) || r["meta"].(map[string]any)["resourceType"] != "Group" {
		t.Errorf("RenderGroup = %#v", r)
	}
}
