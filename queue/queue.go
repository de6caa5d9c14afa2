package queue

// What asynq does with a handler's error is decided in this file and
// nowhere else (which errors are permanent is the caller's decision, taken
// from adapters.Classify; how asynq treats each answer is this one):
//
//   - nil: done.
//   - an error wrapping ErrBusy (the resource's lease or the tenant's store
//     slots are taken): not a failure (isFailure, asynq's IsFailure), so
//     no attempt is spent; retried in 100-300 ms (RetryDelay).
//   - an error made with Permanent (it wraps asynq.SkipRetry: a payload that
//     does not decode, a store that rejected the data, a wrong store
//     configuration): archived at once, never retried.
//   - any other error: a failure; retried with capped, jittered exponential
//     backoff (RetryDelay) until the task's MaxRetry, then archived (the
//     sweeper re-enqueues a resource that stays dirty).
//
// Handlers answer with ErrBusy and Permanent rather than with asynq's
// sentinels; the retry count and timeout of a task are the Enqueuer's.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
)

// TypeReconcile is the task that brings one resource's store entry in line
// with its desired state. Task types are persisted in Redis: never rename.
const TypeReconcile = "scimbridge:reconcile"

// Queues, highest priority first. Deprovisioning (deactivate, delete) must
// not wait behind a bulk initial push of creates.
const (
	QueueDeprovision = "deprovision"
	QueueProvision   = "provision"
	QueueImport      = "import"
)

// priorities maps each queue class to its asynq weight.
var priorities = map[string]int{
	QueueDeprovision: 6,
	QueueProvision:   3,
	QueueImport:      1,
}

// sharded are the classes spread over shards by tenant. asynq keeps a
// queue's keys in one hash slot (one Redis Cluster node), so one queue per
// class would put all of a class's load on one primary; with shards, each
// tenant's work goes to one of shards queues of its class, and a cluster's
// primaries share it. Operator jobs (QueueImport) are rare and stay whole.
var sharded = map[string]bool{QueueDeprovision: true, QueueProvision: true}

// QueueName is the queue of class for tenant when classes are spread over
// shards queues: shard 0 is the class's own name (what a single queue has
// always been called, so tasks queued before sharding are still served),
// shard i > 0 is "<class>.<i>". The shard is a hash of the tenant, so one
// tenant's work always lands in one queue (its order kept as asynq keeps it).
func QueueName(class, tenant string, shards int) string {
	if shards <= 1 || !sharded[class] {
		return class
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(tenant))
	return shardName(class, int(h.Sum32()%uint32(shards)))
}

func shardName(class string, i int) string {
	if i == 0 {
		return class
	}
	return class + "." + strconv.Itoa(i)
}

// Queues is the one list of the queues a worker consumes, each with its
// asynq weight: every shard of a class has the class's weight, so the
// classes keep their priorities whatever the number of shards. Queues of
// other task kinds are added here too, so the server, the metrics and the
// dashboard read them from one place.
func Queues(shards int) map[string]int {
	out := make(map[string]int, len(priorities)*max(shards, 1))
	for class, w := range priorities {
		out[class] = w
		if !sharded[class] {
			continue
		}
		for i := 1; i < shards; i++ {
			out[shardName(class, i)] = w
		}
	}
	return out
}

// Resource kinds carried in a Reconcile.
const (
	KindUser  = "User"
	KindGroup = "Group"
)

// ErrBadPayload: a task whose payload does not decode. Permanent.
var ErrBadPayload = errors.New("queue: bad task payload")

// Reconcile is the payload of TypeReconcile: identifiers only.
type Reconcile struct {
	Tenant  string `json:"tenant"`
	Kind    string `json:"kind"`
	ID      string `json:"id"`
	Version int64  `json:"version"`
}

// TaskID is the asynq task id for p: one task per resource version, so a
// repeated enqueue of the same version is a no-op. A non-empty salt makes a
// distinct id (used by the sweeper to re-enqueue a version whose task was
// archived or lost).
func (p Reconcile) TaskID(salt string) string {
	id := fmt.Sprintf("rc:%s:%s:%s:%d", p.Tenant, p.Kind, p.ID, p.Version)
	if salt != "" {
		id += ":" + salt
	}
	return id
}

// NewReconcileTask builds the task, carrying the trace context of ctx in
// the task headers.
func NewReconcileTask(ctx context.Context, p Reconcile) (*asynq.Task, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("queue: encode reconcile: %w", err)
	}
	headers := map[string]string{}
	injectHeaders(ctx, headers)
	return asynq.NewTaskWithHeaders(TypeReconcile, b, headers), nil
}

// injectHeaders puts the trace context and request id of ctx in headers.
func injectHeaders(ctx context.Context, headers map[string]string) {
	otel.GetTextMapPropagator().Inject(ctx, propagation.MapCarrier(headers))
	if id := CorrelationFrom(ctx).RequestID; id != "" {
		headers[HeaderRequestID] = id
	}
}

// ParseReconcile decodes a task's payload. A payload that does not decode
// is permanent (see Permanent).
func ParseReconcile(t *asynq.Task) (Reconcile, error) {
	var p Reconcile
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.Tenant == "" || p.ID == "" || p.Kind == "" {
		return p, Permanent(ErrBadPayload)
	}
	return p, nil
}

// ContextFromTask returns ctx carrying the trace context of the task's
// headers and the request id of the request that enqueued it.
func ContextFromTask(ctx context.Context, t *asynq.Task) context.Context {
	h := t.Headers()
	if len(h) == 0 {
		return ctx
	}
	if id := h[HeaderRequestID]; id != "" {
		c := CorrelationFrom(ctx)
		c.RequestID = id
		ctx = WithCorrelation(ctx, c)
	}
	return otel.GetTextMapPropagator().Extract(ctx, propagation.MapCarrier(h))
}

