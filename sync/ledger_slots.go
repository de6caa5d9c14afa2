package sync

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// The worker's shared locks in Redis: each tenant's apply slots
// (TenantLimiter), its webhook delivery slots (Webhooks.TenantConcurrency)
// and the sweeper's lock (Sweeper).

// releaseTimeout bounds the give-back of a lease or a slot, which runs
// even when the apply's context has ended.
const releaseTimeout = 5 * time.Second

func slotsKey(tenant string) string { return "sb:{" + tenant + "}:slots" }

// webhookSlotsKey holds the tenant's delivery runs (zset token → expiry
// ms), in the tenant's hash slot like its other keys.
func webhookSlotsKey(tenant string) string { return "sb:{" + tenant + "}:wh:slots" }

// acquireSlotScript takes a slot if fewer than the limit are held.
// KEYS: 1 slots (zset token → expiry ms). ARGV: 1 now ms, 2 ttl ms, 3 limit, 4 token.
// A slot already held by the token is ours (a resend of this call).
var acquireSlotScript = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[4]) then return 1 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[2]), ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)

// takeSlot takes one of the tenant's limit slots for ttl, across every
// process. ok is false when all are held; release gives the slot back.
func (l *Ledger) takeSlot(ctx context.Context, tenant string, limit int, ttl time.Duration) (release func(), ok bool, err error) {
	return l.takeSlotOf(ctx, slotsKey(tenant), limit, ttl)
}

// takeWebhookSlot takes one of the tenant's limit delivery-run slots for
// ttl, across every process (as takeSlot: a killed worker's slot expires).
func (l *Ledger) takeWebhookSlot(ctx context.Context, tenant string, limit int, ttl time.Duration) (release func(), ok bool, err error) {
	return l.takeSlotOf(ctx, webhookSlotsKey(tenant), limit, ttl)
}

// takeSlotOf takes one of limit slots of the zset key for ttl.
func (l *Ledger) takeSlotOf(ctx context.Context, key string, limit int, ttl time.Duration) (release func(), ok bool, err error) {
	token := newID()
	now := time.Now().UnixMilli()
	n, err := acquireSlotScript.Run(ctx, l.rdb, []string{key},
		now, ttl.Milliseconds(), limit, token).Int()
	if err != nil {
		return nil, false, redisErr("tenant slot", err)
	}
	if n == 0 {
		return nil, false, nil
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		defer cancel()
		l.rdb.ZRem(ctx, key, token)
	}, true, nil
}

// sweepLockKey is the sweeper's lock, shared by every worker.
const sweepLockKey = "sb:sweeper:lock"

// AcquireSweepLock takes the sweeper's lock for ttl unless another worker
// holds it; it is never released, only expires (one sweep per ttl). The
// lock holds a token of this call: a resend of the SET after a lost reply
// finds it and is still this call's win, not another worker's lock.
func (l *Ledger) AcquireSweepLock(ctx context.Context, ttl time.Duration) (bool, error) {
	token := newID()
	ok, err := l.rdb.SetNX(ctx, sweepLockKey, token, ttl).Result()
	if err == nil && !ok {
		var held string
		held, err = l.rdb.Get(ctx, sweepLockKey).Result()
		ok = err == nil && held == token
		if errors.Is(err, redis.Nil) {
			err = nil // expired in between: another round takes it
		}
	}
	if err != nil {
		return false, redisErr("sweeper lock", err)
	}
	return ok, nil
}
