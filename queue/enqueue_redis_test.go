package queue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/scimbridge/scimbridge/internal/testsupport"
)

// testRedisOpt is the test Redis on this package's own database
// (testsupport.DBQueue): asynq's list of queues is per database, and each
// test uses a queue name of its own.
func testRedisOpt(t testing.TB) asynq.RedisClientOpt {
	t.Helper()
	c := testsupport.Redis(t, func(o *redis.Options) { o.DB = testsupport.DBQueue })
	o := c.Options()
	return asynq.RedisClientOpt{Addr: o.Addr, Password: o.Password, DB: o.DB}
}

// testQueue is a queue name of the test's own, deleted at cleanup.
func testQueue(t *testing.T, insp *asynq.Inspector) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "qtest-" + hex.EncodeToString(b[:])
	t.Cleanup(func() { _ = insp.DeleteQueue(name, true) })
	return name
}

type enqueueBundle struct {
	enq   *Enqueuer
	insp  *asynq.Inspector
	queue string
}

func setupEnqueue(t *testing.T) enqueueBundle {
	t.Helper()
	opt := testRedisOpt(t)
	insp := asynq.NewInspector(opt)
	t.Cleanup(func() { _ = insp.Close() })
	enq := NewEnqueuer(asynq.NewClient(opt), 4, 90*time.Second)
	t.Cleanup(func() { _ = enq.Close() })
	return enqueueBundle{enq: enq, insp: insp, queue: testQueue(t, insp)}
}

// tracedContext is a context with a sampled span context and a request id,
// and a propagator that writes W3C trace context.
func tracedContext() (context.Context, trace.SpanContext) {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled})
	ctx := trace.ContextWithSpanContext(context.Background(), sc)
	return WithCorrelation(ctx, Correlation{RequestID: "req-queue-1", Tenant: "acme"}), sc
}

// TestMain installs the W3C propagator (the process does the same in
// cmd/scimbridge), so task headers carry trace context.
func TestMain(m *testing.M) {
	otel.SetTextMapPropagator(propagation.TraceContext{})
	os.Exit(m.Run())
}

func TestEnqueueStoresTheTaskWithItsOptionsAndHeaders(t *testing.T) {
	t.Parallel()
	b := setupEnqueue(t)
	ctx, sc := tracedContext()
	p := Reconcile{Tenant: "acme", Kind: KindUser, ID: "u-1", Version: 3}
	if err := b.enq.Enqueue(ctx, b.queue, p, ""); err != nil {
		t.Fatal(err)
	}
	info, err := b.insp.GetTaskInfo(b.queue, p.TaskID(""))
	if err != nil {
		t.Fatalf("the task is not queued under its id: %v", err)
	}
	if info.Type != TypeReconcile || info.State != asynq.TaskStatePending || info.MaxRetry != 4 || info.Timeout != 90*time.Second {
		t.Errorf("task %s: type %q state %v max retry %d timeout %v; want %q pending 4 90s",
			info.ID, info.Type, info.State, info.MaxRetry, info.Timeout, TypeReconcile)
	}
	got, err := ParseReconcile(asynq.NewTask(info.Type, info.Payload))
	if err != nil || got != p {
		t.Errorf("payload %s: %+v, %v; want %+v", info.Payload, got, err, p)
	}
	if info.Headers[HeaderRequestID] != "req-queue-1" {
		t.Errorf("headers %v: no request id", info.Headers)
	}
	// The worker's context continues the enqueuing trace: its parent is
	// the producer span, a child of the request's span.
	wctx := ContextFromTask(context.Background(), asynq.NewTaskWithHeaders(info.Type, info.Payload, info.Headers))
	remote := trace.SpanContextFromContext(wctx)
	if !remote.IsValid() || remote.TraceID() != sc.TraceID() {
		t.Errorf("headers %v: trace context lost (got %v)", info.Headers, remote)
	}
	if CorrelationFrom(wctx).RequestID != "req-queue-1" {
		t.Errorf("request id not restored from headers %v", info.Headers)
	}
}

// A duplicate enqueue (same resource version) is success and leaves one
// task; a salted one is a second task.
func TestDuplicateEnqueueIsSuccess(t *testing.T) {
	t.Parallel()
	b := setupEnqueue(t)
	ctx := context.Background()
	p := Reconcile{Tenant: "acme", Kind: KindGroup, ID: "g-1", Version: 9}
	for i := range 3 {
		if err := b.enq.Enqueue(ctx, b.queue, p, ""); err != nil {
			t.Fatalf("enqueue %d: %v, want success", i, err)
		}
	}
	if err := b.enq.Enqueue(ctx, b.queue, p, "sweep"); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := b.enq.EnqueueDrain(ctx, b.queue, "acme", "gen-1"); err != nil {
			t.Fatalf("drain enqueue %d: %v, want success", i, err)
		}
	}
	tasks, err := b.insp.ListPendingTasks(b.queue)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, ti := range tasks {
		ids[ti.ID] = true
	}
	want := []string{p.TaskID(""), p.TaskID("sweep"), DrainTaskID("acme", b.queue, "gen-1")}
	if len(tasks) != len(want) {
		t.Errorf("%d pending tasks %v, want %d", len(tasks), ids, len(want))
	}
	for _, id := range want {
		if !ids[id] {
			t.Errorf("task %s missing from %v", id, ids)
		}
	}
}

// An operator job runs at most once: no retries, its id is the job's.
func TestEnqueueJobIsNotRetried(t *testing.T) {
	t.Parallel()
	b := setupEnqueue(t)
	var rb [6]byte
	_, _ = rand.Read(rb[:])
	j := Job{ID: "qtest-" + hex.EncodeToString(rb[:]), Tenant: "acme"}
	t.Cleanup(func() { _ = b.insp.DeleteTask(QueueImport, "job:"+j.ID) })
	for i := range 2 {
		if err := b.enq.EnqueueJob(context.Background(), TypeDriftCheck, j); err != nil {
			t.Fatalf("enqueue job %d: %v", i, err)
		}
	}
	info, err := b.insp.GetTaskInfo(QueueImport, "job:"+j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if info.MaxRetry != 0 || info.Type != TypeDriftCheck || info.Timeout != JobTimeout {
		t.Errorf("job task: max retry %d type %q timeout %v", info.MaxRetry, info.Type, info.Timeout)
	}
}

// Redis unreachable: the enqueue fails (wrapped, naming the task), it is
// never reported as done.
func TestEnqueueFailsWhenRedisIsDown(t *testing.T) {
	t.Parallel()
	enq := NewEnqueuer(asynq.NewClient(asynq.RedisClientOpt{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond}), 1, time.Second)
	defer enq.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p := Reconcile{Tenant: "acme", Kind: KindUser, ID: "u-down", Version: 1}
	err := enq.Enqueue(ctx, "qtest-down", p, "")
	if err == nil {
		t.Fatal("enqueue with Redis down succeeded")
	}
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		t.Fatalf("enqueue error %v is a task id conflict", err)
	}
	if want := p.TaskID(""); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name the task %s", err, want)
	}
}
