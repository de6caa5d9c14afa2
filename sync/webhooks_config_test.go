package sync

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A configuration file's endpoint entry is applied when it changes, not
// at every start: the same entry again leaves an endpoint scimbridge
// disabled (410) disabled; a changed entry re-enables it, and its new
// secret is a rotation (both secrets sign, verified by the reference
// library, the old one until RotationOverlap ends); a changed entry with
// the same secret rotates nothing. The digest kept in Redis holds no
// secret.
func TestEnsureEndpointAppliesAChangedEntryOnce(t *testing.T) {
	t.Parallel()
	b, w := webhookSetup(t)
	ctx := context.Background()
	rdb := b.ledger.rdb
	rcv := newReceiver(t)
	on := true
	in := EndpointInput{URL: &rcv.srv.URL, Enabled: &on}
	s1 := newWebhookSecret()
	ep, err := w.EnsureEndpoint(ctx, b.tenant, in, s1)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := rdb.HGet(ctx, endpointsKey(b.tenant), ep.ID).Result()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(raw, `"config_digest":"`) || strings.Contains(raw, strings.TrimPrefix(s1, secretPrefix)) {
		t.Fatalf("stored endpoint %s: want a digest and no secret", raw)
	}
	stored := func() *storedEndpoint {
		t.Helper()
		e, err := b.ledger.getEndpoint(ctx, b.tenant, ep.ID)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	deliver := func(rid string) {
		t.Helper()
		addStreamEvent(t, rdb, b.tenant, "*", rid, 1)
		if err := w.Deliver(ctx, b.tenant, ep.ID); err != nil {
			t.Fatal(err)
		}
	}

	// The receiver answers 410: scimbridge disables the endpoint.
	rcv.mu.Lock()
	rcv.status = http.StatusGone
	rcv.mu.Unlock()
	deliver("u1")
	if e := stored(); e.Enabled || !strings.Contains(e.DisabledReason, "410") {
		t.Fatalf("after a 410: enabled %v, reason %q", e.Enabled, e.DisabledReason)
	}
	// A restart with the same entry: still disabled.
	if _, err := w.EnsureEndpoint(ctx, b.tenant, in, s1); err != nil {
		t.Fatal(err)
	}
	if e := stored(); e.Enabled || !strings.Contains(e.DisabledReason, "410") || len(e.Secrets) != 1 {
		t.Fatalf("the same entry again: enabled %v, reason %q, %d secrets; want it left as scimbridge set it", e.Enabled, e.DisabledReason, len(e.Secrets))
	}

	// The entry changed (a new secret): applied, the endpoint enabled
	// again, and both secrets sign.
	s2 := newWebhookSecret()
	before := time.Now()
	if _, err := w.EnsureEndpoint(ctx, b.tenant, in, s2); err != nil {
		t.Fatal(err)
	}
	e := stored()
	if !e.Enabled || e.DisabledReason != "" || e.DisabledAt != nil || len(e.Secrets) != 2 {
		t.Fatalf("the changed entry: enabled %v, reason %q, %d secrets", e.Enabled, e.DisabledReason, len(e.Secrets))
	}
	if e.Secrets[0].Expires != nil || e.Secrets[1].Expires == nil ||
		e.Secrets[1].Expires.Before(before.Add(RotationOverlap-time.Minute)) || e.Secrets[1].Expires.After(time.Now().Add(RotationOverlap)) {
		t.Fatalf("secrets %+v: want the new one first, the old one signing for %s", e.Secrets, RotationOverlap)
	}
	if got, _ := w.Sealer.Open(e.Secrets[0].Sealed, b.tenant+"/webhook/"+ep.ID); got != s2 {
		t.Fatal("the file's new secret does not sign first")
	}
	rcv.mu.Lock()
	rcv.status = 0
	rcv.secret = []string{s1, s2} // each must verify
	rcv.mu.Unlock()
	deliver("u2")
	if got := rcv.acknowledged(); len(got) != 2 { // u1 (its 410 was not acknowledged), then u2
		t.Fatalf("%d acknowledged after the rotation", len(got))
	}
	rcv.check()

	// The same entry again: nothing changes (the stored endpoint is the
	// same bytes).
	raw, _ = rdb.HGet(ctx, endpointsKey(b.tenant), ep.ID).Result()
	if _, err := w.EnsureEndpoint(ctx, b.tenant, in, s2); err != nil {
		t.Fatal(err)
	}
	if again, _ := rdb.HGet(ctx, endpointsKey(b.tenant), ep.ID).Result(); again != raw {
		t.Fatalf("the same entry rewrote the endpoint:\n%s\n%s", raw, again)
	}
	// Other event types, the same secret: applied, no rotation.
	types := []string{EventUserDeleted}
	in.Types = &types
	if _, err := w.EnsureEndpoint(ctx, b.tenant, in, s2); err != nil {
		t.Fatal(err)
	}
	if f := stored(); len(f.Types) != 1 || f.Types[0] != EventUserDeleted || len(f.Secrets) != 2 || f.Secrets[0].Sealed != e.Secrets[0].Sealed {
		t.Fatalf("types changed: %+v, %d secrets", f.Types, len(f.Secrets))
	}
	// The operator disables it through the API: a restart with the same
	// entry keeps it disabled.
	off := false
	if _, err := w.UpdateEndpoint(ctx, b.tenant, ep.ID, EndpointInput{Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.EnsureEndpoint(ctx, b.tenant, in, s2); err != nil {
		t.Fatal(err)
	}
	if stored().Enabled {
		t.Fatal("the same entry re-enabled an endpoint the operator disabled")
	}
}

// An endpoint stored before entries had digests (or made through the API
// at the entry's URL) takes the entry, but an endpoint scimbridge
// disabled is not re-enabled by it: it cannot be told whether the entry
// changed. From then on the entry's digest is kept.
func TestEnsureEndpointWithoutDigestKeepsADisable(t *testing.T) {
	t.Parallel()
	b, w := webhookSetup(t)
	ctx := context.Background()
	rcv := newReceiver(t)
	secret, ep := addEndpoint(t, w, b.tenant, rcv.srv.URL)
	if _, err := b.ledger.updateEndpoint(ctx, b.tenant, ep.ID, func(e *storedEndpoint) bool {
		now := time.Now().UTC()
		e.Enabled, e.DisabledReason, e.DisabledAt = false, "the receiver answered 410 Gone", &now
		return true
	}); err != nil {
		t.Fatal(err)
	}
	on := true
	types := []string{EventUserCreated}
	if _, err := w.EnsureEndpoint(ctx, b.tenant, EndpointInput{URL: &rcv.srv.URL, Enabled: &on, Types: &types}, secret); err != nil {
		t.Fatal(err)
	}
	e, err := b.ledger.getEndpoint(ctx, b.tenant, ep.ID)
	if err != nil {
		t.Fatal(err)
	}
	if e.Enabled || e.DisabledReason == "" || e.ConfigDigest == "" || len(e.Types) != 1 || len(e.Secrets) != 1 {
		t.Fatalf("enabled %v, reason %q, digest %q, types %v, %d secrets", e.Enabled, e.DisabledReason, e.ConfigDigest, e.Types, len(e.Secrets))
	}
}
