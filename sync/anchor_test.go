package sync

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/adapters"
)

// TestApplyRefusesAnotherUsersAnchor is the cross-drain mis-adoption of
// max_concurrency above 1, with the interleaving driven by the test: user A
// ("bob", applied) is renamed to "alice" and user B is created as "bob";
// B's apply runs first and finds A's row by userName (A's rename is not in
// the store yet). The mark must refuse A's anchor for B and leave B dirty
// and retryable; A's apply then puts its row right and B's retry creates
// B's own row. Without the guard both records would hold A's anchor and
// A's later applies would overwrite B's row (and B's, A's).
//
// Both apply paths: the per-resource task (appliedScript) and a drain's
// batch (appliedManyScript).
func TestApplyRefusesAnotherUsersAnchor(t *testing.T) {
	for _, path := range []string{"task", "drain"} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			ctx := context.Background()
			apply := func(id string) error {
				if path == "task" {
					return b.rec.ReconcileUser(ctx, b.tenant, id)
				}
				return drainOne(t, b, id)
			}
			a, err := b.svc.CreateUser(ctx, b.tenant, parseUser(t, `{"userName":"bob","name":{"givenName":"Bob","familyName":"A"}}`), nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := apply(a.ID); err != nil {
				t.Fatal(err)
			}
			ra, _ := b.ledger.GetUser(ctx, b.tenant, a.ID)
			if ra.Anchor == "" || ra.State() != StateApplied {
				t.Fatalf("A after its create: %+v", ra)
			}
			anchorA := ra.Anchor
			if _, err := b.svc.PatchUser(ctx, b.tenant, a.ID, patch(t, `{"Operations":[{"op":"replace","path":"userName","value":"alice"}]}`), 0); err != nil {
				t.Fatal(err)
			}
			bu, err := b.svc.CreateUser(ctx, b.tenant, parseUser(t, `{"userName":"bob","name":{"givenName":"Bob","familyName":"B"}}`), nil)
			if err != nil {
				t.Fatal(err)
			}

			// B first: its lookup finds A's row ("bob" still) and writes B's
			// attributes into it; the mark is refused.
			err = apply(bu.ID)
			if !errors.Is(err, errAnchorHeld) {
				t.Fatalf("B's apply over A's row: %v, want errAnchorHeld", err)
			}
			if adapters.IsPermanent(err) || countsAsFailure(err) {
				t.Fatalf("the refusal must be a retry, not a failure: permanent %v, counted %v", adapters.IsPermanent(err), countsAsFailure(err))
			}
			rb, _ := b.ledger.GetUser(ctx, b.tenant, bu.ID)
			if rb.State() != StatePending || rb.Anchor != "" || rb.Applied != 0 || rb.WaitsFor != a.ID || rb.Failure != "" {
				t.Fatalf("B after the refused mark: %+v", rb)
			}
			if id, _ := b.ledger.rdb.HGet(ctx, userKeys(b.tenant).idxAnchor(), anchorA).Result(); id != a.ID {
				t.Fatalf("anchor index gives A's anchor to %q, want A %s", id, a.ID)
			}
			if n, _ := b.ledger.rdb.ZScore(ctx, userKeys(b.tenant).dirty(), bu.ID).Result(); n == 0 {
				t.Fatal("B is no longer dirty")
			}
			if n, _ := b.ledger.rdb.ZCard(ctx, userKeys(b.tenant).failed()).Result(); n != 0 {
				t.Fatalf("%d users in the failed index", n)
			}
			st, err := (&Admin{Ledger: b.ledger}).Status(ctx, b.tenant, "User", bu.ID)
			if err != nil || st.State != StatePending || st.WaitsFor != a.ID {
				t.Fatalf("B's status %+v (%v), want pending waiting for %s", st, err, a.ID)
			}
			// The lease was given back: another apply can take B.
			if ok, _ := b.ledger.rdb.Exists(ctx, userKeys(b.tenant).lease(bu.ID)).Result(); ok != 0 {
				t.Fatal("B's lease is still held")
			}

			// A's own apply renames its row (found by its anchor) back to A.
			if err := apply(a.ID); err != nil {
				t.Fatal(err)
			}
			// B's retry no longer finds "bob" and creates its own row.
			if err := apply(bu.ID); err != nil {
				t.Fatal(err)
			}
			rows := b.store.rows(t)
			if len(rows) != 2 || rows[0].username != "alice" || rows[0].family != "A" || rows[1].username != "bob" || rows[1].family != "B" {
				t.Fatalf("store rows %+v, want alice (A) and bob (B)", rows)
			}
			ra, _ = b.ledger.GetUser(ctx, b.tenant, a.ID)
			rb, _ = b.ledger.GetUser(ctx, b.tenant, bu.ID)
			if ra.Anchor != anchorA || rb.Anchor == "" || rb.Anchor == ra.Anchor || ra.State() != StateApplied || rb.State() != StateApplied || rb.WaitsFor != "" {
				t.Fatalf("ledger A %+v, B %+v: want distinct anchors, both applied", ra, rb)
			}
			for id, want := range map[string]string{ra.Anchor: a.ID, rb.Anchor: bu.ID} {
				if got, _ := b.ledger.rdb.HGet(ctx, userKeys(b.tenant).idxAnchor(), id).Result(); got != want {
					t.Fatalf("anchor %s -> %q, want %s", id, got, want)
				}
			}
		})
	}
}

