package sync

import (
	"context"
	"strconv"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// TenantLimiter bounds how many applies of one tenant run at once across
// every worker process, so one tenant's slow or dead store holds at most
// its own slots and never stalls the others' applies (and an LDAP server
// that takes one writer at a time gets one). A slot is a lease: a killed
// worker's slot expires.
//
// Within one process, applies of a tenant over its limit wait their turn
// briefly (at most `limit` of them, for at most Wait) instead of going
// back to the queue at once: a queue round trip per refusal costs Redis
// far more than the wait, and bounding the waiters keeps most worker
// goroutines free for other tenants.
type TenantLimiter struct {
	rdb redis.UniversalClient
	// Limit returns the tenant's slot count (<= 0: unlimited).
	Limit func(ctx context.Context, tenant string) int
	// TTL bounds how long a slot is held (it must exceed one apply).
	TTL time.Duration
	// Wait bounds how long an apply waits for a local turn (default 2 s).
	Wait time.Duration

	local gosync.Map // tenant → *localSlots
}

// localSlots is one tenant's turns in this process.
type localSlots struct {
	turns   chan struct{}
	waiting atomic.Int32
}

func (l *TenantLimiter) localFor(tenant string, limit int) *localSlots {
	if v, ok := l.local.Load(tenant); ok {
		ls := v.(*localSlots)
		if cap(ls.turns) == limit {
			return ls
		}
	}
	ls := &localSlots{turns: make(chan struct{}, limit)}
	l.local.Store(tenant, ls) // a changed limit starts a new set of turns
	return ls
}

// NewTenantLimiter returns a limiter over rdb.
func NewTenantLimiter(rdb redis.UniversalClient, ttl time.Duration, limit func(ctx context.Context, tenant string) int) *TenantLimiter {
	return &TenantLimiter{rdb: rdb, Limit: limit, TTL: ttl}
}

// acquireSlotScript takes a slot if fewer than the limit are held.
// KEYS: 1 slots (zset token → expiry ms). ARGV: 1 now ms, 2 ttl ms, 3 limit, 4 token.
var acquireSlotScript = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[2]), ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)

func slotsKey(tenant string) string { return "sb:{" + tenant + "}:slots" }

// Acquire takes one of the tenant's slots. ok is false when all are held.
func (l *TenantLimiter) Acquire(ctx context.Context, tenant string) (release func(), ok bool, err error) {
	if l == nil {
		return func() {}, true, nil
	}
	limit := 0
	if l.Limit != nil {
		limit = l.Limit(ctx, tenant)
	}
	if limit <= 0 {
		return func() {}, true, nil
	}
	ls := l.localFor(tenant, limit)
	if ls.waiting.Add(1) > int32(limit) {
		ls.waiting.Add(-1)
		return nil, false, nil // enough of this tenant's applies wait here already
	}
	wait := l.Wait
	if wait <= 0 {
		wait = 2 * time.Second
	}
	timer := time.NewTimer(wait)
	select {
	case ls.turns <- struct{}{}:
		timer.Stop()
		ls.waiting.Add(-1)
	case <-timer.C:
		ls.waiting.Add(-1)
		return nil, false, nil
	case <-ctx.Done():
		timer.Stop()
		ls.waiting.Add(-1)
		return nil, false, ctx.Err()
	}
	token := newID()
	now := time.Now().UnixMilli()
	n, err := acquireSlotScript.Run(ctx, l.rdb, []string{slotsKey(tenant)},
		now, l.TTL.Milliseconds(), limit, token).Int()
	if err != nil {
		<-ls.turns
		return nil, false, redisErr("tenant slot", err)
	}
	if n == 0 {
		<-ls.turns // other processes hold the tenant's slots
		return nil, false, nil
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		l.rdb.ZRem(ctx, slotsKey(tenant), token)
		<-ls.turns
	}, true, nil
}

// InUse returns how many slots the tenant holds now.
func (l *TenantLimiter) InUse(ctx context.Context, tenant string) (int, error) {
	n, err := l.rdb.ZCount(ctx, slotsKey(tenant), strconv.FormatInt(time.Now().UnixMilli(), 10), "+inf").Result()
	if err != nil {
		return 0, redisErr("tenant slots", err)
	}
	return int(n), nil
}
