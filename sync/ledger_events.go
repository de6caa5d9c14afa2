package sync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scimbridge/scimbridge/queue"
	"github.com/scimbridge/scimbridge/scim"
)

// The ledger's side of events (events.go): each resource's journal of
// acknowledged transitions, the script that turns the journal into stream
// entries once the store holds a version, and the tenant's stream (the
// events feed, trimmed by age).
//
// Keys: sb:{tenant}:u:j:<id> and sb:{tenant}:g:j:<id> (hash: "<version>"
// → Transition JSON, and "n": the resource's last event sequence number),
// sb:{tenant}:events (the stream). Stream entry fields: type, kind, rid
// (SCIM id), n (per-resource sequence), v (version), at (acknowledged, unix
// ms), anchor, changed (comma-separated attribute names), members
// (comma-separated user ids), reason (sync.failed), res (the resource as
// the SCIM API shows it, JSON: render.go), mo (the number of members a
// group's res does not list, when it has more than EventMembersMax). No
// password is ever in a record's doc, so none is in an event.

func (k keys) journal(id string) string { return k.prefix() + "j:" + id }

func eventStream(tenant string) string { return "sb:{" + tenant + "}:events" }

// EventsEnabled reports whether the ledger records events
// (events.retention > 0).
func (l *Ledger) EventsEnabled() bool { return l.eventRetention > 0 }

// SetEventRetention sets how long events stay in a tenant's stream; 0
// records none (no journal entries, no stream).
func (l *Ledger) SetEventRetention(d time.Duration) { l.eventRetention = d }

// OnEvents sets f to be called after events of a tenant were added (the
// webhook deliveries' kick: Webhooks.Kick). Set it before use.
func (l *Ledger) OnEvents(f func(ctx context.Context, tenant string)) { l.onEvents = f }

// eventsAdded tells onEvents when cmd (an emitScript call) added events.
func (l *Ledger) eventsAdded(ctx context.Context, tenant string, cmd *redis.Cmd) {
	res, err := cmd.Slice()
	if err != nil || len(res) == 0 {
		return
	}
	if n, ok := res[0].(int64); ok && n > 0 && l.onEvents != nil {
		l.onEvents(ctx, tenant)
	}
}

// userEmitted is what the apply of r (with the store's anchor) emits; the
// resource is rendered only when events are recorded.
func (l *Ledger) userEmitted(r *Record, anchor string) emitted {
	e := emitted{kind: queue.KindUser, id: r.ID, version: r.Version, anchor: anchor}
	if !r.Deleted && l.EventsEnabled() {
		e.resource, _ = scim.AppendJSON(make([]byte, 0, 512), UserResource(r, l.eventBase(r.Tenant)))
	}
	return e
}

// groupEmitted is what the apply of group r emits: its attribute changes,
// with the group as the SCIM API shows it (its members read now, at most
// EventMembersMax: render.go), and the member changes applied (user id →
// "+n" added, "-n" removed).
func (l *Ledger) groupEmitted(ctx context.Context, r *Record, anchor string, applied map[string]string) (emitted, error) {
	e := emitted{kind: queue.KindGroup, id: r.ID, version: r.Version, anchor: anchor}
	if !l.EventsEnabled() {
		return e, nil
	}
	if !r.Deleted {
		members, omitted, err := l.eventMembers(ctx, r.Tenant, r.ID)
		if err != nil {
			return e, err
		}
		e.resource, _ = scim.AppendJSON(make([]byte, 0, 256+130*len(members)), GroupResource(r, members, l.eventBase(r.Tenant)))
		e.membersOmitted = omitted
	}
	users := make([]string, 0, len(applied))
	for u := range applied {
		users = append(users, u)
	}
	sort.Strings(users)
	for _, u := range users {
		e.members = append(e.members, u+"="+applied[u])
	}
	return e, nil
}

// emitsAny reports whether a drain batch's marks emit events.
func emitsAny(done []applyMark) bool {
	for _, m := range done {
		if m.rec != nil && m.version > 0 {
			return true
		}
	}
	return false
}

// userJournalEntry is the journal entry of a user write ("" none).
func (l *Ledger) userJournalEntry(mode putMode, prev, next scim.Attrs, at time.Time) string {
	return l.journalEntry(mode, prev, next, at, userTransition, EventUserUpdated)
}

