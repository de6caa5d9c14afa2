package sync

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/queue"
)

// TestPropertyRandomInterleavings: for many random schedules of creates,
// updates, deactivations, reactivations and task deliveries (out of order,
// duplicated, dropped and later swept), the store ends equal to the last
// acknowledged state of every user.
func TestPropertyRandomInterleavings(t *testing.T) {
	t.Parallel()
	seeds := 40
	if testing.Short() {
		seeds = 8
	}
	for seed := range seeds {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			runInterleaving(t, uint64(seed))
		})
	}
}

func runInterleaving(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed*7919+1))
	b := setup(t)
	ctx := context.Background()
	const users = 3
	ids := make([]string, 0, users)
	var queued []queue.Reconcile
	deliver := func(i int) {
		task := queued[i]
		if err := b.deliver(t, task); err != nil {
			t.Fatalf("seed %d: deliver %+v: %v", seed, task, err)
		}
	}
	for step := 0; step < 60; step++ {
		switch op := rng.IntN(10); {
		case op < 2 && len(ids) < users:
			body := fmt.Sprintf(`{"userName":"p%d@example.com","name":{"givenName":"g%d","familyName":"f"}}`, len(ids), step)
			r, err := b.svc.CreateUser(ctx, b.tenant, parseUser(t, body), nil)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, r.ID)
		case op < 5 && len(ids) > 0:
			id := ids[rng.IntN(len(ids))]
			body := fmt.Sprintf(`{"Operations":[{"op":"replace","path":"name.givenName","value":"g%d"}]}`, step)
			if _, err := b.svc.PatchUser(ctx, b.tenant, id, patch(t, body), 0); err != nil {
				t.Fatal(err)
			}
		case op < 7 && len(ids) > 0:
			id := ids[rng.IntN(len(ids))]
			body := fmt.Sprintf(`{"Operations":[{"op":"replace","value":{"active":%v}}]}`, rng.IntN(2) == 0)
			if _, err := b.svc.PatchUser(ctx, b.tenant, id, patch(t, body), 0); err != nil {
				t.Fatal(err)
			}
		case op < 9 && len(queued) > 0:
			// Deliver a random queued task: out of order, maybe twice.
			i := rng.IntN(len(queued))
			deliver(i)
			if rng.IntN(3) > 0 {
				queued = append(queued[:i], queued[i+1:]...)
			}
		default:
			// Drop a task: lost, it never arrives (the sweeper covers it).
			if len(queued) > 0 {
				i := rng.IntN(len(queued))
				queued = append(queued[:i], queued[i+1:]...)
			}
		}
		queued = append(queued, b.enq.take()...)
	}
	// Drain what is queued in random order, then what the sweeper finds.
	rng.Shuffle(len(queued), func(i, j int) { queued[i], queued[j] = queued[j], queued[i] })
	for i := range queued {
		deliver(i)
	}
	for _, id := range ids {
		r, err := b.ledger.getUserAny(ctx, b.tenant, id)
		if err != nil {
			t.Fatal(err)
		}
		if r.State() != StateApplied { // its tasks were dropped: the sweeper re-enqueues it
			if err := b.deliver(t, queue.Reconcile{Tenant: b.tenant, Kind: queue.KindUser, ID: id, Version: r.Version}); err != nil {
				t.Fatal(err)
			}
		}
	}
	rows := b.store.rows(t)
	if len(rows) != len(ids) {
		t.Fatalf("seed %d: %d rows for %d users: %+v", seed, len(rows), len(ids), rows)
	}
	byName := map[string]row{}
	for _, r := range rows {
		byName[r.username] = r
	}
	for _, id := range ids {
		r, _ := b.ledger.GetUser(ctx, b.tenant, id)
		got := byName[r.Attrs["userName"].(string)]
		wantActive := 0
		if adapters.ActiveOf(r.Attrs) {
			wantActive = 1
		}
		if got.given != r.Attrs["name"].(map[string]any)["givenName"] || got.active != wantActive || r.State() != StateApplied {
			t.Fatalf("seed %d: row %+v, last acknowledged %v (state %s)", seed, got, r.Attrs, r.State())
		}
	}
}
