package sync

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/scimbridge/scimbridge/queue"
)

// The ledger's side of the drain (drain.go): the tenant's drain
// generation, its backlog, and a batch's leases, loads and applied marks,
// in one round trip each (a batch costs one script call for its leases and
// records and one pipeline for its marks and releases).

func (k keys) drainGen() string { return k.prefix() + "drain" }

// DrainGeneration returns the tenant's current drain generation: a drain
// queued with it runs after every write made before this call.
func (l *Ledger) DrainGeneration(ctx context.Context, tenant string) (string, error) {
	g, err := l.rdb.Get(ctx, userKeys(tenant).drainGen()).Result()
	if errors.Is(err, redis.Nil) {
		return "0", nil
	}
	if err != nil {
		return "", redisErr("drain generation", err)
	}
	return g, nil
}

// nextDrainGeneration bumps the tenant's drain generation and returns the
// new one: from here on, a new write queues a new drain.
func (l *Ledger) nextDrainGeneration(ctx context.Context, tenant string) (int64, error) {
	gen, err := l.rdb.Incr(ctx, userKeys(tenant).drainGen()).Result()
	if err != nil {
		return 0, redisErr("drain generation", err)
	}
	return gen, nil
}

// Backlog returns how many of the tenant's users are dirty.
func (l *Ledger) Backlog(ctx context.Context, tenant string) (int64, error) {
	n, err := l.rdb.ZCard(ctx, userKeys(tenant).dirty()).Result()
	if err != nil {
		return 0, redisErr("backlog", err)
	}
	return n, nil
}

// backlogHead returns the ids of the tenant's n oldest dirty users.
func (l *Ledger) backlogHead(ctx context.Context, tenant string, n int) ([]string, error) {
	ids, err := l.rdb.ZRange(ctx, userKeys(tenant).dirty(), 0, int64(n-1)).Result()
	if err != nil {
		return nil, redisErr("dirty users", err)
	}
	return ids, nil
}

// loadDrainScripts loads the scripts markBatch runs by hash, so its
// pipeline needs no fallback to EVAL.
func (l *Ledger) loadDrainScripts(ctx context.Context) error {
	for _, s := range []*redis.Script{appliedManyScript, markEmitManyScript, releaseScript, leaseLoadManyScript} {
		if err := s.Load(ctx, l.rdb).Err(); err != nil {
			return redisErr("load scripts", err)
		}
	}
	return nil
}

// leaseLoadManyScript takes the leases of several users and returns their
// records, in one round trip. A user that is no longer dirty (another
// drain applied it since this one read the backlog) is skipped without a
// lease or a load: its next write makes it dirty again and queues a drain.
// KEYS: 1 dirty, then lease1, rec1, lease2, rec2, ...
// ARGV: 1 token, 2 ttl ms, then id1, id2, ...
// Returns, per user, {"busy"}, {"clean"} or {"ok", fields...}. A lease
// holding the token already is ours (a resend of this call).
var leaseLoadManyScript = redis.NewScript(`
local out = {}
for i = 2, #KEYS, 2 do
  if not redis.call('ZSCORE', KEYS[1], ARGV[2 + i / 2]) then
    out[#out+1] = {'clean'}
  elseif redis.call('GET', KEYS[i]) == ARGV[1] or redis.call('SET', KEYS[i], ARGV[1], 'NX', 'PX', ARGV[2]) then
    local r = redis.call('HGETALL', KEYS[i+1])
    table.insert(r, 1, 'ok')
    out[#out+1] = r
  else
    out[#out+1] = {'busy'}
  end
end
return out
`)

// Lease states of a batch's users (leaseBatch).
const (
	batchClean = iota // no longer dirty: neither leased nor loaded
	batchBusy         // another apply holds the lease
	batchHeld         // leased (and loaded) by this batch
)

// batchUser is one user of a leased batch.
type batchUser struct {
	state int
	// rec is the loaded record of a held user; nil when the user is gone.
	rec *Record
	// err is the record's decoding error (the user is held).
	err error
}

// leaseBatch takes the leases of a batch of the tenant's dirty users for
// ttl and loads the records of those it gets, in one round trip. Every
// lease of the batch holds the returned token (markBatch gives them back).
func (l *Ledger) leaseBatch(ctx context.Context, tenant string, ids []string, ttl time.Duration) (string, []batchUser, error) {
	k := userKeys(tenant)
	token := newID()
	keys := make([]string, 1, 1+2*len(ids))
	keys[0] = k.dirty()
	args := make([]any, 2, 2+len(ids))
	args[0], args[1] = token, ttl.Milliseconds()
	for _, id := range ids {
		keys = append(keys, k.lease(id), k.rec(id))
		args = append(args, id)
	}
	res, err := leaseLoadManyScript.Run(ctx, l.rdb, keys, args...).Slice()
	if err != nil {
		return "", nil, redisErr("lease batch", err)
	}
	out := make([]batchUser, len(ids))
	for i, x := range res {
		if i >= len(ids) {
			break
		}
		fields, _ := x.([]any)
		switch {
		case len(fields) > 0 && fields[0] == "clean":
			out[i].state = batchClean
		case len(fields) == 0 || fields[0] != "ok":
			out[i].state = batchBusy
		default:
			out[i].state = batchHeld
			if kv := replyStrings(fields[1:]); len(kv) > 0 {
				out[i].rec, out[i].err = decodeRecord(tenant, ids[i], kv)
			}
		}
	}
	return token, out, nil
}

