package sync

import (
	"context"
	gosync "sync"
	"sync/atomic"
	"time"
)

// ConcurrencySource says how many applies of a tenant may run at once:
// its store's max_concurrency (<= 0: unlimited). *tenants.Registry
// satisfies it.
type ConcurrencySource interface {
	StoreConcurrency(ctx context.Context, tenant string) (int, error)
}

// TenantLimiter bounds how many applies of one tenant run at once across
// every worker process, so one tenant's slow or dead store holds at most
// its own slots and never stalls the others' applies (and an LDAP server
// that takes one writer at a time gets one). A slot is a lease in the
// ledger's Redis (Ledger.takeSlot): a killed worker's slot expires.
//
// Within one process, applies of a tenant over its limit wait their turn
// briefly (at most `limit` of them, for at most Wait) instead of going
// back to the queue at once: a queue round trip per refusal costs Redis
// far more than the wait, and bounding the waiters keeps most worker
// goroutines free for other tenants.
//
// Required: the ledger, the ConcurrencySource, TTL and Wait, all passed to
// NewTenantLimiter, which panics when one is missing.
type TenantLimiter struct {
	ledger *Ledger
	limits ConcurrencySource
	// TTL bounds how long a slot is held (it must exceed one apply).
	TTL time.Duration
	// Wait bounds how long an apply waits for a local turn.
	Wait time.Duration

	local gosync.Map // tenant → *localSlots
}

// localSlots is one tenant's turns in this process.
type localSlots struct {
	turns   chan struct{}
	waiting atomic.Int32
}

func (l *TenantLimiter) localFor(tenant string, limit int) *localSlots {
	if v, ok := l.local.Load(tenant); ok {
		ls := v.(*localSlots)
		if cap(ls.turns) == limit {
			return ls
		}
	}
	ls := &localSlots{turns: make(chan struct{}, limit)}
	l.local.Store(tenant, ls) // a changed limit starts a new set of turns
	return ls
}

// NewTenantLimiter returns a limiter whose slots live in the ledger's
// Redis, each tenant's count given by limits. It panics when an argument
// is missing (nil, or a duration <= 0).
func NewTenantLimiter(ledger *Ledger, limits ConcurrencySource, ttl, wait time.Duration) *TenantLimiter {
	mustCheck(checkRequired("TenantLimiter",
		setting{"ledger", ledger != nil},
		setting{"ConcurrencySource", limits != nil},
		setting{"TTL", ttl > 0},
		setting{"Wait", wait > 0}))
	return &TenantLimiter{ledger: ledger, limits: limits, TTL: ttl, Wait: wait}
}

// limit is the tenant's slot count. A tenant whose count cannot be read
// for now gets one slot: be gentle; the apply re-checks the tenant.
func (l *TenantLimiter) limit(ctx context.Context, tenant string) int {
	n, err := l.limits.StoreConcurrency(ctx, tenant)
	if err != nil {
		return 1
	}
	return n
}

// Acquire takes one of the tenant's slots. ok is false when all are held.
// A nil limiter is unbounded.
func (l *TenantLimiter) Acquire(ctx context.Context, tenant string) (release func(), ok bool, err error) {
	if l == nil {
		return func() {}, true, nil
	}
	limit := l.limit(ctx, tenant)
	if limit <= 0 {
		return func() {}, true, nil
	}
	ls := l.localFor(tenant, limit)
	if ls.waiting.Add(1) > int32(limit) {
		ls.waiting.Add(-1)
		return nil, false, nil // enough of this tenant's applies wait here already
	}
	timer := time.NewTimer(l.Wait)
	select {
	case ls.turns <- struct{}{}:
		timer.Stop()
		ls.waiting.Add(-1)
	case <-timer.C:
		ls.waiting.Add(-1)
		return nil, false, nil
	case <-ctx.Done():
		timer.Stop()
		ls.waiting.Add(-1)
		return nil, false, ctx.Err()
	}
	releaseSlot, ok, err := l.ledger.takeSlot(ctx, tenant, limit, l.TTL)
	if err != nil || !ok {
		<-ls.turns // on !ok: other processes hold the tenant's slots
		return nil, false, err
	}
	return func() {
		releaseSlot()
		<-ls.turns
	}, true, nil
}
