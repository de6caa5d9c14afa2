package tenants

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/adapters"
)

// countingFactory opens fakeStores and remembers them. The test is about the
// pool, so the store itself does nothing.
type countingFactory struct {
	mu     sync.Mutex
	opened []*fakeStore
	// fail makes the next open fail.
	fail atomic.Bool
	// gate, when set, holds every open until it is closed.
	gate chan struct{}
}

func (f *countingFactory) open(_ context.Context, tenant string, cfg adapters.Config) (adapters.Store, error) {
	if f.gate != nil {
		<-f.gate
	}
	if f.fail.Swap(false) {
		return nil, errors.New("fake: cannot open")
	}
	s := &fakeStore{tenant: tenant, dsn: cfg.DSN}
	f.mu.Lock()
	f.opened = append(f.opened, s)
	f.mu.Unlock()
	return s, nil
}

func (f *countingFactory) opens() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.opened)
}

func (f *countingFactory) store(i int) *fakeStore {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.opened[i]
}

type fakeStore struct {
	tenant, dsn string
	closes      atomic.Int32
	// pingEntered / pingRelease, when set, make Ping block.
	pingEntered chan struct{}
	pingRelease chan struct{}
}

func (s *fakeStore) ApplyUser(context.Context, adapters.User) (string, error) { return "1", nil }
func (s *fakeStore) RemoveUser(context.Context, adapters.User) error          { return nil }
func (s *fakeStore) FindUsers(context.Context, adapters.Match, string) ([]adapters.Entry, error) {
	return nil, nil
}
func (s *fakeStore) ListUsers(context.Context, string, int) ([]adapters.Entry, string, error) {
	return nil, "", nil
}
func (s *fakeStore) Ping(context.Context) error {
	if s.pingEntered != nil {
		close(s.pingEntered)
		<-s.pingRelease
	}
	return nil
}
func (s *fakeStore) Close() error { s.closes.Add(1); return nil }

type storesBundle struct {
	ctx     context.Context
	reg     *Registry
	factory *countingFactory
	stores  *Stores
	tenant  Tenant
	clock   *time.Time
}

func setupStores(t *testing.T, gate chan struct{}) *storesBundle {
	t.Helper()
	rdb := testRedis(t)
	reg := NewRegistry(rdb)
	f := &countingFactory{gate: gate}
	stores := NewStores(reg, map[string]adapters.Factory{"sqlite": f.open}, time.Minute)
	clock := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	stores.now = func() time.Time { return clock }
	t.Cleanup(func() { _ = stores.Close() })
	tn := putTenant(t, reg, newTenantID(t, rdb))
	return &storesBundle{ctx: context.Background(), reg: reg, factory: f, stores: stores, tenant: tn, clock: &clock}
}

func TestStoresOpenOnceUnderConcurrency(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	b := setupStores(t, gate)

	const callers = 32
	start := make(chan struct{})
	var wg sync.WaitGroup
	got := make([]adapters.Store, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			got[i], errs[i] = b.stores.Store(b.ctx, b.tenant.ID)
		}()
	}
	close(start)
	close(gate)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("caller %d: %v", i, err)
		}
		if _, err := got[i].ApplyUser(b.ctx, adapters.User{}); err != nil {
			t.Fatalf("caller %d: ApplyUser: %v", i, err)
		}
	}
	if n := b.factory.opens(); n != 1 {
		t.Errorf("store opened %d times, want 1", n)
	}
	if s := b.factory.store(0); s.tenant != b.tenant.ID {
		t.Errorf("opened for tenant %q, want %q", s.tenant, b.tenant.ID)
	}
}

