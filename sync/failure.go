package sync

import (
	"context"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/queue"
)

// What becomes of a failed apply is decided here, for the per-resource
// tasks (ReconcileUser, ReconcileGroup) and the drain alike. What the
// error means is adapters.Classify's; how asynq counts and delays a
// retry is package queue's (queue.ServerConfig: IsFailure, RetryDelay).
//
//   - Permanent (adapters.IsPermanent: the store rejected this desired
//     state, or the tenant's store configuration is wrong): the failure is
//     recorded on the resource (out of the backlog, into the failed index,
//     shown to the operator until a newer version or a replay) and not
//     retried. A task is archived (asynq.SkipRetry); the drain goes on
//     with its other users. If the record cannot be written, the apply is
//     retried instead: the failure must not be lost.
//   - Anything else (the store or Redis unavailable, a bug): retried with
//     backoff; the resource stays dirty. The drain stops after its batch.
//   - Another apply holds the resource's lease or the tenant's slots:
//     queue.ErrBusy, back to the queue at once, not a failure. Neither is
//     errMembersWaiting (a group waiting for its members' users), nor
//     errAnchorHeld (a user's apply found another user's entry: retried
//     with backoff, the user stays dirty; see markAppliedLua).

// errMembersWaiting: some members' users are not in the store yet; the
// group is retried with backoff (the rest of its changes are applied).
var errMembersWaiting = errors.New("sync: group members wait for their users to be applied")

// errAnchorHeld: the store entry a user's apply found (by userName) is
// another live user's, whose own pending change (a rename, a deletion) has
// not reached the store yet. The apply is not marked; the user stays dirty
// and is retried with backoff, by when the other's apply has put its entry
// right (with max_concurrency above 1 the two can be in different drains).
var errAnchorHeld = errors.New("sync: the store entry found is another user's, whose pending change is not applied yet")

// failApply decides what the failure err of the apply of r (a resource
// of k's kind) becomes. A permanent failure is recorded on r: recorded is
// true and retry nil. Otherwise retry is the error to retry with.
func (rc *Reconciler) failApply(ctx context.Context, k keys, r *Record, err error) (recorded bool, retry error) {
	if !adapters.IsPermanent(err) {
		return false, fmt.Errorf("sync: apply %s %s: %w", k.kind, r.ID, err)
	}
	rc.logger().WarnContext(ctx, "store rejected the resource", "tenant", r.Tenant, "id", r.ID,
		"version", r.Version, "err", err)
	if merr := rc.Ledger.markFailed(ctx, k, r.ID, r.Version, err.Error()); merr != nil {
		return false, merr // retry: the failure must be recorded
	}
	// The sync.failed event; best effort once the failure is recorded (the
	// admin API shows it either way).
	if _, eerr := rc.Ledger.emitFailed(ctx, k, r.ID, r.Version, err.Error()); eerr != nil {
		rc.logger().WarnContext(ctx, "sync.failed event not recorded", "tenant", r.Tenant, "id", r.ID, "err", eerr)
	}
	return true, nil
}

// fail is failApply for a per-resource task: the error the task returns
// (a recorded failure is archived, not retried).
func (rc *Reconciler) fail(ctx context.Context, k keys, r *Record, err error) error {
	if recorded, retry := rc.failApply(ctx, k, r, err); !recorded {
		return retry
	}
	return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
}

// drainFailure is failApply for one user of a drain's batch: a permanent
// failure is recorded and the drain goes on; the first error to retry with
// is kept (the drain stops after this batch and is retried).
func (rc *Reconciler) drainFailure(ctx context.Context, r *Record, err, retry error) error {
	if _, e := rc.failApply(ctx, userKeys(r.Tenant), r, err); e != nil && retry == nil {
		return e
	}
	return retry
}

// countsAsFailure reports whether a task's error is a failed apply for
// scimbridge_apply_failures_total (a busy resource or tenant, a group
// waiting for its members, or a user waiting for another's apply, is not).
func countsAsFailure(err error) bool {
	return err != nil && !errors.Is(err, queue.ErrBusy) && !errors.Is(err, errMembersWaiting) && !errors.Is(err, errAnchorHeld)
}
