package queue

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"
)

// Task ids are persisted in Redis (a queued task is found again by its id,
// and a duplicate enqueue is recognised by it): their format never changes.
func TestTaskIDsAreStable(t *testing.T) {
	t.Parallel()
	p := Reconcile{Tenant: "acme", Kind: KindUser, ID: "2819c223-7f76-453a-919d-413861904646", Version: 7}
	for _, tc := range []struct{ got, want string }{
		{p.TaskID(""), "rc:acme:User:2819c223-7f76-453a-919d-413861904646:7"},
		{p.TaskID("sweep-1"), "rc:acme:User:2819c223-7f76-453a-919d-413861904646:7:sweep-1"},
		{Reconcile{Tenant: "acme", Kind: KindGroup, ID: "g1", Version: 1}.TaskID(""), "rc:acme:Group:g1:1"},
		{DrainTaskID("acme", QueueProvision, "42"), "drain:acme:provision:42"},
	} {
		if tc.got != tc.want {
			t.Errorf("task id %q, want %q", tc.got, tc.want)
		}
	}
	next := p
	next.Version++
	if next.TaskID("") == p.TaskID("") {
		t.Error("two versions share a task id: the newer would be dropped as a duplicate")
	}
}

// A payload that does not decode is permanent: the error is ErrBadPayload
// and wraps asynq.SkipRetry, so asynq archives the task at once.
func TestBadPayloadsAreSkipRetry(t *testing.T) {
	t.Parallel()
	parsers := map[string]func([]byte) error{
		"reconcile": func(b []byte) error { _, err := ParseReconcile(asynq.NewTask(TypeReconcile, b)); return err },
		"drain":     func(b []byte) error { _, err := ParseDrain(asynq.NewTask(TypeDrain, b)); return err },
		"job":       func(b []byte) error { _, err := ParseJob(asynq.NewTask(TypeImport, b)); return err },
	}
	bad := map[string][]string{
		"reconcile": {`not json`, `{}`, `{"tenant":"a","kind":"User"}`, `{"tenant":"a","id":"u"}`, `{"kind":"User","id":"u"}`, `{"tenant":1}`},
		"drain":     {`not json`, `{}`, `{"tenant":""}`, `[]`},
		"job":       {`not json`, `{}`, `{"id":"j1"}`, `{"tenant":"a"}`},
	}
	good := map[string]string{
		"reconcile": `{"tenant":"a","kind":"User","id":"u","version":3}`,
		"drain":     `{"tenant":"a"}`,
		"job":       `{"id":"j1","tenant":"a","repair":true}`,
	}
	for name, parse := range parsers {
		for _, payload := range bad[name] {
			err := parse([]byte(payload))
			if !errors.Is(err, ErrBadPayload) || !errors.Is(err, asynq.SkipRetry) {
				t.Errorf("%s %s: %v, want ErrBadPayload wrapping asynq.SkipRetry", name, payload, err)
			}
		}
		if err := parse([]byte(good[name])); err != nil {
			t.Errorf("%s %s: %v", name, good[name], err)
		}
	}
	p, err := ParseReconcile(asynq.NewTask(TypeReconcile, []byte(good["reconcile"])))
	if err != nil || p != (Reconcile{Tenant: "a", Kind: KindUser, ID: "u", Version: 3}) {
		t.Errorf("ParseReconcile = %+v, %v", p, err)
	}
	j, err := ParseJob(asynq.NewTask(TypeImport, []byte(good["job"])))
	if err != nil || j != (Job{ID: "j1", Tenant: "a", Repair: true}) {
		t.Errorf("ParseJob = %+v, %v", j, err)
	}
}

func TestPermanentWrapsSkipRetryAndTheCause(t *testing.T) {
	t.Parallel()
	cause := errors.New("the store refused it")
	err := Permanent(fmt.Errorf("apply: %w", cause))
	if !errors.Is(err, asynq.SkipRetry) || !errors.Is(err, cause) {
		t.Fatalf("Permanent: %v does not wrap both SkipRetry and its cause", err)
	}
	if isFailure(err) != true {
		t.Error("a permanent error is a failure (it is archived, counted)")
	}
}