// applyMark is one user of a batch to mark applied.
type applyMark struct {
	id       string
	version  int64
	anchor   string
	pwv      int64
	modified time.Time
	// rec is the record applied (nil: no store apply, no events).
	rec *Record
}

// markEmitManyScript is appliedManyScript with the events of each user
// marked (emitLua): a user whose mark is refused emits nothing.
//
// KEYS: 1 dirty, 2 idx anchor, 3 failed, 4 stream, then per user 4: rec,
// lease, journal, pending (none for users: emitLua's members).
// ARGV: 1 lease token, 2 MINID ("" none), 3 the call's id, then per user
// 6: id, version, anchor, pwv, "1" to emit its events, its resource JSON.
// Returns {refused (user, other user)..., events added, last event id}.
var markEmitManyScript = redis.NewScript(markAppliedLua + emitLua + `
local refused = {}
for i = 5, #KEYS, 4 do
  local j = 4 + (i - 5) / 4 * 6
  local r = mark(KEYS[i], KEYS[1], KEYS[2], KEYS[3], KEYS[i+1], ARGV[j], ARGV[j+1], ARGV[j+2], ARGV[j+3], ARGV[1])
  if type(r) == 'string' then
    refused[#refused+1] = ARGV[j]; refused[#refused+1] = r
  elseif ARGV[j+4] == '1' then
    emitResource(KEYS[4], ARGV[2], ARGV[3], KEYS[i+2], KEYS[i+3], 'User', ARGV[j], tonumber(ARGV[j+1]), ARGV[j+2], ARGV[j+5], '')
  end
end
return {refused, emitCount, emitLast}
`)

// markBatch records a batch's applies (each releasing its lease) and
// releases the leases of the other held users, in one round trip. The
// scripts must be loaded (loadDrainScripts). refused maps the users whose
// marks were refused (their anchor is another user's: markAppliedLua) to
// that other user.
func (l *Ledger) markBatch(ctx context.Context, tenant, token string, done []applyMark, held []string) (refused map[string]string, err error) {
	if len(done) > 0 {
		var span trace.Span
		ctx, span = startSpan(ctx, "sync.ledger.mark_applied", tenant, attribute.String("scimbridge.kind", queue.KindUser),
			attribute.Int("scimbridge.batch", len(done)))
		defer endSpan(span, &err)
	}
	k := userKeys(tenant)
	marked := map[string]bool{}
	pipe := l.rdb.Pipeline()
	// The marks and the events of the users marked, in one script: a user
	// whose mark is refused (its anchor is another user's) emits nothing
	// yet (its journal is kept for the apply that is marked), and a crash
	// cannot come between a mark and its events.
	emitting := l.EventsEnabled() && emitsAny(done)
	var marks *redis.Cmd
	if len(done) > 0 && !emitting {
		keys := make([]string, 3, 3+2*len(done))
		keys[0], keys[1], keys[2] = k.dirty(), k.idxAnchor(), k.failed()
		args := make([]any, 1, 1+4*len(done))
		args[0] = token
		for _, m := range done {
			marked[m.id] = true
			keys = append(keys, k.rec(m.id), k.lease(m.id))
			args = append(args, m.id, m.version, m.anchor, m.pwv)
		}
		marks = pipe.EvalSha(ctx, appliedManyScript.Hash(), keys, args...)
	} else if len(done) > 0 {
		keys := make([]string, 4, 4+4*len(done))
		keys[0], keys[1], keys[2], keys[3] = k.dirty(), k.idxAnchor(), k.failed(), eventStream(tenant)
		args := make([]any, 3, 3+6*len(done))
		args[0], args[1], args[2] = token, l.minID(), newID()
		for _, m := range done {
			marked[m.id] = true
			keys = append(keys, k.rec(m.id), k.lease(m.id), k.journal(m.id), k.pending(m.id))
			emit, res := "0", []byte(nil)
			if m.rec != nil && m.version > 0 {
				e := l.userEmitted(m.rec, m.anchor)
				emit, res = "1", e.resource
			}
			args = append(args, m.id, m.version, m.anchor, m.pwv, emit, res)
		}
		marks = pipe.EvalSha(ctx, markEmitManyScript.Hash(), keys, args...)
	}
	for _, id := range held {
		if !marked[id] {
			pipe.EvalSha(ctx, releaseScript.Hash(), []string{k.lease(id)}, token)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, redisErr("mark batch applied", err)
	}
	if marks != nil {
		res, _ := marks.Slice()
		var r []string
		if emitting { // {refused, events added, last event id}
			if len(res) == 3 {
				if rs, ok := res[0].([]any); ok {
					r = replyStrings(rs)
				}
				if n, ok := res[1].(int64); ok && n > 0 && l.onEvents != nil {
					l.onEvents(ctx, tenant)
				}
			}
		} else {
			r = replyStrings(res)
		}
		for i := 0; i+1 < len(r); i += 2 {
			if refused == nil {
				refused = map[string]string{}
			}
			refused[r[i]] = r[i+1]
		}
	}
	return refused, nil
}
