package adapters

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/scim"
)

// referenceFields and referenceAttrs are the mapping as it was before
// UserMapper: every path parsed, and the paths sorted, on every call. They
// are the oracle the compiled mapper must agree with.
func referenceFields(m UserMapping, u User) (map[string]any, error) {
	fields := make(map[string]any, len(m.Attributes)+1)
	for _, p := range sortedPaths(m.Attributes) {
		column := m.Attributes[p]
		if strings.EqualFold(p, pathID) {
			fields[column] = nilIfEmpty(u.ID)
			continue
		}
		path, err := scim.ParsePath(p)
		if err != nil {
			return nil, fmt.Errorf("adapters: mapping path %q: %w: %v", p, ErrConfig, err)
		}
		raw, ok := path.Get(u.Attrs)
		if !ok {
			fields[column] = nil
			continue
		}
		v, err := fieldValue(raw)
		if err != nil {
			return nil, fmt.Errorf("adapters: attribute %s: %w: %v", p, ErrRejected, err)
		}
		fields[column] = v
	}
	if m.Active != nil {
		fields[m.Active.Column] = m.Active.value(u.Active)
	}
	return fields, nil
}

func referenceAttrs(m UserMapping, fields map[string]any) (scim.Attrs, error) {
	attrs := scim.Attrs{}
	for _, p := range sortedPaths(m.Attributes) {
		if strings.EqualFold(p, pathID) {
			continue
		}
		s, ok := StoredString(fields[m.Attributes[p]])
		if !ok {
			continue
		}
		path, err := scim.ParsePath(p)
		if err != nil {
			return nil, fmt.Errorf("adapters: mapping path %q: %w: %v", p, ErrConfig, err)
		}
		if err := path.Set(attrs, s); err != nil {
			return nil, fmt.Errorf("adapters: set %s from field %s: %w", p, m.Attributes[p], err)
		}
	}
	if m.Active != nil {
		if active, ok := m.Active.Parse(fields[m.Active.Column]); ok {
			attrs[pathActive] = active
		}
	}
	return attrs, nil
}

// referenceGroupFields and referenceGroupAttrs are the group mapping as it
// was before GroupMapper: paths resolved and sorted on every call.
func referenceGroupFields(m GroupMapping, g Group) (map[string]any, error) {
	fields := make(map[string]any, len(m.Attributes))
	for _, p := range sortedPaths(m.Attributes) {
		column := m.Attributes[p]
		canon, ok := canonicalGroupPath(p)
		if !ok {
			return nil, fmt.Errorf("adapters: group mapping path %q: %w: not a group attribute", p, ErrConfig)
		}
		if canon == GroupPathID {
			fields[column] = nilIfEmpty(g.ID)
			continue
		}
		raw, present := lookupFold(g.Attrs, canon)
		if !present {
			fields[column] = nil
			continue
		}
		v, err := fieldValue(raw)
		if err != nil {
			return nil, fmt.Errorf("adapters: group attribute %s: %w: %v", canon, ErrRejected, err)
		}
		fields[column] = v
	}
	return fields, nil
}

func referenceGroupAttrs(m GroupMapping, fields map[string]any) (scim.Attrs, error) {
	attrs := scim.Attrs{}
	for _, p := range sortedPaths(m.Attributes) {
		canon, ok := canonicalGroupPath(p)
		if !ok {
			return nil, fmt.Errorf("adapters: group mapping path %q: %w: not a group attribute", p, ErrConfig)
		}
		if canon == GroupPathID {
			continue
		}
		if s, ok := StoredString(fields[m.Attributes[p]]); ok {
			attrs[canon] = s
		}
	}
	return attrs, nil
}

