package sync

import "github.com/redis/go-redis/v9"

// The ledger's atomic steps. Every script touches only keys of one tenant,
// all sharing the {tenant} hash tag, so they also run on Redis Cluster.
//
// Record hash fields: doc (JSON attributes), v (desired version), av
// (applied version), anchor, created/mod (unix ms), seq (creation order),
// del ("1" for a deleted resource), un/ext/ems (index values as written,
// ems newline-separated), fail/failv (last permanent failure and its
// version), pw/pwv (sealed password waiting to be applied and the version
// that set it).

// Replays. A Redis client re-sends a command whose reply did not arrive in
// time (go-redis retries after a read timeout or a dropped connection, as
// it should for a failover); for a write script that has already run, the
// second run would answer as if someone else had written first (a create
// "exists", a conditional update "version"). So every write the front door
// makes is idempotent per request: the caller passes a request id (newID,
// the same in every resend of the command), the write records it on the
// resource's record (field req), and a run that finds its own id there
// writes nothing and answers as the first run did (the record is as that
// run left it: nothing else wrote since, or req would be another's).
// Retries stay on (they are what carries a write over a failover or a
// dropped connection); a resend just cannot act twice. The id is a field
// of the record, not a key of its own: no key with a TTL per write.

// putScript writes a desired state.
//
// KEYS: 1 rec, 2 idx userName, 3 idx externalId (zset, ledger_extid.go),
// 4 idx emails (zset), 5 all (zset by seq), 6 seq counter, 7 dirty (zset),
// 8 idx anchor, 9 failed (zset: resources whose latest version the store
// rejected), 10 drain generation (read only), 11 the externalId hash of
// earlier releases (moved into 3 a batch per call), 12 the user's event
// journal (ledger_events.go)
// ARGV: 1 mode (create|update|delete|adopt), 2 id, 3 expected version (0 any),
// 4 doc, 5 userName (lowered), 6 externalId, 7 emails (lowered, \n-sep),
// 8 now ms, 9 sealed password, 10 "1" when a password is set, 11 anchor
// (adopt), 12 "1" when the tenant makes externalId unique, 13 the request
// id (see Replays), 14 "" or, for a PUT not read first, "r" (return the
// stored active) or "k" (the doc has no active: keep the stored one), 15
// the write's journal entry ("" none: see journalLua), 16 "1": a create
// is marked unacknowledged (field unack, now) until replicas hold it
// (redis.min_replicas, ledger_replicas.go), 17 "" or the request id of
// the write the caller's base state came from (ledger_base.go): a record
// whose req differs was written since, and the write answers {"stale"}
//
// An index (userName, externalId, emails) is rewritten only when its
// value changed: a PATCH of active touches none.
//
// Returns {"ok", drain generation, values...}: the generation read with
// the write (see Service.enqueue) and the record's putReplyFields, "" for
// an absent one, then its doc in delete mode only (the other modes wrote
// the caller's doc: sending it back would be a kilobyte for nothing), then
// with ARGV[14] the stored active before the write ("true"/"false", none
// when it had none); or
// {"notfound"}, {"exists"}, {"version", current}, {"stale"}, {"unique",
// attribute, otherID}, {"adopted", id} (adopt of an anchor the ledger
// knows already).
var putScript = redis.NewScript(extLua + journalLua + `
local rec = KEYS[1]
local mode, id, expect = ARGV[1], ARGV[2], tonumber(ARGV[3])
local function reply(prior)
  local names = {'v', 'av', 'anchor', 'created', 'mod', 'seq', 'del', 'fail', 'failv', 'rtry', 'pw', 'pwv'}
  if mode == 'delete' then names[#names+1] = 'doc' end
  local out = {'ok', redis.call('GET', KEYS[10]) or '0'}
  for _, x in ipairs(redis.call('HMGET', rec, unpack(names))) do out[#out+1] = x or '' end
  if prior ~= nil then out[#out+1] = tostring(prior) end
  return out
end
local present = redis.call('EXISTS', rec) == 1
local o = present and redis.call('HMGET', rec, 'req', 'del', 'v', 'un', 'ext', 'ems') or {}
if present and o[1] == ARGV[13] then
  -- A resend writes its id again: a write of the resending connection
  -- (after the first run's: replication is in order), so a WAIT there
  -- covers the first run (writeReplicated).
  redis.call('HSET', rec, 'req', ARGV[13])
  local kept = nil
  if ARGV[14] == 'k' then kept = cjson.decode(redis.call('HGET', rec, 'doc') or '{}').active end
  if type(kept) ~= 'boolean' then kept = nil end
  return reply(kept)
end
local live = present and o[2] ~= '1'
if mode == 'adopt' then
  local a = redis.call('HGET', KEYS[8], ARGV[11])
  if a then return {'adopted', a} end
end
if mode == 'create' or mode == 'adopt' then
  if present then return {'exists'} end
else
  if not live then return {'notfound'} end
  local cur = tonumber(o[3])
  if expect > 0 and cur ~= expect then return {'version', tostring(cur)} end
  if ARGV[17] and ARGV[17] ~= '' and o[1] ~= ARGV[17] then return {'stale'} end
end
local un, ext, ems = ARGV[5], ARGV[6], ARGV[7]
extMigrate(KEYS[11], KEYS[3])
local held
if mode ~= 'delete' then
  held = redis.call('HGET', KEYS[2], un)
  if held and held ~= id then return {'unique', 'userName', held} end
  if ext ~= '' and ARGV[12] == '1' then
    local x = extOther(KEYS[3], KEYS[11], ext, id, string.sub(rec, 1, #rec - #id))
    if x then return {'unique', 'externalId', x} end
  end
end
-- A PUT without If-Match (ARGV[14] "r", or "k" when its body has no
-- active) is not read first: the stored active comes back with the reply
-- (prior), and "k" keeps it, spliced into the new doc.
local doc, prior = ARGV[4], nil
if ARGV[14] ~= '' and live then
  prior = cjson.decode(redis.call('HGET', rec, 'doc') or '{}').active
  if type(prior) ~= 'boolean' then prior = nil end
  if ARGV[14] == 'k' and prior ~= nil then doc = '{"active":' .. tostring(prior) .. ',' .. string.sub(doc, 2) end
end
local function split(s)
  local t = {}
  for e in string.gmatch(s or '', '[^\n]+') do t[#t+1] = e end
  return t
end
-- Indexes change only where their values did (a PATCH of active rewrites none).
local unDiff, extDiff, emsDiff = not live or o[4] ~= un, not live or o[5] ~= ext, not live or o[6] ~= ems
if live then
  if unDiff and o[4] and redis.call('HGET', KEYS[2], o[4]) == id then redis.call('HDEL', KEYS[2], o[4]) end
  if extDiff then extRem(KEYS[3], KEYS[11], o[5], id) end
  if emsDiff then
    for _, e in ipairs(split(o[6])) do redis.call('ZREM', KEYS[4], e .. '\0' .. id) end
  end
end
local now = ARGV[8]
redis.call('ZREM', KEYS[9], id)
local v = 1
if live then v = tonumber(o[3]) + 1 end
if mode == 'delete' then
  redis.call('HSET', rec, 'del', '1', 'v', v, 'mod', now, 'un', '', 'ext', '', 'ems', '', 'req', ARGV[13])
  redis.call('ZREM', KEYS[5], id)
  redis.call('ZADD', KEYS[7], 'NX', now, id)
else
  local f = {'doc', doc, 'v', v, 'mod', now, 'un', un, 'ext', ext, 'ems', ems, 'req', ARGV[13]}
  if held ~= id then redis.call('HSET', KEYS[2], un, id) end
  if extDiff then extAdd(KEYS[3], ext, id) end
  if emsDiff then
    for _, e in ipairs(split(ems)) do redis.call('ZADD', KEYS[4], 0, e .. '\0' .. id) end
  end
  if mode == 'create' or mode == 'adopt' then
    local seq = redis.call('INCR', KEYS[6])
    local av = 0
    if mode == 'adopt' then av = v end
    for _, x in ipairs({'created', now, 'seq', seq, 'av', av}) do f[#f+1] = x end
    if mode == 'create' and ARGV[16] == '1' then f[#f+1] = 'unack'; f[#f+1] = now end
    redis.call('ZADD', KEYS[5], seq, id)
  end
  if mode == 'adopt' then
    f[#f+1] = 'anchor'; f[#f+1] = ARGV[11]
    redis.call('HSET', KEYS[8], ARGV[11], id)
  else
    redis.call('ZADD', KEYS[7], 'NX', now, id)
  end
  if ARGV[10] == '1' then
    for _, x in ipairs({'pw', ARGV[9], 'pwv', v}) do f[#f+1] = x end
  end
  redis.call('HSET', rec, unpack(f))
end
journal(KEYS[12], v, ARGV[15])
return reply(prior)
`)

