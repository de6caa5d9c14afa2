package sync

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestTenantLimiterBoundsEachTenant(t *testing.T) {
	t.Parallel()
	rdb := testRedis(t)
	a, b := testTenant(t, rdb), testTenant(t, rdb)
	lim := NewTenantLimiter(NewLedger(rdb, nil), concurrencyFunc(func(tenant string) int {
		if tenant == a {
			return 2
		}
		return 1
	}), time.Minute, 20*time.Millisecond)
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
	// No slot of b is held in Redis (a live slot scores its expiry).
	if n, err := rdb.ZCount(ctx, slotsKey(b), strconv.FormatInt(time.Now().UnixMilli(), 10), "+inf").Result(); err != nil || n != 0 {
		t.Fatalf("b's slots held after release = %d (%v)", n, err)
	}
	// A killed process's slot expires for the others.
	one := concurrencyFunc(func(string) int { return 1 })
	dead := NewTenantLimiter(NewLedger(rdb, nil), one, 50*time.Millisecond, testLimiterWait)
	c := testTenant(t, rdb)
	if _, ok, _ := dead.Acquire(ctx, c); !ok {
		t.Fatal("first slot")
	}
	alive := NewTenantLimiter(NewLedger(rdb, nil), one, 50*time.Millisecond, 20*time.Millisecond)
	if _, ok, _ := alive.Acquire(ctx, c); ok {
		t.Fatal("a second process took a slot the first still holds")
	}
	time.Sleep(100 * time.Millisecond)
	if _, ok, _ := alive.Acquire(ctx, c); !ok {
		t.Fatal("an expired slot still blocks")
	}
}

func TestTenantLimiterWaitsForALocalTurn(t *testing.T) {
	t.Parallel()
	rdb := testRedis(t)
	tenant := testTenant(t, rdb)
	lim := NewTenantLimiter(NewLedger(rdb, nil), concurrencyFunc(func(string) int { return 1 }), time.Minute, 5*time.Second)
	ctx := context.Background()
	release, ok, _ := lim.Acquire(ctx, tenant)
	if !ok {
		t.Fatal("first turn")
	}
	got := make(chan bool)
	go func() {
		r, ok, _ := lim.Acquire(ctx, tenant) // waits for the first to finish
		if ok {
			r()
		}
		got <- ok
	}()
	// The waiting line is bounded: with one waiter already, the next
	// apply goes back to the queue at once instead of waiting too.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if v, _ := lim.local.Load(tenant); v != nil && v.(*localSlots).waiting.Load() == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second apply never started waiting")
		}
		time.Sleep(time.Millisecond)
	}
	if _, ok, _ := lim.Acquire(ctx, tenant); ok {
		t.Fatal("a third apply got a turn over the limit")
	}
	release()
	if !<-got {
		t.Fatal("the waiting apply did not get the released turn")
	}
}

// TestTenantLimiterUnreadableLimitIsOne: a tenant whose concurrency cannot
// be read gets one slot (gentle), not an unlimited number.
func TestTenantLimiterUnreadableLimitIsOne(t *testing.T) {
	t.Parallel()
	rdb := testRedis(t)
	tenant := testTenant(t, rdb)
	lim := NewTenantLimiter(NewLedger(rdb, nil), failingConcurrency{}, time.Minute, 20*time.Millisecond)
	ctx := context.Background()
	release, ok, err := lim.Acquire(ctx, tenant)
	if !ok || err != nil {
		t.Fatalf("first slot: %v %v", ok, err)
	}
	defer release()
	if _, ok, _ := lim.Acquire(ctx, tenant); ok {
		t.Fatal("a second slot with an unreadable limit")
	}
}

func TestNewTenantLimiterPanicsOnMissingSettings(t *testing.T) {
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(fmt.Sprint(r), "TTL, Wait") {
			t.Fatalf("panic = %v, want one naming TTL and Wait", r)
		}
	}()
	NewTenantLimiter(&Ledger{}, failingConcurrency{}, 0, 0)
}