// Enqueuer puts reconcile tasks on the queues.
type Enqueuer struct {
	client *asynq.Client
	// maxRetry is the number of retries of a task before it is archived
	// (the sweeper still re-enqueues a resource that stays dirty).
	maxRetry int
	// timeout bounds one task (an apply, or one run of a drain).
	timeout time.Duration
	// shards is how many queues each sharded class is spread over
	// (QueueName); 0 or 1: one.
	shards int
	// wake is told of every task added (WithWake; nil: workers find it
	// at their next poll).
	wake *Wake
}

// NewEnqueuer wraps an asynq client. maxRetry (worker.max_retry) and
// timeout (worker.task_timeout) have no defaults here: the configuration's
// table holds them. A negative maxRetry or a timeout <= 0 is a wiring bug
// and panics.
func NewEnqueuer(client *asynq.Client, maxRetry int, timeout time.Duration) *Enqueuer {
	if maxRetry < 0 || timeout <= 0 {
		panic(fmt.Sprintf("queue.NewEnqueuer: maxRetry %d, timeout %s: set worker.max_retry and worker.task_timeout", maxRetry, timeout))
	}
	return &Enqueuer{client: client, maxRetry: maxRetry, timeout: timeout}
}

// WithShards spreads the sharded classes over shards queues by tenant
// (QueueName); the worker must consume Queues(shards). It returns e.
func (e *Enqueuer) WithShards(shards int) *Enqueuer {
	e.shards = shards
	return e
}

// WithWake makes every enqueue that adds a task wake the idle workers
// (wake.go). It returns e.
func (e *Enqueuer) WithWake(w *Wake) *Enqueuer {
	e.wake = w
	return e
}

// enqueue adds t with opts; a task with the same id already queued,
// scheduled, retrying or kept is success (what names the task in the
// error). An added task wakes the idle workers.
func (e *Enqueuer) enqueue(ctx context.Context, t *asynq.Task, what string, opts ...asynq.Option) error {
	_, err := e.client.EnqueueContext(ctx, t, opts...)
	switch {
	case err == nil:
		e.wake.Notify()
		return nil
	case errors.Is(err, asynq.ErrTaskIDConflict):
		return nil
	}
	return fmt.Errorf("queue: enqueue %s: %w", what, err)
}

// Enqueue queues p on the queue of class queueName for p's tenant
// (QueueName). A task with the same id already queued,
// scheduled or retrying is success: it will apply the latest state anyway.
func (e *Enqueuer) Enqueue(ctx context.Context, queueName string, p Reconcile, salt string) (err error) {
	queueName = QueueName(queueName, p.Tenant, e.shards)
	ctx, span := startProducerSpan(ctx, queueName, p)
	defer endProducerSpan(span, &err)
	t, err := NewReconcileTask(ctx, p)
	if err != nil {
		return err
	}
	return e.enqueue(ctx, t, p.TaskID(salt),
		asynq.Queue(queueName),
		asynq.TaskID(p.TaskID(salt)),
		asynq.MaxRetry(e.maxRetry),
		asynq.Timeout(e.timeout),
	)
}

// Close closes the underlying client.
func (e *Enqueuer) Close() error { return e.client.Close() }

// ErrBusy is returned by a handler that could not take the resource's lease
// because another apply of it is running: retried soon, not a failure.
var ErrBusy = errors.New("queue: resource busy")

// Permanent marks err as permanent: the task is archived, not retried
// (the error wraps asynq.SkipRetry; errors.Is(err, the original) holds).
func Permanent(err error) error { return fmt.Errorf("%w: %w", err, asynq.SkipRetry) }

// isFailure is asynq's IsFailure (see ServerConfig): ErrBusy is not a
// failure, so contention does not spend the task's retries.
func isFailure(err error) bool { return !errors.Is(err, ErrBusy) }

// ServerConfig returns the asynq server settings: the queues (Queues, over
// shards) and their priorities, capped jittered backoff, lease contention
// not counted as a failure.
func ServerConfig(concurrency, shards int) asynq.Config {
	return asynq.Config{
		Concurrency:     concurrency,
		Queues:          Queues(shards),
		RetryDelayFunc:  RetryDelay,
		IsFailure:       isFailure,
		ShutdownTimeout: 20 * time.Second,
		// A new task is picked up within 100 ms of an idle worker (asynq's
		// default, 1 s, would eat half of a deprovisioning's 2 s budget),
		// and a busy resource's retry is due within 200 ms (default 5 s:
		// it throttled applies to a crawl once a tenant's slots were full).
		TaskCheckInterval:        100 * time.Millisecond,
		DelayedTaskCheckInterval: 200 * time.Millisecond,
		// The process's settings (worker.poll_interval,
		// worker.retry_check_interval) replace the two above; a worker
		// with nothing to do waits for a wake instead (wake.go).
		// Completed tasks are kept only by imports (24 h), so looking for
		// expired ones every minute instead of every 8 s loses nothing.
		JanitorInterval: time.Minute,
	}
}

// RetryDelay is the backoff between attempts: lease or slot contention
// retries in 100-300 ms; other errors back off exponentially from 1 s, capped at
// 5 minutes, with full jitter on the upper half.
func RetryDelay(n int, err error, _ *asynq.Task) time.Duration {
	if errors.Is(err, ErrBusy) {
		return 100*time.Millisecond + time.Duration(rand.Int64N(int64(200*time.Millisecond)))
	}
	if n > 20 {
		n = 20
	}
	d := time.Second << uint(n)
	if maxDelay := 5 * time.Minute; d > maxDelay || d <= 0 {
		d = maxDelay
	}
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(half)+1))
}
