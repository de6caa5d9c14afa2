package main

import (
	"context"
	gosync "sync"
	"time"

	syncsvc "github.com/scimbridge/scimbridge/sync"
)

// tenantLimiter bounds each tenant's concurrent applies by its store's
// max_concurrency (1 for LDAP, 8 otherwise, unless configured). The limit
// is looked up once every few seconds per tenant, not on every apply.
func (a *app) tenantLimiter() *syncsvc.TenantLimiter {
	type cached struct {
		limit   int
		expires time.Time
	}
	var mu gosync.Mutex
	limits := map[string]cached{}
	return syncsvc.NewTenantLimiter(a.ledger, concurrencyFunc(func(ctx context.Context, tenant string) int {
		now := time.Now()
		mu.Lock()
		c, ok := limits[tenant]
		mu.Unlock()
		if ok && now.Before(c.expires) {
			return c.limit
		}
		t, err := a.registry.Get(ctx, tenant)
		if err != nil {
			return 1 // unknown for now: be gentle; the apply re-checks the tenant
		}
		c = cached{limit: t.Store.Concurrency(), expires: now.Add(5 * time.Second)}
		mu.Lock()
		if len(limits) > 10000 {
			clear(limits)
		}
		limits[tenant] = c
		mu.Unlock()
		return c.limit
	}), a.cfg.Worker.LeaseTTL, 2*time.Second)
}

// concurrencyFunc is a syncsvc.ConcurrencySource from the closure above
// (it already answers 1 when the tenant cannot be read).
type concurrencyFunc func(ctx context.Context, tenant string) int

func (f concurrencyFunc) StoreConcurrency(ctx context.Context, tenant string) (int, error) {
	return f(ctx, tenant), nil
}
