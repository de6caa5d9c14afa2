package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/hibiken/asynq"
)

// Webhook deliveries run on a queue of their own, consumed by a server of
// their own (WebhookServerConfig, its own concurrency): a slow or failing
// receiver holds webhook workers only, never a provisioning worker, and
// one endpoint holds at most one of them at a time (the delivery task
// takes the endpoint's lease; sync/webhooks.go); one tenant holds at most
// webhooks.tenant_concurrency of them, across every worker (a run over
// the cap goes back to the queue: ErrWebhookTenantBusy).

// TypeWebhook delivers an endpoint's pending events, in order, from the
// endpoint's cursor. Persisted in Redis: never rename.
const TypeWebhook = "scimbridge:webhook"

// QueueWebhooks is the queue of TypeWebhook tasks.
const QueueWebhooks = "webhooks"

// WebhookMaxRetry and the backoff of WebhookRetryDelay keep a failing
// delivery retried for more than 24 hours: the delays double from 5 s up
// to an hour, each drawn from its upper half, so 60 retries sum to at
// least 0.5 × (5 s × (2^10 − 1) + 50 × 1 h) ≈ 26 h. (The endpoint is
// disabled after its failing period, webhooks.disable_after, whichever
// comes first; a new event re-queues a delivery after the task is archived.)
const WebhookMaxRetry = 60

// Webhook is the payload of TypeWebhook: identifiers only.
type Webhook struct {
	Tenant   string `json:"tenant"`
	Endpoint string `json:"endpoint"`
}

// NewWebhookTask builds the task.
func NewWebhookTask(p Webhook) (*asynq.Task, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("queue: encode webhook: %w", err)
	}
	return asynq.NewTask(TypeWebhook, b), nil
}

// ParseWebhook decodes a task's payload (permanent when it does not).
func ParseWebhook(t *asynq.Task) (Webhook, error) {
	var p Webhook
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.Tenant == "" || p.Endpoint == "" {
		return p, Permanent(ErrBadPayload)
	}
	return p, nil
}

// EnqueueWebhook queues a delivery run of an endpoint. salt makes the
// task id: one task per salt (the endpoint's run generation, so an
// endpoint has one pending run, kicks while it is queued, running or
// waiting for its retry being that run). timeout bounds one run.
func (e *Enqueuer) EnqueueWebhook(ctx context.Context, p Webhook, salt string, timeout time.Duration) error {
	return e.EnqueueWebhookOn(ctx, QueueWebhooks, p, salt, timeout)
}

// EnqueueWebhookOn is EnqueueWebhook on the queue named queueName (tests
// use a queue of their own).
func (e *Enqueuer) EnqueueWebhookOn(ctx context.Context, queueName string, p Webhook, salt string, timeout time.Duration) error {
	t, err := NewWebhookTask(p)
	if err != nil {
		return err
	}
	id := "wh:" + p.Tenant + ":" + p.Endpoint + ":" + salt
	return e.enqueue(ctx, t, id,
		asynq.Queue(queueName),
		asynq.TaskID(id),
		asynq.MaxRetry(WebhookMaxRetry),
		asynq.Timeout(timeout),
		asynq.Retention(time.Minute), // the id is free again soon after
	)
}

// ErrWebhookTenantBusy is returned by a delivery run whose tenant has
// webhooks.tenant_concurrency runs going already: the run is not started,
// and is retried in 1-2 s without counting as a failure (it is an
// ErrBusy). Its tenant's runs are waiting on receivers (up to
// webhooks.timeout each), so a quicker retry would only poll.
var ErrWebhookTenantBusy = fmt.Errorf("%w: the tenant's webhook deliveries are at webhooks.tenant_concurrency", ErrBusy)

// WebhookRetryDelay is the backoff between attempts of a delivery: busy
// (the endpoint's lease is taken, or the run used up its budget) retries
// in 100-300 ms, a run over its tenant's cap in 1-2 s; a failed delivery
// doubles from 5 s up to 1 h, with jitter on the upper half.
func WebhookRetryDelay(n int, err error, t *asynq.Task) time.Duration {
	if errors.Is(err, ErrWebhookTenantBusy) {
		return time.Second + time.Duration(rand.Int64N(int64(time.Second)))
	}
	if errors.Is(err, ErrBusy) {
		return 100*time.Millisecond + time.Duration(rand.Int64N(int64(200*time.Millisecond)))
	}
	if n > 20 {
		n = 20
	}
	d := 5 * time.Second << uint(n)
	if maxDelay := time.Hour; d > maxDelay || d <= 0 {
		d = maxDelay
	}
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(half)+1))
}

// WebhookServerConfig is the asynq server of webhook deliveries: only the
// webhooks queue, concurrency deliveries at once, WebhookRetryDelay's
// backoff; otherwise ServerConfig's (contention not a failure, the poll
// intervals, which the process's worker settings replace, the janitor).
func WebhookServerConfig(concurrency int) asynq.Config {
	cfg := ServerConfig(concurrency, 1)
	cfg.Queues = map[string]int{QueueWebhooks: 1}
	cfg.RetryDelayFunc = WebhookRetryDelay
	return cfg
}
