package sync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/queue"
)

// TenantChecker says whether a tenant exists and is enabled
// (tenants.Registry satisfies it through a small adapter in cmd).
type TenantChecker interface {
	Enabled(ctx context.Context, tenantID string) (bool, error)
}

// Reconciler is the asynq handler that applies a resource's latest desired
// state to its tenant's store.
//
// Required: Ledger, Stores, LeaseTTL and StoreTimeout (there are no
// defaults: see required.go). Check reports the missing ones; Register
// panics with its error, and an apply that needs an unset duration panics
// naming it.
type Reconciler struct {
	Ledger  *Ledger
	Stores  StoreSource
	Tenants TenantChecker
	// Groups says which tenants sync groups to their store (nil: none;
	// their groups are then applied to the ledger only).
	Groups GroupsMapper
	// Limiter bounds concurrent applies per tenant (nil: unbounded).
	Limiter *TenantLimiter
	// Drains, when set, lets a drain that finds a long backlog queue a
	// second drain, so a backlog is worked by as many drains as the
	// tenant's slots allow (each takes different users: leases).
	Drains DrainEnqueuer
	Logger *slog.Logger
	// Metrics records apply latency and failures (nil: none).
	Metrics *Metrics
	// LeaseTTL bounds how long one apply may hold the resource (required;
	// it must exceed StoreTimeout).
	LeaseTTL time.Duration
	// StoreTimeout bounds one store call (required).
	StoreTimeout time.Duration
	// Stopping, when set, is closed when the worker begins to shut down
	// (SIGTERM): a drain then stops between batches and cuts its store call
	// short, leaving the rest of its users dirty for the next worker
	// (see stop.go). Nil: never.
	Stopping <-chan struct{}
	// afterApply, when set by tests, runs between the store write and the
	// ledger update; an error stops the apply there (a crash injection point).
	afterApply func() error
	// drainBudget, when set by tests, replaces drainBudget.
	drainBudget time.Duration
}

// Check reports the required settings that are unset (or inconsistent).
func (rc *Reconciler) Check() error {
	if err := checkRequired("Reconciler",
		setting{"Ledger", rc.Ledger != nil},
		setting{"Stores", rc.Stores != nil},
		setting{"LeaseTTL", rc.LeaseTTL > 0},
		setting{"StoreTimeout", rc.StoreTimeout > 0}); err != nil {
		return err
	}
	if rc.LeaseTTL <= rc.StoreTimeout {
		return fmt.Errorf("sync: Reconciler: LeaseTTL (%s) must exceed StoreTimeout (%s)", rc.LeaseTTL, rc.StoreTimeout)
	}
	return nil
}

// Register adds the reconciler's handlers to mux. It panics when a
// required setting is missing (Check).
func (rc *Reconciler) Register(mux *asynq.ServeMux) {
	mustCheck(rc.Check())
	mux.HandleFunc(queue.TypeReconcile, rc.ProcessTask)
	mux.HandleFunc(queue.TypeDrain, rc.ProcessDrain)
}

func (rc *Reconciler) logger() *slog.Logger {
	if rc.Logger != nil {
		return rc.Logger
	}
	return slog.Default()
}

// ProcessTask handles one reconcile task. It is idempotent: a stale or
// duplicate task finds nothing to do. Each attempt is a consumer span
// continued from the trace context in the task's headers, so the retries of
// a task stay in the trace of the request that caused it.
func (rc *Reconciler) ProcessTask(ctx context.Context, t *asynq.Task) (err error) {
	p, err := queue.ParseReconcile(t)
	if err != nil {
		return err
	}
	ctx = queue.ContextFromTask(ctx, t)
	ctx = queue.WithCorrelation(ctx, queue.Correlation{RequestID: queue.CorrelationFrom(ctx).RequestID, Tenant: p.Tenant})
	ctx, span := startConsumerSpan(ctx, p)
	defer func() {
		if countsAsFailure(err) {
			rc.Metrics.failed(p.Tenant, p.Kind, err)
		}
		endSpan(span, &err)
	}()
	switch p.Kind {
	case queue.KindUser:
		return rc.ReconcileUser(ctx, p.Tenant, p.ID)
	case queue.KindGroup:
		return rc.ReconcileGroup(ctx, p.Tenant, p.ID)
	}
	return fmt.Errorf("sync: unknown resource kind %q: %w", p.Kind, asynq.SkipRetry)
}

