package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scimbridge/scimbridge/internal/testsupport"
	"github.com/scimbridge/scimbridge/queue"
	"github.com/scimbridge/scimbridge/scim"
)

// slowLedger is a ledger on slowRedis: the proxy and the ledger, events
// kept for an hour.
func slowLedger(t *testing.T) (*testsupport.DelayProxy, *Ledger) {
	t.Helper()
	proxy, slow := slowRedis(t)
	l := NewLedger(slow, nil)
	l.SetEventRetention(time.Hour)
	return proxy, l
}

// resent runs call with its reply held back, after loading script (so the
// late reply is the call's own), and fails the test when the client did
// not send the script again (the test would prove nothing).
func resent(t *testing.T, proxy *testsupport.DelayProxy, l *Ledger, script *redis.Script, call func() error) {
	t.Helper()
	if err := script.Load(context.Background(), l.rdb).Err(); err != nil {
		t.Fatal(err)
	}
	before := proxy.SentCount(script.Hash())
	proxy.DelayNext(1, time.Second)
	if err := call(); err != nil {
		t.Fatalf("call whose reply was late: %v", err)
	}
	if n := proxy.SentCount(script.Hash()) - before; n < 2 {
		t.Fatalf("sent %d time(s): no resend, the test proves nothing", n)
	}
}

