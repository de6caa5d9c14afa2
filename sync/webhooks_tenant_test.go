package sync

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	gosync "sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/scimbridge/scimbridge/queue"
)

// addStreamEvent appends a user.created event of resource rid to the
// tenant's stream at stream id id ("*": now), as the emit script would.
func addStreamEvent(t *testing.T, rdb redis.UniversalClient, tenant, id, rid string, n int) string {
	t.Helper()
	got, err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: eventStream(tenant), ID: id,
		Values: []any{"type", EventUserCreated, "kind", queue.KindUser, "rid", rid, "v", "1", "n", strconv.Itoa(n)}}).Result()
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// metricValue reads one series of reg: a counter's or gauge's value, a
// histogram's sample count; found is false when the series does not exist.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) (v float64, found bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, want := range labels {
				if have[k] != want {
					continue next
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue(), true
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue(), true
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount()), true
			}
		}
	}
	return 0, false
}

// Tenant A's receivers all hang; it has more endpoints than its cap. On
// three delivery workers, A holds at most its cap (2) of them: tenant B's
// delivery, queued while A hangs, is acknowledged while A's requests are
// still held (none of them cut by the timeout). Released, every A
// endpoint gets its event, and A's slots are given back.
func TestWebhookTenantCapLeavesWorkersToOthers(t *testing.T) {
	t.Parallel()
	rdb := testRedis(t)
	tenantA, tenantB := testTenant(t, rdb), testTenant(t, rdb)
	l := NewLedger(rdb, testSealer(t))
	l.SetEventRetention(time.Hour)
	reg := prometheus.NewRegistry()
	// The hang outlasts the test's wait: without the cap, B's delivery
	// would wait for a timeout of A's (counted below).
	w := &Webhooks{Ledger: l, Sealer: testSealer(t), Timeout: 30 * time.Second, DisableAfter: 24 * time.Hour,
		TenantConcurrency: 2, Metrics: NewWebhookMetrics(reg)}
	ctx := context.Background()
	webhookWorkerN(t, w, 3)

	var (
		mu                            gosync.Mutex
		inflight, maxInflight, cutOff int
		acked                         = map[string]int{}
	)
	release := make(chan struct{})
	released := gosync.OnceFunc(func() { close(release) })
	hang := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		mu.Lock()
		inflight++
		maxInflight = max(maxInflight, inflight)
		mu.Unlock()
		defer func() {
			mu.Lock()
			inflight--
			mu.Unlock()
		}()
		select {
		case <-release:
			mu.Lock()
			acked[req.URL.Path]++
			mu.Unlock()
			rw.WriteHeader(http.StatusNoContent)
		case <-req.Context().Done():
			mu.Lock()
			cutOff++
			mu.Unlock()
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(released) // first: the held requests end before the server closes
	const endpointsA = 4
	for i := range endpointsA {
		addEndpoint(t, w, tenantA, hang.URL+"/a"+strconv.Itoa(i))
	}
	rcvB := newReceiver(t)
	secretB, _ := addEndpoint(t, w, tenantB, rcvB.srv.URL)
	rcvB.secret = []string{secretB}

	addStreamEvent(t, rdb, tenantA, "*", "ua", 1)
	w.Kick(ctx, tenantA)
	waitFor(t, "tenant A's runs hanging at its cap", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return inflight == 2
	})
	addStreamEvent(t, rdb, tenantB, "*", "ub", 1)
	w.Kick(ctx, tenantB)
	waitFor(t, "tenant B's delivery", func() bool { return len(rcvB.acknowledged()) == 1 })
	rcvB.check()
	mu.Lock()
	hanging, cut := inflight, cutOff
	mu.Unlock()
	if hanging != 2 || cut != 0 {
		t.Fatalf("when B was delivered, %d of A's requests were held and %d cut by the timeout: want A's 2 still held, none cut", hanging, cut)
	}
	if n, _ := metricValue(t, reg, "scimbridge_webhook_tenant_throttled_total", map[string]string{"tenant": tenantA}); n == 0 {
		t.Fatal("A's runs over its cap were not counted as throttled")
	}
	if n, found := metricValue(t, reg, "scimbridge_webhook_tenant_throttled_total", map[string]string{"tenant": tenantB}); found {
		t.Fatalf("B throttled %v times", n)
	}

	released()
	waitFor(t, "every A endpoint's event", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) == endpointsA
	})
	waitFor(t, "A's slots given back", func() bool {
		n, err := rdb.ZCard(ctx, webhookSlotsKey(tenantA)).Result()
		return err == nil && n == 0
	})
	mu.Lock()
	defer mu.Unlock()
	if maxInflight != 2 {
		t.Fatalf("at most %d of A's requests at once, want its cap, 2", maxInflight)
	}
	for path, n := range acked {
		if n != 1 {
			t.Fatalf("%s acknowledged %d times", path, n)
		}
	}
	// A throttled run is no failure: no endpoint of A has a failed attempt.
	eps, err := w.Endpoints(ctx, tenantA)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range eps {
		if e.FailingSince != nil {
			t.Fatalf("endpoint %s failing since %v", e.ID, e.FailingSince)
		}
		if log, _ := w.Deliveries(ctx, tenantA, e.ID, 10); len(log) != 1 || log[0].Status != http.StatusNoContent || log[0].Attempt != 1 {
			t.Fatalf("endpoint %s: delivery log %+v, want one first attempt, acknowledged", e.ID, log)
		}
	}
}