// groupJournalEntry is userJournalEntry for a group's attributes (a
// write of members only journals nothing: their events come from the
// apply).
func (l *Ledger) groupJournalEntry(mode putMode, prev, next scim.Attrs, at time.Time) string {
	return l.journalEntry(mode, prev, next, at, groupTransition, EventGroupUpdated)
}

// journalEntry is the journal entry of a write in mode, its transition
// from transition (userTransition, groupTransition); an update over a
// state the caller did not read is journaled as updated.
func (l *Ledger) journalEntry(mode putMode, prev, next scim.Attrs, at time.Time,
	transition func(prev, next map[string]any, at time.Time) Transition, updated string) string {
	if !l.EventsEnabled() {
		return ""
	}
	switch mode {
	case modeCreate:
		return transition(nil, next, at).encode()
	case modeDelete:
		return transition(map[string]any{}, nil, at).encode()
	case modeUpdate:
		if prev == nil { // a caller that did not read the state it wrote over
			return Transition{Types: []string{updated}, At: at.UnixMilli()}.encode()
		}
		return transition(prev, next, at).encode()
	}
	return "" // adopt (the store had it already: nothing changed there), a group's members only
}

// journalLua is the write scripts' part: journal(key, version, entry)
// records entry as the transition of version ("" records nothing).
const journalLua = `
local function journal(key, version, entry)
  if entry and entry ~= '' then redis.call('HSET', key, version, entry) end
end
`

// emitAddLua is how every script appends an event: emitAdd(stream,
// minid, j, f) numbers the fields f from the resource's journal j (its
// "n"), appends them to the stream, trimmed to minid ("" none), and
// counts the event (emitCount; emitLast is its stream id).
const emitAddLua = `
local emitCount, emitLast = 0, ''
local function emitAdd(stream, minid, j, f)
  local n = redis.call('HINCRBY', j, 'n', 1)
  f[#f+1] = 'n'; f[#f+1] = n
  if minid ~= '' then
    emitLast = redis.call('XADD', stream, 'MINID', '~', minid, '*', unpack(f))
  else
    emitLast = redis.call('XADD', stream, '*', unpack(f))
  end
  emitCount = emitCount + 1
end
`

// emitLua turns a resource's journal entries into stream entries once
// the store holds a version (run after the store's apply, in the script
// that marks it applied or before that mark: a crash between the two
// re-applies and finds nothing left to emit). Each journal entry is
// deleted as it is emitted, so a re-run (or a call go-redis sends again
// after a read timeout) emits nothing twice.
//
// A group's membership changes (members: "user=+n,user=-n", the pending
// hash's values) are emitted each once: a change still pending is cleared
// from the pending hash as it is emitted (the store holds it; the mark
// that follows finds it gone, and a re-run after a crash before that mark
// does not find it to emit again), and the call's id (call) is recorded
// in the journal ("ecall"), so the same call sent again after a read
// timeout emits no member event twice.
const emitLua = emitAddLua + `
local function emitResource(stream, minid, call, j, pend, kind, id, applied, anchor, res, members, omitted)
  local h = redis.call('HGETALL', j)
  local vs, entries = {}, {}
  for i = 1, #h, 2 do
    local v = tonumber(h[i])
    if h[i] ~= 'n' and v and v <= applied then vs[#vs+1] = v; entries[v] = {h[i], h[i+1]} end
  end
  table.sort(vs)
  for _, v in ipairs(vs) do
    local ok, t = pcall(cjson.decode, entries[v][2])
    if ok and type(t) == 'table' and type(t.t) == 'table' then
      for _, typ in ipairs(t.t) do
        local f = {'type', typ, 'kind', kind, 'rid', id, 'v', v, 'at', tostring(t.at or '')}
        if anchor ~= '' then f[#f+1] = 'anchor'; f[#f+1] = anchor end
        if type(t.c) == 'table' and #t.c > 0 then f[#f+1] = 'changed'; f[#f+1] = table.concat(t.c, ',') end
        if res ~= '' and not string.find(typ, 'deleted', 1, true) then
          f[#f+1] = 'res'; f[#f+1] = res
          if omitted and omitted ~= '' and omitted ~= '0' then f[#f+1] = 'mo'; f[#f+1] = omitted end
        end
        emitAdd(stream, minid, j, f)
      end
    end
    redis.call('HDEL', j, entries[v][1])
  end
  if members == '' or redis.call('HGET', j, 'ecall') == call then return end
  local adds, rems = {}, {}
  for pair in string.gmatch(members, '[^,]+') do
    local u, c = string.match(pair, '^(.+)=([+-]%d+)$')
    if u then
      if redis.call('HGET', pend, u) == c then redis.call('HDEL', pend, u) end
      if string.sub(c, 1, 1) == '+' then adds[#adds+1] = u else rems[#rems+1] = u end
    end
  end
  redis.call('HSET', j, 'ecall', call)
  if #adds > 0 then emitAdd(stream, minid, j, {'type', 'group.members_added', 'kind', kind, 'rid', id, 'v', applied, 'members', table.concat(adds, ',')}) end
  if #rems > 0 then emitAdd(stream, minid, j, {'type', 'group.members_removed', 'kind', kind, 'rid', id, 'v', applied, 'members', table.concat(rems, ',')}) end
end
`

