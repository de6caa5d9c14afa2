package tenants

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultCacheTTL is how long Registry.Get serves a tenant from its
// in-process cache before asking Redis again.
const DefaultCacheTTL = 2 * time.Second

// tenantsSetKey is the global set of tenant ids.
const tenantsSetKey = "sb:tenants"

// tenantKey is the Redis key of one tenant's record (a JSON string).
func tenantKey(id string) string { return "sb:{" + id + "}:tenant" }

// Registry stores tenants in Redis. Get is served from a small in-process
// cache (DefaultCacheTTL); writes through this Registry invalidate it at
// once, writes by other processes are seen within the TTL. It is safe for
// concurrent use.
type Registry struct {
	rdb redis.UniversalClient
	ttl time.Duration
	now func() time.Time

	mu    sync.Mutex
	cache map[string]cachedTenant
	// gen counts invalidations per id, so a Get that raced with a write
	// does not cache what it read before the write.
	gen map[string]uint64
}

// cachedTenant is the decoded tenant (nil for "not found") and its
// expiry. The cached value is never handed out: Get returns a deep copy
// (cloneTenant), which costs a few small allocations where decoding the
// JSON on every Get cost dozens.
type cachedTenant struct {
	tenant *Tenant
	// storeHash identifies tenant.Store (see configHash), computed once
	// per read from Redis so the store pool need not hash on every call.
	storeHash string
	expires   time.Time
}

// NewRegistry returns a Registry over rdb.
func NewRegistry(rdb redis.UniversalClient) *Registry {
	return &Registry{
		rdb:   rdb,
		ttl:   DefaultCacheTTL,
		now:   time.Now,
		cache: make(map[string]cachedTenant),
		gen:   make(map[string]uint64),
	}
}

func unavailable(op string, err error) error {
	return fmt.Errorf("tenants: %s: %w: %w", op, ErrUnavailable, err)
}

// Put creates or updates t after validating it (ErrInvalid with every
// problem). The creation time of an existing tenant is kept; a new tenant
// gets t.Created, or now when that is zero.
func (r *Registry) Put(ctx context.Context, t Tenant) error {
	return r.put(ctx, t, false)
}

// Create stores a new tenant; ErrExists when the id is taken (checked in
// Redis in the same transaction as the write, so of two simultaneous
// creates of one id exactly one succeeds).
func (r *Registry) Create(ctx context.Context, t Tenant) error {
	return r.put(ctx, t, true)
}

func (r *Registry) put(ctx context.Context, t Tenant, mustBeNew bool) error {
	if err := validationError(fmt.Sprintf("tenants: put %q", truncate(t.ID, 70)), t.Validate()); err != nil {
		return err
	}
	key := tenantKey(t.ID)
	defer r.invalidate(t.ID)
	errExists := fmt.Errorf("tenants: create %q: %w", t.ID, ErrExists)
	err := watchRetry(ctx, r.rdb, key, func(tx *redis.Tx) error {
		old, err := tx.Get(ctx, key).Bytes()
		switch {
		case errors.Is(err, redis.Nil):
			if t.Created.IsZero() {
				t.Created = r.now().UTC()
			}
		case err != nil:
			return err
		case mustBeNew:
			return errExists
		default:
			var prev Tenant
			if err := json.Unmarshal(old, &prev); err == nil && !prev.Created.IsZero() {
				t.Created = prev.Created
			}
		}
		raw, err := json.Marshal(t)
		if err != nil {
			return err
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, key, raw, 0)
			return nil
		})
		return err
	})
	if errors.Is(err, errExists) {
		return err
	}
	if err != nil {
		return unavailable(fmt.Sprintf("put %q", t.ID), err)
	}
	// The set is another hash slot, so it is written after the record; a
	// record is listed once both exist.
	if err := r.rdb.SAdd(ctx, tenantsSetKey, t.ID).Err(); err != nil {
		return unavailable(fmt.Sprintf("put %q", t.ID), err)
	}
	return nil
}

// Get returns the tenant, or ErrNotFound. The caller owns the copy.
func (r *Registry) Get(ctx context.Context, id string) (*Tenant, error) {
	c, err := r.lookup(ctx, id)
	if err != nil {
		return nil, err
	}
	return cloneTenant(c.tenant), nil
}

// lookup returns the cached reading of one tenant (reading Redis when it
// is missing or expired), or ErrNotFound. The tenant in it is shared:
// read it, never change it, never hand it out of the package.
func (r *Registry) lookup(ctx context.Context, id string) (cachedTenant, error) {
	if !ValidID(id) {
		return cachedTenant{}, fmt.Errorf("tenants: get %q: %w", truncate(id, 70), ErrNotFound)
	}
	now := r.now()
	r.mu.Lock()
	c, ok := r.cache[id]
	gen := r.gen[id]
	r.mu.Unlock()
	if !ok || !now.Before(c.expires) {
		raw, err := r.rdb.Get(ctx, tenantKey(id)).Bytes()
		switch {
		case errors.Is(err, redis.Nil):
			raw = nil
		case err != nil:
			return cachedTenant{}, unavailable(fmt.Sprintf("get %q", id), err)
		}
		c = cachedTenant{expires: now.Add(r.ttl)}
		if raw != nil {
			var t Tenant
			if err := json.Unmarshal(raw, &t); err != nil {
				return cachedTenant{}, fmt.Errorf("tenants: get %q: decode: %w", id, err)
			}
			h, err := configHash(t.Store)
			if err != nil {
				return cachedTenant{}, fmt.Errorf("tenants: get %q: %w", id, err)
			}
			c.tenant, c.storeHash = &t, h
		}
		r.mu.Lock()
		if r.gen[id] == gen {
			r.store(id, c, now)
		}
		r.mu.Unlock()
	}
	if c.tenant == nil {
		return cachedTenant{}, fmt.Errorf("tenants: get %q: %w", id, ErrNotFound)
	}
	return c, nil
}

