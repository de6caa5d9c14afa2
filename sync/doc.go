// Package sync keeps each resource's desired state and applies it to the
// tenant's store.
//
// The write path of a POST /Users: the front door (api/users.go) parses the
// request and calls Service.CreateUser (service.go), which records the new
// desired state with Ledger.CreateUser (ledger.go: one Lua script, ledger_lua.go,
// writes the record, version, indexes, uniqueness checks and dirty mark
// atomically; which attributes besides userName are unique is the
// tenant's Uniqueness, passed to the script; it is not run at all once the
// request's context is done: requestLive)
// and queues the tenant's drain (Service.enqueue → queue.Enqueuer.EnqueueDrain);
// the answer is the record as the ledger now holds it. In the worker, asynq
// hands the task to Reconciler.ProcessDrain (drain.go): DrainUsers takes a
// tenant slot (limiter.go) and, per batch, claims up to drainBatch of the
// oldest dirty users no other apply holds, leasing and loading them in one
// script call (Ledger.claimBatch, ledger_drain.go: concurrent drains of a
// tenant take different users), gets the tenant's store from the pool
// (tenants.Stores) and applies the batch in one store transaction
// (adapters.BatchStore.ApplyUsers, e.g. adapters/sqlstore/batch.go: the
// INSERT), then marks the applied versions and releases the leases in one
// pipeline (Ledger.markBatch; a mark whose anchor the anchor index gives to
// another live user is refused and the user stays dirty, errAnchorHeld:
// with max_concurrency above 1 two drains can race on one userName). A
// PATCH reads the record and writes it back through the same script (an
// index is rewritten only when its value changed), or, when this process
// read or wrote the user in the last 10 s, starts from that state and the
// script refuses the write if the record's last writing request is
// another (ledger_base.go: one round trip instead of two); a PUT without
// If-Match and with events off is the script alone (it keeps the stored
// active), with events on it is a PATCH's read-modify-write. A failure's meaning comes from
// adapters.Classify, and what happens next (record it on the resource and
// stop, or retry) is decided in failure.go. Per-resource tasks (worker.coalesce
// off, groups, the sweeper's re-queues) take the same steps one resource at a
// time in reconciler.go.
//
// After the store's apply and before the applied mark, the transitions the
// front door journaled for the versions applied become events on the
// tenant's stream (events.go, ledger_events.go), each with its resource
// rendered as GET /Users/{id} or /Groups/{id} shows it (render.go; a
// group's members up to EventMembersMax); the feed is read whole or
// filtered by type and resource (Ledger.EventPage); the worker's webhook
// deliveries (webhooks.go, on a queue and server of their own) walk that
// stream per endpoint, signed per Standard Webhooks (webhook_sign.go), at
// most Webhooks.TenantConcurrency runs of one tenant at a time across the
// workers (slots in Redis, ledger_slots.go). The sweeper trims every
// tenant's stream to the retention (an idle tenant's too).
//
// Files, by topic:
//
//	service.go, groups.go   what the front door calls (users, groups, lists, adoption)
//	reconciler.go, drain.go the asynq handlers that apply desired state
//	failure.go              what a failed apply means for the task and the resource
//	stop.go                 a drain stops for the worker's shutdown (rest left dirty)
//	limiter.go              per-tenant store concurrency across workers
//	sweeper.go              re-queues resources left dirty (a lost task, a crash),
//	                        trims the events streams; which tenants a pass reads:
//	                        the sweep index of recently written and dirty tenants,
//	                        every tenant every 10 minutes (ledger_sweep.go)
//	status.go, replay.go,   the operator's views and actions (sync.Admin)
//	jobs.go, drift.go
//	recover.go, backup.go   disaster recovery: a lost ledger rebuilt from
//	                        the store (ids back where the tenant maps "id");
//	                        a tenant's ledger to a checksummed file and back
//	                        (ledger_recover.go, ledger_backup.go)
//	events.go               event types, the transition a write journals, the feed's Event
//	render.go               a resource as the SCIM API shows it (UserResource,
//	                        GroupResource, meta.location under TenantBaseURL): the
//	                        one rendering of the front door, the filters and events
//	webhooks.go             endpoints, delivery runs, replay (webhook_sign.go: signatures,
//	                        webhook_conn.go: the delivery connections, HTTP/1.1
//	                        on the run's goroutine; webhook_metrics.go: their series)
//	metrics.go              Prometheus series and spans
//	required.go             how a missing setting is reported (no defaults here:
//	                        cmd/scimbridge/settings.go holds them)
//	ledger*.go              the only files that talk to Redis: keys, Lua scripts,
//	                        pipelines; every other file asks the Ledger
//	                        (ledger_extid.go: the multi-valued externalId
//	                        index, the opt-in Uniqueness, and the move of
//	                        older ledgers' single-valued index;
//	                        ledger_events.go: journals and event streams;
//	                        ledger_webhooks.go: endpoints, cursors, logs;
//	                        ledger_base.go: the write bases a process keeps)
//
// Every ledger key of a tenant carries the {tenant} hash tag, so each script
// touches one Redis Cluster slot (TestE2EOnRedisCluster runs the flows on a
// real cluster, which would answer CROSSSLOT otherwise).
//
// The front door's write scripts are idempotent per request (Replays,
// ledger_lua.go: the write's request id is recorded on the record, and a
// resend that finds it answers as the first run did), because the Redis client re-sends a command whose reply is late;
// leases and slots recognise their own token for the same reason. With
// redis.min_replicas (Ledger.RequireReplicas, ledger_replicas.go) a write
// runs on one connection to its slot's primary and is followed there by
// WAIT (a lost reply is re-sent on a fresh connection); too few replicas
// is ErrNotReplicated (503). A create there is marked unacknowledged by
// its script until WAIT confirms it, so the IdP's retry of a create whose
// answer was a 503 (too few replicas, or no reply) is answered with the
// recorded user or group
// (Service.CreateUser → Ledger.ConfirmUnacknowledged; Service.CreateGroup
// → confirmUnacknowledgedGroup: same document and same requested members).
package sync
