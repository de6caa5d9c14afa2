package tenants

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestRegistryCRUD(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testRedis(t)
	reg := NewRegistry(rdb)
	idB := newTenantID(t, rdb)
	idA := newTenantID(t, rdb)

	if _, err := reg.Get(ctx, idA); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(unknown) err = %v, want ErrNotFound", err)
	}

	a := putTenant(t, reg, idA)
	putTenant(t, reg, idB)

	got, err := reg.Get(ctx, idA)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got.ID != idA || got.Name != a.Name || got.Disabled || got.Store.DSN != a.Store.DSN {
		t.Errorf("Get = %+v, want %+v", got, a)
	}
	if got.Created.IsZero() {
		t.Error("Created not set on create")
	}
	created := got.Created

	// Update keeps the creation time, whatever the caller sends.
	a.Name = "Renamed"
	a.Created = created.Add(-time.Hour)
	if err := reg.Put(ctx, a); err != nil {
		t.Fatalf("Put update: %v", err)
	}
	got, err = reg.Get(ctx, idA)
	if err != nil {
		t.Fatalf("Get after update: %v", err)
	}
	if got.Name != "Renamed" || !got.Created.Equal(created) {
		t.Errorf("after update: name %q created %v, want %q %v", got.Name, got.Created, "Renamed", created)
	}

	// List: sorted by id, holds both (other tests' tenants may be there too).
	list, err := reg.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	var ours []string
	for i, tn := range list {
		if i > 0 && list[i-1].ID >= tn.ID {
			t.Errorf("List not sorted: %q before %q", list[i-1].ID, tn.ID)
		}
		if tn.ID == idA || tn.ID == idB {
			ours = append(ours, tn.ID)
		}
	}
	wantOrder := []string{idA, idB}
	if idB < idA {
		wantOrder = []string{idB, idA}
	}
	if len(ours) != 2 || ours[0] != wantOrder[0] || ours[1] != wantOrder[1] {
		t.Errorf("List holds %v of ours, want %v", ours, wantOrder)
	}

	// Disable / Enable.
	if err := reg.Disable(ctx, idA); err != nil {
		t.Fatalf("Disable: %v", err)
	}
	if got, _ := reg.Get(ctx, idA); got == nil || !got.Disabled {
		t.Errorf("after Disable: %+v, want disabled", got)
	}
	if err := reg.Enable(ctx, idA); err != nil {
		t.Fatalf("Enable: %v", err)
	}
	if got, _ := reg.Get(ctx, idA); got == nil || got.Disabled || got.Name != "Renamed" {
		t.Errorf("after Enable: %+v, want enabled and otherwise unchanged", got)
	}

	// Delete.
	if err := reg.Delete(ctx, idA); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := reg.Get(ctx, idA); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete err = %v, want ErrNotFound", err)
	}
	list, _ = reg.List(ctx)
	for _, tn := range list {
		if tn.ID == idA {
			t.Error("deleted tenant still listed")
		}
	}
	for name, err := range map[string]error{
		"Delete":  reg.Delete(ctx, idA),
		"Enable":  reg.Enable(ctx, idA),
		"Disable": reg.Disable(ctx, idA),
	} {
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("%s(deleted) err = %v, want ErrNotFound", name, err)
		}
	}
}

func TestRegistryPutRejectsInvalid(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testRedis(t)
	reg := NewRegistry(rdb)
	id := newTenantID(t, rdb)

	tn := Tenant{ID: id, Store: validStore("postgres://app:hunter2@db/app")}
	tn.Store.Kind = "postgres"
	err := reg.Put(ctx, tn)
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("Put with a DSN password err = %v, want ErrInvalid", err)
	}
	if n, _ := rdb.Exists(ctx, tenantKey(id)).Result(); n != 0 {
		t.Error("an invalid tenant was written")
	}
	if err := reg.Put(ctx, Tenant{ID: "Not Valid", Store: validStore("x.db")}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Put with a bad id err = %v, want ErrInvalid", err)
	}
}

func TestRegistryCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testRedis(t)
	id := newTenantID(t, rdb)

	// Two processes' registries; A's clock is ours to move.
	a, b := NewRegistry(rdb), NewRegistry(rdb)
	clock := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	a.now = func() time.Time { return clock }

	if _, err := a.Get(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(unknown) err = %v, want ErrNotFound", err)
	}
	tn := putTenant(t, b, id)
	// A remembers the miss within the TTL...
	if _, err := a.Get(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get within TTL of a cached miss err = %v, want ErrNotFound (cached)", err)
	}
	// ...and asks Redis once it expires.
	clock = clock.Add(DefaultCacheTTL + time.Millisecond)
	if got, err := a.Get(ctx, id); err != nil || got.Name != tn.Name {
		t.Fatalf("Get after TTL = %+v, %v; want %q", got, err, tn.Name)
	}

	// A write by another process is seen after the TTL, not before.
	tn.Name = "changed by b"
	if err := b.Put(ctx, tn); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.Get(ctx, id); got == nil || got.Name == "changed by b" {
		t.Errorf("Get within TTL = %+v, want the cached name", got)
	}
	clock = clock.Add(DefaultCacheTTL + time.Millisecond)
	if got, _ := a.Get(ctx, id); got == nil || got.Name != "changed by b" {
		t.Errorf("Get after TTL = %+v, want %q", got, "changed by b")
	}

	// A's own writes invalidate its cache at once.
	tn.Name = "changed by a"
	if err := a.Put(ctx, tn); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.Get(ctx, id); got == nil || got.Name != "changed by a" {
		t.Errorf("Get right after own Put = %+v, want %q", got, "changed by a")
	}
	if err := a.Disable(ctx, id); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.Get(ctx, id); got == nil || !got.Disabled {
		t.Errorf("Get right after own Disable = %+v, want disabled", got)
	}
	if err := a.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Get(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get right after own Delete err = %v, want ErrNotFound", err)
	}

	// Each Get hands out its own copy.
	putTenant(t, a, id)
	got1, _ := a.Get(ctx, id)
	got1.Store.Users.Attributes["userName"] = "mutated"
	got2, _ := a.Get(ctx, id)
	if got2.Store.Users.Attributes["userName"] != "login" {
		t.Error("mutating a Get result changed the cached tenant")
	}
}

// Concurrent writers to one tenant all succeed (the optimistic
// transaction is retried) and the last one wins.
func TestRegistryConcurrentWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testRedis(t)
	reg := NewRegistry(rdb)
	tn := putTenant(t, reg, newTenantID(t, rdb))

	const writers = 8
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				errs[i] = reg.Disable(ctx, tn.ID)
				return
			}
			u := tn
			u.Name = fmt.Sprintf("writer %d", i)
			errs[i] = reg.Put(ctx, u)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	got, err := reg.Get(ctx, tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name == tn.Name {
		t.Errorf("no Put landed: name %q", got.Name)
	}
}

// Of several simultaneous creates of one id exactly one succeeds; the
// others get ErrExists and the record is the winner's.
func TestRegistryCreateIsExclusive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testRedis(t)
	id := newTenantID(t, rdb)
	const creators = 8
	var wg sync.WaitGroup
	errs := make([]error, creators)
	for i := range creators {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reg := NewRegistry(rdb) // separate processes: separate caches
			errs[i] = reg.Create(ctx, Tenant{ID: id, Name: fmt.Sprintf("creator %d", i), Store: validStore("file:/tmp/" + id + ".db")})
		}()
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("creators %d and %d both created %s", winner, i, id)
		case err == nil:
			winner = i
		case !errors.Is(err, ErrExists):
			t.Fatalf("creator %d: %v, want ErrExists", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no create succeeded")
	}
	got, err := NewRegistry(rdb).Get(ctx, id)
	if err != nil || got.Name != fmt.Sprintf("creator %d", winner) {
		t.Fatalf("stored tenant %+v, %v; want creator %d's", got, err, winner)
	}
}