// emitScript runs emitLua for resources.
//
// KEYS: 1 stream, then per resource 2: its journal, its pending members
// hash (a user's: a key that does not exist).
// ARGV: 1 MINID for trimming ("" none), 2 the call's id (new for each
// call, the same when go-redis sends it again), then per resource 7 values: kind,
// id, applied version, anchor, resource JSON ("" none), members
// ("user=+n,user=-n", "" none), the number of members the resource does
// not list ("0": it lists them all; the "mo" field of its events).
// Returns {number of events added, id of the last one or ""}.
var emitScript = redis.NewScript(emitLua + `
for r = 2, #KEYS, 2 do
  local b = 3 + (r - 2) / 2 * 7
  emitResource(KEYS[1], ARGV[1], ARGV[2], KEYS[r], KEYS[r+1], ARGV[b], ARGV[b+1], tonumber(ARGV[b+2]), ARGV[b+3], ARGV[b+4], ARGV[b+5], ARGV[b+6])
end
return {emitCount, emitLast}
`)

// failedEventScript appends a sync.failed event, once per call: ARGV[6]
// is the call's id, recorded in the journal with the event's stream id,
// so a call go-redis sends again after a read timeout returns the first
// one's event instead of adding another.
//
// KEYS: 1 stream, 2 journal. ARGV: 1 MINID ("" none), 2 kind, 3 id,
// 4 version, 5 reason, 6 call id.
var failedEventScript = redis.NewScript(emitAddLua + `
local prev = redis.call('HMGET', KEYS[2], 'fcall', 'fev')
if prev[1] == ARGV[6] and prev[2] then return prev[2] end
emitAdd(KEYS[1], ARGV[1], KEYS[2], {'type', 'sync.failed', 'kind', ARGV[2], 'rid', ARGV[3], 'v', ARGV[4], 'reason', ARGV[5]})
redis.call('HSET', KEYS[2], 'fcall', ARGV[6], 'fev', emitLast)
return emitLast
`)

// emitted is one resource a store apply brought to a version.
type emitted struct {
	kind, id string
	version  int64
	anchor   string
	resource []byte // the resource as the SCIM API shows it
	// membersOmitted is how many members a group's resource does not list
	// (more than EventMembersMax; 0: it lists them all).
	membersOmitted int64
	// members are the membership changes applied ("user=+n" added,
	// "user=-n" removed: the pending hash's values), sorted by user.
	members []string
}

// memberArg is members as emitLua takes them.
func (e *emitted) memberArg() string { return strings.Join(e.members, ",") }

// minID is the stream id before which entries are trimmed ("" when events
// are kept without a bound, which SetEventRetention never sets).
func (l *Ledger) minID() string {
	if l.eventRetention <= 0 {
		return ""
	}
	return strconv.FormatInt(l.now().Add(-l.eventRetention).UnixMilli(), 10)
}

// emitArgs returns the keys and arguments of emitScript for rs.
func (l *Ledger) emitArgs(tenant string, rs []emitted) ([]string, []any) {
	ks := make([]string, 1, 1+len(rs))
	ks[0] = eventStream(tenant)
	args := make([]any, 2, 2+7*len(rs))
	args[0], args[1] = l.minID(), newID()
	for _, r := range rs {
		k := userKeys(tenant)
		if r.kind == queue.KindGroup {
			k = groupKeys(tenant)
		}
		ks = append(ks, k.journal(r.id), k.pending(r.id))
		args = append(args, r.kind, r.id, r.version, r.anchor, r.resource, r.memberArg(), r.membersOmitted)
	}
	return ks, args
}

