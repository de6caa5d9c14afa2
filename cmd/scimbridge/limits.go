package main

import (
	"context"

	syncsvc "github.com/scimbridge/scimbridge/sync"
)

// tenantLimiter bounds each tenant's concurrent applies by its store's
// max_concurrency (1 for LDAP, 8 otherwise, unless configured).
func (a *app) tenantLimiter() *syncsvc.TenantLimiter {
	return syncsvc.NewTenantLimiter(a.rdb, a.cfg.Worker.LeaseTTL, func(ctx context.Context, tenant string) int {
		t, err := a.registry.Get(ctx, tenant)
		if err != nil {
			return 1 // unknown for now: be gentle; the apply re-checks the tenant
		}
		return t.Store.Concurrency()
	})
}
