package sync

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/queue"
)

// drainAll drains b's tenant's users as asynq would (drainRuns, 20 runs).
func drainAll(t *testing.T, b *bundle) {
	t.Helper()
	if err := drainRuns(context.Background(), b.rec, b.tenant, 20); err != nil {
		t.Fatal(err)
	}
}

// drainRuns runs DrainUsers as asynq would: a drain that runs out of its
// time budget answers ErrBusy (back to the queue, not a failure) and the
// next run goes on, up to runs runs (on a loaded machine one run may not
// finish the backlog).
func drainRuns(ctx context.Context, rec *Reconciler, tenant string, runs int) error {
	for run := 1; ; run++ {
		err := rec.DrainUsers(ctx, tenant)
		if errors.Is(err, queue.ErrBusy) && run < runs {
			continue
		}
		return err
	}
}

func TestDrainAppliesBacklogInBatches(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	const n = 450 // more than two batches
	ids := make([]string, n)
	for i := range ids {
		r, err := b.svc.CreateUser(ctx, b.tenant, parseUser(t, fmt.Sprintf(`{"userName":"d%03d@example.com","name":{"givenName":"G","familyName":"F"}}`, i)), nil)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = r.ID
	}
	// Some users change again before the drain; every third is deactivated.
	for i := 0; i < n; i += 3 {
		if _, err := b.svc.PatchUser(ctx, b.tenant, ids[i], patch(t, `{"Operations":[{"op":"replace","value":{"active":false,"name.givenName":"H"}}]}`), 0); err != nil {
			t.Fatal(err)
		}
	}
	drainAll(t, b)
	rows := b.store.rows(t)
	if len(rows) != n {
		t.Fatalf("%d rows for %d users", len(rows), n)
	}
	for _, r := range rows {
		var i int
		fmt.Sscanf(r.username, "d%03d@example.com", &i)
		wantGiven, wantActive := "G", 1
		if i%3 == 0 {
			wantGiven, wantActive = "H", 0
		}
		if r.given != wantGiven || r.active != wantActive {
			t.Fatalf("row %+v, want given %s active %d", r, wantGiven, wantActive)
		}
	}
	if n, _, _ := b.ledger.OldestDirty(ctx, b.tenant); n != 0 {
		t.Fatalf("%d users still dirty after the drain", n)
	}
	for _, id := range ids[:5] {
		if r, _ := b.ledger.GetUser(ctx, b.tenant, id); r.State() != StateApplied || r.Anchor == "" {
			t.Fatalf("ledger after drain: %+v", r)
		}
	}
	// A second drain finds nothing to do and changes nothing.
	if err := b.rec.DrainUsers(ctx, b.tenant); err != nil {
		t.Fatal(err)
	}
	if rows := b.store.rows(t); len(rows) != n {
		t.Fatalf("a second drain changed the table: %d rows", len(rows))
	}
}

func TestDrainIsolatesARejectedUserAndSkipsBusyOnes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	var ids []string
	for i := range 10 {
		body := fmt.Sprintf(`{"userName":"r%d@example.com"}`, i)
		if i == 4 { // the store's CHECK constraint rejects titles over 10 characters
			body = `{"userName":"r4@example.com","title":"Chief Everything Officer"}`
		}
		r, err := b.svc.CreateUser(ctx, b.tenant, parseUser(t, body), nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	// Another apply holds user 7.
	b.ledger.rdb.Set(ctx, userKeys(b.tenant).lease(ids[7]), "someone-else", time.Minute)
	if err := b.rec.DrainUsers(ctx, b.tenant); err != nil {
		t.Fatal(err)
	}
	if rows := b.store.rows(t); len(rows) != 8 {
		t.Fatalf("%d rows, want 8 (one rejected, one busy)", len(rows))
	}
	r4, _ := b.ledger.GetUser(ctx, b.tenant, ids[4])
	if r4.State() != StateFailed || r4.Failure == "" {
		t.Fatalf("rejected user: %+v", r4)
	}
	r7, _ := b.ledger.GetUser(ctx, b.tenant, ids[7])
	if r7.State() != StatePending {
		t.Fatalf("busy user: %+v", r7)
	}
	// The holder lets go: the next drain applies it.
	b.ledger.rdb.Del(ctx, userKeys(b.tenant).lease(ids[7]))
	if err := b.rec.DrainUsers(ctx, b.tenant); err != nil {
		t.Fatal(err)
	}
	if r7, _ := b.ledger.GetUser(ctx, b.tenant, ids[7]); r7.State() != StateApplied {
		t.Fatalf("busy user after the second drain: %+v", r7)
	}
}

// TestPropertyDrainInterleavings: random writes with drains at random
// points (and stray per-user tasks) end equal to the last acknowledged state.
func TestPropertyDrainInterleavings(t *testing.T) {
	t.Parallel()
	for seed := range 20 {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 99))
			b := setup(t)
			ctx := context.Background()
			var ids []string
			for step := range 60 {
				switch op := rng.IntN(10); {
				case op < 2 && len(ids) < 4:
					r, err := b.svc.CreateUser(ctx, b.tenant, parseUser(t, fmt.Sprintf(`{"userName":"q%d@example.com","name":{"givenName":"g%d","familyName":"f"}}`, len(ids), step)), nil)
					if err != nil {
						t.Fatal(err)
					}
					ids = append(ids, r.ID)
				case op < 6 && len(ids) > 0:
					body := fmt.Sprintf(`{"Operations":[{"op":"replace","value":{"active":%v,"name.givenName":"g%d"}}]}`, rng.IntN(2) == 0, step)
					if _, err := b.svc.PatchUser(ctx, b.tenant, ids[rng.IntN(len(ids))], patch(t, body), 0); err != nil {
						t.Fatal(err)
					}
				case op < 8:
					if err := b.rec.DrainUsers(ctx, b.tenant); err != nil {
						t.Fatal(err)
					}
				default:
					for _, task := range b.enq.take() {
						if rng.IntN(2) == 0 {
							if err := b.deliver(t, task); err != nil {
								t.Fatal(err)
							}
						}
					}
				}
			}
			if err := b.rec.DrainUsers(ctx, b.tenant); err != nil {
				t.Fatal(err)
			}
			byName := map[string]row{}
			for _, r := range b.store.rows(t) {
				byName[r.username] = r
			}
			if len(byName) != len(ids) {
				t.Fatalf("%d rows for %d users", len(byName), len(ids))
			}
			for _, id := range ids {
				r, _ := b.ledger.GetUser(ctx, b.tenant, id)
				got := byName[r.Attrs["userName"].(string)]
				want := 0
				if adapters.ActiveOf(r.Attrs) {
					want = 1
				}
				if got.given != r.Attrs["name"].(map[string]any)["givenName"] || got.active != want || r.State() != StateApplied {
					t.Fatalf("row %+v, last acknowledged %v (%s)", got, r.Attrs, r.State())
				}
			}
		})
	}
}

