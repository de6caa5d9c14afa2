package tenants

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scimbridge/scimbridge/internal/testsupport"
)

// fakeClock is a settable clock (KeyStore, OAuth clients, setup links).
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// A cached key keeps working after another process revoked it (that
// process's announcement is not watched here) for at most the cache's
// ttl; the revoking process itself rejects it at once; a cached key never
// opens another tenant.
func TestKeyCacheTTLBoundsRevocation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testRedis(t)
	reg := NewRegistry(rdb)
	tenant, other := newTenantID(t, rdb), newTenantID(t, rdb)
	putTenant(t, reg, tenant)
	putTenant(t, reg, other)

	clock := &fakeClock{t: time.Now()}
	cached := NewKeyStore(rdb)
	cached.now = clock.now
	cached.EnableCache(time.Second)
	admin := NewKeyStore(rdb) // another process: no cache, not watched

	plain, _, err := admin.Create(ctx, tenant, "okta")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cached.Verify(ctx, tenant, plain); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if _, err := cached.Verify(ctx, other, plain); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("a cached key opened another tenant: %v", err)
	}
	if err := admin.Revoke(ctx, tenant, "okta"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Verify(ctx, tenant, plain); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("revoking process still accepts the key: %v", err)
	}
	// Within the ttl the unwatched cache still trusts it ...
	clock.add(500 * time.Millisecond)
	if _, err := cached.Verify(ctx, tenant, plain); err != nil {
		t.Fatalf("cached key within ttl: %v (the cache is not used)", err)
	}
	// ... and not a moment after.
	clock.add(500 * time.Millisecond)
	if _, err := cached.Verify(ctx, tenant, plain); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("revoked key accepted after the cache ttl: %v", err)
	}
}

// A process that watches key changes drops a key revoked elsewhere as soon
// as the announcement arrives, long before its ttl (an hour here), and so
// does a tenant's deletion; revoking in the same process needs no
// announcement at all.
func TestKeyCacheWatchDropsRevokedKeys(t *testing.T) {
	t.Parallel()
	testKeyCacheWatchDropsRevokedKeys(t, testRedis(t))
}

// The same on a three-primary Redis Cluster: the announcement is published
// through one node and reaches a subscriber connected to another (cluster
// pub/sub is broadcast to every node), and the keys of a tenant share its
// slot.
func TestKeyCacheWatchOnRedisCluster(t *testing.T) {
	t.Parallel()
	cluster := testsupport.StartRedisCluster(t, 3)
	testKeyCacheWatchDropsRevokedKeys(t, cluster.Topology().Client(t))
}

func testKeyCacheWatchDropsRevokedKeys(t *testing.T, rdb redis.UniversalClient) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reg := NewRegistry(rdb)
	tenant, gone := newTenantID(t, rdb), newTenantID(t, rdb)
	putTenant(t, reg, tenant)
	putTenant(t, reg, gone)

	api := NewKeyStore(rdb)
	api.EnableCache(time.Hour)
	watching := make(chan struct{})
	go func() { defer close(watching); api.Watch(ctx, nil) }()
	admin := NewKeyStore(rdb)

	a, _, err := admin.Create(ctx, tenant, "a")
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := admin.Create(ctx, tenant, "b")
	if err != nil {
		t.Fatal(err)
	}
	g, _, err := admin.Create(ctx, gone, "g")
	if err != nil {
		t.Fatal(err)
	}
	// Whether the watcher subscribes before or after the revocation below
	// does not matter: (re)subscribing drops the whole cache.
	for _, k := range []struct{ tenant, key string }{{tenant, a}, {tenant, b}, {gone, g}} {
		if _, err := api.Verify(ctx, k.tenant, k.key); err != nil {
			t.Fatalf("verify: %v", err)
		}
	}
	if err := admin.Revoke(ctx, tenant, "a"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "key revoked by another process rejected", func() bool {
		_, err := api.Verify(ctx, tenant, a)
		return errors.Is(err, ErrUnauthorized)
	})
	if err := reg.Delete(ctx, gone); err != nil {
		t.Fatal(err)
	}
	eventually(t, "key of a deleted tenant rejected", func() bool {
		_, err := api.Verify(ctx, gone, g)
		return errors.Is(err, ErrUnauthorized)
	})
	// The other key of the tenant still works (after the announcement it
	// is simply read from Redis again).
	if _, err := api.Verify(ctx, tenant, b); err != nil {
		t.Fatalf("unrevoked key: %v", err)
	}
	// Revoked in this process: rejected on the very next call.
	if _, err := api.Verify(ctx, tenant, b); err != nil {
		t.Fatal(err)
	}
	if err := api.Revoke(ctx, tenant, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := api.Verify(ctx, tenant, b); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("key revoked in this process still accepted: %v", err)
	}
	cancel()
	<-watching
}

// A verification that read the key from Redis before a revocation, and
// finishes after it, must not leave the revoked key in the cache.
func TestKeyCacheIgnoresResultsOlderThanAnInvalidation(t *testing.T) {
	t.Parallel()
	c := newKeyCache(time.Hour)
	now := time.Now()
	rec := keyRecord{ID: "k1", Tenant: "t1", Hash: "h1"}
	gen := c.generation()
	c.invalidate("t1") // a revocation lands between the read and the put
	c.put("h1", rec, gen, now)
	if _, ok := c.get("h1", now); ok {
		t.Fatal("a result read before an invalidation was cached")
	}
	c.put("h1", rec, c.generation(), now)
	if _, ok := c.get("h1", now); !ok {
		t.Fatal("a fresh result was not cached")
	}
	c.invalidate("t2")
	if _, ok := c.get("h1", now); !ok {
		t.Fatal("another tenant's invalidation dropped the key")
	}
	c.invalidate("")
	if _, ok := c.get("h1", now); ok {
		t.Fatal("a full invalidation kept the key")
	}
}

// eventually polls cond every 5 ms for up to 10 s (a liveness bound, not a
// speed claim).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
