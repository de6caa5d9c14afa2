package sync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/queue"
	"github.com/scimbridge/scimbridge/scim"
)

func eventSetup(t *testing.T) *bundle {
	t.Helper()
	b := setup(t)
	b.ledger.SetEventRetention(time.Hour)
	return b
}

func eventTypes(evs []Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Type
	}
	return out
}

// A deactivate, a reactivate and many updates of one user drained in one
// batch produce every event the writes imply, in order, with per-resource
// sequence numbers 1, 2, ...; a second drain emits nothing more.
func TestEventsCoalescedDrainKeepsEveryTransition(t *testing.T) {
	t.Parallel()
	b := eventSetup(t)
	ctx := context.Background()
	pw := "S3cret-Passw0rd!"
	r, err := b.svc.CreateUser(ctx, b.tenant, parseUser(t, `{"userName":"ev@example.com","name":{"givenName":"A","familyName":"B"}}`), &pw)
	if err != nil {
		t.Fatal(err)
	}
	ops := []string{
		`{"Operations":[{"op":"replace","value":{"active":false}}]}`,
		`{"Operations":[{"op":"replace","value":{"active":true}}]}`,
	}
	for i := range 48 {
		ops = append(ops, fmt.Sprintf(`{"Operations":[{"op":"replace","value":{"name.givenName":"G%d"}}]}`, i))
	}
	for _, op := range ops {
		if _, err := b.svc.PatchUser(ctx, b.tenant, r.ID, patch(t, op), 0); err != nil {
			t.Fatal(err)
		}
	}
	// A PATCH that changes nothing is no event.
	if _, err := b.svc.PatchUser(ctx, b.tenant, r.ID, patch(t, `{"Operations":[{"op":"replace","value":{"name.givenName":"G47"}}]}`), 0); err != nil {
		t.Fatal(err)
	}
	if evs, _ := b.ledger.Events(ctx, b.tenant, "", 100); len(evs) != 0 {
		t.Fatalf("events before the apply: %v", eventTypes(evs))
	}
	drainAll(t, b)
	evs, err := b.ledger.Events(ctx, b.tenant, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{EventUserCreated, EventUserDeactivated, EventUserReactivated}
	for range 48 {
		want = append(want, EventUserUpdated)
	}
	if got := eventTypes(evs); !slices.Equal(got, want) {
		t.Fatalf("events %v\nwant %v", got, want)
	}
	ids := map[string]bool{}
	for i, e := range evs {
		if e.Data.Sequence != int64(i+1) || e.Data.ID != r.ID || e.Tenant != b.tenant || e.Data.Anchor == "" {
			t.Fatalf("event %d: %+v", i, e)
		}
		if ids[e.ID] || !strings.HasPrefix(e.ID, "evt_") {
			t.Fatalf("event id %q repeated or malformed", e.ID)
		}
		ids[e.ID] = true
		if strings.Contains(string(e.Data.Resource), pw) || strings.Contains(string(e.Data.Resource), "password") {
			t.Fatalf("a password in an event: %s", e.Data.Resource)
		}
		if i > 0 && e.Cursor <= evs[i-1].Cursor && len(e.Cursor) == len(evs[i-1].Cursor) {
			t.Fatalf("cursors out of order: %s after %s", e.Cursor, evs[i-1].Cursor)
		}
	}
	if !strings.Contains(string(evs[0].Data.Resource), `"givenName":"G47"`) {
		t.Fatalf("the resource is not the state the store holds: %s", evs[0].Data.Resource)
	}
	if c := evs[3].Data.Changed; !slices.Equal(c, []string{"name"}) {
		t.Fatalf("changed attributes %v", c)
	}
	// The cursor continues after an event; a bad cursor is refused.
	rest, err := b.ledger.Events(ctx, b.tenant, evs[1].Cursor, 2)
	if err != nil || len(rest) != 2 || rest[0].ID != evs[2].ID {
		t.Fatalf("after %s: %v %v", evs[1].Cursor, rest, err)
	}
	if _, err := b.ledger.Events(ctx, b.tenant, "x-1", 2); !errors.Is(err, ErrBadCursor) {
		t.Fatalf("bad cursor: %v", err)
	}
	// Re-reading gives the same ids; another drain emits nothing.
	drainAll(t, b)
	again, _ := b.ledger.Events(ctx, b.tenant, "", 1000)
	if len(again) != len(evs) || again[5].ID != evs[5].ID {
		t.Fatalf("%d events after a second drain, want %d", len(again), len(evs))
	}
	// Delete: user.deleted, without a resource.
	if err := b.svc.DeleteUser(ctx, b.tenant, r.ID, 0); err != nil {
		t.Fatal(err)
	}
	drainAll(t, b)
	last, _ := b.ledger.Events(ctx, b.tenant, again[len(again)-1].Cursor, 10)
	if len(last) != 1 || last[0].Type != EventUserDeleted || last[0].Data.Resource != nil || last[0].Data.Sequence != int64(len(evs)+1) {
		t.Fatalf("after delete: %+v", last)
	}
}

// The per-user task path (worker.coalesce off) emits the same way, and a
// store rejection is a sync.failed event with the store's reason.
func TestEventsPerUserTaskAndSyncFailed(t *testing.T) {
	t.Parallel()
	b := eventSetup(t)
	ctx := context.Background()
	r, err := b.svc.CreateUser(ctx, b.tenant, parseUser(t, `{"userName":"pu@example.com","title":"short"}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range b.enq.take() {
		if err := b.deliver(t, p); err != nil {
			t.Fatal(err)
		}
	}
	// title longer than the column's CHECK allows: the store rejects it.
	if _, err := b.svc.PatchUser(ctx, b.tenant, r.ID, patch(t, `{"Operations":[{"op":"replace","value":{"title":"far too long a title"}}]}`), 0); err != nil {
		t.Fatal(err)
	}
	for _, p := range b.enq.take() {
		_ = b.deliver(t, p) // permanent: archived
	}
	evs, _ := b.ledger.Events(ctx, b.tenant, "", 10)
	if got := eventTypes(evs); !slices.Equal(got, []string{EventUserCreated, EventSyncFailed}) {
		t.Fatalf("events %v", got)
	}
	if evs[1].Data.Reason == "" || evs[1].Data.Version != 2 {
		t.Fatalf("sync.failed %+v", evs[1].Data)
	}
	// The next change that the store accepts emits both transitions.
	if _, err := b.svc.PatchUser(ctx, b.tenant, r.ID, patch(t, `{"Operations":[{"op":"replace","value":{"title":"ok"}}]}`), 0); err != nil {
		t.Fatal(err)
	}
	for _, p := range b.enq.take() {
		if err := b.deliver(t, p); err != nil {
			t.Fatal(err)
		}
	}
	evs, _ = b.ledger.Events(ctx, b.tenant, evs[1].Cursor, 10)
	if got := eventTypes(evs); !slices.Equal(got, []string{EventUserUpdated, EventUserUpdated}) || evs[1].Data.Version != 3 {
		t.Fatalf("events %v %+v", got, evs)
	}
}

// Groups: created with members, then members removed and a rename: the
// attribute events come from the journal, the member events from what
// the apply changed.
func TestEventsGroups(t *testing.T) {
	t.Parallel()
	b := eventSetup(t)
	ctx := context.Background()
	var users []string
	for i := range 3 {
		r, err := b.svc.CreateUser(ctx, b.tenant, parseUser(t, fmt.Sprintf(`{"userName":"gm%d@example.com"}`, i)), nil)
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, r.ID)
	}
	ga, err := scim.ParseGroup([]byte(`{"displayName":"Eng"}`))
	if err != nil {
		t.Fatal(err)
	}
	g, err := b.svc.CreateGroup(ctx, b.tenant, ga, users)
	if err != nil {
		t.Fatal(err)
	}
	run := func() {
		for _, p := range b.enq.take() {
			if err := b.deliver(t, p); err != nil {
				t.Fatal(err)
			}
		}
	}
	run()
	if _, err := b.svc.PatchGroup(ctx, b.tenant, g.ID, patch(t, fmt.Sprintf(`{"Operations":[{"op":"remove","path":"members[value eq \"%s\"]"}]}`, users[0])), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.PatchGroup(ctx, b.tenant, g.ID, patch(t, `{"Operations":[{"op":"replace","value":{"displayName":"Engineering"}}]}`), 0); err != nil {
		t.Fatal(err)
	}
	run()
	if err := b.svc.DeleteGroup(ctx, b.tenant, g.ID, 0); err != nil {
		t.Fatal(err)
	}
	run()
	all, _ := b.ledger.Events(ctx, b.tenant, "", 100)
	var evs []Event
	for _, e := range all {
		if e.Data.ResourceType == queue.KindGroup {
			evs = append(evs, e)
		}
	}
	want := []string{EventGroupCreated, EventGroupMembersAdded, EventGroupUpdated, EventGroupMembersRemoved, EventGroupDeleted}
	if got := eventTypes(evs); !slices.Equal(got, want) {
		t.Fatalf("group events %v, want %v", got, want)
	}
	added := slices.Clone(users)
	slices.Sort(added)
	if !slices.Equal(evs[1].Data.Members, added) || !slices.Equal(evs[3].Data.Members, users[:1]) {
		t.Fatalf("members %v / %v", evs[1].Data.Members, evs[3].Data.Members)
	}
	if !slices.Equal(evs[2].Data.Changed, []string{"displayName"}) {
		t.Fatalf("changed %v", evs[2].Data.Changed)
	}
}