// List returns every tenant, sorted by id. It always reads Redis.
func (r *Registry) List(ctx context.Context) ([]Tenant, error) {
	ids, err := r.rdb.SMembers(ctx, tenantsSetKey).Result()
	if err != nil {
		return nil, unavailable("list", err)
	}
	sort.Strings(ids)
	// One GET per tenant in a pipeline: the records live in different
	// hash slots, so MGET would not work on a cluster.
	cmds := make([]*redis.StringCmd, len(ids))
	_, err = r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.Get(ctx, tenantKey(id))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, unavailable("list", err)
	}
	out := make([]Tenant, 0, len(ids))
	for i, cmd := range cmds {
		raw, err := cmd.Bytes()
		if errors.Is(err, redis.Nil) {
			continue // being created or deleted
		}
		if err != nil {
			return nil, unavailable("list", err)
		}
		var t Tenant
		if err := json.Unmarshal(raw, &t); err != nil {
			return nil, fmt.Errorf("tenants: list: decode %q: %w", ids[i], err)
		}
		out = append(out, t)
	}
	return out, nil
}

// Disable marks the tenant disabled (ErrNotFound when it does not exist).
func (r *Registry) Disable(ctx context.Context, id string) error {
	return r.setDisabled(ctx, id, true)
}

// Enable clears the tenant's disabled mark (ErrNotFound when it does not exist).
func (r *Registry) Enable(ctx context.Context, id string) error {
	return r.setDisabled(ctx, id, false)
}

func (r *Registry) setDisabled(ctx context.Context, id string, disabled bool) error {
	op := "enable"
	if disabled {
		op = "disable"
	}
	if !ValidID(id) {
		return fmt.Errorf("tenants: %s %q: %w", op, truncate(id, 70), ErrNotFound)
	}
	key := tenantKey(id)
	defer r.invalidate(id)
	err := watchRetry(ctx, r.rdb, key, func(tx *redis.Tx) error {
		raw, err := tx.Get(ctx, key).Bytes()
		if err != nil {
			return err
		}
		var t Tenant
		if err := json.Unmarshal(raw, &t); err != nil {
			return fmt.Errorf("decode: %w", err)
		}
		t.Disabled = disabled
		raw, err = json.Marshal(t)
		if err != nil {
			return err
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, key, raw, 0)
			return nil
		})
		return err
	})
	switch {
	case errors.Is(err, redis.Nil):
		return fmt.Errorf("tenants: %s %q: %w", op, id, ErrNotFound)
	case err != nil:
		return unavailable(fmt.Sprintf("%s %q", op, id), err)
	}
	return nil
}

// Delete removes the tenant and its API keys (ErrNotFound when it does not
// exist). The tenant's provisioning data (ledger) is not touched here.
func (r *Registry) Delete(ctx context.Context, id string) error {
	if !ValidID(id) {
		return fmt.Errorf("tenants: delete %q: %w", truncate(id, 70), ErrNotFound)
	}
	defer r.invalidate(id)
	// Leave the listing first, then revoke every key (their hash index
	// entries are global keys), then drop the record.
	if err := r.rdb.SRem(ctx, tenantsSetKey, id).Err(); err != nil {
		return unavailable(fmt.Sprintf("delete %q", id), err)
	}
	if err := deleteTenantKeys(ctx, r.rdb, id); err != nil {
		return unavailable(fmt.Sprintf("delete %q", id), err)
	}
	if err := deleteTenantSetupLinks(ctx, r.rdb, id); err != nil {
		return unavailable(fmt.Sprintf("delete %q", id), err)
	}
	n, err := r.rdb.Del(ctx, tenantKey(id)).Result()
	if err != nil {
		return unavailable(fmt.Sprintf("delete %q", id), err)
	}
	if n == 0 {
		return fmt.Errorf("tenants: delete %q: %w", id, ErrNotFound)
	}
	return nil
}

// watchRetry runs fn as an optimistic transaction on key, again when a
// concurrent write to key made it fail.
func watchRetry(ctx context.Context, rdb redis.UniversalClient, key string, fn func(*redis.Tx) error) error {
	var err error
	for range 10 {
		err = rdb.Watch(ctx, fn, key)
		if !errors.Is(err, redis.TxFailedErr) {
			return err
		}
	}
	return err
}

// maxCachedTenants bounds the cache, which also remembers unknown ids.
const maxCachedTenants = 10000

// store caches c for id; r.mu is held.
func (r *Registry) store(id string, c cachedTenant, now time.Time) {
	if len(r.cache) >= maxCachedTenants {
		for k, v := range r.cache {
			if !now.Before(v.expires) {
				delete(r.cache, k)
			}
		}
		if len(r.cache) >= maxCachedTenants {
			clear(r.cache)
		}
	}
	r.cache[id] = c
}

// invalidate drops the cached entry for id.
func (r *Registry) invalidate(id string) {
	r.mu.Lock()
	delete(r.cache, id)
	r.gen[id]++
	r.mu.Unlock()
}