// putReplyFields are the record fields putScript returns (its reply()),
// in its order (keep the two lists equal).
var putReplyFields = []string{"v", "av", "anchor", "created", "mod", "seq", "del", "fail", "failv", "rtry", "pw", "pwv"}

// markAppliedLua records that version applied of user id was applied (the
// body of appliedScript and appliedManyScript). It returns 0 when the
// record is gone (its dirty mark is cleared), 1 otherwise, or the id of
// another user when the anchor is that user's: the anchor index gives it
// to a user that is live or whose deletion is not applied yet. The apply
// found that user's entry by userName before that user's own pending
// change (a rename, a deletion) reached the store: nothing is marked, the
// user stays dirty with field wait naming the other (status shows it), and
// the apply is retried (errAnchorHeld); the other's apply puts its entry
// right, and the retry then finds or creates this user's own.
const markAppliedLua = `
local function mark(rec, dirty, idxAnchor, failed, lease, id, appliedArg, anchor, pwv, token)
  local function unlease()
    if lease and redis.call('GET', lease) == token then redis.call('DEL', lease) end
  end
  if redis.call('EXISTS', rec) == 0 then
    redis.call('ZREM', dirty, id)
    unlease()
    return 0
  end
  local applied = tonumber(appliedArg)
  local cur = redis.call('HMGET', rec, 'av', 'anchor', 'failv', 'pwv', 'del', 'v', 'wait')
  if anchor ~= '' and cur[2] ~= anchor then
    local o = redis.call('HGET', idxAnchor, anchor)
    if o and o ~= id then
      local of = redis.call('HMGET', string.sub(rec, 1, #rec - #id) .. o, 'anchor', 'del', 'v', 'av')
      if of[1] == anchor and (of[2] ~= '1' or tonumber(of[4] or '0') < tonumber(of[3] or '0')) then
        redis.call('HSET', rec, 'wait', o)
        unlease()
        return o
      end
    end
  end
  if cur[7] then redis.call('HDEL', rec, 'wait') end
  if applied > tonumber(cur[1] or '0') then redis.call('HSET', rec, 'av', applied) end
  if anchor ~= '' then
    local old = cur[2]
    if old ~= anchor then
      if old and old ~= '' and redis.call('HGET', idxAnchor, old) == id then redis.call('HDEL', idxAnchor, old) end
      redis.call('HSET', rec, 'anchor', anchor)
      redis.call('HSET', idxAnchor, anchor, id)
    end
  end
  if tonumber(cur[3] or '0') <= applied then
    redis.call('HDEL', rec, 'fail', 'failv', 'rtry')
    redis.call('ZREM', failed, id)
  end
  if pwv ~= '0' and cur[4] == pwv then redis.call('HDEL', rec, 'pw', 'pwv') end
  if cur[5] == '1' then redis.call('HDEL', rec, 'pw', 'pwv', 'doc') end
  if tonumber(cur[6]) <= applied then redis.call('ZREM', dirty, id) end
  unlease()
  return 1
end
`

