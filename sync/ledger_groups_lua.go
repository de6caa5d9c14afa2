package sync

import "github.com/redis/go-redis/v9"

// Group keys (kind "g") follow the user layout, plus per group a members
// set (desired member user ids) and a pending hash: user id → "+n" or "-n",
// the latest membership change of that user not yet applied to the store
// (n orders changes so an apply can clear exactly what it applied). A
// membership change touches only the members it names.

// putGroupScript writes a group's desired state and member changes.
//
// KEYS: 1 rec, 2 idx displayName, 3 idx externalId (zset, ledger_extid.go),
// 4 all, 5 seq, 6 dirty, 7 members, 8 pending, 9 member-change counter,
// 10 idx anchor, 11 live users (zset), 12 failed, 13 the externalId hash of
// earlier releases (moved into 3 a batch per call), 14 the group's event
// journal (ledger_events.go)
// ARGV: 1 mode (create|update|delete|adopt|members: an update of the
// membership alone, keeping doc and indexes), 2 id, 3 expected version,
// 4 doc, 5 displayName (lowered), 6 externalId, 7 now ms, 8 replace ("1":
// the adds are the whole new member list), 9 anchor (adopt), 10 number of
// adds, 11 how many dropped ids to keep, 12 "1" when the tenant makes
// externalId unique, 13 the request id (see Replays, ledger_lua.go), 14
// the write's journal entry ("" none: see journalLua), 15 "" or, for a
// create to be marked unacknowledged until replicas hold it
// (redis.min_replicas, ledger_replicas.go), the digest of its requested
// members (field unackm; unack is now), then the adds, then the removes.
//
// An added member that is not a live user of the tenant is left out and
// the write goes on; the record then holds dropn (how many), dropids (the
// first ARGV[11], newline-separated) and dropv (this version). A later
// write that names members and drops none clears them; one that names no
// member (a rename) keeps them.
//
// Returns {"ok", fields...} or {"notfound"}, {"exists"}, {"version", cur},
// {"unique", attribute, otherID}, {"adopted", id}.
var putGroupScript = redis.NewScript(extLua + journalLua + `
local rec = KEYS[1]
local mode, id, expect = ARGV[1], ARGV[2], tonumber(ARGV[3])
local present = redis.call('EXISTS', rec) == 1
if present and redis.call('HGET', rec, 'req') == ARGV[13] then
  redis.call('HSET', rec, 'req', ARGV[13]) -- a resend writes: see putScript
  local out = redis.call('HGETALL', rec)
  table.insert(out, 1, 'ok')
  return out
end
local live = present and redis.call('HGET', rec, 'del') ~= '1'
if mode == 'adopt' then
  local a = redis.call('HGET', KEYS[10], ARGV[9])
  if a then return {'adopted', a} end
end
if mode == 'create' or mode == 'adopt' then
  if present then return {'exists'} end
else
  if not live then return {'notfound'} end
  local cur = tonumber(redis.call('HGET', rec, 'v'))
  if expect > 0 and cur ~= expect then return {'version', tostring(cur)} end
end
local dn, ext = ARGV[5], ARGV[6]
local nadd = tonumber(ARGV[10])
local adds, removes = {}, {}
for i = 16, 15 + nadd do adds[#adds+1] = ARGV[i] end
for i = 16 + nadd, #ARGV do removes[#removes+1] = ARGV[i] end
extMigrate(KEYS[13], KEYS[3])
if mode ~= 'delete' then
  if mode ~= 'members' then
    local o = redis.call('HGET', KEYS[2], dn)
    if o and o ~= id then return {'unique', 'displayName', o} end
    if ext ~= '' and ARGV[12] == '1' then
      o = extOther(KEYS[3], KEYS[13], ext, id, string.sub(rec, 1, #rec - #id))
      if o then return {'unique', 'externalId', o} end
    end
  end
end
-- Members that are not live users of the tenant are left out (an adopt's
-- come from the ledger's anchors, so they are known): the write goes on,
-- and the record keeps what was dropped for the operator.
local dropped = {}
if mode ~= 'delete' and mode ~= 'adopt' then
  local known = {}
  for _, u in ipairs(adds) do
    if redis.call('ZSCORE', KEYS[11], u) then known[#known+1] = u else dropped[#dropped+1] = u end
  end
  adds = known
end
if live and mode ~= 'members' then
  local odn = redis.call('HGET', rec, 'un')
  if odn and redis.call('HGET', KEYS[2], odn) == id then redis.call('HDEL', KEYS[2], odn) end
  extRem(KEYS[3], KEYS[13], redis.call('HGET', rec, 'ext'), id)
end
local now = ARGV[7]
redis.call('ZREM', KEYS[12], id)
local v = 1
if live then v = tonumber(redis.call('HGET', rec, 'v')) + 1 end
if mode == 'delete' then
  redis.call('HSET', rec, 'del', '1', 'v', v, 'mod', now, 'un', '', 'ext', '')
  redis.call('ZREM', KEYS[4], id)
  redis.call('DEL', KEYS[7], KEYS[8])
  redis.call('ZADD', KEYS[6], 'NX', now, id)
else
  if mode == 'members' then
    redis.call('HSET', rec, 'v', v, 'mod', now)
  else
    redis.call('HSET', rec, 'doc', ARGV[4], 'v', v, 'mod', now, 'un', dn, 'ext', ext)
    redis.call('HSET', KEYS[2], dn, id)
    extAdd(KEYS[3], ext, id)
  end
  if mode == 'create' or mode == 'adopt' then
    local seq = redis.call('INCR', KEYS[5])
    redis.call('HSET', rec, 'created', now, 'seq', seq, 'av', 0)
    if mode == 'create' and ARGV[15] ~= '' then redis.call('HSET', rec, 'unack', now, 'unackm', ARGV[15]) end
    redis.call('ZADD', KEYS[4], seq, id)
  end
  if mode == 'adopt' then
    redis.call('HSET', rec, 'av', v, 'anchor', ARGV[9])
    redis.call('HSET', KEYS[10], ARGV[9], id)
    for _, u in ipairs(adds) do redis.call('SADD', KEYS[7], u) end
  else
    local n = redis.call('INCR', KEYS[9])
    if ARGV[8] == '1' then
      local want = {}
      for _, u in ipairs(adds) do want[u] = true end
      for _, u in ipairs(redis.call('SMEMBERS', KEYS[7])) do
        if not want[u] then removes[#removes+1] = u end
      end
    end
    for _, u in ipairs(removes) do
      if redis.call('SREM', KEYS[7], u) == 1 then redis.call('HSET', KEYS[8], u, '-' .. n) end
    end
    for _, u in ipairs(adds) do
      if redis.call('SADD', KEYS[7], u) == 1 then redis.call('HSET', KEYS[8], u, '+' .. n) end
    end
    redis.call('ZADD', KEYS[6], 'NX', now, id)
    if #dropped > 0 then
      local first = {}
      for i = 1, math.min(#dropped, tonumber(ARGV[11])) do first[i] = dropped[i] end
      redis.call('HSET', rec, 'dropn', #dropped, 'dropids', table.concat(first, '\n'), 'dropv', v)
    elseif nadd > 0 or ARGV[8] == '1' then
      redis.call('HDEL', rec, 'dropn', 'dropids', 'dropv')
    end
  end
end
redis.call('HSET', rec, 'req', ARGV[13])
journal(KEYS[14], v, ARGV[14])
local out = redis.call('HGETALL', rec)
table.insert(out, 1, 'ok')
return out
`)

