package sync

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/queue"
)

// Coalescing (worker.coalesce): instead of one reconcile task per user
// version, a write queues the drain of its tenant's backlog, and the drain
// applies the tenant's dirty users in batches, many per store transaction,
// with one Redis round trip for a batch's leases and records and one for
// its applied marks. Every invariant of the per-user path holds: each user
// is applied under its own lease, from its latest desired state, and marked
// applied only for the version applied; a user the drain does not finish
// stays dirty (the sweeper and the per-user tasks still work).

// drainBatch is how many users one store transaction applies.
const drainBatch = 200

// drainBudget bounds one drain task; a longer backlog continues in another
// drain task (continueDrain), queued for at once.
const drainBudget = 10 * time.Second

// drainLinger is how long a drain whose batch came out short waits before
// it reads the backlog again, and how long it waits once more when it
// finds the backlog empty before it ends. Writes that arrive while a push
// goes on are then applied in batches of about what arrives in that time
// (up to drainBatch) by one drain task, not by a drain task per handful
// of users (each with its generation, tenant slot, backlog reads, task
// bookkeeping and store transaction): with idle workers picking up a
// queued drain within milliseconds, a 10,000-user push ran 316 drain
// tasks, and took 15-20 % longer end to end, before this. A lone write is
// applied as soon as its drain starts; only the worker slot is held a
// little longer.
const drainLinger = 100 * time.Millisecond

// DrainEnqueuer queues the drain of a tenant's backlog (queue.Enqueuer).
type DrainEnqueuer interface {
	EnqueueDrain(ctx context.Context, queueName, tenant, gen string) error
}

// ProcessDrain handles a TypeDrain task.
func (rc *Reconciler) ProcessDrain(ctx context.Context, t *asynq.Task) (err error) {
	d, err := queue.ParseDrain(t)
	if err != nil {
		return err
	}
	ctx = queue.ContextFromTask(ctx, t)
	// Like a per-user task's: a consumer span per attempt (retries stay in
	// the trace of the write that queued the drain), for the backlog ("*").
	ctx, span := startConsumerSpan(ctx, queue.Reconcile{Tenant: d.Tenant, Kind: queue.KindUser, ID: "*"})
	defer func() {
		if countsAsFailure(err) {
			rc.Metrics.failed(d.Tenant, queue.KindUser, err)
		}
		endSpan(span, &err)
	}()
	return rc.DrainUsers(ctx, d.Tenant)
}

// DrainUsers applies the tenant's dirty users, oldest first, in batches.
func (rc *Reconciler) DrainUsers(ctx context.Context, tenant string) error {
	if rc.stopping() {
		return queue.ErrBusy // picked up while the worker stops: the next one drains
	}
	if err := rc.checkTenant(ctx, tenant); err != nil {
		return err
	}
	l := rc.Ledger
	// From here on, a new write queues a new drain (see queue.DrainTaskID).
	gen, err := l.nextDrainGeneration(ctx, tenant)
	if err != nil {
		return err
	}
	releaseSlot, ok, err := rc.Limiter.Acquire(ctx, tenant)
	if err != nil {
		return err
	}
	if !ok {
		return queue.ErrBusy
	}
	defer releaseSlot()
	q := queue.QueueProvision
	if name, ok := asynq.GetQueueName(ctx); ok {
		q = name
	}
	if rc.Drains != nil {
		// A long backlog gets a helper: the next generation's drain, which
		// will in turn call its own while the backlog stays long (up to the
		// tenant's slots; one more drain is harmless, each takes other users).
		if n, err := l.Backlog(ctx, tenant); err == nil && n > 2*drainBatch {
			if err := rc.Drains.EnqueueDrain(ctx, q, tenant, strconv.FormatInt(gen, 10)); err != nil {
				rc.logger().WarnContext(ctx, "queueing a helper drain failed", "tenant", tenant, "err", err)
			}
		}
	}
	if err := l.loadDrainScripts(ctx); err != nil {
		return err
	}
	budget := drainBudget
	if rc.drainBudget > 0 {
		budget = rc.drainBudget
	}
	start := time.Now()
	lingered := false
	for first := true; ; first = false {
		if rc.stopping() {
			return rc.stoppedDrain(ctx, tenant)
		}
		if !first && time.Since(start) > budget {
			if n, err := l.Backlog(ctx, tenant); err == nil && n == 0 {
				return nil
			}
			return rc.continueDrain(ctx, q, tenant) // more to do, in another run
		}
		token, claimed, err := l.claimBatch(ctx, tenant, drainBatch, rc.leaseTTL())
		if err != nil {
			return err
		}
		if len(claimed) == 0 {
			if lingered || first {
				return nil // done, or the rest is being applied by others
			}
			lingered = true // writes may still be arriving: look once more
			rc.linger(ctx)
			continue
		}
		lingered = false
		if err := rc.drainBatch(ctx, tenant, token, claimed); err != nil {
			return rc.unlessStopping(ctx, tenant, err)
		}
		if len(claimed) < drainBatch {
			rc.linger(ctx) // let the next batch gather
		}
	}
}