// emitEvents turns the journal entries of rs up to their applied versions
// into events.
func (l *Ledger) emitEvents(ctx context.Context, tenant string, rs []emitted) error {
	if !l.EventsEnabled() || len(rs) == 0 {
		return nil
	}
	ks, args := l.emitArgs(tenant, rs)
	cmd := emitScript.Run(ctx, l.rdb, ks, args...)
	if err := cmd.Err(); err != nil {
		return redisErr("emit events", err)
	}
	l.eventsAdded(ctx, tenant, cmd)
	return nil
}

// emitFailed appends a sync.failed event for version of a resource.
func (l *Ledger) emitFailed(ctx context.Context, k keys, id string, version int64, reason string) (string, error) {
	if !l.EventsEnabled() {
		return "", nil
	}
	last, err := failedEventScript.Run(ctx, l.rdb, []string{eventStream(k.tenant), k.journal(id)},
		l.minID(), kindName(k), id, version, reason, newID()).Text()
	if err != nil {
		return "", redisErr("emit sync.failed", err)
	}
	if l.onEvents != nil {
		l.onEvents(ctx, k.tenant)
	}
	return last, nil
}

// ErrBadCursor: an events cursor that is not a stream id.
var ErrBadCursor = fmt.Errorf("%w: bad events cursor (use the cursor of an event)", ErrInvalidRequest)

// validCursor reports whether s is a stream id ("ms-seq" or "ms").
func validCursor(s string) bool {
	ms, seq, found := strings.Cut(s, "-")
	if _, err := strconv.ParseUint(ms, 10, 64); err != nil {
		return false
	}
	if found {
		if _, err := strconv.ParseUint(seq, 10, 64); err != nil {
			return false
		}
	}
	return true
}

// Events returns up to limit of the tenant's events after the cursor
// after ("" from the oldest kept), oldest first.
func (l *Ledger) Events(ctx context.Context, tenant, after string, limit int) ([]Event, error) {
	start := "-"
	if after != "" {
		if !validCursor(after) {
			return nil, fmt.Errorf("%w: %q", ErrBadCursor, after)
		}
		start = "(" + after
	}
	return l.eventRange(ctx, tenant, start, "+", limit)
}

// EventFilter selects events of the feed (zero: every event).
type EventFilter struct {
	// Types are the event types wanted (none: every type); a type that is
	// not one of EventTypes or AckEventTypes is refused.
	Types []string
	// ResourceID is the SCIM id of the one resource wanted ("" any).
	ResourceID string
}

func (f EventFilter) empty() bool { return len(f.Types) == 0 && f.ResourceID == "" }

// check refuses an unknown event type or an id no resource has.
func (f EventFilter) check() error {
	if err := checkTypes(f.Types); err != nil {
		return err
	}
	if len(f.ResourceID) > maxEventResourceID {
		return scim.BadRequest(scim.ScimTypeInvalidValue, "resource_id is longer than %d characters", maxEventResourceID)
	}
	return nil
}

func (f EventFilter) match(e *Event) bool {
	return (len(f.Types) == 0 || slices.Contains(f.Types, e.Type)) && (f.ResourceID == "" || f.ResourceID == e.Data.ID)
}

// maxEventResourceID bounds the resource_id filter (a SCIM id of ours is
// a UUID; an adopted one the store's, short too).
const maxEventResourceID = 1024

// eventsScanFactor bounds the work of one filtered page: at most this many
// stream entries per event asked for (limit) are read, and at most
// eventsScanMax in all, whatever matches.
const (
	eventsScanFactor = 10
	eventsScanMax    = 10_000
)

// EventPage returns up to limit of the tenant's events after the cursor
// after ("" from the oldest kept) that f selects, oldest first, and the
// cursor to continue from. Events f skips are read past: next is the last
// event returned when the page is full, else the last entry read (so a
// consumer polling with a filter never reads the skipped events again),
// and after itself when nothing was read. A filtered page reads at most
// eventsScanFactor × limit entries (eventsScanMax in all): it may come
// back short, or empty with next moved on, before the stream's end.
func (l *Ledger) EventPage(ctx context.Context, tenant, after string, limit int, f EventFilter) (evs []Event, next string, err error) {
	if err := f.check(); err != nil {
		return nil, "", err
	}
	if limit <= 0 {
		limit = 100
	}
	next = after
	if f.empty() {
		if evs, err = l.Events(ctx, tenant, after, limit); err != nil {
			return nil, "", err
		}
		if len(evs) > 0 {
			next = evs[len(evs)-1].Cursor
		}
		return evs, next, nil
	}
	budget := min(eventsScanFactor*limit, eventsScanMax)
	chunk := min(max(limit, 100), 1000)
	evs = []Event{}
	for budget > 0 {
		n := min(chunk, budget)
		read, err := l.Events(ctx, tenant, next, n)
		if err != nil {
			return nil, "", err
		}
		budget -= len(read)
		for i := range read {
			next = read[i].Cursor
			if f.match(&read[i]) {
				evs = append(evs, read[i])
				if len(evs) == limit {
					return evs, next, nil
				}
			}
		}
		if len(read) < n {
			break // the stream's end
		}
	}
	return evs, next, nil
}

