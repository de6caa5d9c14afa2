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
