package sync

import (
	"context"
	"strconv"
	gosync "sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scimbridge/scimbridge/queue"
)

// The *.acknowledged events (events.go): appended to the tenant's stream
// when the front door acknowledges a write (Service.enqueue), only while
// one of the tenant's enabled endpoints lists such a type (the key
// sb:{tenant}:wh:ack, kept by every endpoint change; read through a
// cache of ackCacheTTL, so a process that did not make the change sees
// it that much later). They go through the same ordered delivery runs as
// every event, and are in the feed.

// ackCacheTTL is how long a process trusts what it read of the ack key.
const ackCacheTTL = 2 * time.Second

func ackKey(tenant string) string { return "sb:{" + tenant + "}:wh:ack" }

type ackCache struct {
	mu gosync.Mutex
	m  map[string]ackCached
}

type ackCached struct {
	want bool
	read time.Time
}

// acksWanted reports whether an endpoint of the tenant takes
// *.acknowledged events.
func (l *Ledger) acksWanted(ctx context.Context, tenant string) (bool, error) {
	now := time.Now()
	l.acks.mu.Lock()
	c, ok := l.acks.m[tenant]
	l.acks.mu.Unlock()
	if ok && now.Sub(c.read) < ackCacheTTL {
		return c.want, nil
	}
	n, err := l.rdb.Exists(ctx, ackKey(tenant)).Result()
	if err != nil {
		return false, redisErr("acknowledged events", err)
	}
	l.acks.mu.Lock()
	if l.acks.m == nil {
		l.acks.m = map[string]ackCached{}
	}
	l.acks.m[tenant] = ackCached{want: n > 0, read: now}
	l.acks.mu.Unlock()
	return n > 0, nil
}

// refreshAcks sets the tenant's ack key from its endpoints (after any
// endpoint change).
func (l *Ledger) refreshAcks(ctx context.Context, tenant string) error {
	eps, err := l.listEndpoints(ctx, tenant)
	if err != nil {
		return err
	}
	want := false
	for _, e := range eps {
		want = want || e.wantsAcks()
	}
	if want {
		err = l.rdb.Set(ctx, ackKey(tenant), "1", 0).Err()
	} else {
		err = l.rdb.Del(ctx, ackKey(tenant)).Err()
	}
	l.acks.mu.Lock()
	delete(l.acks.m, tenant)
	l.acks.mu.Unlock()
	if err != nil {
		return redisErr("acknowledged events", err)
	}
	return nil
}

// ackEventScript appends a *.acknowledged event, once per call (ARGV[8]:
// a call sent again after a read timeout adds none).
//
// KEYS: 1 stream, 2 the resource's journal. ARGV: 1 MINID ("" none),
// 2 type, 3 kind, 4 id, 5 version, 6 acknowledged at (ms), 7 resource
// JSON ("" none), 8 the call's id, 9 the members the resource does not
// list ("0" none: ledger_events.go's "mo").
var ackEventScript = redis.NewScript(emitAddLua + `
local prev = redis.call('HMGET', KEYS[2], 'acall', 'aev')
if prev[1] == ARGV[8] and prev[2] then return prev[2] end
local f = {'type', ARGV[2], 'kind', ARGV[3], 'rid', ARGV[4], 'v', ARGV[5], 'at', ARGV[6]}
if ARGV[7] ~= '' then f[#f+1] = 'res'; f[#f+1] = ARGV[7] end
if ARGV[9] and ARGV[9] ~= '' and ARGV[9] ~= '0' then f[#f+1] = 'mo'; f[#f+1] = ARGV[9] end
emitAdd(KEYS[1], ARGV[1], KEYS[2], f)
redis.call('HSET', KEYS[2], 'acall', ARGV[8], 'aev', emitLast)
return emitLast
`)

// emitAcknowledged appends r's *.acknowledged event when an endpoint of
// the tenant takes them (kind: queue.KindUser or queue.KindGroup).
func (l *Ledger) emitAcknowledged(ctx context.Context, kind string, r *Record) error {
	if !l.EventsEnabled() {
		return nil
	}
	if want, err := l.acksWanted(ctx, r.Tenant); err != nil || !want {
		return err
	}
	k, typ := userKeys(r.Tenant), EventUserAcknowledged
	var ev emitted
	if kind == queue.KindGroup {
		k, typ = groupKeys(r.Tenant), EventGroupAcknowledged
		var err error
		if ev, err = l.groupEmitted(ctx, r, "", nil); err != nil {
			return err
		}
	} else {
		ev = l.userEmitted(r, "")
	}
	if err := ackEventScript.Run(ctx, l.rdb, []string{eventStream(r.Tenant), k.journal(r.ID)},
		l.minID(), typ, kind, r.ID, r.Version, strconv.FormatInt(l.now().UnixMilli(), 10), ev.resource, newID(), ev.membersOmitted).Err(); err != nil {
		return redisErr("acknowledged event", err)
	}
	if l.onEvents != nil {
		l.onEvents(ctx, r.Tenant)
	}
	return nil
}
