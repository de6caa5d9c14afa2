package tenants

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/internal/testsupport"
)

// testRedis is the test Redis's shared database (testsupport.Redis).
func testRedis(tb testing.TB) redis.UniversalClient {
	tb.Helper()
	return testsupport.Redis(tb)
}

// newTenantID returns a tenant id no other test uses, and removes
// everything stored under it when the test ends: the registry's entry
// here, its tagged keys in testsupport.Tenant.
func newTenantID(tb testing.TB, rdb redis.UniversalClient) string {
	tb.Helper()
	id := testsupport.Tenant(tb, rdb, "t")
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
