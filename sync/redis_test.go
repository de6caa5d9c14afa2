package sync

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"
)

// testRedis connects to the test Redis (SCIMBRIDGE_TEST_REDIS, default
// 127.0.0.1:6379). Missing: skip on a developer machine, fail in CI.
func testRedis(t testing.TB) redis.UniversalClient {
	t.Helper()
	addr := os.Getenv("SCIMBRIDGE_TEST_REDIS")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		rdb.Close()
		if os.Getenv("CI") != "" {
			t.Fatalf("redis at %s is required in CI: %v", addr, err)
		}
		t.Skipf("redis at %s unavailable: %v", addr, err)
	}
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// testTenant returns a fresh tenant id whose keys are deleted after the test.
func testTenant(t testing.TB, rdb redis.UniversalClient) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	tenant := "t-" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, "sb:{"+tenant+"}:*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
	})
	return tenant
}

func testSealer(t testing.TB) *Sealer {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	s, err := NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// redisValues renders everything stored under key (names and values) as
// text, to search for secrets that must not be there.
func redisValues(ctx context.Context, t testing.TB, rdb redis.UniversalClient, key string) string {
	t.Helper()
	typ, err := rdb.Type(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	var v any
	switch typ {
	case "string":
		v, err = rdb.Get(ctx, key).Result()
	case "hash":
		v, err = rdb.HGetAll(ctx, key).Result()
	case "set":
		v, err = rdb.SMembers(ctx, key).Result()
	case "zset":
		v, err = rdb.ZRangeWithScores(ctx, key, 0, -1).Result()
	case "list":
		v, err = rdb.LRange(ctx, key, 0, -1).Result()
	case "none":
		return ""
	default:
		t.Fatalf("unexpected type %s of %s", typ, key)
	}
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(key, v)
}