// checkTenant refuses work for an unknown or disabled tenant.
func (rc *Reconciler) checkTenant(ctx context.Context, tenant string) error {
	if rc.Tenants == nil {
		return nil
	}
	ok, err := rc.Tenants.Enabled(ctx, tenant)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("sync: tenant %s is unknown or disabled: %w", tenant, asynq.SkipRetry)
	}
	return nil
}

func (rc *Reconciler) leaseTTL() time.Duration {
	return required("Reconciler", "LeaseTTL", rc.LeaseTTL)
}

func (rc *Reconciler) storeTimeout() time.Duration {
	return required("Reconciler", "StoreTimeout", rc.StoreTimeout)
}

// ReconcileUser applies the latest desired state of one user.
func (rc *Reconciler) ReconcileUser(ctx context.Context, tenant, id string) error {
	if err := rc.checkTenant(ctx, tenant); err != nil {
		return err
	}
	releaseSlot, ok, err := rc.Limiter.Acquire(ctx, tenant)
	if err != nil {
		return err
	}
	if !ok {
		return queue.ErrBusy // the tenant's store is at its concurrency limit
	}
	defer releaseSlot()
	lease, r, ok, err := rc.Ledger.leaseAndLoadUser(ctx, tenant, id, rc.leaseTTL())
	if err != nil {
		return err
	}
	if !ok {
		return queue.ErrBusy
	}
	defer lease.release(ctx)
	if r == nil {
		return nil // no such user
	}
	if r.Applied >= r.Version {
		return nil // stale or duplicate task: the latest is applied
	}
	sctx, cancel := context.WithTimeout(ctx, rc.storeTimeout())
	defer cancel()
	st, err := rc.Stores.Store(sctx, tenant)
	if err != nil {
		return rc.fail(ctx, userKeys(tenant), r, err)
	}
	u := adapters.User{ID: r.ID, Anchor: r.Anchor, Attrs: r.Attrs, Active: adapters.ActiveOf(r.Attrs)}
	anchor := r.Anchor
	if r.Deleted {
		err = st.RemoveUser(sctx, u)
	} else {
		if u.Password, err = rc.Ledger.Password(r); err != nil {
			// Applying without it would mark a password applied that never
			// was: record the failure for the operator (a changed secret key,
			// or another deployment's ledger) instead.
			return rc.fail(ctx, userKeys(tenant), r, fmt.Errorf(
				"%w: the pending password cannot be opened with this worker's secret key", adapters.ErrConfig))
		}
		anchor, err = st.ApplyUser(sctx, u)
	}
	if err != nil {
		return rc.fail(ctx, userKeys(tenant), r, err)
	}
	if rc.afterApply != nil {
		if err := rc.afterApply(); err != nil {
			return err
		}
	}
	pwv := int64(0)
	if r.sealedPassword != "" {
		pwv = r.passwordVersion
	}
	// The mark and its events in one script: a refused mark emits none.
	ev := rc.Ledger.userEmitted(r, anchor)
	if err := rc.Ledger.markAppliedEmit(ctx, tenant, id, r.Version, anchor, pwv, lease, &ev); err != nil {
		return err
	}
	rc.Metrics.applied(tenant, queue.KindUser, r.Modified)
	return nil
}

// emitGroup emits the events of group r's apply (Ledger.groupEmitted).
func (rc *Reconciler) emitGroup(ctx context.Context, tenant string, r *Record, anchor string, applied map[string]string) error {
	if !rc.Ledger.EventsEnabled() {
		return nil
	}
	ev, err := rc.Ledger.groupEmitted(ctx, r, anchor, applied)
	if err != nil {
		return err
	}
	return rc.Ledger.emitEvents(ctx, tenant, []emitted{ev})
}

// memberBatch bounds the members sent to the store in one call.
const memberBatch = 500

