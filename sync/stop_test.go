package sync

import (
	"context"
	"errors"
	"fmt"
	gosync "sync"
	"testing"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/queue"
)

// cutStores hands out its store wrapped so that the batch call number
// cutAt begins the worker's shutdown (closes stop) and then hangs until
// its context is cancelled, as a store call the shutdown cuts would.
type cutStores struct {
	inner StoreSource
	stop  chan struct{}
	cutAt int

	mu    gosync.Mutex
	calls int
}

func (c *cutStores) Store(ctx context.Context, tenant string) (adapters.Store, error) {
	st, err := c.inner.Store(ctx, tenant)
	if err != nil {
		return nil, err
	}
	return &cutStore{Store: st, c: c}, nil
}

type cutStore struct {
	adapters.Store
	c *cutStores
}

func (s *cutStore) ApplyUsers(ctx context.Context, users []adapters.User) ([]string, []error) {
	s.c.mu.Lock()
	s.c.calls++
	n := s.c.calls
	s.c.mu.Unlock()
	if n != s.c.cutAt {
		return s.Store.(adapters.BatchStore).ApplyUsers(ctx, users)
	}
	close(s.c.stop)
	<-ctx.Done()
	errs := make([]error, len(users))
	for i := range errs {
		errs[i] = fmt.Errorf("sqlstore: begin: %w", ctx.Err())
	}
	return make([]string, len(users)), errs
}

// A drain that the worker's shutdown overtakes stops: the batch in flight
// is cut and not recorded as failed, no further batch starts, its leases
// are released, the drain goes back to the queue (ErrBusy, not a failure),
// and the users it did not apply stay dirty, so the next worker's drain
// applies them all.
func TestDrainStopsOnShutdownLeavingTheRestDirty(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	const n = 3*drainBatch + 50
	ids := make([]string, n)
	for i := range ids {
		r, err := b.svc.CreateUser(ctx, b.tenant, parseUser(t, fmt.Sprintf(`{"userName":"s%03d@example.com"}`, i)), nil)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = r.ID
	}
	stores := &cutStores{inner: b.rec.Stores, stop: make(chan struct{}), cutAt: 2}
	stopping := *b.rec
	stopping.Stores, stopping.Stopping = stores, stores.stop
	if err := stopping.DrainUsers(ctx, b.tenant); !errors.Is(err, queue.ErrBusy) {
		t.Fatalf("drain overtaken by shutdown: %v, want ErrBusy", err)
	}
	if rows := b.store.rows(t); len(rows) != drainBatch {
		t.Fatalf("%d rows after the cut drain, want the first batch's %d", len(rows), drainBatch)
	}
	if calls := stores.calls; calls != 2 {
		t.Fatalf("%d batch calls, want 2 (no batch after the cut)", calls)
	}
	if dirty, _, _ := b.ledger.OldestDirty(ctx, b.tenant); dirty != n-drainBatch {
		t.Fatalf("%d users dirty after the cut, want %d", dirty, n-drainBatch)
	}
	for _, id := range ids {
		r, err := b.ledger.GetUser(ctx, b.tenant, id)
		if err != nil {
			t.Fatal(err)
		}
		if r.State() == StateFailed || r.Failure != "" {
			t.Fatalf("user %s recorded as failed by the cut: %+v", id, r)
		}
		if held, _ := b.ledger.rdb.Exists(ctx, userKeys(b.tenant).lease(id)).Result(); held != 0 {
			t.Fatalf("user %s still leased after the cut drain", id)
		}
	}
	// A drain picked up while the worker stops does nothing.
	if err := stopping.DrainUsers(ctx, b.tenant); !errors.Is(err, queue.ErrBusy) {
		t.Fatalf("drain during shutdown: %v, want ErrBusy", err)
	}
	if rows := b.store.rows(t); len(rows) != drainBatch {
		t.Fatalf("a drain during shutdown applied: %d rows", len(rows))
	}
	drainAll(t, b) // the next worker drains the rest
	if rows := b.store.rows(t); len(rows) != n {
		t.Fatalf("%d rows after the next worker's drain, want %d", len(rows), n)
	}
	if dirty, _, _ := b.ledger.OldestDirty(ctx, b.tenant); dirty != 0 {
		t.Fatalf("%d users still dirty", dirty)
	}
}