func typeCount(evs []Event, typ string) int {
	n := 0
	for _, e := range evs {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// A group's member events are added once: the emit sent again after a
// read timeout adds none, and the group's run repeated after a crash
// between the emit and the applied mark adds none either (the group ends
// applied).
func TestGroupMemberEventsOnceAfterResendAndCrash(t *testing.T) {
	t.Parallel()
	b := eventSetup(t)
	ctx := context.Background()
	run := func() {
		t.Helper()
		for _, p := range b.enq.take() {
			if err := b.deliver(t, p); err != nil {
				t.Fatal(err)
			}
		}
	}
	var users []string
	for i := range 3 {
		r, err := b.svc.CreateUser(ctx, b.tenant, parseUser(t, fmt.Sprintf(`{"userName":"once%d@example.com"}`, i)), nil)
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, r.ID)
	}
	run()
	ga, err := scim.ParseGroup([]byte(`{"displayName":"Once"}`))
	if err != nil {
		t.Fatal(err)
	}
	g, err := b.svc.CreateGroup(ctx, b.tenant, ga, users)
	if err != nil {
		t.Fatal(err)
	}
	// The group's run up to its emit, whose reply is late; then a crash
	// (no applied mark).
	r, err := b.ledger.getGroupAny(ctx, b.tenant, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	pending, err := b.ledger.pendingMembers(ctx, b.tenant, g.ID)
	if err != nil || len(pending) != 3 {
		t.Fatalf("pending %v %v", pending, err)
	}
	proxy, slow := slowLedger(t)
	ev, err := b.ledger.groupEmitted(ctx, r, r.Anchor, pending)
	if err != nil {
		t.Fatal(err)
	}
	resent(t, proxy, slow, emitScript, func() error {
		return slow.emitEvents(ctx, b.tenant, []emitted{ev})
	})
	// The task is redelivered: the whole run again.
	run()
	if err := b.rec.ReconcileGroup(ctx, b.tenant, g.ID); err != nil {
		t.Fatal(err)
	}
	all, err := b.ledger.Events(ctx, b.tenant, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var evs []Event
	for _, e := range all {
		if e.Data.ResourceType == queue.KindGroup {
			evs = append(evs, e)
		}
	}
	if got := eventTypes(evs); !slices.Equal(got, []string{EventGroupCreated, EventGroupMembersAdded}) {
		t.Fatalf("group events %v, want created and one members_added", got)
	}
	want := slices.Clone(users)
	slices.Sort(want)
	if !slices.Equal(evs[1].Data.Members, want) {
		t.Fatalf("members %v, want %v", evs[1].Data.Members, want)
	}
	r, err = b.ledger.getGroupAny(ctx, b.tenant, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	if left, _ := b.ledger.pendingMembers(ctx, b.tenant, g.ID); len(left) != 0 || r.Applied != r.Version {
		t.Fatalf("group not applied: pending %v, applied %d of %d", left, r.Applied, r.Version)
	}
}

// sync.failed sent again after a read timeout is added once.
func TestFailedEventOnceAfterResend(t *testing.T) {
	t.Parallel()
	b := eventSetup(t)
	ctx := context.Background()
	proxy, slow := slowLedger(t)
	resent(t, proxy, slow, failedEventScript, func() error {
		_, err := slow.emitFailed(ctx, userKeys(b.tenant), "u-1", 3, "the store said no")
		return err
	})
	evs, err := b.ledger.Events(ctx, b.tenant, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if n := typeCount(evs, EventSyncFailed); n != 1 || len(evs) != 1 {
		t.Fatalf("%d sync.failed of %d events, want 1", n, len(evs))
	}
}

// The webhook ledger writes sent again after a read timeout act once: a
// replay is queued once, a failed attempt counted once, an acknowledged
// replay pops one queued replay (not the next one too).
func TestWebhookWritesOnceAfterResend(t *testing.T) {
	t.Parallel()
	b := eventSetup(t)
	ctx := context.Background()
	proxy, slow := slowLedger(t)
	tenant, ep := b.tenant, "ep_resend"
	rdb := b.ledger.rdb
	resent(t, proxy, slow, queueReplayScript, func() error {
		return slow.queueReplay(ctx, tenant, ep, []string{"1-1", "2-1"})
	})
	if got, _ := rdb.LRange(ctx, endpointKey(tenant, "replay", ep), 0, -1).Result(); !slices.Equal(got, []string{"1-1", "2-1"}) {
		t.Fatalf("replays %v, want queued once", got)
	}
	var n int64
	resent(t, proxy, slow, failedAttemptScript, func() (err error) {
		n, err = slow.failedAttempt(ctx, tenant, ep, Delivery{Event: "evt_1", Attempt: 1, Status: 500})
		return err
	})
	if att, _ := rdb.HGet(ctx, endpointKey(tenant, "att", ep), "evt_1").Int(); n != 1 || att != 1 {
		t.Fatalf("attempts: answered %d, stored %d, want 1", n, att)
	}
	resent(t, proxy, slow, deliveredScript, func() error {
		return slow.delivered(ctx, tenant, ep, Delivery{Event: "evt_1", Attempt: 2, Status: 204, Replay: true}, true, true)
	})
	if got, _ := rdb.LRange(ctx, endpointKey(tenant, "replay", ep), 0, -1).Result(); !slices.Equal(got, []string{"2-1"}) {
		t.Fatalf("replays %v, want the second still queued", got)
	}
	if logn, _ := rdb.LLen(ctx, endpointKey(tenant, "log", ep)).Result(); logn != 2 {
		t.Fatalf("delivery log has %d entries, want 2", logn)
	}
	if ex, _ := rdb.HExists(ctx, endpointKey(tenant, "att", ep), "evt_1").Result(); ex {
		t.Fatal("the delivered event's failed attempts are still counted")
	}
	// A run's batch of acknowledgements: logged once, the cursor moved,
	// the failed attempts of an event delivered after them forgotten.
	if _, err := slow.failedAttempt(ctx, tenant, ep, Delivery{Event: "evt_3", Attempt: 1, Status: 500}); err != nil {
		t.Fatal(err)
	}
	a := &acks{log: []Delivery{{Event: "evt_2", Attempt: 1, Status: 204}, {Event: "evt_3", Attempt: 2, Status: 204}}, cursor: "3-1", forget: []string{"evt_3"}}
	resent(t, proxy, slow, recordAcksScript, func() error { return slow.recordAcks(ctx, tenant, ep, a) })
	logged, _ := rdb.LRange(ctx, endpointKey(tenant, "log", ep), 0, -1).Result()
	if len(logged) != 5 { // 2 before, evt_3's failed attempt, the batch's 2
		t.Fatalf("delivery log has %d entries after the batch, want 5 (each delivery once)", len(logged))
	}
	var newest Delivery
	if err := json.Unmarshal([]byte(logged[0]), &newest); err != nil || newest.Event != "evt_3" {
		t.Fatalf("newest log entry %q (%v), want evt_3's", logged[0], err)
	}
	if cur, _ := rdb.Get(ctx, endpointKey(tenant, "cur", ep)).Result(); cur != "3-1" {
		t.Fatalf("cursor %q, want 3-1", cur)
	}
	if ex, _ := rdb.HExists(ctx, endpointKey(tenant, "att", ep), "evt_3").Result(); ex {
		t.Fatal("evt_3's failed attempts are still counted")
	}
	if len(a.log) != 0 || a.cursor != "" || len(a.forget) != 0 {
		t.Fatalf("acks not emptied: %+v", a)
	}
}
