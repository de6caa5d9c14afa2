package sync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	gosync "sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/queue"
)

// receiver is a real HTTP server on loopback that records what it
// acknowledged, verifying each signature with the Standard Webhooks
// reference library (not scimbridge's signing code).
type receiver struct {
	t   *testing.T
	srv *httptest.Server
	mu  gosync.Mutex
	// fail answers this many requests with 500 before acknowledging.
	fail   int
	status int // when set, every answer has this status
	secret []string
	got    []Event // acknowledged, in order
	seen   int     // requests
	bad    []string
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen++
	for _, s := range r.secret {
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			r.bad = append(r.bad, err.Error())
			continue
		}
		if err := wh.Verify(body, req.Header); err != nil {
			r.bad = append(r.bad, fmt.Sprintf("secret %d: %v", len(r.bad), err))
		}
	}
	if r.status != 0 {
		w.WriteHeader(r.status)
		return
	}
	if r.fail > 0 {
		r.fail--
		http.Error(w, "try later", http.StatusInternalServerError)
		return
	}
	var e Event
	if err := json.Unmarshal(body, &e); err != nil || e.ID != req.Header.Get("webhook-id") {
		r.bad = append(r.bad, fmt.Sprintf("body %s, id header %s", body, req.Header.Get("webhook-id")))
	}
	r.got = append(r.got, e)
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) acknowledged() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func (r *receiver) requests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen
}

func (r *receiver) check() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.bad) > 0 {
		r.t.Fatalf("receiver: %v", r.bad)
	}
}

func webhookSetup(t *testing.T) (*bundle, *Webhooks) {
	t.Helper()
	b := eventSetup(t)
	return b, &Webhooks{Ledger: b.ledger, Sealer: testSealer(t), Timeout: 5 * time.Second, DisableAfter: 24 * time.Hour}
}

func addEndpoint(t *testing.T, w *Webhooks, tenant, url string, types ...string) (string, *Endpoint) {
	t.Helper()
	in := EndpointInput{URL: &url}
	if len(types) > 0 {
		in.Types = &types
	}
	secret, e, err := w.CreateEndpoint(context.Background(), tenant, in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, "whsec_") || e.SecretsActive != 1 {
		t.Fatalf("secret %q, endpoint %+v", secret, e)
	}
	return secret, e
}

// deliverUntil runs delivery runs as asynq's retries would, up to n.
func deliverUntil(t *testing.T, w *Webhooks, tenant, ep string, n int) (runs int, err error) {
	t.Helper()
	for runs = 1; runs <= n; runs++ {
		if err = w.Deliver(context.Background(), tenant, ep); err == nil {
			return runs, nil
		}
		if !errors.Is(err, errDelivery) && !errors.Is(err, queue.ErrBusy) {
			t.Fatal(err)
		}
	}
	return runs, err
}

