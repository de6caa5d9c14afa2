package adapters

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/scim"
)

const enterpriseDepartment = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"

func testMapping() UserMapping {
	return UserMapping{
		Table: "users",
		Key:   "id",
		Attributes: map[string]string{
			"userName":                     "username",
			"name.givenName":               "given_name",
			"name.familyName":              "family_name",
			`emails[type eq "work"].value`: "email",
			"externalId":                   "external_id",
			enterpriseDepartment:           "department",
			"id":                           "scim_id",
		},
		Active: &ActiveMapping{Column: "is_active"},
	}
}

func TestFields(t *testing.T) {
	jane := scim.Attrs{
		"userName": "jane@example.com",
		"name":     map[string]any{"givenName": "Jane", "familyName": "Doe"},
		"emails": []any{
			map[string]any{"type": "home", "value": "jane@home.example"},
			map[string]any{"type": "work", "value": "jane@example.com", "primary": true},
		},
		"externalId":              "00u1",
		scim.SchemaEnterpriseUser: map[string]any{"department": "Legal"},
	}
	tests := []struct {
		name    string
		mapping func(m *UserMapping)
		user    User
		want    map[string]any
	}{
		{
			name: "all mapped, boolean active",
			user: User{ID: "s1", Attrs: jane, Active: true},
			want: map[string]any{
				"username": "jane@example.com", "given_name": "Jane", "family_name": "Doe",
				"email": "jane@example.com", "external_id": "00u1", "department": "Legal",
				"scim_id": "s1", "is_active": true,
			},
		},
		{
			name: "absent attributes are nil, inactive",
			user: User{Attrs: scim.Attrs{"userName": "bob"}, Active: false},
			want: map[string]any{
				"username": "bob", "given_name": nil, "family_name": nil, "email": nil,
				"external_id": nil, "department": nil, "scim_id": nil, "is_active": false,
			},
		},
		{
			name:    "configured active values",
			mapping: func(m *UserMapping) { m.Active = &ActiveMapping{Column: "status", Active: "A", Inactive: "D"} },
			user:    User{Attrs: scim.Attrs{"userName": "bob"}, Active: false},
			want: map[string]any{
				"username": "bob", "given_name": nil, "family_name": nil, "email": nil,
				"external_id": nil, "department": nil, "scim_id": nil, "status": "D",
			},
		},
		{
			name: "unmapped active, non-string scalars",
			mapping: func(m *UserMapping) {
				m.Active = nil
				m.Attributes = map[string]string{"userName": "u", "x:employeeNumber": "n"}
			},
			user: User{Attrs: scim.Attrs{"userName": "bob", "x": map[string]any{"employeeNumber": float64(42)}}},
			want: map[string]any{"u": "bob", "n": "42"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testMapping()
			if tt.mapping != nil {
				tt.mapping(&m)
			}
			got, err := m.Fields(tt.user)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Fields = %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestFieldsComplexValueRejected(t *testing.T) {
	m := UserMapping{Attributes: map[string]string{"userName": "u", "name": "n"}}
	_, err := m.Fields(User{Attrs: scim.Attrs{"userName": "x", "name": map[string]any{"givenName": "A"}}})
	if !errors.Is(err, ErrRejected) {
		t.Fatalf("err = %v, want ErrRejected", err)
	}
}

func TestAttrsRoundTrip(t *testing.T) {
	m := testMapping()
	row := map[string]any{
		"id":          int64(7),
		"username":    []byte("jane@example.com"),
		"given_name":  "Jane",
		"family_name": nil,
		"email":       "jane@example.com",
		"external_id": "00u1",
		"department":  "Legal",
		"scim_id":     "ignored",
		"is_active":   int64(0),
		"plan":        "gold",
	}
	c, err := NewUserMapper(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Attrs(row)
	if err != nil {
		t.Fatal(err)
	}
	want := scim.Attrs{
		"userName":                "jane@example.com",
		"name":                    map[string]any{"givenName": "Jane"},
		"emails":                  []any{map[string]any{"type": "work", "value": "jane@example.com"}},
		"externalId":              "00u1",
		scim.SchemaEnterpriseUser: map[string]any{"department": "Legal"},
		"active":                  false,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Attrs = %#v\nwant %#v", got, want)
	}
	// And back: the fields the attributes map to are the row's.
	fields, err := m.Fields(User{Attrs: got, Active: ActiveOf(got)})
	if err != nil {
		t.Fatal(err)
	}
	for _, col := range []string{"username", "given_name", "email", "external_id", "department"} {
		if s, _ := StoredString(row[col]); fields[col] != s {
			t.Errorf("round trip %s = %v, want %q", col, fields[col], s)
		}
	}
	if fields["family_name"] != nil || fields["is_active"] != false {
		t.Errorf("round trip family_name=%v is_active=%v", fields["family_name"], fields["is_active"])
	}
}

func TestActiveParse(t *testing.T) {
	boolean := &ActiveMapping{Column: "a"}
	flag := &ActiveMapping{Column: "a", Active: "enabled", Inactive: "disabled"}
	tests := []struct {
		m          *ActiveMapping
		v          any
		active, ok bool
	}{
		{boolean, true, true, true},
		{boolean, false, false, true},
		{boolean, int64(1), true, true},
		{boolean, int64(0), false, true},
		{boolean, []byte("1"), true, true},
		{boolean, "t", true, true},
		{boolean, "FALSE", false, true},
		{boolean, "f", false, true},
		{boolean, nil, false, false},
		{flag, "enabled", true, true},
		{flag, []byte("disabled"), false, true},
		{flag, "locked", false, true},
		{flag, nil, false, false},
	}
	for _, tt := range tests {
		active, ok := tt.m.Parse(tt.v)
		if active != tt.active || ok != tt.ok {
			t.Errorf("Parse(%#v) with %+v = %v,%v want %v,%v", tt.v, *tt.m, active, ok, tt.active, tt.ok)
		}
	}
}

func TestFieldValue(t *testing.T) {
	tests := []struct {
		in      any
		want    any
		wantErr bool
	}{
		{nil, nil, false},
		{"x", "x", false},
		{true, "true", false},
		{float64(42), "42", false},
		{float64(1.5), "1.5", false},
		{json.Number("12345678901234567890"), "12345678901234567890", false},
		{[]any{}, nil, false},
		{[]any{"a", "b"}, "a", false},
		{[]any{map[string]any{"value": "a"}, map[string]any{"value": "b", "primary": true}}, "b", false},
		{map[string]any{"value": "123", "$ref": "x"}, "123", false},
		{map[string]any{"givenName": "x"}, nil, true},
		{map[string]any{"value": map[string]any{"a": 1}}, nil, true},
		{struct{}{}, nil, true},
	}
	for _, tt := range tests {
		got, err := fieldValue(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("fieldValue(%#v) = %#v, %v; want %#v, err %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestStoredString(t *testing.T) {
	ts := time.Date(2024, 5, 6, 7, 8, 9, 0, time.FixedZone("x", 3600))
	tests := []struct {
		in   any
		want string
		ok   bool
	}{
		{nil, "", false},
		{"a", "a", true},
		{[]byte("b"), "b", true},
		{int64(-3), "-3", true},
		{float64(2.5), "2.5", true},
		{true, "true", true},
		{ts, "2024-05-06T06:08:09Z", true},
	}
	for _, tt := range tests {
		got, ok := StoredString(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("StoredString(%#v) = %q,%v want %q,%v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestLookupFields(t *testing.T) {
	m := testMapping()
	m.Attributes["emails[primary eq true].value"] = "primary_email"
	tests := []struct {
		attr Match
		want []string
	}{
		{MatchUserName, []string{"username"}},
		{MatchExternalID, []string{"external_id"}},
		{MatchEmail, []string{"primary_email", "email"}},
		{Match("displayName"), nil},
	}
	for _, tt := range tests {
		if got := m.LookupFields(tt.attr); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("LookupFields(%s) = %v, want %v", tt.attr, got, tt.want)
		}
	}
	if got := (UserMapping{Attributes: map[string]string{"userName": "u"}}).LookupFields(MatchEmail); got != nil {
		t.Errorf("unmapped email: %v", got)
	}
	if !(UserMapping{Key: "u", Attributes: map[string]string{"userName": "u"}}).KeyIsMapped() || m.KeyIsMapped() {
		t.Error("KeyIsMapped wrong")
	}
	if cols := m.Columns(); cols[len(cols)-1] != "is_active" || len(cols) != 9 {
		t.Errorf("Columns = %v", cols)
	}
}
