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
	for _, s := range []*redis.Script{appliedManyScript, releaseScript, leaseLoadManyScript, emitScript} {
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
	// The batch's events first (the store holds these versions now): the
	// pipeline runs in order, so a crash after them re-applies and finds
	// no journal entry left to emit twice.
	var emit *redis.Cmd
	if evs := batchEmitted(done); l.EventsEnabled() && len(evs) > 0 {
		ks, args := l.emitArgs(tenant, evs)
		emit = pipe.EvalSha(ctx, emitScript.Hash(), ks, args...)
	}
	var marks *redis.Cmd
	if len(done) > 0 {
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
	}
	for _, id := range held {
		if !marked[id] {
			pipe.EvalSha(ctx, releaseScript.Hash(), []string{k.lease(id)}, token)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, redisErr("mark batch applied", err)
	}
	if emit != nil {
		l.eventsAdded(ctx, tenant, emit)
	}
	if marks != nil {
		r, _ := marks.StringSlice()
		for i := 0; i+1 < len(r); i += 2 {
			if refused == nil {
				refused = map[string]string{}
			}
			refused[r[i]] = r[i+1]
		}
	}
	return refused, nil
}