func TestStoresReopenOnConfigChange(t *testing.T) {
	t.Parallel()
	b := setupStores(t, nil)

	if _, err := b.stores.Store(b.ctx, b.tenant.ID); err != nil {
		t.Fatal(err)
	}
	// Same config (a name change is not a store change): same store.
	b.tenant.Name = "renamed"
	if err := b.reg.Put(b.ctx, b.tenant); err != nil {
		t.Fatal(err)
	}
	if _, err := b.stores.Store(b.ctx, b.tenant.ID); err != nil {
		t.Fatal(err)
	}
	if n := b.factory.opens(); n != 1 {
		t.Fatalf("opens after a name change = %d, want 1", n)
	}

	// Hold a call in flight on the old store while the config changes.
	old := b.factory.store(0)
	old.pingEntered, old.pingRelease = make(chan struct{}), make(chan struct{})
	h, _ := b.stores.Store(b.ctx, b.tenant.ID)
	pingDone := make(chan error)
	go func() { pingDone <- h.Ping(b.ctx) }()
	<-old.pingEntered

	b.tenant.Store.DSN = "file:/tmp/" + b.tenant.ID + "-moved.db"
	if err := b.reg.Put(b.ctx, b.tenant); err != nil {
		t.Fatal(err)
	}
	if _, err := b.stores.Store(b.ctx, b.tenant.ID); err != nil {
		t.Fatal(err)
	}
	if n := b.factory.opens(); n != 2 {
		t.Fatalf("opens after a store change = %d, want 2", n)
	}
	if nw := b.factory.store(1); nw.dsn != b.tenant.Store.DSN {
		t.Errorf("reopened with dsn %q, want %q", nw.dsn, b.tenant.Store.DSN)
	}
	if c := old.closes.Load(); c != 0 {
		t.Error("old store closed under a running call")
	}
	close(old.pingRelease)
	if err := <-pingDone; err != nil {
		t.Fatal(err)
	}
	if c := old.closes.Load(); c != 1 {
		t.Errorf("old store closed %d times after its last call, want 1", c)
	}
	// The stale handle no longer reaches the closed store.
	if err := h.Ping(b.ctx); !errors.Is(err, adapters.ErrUnavailable) {
		t.Errorf("stale handle Ping err = %v, want adapters.ErrUnavailable", err)
	}
	// Closing a handle does not close the pool's store.
	h2, _ := b.stores.Store(b.ctx, b.tenant.ID)
	_ = h2.Close()
	if c := b.factory.store(1).closes.Load(); c != 0 {
		t.Error("handle Close closed the pooled store")
	}
}