// EventsBetween returns up to limit of the tenant's events whose time is
// in [from, to], oldest first.
func (l *Ledger) EventsBetween(ctx context.Context, tenant string, from, to time.Time, limit int) ([]Event, error) {
	return l.eventRange(ctx, tenant, strconv.FormatInt(from.UnixMilli(), 10), strconv.FormatInt(to.UnixMilli(), 10), limit)
}

// EventByID finds an event by its id among the tenant's kept events
// (a scan of the stream: replay is an operator's action, not a hot path).
func (l *Ledger) EventByID(ctx context.Context, tenant, id string) (*Event, error) {
	after := ""
	for {
		evs, err := l.Events(ctx, tenant, after, 1000)
		if err != nil {
			return nil, err
		}
		for i := range evs {
			if evs[i].ID == id {
				return &evs[i], nil
			}
		}
		if len(evs) < 1000 {
			return nil, fmt.Errorf("sync: event %s: %w", id, ErrNotFound)
		}
		after = evs[len(evs)-1].Cursor
	}
}

func (l *Ledger) eventRange(ctx context.Context, tenant, start, end string, limit int) ([]Event, error) {
	if limit <= 0 {
		limit = 100
	}
	msgs, err := l.rdb.XRangeN(ctx, eventStream(tenant), start, end, int64(limit)).Result()
	if err != nil {
		return nil, redisErr("read events", err)
	}
	out := make([]Event, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, eventFromFields(tenant, m.ID, m.Values))
	}
	return out, nil
}

// EventStats are a tenant's stream's size and ends.
type EventStats struct {
	Length      int64
	First, Last string // cursors ("" when empty)
	MemoryBytes int64  // MEMORY USAGE of the stream (0 when unknown)
}

// EventStreamStats returns the size of the tenant's stream.
func (l *Ledger) EventStreamStats(ctx context.Context, tenant string) (EventStats, error) {
	var st EventStats
	info, err := l.rdb.XInfoStream(ctx, eventStream(tenant)).Result()
	if err != nil {
		if strings.Contains(err.Error(), "no such key") || errors.Is(err, redis.Nil) {
			return st, nil
		}
		return st, redisErr("events info", err)
	}
	st.Length, st.First, st.Last = info.Length, info.FirstEntry.ID, info.LastGeneratedID
	if n, err := l.rdb.MemoryUsage(ctx, eventStream(tenant)).Result(); err == nil {
		st.MemoryBytes = n
	}
	return st, nil
}

// trimBatch is how many tenants' streams one TrimEvents round trip trims.
const trimBatch = 500

// TrimEvents removes the events older than the retention from the
// tenants' streams: exactly (XTRIM MINID without ~), so a tenant that no
// longer receives changes loses its old events too (the trim on append,
// approximate, removes only whole stream nodes, and only when something
// is appended). The sweeper calls it every sweep; a tenant without a
// stream costs a no-op command in a pipeline of trimBatch. It returns how
// many events were removed.
func (l *Ledger) TrimEvents(ctx context.Context, tenantIDs []string) (int64, error) {
	minID := l.minID()
	if minID == "" {
		return 0, nil
	}
	var removed int64
	for len(tenantIDs) > 0 {
		batch := tenantIDs[:min(trimBatch, len(tenantIDs))]
		tenantIDs = tenantIDs[len(batch):]
		pipe := l.rdb.Pipeline()
		cmds := make([]*redis.IntCmd, len(batch))
		for i, t := range batch {
			cmds[i] = pipe.XTrimMinID(ctx, eventStream(t), minID)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return removed, redisErr("trim events", err)
		}
		for _, c := range cmds {
			removed += c.Val()
		}
	}
	return removed, nil
}
