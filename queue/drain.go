package queue

import (
	"context"
	"encoding/json"

	"github.com/hibiken/asynq"
)

// TypeDrain applies a tenant's backlog of dirty users in batches (the
// coalescing mode: worker.coalesce). Never rename.
const TypeDrain = "scimbridge:drain"

// Drain is the payload of TypeDrain: which tenant's backlog to drain.
type Drain struct {
	Tenant string `json:"tenant"`
}

// DrainTaskID names the drain of a tenant on a queue for one generation:
// writes that see the same generation share one task, and a drain that
// starts moves the generation on, so a write after that start always
// queues a new drain (none is lost between a drain's last look and its end).
func DrainTaskID(tenant, queueName, gen string) string {
	return "drain:" + tenant + ":" + queueName + ":" + gen
}

// ParseDrain decodes a drain task's payload (a bad one is permanent).
func ParseDrain(t *asynq.Task) (Drain, error) {
	var d Drain
	if err := json.Unmarshal(t.Payload(), &d); err != nil || d.Tenant == "" {
		return d, Permanent(ErrBadPayload)
	}
	return d, nil
}

// EnqueueDrain queues the drain of tenant's backlog for generation gen.
// An existing task for the same generation is success.
func (e *Enqueuer) EnqueueDrain(ctx context.Context, queueName, tenant, gen string) (err error) {
	queueName = QueueName(queueName, tenant, e.shards)
	// The producer span of a drain names the tenant's backlog ("*"), not one user.
	ctx, span := startProducerSpan(ctx, queueName, Reconcile{Tenant: tenant, Kind: KindUser, ID: "*"})
	defer endProducerSpan(span, &err)
	b, err := json.Marshal(Drain{Tenant: tenant})
	if err != nil {
		return err
	}
	headers := map[string]string{}
	injectHeaders(ctx, headers)
	return e.enqueue(ctx, asynq.NewTaskWithHeaders(TypeDrain, b, headers), "drain of "+tenant,
		asynq.Queue(queueName), asynq.TaskID(DrainTaskID(tenant, queueName, gen)),
		asynq.MaxRetry(e.maxRetry), asynq.Timeout(e.timeout))
}
