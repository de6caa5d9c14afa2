package sync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
type Reconciler struct {
	Ledger  *Ledger
	Stores  StoreSource
	Tenants TenantChecker
	Logger  *slog.Logger
	// LeaseTTL bounds how long one apply may hold the resource (default 2 min;
	// it must exceed the store timeout).
	LeaseTTL time.Duration
	// StoreTimeout bounds one store call (default 60 s).
	StoreTimeout time.Duration
	// afterApply, when set by tests, runs between the store write and the
	// ledger update; an error stops the apply there (a crash injection point).
	afterApply func() error
}

// Register adds the reconciler's handlers to mux.
func (rc *Reconciler) Register(mux *asynq.ServeMux) {
	mux.HandleFunc(queue.TypeReconcile, rc.ProcessTask)
}

func (rc *Reconciler) logger() *slog.Logger {
	if rc.Logger != nil {
		return rc.Logger
	}
	return slog.Default()
}

// ProcessTask handles one reconcile task. It is idempotent: a stale or
// duplicate task finds nothing to do.
func (rc *Reconciler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	p, err := queue.ParseReconcile(t)
	if err != nil {
		return err
	}
	ctx = queue.ContextFromTask(ctx, t)
	if p.Kind != queue.KindUser {
		return fmt.Errorf("sync: unknown resource kind %q: %w", p.Kind, asynq.SkipRetry)
	}
	return rc.ReconcileUser(ctx, p.Tenant, p.ID)
}

// ReconcileUser applies the latest desired state of one user.
func (rc *Reconciler) ReconcileUser(ctx context.Context, tenant, id string) error {
	if rc.Tenants != nil {
		ok, err := rc.Tenants.Enabled(ctx, tenant)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("sync: tenant %s is unknown or disabled: %w", tenant, asynq.SkipRetry)
		}
	}
	ttl := rc.LeaseTTL
	if ttl <= 0 {
		ttl = 2 * time.Minute
	}
	release, ok, err := rc.Ledger.Lease(ctx, tenant, id, ttl)
	if err != nil {
		return err
	}
	if !ok {
		return queue.ErrBusy
	}
	defer release()

	r, err := rc.Ledger.getUserAny(ctx, tenant, id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if r.Applied >= r.Version {
		return nil // stale or duplicate task: the latest is applied
	}
	storeTimeout := rc.StoreTimeout
	if storeTimeout <= 0 {
		storeTimeout = 60 * time.Second
	}
	sctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	st, err := rc.Stores.Store(sctx, tenant)
	if err != nil {
		return rc.fail(ctx, r, err)
	}
	u := adapters.User{ID: r.ID, Anchor: r.Anchor, Attrs: r.Attrs, Active: adapters.ActiveOf(r.Attrs)}
	anchor := r.Anchor
	if r.Deleted {
		err = st.RemoveUser(sctx, u)
	} else {
		if u.Password, err = rc.Ledger.Password(r); err != nil {
			rc.logger().WarnContext(ctx, "pending password cannot be opened; applying without it",
				"tenant", tenant, "id", id, "err", err)
		}
		anchor, err = st.ApplyUser(sctx, u)
	}
	if err != nil {
		return rc.fail(ctx, r, err)
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
	return rc.Ledger.MarkApplied(ctx, tenant, id, r.Version, anchor, pwv)
}

// fail decides what a store error means: permanent ones are recorded on
// the resource and the task archived; others are retried with backoff.
func (rc *Reconciler) fail(ctx context.Context, r *Record, err error) error {
	if adapters.IsPermanent(err) {
		rc.logger().WarnContext(ctx, "store rejected the resource", "tenant", r.Tenant, "id", r.ID,
			"version", r.Version, "err", err)
		if merr := rc.Ledger.MarkFailed(ctx, r.Tenant, r.ID, r.Version, err.Error()); merr != nil {
			return merr // retry: the failure must be recorded
		}
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	return fmt.Errorf("sync: apply user %s: %w", r.ID, err)
}
