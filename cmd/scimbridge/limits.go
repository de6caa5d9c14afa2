package main

import syncsvc "github.com/scimbridge/scimbridge/sync"

// tenantLimiter bounds each tenant's concurrent applies by its store's
// max_concurrency (1 for LDAP, 8 otherwise, unless configured), as the
// registry's cached reading says (a tenant it cannot read gets one slot).
func (a *app) tenantLimiter() *syncsvc.TenantLimiter {
	return syncsvc.NewTenantLimiter(a.ledger, a.registry, a.cfg.Worker.LeaseTTL, a.cfg.Worker.SlotWait)
}