// TestApplyTakesADeletedUsersAnchor: once another user's deletion is
// applied, its entry (kept by a store that deactivates, or found again
// by userName) may become a new user's: the guard refuses only a live
// user's anchor or one whose deletion is still pending.
func TestApplyTakesADeletedUsersAnchor(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	a, err := b.svc.CreateUser(ctx, b.tenant, parseUser(t, `{"userName":"carol","name":{"givenName":"C","familyName":"A"}}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.rec.ReconcileUser(ctx, b.tenant, a.ID); err != nil {
		t.Fatal(err)
	}
	ra, _ := b.ledger.GetUser(ctx, b.tenant, a.ID)
	if _, err := b.ledger.DeleteUser(ctx, b.tenant, a.ID, 0); err != nil {
		t.Fatal(err)
	}
	bu, err := b.svc.CreateUser(ctx, b.tenant, parseUser(t, `{"userName":"carol2","name":{"givenName":"C","familyName":"B"}}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	// A's deletion pending: B may not take A's anchor.
	if err := b.ledger.MarkApplied(ctx, b.tenant, bu.ID, 1, ra.Anchor, 0); !errors.Is(err, errAnchorHeld) {
		t.Fatalf("mark with a pending deletion's anchor: %v, want errAnchorHeld", err)
	}
	if err := b.rec.ReconcileUser(ctx, b.tenant, a.ID); err != nil {
		t.Fatal(err)
	}
	// A's deletion applied: the anchor may be B's.
	if err := b.ledger.MarkApplied(ctx, b.tenant, bu.ID, 1, ra.Anchor, 0); err != nil {
		t.Fatal(err)
	}
	rb, _ := b.ledger.GetUser(ctx, b.tenant, bu.ID)
	if rb.Anchor != ra.Anchor || rb.State() != StateApplied || rb.WaitsFor != "" {
		t.Fatalf("B %+v", rb)
	}
}

// An apply (a task's, a drain batch's) emits events only for the users
// whose applied mark succeeded: B's apply over A's row is refused and adds no event (its
// journal kept); when B's retry is marked, its user.created comes, once,
// after A's events.
func TestApplyEmitsNoEventForARefusedMark(t *testing.T) {
	for _, path := range []string{"task", "drain"} {
		t.Run(path, func(t *testing.T) { testNoEventForARefusedMark(t, path) })
	}
}

func testNoEventForARefusedMark(t *testing.T, path string) {
	t.Parallel()
	b := eventSetup(t)
	ctx := context.Background()
	if err := b.ledger.loadDrainScripts(ctx); err != nil {
		t.Fatal(err)
	}
	apply := func(id string) error {
		if path == "task" {
			return b.rec.ReconcileUser(ctx, b.tenant, id)
		}
		return drainOne(t, b, id)
	}
	events := func(id string) []string {
		t.Helper()
		evs, err := b.ledger.Events(ctx, b.tenant, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range evs {
			if id == "" || e.Data.ID == id {
				out = append(out, e.Type)
			}
		}
		return out
	}
	a, err := b.svc.CreateUser(ctx, b.tenant, parseUser(t, `{"userName":"bob","name":{"givenName":"Bob","familyName":"A"}}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := apply(a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.PatchUser(ctx, b.tenant, a.ID, patch(t, `{"Operations":[{"op":"replace","path":"userName","value":"alice"}]}`), 0); err != nil {
		t.Fatal(err)
	}
	bu, err := b.svc.CreateUser(ctx, b.tenant, parseUser(t, `{"userName":"bob","name":{"givenName":"Bob","familyName":"B"}}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := apply(bu.ID); !errors.Is(err, errAnchorHeld) {
		t.Fatalf("B's apply over A's row: %v, want errAnchorHeld", err)
	}
	if got := events(bu.ID); len(got) != 0 {
		t.Fatalf("events of B's refused apply: %v, want none", got)
	}
	if err := apply(a.ID); err != nil {
		t.Fatal(err)
	}
	if err := apply(bu.ID); err != nil {
		t.Fatal(err)
	}
	if got := events(bu.ID); !slices.Equal(got, []string{EventUserCreated}) {
		t.Fatalf("B's events %v, want one user.created", got)
	}
	if got := events(""); !slices.Equal(got, []string{EventUserCreated, EventUserUpdated, EventUserCreated}) {
		t.Fatalf("events %v", got)
	}
}

// drainOne applies user id as a drain's batch of one: its lease taken and
// its record loaded as a claim would, then drainBatch.
func drainOne(t *testing.T, b *bundle, id string) error {
	t.Helper()
	ctx := context.Background()
	if err := b.ledger.loadDrainScripts(ctx); err != nil {
		t.Fatal(err)
	}
	k := userKeys(b.tenant)
	token := newID()
	if ok, err := b.ledger.rdb.SetNX(ctx, k.lease(id), token, time.Minute).Result(); err != nil || !ok {
		t.Fatalf("lease of %s: taken %v, %v", id, ok, err)
	}
	u := claimedUser{id: id}
	kv, err := b.ledger.rdb.HGetAll(ctx, k.rec(id)).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(kv) > 0 {
		var flat []string
		for f, v := range kv {
			flat = append(flat, f, v)
		}
		u.rec, u.err = decodeRecord(b.tenant, id, flat)
	}
	return b.rec.drainBatch(ctx, b.tenant, token, []claimedUser{u})
}