// ReconcileGroup applies a group's latest attributes and its pending
// membership changes, one member at a time in batches: the work is
// proportional to the members changed, not to the group's size.
func (rc *Reconciler) ReconcileGroup(ctx context.Context, tenant, id string) error {
	if err := rc.checkTenant(ctx, tenant); err != nil {
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
	k := groupKeys(tenant)
	release, ok, err := rc.Ledger.lease(ctx, k, id, rc.leaseTTL())
	if err != nil {
		return err
	}
	if !ok {
		return queue.ErrBusy
	}
	defer release()

	r, err := rc.Ledger.getGroupAny(ctx, tenant, id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	pending, err := rc.Ledger.pendingMembers(ctx, tenant, id)
	if err != nil {
		return err
	}
	if r.Applied >= r.Version && len(pending) == 0 {
		return nil
	}
	mapped := false
	if rc.Groups != nil {
		if mapped, err = rc.Groups.GroupsMapped(ctx, tenant); err != nil {
			return err
		}
	}
	if !mapped {
		// Groups of this tenant live in the ledger only.
		if err := rc.emitGroup(ctx, tenant, r, r.Anchor, pending); err != nil {
			return err
		}
		return rc.Ledger.markGroupApplied(ctx, tenant, id, r.Version, "", pending)
	}
	sctx, cancel := context.WithTimeout(ctx, rc.storeTimeout())
	defer cancel()
	st, err := rc.Stores.Store(sctx, tenant)
	if err != nil {
		return rc.fail(ctx, k, r, err)
	}
	gs, ok := st.(adapters.GroupStore)
	if !ok {
		return rc.fail(ctx, k, r, fmt.Errorf("%w: the store does not support groups", adapters.ErrConfig))
	}
	g := adapters.Group{ID: r.ID, Anchor: r.Anchor, Attrs: r.Attrs}
	if r.Deleted {
		if err := gs.RemoveGroup(sctx, g); err != nil {
			return rc.fail(ctx, k, r, err)
		}
		if err := rc.emitGroup(ctx, tenant, r, r.Anchor, nil); err != nil {
			return err
		}
		return rc.Ledger.markGroupApplied(ctx, tenant, id, r.Version, "", nil)
	}
	anchor, err := gs.ApplyGroup(sctx, g)
	if err != nil {
		return rc.fail(ctx, k, r, err)
	}

	users := make([]string, 0, len(pending))
	for u := range pending {
		users = append(users, u)
	}
	anchors, err := rc.Ledger.userAnchors(ctx, tenant, users)
	if err != nil {
		return err
	}
	var adds, removes []string
	applied := make(map[string]string, len(pending))
	waiting := 0
	for u, change := range pending {
		a, known := anchors[u]
		switch {
		case !known || (a == "" && strings.HasPrefix(change, "-")):
			applied[u] = change // the user is gone or never reached the store: nothing to do
		case a == "":
			waiting++ // added, but the user is not in the store yet
		case strings.HasPrefix(change, "+"):
			adds = append(adds, a)
			applied[u] = change
		default:
			removes = append(removes, a)
			applied[u] = change
		}
	}
	for _, batch := range chunk(adds, memberBatch) {
		if err := gs.AddMembers(sctx, anchor, batch); err != nil {
			return rc.fail(ctx, k, r, err)
		}
	}
	for _, batch := range chunk(removes, memberBatch) {
		if err := gs.RemoveMembers(sctx, anchor, batch); err != nil {
			return rc.fail(ctx, k, r, err)
		}
	}
	if err := rc.emitGroup(ctx, tenant, r, anchor, applied); err != nil {
		return err
	}
	if err := rc.Ledger.markGroupApplied(ctx, tenant, id, r.Version, anchor, applied); err != nil {
		return err
	}
	if r.Applied < r.Version && waiting == 0 {
		rc.Metrics.applied(tenant, queue.KindGroup, r.Modified)
	}
	if waiting > 0 {
		return fmt.Errorf("%w (%d)", errMembersWaiting, waiting)
	}
	return nil
}

func chunk(s []string, n int) [][]string {
	var out [][]string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	if len(s) > 0 {
		out = append(out, s)
	}
	return out
}
