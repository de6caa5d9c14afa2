package sync

import (
	"context"
	"slices"
	"testing"

	"github.com/scimbridge/scimbridge/queue"
	"github.com/scimbridge/scimbridge/scim"
)

// The put script rewrites an index only when its value changed: a write
// that keeps userName, externalId and emails leaves their index entries
// as they were (and does not run the commands), one that changes one of
// them moves exactly that one.
func TestPutRewritesOnlyChangedIndexes(t *testing.T) {
	t.Parallel()
	rdb := testRedis(t)
	tenant := testTenant(t, rdb)
	l := NewLedger(rdb, testSealer(t))
	ctx := context.Background()
	k := userKeys(tenant)
	indexes := func() []string {
		t.Helper()
		un, _ := rdb.HGetAll(ctx, k.idxUserName()).Result()
		em, _ := rdb.ZRange(ctx, k.idxEmails(), 0, -1).Result()
		ex, _ := rdb.ZRange(ctx, k.idxExternalIDs(), 0, -1).Result()
		var out []string
		for n, id := range un {
			out = append(out, "un "+n+" "+id)
		}
		for _, m := range em {
			out = append(out, "em "+m)
		}
		for _, m := range ex {
			out = append(out, "ex "+m)
		}
		slices.Sort(out)
		return out
	}
	r, err := l.CreateUser(ctx, tenant, Uniqueness{}, user("a@x.io", "externalId", "E1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := l.CreateUser(ctx, tenant, Uniqueness{}, user("o@x.io", "externalId", "E9"), nil)
	if err != nil {
		t.Fatal(err)
	}
	before := indexes()
	if len(before) != 6 {
		t.Fatalf("indexes after two creates: %v", before)
	}

	// Only active changes: no index moves, and the user is found by each.
	r, err = l.UpdateUser(ctx, tenant, Uniqueness{}, r.ID, 0, user("a@x.io", "externalId", "E1", "active", false), nil)
	if err != nil || r.Version != 2 {
		t.Fatalf("deactivate: %+v %v", r, err)
	}
	if got := indexes(); !slices.Equal(got, before) {
		t.Fatalf("indexes after a change of active only:\n%v\nwant\n%v", got, before)
	}
	for attr, v := range map[string]string{"userName": "A@x.io", "emails.value": "a@X.io", "externalId": "E1"} {
		if ids := findIDs(t, l, tenant, attr, v); len(ids) != 1 || ids[0] != r.ID {
			t.Fatalf("%s %s after deactivate: %v", attr, v, ids)
		}
	}

	// One indexed value at a time moves; the others stay.
	a := user("a@x.io", "externalId", "E1", "active", false)
	a["emails"] = []any{map[string]any{"value": "new@x.io", "type": "work"}}
	if _, err := l.UpdateUser(ctx, tenant, Uniqueness{}, r.ID, 0, a, nil); err != nil {
		t.Fatal(err)
	}
	if ids := findIDs(t, l, tenant, "emails.value", "a@x.io"); len(ids) != 0 {
		t.Fatalf("old email still indexed: %v", ids)
	}
	if ids := findIDs(t, l, tenant, "emails.value", "new@x.io"); len(ids) != 1 || ids[0] != r.ID {
		t.Fatalf("new email: %v", ids)
	}
	a["externalId"] = "E2"
	if _, err := l.UpdateUser(ctx, tenant, Uniqueness{}, r.ID, 0, a, nil); err != nil {
		t.Fatal(err)
	}
	if ids := findIDs(t, l, tenant, "externalId", "E1"); len(ids) != 0 {
		t.Fatalf("old externalId still indexed: %v", ids)
	}
	a["userName"] = "b@x.io"
	if _, err := l.UpdateUser(ctx, tenant, Uniqueness{}, r.ID, 0, a, nil); err != nil {
		t.Fatal(err)
	}
	want := []string{"em new@x.io\x00" + r.ID, "em o@x.io\x00" + other.ID, "ex E2\x00" + r.ID, "ex E9\x00" + other.ID,
		"un b@x.io " + r.ID, "un o@x.io " + other.ID}
	slices.Sort(want)
	if got := indexes(); !slices.Equal(got, want) {
		t.Fatalf("indexes after the moves:\n%q\nwant\n%q", got, want)
	}
	// The other user's unchanged write still refuses the taken userName.
	if _, err := l.UpdateUser(ctx, tenant, Uniqueness{}, other.ID, 0, user("b@x.io"), nil); err == nil {
		t.Fatal("update to a taken userName accepted")
	}
	// Delete removes every index entry of the user.
	if _, err := l.DeleteUser(ctx, tenant, r.ID, 0); err != nil {
		t.Fatal(err)
	}
	want = []string{"em o@x.io\x00" + other.ID, "ex E9\x00" + other.ID, "un o@x.io " + other.ID}
	if got := indexes(); !slices.Equal(got, want) {
		t.Fatalf("indexes after delete:\n%q\nwant\n%q", got, want)
	}
}

// A PUT without If-Match is one script call, without a read first: a body
// without active keeps the stored one (spliced by the script), and the
// queue is chosen from the active stored before.
func TestReplaceWithoutIfMatchIsNotReadFirst(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	r, err := b.svc.CreateUser(ctx, b.tenant, parseUser(t, `{"userName":"p@example.com","active":false}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	b.enq.take()
	// No active in the body: the stored false is kept, in the ledger and
	// in the answer.
	got, err := b.svc.ReplaceUser(ctx, b.tenant, r.ID, parseUser(t, `{"userName":"p@example.com","displayName":"P"}`), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 2 || got.Attrs["active"] != false || got.Attrs["displayName"] != "P" {
		t.Fatalf("answer %+v", got.Attrs)
	}
	read, _ := b.ledger.GetUser(ctx, b.tenant, r.ID)
	if read.Attrs["active"] != false || read.Attrs["displayName"] != "P" || read.Version != 2 {
		t.Fatalf("stored %+v", read.Attrs)
	}
	// Inactive to inactive is a provision (nothing is deactivated).
	if tasks := b.enq.take(); len(tasks) != 1 {
		t.Fatalf("tasks %+v", tasks)
	}
	// Active in the body wins; from active to inactive is a deprovision.
	if _, err := b.svc.ReplaceUser(ctx, b.tenant, r.ID, parseUser(t, `{"userName":"p@example.com","active":true}`), nil, 0); err != nil {
		t.Fatal(err)
	}
	qe := &queueRecorder{}
	b.svc.Enqueuer = qe
	if _, err := b.svc.ReplaceUser(ctx, b.tenant, r.ID, parseUser(t, `{"userName":"p@example.com","active":false}`), nil, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.ReplaceUser(ctx, b.tenant, r.ID, parseUser(t, `{"userName":"p@example.com","nickName":"n"}`), nil, 0); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(qe.queues, []string{queue.QueueDeprovision, queue.QueueProvision}) {
		t.Fatalf("queues %v, want a deprovision then a provision", qe.queues)
	}
	read, _ = b.ledger.GetUser(ctx, b.tenant, r.ID)
	if read.Attrs["active"] != false || read.Attrs["nickName"] != "n" || read.Version != 5 {
		t.Fatalf("stored %+v v%d", read.Attrs, read.Version)
	}
	// A user stored without active keeps none.
	bare, err := b.ledger.CreateUser(ctx, b.tenant, Uniqueness{}, scim.Attrs{"userName": "bare@example.com"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err = b.svc.ReplaceUser(ctx, b.tenant, bare.ID, parseUser(t, `{"userName":"bare@example.com","nickName":"b"}`), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got.Attrs["active"]; ok {
		t.Fatalf("answer has an active: %+v", got.Attrs)
	}
	if read, _ := b.ledger.GetUser(ctx, b.tenant, bare.ID); read.Attrs["nickName"] != "b" {
		t.Fatalf("stored %+v", read.Attrs)
	} else if _, ok := read.Attrs["active"]; ok {
		t.Fatalf("stored an active: %+v", read.Attrs)
	}
	// Unknown user: not found, nothing written.
	if _, err := b.svc.ReplaceUser(ctx, b.tenant, "nope", parseUser(t, `{"userName":"x@example.com"}`), nil, 0); err == nil {
		t.Fatal("replace of an unknown user accepted")
	}
}

// queueRecorder keeps the queue of each enqueue.
type queueRecorder struct{ queues []string }

func (q *queueRecorder) Enqueue(_ context.Context, name string, _ queue.Reconcile, _ string) error {
	q.queues = append(q.queues, name)
	return nil
}
