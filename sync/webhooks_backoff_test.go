package sync

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/scimbridge/scimbridge/internal/testsupport"
	"github.com/scimbridge/scimbridge/queue"
)

// queueEnqueuer queues delivery runs on a test's own queue.
type queueEnqueuer struct {
	enq  *queue.Enqueuer
	name string
}

func (q queueEnqueuer) EnqueueWebhook(ctx context.Context, p queue.Webhook, salt string, timeout time.Duration) error {
	return q.enq.EnqueueWebhookOn(ctx, q.name, p, salt, timeout)
}

// webhookWorker runs w's deliveries on a real asynq server, on a queue of
// the test's own (in the queue tests' database). A failed run's retry is
// an hour away: the test runs it when it wants (RunTask), so each attempt
// is one the test scheduled. It returns the inspector and the queue name.
func webhookWorker(t *testing.T, w *Webhooks) (*asynq.Inspector, string) {
	t.Helper()
	return webhookWorkerN(t, w, 2)
}

// webhookWorkerN is webhookWorker with concurrency delivery workers.
func webhookWorkerN(t *testing.T, w *Webhooks, concurrency int) (*asynq.Inspector, string) {
	t.Helper()
	c := testsupport.Redis(t, func(o *redis.Options) { o.DB = testsupport.DBQueue })
	o := c.Options()
	opt := asynq.RedisClientOpt{Addr: o.Addr, Password: o.Password, DB: o.DB}
	insp := asynq.NewInspector(opt)
	t.Cleanup(func() { _ = insp.Close() })
	var rb [6]byte
	_, _ = rand.Read(rb[:])
	name := "whtest-" + hex.EncodeToString(rb[:])
	enq := queue.NewEnqueuer(asynq.NewClient(opt), 3, time.Minute)
	t.Cleanup(func() { _ = enq.Close() })
	w.Enqueuer = queueEnqueuer{enq: enq, name: name}
	cfg := queue.WebhookServerConfig(concurrency)
	cfg.Queues = map[string]int{name: 1}
	cfg.LogLevel = asynq.FatalLevel
	cfg.RetryDelayFunc = func(n int, err error, tk *asynq.Task) time.Duration {
		if errors.Is(err, queue.ErrBusy) {
			return 10 * time.Millisecond
		}
		return time.Hour
	}
	srv := asynq.NewServer(opt, cfg)
	mux := asynq.NewServeMux()
	w.Register(mux)
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Shutdown()
		_ = insp.DeleteQueue(name, true)
	})
	return insp, name
}

// waitFor polls cond until it holds (the test fails after a minute).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func queueCounts(t *testing.T, insp *asynq.Inspector, name string) *asynq.QueueInfo {
	t.Helper()
	qi, err := insp.GetQueueInfo(name)
	if err != nil {
		t.Fatal(err)
	}
	return qi
}