func TestStoresCloseIdle(t *testing.T) {
	t.Parallel()
	b := setupStores(t, nil)

	h, err := b.stores.Store(b.ctx, b.tenant.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Ping(b.ctx); err != nil {
		t.Fatal(err)
	}
	s := b.factory.store(0)
	b.stores.CloseIdle(b.clock.Add(30 * time.Second))
	if s.closes.Load() != 0 {
		t.Fatal("closed before the idle time")
	}
	b.stores.CloseIdle(b.clock.Add(time.Minute + time.Second))
	if s.closes.Load() != 1 {
		t.Fatal("not closed after the idle time")
	}
	if _, err := b.stores.Store(b.ctx, b.tenant.ID); err != nil {
		t.Fatal(err)
	}
	if n := b.factory.opens(); n != 2 {
		t.Errorf("opens after idle close = %d, want 2 (reopened)", n)
	}

	// Close closes everything and refuses more.
	if err := b.stores.Close(); err != nil {
		t.Fatal(err)
	}
	if b.factory.store(1).closes.Load() != 1 {
		t.Error("Close left a store open")
	}
	if _, err := b.stores.Store(b.ctx, b.tenant.ID); !errors.Is(err, ErrClosed) {
		t.Errorf("Store after Close err = %v, want ErrClosed", err)
	}
}

func TestStoresRefusals(t *testing.T) {
	t.Parallel()
	b := setupStores(t, nil)

	if _, err := b.stores.Store(b.ctx, "t-no-such-"+b.tenant.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown tenant err = %v, want ErrNotFound", err)
	}

	// An open that fails is not cached.
	b.factory.fail.Store(true)
	if _, err := b.stores.Store(b.ctx, b.tenant.ID); err == nil {
		t.Fatal("failing factory: no error")
	}
	if _, err := b.stores.Store(b.ctx, b.tenant.ID); err != nil {
		t.Fatalf("after a failed open: %v", err)
	}

	// Disabling the tenant refuses it and closes its store.
	if err := b.reg.Disable(b.ctx, b.tenant.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.stores.Store(b.ctx, b.tenant.ID); !errors.Is(err, ErrDisabled) {
		t.Errorf("disabled tenant err = %v, want ErrDisabled", err)
	}
	if b.factory.store(0).closes.Load() != 1 {
		t.Error("disabled tenant's store left open")
	}
	if err := b.reg.Enable(b.ctx, b.tenant.ID); err != nil {
		t.Fatal(err)
	}

	// Deleting the tenant refuses it and closes its store.
	if _, err := b.stores.Store(b.ctx, b.tenant.ID); err != nil {
		t.Fatal(err)
	}
	if err := b.reg.Delete(b.ctx, b.tenant.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.stores.Store(b.ctx, b.tenant.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted tenant err = %v, want ErrNotFound", err)
	}
	if n := b.factory.opens(); n != 2 || b.factory.store(1).closes.Load() != 1 {
		t.Errorf("deleted tenant's store: opens %d, closes %d; want 2 opens, the second closed", n, b.factory.store(1).closes.Load())
	}
	putTenant(t, b.reg, b.tenant.ID)

	// A kind nobody serves.
	stores := NewStores(b.reg, map[string]adapters.Factory{}, time.Minute)
	defer stores.Close()
	if _, err := stores.Store(b.ctx, b.tenant.ID); !errors.Is(err, adapters.ErrConfig) {
		t.Errorf("unserved kind err = %v, want adapters.ErrConfig", err)
	}
}

// fakeGroupStore also keeps groups.
type fakeGroupStore struct {
	fakeStore
	added atomic.Int32
}

func (s *fakeGroupStore) ApplyGroup(context.Context, adapters.Group) (string, error) {
	return "g1", nil
}
func (s *fakeGroupStore) RemoveGroup(context.Context, adapters.Group) error { return nil }
func (s *fakeGroupStore) AddMembers(_ context.Context, _ string, users []string) error {
	s.added.Add(int32(len(users)))
	return nil
}
func (s *fakeGroupStore) RemoveMembers(context.Context, string, []string) error { return nil }
func (s *fakeGroupStore) FindGroups(context.Context, adapters.Match, string) ([]adapters.GroupEntry, error) {
	return nil, nil
}
func (s *fakeGroupStore) ListGroups(context.Context, string, int) ([]adapters.GroupEntry, string, error) {
	return nil, "", nil
}
func (s *fakeGroupStore) ListMembers(context.Context, string, string, int) ([]string, string, error) {
	return nil, "", nil
}

func TestStoresKeepGroupMethodsVisible(t *testing.T) {
	t.Parallel()
	b := setupStores(t, nil)
	// A plain store's handle is not a GroupStore.
	st, err := b.stores.Store(b.ctx, b.tenant.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.(adapters.GroupStore); ok {
		t.Fatal("a store without groups handed out as a GroupStore")
	}
	// A store with groups keeps them through the pool's handle.
	gs := &fakeGroupStore{}
	groups := NewStores(b.reg, map[string]adapters.Factory{"sqlite": func(context.Context, string, adapters.Config) (adapters.Store, error) {
		return gs, nil
	}}, time.Minute)
	defer groups.Close()
	st, err = groups.Store(b.ctx, b.tenant.ID)
	if err != nil {
		t.Fatal(err)
	}
	h, ok := st.(adapters.GroupStore)
	if !ok {
		t.Fatal("the pool hid the store's group methods")
	}
	if err := h.AddMembers(b.ctx, "g1", []string{"u1", "u2"}); err != nil || gs.added.Load() != 2 {
		t.Fatalf("AddMembers through the handle: %v, %d added", err, gs.added.Load())
	}
}
