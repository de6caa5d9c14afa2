package sync

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// The operator's writes to the ledger: a replay of a failed resource
// (replay.go) and the re-apply of a drifted user (drift.go).

// retryFailedScript takes a resource out of the failed index and marks it
// dirty again, so the next apply retries it. The failure and its version
// stay on the record for display until a version is applied.
//
// A resend of the same call (go-redis re-sends a script whose reply came
// too late, after it ran: see Replays, ledger_lua.go) must answer as the
// first run did, or the replay would skip its enqueue: the call's id is
// recorded on the record (field rtryop), and a run that finds the resource
// no longer failed but its own id there answers the desired version again.
//
// KEYS: 1 rec, 2 failed, 3 dirty. ARGV: 1 id, 2 now ms, 3 the call's id.
// Returns the desired version, or 0 when the resource was not failed.
var retryFailedScript = redis.NewScript(`
if redis.call('ZREM', KEYS[2], ARGV[1]) == 0 then
  if redis.call('HGET', KEYS[1], 'rtryop') == ARGV[3] then
    return tonumber(redis.call('HGET', KEYS[1], 'v'))
  end
  return 0
end
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('ZADD', KEYS[3], 'NX', ARGV[2], ARGV[1])
redis.call('HSET', KEYS[1], 'rtry', '1', 'rtryop', ARGV[3])
return tonumber(redis.call('HGET', KEYS[1], 'v'))
`)

// RetryFailed takes a failed resource of kind ("User" or "Group") out of
// the failed index and marks it dirty, so it is applied again. It returns
// the desired version to enqueue, or 0 when the resource was not failed.
func (l *Ledger) RetryFailed(ctx context.Context, tenant, kind, id string) (int64, error) {
	k, err := keysOf(tenant, kind)
	if err != nil {
		return 0, err
	}
	l.touchSweep(ctx, tenant) // before the write: see ledger_sweep.go
	v, err := retryFailedScript.Run(ctx, l.rdb, []string{k.rec(id), k.failed(), k.dirty()}, id, l.now().UnixMilli(), newID()).Int64()
	if err != nil {
		return 0, redisErr("retry failed", err)
	}
	return v, nil
}

// reapplyScript makes an applied resource pending again without a new
// desired version: the applied version drops below the desired one and the
// resource is marked dirty, so the next reconcile writes it to the store.
//
// KEYS: 1 rec, 2 dirty. ARGV: 1 id, 2 now ms. Returns the desired version,
// 0 when the resource is missing or deleted.
var reapplyScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HGET', KEYS[1], 'del') == '1' then return 0 end
local v = tonumber(redis.call('HGET', KEYS[1], 'v'))
local av = tonumber(redis.call('HGET', KEYS[1], 'av') or '0')
if av >= v then redis.call('HSET', KEYS[1], 'av', v - 1) end
redis.call('ZADD', KEYS[2], 'NX', ARGV[2], ARGV[1])
return v
`)

// MarkForReapply makes a live user pending again at its current desired
// version, so the next reconcile writes it to the store (drift repair). It
// returns the version to enqueue, or 0 when the user is gone.
func (l *Ledger) MarkForReapply(ctx context.Context, tenant, id string) (int64, error) {
	k := userKeys(tenant)
	l.touchSweep(ctx, tenant) // before the write: see ledger_sweep.go
	v, err := reapplyScript.Run(ctx, l.rdb, []string{k.rec(id), k.dirty()}, id, l.now().UnixMilli()).Int64()
	if err != nil {
		return 0, redisErr("mark for reapply", err)
	}
	return v, nil
}
