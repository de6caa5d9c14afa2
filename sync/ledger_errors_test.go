package sync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scimbridge/scimbridge/adapters"
)

// TestRedisErrorsClassifiedByType: what cannot reach Redis is
// ErrUnavailable (and so adapters' ClassUnavailable: retried); a command
// Redis refuses is not.
func TestRedisErrorsClassifiedByType(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	unavailable := func(name string, err error) {
		t.Helper()
		if !errors.Is(err, ErrUnavailable) || adapters.Classify(err) != adapters.ClassUnavailable {
			t.Errorf("%s: %v (class %q), want ErrUnavailable", name, err, adapters.Classify(err))
		}
	}

	// Nothing listens there: connection refused (a net.Error).
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second})
	defer down.Close()
	_, err := NewLedger(down, nil).CountUsers(ctx, "t")
	unavailable("refused", err)

	// A closed client.
	rdb := testRedis(t)
	closed := redis.NewClient(&redis.Options{Addr: rdb.(*redis.Client).Options().Addr})
	closed.Close()
	_, err = NewLedger(closed, nil).CountUsers(ctx, "t")
	unavailable("closed client", err)

	// A deadline.
	dctx, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel()
	_, err = NewLedger(rdb, nil).CountUsers(dctx, "t")
	unavailable("deadline", err)

	for _, e := range []error{io.EOF, io.ErrUnexpectedEOF, redis.ErrPoolTimeout,
		errors.New("LOADING Redis is loading the dataset in memory")} {
		unavailable(e.Error(), redisErr("op", e))
	}

	// The metric's class label of a ledger outage.
	if c := FailureClass(redisErr("op", io.EOF)); c != "unavailable" {
		t.Errorf("FailureClass of a ledger outage = %q", c)
	}

	// A command Redis refuses (wrong type) is not unavailability.
	tenant := testTenant(t, rdb)
	if err := rdb.Set(ctx, userKeys(tenant).all(), "not a zset", 0).Err(); err != nil {
		t.Fatal(err)
	}
	_, err = NewLedger(rdb, nil).CountUsers(ctx, tenant)
	if err == nil || errors.Is(err, ErrUnavailable) || adapters.Classify(err) != adapters.ClassOther {
		t.Fatalf("WRONGTYPE: %v (class %q), want a plain error", err, adapters.Classify(err))
	}
	// Nor is a message that merely mentions a connection problem.
	if e := redisErr("op", fmt.Errorf("user said: connection refused, EOF")); errors.Is(e, ErrUnavailable) {
		t.Fatalf("string match: %v", e)
	}
}
