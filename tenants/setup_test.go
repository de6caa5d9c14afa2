package tenants

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/scimbridge/scimbridge/adapters"
)

// testRedis connects to the Redis named by SCIMBRIDGE_TEST_REDIS (default
// 127.0.0.1:6379). Unreachable: skip on a developer machine, fail in CI.
func testRedis(tb testing.TB) redis.UniversalClient {
	tb.Helper()
	addr := os.Getenv("SCIMBRIDGE_TEST_REDIS")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	var opts *redis.Options
	if o, err := redis.ParseURL(addr); err == nil {
		opts = o
	} else {
		opts = &redis.Options{Addr: addr}
	}
	rdb := redis.NewClient(opts)
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		_ = rdb.Close()
		if os.Getenv("CI") != "" {
			tb.Fatalf("redis at %s unreachable (CI is set): %v", addr, err)
		}
		tb.Skipf("redis at %s unreachable: %v", addr, err)
	}
	tb.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// newTenantID returns a tenant id no other test uses, and removes
// everything stored under it when the test ends.
func newTenantID(tb testing.TB, rdb redis.UniversalClient) string {
	tb.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	id := "t-" + hex.EncodeToString(b[:])
	tb.Cleanup(func() { cleanupTenant(tb, rdb, id) })
	return id
}

func cleanupTenant(tb testing.TB, rdb redis.UniversalClient, id string) {
	ctx := context.Background()
	if err := deleteTenantKeys(ctx, rdb, id); err != nil {
		tb.Errorf("cleanup keys of %s: %v", id, err)
	}
	rdb.SRem(ctx, tenantsSetKey, id)
	rdb.Del(ctx, tenantKey(id))
	// Anything else under the tenant's tag (there should be nothing).
	var cursor uint64
	for {
		keys, next, err := rdb.Scan(ctx, cursor, "sb:{"+id+"}:*", 100).Result()
		if err != nil {
			tb.Errorf("cleanup scan %s: %v", id, err)
			return
		}
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
		if next == 0 {
			return
		}
		cursor = next
	}
}

// validStore is a store configuration that passes validation.
func validStore(dsn string) adapters.Config {
	return adapters.Config{
		Kind: "sqlite",
		DSN:  dsn,
		Users: adapters.UserMapping{
			Table:      "users",
			Key:        "id",
			Attributes: map[string]string{"userName": "login"},
			OnDelete:   "delete",
		},
	}
}

// putTenant stores a valid tenant with the given id.
func putTenant(tb testing.TB, reg *Registry, id string) Tenant {
	tb.Helper()
	t := Tenant{ID: id, Name: "Tenant " + id, Store: validStore("file:/tmp/" + id + ".db")}
	if err := reg.Put(context.Background(), t); err != nil {
		tb.Fatalf("put tenant %s: %v", id, err)
	}
	return t
}