func mapperTestMappings() map[string]UserMapping {
	return map[string]UserMapping{
		"value filter, enterprise, id, boolean active": testMapping(),
		"configured active values": {
			Attributes: map[string]string{"userName": "login", `emails[type eq "work"].value`: "mail", "id": "scim_id"},
			Active:     &ActiveMapping{Column: "status", Active: "A", Inactive: "D"},
		},
		"only an inactive value": {
			Attributes: map[string]string{"userName": "login"},
			Active:     &ActiveMapping{Column: "disabled_flag", Inactive: "N"},
		},
		"spelling and schema prefixes, no active": {
			Attributes: map[string]string{
				"USERNAME": "login",
				"urn:ietf:params:scim:schemas:core:2.0:User:displayName": "display",
				"Emails.Value":                 "any_mail",
				`emails[type eq "home"].value`: "home_mail",
				"ID":                           "scim_id",
			},
		},
		"enterprise extension attributes": {
			Attributes: map[string]string{
				"userName": "login",
				"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "emp_no",
				"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value":  "manager",
				enterpriseDepartment: "dept",
			},
			Active: &ActiveMapping{Column: "active"},
		},
		"multi-valued and other filters": {
			Attributes: map[string]string{
				"userName":                             "login",
				"emails":                               "primary_mail",
				`phoneNumbers[type eq "mobile"].value`: "mobile",
				`addresses[type eq "work"].locality`:   "city",
				`emails[type eq "work" and primary eq true].value`: "work_primary",
				"x:employeeNumber": "x_emp",
				"title":            "title",
			},
		},
		"two paths, one field: the later path wins": {
			Attributes: map[string]string{"userName": "login", "displayName": "name", "nickName": "name"},
		},
		"a complex value with no value: rejected": {
			Attributes: map[string]string{"userName": "login", "name": "name"},
		},
	}
}

func mapperTestUsers() map[string]User {
	return map[string]User{
		"full": {ID: "s1", Active: true, Attrs: scim.Attrs{
			"userName":    "jane@example.com",
			"displayName": "Jane Doe",
			"nickName":    "JD",
			"title":       "Counsel",
			"name":        map[string]any{"givenName": "Jane", "familyName": "Doe"},
			"emails": []any{
				map[string]any{"type": "home", "value": "jane@home.example"},
				map[string]any{"type": "work", "value": "jane@example.com", "primary": true},
			},
			"phoneNumbers": []any{map[string]any{"type": "mobile", "value": "+1 555 0100"}},
			"addresses":    []any{map[string]any{"type": "work", "locality": "Lyon"}},
			"externalId":   "00u1",
			"x":            map[string]any{"employeeNumber": float64(42)},
			scim.SchemaEnterpriseUser: map[string]any{
				"department": "Legal", "employeeNumber": "701",
				"manager": map[string]any{"value": "m-1", "displayName": "Boss"},
			},
		}},
		"empty, inactive": {},
		"only a userName": {Attrs: scim.Attrs{"userName": "bob"}, Active: true},
		"odd spellings and scalars": {ID: "s2", Attrs: scim.Attrs{
			"USERNAME": "carol",
			"Emails":   []any{map[string]any{"Type": "work", "Value": "carol@example.com"}},
			"title":    true,
		}},
	}
}

// TestUserMapperMatchesReference: for a table of mappings and users, a
// compiled mapper (and the UserMapping.Fields wrapper) gives what the
// per-call mapping gave, fields and attributes alike, errors included.
func TestUserMapperMatchesReference(t *testing.T) {
	t.Parallel()
	rows := map[string]map[string]any{
		"stored types": {
			"login": []byte("dave"), "mail": "dave@example.com", "status": "A", "disabled_flag": "N",
			"display": int64(7), "emp_no": 701.5, "manager": time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
			"dept": nil, "active": int64(1), "is_active": "yes", "scim_id": "ignored",
			"username": "dave", "email": "dave@example.com", "department": "Ops", "city": "Paris",
		},
		"empty": {},
	}
	for mname, m := range mapperTestMappings() {
		c, err := NewUserMapper(m)
		if err != nil {
			t.Fatalf("%s: NewUserMapper: %v", mname, err)
		}
		check := func(what string, got, want any, gotErr, wantErr error) {
			t.Helper()
			if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
				t.Errorf("%s: %s: err %v, want %v", mname, what, gotErr, wantErr)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: %s = %#v\nwant %#v", mname, what, got, want)
			}
		}
		for uname, u := range mapperTestUsers() {
			want, wantErr := referenceFields(m, u)
			got, err := c.Fields(u)
			check("Fields("+uname+")", got, want, err, wantErr)
			wrapped, err := m.Fields(u)
			check("UserMapping.Fields("+uname+")", wrapped, want, err, wantErr)
			if wantErr != nil {
				if !errors.Is(err, ErrRejected) {
					t.Errorf("%s: Fields(%s): %v is not ErrRejected", mname, uname, err)
				}
				continue
			}
			// Read the fields back, as a store reads its row.
			wantAttrs, wantErr := referenceAttrs(m, want)
			gotAttrs, err := c.Attrs(want)
			check("Attrs(Fields("+uname+"))", gotAttrs, wantAttrs, err, wantErr)
		}
		for rname, row := range rows {
			want, wantErr := referenceAttrs(m, row)
			got, err := c.Attrs(row)
			check("Attrs("+rname+")", got, want, err, wantErr)
		}
	}
}