// A receiver that fails 5 times then succeeds gets every event once
// acknowledged, in order, each signature verified by the reference
// library; the delivery log shows the attempts.
func TestWebhookRetriesKeepOrderAndSign(t *testing.T) {
	t.Parallel()
	b, w := webhookSetup(t)
	ctx := context.Background()
	rcv := newReceiver(t)
	secret, ep := addEndpoint(t, w, b.tenant, rcv.srv.URL)
	rcv.secret = []string{secret}
	rcv.fail = 5
	r, _ := b.svc.CreateUser(ctx, b.tenant, parseUser(t, `{"userName":"wh@example.com"}`), nil)
	for _, op := range []string{`{"active":false}`, `{"active":true}`, `{"title":"x"}`} {
		if _, err := b.svc.PatchUser(ctx, b.tenant, r.ID, patch(t, `{"Operations":[{"op":"replace","value":`+op+`}]}`), 0); err != nil {
			t.Fatal(err)
		}
	}
	drainAll(t, b)
	runs, err := deliverUntil(t, w, b.tenant, ep.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	rcv.check()
	if runs != 6 {
		t.Fatalf("%d runs, want 6 (5 failures, then every event in one)", runs)
	}
	got := rcv.acknowledged()
	if tys := eventTypes(got); !slices.Equal(tys, []string{EventUserCreated, EventUserDeactivated, EventUserReactivated, EventUserUpdated}) {
		t.Fatalf("acknowledged %v", tys)
	}
	feed, _ := b.ledger.Events(ctx, b.tenant, "", 10)
	for i := range got {
		if got[i].ID != feed[i].ID || got[i].Data.Sequence != int64(i+1) {
			t.Fatalf("delivered %+v, feed %+v", got[i], feed[i])
		}
	}
	log, err := w.Deliveries(ctx, b.tenant, ep.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 9 || log[len(log)-1].Status != 500 || log[len(log)-1].Attempt != 1 || log[3].Attempt != 6 || log[3].Status != 204 ||
		!strings.Contains(log[len(log)-1].Response, "try later") {
		t.Fatalf("delivery log %+v", log)
	}
	// Caught up: another run sends nothing.
	if err := w.Deliver(ctx, b.tenant, ep.ID); err != nil || len(rcv.acknowledged()) != 4 {
		t.Fatalf("a run after catching up: %v, %d acknowledged", err, len(rcv.acknowledged()))
	}
	// Replay re-sends an event with the same id, before newer ones.
	if n, err := w.Replay(ctx, b.tenant, "", feed[1:2]); err != nil || n != 1 {
		t.Fatalf("replay: %d %v", n, err)
	}
	if err := w.Deliver(ctx, b.tenant, ep.ID); err != nil {
		t.Fatal(err)
	}
	if got := rcv.acknowledged(); len(got) != 5 || got[4].ID != feed[1].ID {
		t.Fatalf("after replay %v", eventTypes(got))
	}
}

// An endpoint's event types filter what it receives; rotation signs with
// both secrets during the overlap, with the new one only without one.
func TestWebhookTypesAndRotation(t *testing.T) {
	t.Parallel()
	b, w := webhookSetup(t)
	ctx := context.Background()
	rcv := newReceiver(t)
	old, ep := addEndpoint(t, w, b.tenant, rcv.srv.URL, EventUserDeactivated)
	fresh, e, err := w.RotateSecret(ctx, b.tenant, ep.ID, time.Hour)
	if err != nil || e.SecretsActive != 2 || fresh == old {
		t.Fatalf("rotate: %v %+v", err, e)
	}
	rcv.secret = []string{old, fresh} // each must verify on its own
	r, _ := b.svc.CreateUser(ctx, b.tenant, parseUser(t, `{"userName":"rot@example.com"}`), nil)
	_, _ = b.svc.PatchUser(ctx, b.tenant, r.ID, patch(t, `{"Operations":[{"op":"replace","value":{"active":false}}]}`), 0)
	drainAll(t, b)
	if _, err := deliverUntil(t, w, b.tenant, ep.ID, 1); err != nil {
		t.Fatal(err)
	}
	rcv.check()
	if got := eventTypes(rcv.acknowledged()); !slices.Equal(got, []string{EventUserDeactivated}) {
		t.Fatalf("filtered deliveries %v", got)
	}
	// Without overlap the old secret stops at once.
	newest, e, err := w.RotateSecret(ctx, b.tenant, ep.ID, 0)
	if err != nil || e.SecretsActive != 1 {
		t.Fatalf("rotate: %v %+v", err, e)
	}
	rcv.mu.Lock()
	rcv.secret = []string{newest}
	rcv.mu.Unlock()
	_, _ = b.svc.PatchUser(ctx, b.tenant, r.ID, patch(t, `{"Operations":[{"op":"replace","value":{"active":true}}]}`), 0)
	_, _ = b.svc.PatchUser(ctx, b.tenant, r.ID, patch(t, `{"Operations":[{"op":"replace","value":{"active":false}}]}`), 0)
	drainAll(t, b)
	if _, err := deliverUntil(t, w, b.tenant, ep.ID, 1); err != nil {
		t.Fatal(err)
	}
	rcv.check()
	if n := len(rcv.acknowledged()); n != 2 {
		t.Fatalf("%d deliveries", n)
	}
	wh, _ := standardwebhooks.NewWebhook(old)
	body := []byte(`{}`)
	h := http.Header{}
	h.Set("webhook-id", "msg_1")
	h.Set("webhook-timestamp", fmt.Sprint(time.Now().Unix()))
	keyNew, _ := secretKey(newest)
	h.Set("webhook-signature", signatureHeader([][]byte{keyNew}, "msg_1", time.Now(), body))
	if wh.Verify(body, h) == nil {
		t.Fatal("the retired secret verifies a signature made after the rotation")
	}
}

// 410 disables the endpoint at once; an endpoint failing longer than
// DisableAfter is disabled on its next failure, with the reason shown.
func TestWebhookGoneAndFailingTooLongDisable(t *testing.T) {
	t.Parallel()
	b, w := webhookSetup(t)
	ctx := context.Background()
	gone := newReceiver(t)
	gone.status = http.StatusGone
	_, ep := addEndpoint(t, w, b.tenant, gone.srv.URL)
	failing := newReceiver(t)
	failing.status = http.StatusServiceUnavailable
	_, ep2 := addEndpoint(t, w, b.tenant, failing.srv.URL)
	if _, err := b.svc.CreateUser(ctx, b.tenant, parseUser(t, `{"userName":"gone@example.com"}`), nil); err != nil {
		t.Fatal(err)
	}
	drainAll(t, b)
	if err := w.Deliver(ctx, b.tenant, ep.ID); err != nil {
		t.Fatal(err)
	}
	e, _ := w.GetEndpoint(ctx, b.tenant, ep.ID)
	if e.Enabled || !strings.Contains(e.DisabledReason, "410") {
		t.Fatalf("after 410: %+v", e)
	}
	if err := w.Deliver(ctx, b.tenant, ep2.ID); !errors.Is(err, errDelivery) {
		t.Fatalf("a 503: %v", err)
	}
	// The failing period started; pretend it started long ago.
	st, _ := b.ledger.getEndpoint(ctx, b.tenant, ep2.ID)
	long := time.Now().Add(-25 * time.Hour)
	st.FailingSince = &long
	if err := b.ledger.putEndpoint(ctx, b.tenant, st); err != nil {
		t.Fatal(err)
	}
	if err := w.Deliver(ctx, b.tenant, ep2.ID); err != nil {
		t.Fatal(err)
	}
	e, _ = w.GetEndpoint(ctx, b.tenant, ep2.ID)
	if e.Enabled || !strings.Contains(e.DisabledReason, "failing since") {
		t.Fatalf("after failing too long: %+v", e)
	}
	// Re-enabled, it starts over from its cursor.
	failing.mu.Lock()
	failing.status = 0
	failing.mu.Unlock()
	on := true
	if _, err := w.UpdateEndpoint(ctx, b.tenant, ep2.ID, EndpointInput{Enabled: &on}); err != nil {
		t.Fatal(err)
	}
	if err := w.Deliver(ctx, b.tenant, ep2.ID); err != nil || len(failing.acknowledged()) != 1 {
		t.Fatalf("after re-enable: %v, %d", err, len(failing.acknowledged()))
	}
}

// SSRF: a metadata address is refused when the endpoint is created; a
// name whose resolved address the policy does not allow, and a redirect,
// are refused when delivering (the redirect's target sees nothing).
func TestWebhookHostPolicy(t *testing.T) {
	t.Parallel()
	b, w := webhookSetup(t)
	ctx := context.Background()
	for _, u := range []string{"http://169.254.169.254/latest/meta-data", "http://[fe80::1]/x", "ftp://example.com/", "http://user:pw@example.com/"} {
		if _, _, err := w.CreateEndpoint(ctx, b.tenant, EndpointInput{URL: &u}); err == nil {
			t.Fatalf("%s accepted", u)
		}
	}
	// Only 10.0.0.0/8 allowed: "localhost" resolves to loopback, refused
	// at connect time.
	pol, _ := adapters.ParseHostPolicy([]string{"10.0.0.0/8"})
	w2 := &Webhooks{Ledger: b.ledger, Sealer: w.Sealer, Timeout: 5 * time.Second, Policy: pol}
	rcv := newReceiver(t)
	port := rcv.srv.URL[strings.LastIndex(rcv.srv.URL, ":")+1:]
	_, ep := addEndpoint(t, w2, b.tenant, "http://localhost:"+port+"/hook")
	// A redirect to another loopback receiver.
	target := newReceiver(t)
	redirect := httptest.NewServer(http.RedirectHandler(target.srv.URL, http.StatusFound))
	t.Cleanup(redirect.Close)
	_, epr := addEndpoint(t, w, b.tenant, redirect.URL)
	if _, err := b.svc.CreateUser(ctx, b.tenant, parseUser(t, `{"userName":"ssrf@example.com"}`), nil); err != nil {
		t.Fatal(err)
	}
	drainAll(t, b)
	if err := w2.Deliver(ctx, b.tenant, ep.ID); !errors.Is(err, errDelivery) {
		t.Fatalf("a denied address: %v", err)
	}
	if err := w.Deliver(ctx, b.tenant, epr.ID); !errors.Is(err, errDelivery) {
		t.Fatalf("a redirect: %v", err)
	}
	if a, b := rcv.requests(), target.requests(); a != 0 || b != 0 {
		t.Fatalf("requests reached the receivers: %d, %d", a, b)
	}
	log, _ := w.Deliveries(ctx, b.tenant, ep.ID, 1)
	if len(log) != 1 || !strings.Contains(log[0].Error, adapters.ErrHostDenied.Error()) {
		t.Fatalf("log %+v", log)
	}
	log, _ = w.Deliveries(ctx, b.tenant, epr.ID, 1)
	if len(log) != 1 || log[0].Status != http.StatusFound {
		t.Fatalf("log %+v", log)
	}
}

// Without a secret key no endpoint can be created (the secret must be
// recoverable to sign, and is never stored in clear text); with one, the
// clear secret is nowhere in Redis.
func TestWebhookSecretSealed(t *testing.T) {
	t.Parallel()
	b, w := webhookSetup(t)
	ctx := context.Background()
	u := "http://127.0.0.1:1/x"
	if _, _, err := (&Webhooks{Ledger: b.ledger}).CreateEndpoint(ctx, b.tenant, EndpointInput{URL: &u}); !errors.Is(err, ErrNoSealer) {
		t.Fatalf("without a key: %v", err)
	}
	secret, _ := addEndpoint(t, w, b.tenant, u)
	raw := redisValues(ctx, t, b.ledger.rdb, endpointsKey(b.tenant))
	if strings.Contains(raw, strings.TrimPrefix(secret, "whsec_")) {
		t.Fatal("the signing secret is in Redis in clear text")
	}
}

// The signature matches the Standard Webhooks specification's example
// (secret, id, timestamp, payload and signature from the spec's test).
func TestWebhookSignatureSpecVector(t *testing.T) {
	key, err := secretKey("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := signature(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
}

// A shutdown cuts a delivery whose receiver hangs: the run goes back to
// the queue (ErrBusy, not a failure), the event is not counted as a failed
// attempt, and the next worker delivers it.
func TestWebhookShutdownCutsAHangingDelivery(t *testing.T) {
	t.Parallel()
	b, w := webhookSetup(t)
	ctx := context.Background()
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-req.Context().Done():
		}
	}))
	defer hang.Close()
	defer close(release)
	_, ep := addEndpoint(t, w, b.tenant, hang.URL)
	if _, err := b.svc.CreateUser(ctx, b.tenant, parseUser(t, `{"userName":"stop@example.com"}`), nil); err != nil {
		t.Fatal(err)
	}
	drainAll(t, b)

	stop := make(chan struct{})
	w.Stopping = stop
	w.Timeout = time.Hour                  // only the shutdown can end this request
	go func() { <-arrived; close(stop) }() // the shutdown begins while the request hangs
	done := make(chan error, 1)
	go func() { done <- w.Deliver(ctx, b.tenant, ep.ID) }()
	select {
	case err := <-done:
		if !errors.Is(err, queue.ErrBusy) {
			t.Fatalf("a run cut by the shutdown: %v, want queue.ErrBusy", err)
		}
	case <-time.After(time.Minute): // not a timing claim: only so that a hang fails
		t.Fatal("the shutdown did not cut the hanging delivery")
	}
	if log, err := w.Deliveries(ctx, b.tenant, ep.ID, 10); err != nil || len(log) != 0 {
		t.Fatalf("delivery log after the cut: %+v, %v; want no attempt recorded", log, err)
	}

	// The next worker (not stopping) delivers the event to a receiver that answers.
	rcv := newReceiver(t)
	url := rcv.srv.URL
	if _, err := w.UpdateEndpoint(ctx, b.tenant, ep.ID, EndpointInput{URL: &url}); err != nil {
		t.Fatal(err)
	}
	w2 := &Webhooks{Ledger: w.Ledger, Sealer: w.Sealer, Timeout: w.Timeout, DisableAfter: w.DisableAfter}
	if err := w2.Deliver(ctx, b.tenant, ep.ID); err != nil {
		t.Fatal(err)
	}
	if got := eventTypes(rcv.acknowledged()); !slices.Equal(got, []string{EventUserCreated}) {
		t.Fatalf("after the restart the receiver acknowledged %v", got)
	}
}
