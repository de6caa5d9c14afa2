package tenants

import (
	"context"
	"slices"
	"testing"

	"github.com/scimbridge/scimbridge/adapters"
)

// The worker's questions are answered from the registry's reading of the
// tenant: enabled, groups mapped, store concurrency, and the id list.
func TestRegistryAnswersTheWorker(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testRedis(t)
	reg := NewRegistry(rdb)
	plain := newTenantID(t, rdb)
	grouped := newTenantID(t, rdb)
	unknown := newTenantID(t, rdb)

	putTenant(t, reg, plain)
	g := Tenant{ID: grouped, Name: "Grouped", Store: validStore("file:/tmp/" + grouped + ".db")}
	g.Store.MaxConcurrency = 3
	g.Unique = []string{UniqueExternalID}
	g.Store.Groups = &adapters.GroupMapping{Table: "groups", Key: "id",
		Attributes: map[string]string{"displayName": "name"},
		Members:    &adapters.MembersMapping{Table: "members", GroupColumn: "group_id", UserColumn: "user_id"}}
	if err := reg.Put(ctx, g); err != nil {
		t.Fatalf("put grouped tenant: %v", err)
	}

	for _, tc := range []struct {
		id          string
		enabled     bool
		groups      bool
		concurrency int
		unique      []string
	}{
		{plain, true, false, 8, nil},
		{grouped, true, true, 3, []string{"externalId"}},
		{unknown, false, false, 0, nil},
	} {
		if got, err := reg.UniqueAttributes(ctx, tc.id); err != nil || !slices.Equal(got, tc.unique) {
			t.Errorf("UniqueAttributes(%s) = %v, %v; want %v", tc.id, got, err, tc.unique)
		}
		if got, err := reg.Enabled(ctx, tc.id); err != nil || got != tc.enabled {
			t.Errorf("Enabled(%s) = %v, %v; want %v", tc.id, got, err, tc.enabled)
		}
		if got, err := reg.GroupsMapped(ctx, tc.id); err != nil || got != tc.groups {
			t.Errorf("GroupsMapped(%s) = %v, %v; want %v", tc.id, got, err, tc.groups)
		}
		got, err := reg.StoreConcurrency(ctx, tc.id)
		if tc.concurrency == 0 {
			if err == nil {
				t.Errorf("StoreConcurrency(unknown %s) = %d, want an error", tc.id, got)
			}
		} else if err != nil || got != tc.concurrency {
			t.Errorf("StoreConcurrency(%s) = %d, %v; want %d", tc.id, got, err, tc.concurrency)
		}
	}

	// Disabling through this registry is seen at once (the cache entry is
	// dropped by the write).
	if err := reg.Disable(ctx, plain); err != nil {
		t.Fatal(err)
	}
	if got, err := reg.Enabled(ctx, plain); err != nil || got {
		t.Errorf("Enabled after Disable = %v, %v; want false", got, err)
	}

	ids, err := reg.TenantIDs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.IsSorted(ids) || !slices.Contains(ids, plain) || !slices.Contains(ids, grouped) || slices.Contains(ids, unknown) {
		t.Errorf("TenantIDs = %v: want sorted, with %s and %s, without %s", ids, plain, grouped, unknown)
	}
}
