package sync

import (
	"context"
	"time"

	"github.com/scimbridge/scimbridge/queue"
)

// Stopping for shutdown. asynq's Shutdown waits (up to its ShutdownTimeout)
// for in-flight handlers and does not cancel their contexts meanwhile, so a
// drain in the middle of a long backlog (batches of drainBatch users, each
// password an argon2id hash) held SIGTERM for 13-17 s. Once
// Reconciler.Stopping is closed, a drain starts no further batch, the store
// call of the batch in flight is cancelled (its transaction rolls back; the
// cancelled context is not a permanent error, adapters.Classify, so no user
// is recorded as failed for it), and the users it did not mark applied
// keep their dirty marks, their leases are released with the batch's marks
// (the ledger is still reachable: Redis outlives the worker's handlers), and
// the drain task goes back to the queue as queue.ErrBusy (not a failure),
// for the next worker. A store write that committed before the cut but was
// not marked is applied again later: an apply is idempotent (invariants 2, 3).

// stopping reports whether the worker has begun to shut down.
func (rc *Reconciler) stopping() bool { return closed(rc.Stopping) }

// closed reports whether a worker's Stopping channel is closed (a nil one
// never is).
func closed(stopping <-chan struct{}) bool {
	select {
	case <-stopping:
		return true
	default:
		return false
	}
}

// storeContext is ctx bounded by timeout and cancelled when the worker
// begins to shut down.
func (rc *Reconciler) storeContext(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	sctx, cancel := context.WithTimeout(ctx, timeout)
	cancelOnStop(sctx, cancel, rc.Stopping)
	return sctx, cancel
}

// cancelOnStop calls cancel when stop closes before ctx is done (nil stop:
// never). Drains and webhook deliveries use it to cut their call in
// flight at shutdown.
func cancelOnStop(ctx context.Context, cancel context.CancelFunc, stop <-chan struct{}) {
	if stop == nil {
		return
	}
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
}

// unlessStopping is err, or stoppedDrain's ErrBusy when the worker is
// shutting down and err may be its cut.
func (rc *Reconciler) unlessStopping(ctx context.Context, tenant string, err error) error {
	if err != nil && rc.stopping() {
		return rc.stoppedDrain(ctx, tenant)
	}
	return err
}

// stoppedDrain logs that tenant's drain stopped for the shutdown and how
// many users it leaves dirty, and returns queue.ErrBusy (back to the
// queue, not a failure).
func (rc *Reconciler) stoppedDrain(ctx context.Context, tenant string) error {
	left, err := rc.Ledger.Backlog(ctx, tenant)
	if err != nil {
		left = -1
	}
	rc.logger().InfoContext(ctx, "drain stopped for shutdown", "tenant", tenant, "dirty_users_left", left)
	return queue.ErrBusy
}