// linger waits drainLinger, less if ctx ends or the worker stops (the
// loop then sees it).
func (rc *Reconciler) linger(ctx context.Context) {
	t := time.NewTimer(drainLinger)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-rc.Stopping:
	}
}

// continueDrain hands the rest of a backlog to a new drain once a run's
// budget is spent: the drain of the current generation, queued as pending
// so the next free worker takes it at once (a retry would wait for
// asynq's check of due retries, worker.retry_check_interval). The queued
// drain may already exist (a write queued it; it may even be running):
// then that one goes on. Without an enqueuer, ErrBusy sends this task
// back to the queue instead (not a failure).
func (rc *Reconciler) continueDrain(ctx context.Context, q, tenant string) error {
	if rc.Drains == nil {
		return queue.ErrBusy
	}
	gen, err := rc.Ledger.DrainGeneration(ctx, tenant)
	if err == nil {
		err = rc.Drains.EnqueueDrain(ctx, q, tenant, gen)
	}
	if err != nil {
		return queue.ErrBusy // retried: the backlog is still dirty either way
	}
	return nil
}

// drainBatch applies one claimed batch of users (their leases hold token).
func (rc *Reconciler) drainBatch(ctx context.Context, tenant, token string, claimed []claimedUser) error {
	l := rc.Ledger
	type item struct {
		r   *Record
		pwv int64
	}
	var (
		held     []string // ids whose lease we hold
		work     []item
		done     []applyMark
		failures []error
	)
	for _, u := range claimed {
		held = append(held, u.id)
		r := u.rec
		switch {
		case u.err != nil:
			failures = append(failures, u.err)
			continue
		case r == nil:
			done = append(done, applyMark{id: u.id}) // gone: clears the dirty mark
			continue
		case r.Applied >= r.Version:
			done = append(done, applyMark{id: r.ID, version: r.Applied})
			continue
		}
		it := item{r: r}
		if r.sealedPassword != "" {
			it.pwv = r.passwordVersion
		}
		work = append(work, it)
	}

	sctx, cancel := rc.storeContext(ctx, rc.storeTimeout())
	defer cancel()
	var transient error
	if len(work) > 0 {
		st, err := rc.Stores.Store(sctx, tenant)
		if err != nil {
			transient = err
		} else {
			var users []adapters.User
			var applying []item
			for _, it := range work {
				r := it.r
				u := adapters.User{ID: r.ID, Anchor: r.Anchor, Attrs: r.Attrs, Active: adapters.ActiveOf(r.Attrs)}
				if r.Deleted {
					if err := st.RemoveUser(sctx, u); err != nil {
						transient = rc.drainFailure(ctx, r, err, transient)
						continue
					}
					done = append(done, applyMark{id: r.ID, version: r.Version, pwv: it.pwv, rec: r})
					continue
				}
				if u.Password, err = l.Password(r); err != nil {
					transient = rc.drainFailure(ctx, r, fmt.Errorf(
						"%w: the pending password cannot be opened with this worker's secret key", adapters.ErrConfig), transient)
					continue
				}
				users = append(users, u)
				applying = append(applying, it)
			}
			if len(users) > 0 {
				anchors, errs := applyUsers(sctx, st, users)
				for i, it := range applying {
					if errs[i] != nil {
						transient = rc.drainFailure(ctx, it.r, errs[i], transient)
						continue
					}
					done = append(done, applyMark{id: it.r.ID, version: it.r.Version, anchor: anchors[i], pwv: it.pwv, modified: it.r.Modified, rec: it.r})
				}
			}
		}
	}

	// One round trip for the applied marks (each releases its lease) and
	// the release of the leases of everything not applied.
	return rc.markBatch(ctx, tenant, token, done, held, failures, transient)
}

// markBatch records a batch's applies (each releasing its lease) and
// releases the leases of everything not applied, in one round trip, then
// returns the batch's error: its undecodable records, else the first
// failure to retry with.
func (rc *Reconciler) markBatch(ctx context.Context, tenant, token string, done []applyMark, held []string, failures []error, transient error) error {
	refused, err := rc.Ledger.markBatch(ctx, tenant, token, done, held)
	if err != nil {
		return err
	}
	for _, m := range done {
		if other, ok := refused[m.id]; ok {
			if transient == nil {
				transient = fmt.Errorf("%w: user %s holds the anchor %s user %s's apply found (%d users of the batch stay pending)",
					errAnchorHeld, other, m.anchor, m.id, len(refused))
			}
			continue
		}
		if m.version > 0 && !m.modified.IsZero() {
			rc.Metrics.applied(tenant, queue.KindUser, m.modified)
		}
	}
	if len(failures) > 0 {
		return errors.Join(failures...)
	}
	return transient
}

// applyUsers applies a batch through the store's batch method when it has
// one, else one by one.
func applyUsers(ctx context.Context, st adapters.Store, users []adapters.User) ([]string, []error) {
	if bs, ok := st.(adapters.BatchStore); ok {
		return bs.ApplyUsers(ctx, users)
	}
	anchors, errs := make([]string, len(users)), make([]error, len(users))
	for i, u := range users {
		anchors[i], errs[i] = st.ApplyUser(ctx, u)
	}
	return anchors, errs
}
