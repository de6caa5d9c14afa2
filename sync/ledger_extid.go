package sync

import "github.com/redis/go-redis/v9"

// The externalId index. externalId is not unique (RFC 7643 §3.1 gives it
// no uniqueness, and Entra fills it from mailNickname, which it does not
// keep unique), so the index of each kind is a sorted set whose members
// are "<externalId>\0<id>", all of score 0: an `externalId eq` lookup is
// one ZRANGEBYLEX over the value's members. A tenant may opt in to a
// unique externalId (tenants.Tenant.Unique); the write scripts then refuse
// a value another live resource of the kind holds.
//
// Migration: ledgers written before this index kept a hash externalId →
// id at idx:ext (one id per value, which was unique then, so the hash
// names every live resource with an externalId). Every script that
// touches the index of a tenant and kind (a write, or an externalId
// lookup) first moves about 1,000 entries of that hash (HSCAN batches
// until that many) into the sorted set and deletes them from it, so no
// script call blocks Redis for long however large the tenant; until the hash is empty (and so gone),
// lookups and the unique check also read it and writes delete their old
// entry from it. A tenant's first writes after the upgrade finish the move
// (100,000 users: 100 touches). A process of an older release that still
// runs would write the hash again; the next touches move those entries
// too, and an entry left behind by its removals names a record whose
// externalId differs, which every reader checks (extOther reads the
// record; lookups re-match the filter on the records).

// idxExternalIDs is the externalId sorted set; idxExternalIDHash the
// single-valued hash of earlier releases, read until it is moved.
func (k keys) idxExternalIDs() string    { return k.prefix() + "idx:xid" }
func (k keys) idxExternalIDHash() string { return k.prefix() + "idx:ext" }

// Uniqueness is what a write keeps unique beyond the attributes that always
// are: a user's userName and a group's displayName (case-insensitively).
type Uniqueness struct {
	// ExternalID: no two live resources of a kind share an externalId
	// (exactly, case-sensitive).
	ExternalID bool
}

func (u Uniqueness) arg() string {
	if u.ExternalID {
		return "1"
	}
	return "0"
}

// extLua holds the externalId index's functions for the scripts.
const extLua = `
local function extMigrate(old, idx)
  if redis.call('EXISTS', old) == 0 then return end
  local kv, cursor = {}, '0'
  repeat
    local r = redis.call('HSCAN', old, cursor, 'COUNT', 1000)
    cursor = r[1]
    for _, x in ipairs(r[2]) do kv[#kv+1] = x end
  until cursor == '0' or #kv >= 2000
  local z, f = {}, {}
  for i = 1, #kv, 2 do
    z[#z+1] = 0; z[#z+1] = kv[i] .. '\0' .. kv[i+1]; f[#f+1] = kv[i]
    if #f >= 500 then
      redis.call('ZADD', idx, unpack(z)); redis.call('HDEL', old, unpack(f)); z, f = {}, {}
    end
  end
  if #f > 0 then redis.call('ZADD', idx, unpack(z)); redis.call('HDEL', old, unpack(f)) end
end
-- extIDs returns the ids whose index member holds exactly value (an id
-- never holds a NUL; a value may, so the id follows the last one), and the
-- id the earlier release's hash old still names for it.
local function extIDs(idx, value, old)
  local ids = {}
  for _, m in ipairs(redis.call('ZRANGEBYLEX', idx, '[' .. value .. '\0', '(' .. value .. '\1')) do
    local at, i = nil, 0
    while true do
      i = string.find(m, '\0', i + 1, true)
      if not i then break end
      at = i
    end
    if at and string.sub(m, 1, at - 1) == value then ids[#ids+1] = string.sub(m, at + 1) end
  end
  local o = redis.call('HGET', old, value)
  if o then
    local seen = false
    for _, x in ipairs(ids) do if x == o then seen = true end end
    if not seen then ids[#ids+1] = o end
  end
  return ids
end
-- extOther returns a live resource other than id whose externalId is
-- value (recPrefix .. id is a record key), or nil.
local function extOther(idx, old, value, id, recPrefix)
  for _, o in ipairs(extIDs(idx, value, old)) do
    if o ~= id then
      local f = redis.call('HMGET', recPrefix .. o, 'ext', 'del')
      if f[1] == value and f[2] ~= '1' then return o end
    end
  end
  return nil
end
local function extAdd(idx, value, id)
  if value and value ~= '' then redis.call('ZADD', idx, 0, value .. '\0' .. id) end
end
local function extRem(idx, old, value, id)
  if value and value ~= '' then
    redis.call('ZREM', idx, value .. '\0' .. id)
    if redis.call('HGET', old, value) == id then redis.call('HDEL', old, value) end
  end
end
`

// findScript looks a value up in one of a tenant's indexes of a kind and
// returns the records it names, in one round trip (an eq filter is the
// IdP's existence check before every create, so it is a hot path).
// The record keys are built from ARGV[3], the kind's record-key prefix:
// they are in the index's hash slot (the {tenant} tag), as Redis Cluster
// requires of keys a script touches.
// KEYS: the index, [the old externalId hash, mode "ext"]. ARGV: mode
// ("hash": a HGET on the index; "lex": the email sorted set's "value\0id"
// members; "ext": the externalId index), value, record-key prefix.
// Returns a flat list: id, {HGETALL fields}, id, {fields}, ...
var findScript = redis.NewScript(extLua + `
local ids
if ARGV[1] == 'hash' then
  local id = redis.call('HGET', KEYS[1], ARGV[2])
  if not id then return {} end
  ids = {id}
elseif ARGV[1] == 'ext' then
  extMigrate(KEYS[2], KEYS[1])
  ids = extIDs(KEYS[1], ARGV[2], KEYS[2])
else
  ids = {}
  local members = redis.call('ZRANGEBYLEX', KEYS[1], '[' .. ARGV[2] .. '\0', '(' .. ARGV[2] .. '\1')
  for i, m in ipairs(members) do
    local at = string.find(m, '\0', 1, true)
    if at then ids[#ids + 1] = string.sub(m, at + 1) end
  end
end
local out = {}
for i, id in ipairs(ids) do
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGETALL', ARGV[3] .. 'r:' .. id)
end
return out
`)