// Contention (ErrBusy) retries in 100-300 ms with jitter; any other error
// backs off exponentially from 1 s, capped at 5 minutes, with jitter in
// the upper half of each step.
func TestRetryDelay(t *testing.T) {
	t.Parallel()
	const samples = 200
	busy := fmt.Errorf("reconcile: %w", ErrBusy)
	seen := map[time.Duration]bool{}
	for n := range samples {
		d := RetryDelay(n%30, busy, nil)
		if d < 100*time.Millisecond || d >= 300*time.Millisecond {
			t.Fatalf("busy retry %d: delay %v, want [100ms, 300ms)", n, d)
		}
		seen[d] = true
	}
	if len(seen) < samples/2 {
		t.Errorf("busy retries: %d distinct delays of %d: no jitter", len(seen), samples)
	}

	other := errors.New("store down")
	for n := 0; n <= 64; n++ {
		step := 5 * time.Minute
		if n < 9 { // 1s<<9 = 512s > 5m
			step = time.Second << n
		}
		lo, hi := step/2, step
		seen := map[time.Duration]bool{}
		for range 50 {
			d := RetryDelay(n, other, nil)
			if d < lo || d > hi {
				t.Fatalf("retry %d: delay %v, want [%v, %v]", n, d, lo, hi)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Errorf("retry %d: always %v: no jitter", n, RetryDelay(n, other, nil))
		}
	}
	if d := RetryDelay(-1, other, nil); d <= 0 || d > 5*time.Minute {
		t.Errorf("retry -1: delay %v", d)
	}
}

func TestServerConfig(t *testing.T) {
	t.Parallel()
	cfg := ServerConfig(7, 1)
	if cfg.Concurrency != 7 {
		t.Errorf("Concurrency %d, want 7", cfg.Concurrency)
	}
	if len(cfg.Queues) != len(priorities) || cfg.Queues[QueueDeprovision] <= cfg.Queues[QueueProvision] ||
		cfg.Queues[QueueProvision] <= cfg.Queues[QueueImport] {
		t.Errorf("Queues %v: deprovisioning must outrank provisioning, which outranks imports", cfg.Queues)
	}
	if cfg.IsFailure == nil || cfg.RetryDelayFunc == nil {
		t.Fatal("IsFailure or RetryDelayFunc unset: asynq's defaults would count contention as failures")
	}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{ErrBusy, false},
		{fmt.Errorf("lease taken: %w", ErrBusy), false},
		{errors.New("boom"), true},
		{Permanent(errors.New("rejected")), true},
		{context.DeadlineExceeded, true},
	} {
		if got := cfg.IsFailure(tc.err); got != tc.want {
			t.Errorf("IsFailure(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	if d := cfg.RetryDelayFunc(3, ErrBusy, nil); d >= 300*time.Millisecond {
		t.Errorf("RetryDelayFunc is not RetryDelay: busy delay %v", d)
	}
}

// NewEnqueuer has no defaults of its own: a missing setting is a wiring
// bug, reported at once.
func TestNewEnqueuerRefusesMissingSettings(t *testing.T) {
	for _, tc := range []struct {
		maxRetry int
		timeout  time.Duration
	}{{-1, time.Minute}, {20, 0}, {20, -time.Second}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewEnqueuer(maxRetry %d, timeout %s) did not panic", tc.maxRetry, tc.timeout)
				}
			}()
			NewEnqueuer(nil, tc.maxRetry, tc.timeout)
		}()
	}
}

func TestQueuesSpreadOverShards(t *testing.T) {
	t.Parallel()
	if got := QueueName(QueueProvision, "acme", 1); got != QueueProvision {
		t.Errorf("one shard: %q, want the class's own name", got)
	}
	if got := QueueName(QueueImport, "acme", 8); got != QueueImport {
		t.Errorf("operator jobs are not sharded: %q", got)
	}
	qs := Queues(8)
	if len(qs) != 8+8+1 {
		t.Fatalf("Queues(8): %d queues %v, want 8 deprovision, 8 provision, 1 import", len(qs), qs)
	}
	used := map[string]int{}
	for i := range 400 {
		tenant := fmt.Sprintf("tenant-%d", i)
		q := QueueName(QueueProvision, tenant, 8)
		if QueueName(QueueProvision, tenant, 8) != q {
			t.Fatalf("tenant %s: queue not stable", tenant)
		}
		if qs[q] != priorities[QueueProvision] {
			t.Fatalf("tenant %s: queue %q not served with the provisioning weight (%v)", tenant, q, qs)
		}
		d := QueueName(QueueDeprovision, tenant, 8)
		if qs[d] <= qs[q] {
			t.Fatalf("tenant %s: deprovisioning queue %q does not outrank %q", tenant, d, q)
		}
		used[q]++
	}
	// 400 tenants over 8 queues: every queue gets some (a hash, not one queue).
	if len(used) != 8 {
		t.Errorf("400 tenants used %d of 8 queues: %v", len(used), used)
	}
}

// A delivery run over its tenant's cap is busy (not a failure) and comes
// back in 1-2 s; other busy runs sooner; a failed delivery backs off.
func TestWebhookRetryDelayTenantBusy(t *testing.T) {
	cfg := WebhookServerConfig(4)
	if cfg.Concurrency != 4 || len(cfg.Queues) != 1 || cfg.Queues[QueueWebhooks] != 1 {
		t.Fatalf("webhook server: concurrency %d, queues %v; want 4 on the webhooks queue alone", cfg.Concurrency, cfg.Queues)
	}
	if cfg.IsFailure(ErrWebhookTenantBusy) || cfg.IsFailure(fmt.Errorf("wrapped: %w", ErrWebhookTenantBusy)) {
		t.Fatal("a run over its tenant's cap counted as a failure")
	}
	for range 100 {
		if d := WebhookRetryDelay(7, ErrWebhookTenantBusy, nil); d < time.Second || d > 2*time.Second {
			t.Fatalf("tenant busy: retry in %v, want 1-2 s", d)
		}
		if d := WebhookRetryDelay(7, ErrBusy, nil); d >= 300*time.Millisecond {
			t.Fatalf("busy: retry in %v", d)
		}
		if d := WebhookRetryDelay(0, errors.New("500"), nil); d < 2500*time.Millisecond || d > 5*time.Second {
			t.Fatalf("failed: retry in %v", d)
		}
	}
}
