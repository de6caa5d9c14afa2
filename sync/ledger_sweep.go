package sync

// Which tenants a sweeper pass reads is decided in this file.
//
// A pass used to read both dirty lists of every tenant: two commands per
// tenant per pass, for ever (100 idle tenants: a third of an idle
// deployment's Redis commands; 10,000: 667 a second). Now a write that
// marks resources dirty (the front door's, an operator's replay, a drift
// repair, a restore) first records its tenant in the sweep index
// (sweepIndexKey, a sorted set scored by the time of the record), at most
// once per sweepTouchEvery per tenant and process once Redis confirmed it,
// before the write: a crash between the write and its enqueue, the case
// the sweeper exists for, leaves the tenant in the index. A pass reads the
// tenants of the index; every sweepFullEvery it reads every tenant (the
// backstop: a record that failed or was lost with a failover, a recover),
// puts the ones it finds dirty in the index and takes deleted tenants out.
//
// A tenant leaves the index when a pass finds both its dirty lists empty
// and its record older than sweepIndexKeep, and the record has not been
// renewed meanwhile (a script compares the score). A write that came
// after the record without renewing it came within sweepTouchEvery of it,
// so minutes before that look, which therefore saw its dirty mark unless
// it was already applied. (Scores are the writers' clocks: this holds
// while clocks agree within sweepIndexKeep - sweepTouchEvery; the full
// pass covers the rest.)

import (
	"context"
	"strconv"
	gosync "sync"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	// sweepIndexKey is the sweep index (no hash tag: a key of its own).
	sweepIndexKey = "sb:sweeper:tenants"
	// sweepTouchEvery bounds the index records of one process: one per
	// tenant per minute, whatever the write rate.
	sweepTouchEvery = time.Minute
	// sweepTouchTimeout bounds a record's round trip; sweepTouchRetry is
	// how soon after a failed one a write records again.
	sweepTouchTimeout = 250 * time.Millisecond
	sweepTouchRetry   = 5 * time.Second
	// sweepIndexKeep is how long a tenant stays in the index after its
	// last record, dirty or not.
	sweepIndexKeep = 5 * time.Minute
	// sweepFullEvery is how often a sweeper reads every tenant: one
	// pass in that time across all the workers (sweepFullKey), besides each
	// process's first.
	sweepFullEvery = 10 * time.Minute
	// sweepFullKey is held for sweepFullEvery by the last full pass.
	sweepFullKey = "sb:sweeper:full"
)

// sweepTouches is when this process last recorded each tenant.
type sweepTouches struct {
	mu gosync.Mutex
	at map[string]time.Time
}

// touchSweep records tenant in the sweep index before a write that marks
// resources dirty (see the top of this file). Only a record Redis
// confirmed stops the next ones: writers that come while one is on its way
// record too. A failure is not the write's (the full pass is the
// backstop); the record is tried again by writes after sweepTouchRetry,
// and a record never holds a write up for more than sweepTouchTimeout.
func (l *Ledger) touchSweep(ctx context.Context, tenant string) {
	now := l.now()
	t := &l.touches
	t.mu.Lock()
	last, ok := t.at[tenant]
	t.mu.Unlock()
	if ok && now.Sub(last) < sweepTouchEvery {
		return
	}
	tctx, cancel := context.WithTimeout(ctx, sweepTouchTimeout)
	defer cancel()
	err := l.rdb.ZAdd(tctx, sweepIndexKey, redis.Z{Score: float64(now.UnixMilli()), Member: tenant}).Err()
	if err != nil {
		now = now.Add(sweepTouchRetry - sweepTouchEvery) // try again soon, not at every write
	}
	t.mu.Lock()
	if t.at == nil {
		t.at = map[string]time.Time{}
	}
	if now.After(t.at[tenant]) {
		t.at[tenant] = now
	}
	t.mu.Unlock()
}

// claimFullSweep reports whether this pass is the full pass of the
// current sweepFullEvery, taking it if so; first (a process's first pass,
// always full) takes it whether or not another process holds it.
func (l *Ledger) claimFullSweep(ctx context.Context, first bool) (bool, error) {
	var ok bool
	var err error
	if first {
		err = l.rdb.Set(ctx, sweepFullKey, "1", sweepFullEvery).Err()
		ok = err == nil
	} else {
		ok, err = l.rdb.SetNX(ctx, sweepFullKey, "1", sweepFullEvery).Result()
	}
	if err != nil {
		return false, redisErr("sweep index", err)
	}
	return ok, nil
}

// sweepIndex returns the tenants in the sweep index and their records'
// scores.
func (l *Ledger) sweepIndex(ctx context.Context) (map[string]float64, error) {
	zs, err := l.rdb.ZRangeWithScores(ctx, sweepIndexKey, 0, -1).Result()
	if err != nil {
		return nil, redisErr("sweep index", err)
	}
	out := make(map[string]float64, len(zs))
	for _, z := range zs {
		if m, ok := z.Member.(string); ok {
			out[m] = z.Score
		}
	}
	return out, nil
}

// indexSweep puts a tenant a full pass found dirty in the sweep index (a
// record already there stays as it is).
func (l *Ledger) indexSweep(ctx context.Context, tenant string) error {
	if err := l.rdb.ZAddNX(ctx, sweepIndexKey, redis.Z{Score: float64(l.now().UnixMilli()), Member: tenant}).Err(); err != nil {
		return redisErr("sweep index", err)
	}
	return nil
}

// leaveSweepIndexLua removes ARGV[1] from the index if its score is still
// ARGV[2]. KEYS: 1 the index.
var leaveSweepIndexLua = redis.NewScript(`
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if s and tonumber(s) == tonumber(ARGV[2]) then
  return redis.call('ZREM', KEYS[1], ARGV[1])
end
return 0`)

// leaveSweepIndex takes tenant out of the index when both its dirty lists
// are empty and its record is still the one scored score.
func (l *Ledger) leaveSweepIndex(ctx context.Context, tenant string, score float64) error {
	pipe := l.rdb.Pipeline()
	users := pipe.ZCard(ctx, userKeys(tenant).dirty())
	groups := pipe.ZCard(ctx, groupKeys(tenant).dirty())
	if _, err := pipe.Exec(ctx); err != nil {
		return redisErr("sweep index", err)
	}
	if users.Val()+groups.Val() > 0 {
		return nil
	}
	return l.dropSweepIndex(ctx, tenant, score)
}

// dropSweepIndex takes tenant out of the index if its record is still the
// one scored score (a deleted tenant's; leaveSweepIndex's, once clean).
func (l *Ledger) dropSweepIndex(ctx context.Context, tenant string, score float64) error {
	if err := leaveSweepIndexLua.Run(ctx, l.rdb, []string{sweepIndexKey}, tenant, strconv.FormatFloat(score, 'f', -1, 64)).Err(); err != nil {
		return redisErr("sweep index", err)
	}
	return nil
}