// appliedScript records that version ARGV[2] was applied.
//
// KEYS: 1 rec, 2 dirty, 3 idx anchor, 4 failed, [5 lease]
// ARGV: 1 id, 2 applied version, 3 anchor ("" keeps), 4 password version
// applied (0 none), [5 lease token: the lease is released when still ours]
// Returns 0, 1 or the id of the user the anchor is given to (markAppliedLua).
var appliedScript = redis.NewScript(markAppliedLua + `
return mark(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
`)

// appliedEmitScript is appliedScript that emits the user's events
// (emitLua) when the mark is not refused, in the same script.
//
// KEYS: 1 rec, 2 dirty, 3 idx anchor, 4 failed, 5 stream, 6 journal,
// 7 pending (none for a user), [8 lease]
// ARGV: 1 id, 2 applied version, 3 anchor, 4 password version, 5 MINID
// ("" none), 6 the call's id, 7 the resource JSON ("" none), [8 lease
// token]
// Returns {the mark's answer, events added}.
var appliedEmitScript = redis.NewScript(markAppliedLua + emitLua + `
local r = mark(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[8], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[8])
if type(r) ~= 'string' then
  emitResource(KEYS[5], ARGV[5], ARGV[6], KEYS[6], KEYS[7], 'User', ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[7], '')
end
return {r, emitCount}
`)

// appliedManyScript is appliedScript for a drain's batch, in one call: the
// marks of n users, each releasing its lease.
//
// KEYS: 1 dirty, 2 idx anchor, 3 failed, then rec1, lease1, rec2, lease2, ...
// ARGV: 1 lease token, then id, applied version, anchor, password version
// for each user.
// Returns the refused marks (see markAppliedLua) as id, other id, ...
var appliedManyScript = redis.NewScript(markAppliedLua + `
local refused = {}
for i = 4, #KEYS, 2 do
  local j = 2 + (i - 4) * 2
  local r = mark(KEYS[i], KEYS[1], KEYS[2], KEYS[3], KEYS[i+1], ARGV[j], ARGV[j+1], ARGV[j+2], ARGV[j+3], ARGV[1])
  if type(r) == 'string' then refused[#refused+1] = ARGV[j]; refused[#refused+1] = r end
end
return refused
`)

// leaseLoadScript takes a resource's lease and, when it gets it, returns
// the record in the same round trip.
//
// KEYS: 1 lease, 2 rec. ARGV: 1 token, 2 ttl ms. A lease that already
// holds the token is ours (a resend of this call, see Replays).
// Returns {"busy"} or {"ok", fields...} (no fields: no such resource).
var leaseLoadScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] and not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {'busy'} end
local out = redis.call('HGETALL', KEYS[2])
table.insert(out, 1, 'ok')
return out
`)

// failedScript records a permanent failure of version ARGV[2].
//
// KEYS: 1 rec, 2 dirty, 3 failed
// ARGV: 1 id, 2 version, 3 reason, 4 now ms
var failedScript = redis.NewScript(`
local rec = KEYS[1]
if redis.call('EXISTS', rec) == 0 then return 0 end
redis.call('HSET', rec, 'fail', ARGV[3], 'failv', ARGV[2])
redis.call('HDEL', rec, 'rtry')
if redis.call('HGET', rec, 'v') == ARGV[2] then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
end
return 1
`)

// releaseScript deletes a lease only if it still holds our token.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)
