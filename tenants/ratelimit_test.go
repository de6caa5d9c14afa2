package tenants

import (
	"context"
	"testing"
	"time"
)

func TestRateLimiterPerTenant(t *testing.T) {
	t.Parallel()
	rdb := testRedis(t)
	a, b := newTenantID(t, rdb), newTenantID(t, rdb)
	t.Cleanup(func() { rdb.Del(context.Background(), rateKey(a), rateKey(b)) })
	// 1 request per second with a burst of 3: the 4th request at once waits.
	l := NewRateLimiter(rdb, 1, 3)
	ctx := context.Background()
	for i := range 3 {
		if ok, _, err := l.Allow(ctx, a); !ok || err != nil {
			t.Fatalf("request %d within the burst refused: %v", i, err)
		}
	}
	ok, wait, err := l.Allow(ctx, a)
	if ok || err != nil || wait <= 0 || wait > time.Second {
		t.Fatalf("over the burst: ok=%v wait=%s err=%v", ok, wait, err)
	}
	// Another tenant has its own budget.
	if ok, _, _ := l.Allow(ctx, b); !ok {
		t.Fatal("tenant b limited by tenant a's traffic")
	}
	// Disabled limiter allows everything.
	if ok, _, _ := NewRateLimiter(rdb, 0, 0).Allow(ctx, a); !ok {
		t.Fatal("a disabled limiter refused")
	}
}