// drainRecorder records the drains a Service queues.
type drainRecorder struct {
	recordingEnqueuer
	drains []string // "queue/gen"
}

func (e *drainRecorder) EnqueueDrain(_ context.Context, queueName, _ string, gen string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.drains = append(e.drains, queueName+"/"+gen)
	return nil
}

func (e *drainRecorder) taken() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := e.drains
	e.drains = nil
	return d
}

// Writes queue their tenant's drain once per generation and queue: the
// generation is read with the write, and a drain this process has queued
// is not queued again until a drain starts (and bumps the generation).
// Every write is still applied by the drain of the generation it read.
func TestWritesQueueEachDrainGenerationOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	enq := &drainRecorder{}
	b.svc.Enqueuer, b.svc.Coalesce = enq, true

	var ids []string
	for i := range 5 {
		r, err := b.svc.CreateUser(ctx, b.tenant, parseUser(t, fmt.Sprintf(`{"userName":"q%d@example.com"}`, i)), nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	if got := enq.taken(); fmt.Sprint(got) != "[provision/0]" {
		t.Fatalf("5 creates queued drains %v, want one provision drain of generation 0", got)
	}
	if _, err := b.svc.PatchUser(ctx, b.tenant, ids[0], patch(t, `{"Operations":[{"op":"replace","value":{"active":false}}]}`), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.PatchUser(ctx, b.tenant, ids[1], patch(t, `{"Operations":[{"op":"replace","value":{"active":false}}]}`), 0); err != nil {
		t.Fatal(err)
	}
	if got := enq.taken(); fmt.Sprint(got) != "[deprovision/0]" {
		t.Fatalf("2 deactivations queued drains %v, want one deprovision drain of generation 0", got)
	}
	if err := b.rec.DrainUsers(ctx, b.tenant); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := b.ledger.OldestDirty(ctx, b.tenant); n != 0 {
		t.Fatalf("%d users still dirty after the drain of their generation", n)
	}
	if len(b.store.rows(t)) != 5 {
		t.Fatalf("store rows = %d, want 5", len(b.store.rows(t)))
	}
	// The drain started generation 1: the next write queues its drain.
	if _, err := b.svc.CreateUser(ctx, b.tenant, parseUser(t, `{"userName":"q9@example.com"}`), nil); err != nil {
		t.Fatal(err)
	}
	if got := enq.taken(); fmt.Sprint(got) != "[provision/1]" {
		t.Fatalf("a write after a drain started queued %v, want provision/1", got)
	}
}

// TestDrainClaimSkipsHeldUsers: a drain's claim takes dirty users oldest
// first, up to its size, skips the users another apply holds (so
// concurrent drains take different users) and users no longer dirty,
// loads what it takes (nothing for a user whose record is gone), and a
// resend of the same claim (same token) takes the same users again.
func TestDrainClaimSkipsHeldUsers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	for i := range 6 {
		if _, err := b.svc.CreateUser(ctx, b.tenant, parseUser(t, fmt.Sprintf(`{"userName":"c%d@example.com"}`, i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	k := userKeys(b.tenant)
	rdb := b.ledger.rdb
	// Oldest first: the dirty set's order.
	order, err := rdb.ZRange(ctx, k.dirty(), 0, -1).Result()
	if err != nil || len(order) != 6 {
		t.Fatalf("dirty set %v, %v", order, err)
	}
	// order[0] was applied meanwhile (no longer dirty), order[1] is held by
	// another drain, order[3]'s record is gone.
	if err := rdb.ZRem(ctx, k.dirty(), order[0]).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Set(ctx, k.lease(order[1]), "other", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Del(ctx, k.rec(order[3])).Err(); err != nil {
		t.Fatal(err)
	}
	claim := func(token string, n int) []claimedUser {
		t.Helper()
		res, err := claimScript.Run(ctx, rdb, []string{k.dirty(), k.claim(token)}, token, int64(60000), n, k.prefix(), claimScanMax).Slice()
		if err != nil {
			t.Fatal(err)
		}
		var out []claimedUser
		for i := 0; i+1 < len(res); i += 2 {
			u := claimedUser{id: res[i].(string)}
			if kv := replyStrings(res[i+1].([]any)); len(kv) > 0 {
				u.rec, u.err = decodeRecord(b.tenant, u.id, kv)
			}
			out = append(out, u)
		}
		return out
	}
	got := claim("token", 3)
	if len(got) != 3 || got[0].id != order[2] || got[1].id != order[3] || got[2].id != order[4] {
		t.Fatalf("claimed %v, want %v (oldest dirty and not held, three)", got, order[2:5])
	}
	if got[0].rec == nil || got[0].rec.ID != order[2] || got[1].rec != nil {
		t.Fatalf("loads: %+v, %+v; want the record, then none (gone)", got[0].rec, got[1].rec)
	}
	for _, u := range got {
		if v, _ := rdb.Get(ctx, k.lease(u.id)).Result(); v != "token" {
			t.Fatalf("lease of %s holds %q", u.id, v)
		}
	}
	if v, _ := rdb.Get(ctx, k.lease(order[1])).Result(); v != "other" {
		t.Fatalf("the held user's lease now holds %q", v)
	}
	if n, _ := rdb.Exists(ctx, k.lease(order[0])).Result(); n != 0 {
		t.Fatal("a user that is no longer dirty was leased")
	}
	// A resend takes the same users, even once an older user was freed
	// meanwhile; another drain takes the rest only.
	if err := rdb.Del(ctx, k.lease(order[1])).Err(); err != nil {
		t.Fatal(err)
	}
	if again := claim("token", 3); len(again) != 3 || again[0].id != order[2] || again[1].id != order[3] || again[2].id != order[4] {
		t.Fatalf("resend claimed %v, want the same three", again)
	}
	if err := rdb.Set(ctx, k.lease(order[1]), "other", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if other := claim("second", 3); len(other) != 1 || other[0].id != order[5] {
		t.Fatalf("another drain claimed %v, want only %s", other, order[5])
	}
	if none := claim("third", 3); len(none) != 0 {
		t.Fatalf("a third drain claimed %v, want none (all held)", none)
	}
}

// A drain whose budget is spent hands the rest of the backlog to a new
// drain of the current generation, queued (not a retry: it does not wait
// for asynq's check of due retries), and returns without error; the
// continuations, run as asynq would run them, apply everything, each run
// at least one batch.
func TestDrainOverBudgetQueuesItsContinuation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	const n = 450 // three batches
	for i := range n {
		if _, err := b.svc.CreateUser(ctx, b.tenant, parseUser(t, fmt.Sprintf(`{"userName":"c%03d@example.com"}`, i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	drains := &drainRecorder{}
	b.rec.Drains, b.rec.drainBudget = drains, time.Nanosecond
	runs := 0
	for {
		runs++
		if err := b.rec.DrainUsers(ctx, b.tenant); err != nil {
			t.Fatalf("run %d: %v", runs, err)
		}
		got := drains.taken()
		gen, err := b.ledger.DrainGeneration(ctx, b.tenant)
		if err != nil {
			t.Fatal(err)
		}
		left, _, _ := b.ledger.OldestDirty(ctx, b.tenant)
		if left == 0 {
			// The first run also queued a helper (a long backlog); the last
			// queues nothing more than that.
			if runs == 1 || len(got) != 0 {
				t.Fatalf("run %d finished the backlog and queued %v", runs, got)
			}
			break
		}
		// The continuation is the drain of the generation writes now use.
		if want := "provision/" + gen; len(got) == 0 || got[len(got)-1] != want {
			t.Fatalf("run %d left %d users and queued %v, want %s last", runs, left, got, want)
		}
		if runs > 3 {
			t.Fatalf("%d runs for %d users in batches of %d", runs, n, drainBatch)
		}
	}
	if runs != 3 {
		t.Fatalf("%d runs, want 3 (one batch each)", runs)
	}
	if rows := b.store.rows(t); len(rows) != n {
		t.Fatalf("%d rows for %d users", len(rows), n)
	}
}
