package sync

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/scimbridge/scimbridge/internal/testsupport"
)

// testRedis is the test Redis's shared database (testsupport.Redis).
func testRedis(t testing.TB) redis.UniversalClient {
	t.Helper()
	return testsupport.Redis(t)
}

// testTenant returns a fresh tenant id whose keys are deleted after the test.
func testTenant(t testing.TB, rdb redis.UniversalClient) string {
	t.Helper()
	return testsupport.Tenant(t, rdb, "t")
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
