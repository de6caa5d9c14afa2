package sync

import (
	"context"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// The ledger side of backup and restore (backup.go): every record of a
// tenant read a batch at a time, records written back with the indexes
// rebuilt from their fields, the tenant's ledger keys removed before an
// overwrite, and a restored group's membership differences made pending.

// backupBatch is how many records one round trip reads or writes.
const backupBatch = 200

// scanKeys calls fn with batches of the keys matching pattern. A tenant's
// keys share one hash slot, so on a cluster they are on one primary; every
// primary is scanned (the others answer nothing).
func (l *Ledger) scanKeys(ctx context.Context, pattern string, fn func([]string) error) error {
	scan := func(ctx context.Context, c redis.Cmdable) error {
		var cursor uint64
		for {
			keys, next, err := c.Scan(ctx, cursor, pattern, backupBatch).Result()
			if err != nil {
				return redisErr("scan", err)
			}
			if len(keys) > 0 {
				if err := fn(keys); err != nil {
					return err
				}
			}
			if next == 0 {
				return nil
			}
			cursor = next
		}
	}
	if cc, ok := l.rdb.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
	}
	return scan(ctx, l.rdb)
}

// backupRecord is one resource as the ledger holds it.
type backupRecord struct {
	id      string
	fields  map[string]string
	members []string          // groups: desired member user ids
	pending map[string]string // groups: membership changes not yet applied
	// journal is the resource's event journal (ledger_events.go): the
	// transitions of versions not yet turned into events, and "n", its
	// last event sequence number, so events go on numbering after a
	// restore.
	journal map[string]string
}

// eachRecord calls fn with every record of a kind (live and deleted), a
// batch at a time, in no particular order.
func (l *Ledger) eachRecord(ctx context.Context, k keys, fn func([]backupRecord) error) error {
	prefix := k.prefix() + "r:"
	return l.scanKeys(ctx, prefix+"*", func(recKeys []string) error {
		pipe := l.rdb.Pipeline()
		recs := make([]*redis.MapStringStringCmd, len(recKeys))
		mems := make([]*redis.StringSliceCmd, len(recKeys))
		pend := make([]*redis.MapStringStringCmd, len(recKeys))
		jour := make([]*redis.MapStringStringCmd, len(recKeys))
		for i, key := range recKeys {
			recs[i] = pipe.HGetAll(ctx, key)
			jour[i] = pipe.HGetAll(ctx, k.journal(strings.TrimPrefix(key, prefix)))
			if k.kind == "g" {
				id := strings.TrimPrefix(key, prefix)
				mems[i] = pipe.SMembers(ctx, k.members(id))
				pend[i] = pipe.HGetAll(ctx, k.pending(id))
			}
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return redisErr("read records", err)
		}
		out := make([]backupRecord, 0, len(recKeys))
		for i, key := range recKeys {
			f := recs[i].Val()
			if len(f) == 0 {
				continue // gone since the scan
			}
			r := backupRecord{id: strings.TrimPrefix(key, prefix), fields: f, journal: jour[i].Val()}
			if k.kind == "g" {
				r.members, r.pending = mems[i].Val(), pend[i].Val()
			}
			out = append(out, r)
		}
		return fn(out)
	})
}

// clearLedger removes the tenant's users and groups (records, indexes,
// members, dirty and failed marks, leases) and the recover mark. The drain
// generation is kept: API processes remember the one they queued a drain
// for, and it must not go back.
func (l *Ledger) clearLedger(ctx context.Context, tenant string) error {
	keep := userKeys(tenant).drainGen()
	del := func(keys []string) error {
		out := keys[:0]
		for _, k := range keys {
			if k != keep {
				out = append(out, k)
			}
		}
		if len(out) == 0 {
			return nil
		}
		if err := l.rdb.Del(ctx, out...).Err(); err != nil {
			return redisErr("clear ledger", err)
		}
		return nil
	}
	for _, k := range []keys{userKeys(tenant), groupKeys(tenant)} {
		if err := l.scanKeys(ctx, k.prefix()+"*", del); err != nil {
			return err
		}
	}
	return del([]string{recoverKey(tenant)})
}