// TestNewUserMapperBadPath: a path that does not parse is an ErrConfig when
// the mapping is compiled, not when a user is mapped.
func TestNewUserMapperBadPath(t *testing.T) {
	t.Parallel()
	for _, p := range []string{
		`emails[type eq "work"`,
		`name.givenName[type eq "x"]`,
		"urn:ietf:params:scim:schemas:core:2.0:User",
		"user name",
		" ",
	} {
		m := UserMapping{Attributes: map[string]string{"userName": "login", p: "bad"}}
		c, err := NewUserMapper(m)
		if !errors.Is(err, ErrConfig) || c != nil {
			t.Errorf("NewUserMapper with path %q = %v, %v; want an ErrConfig error", p, c, err)
			continue
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("%q", p)) {
			t.Errorf("NewUserMapper with path %q: error %q does not name the path", p, err)
		}
		if _, ferr := m.Fields(User{}); ferr == nil || ferr.Error() != err.Error() {
			t.Errorf("UserMapping.Fields with path %q: err %v, want %v", p, ferr, err)
		}
	}
}

// TestUserMapperIsolated: the compiled mapper does not follow later changes
// to the mapping it was built from.
func TestUserMapperIsolated(t *testing.T) {
	t.Parallel()
	m := testMapping()
	c, err := NewUserMapper(m)
	if err != nil {
		t.Fatal(err)
	}
	u := mapperTestUsers()["full"]
	want, err := c.Fields(u)
	if err != nil {
		t.Fatal(err)
	}
	m.Attributes["title"] = "title"
	m.Active.Column = "other"
	got, err := c.Fields(u)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after changing the mapping: %#v\nwant %#v", got, want)
	}
}

// TestUserMapperConcurrent: one mapper serves a store's concurrent calls
// (run with -race).
func TestUserMapperConcurrent(t *testing.T) {
	t.Parallel()
	c, err := NewUserMapper(testMapping())
	if err != nil {
		t.Fatal(err)
	}
	u := mapperTestUsers()["full"]
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				fields, err := c.Fields(u)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := c.Attrs(fields); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestGroupMapper: the compiled group mapper gives what the per-call group
// mapping gave, and a path that is not a group attribute is an ErrConfig at
// compile time.
func TestGroupMapper(t *testing.T) {
	t.Parallel()
	mappings := []GroupMapping{
		*sqlGroupMapping(),
		{Attributes: map[string]string{"DisplayName": "cn", "urn:ietf:params:scim:schemas:core:2.0:Group:externalId": "ext"}},
		{Attributes: map[string]string{"displayName": "name", "ID": "gid"}},
	}
	groups := []Group{
		{ID: "g1", Attrs: scim.Attrs{"displayName": "Engineering", "externalId": "okta-1"}},
		{Attrs: scim.Attrs{"DISPLAYNAME": "Ops"}},
		{Attrs: scim.Attrs{"displayName": map[string]any{"x": "y"}}},
		{},
	}
	for i, m := range mappings {
		c, err := NewGroupMapper(m)
		if err != nil {
			t.Fatalf("mapping %d: %v", i, err)
		}
		for j, g := range groups {
			want, wantErr := referenceGroupFields(m, g)
			got, err := c.Fields(g)
			if fmt.Sprint(err) != fmt.Sprint(wantErr) || !reflect.DeepEqual(got, want) {
				t.Errorf("mapping %d group %d: Fields = %#v, %v; want %#v, %v", i, j, got, err, want, wantErr)
			}
			if wantErr != nil {
				continue
			}
			wantAttrs, _ := referenceGroupAttrs(m, want)
			gotAttrs, err := c.Attrs(want)
			if err != nil || !reflect.DeepEqual(gotAttrs, wantAttrs) {
				t.Errorf("mapping %d group %d: Attrs = %#v, %v; want %#v", i, j, gotAttrs, err, wantAttrs)
			}
		}
	}
	if c, err := NewGroupMapper(GroupMapping{Attributes: map[string]string{"displayName": "cn", "members": "member"}}); !errors.Is(err, ErrConfig) || c != nil {
		t.Errorf("NewGroupMapper with members mapped = %v, %v; want an ErrConfig error", c, err)
	}
}