// A receiver that always fails is tried once per scheduled attempt of the
// endpoint's one pending run: new events (kicks) and sweeps while it
// backs off queue no other task and send nothing; when the retry comes
// (and the receiver is back) every event goes, in order; after that a new
// event is a new run.
func TestWebhookBackoffOnePendingRun(t *testing.T) {
	t.Parallel()
	b, w := webhookSetup(t)
	ctx := context.Background()
	insp, name := webhookWorker(t, w)
	rcv := newReceiver(t)
	secret, _ := addEndpoint(t, w, b.tenant, rcv.srv.URL)
	rcv.secret = []string{secret}
	rcv.mu.Lock()
	rcv.status = 500
	rcv.mu.Unlock()
	newEvent := func(i int) {
		t.Helper()
		if _, err := b.svc.CreateUser(ctx, b.tenant, parseUser(t, fmt.Sprintf(`{"userName":"bo%d@example.com"}`, i)), nil); err != nil {
			t.Fatal(err)
		}
		drainAll(t, b)
		w.Kick(ctx, b.tenant)
	}
	inRetry := func(requests int) func() bool {
		return func() bool {
			qi := queueCounts(t, insp, name)
			return rcv.requests() == requests && qi.Retry == 1 && qi.Active == 0
		}
	}
	newEvent(0)
	waitFor(t, "the first attempt, failed", inRetry(1))
	for attempt := 1; attempt <= 3; attempt++ {
		for i := range 4 {
			newEvent(attempt*10 + i)
			w.Sweep(ctx, []string{b.tenant})
		}
		qi := queueCounts(t, insp, name)
		if n := qi.Pending + qi.Active + qi.Scheduled + qi.Retry + qi.Completed + qi.Archived; n != 1 || qi.Retry != 1 {
			t.Fatalf("attempt %d: kicks and sweeps while backing off: %d tasks (%+v), want the one waiting for its retry", attempt, n, qi)
		}
		if got := rcv.requests(); got != attempt {
			t.Fatalf("attempt %d: the receiver was tried %d times, want %d (once per scheduled attempt)", attempt, got, attempt)
		}
		retries, err := insp.ListRetryTasks(name)
		if err != nil || len(retries) != 1 {
			t.Fatalf("retry tasks %v %v", retries, err)
		}
		if attempt == 3 {
			rcv.mu.Lock()
			rcv.status = 0 // back: the next attempt delivers
			rcv.mu.Unlock()
			if err := insp.RunTask(name, retries[0].ID); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the run to catch up", func() bool {
				qi := queueCounts(t, insp, name)
				return qi.Completed == 1 && qi.Pending+qi.Active+qi.Retry == 0
			})
			break
		}
		if err := insp.RunTask(name, retries[0].ID); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the scheduled attempt, failed", inRetry(attempt+1))
	}
	rcv.check()
	feed, err := b.ledger.Events(ctx, b.tenant, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	got := rcv.acknowledged()
	if len(got) != len(feed) || len(feed) != 13 || rcv.requests() != 3+len(feed) {
		t.Fatalf("acknowledged %d of %d events in %d requests", len(got), len(feed), rcv.requests())
	}
	for i := range got {
		if got[i].ID != feed[i].ID {
			t.Fatalf("event %d: delivered %s, feed %s", i, got[i].ID, feed[i].ID)
		}
	}
	// Caught up, the run's task id is spent: a new event is a new run.
	newEvent(99)
	waitFor(t, "the new event delivered", func() bool { return len(rcv.acknowledged()) == 14 })
}

// An operator's rotation and disable made while a run waits on the
// receiver stand after the run records its outcome (a failure's failing
// period, a 410's disable): the run writes only the fields it owns, on
// the endpoint as stored now.
func TestWebhookRunKeepsOperatorChanges(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		status  int
		disable bool
	}{
		{"failure, rotated and disabled", http.StatusInternalServerError, true},
		{"410, rotated", http.StatusGone, false},
		{"410, rotated and disabled", http.StatusGone, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, w := webhookSetup(t)
			ctx := context.Background()
			arrived, release := make(chan struct{}, 1), make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
				arrived <- struct{}{}
				<-release
				rw.WriteHeader(tc.status)
			}))
			t.Cleanup(srv.Close)
			_, ep := addEndpoint(t, w, b.tenant, srv.URL)
			if _, err := b.svc.CreateUser(ctx, b.tenant, parseUser(t, `{"userName":"lost@example.com"}`), nil); err != nil {
				t.Fatal(err)
			}
			drainAll(t, b)
			done := make(chan error, 1)
			go func() { done <- w.Deliver(ctx, b.tenant, ep.ID) }()
			<-arrived
			secret, _, err := w.RotateSecret(ctx, b.tenant, ep.ID, 0)
			if err != nil {
				t.Fatal(err)
			}
			if tc.disable {
				off := false
				if _, err := w.UpdateEndpoint(ctx, b.tenant, ep.ID, EndpointInput{Enabled: &off}); err != nil {
					t.Fatal(err)
				}
			}
			close(release)
			err = <-done
			if err != nil { // the endpoint is disabled either way: the run ends
				t.Fatalf("run: %v", err)
			}
			e, err := b.ledger.getEndpoint(ctx, b.tenant, ep.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(e.Secrets) != 1 {
				t.Fatalf("%d secrets, want the rotated one only", len(e.Secrets))
			}
			if s, err := w.Sealer.Open(e.Secrets[0].Sealed, b.tenant+"/webhook/"+ep.ID); err != nil || s != secret {
				t.Fatalf("the stored secret is not the rotated one (%v): the run wrote back its old copy", err)
			}
			switch {
			case tc.disable && (e.Enabled || e.DisabledReason != ""):
				t.Fatalf("operator's disable not kept: enabled %v, reason %q", e.Enabled, e.DisabledReason)
			case !tc.disable && (e.Enabled || !strings.Contains(e.DisabledReason, "410")):
				t.Fatalf("410 did not disable: enabled %v, reason %q", e.Enabled, e.DisabledReason)
			case tc.status == http.StatusInternalServerError && e.FailingSince == nil:
				t.Fatal("the run's failing period not recorded")
			}
		})
	}
}

