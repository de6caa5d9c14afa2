package adapters

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/scim"
)

func sqlGroupMapping() *GroupMapping {
	return &GroupMapping{
		Table: "app.groups",
		Key:   "id",
		Attributes: map[string]string{
			"displayName": "display_name",
			"externalId":  "external_id",
			"id":          "scim_id",
		},
		Members: &MembersMapping{Table: "app.group_members", GroupColumn: "group_id", UserColumn: "user_id"},
	}
}

func compileGroups(t *testing.T, m *GroupMapping) *GroupMapper {
	t.Helper()
	c, err := NewGroupMapper(*m)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestGroupFields(t *testing.T) {
	m := compileGroups(t, sqlGroupMapping())
	tests := []struct {
		name    string
		g       Group
		want    map[string]any
		wantErr error
	}{
		{
			name: "all mapped",
			g:    Group{ID: "g1", Attrs: scim.Attrs{"displayName": "Engineering", "externalId": "okta-1", "members": []any{map[string]any{"value": "u1"}}}},
			want: map[string]any{"display_name": "Engineering", "external_id": "okta-1", "scim_id": "g1"},
		},
		{
			name: "absent attributes are nil",
			g:    Group{Attrs: scim.Attrs{"displayName": "Ops"}},
			want: map[string]any{"display_name": "Ops", "external_id": nil, "scim_id": nil},
		},
		{
			name: "attribute names case-insensitive",
			g:    Group{ID: "g2", Attrs: scim.Attrs{"DisplayName": "Sales", "EXTERNALID": "x"}},
			want: map[string]any{"display_name": "Sales", "external_id": "x", "scim_id": "g2"},
		},
		{
			name:    "complex display name is rejected",
			g:       Group{Attrs: scim.Attrs{"displayName": map[string]any{"a": "b"}}},
			wantErr: ErrRejected,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := m.Fields(tc.g)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Fields = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestGroupAttrs(t *testing.T) {
	m := compileGroups(t, sqlGroupMapping())
	tests := []struct {
		name   string
		fields map[string]any
		want   scim.Attrs
	}{
		{"strings", map[string]any{"display_name": "Eng", "external_id": "e1", "scim_id": "g1"}, scim.Attrs{"displayName": "Eng", "externalId": "e1"}},
		{"bytes and NULL", map[string]any{"display_name": []byte("Eng"), "external_id": nil}, scim.Attrs{"displayName": "Eng"}},
		{"number", map[string]any{"display_name": int64(42)}, scim.Attrs{"displayName": "42"}},
		{"nothing", map[string]any{}, scim.Attrs{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := m.Attrs(tc.fields)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Attrs = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestGroupLookupAndColumns(t *testing.T) {
	m := sqlGroupMapping()
	m.Attributes = map[string]string{"DISPLAYNAME": "name", "urn:ietf:params:scim:schemas:core:2.0:Group:externalId": "ext"}
	tests := []struct {
		attr Match
		want string
		ok   bool
	}{
		{MatchDisplayName, "name", true},
		{MatchExternalID, "ext", true},
		{MatchUserName, "", false},
		{MatchEmail, "", false},
	}
	for _, tc := range tests {
		got, ok := m.LookupField(tc.attr)
		if got != tc.want || ok != tc.ok {
			t.Errorf("LookupField(%s) = %q, %v; want %q, %v", tc.attr, got, ok, tc.want, tc.ok)
		}
	}
	if got := m.Columns(); !reflect.DeepEqual(got, []string{"name", "ext"}) {
		t.Errorf("Columns = %v", got)
	}
	if m.KeyIsMapped() {
		t.Error("KeyIsMapped with an unmapped key")
	}
	m.Key = "name"
	if !m.KeyIsMapped() {
		t.Error("KeyIsMapped false for a key that is the displayName column")
	}
}

func TestValidateGroups(t *testing.T) {
	tests := []struct {
		name   string
		modify func(c *Config)
		want   []string
	}{
		{name: "valid", modify: func(c *Config) {}},
		{name: "no groups at all", modify: func(c *Config) { c.Groups = nil }},
		{name: "valid minimal", modify: func(c *Config) { c.Groups.Attributes = map[string]string{"displayName": "name"} }},
		{name: "everything wrong at once", modify: func(c *Config) {
			c.Groups.Table = "bad table"
			c.Groups.Key = ""
			c.Groups.Attributes = map[string]string{"externalId": "ext;drop", "members": "m", "id": "external_id"}
			c.Groups.Members = &MembersMapping{Table: "", GroupColumn: "g-id", UserColumn: ""}
		}, want: []string{
			`groups.table "bad table" is not a valid table name`,
			"groups.key (the primary-key column) is required",
			`groups.attributes["externalId"]: "ext;drop" is not a valid column name`,
			`groups.attributes["members"]: not a mappable group attribute`,
			"groups.attributes: displayName must be mapped",
			"groups.members.table is required",
			`groups.members.group_column "g-id" is not a valid column name`,
			"groups.members.user_column is required",
		}},
		{name: "no members table", modify: func(c *Config) { c.Groups.Members = nil }, want: []string{"groups.members (the membership table"}},
		{name: "missing table", modify: func(c *Config) { c.Groups.Table = "" }, want: []string{"groups.table is required"}},
		{name: "groups table is users table", modify: func(c *Config) { c.Groups.Table = "app.users" }, want: []string{`groups.table "app.users" is the users table`}},
		{name: "members table is groups table", modify: func(c *Config) { c.Groups.Members.Table = "app.groups" }, want: []string{"is the groups table"}},
		{name: "members table is users table", modify: func(c *Config) { c.Groups.Members.Table = "APP.USERS" }, want: []string{"is the users table"}},
		{name: "same member columns", modify: func(c *Config) { c.Groups.Members.UserColumn = "group_id" }, want: []string{"are the same column"}},
		{name: "duplicate column", modify: func(c *Config) { c.Groups.Attributes["externalId"] = "display_name" }, want: []string{`column "display_name" is already mapped`}},
		{name: "duplicate path", modify: func(c *Config) {
			c.Groups.Attributes = map[string]string{"displayName": "a", "DisplayName": "b"}
		}, want: []string{"displayName is already mapped"}},
		{name: "injection in key", modify: func(c *Config) { c.Groups.Key = `id"--` }, want: []string{`groups.key "id\"--" is not a valid column name`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validSQLConfig()
			c.Groups = sqlGroupMapping()
			tc.modify(&c)
			errs := c.Validate()
			if len(errs) != len(tc.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(errs), len(tc.want), errors.Join(errs...))
			}
			for i, w := range tc.want {
				if !errors.Is(errs[i], ErrConfig) {
					t.Errorf("problem %d does not wrap ErrConfig: %v", i, errs[i])
				}
				if !strings.Contains(errs[i].Error(), w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, errs[i], w)
				}
			}
		})
	}
}