// groupAppliedScript records an apply of a group.
//
// KEYS: 1 rec, 2 dirty, 3 pending, 4 idx anchor, 5 failed
// ARGV: 1 id, 2 version applied, 3 anchor, then pairs of (user id, pending
// value) that were applied (cleared only if unchanged since).
// The group counts as applied (av = version, not dirty) only when no
// membership change is left pending.
var groupAppliedScript = redis.NewScript(`
local rec = KEYS[1]
if redis.call('EXISTS', rec) == 0 then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 0
end
for i = 4, #ARGV, 2 do
  if redis.call('HGET', KEYS[3], ARGV[i]) == ARGV[i+1] then redis.call('HDEL', KEYS[3], ARGV[i]) end
end
local anchor = ARGV[3]
if anchor ~= '' then
  local old = redis.call('HGET', rec, 'anchor')
  if old ~= anchor then
    if old and old ~= '' and redis.call('HGET', KEYS[4], old) == ARGV[1] then redis.call('HDEL', KEYS[4], old) end
    redis.call('HSET', rec, 'anchor', anchor)
    redis.call('HSET', KEYS[4], anchor, ARGV[1])
  end
end
local applied = tonumber(ARGV[2])
if redis.call('HLEN', KEYS[3]) > 0 then return 2 end
local failv = tonumber(redis.call('HGET', rec, 'failv') or '0')
if failv <= applied then
  redis.call('HDEL', rec, 'fail', 'failv', 'rtry')
  redis.call('ZREM', KEYS[5], ARGV[1])
end
local av = tonumber(redis.call('HGET', rec, 'av') or '0')
if applied > av then redis.call('HSET', rec, 'av', applied) end
if redis.call('HGET', rec, 'del') == '1' then redis.call('HDEL', rec, 'doc') end
if tonumber(redis.call('HGET', rec, 'v')) <= applied then redis.call('ZREM', KEYS[2], ARGV[1]) end
return 1
`)