// A run over its tenant's cap is not started: no request, no attempt
// counted, the endpoint not failing, its run generation kept (the same
// pending run retries); slots of a killed worker (expired) do not count,
// and the slots' key expires.
func TestWebhookTenantCapRefusalAndExpiredSlots(t *testing.T) {
	t.Parallel()
	b, w := webhookSetup(t)
	w.TenantConcurrency = 2
	ctx := context.Background()
	rdb := b.ledger.rdb
	rcv := newReceiver(t)
	secret, ep := addEndpoint(t, w, b.tenant, rcv.srv.URL)
	rcv.secret = []string{secret}
	addStreamEvent(t, rdb, b.tenant, "*", "u1", 1)
	key := webhookSlotsKey(b.tenant)
	live := float64(time.Now().Add(time.Hour).UnixMilli())
	if err := rdb.ZAdd(ctx, key, redis.Z{Score: live, Member: "other-run-1"}, redis.Z{Score: live, Member: "other-run-2"}).Err(); err != nil {
		t.Fatal(err)
	}
	err := w.Deliver(ctx, b.tenant, ep.ID)
	if !errors.Is(err, queue.ErrWebhookTenantBusy) || !errors.Is(err, queue.ErrBusy) {
		t.Fatalf("a run over the cap: %v, want ErrWebhookTenantBusy (an ErrBusy: retried, not a failure)", err)
	}
	if d := queue.WebhookRetryDelay(0, err, nil); d < time.Second || d > 2*time.Second {
		t.Fatalf("retry in %v, want 1-2 s", d)
	}
	if rcv.requests() != 0 {
		t.Fatalf("%d requests made over the cap", rcv.requests())
	}
	gen, _ := b.ledger.endpointGeneration(ctx, b.tenant, ep.ID)
	att, _ := b.ledger.attempts(ctx, b.tenant, ep.ID)
	e, _ := w.GetEndpoint(ctx, b.tenant, ep.ID)
	if gen != "0" || len(att) != 0 || e.FailingSince != nil {
		t.Fatalf("after a refused run: generation %s, attempts %v, failing since %v", gen, att, e.FailingSince)
	}
	// The two slots' worker was killed: their expiry has passed.
	past := float64(time.Now().Add(-time.Second).UnixMilli())
	if err := rdb.ZAdd(ctx, key, redis.Z{Score: past, Member: "other-run-1"}, redis.Z{Score: past, Member: "other-run-2"}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := w.Deliver(ctx, b.tenant, ep.ID); err != nil {
		t.Fatal(err)
	}
	if got := rcv.acknowledged(); len(got) != 1 {
		t.Fatalf("%d acknowledged, want the event", len(got))
	}
	rcv.check()
	if n, _ := rdb.Exists(ctx, key).Result(); n != 0 {
		if ms, _ := rdb.PTTL(ctx, key).Result(); ms <= 0 {
			t.Fatalf("the slots' key has no expiry (%v): a killed worker's slots would stay", ms)
		}
	}
	release, ok, err := b.ledger.takeWebhookSlot(ctx, b.tenant, 2, time.Minute)
	if err != nil || !ok {
		t.Fatalf("take: %v %v", ok, err)
	}
	if ms, _ := rdb.PTTL(ctx, key).Result(); ms <= 0 || ms > time.Minute {
		t.Fatalf("the slots' key expires in %v, want within the slot's ttl", ms)
	}
	release()
}

// The oldest-undelivered gauge comes from sweeps too: an endpoint no run
// has visited (its runs stopped) shows its backlog's age; a run that
// catches up sets 0; a disabled endpoint's series is removed. A replay's
// delivery is counted as a delivery but not as lag.
func TestWebhookBacklogGaugeFromSweepAndReplayNotLag(t *testing.T) {
	t.Parallel()
	b, w := webhookSetup(t)
	reg := prometheus.NewRegistry()
	w.Metrics = NewWebhookMetrics(reg)
	ctx := context.Background()
	rcv := newReceiver(t)
	secret, ep := addEndpoint(t, w, b.tenant, rcv.srv.URL)
	rcv.secret = []string{secret}
	// An event an hour old that no run has delivered.
	old := time.Now().Add(-time.Hour)
	addStreamEvent(t, b.ledger.rdb, b.tenant, strconv.FormatInt(old.UnixMilli(), 10)+"-0", "u1", 1)
	labels := map[string]string{"tenant": b.tenant, "endpoint": ep.ID}
	if _, found := metricValue(t, reg, "scimbridge_webhook_oldest_undelivered_seconds", labels); found {
		t.Fatal("gauge set before any run or sweep")
	}
	w.Sweep(ctx, []string{b.tenant})
	if age, found := metricValue(t, reg, "scimbridge_webhook_oldest_undelivered_seconds", labels); !found || age < time.Hour.Seconds() {
		t.Fatalf("after a sweep: gauge %v (found %v), want the hour-old event's age", age, found)
	}
	if rcv.requests() != 0 {
		t.Fatal("the sweep delivered (it only kicks, and there is no queue here)")
	}
	// A run delivers it: caught up, one lag sample (about an hour).
	if err := w.Deliver(ctx, b.tenant, ep.ID); err != nil {
		t.Fatal(err)
	}
	if age, _ := metricValue(t, reg, "scimbridge_webhook_oldest_undelivered_seconds", labels); age != 0 {
		t.Fatalf("after catching up: gauge %v", age)
	}
	lag := map[string]string{"tenant": b.tenant}
	if n, _ := metricValue(t, reg, "scimbridge_webhook_delivery_lag_seconds", lag); n != 1 {
		t.Fatalf("%v lag samples, want 1", n)
	}
	// Replayed (as `scimbridge events replay` does): delivered again, not lag.
	feed, err := b.ledger.Events(ctx, b.tenant, "", 10)
	if err != nil || len(feed) != 1 {
		t.Fatalf("feed %v %v", feed, err)
	}
	if _, n, err := w.ReplaySelected(ctx, b.tenant, ReplaySelection{EventID: feed[0].ID}); err != nil || n != 1 {
		t.Fatalf("replay: %d %v", n, err)
	}
	if err := w.Deliver(ctx, b.tenant, ep.ID); err != nil {
		t.Fatal(err)
	}
	if got := rcv.acknowledged(); len(got) != 2 || got[1].ID != feed[0].ID {
		t.Fatalf("acknowledged %v", eventTypes(got))
	}
	rcv.check()
	if n, _ := metricValue(t, reg, "scimbridge_webhook_deliveries_total", map[string]string{"tenant": b.tenant, "outcome": "success"}); n != 2 {
		t.Fatalf("%v successful deliveries counted, want 2", n)
	}
	if n, _ := metricValue(t, reg, "scimbridge_webhook_delivery_lag_seconds", lag); n != 1 {
		t.Fatalf("%v lag samples after the replay, want still 1", n)
	}
	// Caught up, a sweep keeps 0; disabled, the series goes.
	w.Sweep(ctx, []string{b.tenant})
	if age, found := metricValue(t, reg, "scimbridge_webhook_oldest_undelivered_seconds", labels); !found || age != 0 {
		t.Fatalf("caught up, after a sweep: gauge %v (found %v)", age, found)
	}
	off := false
	if _, err := w.UpdateEndpoint(ctx, b.tenant, ep.ID, EndpointInput{Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	addStreamEvent(t, b.ledger.rdb, b.tenant, "*", "u2", 1)
	w.Sweep(ctx, []string{b.tenant})
	if v, found := metricValue(t, reg, "scimbridge_webhook_oldest_undelivered_seconds", labels); found {
		t.Fatalf("a disabled endpoint's gauge is still there (%v)", v)
	}
	// Deleted (by another process: this one's series is only learnt of by
	// its sweep), the series goes too, and so does the last one of a tenant
	// left with no endpoint.
	_, ep2 := addEndpoint(t, w, b.tenant, rcv.srv.URL+"/two")
	labels2 := map[string]string{"tenant": b.tenant, "endpoint": ep2.ID}
	w.Sweep(ctx, []string{b.tenant})
	if _, found := metricValue(t, reg, "scimbridge_webhook_oldest_undelivered_seconds", labels2); !found {
		t.Fatal("the second endpoint has no gauge after a sweep")
	}
	for _, id := range []string{ep.ID, ep2.ID} {
		if err := w.DeleteEndpoint(ctx, b.tenant, id); err != nil {
			t.Fatal(err)
		}
	}
	w.Sweep(ctx, []string{b.tenant})
	if v, found := metricValue(t, reg, "scimbridge_webhook_oldest_undelivered_seconds", labels2); found {
		t.Fatalf("a deleted endpoint's gauge is still there (%v)", v)
	}
}

// A tenant that no longer receives changes still loses its events older
// than the retention: the sweeper trims every tenant's stream exactly
// (the approximate trim on append would remove none of a few entries,
// and appends no longer come). A recent event stays; a tenant without a
// stream is fine.
func TestSweeperTrimsIdleTenantsEvents(t *testing.T) {
	t.Parallel()
	b := eventSetup(t) // retention: 1 h
	ctx := context.Background()
	rdb := b.ledger.rdb
	idle, none := testTenant(t, rdb), testTenant(t, rdb)
	ms := func(d time.Duration) string { return strconv.FormatInt(time.Now().Add(-d).UnixMilli(), 10) + "-0" }
	// b.tenant: two old events and a recent one; idle: old events only.
	addStreamEvent(t, rdb, b.tenant, ms(3*time.Hour), "u1", 1)
	addStreamEvent(t, rdb, b.tenant, ms(2*time.Hour), "u2", 1)
	recent := addStreamEvent(t, rdb, b.tenant, ms(time.Minute), "u3", 1)
	for i := range 3 {
		addStreamEvent(t, rdb, idle, ms(time.Duration(5-i)*time.Hour), "u"+strconv.Itoa(i), 1)
	}
	sw := &Sweeper{Ledger: b.ledger, Enqueuer: b.enq, Tenants: staticTenants{b.tenant, idle, none}, Interval: testSweepInterval, Grace: time.Hour}
	// The sweep lock is shared with other tests' sweeps: take it fresh
	// until this test's sweep is the one that ran.
	for try := 0; ; try++ {
		rdb.Del(ctx, "sb:sweeper:lock")
		if _, err := sw.SweepOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if n, _ := rdb.XLen(ctx, eventStream(idle)).Result(); n == 0 || try == 20 {
			break
		}
	}
	if n, err := rdb.XLen(ctx, eventStream(idle)).Result(); err != nil || n != 0 {
		t.Fatalf("idle tenant: %d events left (%v), want none older than the retention", n, err)
	}
	evs, err := b.ledger.Events(ctx, b.tenant, "", 10)
	if err != nil || len(evs) != 1 || evs[0].Cursor != recent {
		t.Fatalf("tenant with a recent event: %v %v, want only %s", evs, err, recent)
	}
	if n, _ := rdb.Exists(ctx, eventStream(none)).Result(); n != 0 {
		t.Fatal("a stream was made for a tenant without events")
	}
	// Events off: nothing is trimmed.
	b.ledger.SetEventRetention(0)
	if n, err := b.ledger.TrimEvents(ctx, []string{b.tenant}); err != nil || n != 0 {
		t.Fatalf("trim with events off: %d %v", n, err)
	}
}

// A webhook sweep reads every tenant's endpoints on its first pass and
// every webhookSweepFullEvery; in between it visits only the tenants that
// had endpoints (or could not be read) at the last full pass.
func TestWebhookSweepVisitsKnownTenantsBetweenFullPasses(t *testing.T) {
	var s sweptTenants
	all := []string{"a", "b", "c"}
	t0 := time.Now()
	got, full := s.pick(all, t0)
	if !full || len(got) != 3 {
		t.Fatalf("first pass: %v full=%v, want every tenant, full", got, full)
	}
	s.record([]string{"b"})
	got, full = s.pick(all, t0.Add(time.Minute))
	if full || len(got) != 1 || got[0] != "b" {
		t.Fatalf("pass a minute later: %v full=%v, want [b], not full", got, full)
	}
	got, full = s.pick(all, t0.Add(webhookSweepFullEvery))
	if !full || len(got) != 3 {
		t.Fatalf("pass after %v: %v full=%v, want every tenant, full", webhookSweepFullEvery, got, full)
	}
}
