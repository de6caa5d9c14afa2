package tenants

import (
	"context"
	"errors"
	"sort"
)

// What the worker asks of a tenant on every task or batch: whether it is
// enabled, whether its store maps groups, how many applies its store takes
// at once, and which tenants there are; and what the provisioning service
// asks on every write: which attributes the tenant makes unique. *Registry answers these directly
// (it satisfies sync.TenantChecker, sync.GroupsMapper, sync.TenantLister
// and sync.ConcurrencySource) from the same cached reading Get uses,
// without copying the tenant, so a batch costs one map lookup per question
// and at most one Redis read per tenant per cache period.

// Enabled reports whether the tenant exists and is not disabled. An
// unknown tenant is (false, nil).
func (r *Registry) Enabled(ctx context.Context, id string) (bool, error) {
	c, err := r.lookup(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return !c.tenant.Disabled, nil
}

// GroupsMapped reports whether the tenant's store maps groups (otherwise
// its groups live in the ledger only). An unknown tenant is (false, nil).
func (r *Registry) GroupsMapped(ctx context.Context, id string) (bool, error) {
	c, err := r.lookup(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return c.tenant.Store.Groups != nil, nil
}

// UniqueAttributes lists the attributes the tenant makes unique beyond
// userName and a group's displayName (Tenant.Unique; it satisfies
// sync.UniquenessSource, asked on every SCIM write): the cached slice,
// which the caller must not change. An unknown tenant has none.
func (r *Registry) UniqueAttributes(ctx context.Context, id string) ([]string, error) {
	c, err := r.lookup(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return c.tenant.Unique, nil
}

// StoreConcurrency is how many applies the tenant's store takes at once,
// across all workers (adapters.Config.Concurrency).
func (r *Registry) StoreConcurrency(ctx context.Context, id string) (int, error) {
	c, err := r.lookup(ctx, id)
	if err != nil {
		return 0, err
	}
	return c.tenant.Store.Concurrency(), nil
}

// TenantIDs returns every tenant id, sorted, from the registry's set (one
// Redis command; the records are not read).
func (r *Registry) TenantIDs(ctx context.Context) ([]string, error) {
	ids, err := r.rdb.SMembers(ctx, tenantsSetKey).Result()
	if err != nil {
		return nil, unavailable("list ids", err)
	}
	sort.Strings(ids)
	return ids, nil
}
