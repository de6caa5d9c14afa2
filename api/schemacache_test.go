package api

import (
	"reflect"
	"sync"
	"testing"

	"github.com/scimbridge/scimbridge/scim"
	"github.com/scimbridge/scimbridge/tenants"
)

func TestSchemaSetCache(t *testing.T) {
	t.Parallel()
	c := newSchemaSetCache()
	acme := &tenants.CustomSchema{URN: "urn:ietf:params:scim:schemas:extension:acme:2.0:User",
		Attributes: []tenants.CustomAttribute{{Name: "costCenter"}}}
	steps := []struct {
		name     string
		tenant   string
		schema   *tenants.CustomSchema
		wantSame int // index of an earlier step whose set must be reused; -1: a new set
		wantErr  bool
	}{
		{"nil schema: default set", "t1", nil, -1, false},
		{"first build", "t1", acme, -1, false},
		{"same content, another copy: reused", "t1", &tenants.CustomSchema{URN: acme.URN,
			Attributes: []tenants.CustomAttribute{{Name: "costCenter"}}}, 1, false},
		{"attribute changed: rebuilt", "t1", &tenants.CustomSchema{URN: acme.URN,
			Attributes: []tenants.CustomAttribute{{Name: "costCenter", Type: "integer"}}}, -1, false},
		{"description changed: rebuilt", "t1", &tenants.CustomSchema{URN: acme.URN, Description: "d",
			Attributes: []tenants.CustomAttribute{{Name: "costCenter", Type: "integer"}}}, -1, false},
		{"other tenant, same schema: own entry", "t2", acme, -1, false},
		{"invalid schema: error", "t3", &tenants.CustomSchema{URN: "not a urn"}, -1, true},
	}
	sets := make([]*scim.SchemaSet, len(steps))
	for i, st := range steps {
		set, err := c.get(st.tenant, st.schema)
		if (err != nil) != st.wantErr {
			t.Fatalf("%s: err %v, want error %v", st.name, err, st.wantErr)
		}
		if err != nil {
			continue
		}
		sets[i] = set
		if st.schema == nil {
			if set != scim.DefaultSchemaSet() {
				t.Errorf("%s: not the default set", st.name)
			}
			continue
		}
		if set.Custom() == nil || set.Custom().ID != st.schema.URN {
			t.Errorf("%s: custom schema %v, want %s", st.name, set.Custom(), st.schema.URN)
		}
		for j := range i {
			if same := sets[j] == set; same != (j == st.wantSame) {
				t.Errorf("%s: set shared with step %d = %v", st.name, j, same)
			}
		}
	}
	// The cache kept its own copy: changing the caller's schema in place
	// does not make the stale entry look current.
	mine := &tenants.CustomSchema{URN: acme.URN, Attributes: []tenants.CustomAttribute{{Name: "a"}}}
	first, _ := c.get("t4", mine)
	mine.Attributes[0].Name = "b"
	if second, _ := c.get("t4", mine); second == first {
		t.Error("in-place change of the schema served the stale set")
	}
}

// sameCustomSchema compares the fields it knows; a new CustomSchema field
// must be added there (and here).
func TestSameCustomSchemaKnowsEveryField(t *testing.T) {
	t.Parallel()
	var names []string
	for f := range reflect.TypeFor[tenants.CustomSchema]().Fields() {
		names = append(names, f.Name)
	}
	if want := []string{"URN", "Name", "Description", "Attributes"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("CustomSchema fields %v, sameCustomSchema compares %v: update it", names, want)
	}
}

func TestSchemaSetCacheConcurrent(t *testing.T) {
	t.Parallel()
	c := newSchemaSetCache()
	schemas := []*tenants.CustomSchema{
		{URN: "urn:ietf:params:scim:schemas:extension:a:2.0:User", Attributes: []tenants.CustomAttribute{{Name: "x"}}},
		{URN: "urn:ietf:params:scim:schemas:extension:b:2.0:User", Attributes: []tenants.CustomAttribute{{Name: "y"}}},
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				s := schemas[(g+i)%2]
				set, err := c.get("shared", s)
				if err != nil || set.Custom().ID != s.URN {
					t.Errorf("got %v %v for %s", set, err, s.URN)
					return
				}
			}
		})
	}
	wg.Wait()
}
