package adapters

import (
	"testing"

	"github.com/scimbridge/scimbridge/scim"
)

// The mapping benchmarks measure what a store does per user and per group
// on the worker's hot path: map a desired state to fields, and read fields
// back into attributes.

// userValues is what a store applies per user.
type userValues interface {
	Fields(User) (map[string]any, error)
	Attrs(map[string]any) (scim.Attrs, error)
}

// groupValues is what a SQL store applies per group.
type groupValues interface {
	Fields(Group) (map[string]any, error)
	Attrs(map[string]any) (scim.Attrs, error)
}

// benchUserValues is what a store holds: the mapping compiled once.
func benchUserValues(tb testing.TB, m UserMapping) userValues {
	c, err := NewUserMapper(m)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// benchGroupValues is what a SQL store holds: the mapping compiled once.
func benchGroupValues(tb testing.TB, m GroupMapping) groupValues {
	c, err := NewGroupMapper(m)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func benchUser() User {
	return User{
		ID: "s1",
		Attrs: scim.Attrs{
			"userName": "jane@example.com",
			"name":     map[string]any{"givenName": "Jane", "familyName": "Doe"},
			"emails": []any{
				map[string]any{"type": "home", "value": "jane@home.example"},
				map[string]any{"type": "work", "value": "jane@example.com", "primary": true},
			},
			"externalId":              "00u1",
			scim.SchemaEnterpriseUser: map[string]any{"department": "Legal"},
		},
		Active: true,
	}
}

func BenchmarkUserFields(b *testing.B) {
	m := benchUserValues(b, testMapping())
	u := benchUser()
	for b.Loop() {
		if _, err := m.Fields(u); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUserAttrs(b *testing.B) {
	m := benchUserValues(b, testMapping())
	fields, err := m.Fields(benchUser())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := m.Attrs(fields); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGroupFields(b *testing.B) {
	m := benchGroupValues(b, *sqlGroupMapping())
	g := Group{ID: "g1", Attrs: scim.Attrs{"displayName": "Engineering", "externalId": "okta-1"}}
	for b.Loop() {
		if _, err := m.Fields(g); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGroupAttrs(b *testing.B) {
	m := benchGroupValues(b, *sqlGroupMapping())
	fields := map[string]any{"display_name": "Engineering", "external_id": "okta-1", "scim_id": "g1"}
	for b.Loop() {
		if _, err := m.Attrs(fields); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUserMappingFields is the UserMapping.Fields wrapper, which
// compiles the mapping on every call: what the mapping preview pays.
func BenchmarkUserMappingFields(b *testing.B) {
	m := testMapping()
	u := benchUser()
	for b.Loop() {
		if _, err := m.Fields(u); err != nil {
			b.Fatal(err)
		}
	}
}