// An endpoint whose stored URL makes no request is disabled with a reason
// that does not repeat the URL (its query may carry a token).
func TestWebhookBadURLReasonHidesTheQuery(t *testing.T) {
	t.Parallel()
	b, w := webhookSetup(t)
	ctx := context.Background()
	rcv := newReceiver(t)
	_, ep := addEndpoint(t, w, b.tenant, rcv.srv.URL)
	// Stored as an older release might have let it in.
	if _, err := b.ledger.updateEndpoint(ctx, b.tenant, ep.ID, func(e *storedEndpoint) bool {
		e.URL = "http://bad host.example/hook?token=s3cr3t-t0ken"
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.CreateUser(ctx, b.tenant, parseUser(t, `{"userName":"badurl@example.com"}`), nil); err != nil {
		t.Fatal(err)
	}
	drainAll(t, b)
	if err := w.Deliver(ctx, b.tenant, ep.ID); err != nil {
		t.Fatal(err)
	}
	e, err := w.GetEndpoint(ctx, b.tenant, ep.ID)
	if err != nil {
		t.Fatal(err)
	}
	if e.Enabled || !strings.Contains(e.DisabledReason, "does not make a request") || strings.Contains(e.DisabledReason, "s3cr3t") {
		t.Fatalf("enabled %v, reason %q", e.Enabled, e.DisabledReason)
	}
}

// *.acknowledged events: an endpoint that lists user.acknowledged gets it
// when the front door acknowledges (before the store holds the write),
// then the user.created of the apply, in order through its runs; an
// endpoint taking every type gets neither ack; with no endpoint listing
// one, no ack event is recorded.
func TestWebhookAcknowledgedEvents(t *testing.T) {
	t.Parallel()
	b, w := webhookSetup(t)
	ctx := context.Background()
	if _, err := b.svc.CreateUser(ctx, b.tenant, parseUser(t, `{"userName":"noack@example.com"}`), nil); err != nil {
		t.Fatal(err)
	}
	all := newReceiver(t)
	drainAll(t, b)
	sa, epAll := addEndpoint(t, w, b.tenant, all.srv.URL)
	all.secret = []string{sa}
	if evs, _ := b.ledger.Events(ctx, b.tenant, "", 100); typeCount(evs, EventUserAcknowledged) != 0 {
		t.Fatalf("ack events with no endpoint listing them: %v", eventTypes(evs))
	}
	early := newReceiver(t)
	se, epEarly := addEndpoint(t, w, b.tenant, early.srv.URL, EventUserAcknowledged, EventUserCreated)
	early.secret = []string{se}
	r, err := b.svc.CreateUser(ctx, b.tenant, parseUser(t, `{"userName":"ack@example.com"}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Acknowledged, not applied yet: the early endpoint already hears of it.
	if err := w.Deliver(ctx, b.tenant, epEarly.ID); err != nil {
		t.Fatal(err)
	}
	got := early.acknowledged()
	if tys := eventTypes(got); !slices.Equal(tys, []string{EventUserAcknowledged}) || got[0].Data.ID != r.ID || got[0].Data.Version != 1 ||
		got[0].AcknowledgedAt == nil || len(got[0].Data.Resource) == 0 {
		t.Fatalf("before the apply: %+v", got)
	}
	drainAll(t, b)
	for _, ep := range []string{epEarly.ID, epAll.ID} {
		if err := w.Deliver(ctx, b.tenant, ep); err != nil {
			t.Fatal(err)
		}
	}
	early.check()
	all.check()
	if tys := eventTypes(early.acknowledged()); !slices.Equal(tys, []string{EventUserAcknowledged, EventUserCreated}) {
		t.Fatalf("early endpoint got %v", tys)
	}
	if tys := eventTypes(all.acknowledged()); !slices.Equal(tys, []string{EventUserCreated}) {
		t.Fatalf("an endpoint taking every type got %v, want no ack", tys)
	}
	if got := early.acknowledged(); got[1].Data.Sequence <= got[0].Data.Sequence {
		t.Fatalf("sequences %d, %d", got[0].Data.Sequence, got[1].Data.Sequence)
	}
	// The endpoint no longer listing it: no more ack events.
	types := []string{EventUserCreated}
	if _, err := w.UpdateEndpoint(ctx, b.tenant, epEarly.ID, EndpointInput{Types: &types}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.CreateUser(ctx, b.tenant, parseUser(t, `{"userName":"late@example.com"}`), nil); err != nil {
		t.Fatal(err)
	}
	if evs, _ := b.ledger.Events(ctx, b.tenant, "", 100); typeCount(evs, EventUserAcknowledged) != 1 {
		t.Fatalf("events %v, want the one ack", eventTypes(evs))
	}
}
