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

// claim is the record of the users a drain's claim took (claimScript).
func (k keys) claim(token string) string { return k.prefix() + "claim:" + token }

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

// claimScanMax bounds how many of the backlog's oldest users one claim
// looks at (the ones other applies hold are skipped): a few drains'
// batches, so a claim stays a short script even behind every other drain.
const claimScanMax = 20 * drainBatch

// loadDrainScripts loads the scripts markBatch runs by hash, so its
// pipeline needs no fallback to EVAL.
func (l *Ledger) loadDrainScripts(ctx context.Context) error {
	for _, s := range []*redis.Script{appliedManyScript, markEmitManyScript, releaseScript} {
		if err := s.Load(ctx, l.rdb).Err(); err != nil {
			return redisErr("load scripts", err)
		}
	}
	return nil
}

// claimScript takes the leases of up to n of the tenant's dirty users,
// oldest first, skipping the ones another apply holds, and returns their
// records, in one call. Concurrent drains of one tenant (max_concurrency
// above 1) thus take different users: when each drain read the backlog's
// head and leased what it read, every drain tried the users the others
// held (at 8 drains, about five lease attempts per user applied; 40 % of
// Redis's CPU in a drain went to them). The leases of a chunk of the
// backlog are read with one MGET, so a held user costs next to nothing to
// skip (a push's backlog head is mostly other drains' batches).
//
// The ids claimed are recorded under the claim's token (KEYS[2], for the
// lease's ttl; markBatch deletes it): a resend of this call (go-redis
// sends it again after a read timeout, with the same token) returns the
// same users, those whose lease still holds the token, instead of
// scanning again (it could take users freed since and leave some of its
// own leased but unreturned until their ttl). The lease and record keys
// are built from the users' key prefix: they are in the tenant's hash
// slot, as the declared keys are (while that slot migrates between
// Cluster nodes a claim fails and the drain is retried).
//
// KEYS: 1 dirty, 2 the claim's record. ARGV: 1 token, 2 ttl ms, 3 n, 4
// the users' key prefix (keys.prefix), 5 how many users to look at at most.
// Returns {id1, fields1, id2, fields2, ...} (no fields: the record is gone).
var claimScript = redis.NewScript(`
local n, max = tonumber(ARGV[3]), tonumber(ARGV[5])
local out, ids = {}, {}
local function take(id)
  ids[#ids+1] = id
  out[#out+1] = id
  out[#out+1] = redis.call('HGETALL', ARGV[4] .. 'r:' .. id)
end
local prior = redis.call('GET', KEYS[2])
if prior then
  for id in string.gmatch(prior, '[^\n]+') do
    if redis.call('GET', ARGV[4] .. 'lease:' .. id) == ARGV[1] then take(id) end
  end
  return out
end
local from = 0
while #ids < n and from < max do
  local batch = redis.call('ZRANGE', KEYS[1], from, from + n - 1)
  if #batch == 0 then break end
  local leases = {}
  for i, id in ipairs(batch) do leases[i] = ARGV[4] .. 'lease:' .. id end
  local held = redis.call('MGET', unpack(leases))
  for i, id in ipairs(batch) do
    if held[i] == ARGV[1] or (not held[i] and redis.call('SET', leases[i], ARGV[1], 'NX', 'PX', ARGV[2])) then
      take(id)
      if #ids == n then break end
    end
  end
  if #batch < n then break end
  from = from + n
end
if #ids > 0 then redis.call('SET', KEYS[2], table.concat(ids, '\n'), 'PX', ARGV[2]) end
return out
`)

// claimedUser is one user of a claimed batch: leased by the batch.
type claimedUser struct {
	id string
	// rec is the loaded record; nil when the user is gone.
	rec *Record
	// err is the record's decoding error.
	err error
}

// claimBatch takes the leases of up to n of the tenant's dirty users for
// ttl, oldest first, skipping the ones another apply holds, and loads
// their records, in one round trip (claimScript). Every lease of the batch
// holds the returned token (markBatch gives them back). No users: the
// backlog is empty, or every user in it is being applied by others.
func (l *Ledger) claimBatch(ctx context.Context, tenant string, n int, ttl time.Duration) (string, []claimedUser, error) {
	k := userKeys(tenant)
	token := newID()
	res, err := claimScript.Run(ctx, l.rdb, []string{k.dirty(), k.claim(token)}, token, ttl.Milliseconds(), n, k.prefix(), claimScanMax).Slice()
	if err != nil {
		return "", nil, redisErr("claim batch", err)
	}
	out := make([]claimedUser, 0, len(res)/2)
	for i := 0; i+1 < len(res); i += 2 {
		id, _ := res[i].(string)
		u := claimedUser{id: id}
		fields, _ := res[i+1].([]any)
		if kv := replyStrings(fields); len(kv) > 0 {
			u.rec, u.err = decodeRecord(tenant, id, kv)
		}
		out = append(out, u)
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
	if len(held) > 0 {
		pipe.Del(ctx, k.claim(token))
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
