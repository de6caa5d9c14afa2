package sync

import (
	"context"
	"testing"
	"time"
)

func TestTenantLimiterBoundsEachTenant(t *testing.T) {
	t.Parallel()
	rdb := testRedis(t)
	a, b := testTenant(t, rdb), testTenant(t, rdb)
	lim := NewTenantLimiter(rdb, time.Minute, func(_ context.Context, tenant string) int {
		if tenant == a {
			return 2
		}
		return 1
	})
	ctx := context.Background()
	r1, ok1, _ := lim.Acquire(ctx, a)
	_, ok2, _ := lim.Acquire(ctx, a)
	_, ok3, err := lim.Acquire(ctx, a)
	if !ok1 || !ok2 || ok3 || err != nil {
		t.Fatalf("tenant a with limit 2: %v %v %v (%v)", ok1, ok2, ok3, err)
	}
	// Another tenant is not affected by a's full slots.
	rb, okb, _ := lim.Acquire(ctx, b)
	if !okb {
		t.Fatal("tenant b blocked by tenant a")
	}
	if _, ok, _ := lim.Acquire(ctx, b); ok {
		t.Fatal("tenant b exceeded its limit of 1")
	}
	r1()
	if _, ok, _ := lim.Acquire(ctx, a); !ok {
		t.Fatal("released slot not reusable")
	}
	rb()
	if n, _ := lim.InUse(ctx, b); n != 0 {
		t.Fatalf("b in use after release = %d", n)
	}
	// A killed holder's slot expires.
	short := NewTenantLimiter(rdb, 50*time.Millisecond, func(context.Context, string) int { return 1 })
	c := testTenant(t, rdb)
	if _, ok, _ := short.Acquire(ctx, c); !ok {
		t.Fatal("first slot")
	}
	time.Sleep(100 * time.Millisecond)
	if _, ok, _ := short.Acquire(ctx, c); !ok {
		t.Fatal("an expired slot still blocks")
	}
}
