// Package queue owns scimbridge's asynq task kinds, their payloads, the
// queues and their priorities (Queues, the one list the worker consumes;
// provisioning and deprovisioning spread over redis.queue_shards queues by
// tenant, QueueName, so a Redis Cluster's primaries share them), enqueue
// options (task ids that make
// duplicate enqueues harmless, trace context and the request id in task
// headers, a producer span per enqueue), queue-depth metrics and the
// asynq server settings (retry backoff, which errors count as failures;
// what asynq does with a handler's error is written once, at the top of
// queue.go).
// Webhook deliveries (webhooks.go) have a task kind, a queue, a backoff of
// more than 24 hours and an asynq server configuration of their own, so a
// slow receiver never holds a provisioning worker; a run over its tenant's
// delivery cap (ErrWebhookTenantBusy) is retried in 1-2 s, not a failure.
// Idle workers wait for a wake instead of polling (wake.go): every enqueue
// that adds a task wakes this process's workers and, by pub/sub, every
// other process's; a hook on the worker's asynq client holds asynq's own
// idle dequeues and forwards until then.
// Payloads carry identifiers only: never attributes, passwords or keys.
package queue
