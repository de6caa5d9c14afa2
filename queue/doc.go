// Package queue owns scimbridge's asynq task kinds, their payloads, the
// queues and their priorities, enqueue options (task ids that make
// duplicate enqueues harmless, trace context in task headers) and the
// asynq server settings (retry backoff, which errors count as failures).
// Payloads carry identifiers only: never attributes, passwords or keys.
package queue
