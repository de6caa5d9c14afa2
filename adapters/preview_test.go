package adapters

import (
	"testing"

	"github.com/scimbridge/scimbridge/scim"
)

// TestPreviewUser was sync's TestPreview: the preview moved here from
// sync.Admin (it never touched the ledger).
func TestPreviewUser(t *testing.T) {
	c := Config{Kind: "sqlite", DSN: "unused", Users: UserMapping{
		Table: "users", Key: "id",
		Attributes: map[string]string{
			"userName": "username", "name.givenName": "given_name", "name.familyName": "family_name",
			`emails[type eq "work"].value`: "email", "externalId": "external_id", "title": "title",
		},
		Active: &ActiveMapping{Column: "active", Active: "1", Inactive: "0"},
	}}
	attrs, password, err := scim.DefaultSchemaSet().ParseUser([]byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],
		"userName":"jane@example.com","name":{"givenName":"Jane","familyName":"Doe"},
		"emails":[{"value":"jane@work.example.com","type":"work","primary":true}],
		"nickName":"JD","active":false,"password":"s3cret-Pass"}`))
	if err != nil {
		t.Fatal(err)
	}
	p, err := PreviewUser(c, attrs, password != nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"username": "jane@example.com", "given_name": "Jane", "family_name": "Doe",
		"email": "jane@work.example.com", "external_id": nil, "title": nil, "active": "0"}
	if len(p.Fields) != len(want) {
		t.Fatalf("fields: %+v", p.Fields)
	}
	for k, v := range want {
		if p.Fields[k] != v {
			t.Errorf("field %s = %#v, want %#v", k, p.Fields[k], v)
		}
	}
	if p.Kind != "sqlite" || p.Table != "users" || p.Key != "id" || len(p.Unmapped) != 1 || p.Unmapped[0] != "nickName" {
		t.Fatalf("preview: %+v", p)
	}
	if p.Password != "ignored: passwords are not mapped for this tenant" {
		t.Fatalf("password: %q", p.Password)
	}
	c.Users.Password = &PasswordMapping{Column: "pw"}
	if p, err = PreviewUser(c, attrs, true); err != nil || p.Password != "written to pw, hashed with argon2id" {
		t.Fatalf("mapped password: %q, %v", p.Password, err)
	}
	if p, err = PreviewUser(c, attrs, false); err != nil || p.Password != "" {
		t.Fatalf("no password in the request: %q, %v", p.Password, err)
	}
	c.Kind = "ldap"
	if p, err = PreviewUser(c, attrs, false); err != nil || p.Table != "" || p.Key != "" {
		t.Fatalf("ldap preview names a table: %+v, %v", p, err)
	}
}
