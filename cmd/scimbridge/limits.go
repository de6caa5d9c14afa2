package main

import (
	"context"

	syncsvc "github.com/scimbridge/scimbridge/sync"
)

// tenantLimiter bounds each tenant's concurrent applies by its store's
// max_concurrency (1 for LDAP, 8 otherwise, unless configured), as the
// registry's cached reading says.
func (a *app) tenantLimiter() *syncsvc.TenantLimiter {
	return syncsvc.NewTenantLimiter(a.rdb, a.cfg.Worker.LeaseTTL, func(ctx context.Context, tenant string) int {
		n, err := a.registry.StoreConcurrency(ctx, tenant)
		if err != nil {
			return 1 // unknown for now: be gentle; the apply re-checks the tenant
		}
		return n
	})
}
