package testsupport

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The Redis databases of the tests that need a whole database (they run a
// worker, or flush). One table, so that no two packages' tests, running
// concurrently, share one; every other test uses the shared database with
// a Tenant of its own. A package's tests using one of these run one after
// another (no t.Parallel), and two `go test` runs of one such package must
// not overlap.
const (
	DBScimbridgeE2E       = 9  // cmd/scimbridge: every test but the telemetry and security ones
	DBScimbridgeTelemetry = 11 // cmd/scimbridge: telemetry_test.go
	DBScimbench           = 12 // cmd/scimbench
	DBScimbridgeSecurity  = 13 // cmd/scimbridge: security_test.go
	DBQueue               = 14 // queue: asynq's queue list is per database; the tests use queue names of their own
	DBAdmin               = 15 // api/admin: the tenant list the tests read is theirs alone
)

// RedisOptions are the options of the test Redis (SCIMBRIDGE_TEST_REDIS:
// host:port or a redis:// URL; default DefaultRedis) on its shared
// database.
func RedisOptions() *redis.Options {
	v := cmp.Or(os.Getenv(EnvRedis), DefaultRedis)
	if strings.Contains(v, "://") {
		if o, err := redis.ParseURL(v); err == nil {
			return o
		}
	}
	return &redis.Options{Addr: v}
}

// RedisAddr is the test Redis's host:port.
func RedisAddr() string { return RedisOptions().Addr }

// Redis returns a client of the test Redis's shared database, closed at
// cleanup; with tune, the options can be changed first (a pool size, a
// database). An unreachable Redis is handled by Require.
func Redis(tb testing.TB, tune ...func(*redis.Options)) *redis.Client {
	tb.Helper()
	o := RedisOptions()
	for _, f := range tune {
		f(o)
	}
	c := redis.NewClient(o)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		Require(tb, redisLabel(o), err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// RedisDB makes db (one of the DB* constants) the test's own: it checks
// the test Redis answers (Require), flushes the database, and returns the
// server's address, for configurations that take an address and a
// database.
func RedisDB(tb testing.TB, db int) string {
	tb.Helper()
	c := Redis(tb, func(o *redis.Options) { o.DB = db })
	if err := c.FlushDB(context.Background()).Err(); err != nil {
		tb.Fatalf("flush redis db %d: %v", db, err)
	}
	return c.Options().Addr
}

// Tenant returns a tenant id no other test uses (prefix, a dash, random
// hex) and, when the test ends, deletes every key of rdb's database that
// carries the id's hash tag ({id}): a tenant's keys in the ledger, the
// queue and the key store.
func Tenant(tb testing.TB, rdb redis.UniversalClient, prefix string) string {
	tb.Helper()
	id := prefix + "-" + RandomHex(6)
	tb.Cleanup(func() { DeleteTagged(tb, rdb, id) })
	return id
}

// DeleteTagged deletes every key whose name carries the hash tag {tag}.
func DeleteTagged(tb testing.TB, rdb redis.UniversalClient, tag string) {
	tb.Helper()
	ctx := context.Background()
	var (
		mu   sync.Mutex
		keys []string
	)
	scan := func(ctx context.Context, c redis.UniversalClient) error {
		iter := c.Scan(ctx, 0, "*{"+tag+"}*", 1000).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			keys = append(keys, iter.Val())
			mu.Unlock()
		}
		return iter.Err()
	}
	var err error
	if cc, ok := rdb.(*redis.ClusterClient); ok { // a SCAN sees one node
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
	} else {
		err = scan(ctx, rdb)
	}
	if err != nil {
		tb.Errorf("scan keys of %s: %v", tag, err)
		return
	}
	// One tag is one slot: a multi-key DEL is fine on a cluster too.
	for len(keys) > 0 {
		n := min(len(keys), 500)
		if err := rdb.Del(ctx, keys[:n]...).Err(); err != nil {
			tb.Errorf("delete keys of %s: %v", tag, err)
			return
		}
		keys = keys[n:]
	}
}

// redisLabel names a database in messages.
func redisLabel(o *redis.Options) string { return fmt.Sprintf("redis at %s db %d", o.Addr, o.DB) }