// splitLines splits a newline-separated index value.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// writeRecords writes a batch of records of a kind in one transaction,
// with every index rebuilt from the fields as the write scripts keep them:
// the uniqueness hashes and the externalId, email and anchor indexes, the
// list order, the dirty mark (desired above applied, or membership changes
// pending) and the failed index. The creation counters are raised to the
// largest seq and change number written.
func (l *Ledger) writeRecords(ctx context.Context, k keys, recs []backupRecord) error {
	l.touchSweep(ctx, k.tenant) // before the write: see ledger_sweep.go
	now := float64(l.now().UnixMilli())
	var maxSeq, maxChange int64
	pipe := l.rdb.TxPipeline()
	for _, r := range recs {
		f := r.fields
		args := make([]any, 0, 2*len(f))
		for name, v := range f {
			args = append(args, name, v)
		}
		pipe.Del(ctx, k.rec(r.id), k.journal(r.id))
		pipe.HSet(ctx, k.rec(r.id), args...)
		if len(r.journal) > 0 {
			js := make([]any, 0, 2*len(r.journal))
			for name, v := range r.journal {
				js = append(js, name, v)
			}
			pipe.HSet(ctx, k.journal(r.id), js...)
		}
		num := func(name string) int64 { n, _ := strconv.ParseInt(f[name], 10, 64); return n }
		if f["del"] != "1" {
			if un := f["un"]; un != "" {
				if k.kind == "g" {
					pipe.HSet(ctx, k.idxDisplayName(), un, r.id)
				} else {
					pipe.HSet(ctx, k.idxUserName(), un, r.id)
				}
			}
			if ext := f["ext"]; ext != "" {
				pipe.ZAdd(ctx, k.idxExternalIDs(), redis.Z{Member: ext + "\x00" + r.id})
			}
			for _, e := range splitLines(f["ems"]) {
				pipe.ZAdd(ctx, k.idxEmails(), redis.Z{Member: e + "\x00" + r.id})
			}
			pipe.ZAdd(ctx, k.all(), redis.Z{Score: float64(num("seq")), Member: r.id})
		}
		if a := f["anchor"]; a != "" {
			// A live resource owns its anchor; a deleted one only where no
			// live one shares the entry (whichever comes first in the file).
			if f["del"] == "1" {
				pipe.HSetNX(ctx, k.idxAnchor(), a, r.id)
			} else {
				pipe.HSet(ctx, k.idxAnchor(), a, r.id)
			}
		}
		if num("v") > num("av") || len(r.pending) > 0 {
			pipe.ZAddNX(ctx, k.dirty(), redis.Z{Score: now, Member: r.id})
		}
		if f["fail"] != "" && num("failv") >= num("v") && f["rtry"] != "1" {
			pipe.ZAdd(ctx, k.failed(), redis.Z{Score: now, Member: r.id})
		}
		if s := num("seq"); s > maxSeq {
			maxSeq = s
		}
		if k.kind == "g" {
			pipe.Del(ctx, k.members(r.id), k.pending(r.id))
			if len(r.members) > 0 {
				ms := make([]any, len(r.members))
				for i, m := range r.members {
					ms[i] = m
				}
				pipe.SAdd(ctx, k.members(r.id), ms...)
			}
			if len(r.pending) > 0 {
				ps := make([]any, 0, 2*len(r.pending))
				for u, c := range r.pending {
					ps = append(ps, u, c)
					if n, _ := strconv.ParseInt(strings.TrimLeft(c, "+-"), 10, 64); n > maxChange {
						maxChange = n
					}
				}
				pipe.HSet(ctx, k.pending(r.id), ps...)
			}
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return redisErr("write records", err)
	}
	if err := raiseCounterScript.Run(ctx, l.rdb, []string{k.seq()}, maxSeq).Err(); err != nil {
		return redisErr("write records", err)
	}
	if k.kind == "g" {
		if err := raiseCounterScript.Run(ctx, l.rdb, []string{k.memberSeq()}, maxChange).Err(); err != nil {
			return redisErr("write records", err)
		}
	}
	return nil
}

// raiseCounterScript sets a counter to ARGV[1] unless it is higher already.
var raiseCounterScript = redis.NewScript(`
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > cur then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
`)

// regroupScript makes a restored group converge with its store entry: its
// attributes are applied again (applied version below desired) and the
// membership differences become pending changes, numbered like a write's.
//
// KEYS: 1 rec, 2 dirty, 3 pending, 4 member-change counter
// ARGV: 1 id, 2 now ms, 3 number of adds, then the user ids to add, then
// those to remove. Returns the desired version, 0 for a missing or deleted
// group.
var regroupScript = redis.NewScript(`
local rec = KEYS[1]
if redis.call('EXISTS', rec) == 0 or redis.call('HGET', rec, 'del') == '1' then return 0 end
local v = tonumber(redis.call('HGET', rec, 'v'))
local av = tonumber(redis.call('HGET', rec, 'av') or '0')
if av >= v then redis.call('HSET', rec, 'av', v - 1) end
local nadd = tonumber(ARGV[3])
if #ARGV > 3 then
  local n = redis.call('INCR', KEYS[4])
  for i = 4, #ARGV do
    local c = '-'
    if i < 4 + nadd then c = '+' end
    redis.call('HSET', KEYS[3], ARGV[i], c .. n)
  end
end
redis.call('ZADD', KEYS[2], 'NX', ARGV[2], ARGV[1])
return v
`)

// regroup runs regroupScript for one group.
func (l *Ledger) regroup(ctx context.Context, tenant, id string, adds, removes []string) (int64, error) {
	k := groupKeys(tenant)
	l.touchSweep(ctx, tenant) // before the write: see ledger_sweep.go
	args := make([]any, 0, 3+len(adds)+len(removes))
	args = append(args, id, l.now().UnixMilli(), len(adds))
	for _, u := range adds {
		args = append(args, u)
	}
	for _, u := range removes {
		args = append(args, u)
	}
	v, err := regroupScript.Run(ctx, l.rdb, []string{k.rec(id), k.dirty(), k.pending(id), k.memberSeq()}, args...).Int64()
	if err != nil {
		return 0, redisErr("regroup", err)
	}
	return v, nil
}

// knownGroupOwners maps store group anchors to ledger group ids (unknown
// ones omitted).
func (l *Ledger) knownGroupOwners(ctx context.Context, tenant string, anchors []string) (map[string]string, error) {
	return l.idsByAnchor(ctx, groupKeys(tenant), anchors, "groups by anchor")
}
