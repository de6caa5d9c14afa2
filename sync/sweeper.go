package sync

import (
	"context"
	"log/slog"
	"sort"
	"strconv"
	"time"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/queue"
)

// TenantLister lists tenant ids (the sweeper visits each).
type TenantLister interface {
	TenantIDs(ctx context.Context) ([]string, error)
}

// sweepBatch bounds the resources re-enqueued per tenant and kind per
// sweep (the rest waits for the next sweep).
const sweepBatch = 1000

// Sweeper re-enqueues resources that stayed dirty past Grace: a crash
// between the ledger write and the enqueue, a lost or archived task (a
// pass reads the tenants of the sweep index, and every tenant every
// sweepFullEvery: ledger_sweep.go); and
// on its passes over every tenant it trims every events stream to the
// retention (Ledger.TrimEvents), so a tenant that stopped receiving
// changes loses its old events too.
// Several workers may run one; a lock in the ledger lets one sweep per
// interval.
//
// Required: Ledger, Enqueuer, Tenants, Interval and Grace (there are no
// defaults: see required.go). Check reports the missing ones; Run panics
// with its error, and SweepOnce panics naming an unset duration.
type Sweeper struct {
	Ledger   *Ledger
	Enqueuer Enqueuer
	Tenants  TenantLister
	Logger   *slog.Logger
	// Interval between sweeps (required).
	Interval time.Duration
	// Grace is how long a resource may stay dirty before it is re-enqueued
	// (required).
	Grace time.Duration

	full time.Time // the last pass over every tenant (sweepFullEvery)
}

// Check reports the required settings that are unset.
func (s *Sweeper) Check() error {
	return checkRequired("Sweeper",
		setting{"Ledger", s.Ledger != nil},
		setting{"Enqueuer", s.Enqueuer != nil},
		setting{"Tenants", s.Tenants != nil},
		setting{"Interval", s.Interval > 0},
		setting{"Grace", s.Grace > 0})
}

// Run sweeps every Interval until ctx ends. It panics when a required
// setting is missing (Check).
func (s *Sweeper) Run(ctx context.Context) {
	mustCheck(s.Check())
	t := time.NewTicker(s.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := s.SweepOnce(ctx); err != nil {
				s.logger().WarnContext(ctx, "sweep failed", "err", err)
			} else if n > 0 {
				s.logger().InfoContext(ctx, "sweeper re-enqueued dirty resources", "count", n)
			}
		}
	}
}

func (s *Sweeper) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// SweepOnce re-enqueues every resource dirty for longer than Grace, unless
// another sweeper holds this interval's lock. It returns how many.
func (s *Sweeper) SweepOnce(ctx context.Context) (int, error) {
	interval := required("Sweeper", "Interval", s.Interval)
	grace := required("Sweeper", "Grace", s.Grace)
	ok, err := s.Ledger.AcquireSweepLock(ctx, interval/2)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, nil
	}
	now := time.Now()
	// The tenants written lately, and the ones left dirty; every
	// sweepFullEvery, every tenant (ledger_sweep.go).
	index, err := s.Ledger.sweepIndex(ctx)
	if err != nil {
		return 0, err
	}
	full := false
	if first := s.full.IsZero(); first || now.Sub(s.full) >= sweepFullEvery {
		if full, err = s.Ledger.claimFullSweep(ctx, first); err != nil {
			return 0, err
		}
	}
	var tenants []string
	if full {
		if tenants, err = s.Tenants.TenantIDs(ctx); err != nil {
			return 0, err
		}
	} else {
		tenants = make([]string, 0, len(index))
		for t := range index {
			tenants = append(tenants, t)
		}
		sort.Strings(tenants)
	}
	// The salt changes once per grace period, so a resource is re-enqueued
	// at most once per period even if its earlier task was archived.
	salt := "sw" + strconv.FormatInt(now.UnixMilli()/max(grace.Milliseconds(), 1), 10)
	total := 0
	for _, tenant := range tenants {
		n, err := s.sweepKind(ctx, userKeys(tenant), now.Add(-grace), sweepBatch, salt)
		total += n
		if err != nil {
			return total, err
		}
		m, err := s.sweepKind(ctx, groupKeys(tenant), now.Add(-grace), sweepBatch, salt)
		total += m
		if err != nil {
			return total, err
		}
		if _, indexed := index[tenant]; !indexed && n+m > 0 {
			// Found by the full pass: looked at every pass until clean.
			if err := s.Ledger.indexSweep(ctx, tenant); err != nil {
				return total, err
			}
		}
	}
	// Tenants quiet for sweepIndexKeep leave the index once clean, and a
	// full pass takes out the ones no longer listed (deleted).
	listed := map[string]bool{}
	if full {
		for _, t := range tenants {
			listed[t] = true
		}
	}
	for tenant, score := range index {
		if full && !listed[tenant] {
			if err := s.Ledger.dropSweepIndex(ctx, tenant, score); err != nil {
				return total, err
			}
			continue
		}
		if now.Sub(time.UnixMilli(int64(score))) < sweepIndexKeep {
			continue
		}
		if err := s.Ledger.leaveSweepIndex(ctx, tenant, score); err != nil {
			return total, err
		}
	}
	if !full {
		return total, nil
	}
	// Every tenant's events stream, on full passes only: tenants that
	// receive changes trim as they append; this is for the ones that
	// stopped, and retention is hours to days (one XTRIM per tenant per
	// pass was a third of an idle deployment's Redis commands). After the
	// re-enqueues, which matter more.
	if _, err := s.Ledger.TrimEvents(ctx, tenants); err != nil {
		return total, err
	}
	s.full = now
	return total, nil
}

// sweepKind re-enqueues one tenant's dirty resources of one kind.
func (s *Sweeper) sweepKind(ctx context.Context, k keys, before time.Time, batch int, salt string) (int, error) {
	ids, err := s.Ledger.dirty(ctx, k, before, batch)
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	kind := queue.KindUser
	if k.kind == "g" {
		kind = queue.KindGroup
	}
	recs, err := s.Ledger.records(ctx, k, ids, true)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range recs {
		q := queue.QueueProvision
		if r.Deleted || (kind == queue.KindUser && !adapters.ActiveOf(r.Attrs)) {
			q = queue.QueueDeprovision
		}
		p := queue.Reconcile{Tenant: k.tenant, Kind: kind, ID: r.ID, Version: r.Version}
		if err := s.Enqueuer.Enqueue(ctx, q, p, salt); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
