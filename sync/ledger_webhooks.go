package sync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scimbridge/scimbridge/queue"
)

// The ledger's side of webhooks (webhooks.go): a tenant's endpoints and,
// per endpoint, its delivery cursor (the stream id of the last event it
// acknowledged or skipped), its lease (one delivery run at a time, which
// keeps the stream's order), its run generation (which makes one task id
// per run: see Webhooks.Kick), the events queued for replay, attempt
// counts and the delivery log.
//
// Keys: sb:{tenant}:wh:ep (hash: endpoint id → storedEndpoint JSON, whose
// secrets are sealed), and sb:{tenant}:wh:<what>:<endpoint> for cur
// (string), lease (string), gen (counter), replay (list of stream ids),
// att (hash: event id → attempts), log (list of Delivery JSON, newest
// first, deliveryLogLength kept), once:<call id> (a write's answer, kept
// 10 minutes: onceLua); sb:{tenant}:wh:ack exists while an enabled
// endpoint takes *.acknowledged events (ledger_ack.go);
// sb:{tenant}:wh:slots holds the tenant's delivery runs going now
// (ledger_slots.go: webhooks.tenant_concurrency).

// deliveryLogLength is how many deliveries each endpoint's log keeps.
const deliveryLogLength = 100

func endpointsKey(tenant string) string { return "sb:{" + tenant + "}:wh:ep" }
func endpointKey(tenant, what, ep string) string {
	return "sb:{" + tenant + "}:wh:" + what + ":" + ep
}

// sealedSecret is one signing secret of an endpoint, sealed with the
// ledger's key (the secret must be recoverable: it signs).
type sealedSecret struct {
	Sealed  string    `json:"sealed"`
	Created time.Time `json:"created"`
	// Expires, when set, is the end of a rotation's overlap: after it the
	// secret no longer signs.
	Expires *time.Time `json:"expires,omitempty"`
}

// storedEndpoint is an endpoint as Redis keeps it.
type storedEndpoint struct {
	Endpoint
	Secrets []sealedSecret `json:"secrets"`
	// ConfigDigest is the Sealer's digest of the configuration file's
	// entry last applied to the endpoint (EnsureEndpoint; "" for one made
	// through the API or CLI): an unchanged entry is not applied again.
	ConfigDigest string `json:"config_digest,omitempty"`
}

func (l *Ledger) putEndpoint(ctx context.Context, tenant string, e *storedEndpoint) error {
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("sync: encode endpoint: %w", err)
	}
	if err := l.rdb.HSet(ctx, endpointsKey(tenant), e.ID, b).Err(); err != nil {
		return redisErr("put endpoint", err)
	}
	return nil
}

// swapEndpointScript writes an endpoint only if it is still stored as the
// caller read it (ARGV[2]): 1 written, 0 changed meanwhile (or deleted).
// A re-sent call after a timeout finds its own write and answers 0; the
// caller then reads again and finds its change made.
var swapEndpointScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
`)

// maxEndpointSwaps bounds updateEndpoint's read-change-write rounds.
const maxEndpointSwaps = 20

// updateEndpoint changes the stored endpoint id with change, applied to
// the copy as stored now (never to an older copy a caller read before),
// and writes it only if nobody wrote it meanwhile: an operator's change
// (rotation, disable) made while a delivery run holds its own copy is
// kept, the run's change (its failing period, a disable) applied on top.
// change returns false to write nothing. It returns the endpoint as
// stored after the change.
func (l *Ledger) updateEndpoint(ctx context.Context, tenant, id string, change func(*storedEndpoint) bool) (*storedEndpoint, error) {
	key := endpointsKey(tenant)
	for range maxEndpointSwaps {
		e, old, err := l.readEndpoint(ctx, tenant, id)
		if err != nil {
			return nil, err
		}
		acks := e.wantsAcks()
		if !change(e) {
			return e, nil
		}
		b, err := json.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("sync: encode endpoint: %w", err)
		}
		if string(b) == old {
			return e, nil
		}
		n, err := swapEndpointScript.Run(ctx, l.rdb, []string{key}, id, old, b).Int()
		if err != nil {
			return nil, redisErr("put endpoint", err)
		}
		if n == 1 {
			if e.wantsAcks() != acks {
				return e, l.refreshAcks(ctx, tenant)
			}
			return e, nil
		}
	}
	return nil, fmt.Errorf("sync: webhook endpoint %s: %w: changed by others %d times in a row", id, queue.ErrBusy, maxEndpointSwaps)
}

// createEndpoint stores a new endpoint whose cursor starts at the
// stream's newest event (it receives what happens from now on).
func (l *Ledger) createEndpoint(ctx context.Context, tenant string, e *storedEndpoint) error {
	start := "0-0"
	if st, err := l.EventStreamStats(ctx, tenant); err != nil {
		return err
	} else if st.Last != "" {
		start = st.Last
	}
	if err := l.rdb.Set(ctx, endpointKey(tenant, "cur", e.ID), start, 0).Err(); err != nil {
		return redisErr("endpoint cursor", err)
	}
	if err := l.putEndpoint(ctx, tenant, e); err != nil {
		return err
	}
	if e.wantsAcks() {
		return l.refreshAcks(ctx, tenant)
	}
	return nil
}

func (l *Ledger) getEndpoint(ctx context.Context, tenant, id string) (*storedEndpoint, error) {
	e, _, err := l.readEndpoint(ctx, tenant, id)
	return e, err
}

// readEndpoint is getEndpoint with the JSON it decoded, as stored
// (updateEndpoint swaps it only if it is still that).
func (l *Ledger) readEndpoint(ctx context.Context, tenant, id string) (*storedEndpoint, string, error) {
	s, err := l.rdb.HGet(ctx, endpointsKey(tenant), id).Result()
	if errors.Is(err, redis.Nil) {
		return nil, "", fmt.Errorf("sync: webhook endpoint %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, "", redisErr("get endpoint", err)
	}
	var e storedEndpoint
	if err := json.Unmarshal([]byte(s), &e); err != nil {
		return nil, "", fmt.Errorf("sync: decode endpoint %s: %w", id, err)
	}
	return &e, s, nil
}

func (l *Ledger) listEndpoints(ctx context.Context, tenant string) ([]*storedEndpoint, error) {
	m, err := l.rdb.HGetAll(ctx, endpointsKey(tenant)).Result()
	if err != nil {
		return nil, redisErr("list endpoints", err)
	}
	out := make([]*storedEndpoint, 0, len(m))
	for id, s := range m {
		var e storedEndpoint
		if err := json.Unmarshal([]byte(s), &e); err != nil {
			return nil, fmt.Errorf("sync: decode endpoint %s: %w", id, err)
		}
		out = append(out, &e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

func (l *Ledger) deleteEndpoint(ctx context.Context, tenant, id string) error {
	n, err := l.rdb.HDel(ctx, endpointsKey(tenant), id).Result()
	if err != nil {
		return redisErr("delete endpoint", err)
	}
	if n == 0 {
		return fmt.Errorf("sync: webhook endpoint %s: %w", id, ErrNotFound)
	}
	var ks []string
	for _, w := range []string{"cur", "gen", "replay", "att", "log"} {
		ks = append(ks, endpointKey(tenant, w, id))
	}
	if err := l.rdb.Del(ctx, ks...).Err(); err != nil {
		return redisErr("delete endpoint", err)
	}
	return l.refreshAcks(ctx, tenant)
}

func (l *Ledger) endpointCursor(ctx context.Context, tenant, id string) (string, error) {
	s, err := l.rdb.Get(ctx, endpointKey(tenant, "cur", id)).Result()
	if errors.Is(err, redis.Nil) {
		return "0-0", nil
	}
	if err != nil {
		return "", redisErr("endpoint cursor", err)
	}
	return s, nil
}

func (l *Ledger) setEndpointCursor(ctx context.Context, tenant, id, cursor string) error {
	if err := l.rdb.Set(ctx, endpointKey(tenant, "cur", id), cursor, 0).Err(); err != nil {
		return redisErr("endpoint cursor", err)
	}
	return nil
}

// endpointGeneration is the endpoint's current run generation.
func (l *Ledger) endpointGeneration(ctx context.Context, tenant, id string) (string, error) {
	g, err := l.rdb.Get(ctx, endpointKey(tenant, "gen", id)).Result()
	if errors.Is(err, redis.Nil) {
		return "0", nil
	}
	if err != nil {
		return "", redisErr("endpoint generation", err)
	}
	return g, nil
}

func (l *Ledger) nextEndpointGeneration(ctx context.Context, tenant, id string) error {
	if err := l.rdb.Incr(ctx, endpointKey(tenant, "gen", id)).Err(); err != nil {
		return redisErr("endpoint generation", err)
	}
	return nil
}

// leaseEndpoint takes the endpoint's delivery lease for ttl.
func (l *Ledger) leaseEndpoint(ctx context.Context, tenant, id string, ttl time.Duration) (release func(), ok bool, err error) {
	key, token := endpointKey(tenant, "lease", id), newID()
	ok, err = l.rdb.SetNX(ctx, key, token, ttl).Result()
	if err != nil {
		return nil, false, redisErr("endpoint lease", err)
	}
	if !ok {
		return nil, false, nil
	}
	return func() {
		_ = releaseScript.Run(context.WithoutCancel(ctx), l.rdb, []string{key}, token).Err()
	}, true, nil
}

// onceLua makes a script act once per call: KEYS[1] is the call's own
// key (onceKey), holding the first run's answer for onceTTL, which a call
// go-redis sends again after a read timeout gets instead of acting again.
// The script's work sets result (a string or a number).
const onceLua = `
local done = redis.call('GET', KEYS[1])
if done then return done end
local result = 1
`

// onceEnd ends a onceLua script: the answer recorded, and returned.
const onceEnd = `
redis.call('SET', KEYS[1], result, 'EX', 600)
return result
`

// onceKey is a new call's key for onceLua (an endpoint's keys' slot).
func onceKey(tenant, id string) string { return endpointKey(tenant, "once", id) + ":" + newID() }

// queueReplayScript: KEYS 1 once, 2 replay list; ARGV the stream ids.
var queueReplayScript = redis.NewScript(onceLua + `
redis.call('RPUSH', KEYS[2], unpack(ARGV))
` + onceEnd)

// queueReplay adds stream ids to the endpoint's replay list (once per
// call).
func (l *Ledger) queueReplay(ctx context.Context, tenant, id string, cursors []string) error {
	if len(cursors) == 0 {
		return nil
	}
	args := make([]any, len(cursors))
	for i, c := range cursors {
		args[i] = c
	}
	if err := queueReplayScript.Run(ctx, l.rdb, []string{onceKey(tenant, id), endpointKey(tenant, "replay", id)}, args...).Err(); err != nil {
		return redisErr("queue replay", err)
	}
	return nil
}

// nextReplay returns the first event queued for replay (nil: none; an
// id no longer in the stream is dropped).
func (l *Ledger) nextReplay(ctx context.Context, tenant, id string) (*Event, error) {
	for {
		c, err := l.rdb.LIndex(ctx, endpointKey(tenant, "replay", id), 0).Result()
		if errors.Is(err, redis.Nil) {
			return nil, nil
		}
		if err != nil {
			return nil, redisErr("replay", err)
		}
		evs, err := l.eventRange(ctx, tenant, c, c, 1)
		if err != nil {
			return nil, err
		}
		if len(evs) == 1 {
			return &evs[0], nil
		}
		if err := l.popReplay(ctx, tenant, id); err != nil {
			return nil, err
		}
	}
}

func (l *Ledger) popReplay(ctx context.Context, tenant, id string) error {
	if err := l.rdb.LPop(ctx, endpointKey(tenant, "replay", id)).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return redisErr("replay", err)
	}
	return nil
}

// attempts returns the endpoint's failed attempts by event id.
func (l *Ledger) attempts(ctx context.Context, tenant, id string) (map[string]int64, error) {
	m, err := l.rdb.HGetAll(ctx, endpointKey(tenant, "att", id)).Result()
	if err != nil {
		return nil, redisErr("attempts", err)
	}
	out := make(map[string]int64, len(m))
	for k, v := range m {
		n, _ := strconv.ParseInt(v, 10, 64)
		out[k] = n
	}
	return out, nil
}

// failedAttemptScript: KEYS 1 once, 2 attempts, 3 log; ARGV 1 event id,
// 2 log entry, 3 log length. Returns the event's failed attempts.
var failedAttemptScript = redis.NewScript(onceLua + `
result = redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
redis.call('LPUSH', KEYS[3], ARGV[2])
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[3]) - 1)
` + onceEnd)

// failedAttempt counts a failed attempt and logs it (once per call); it
// returns the event's failed attempts so far.
func (l *Ledger) failedAttempt(ctx context.Context, tenant, id string, d Delivery) (int64, error) {
	b, _ := json.Marshal(d)
	n, err := failedAttemptScript.Run(ctx, l.rdb,
		[]string{onceKey(tenant, id), endpointKey(tenant, "att", id), endpointKey(tenant, "log", id)},
		d.Event, b, deliveryLogLength).Int64()
	if err != nil {
		return d.Attempt, redisErr("delivery log", err)
	}
	return n, nil
}

// recordAcksScript: KEYS 1 once, 2 log, 3 cursor, 4 attempts; ARGV 1 log
// length, 2 cursor ("" unchanged), 3 n, then n log entries (oldest
// first), then the event ids whose failed attempts are forgotten.
var recordAcksScript = redis.NewScript(onceLua + `
local n = tonumber(ARGV[3])
if n > 0 then
  redis.call('LPUSH', KEYS[2], unpack(ARGV, 4, 3 + n))
  redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[1]) - 1)
end
if ARGV[2] ~= '' then redis.call('SET', KEYS[3], ARGV[2]) end
if #ARGV > 3 + n then redis.call('HDEL', KEYS[4], unpack(ARGV, 4 + n)) end
` + onceEnd)

// recordAcks writes a run's acknowledged deliveries (the log entries,
// the cursor, the failed attempts forgotten) in one round trip, once per
// call (a call go-redis sends again logs no delivery twice), and empties
// a.
func (l *Ledger) recordAcks(ctx context.Context, tenant, id string, a *acks) error {
	if len(a.log) == 0 && a.cursor == "" {
		return nil
	}
	args := make([]any, 0, 3+len(a.log)+len(a.forget))
	args = append(args, deliveryLogLength, a.cursor, len(a.log))
	for _, d := range a.log {
		b, _ := json.Marshal(d)
		args = append(args, b)
	}
	for _, ev := range a.forget {
		args = append(args, ev)
	}
	keys := []string{onceKey(tenant, id), endpointKey(tenant, "log", id), endpointKey(tenant, "cur", id), endpointKey(tenant, "att", id)}
	if err := recordAcksScript.Run(ctx, l.rdb, keys, args...).Err(); err != nil {
		return redisErr("record deliveries", err)
	}
	a.log, a.cursor, a.forget = a.log[:0], "", a.forget[:0]
	return nil
}

// deliveredScript: KEYS 1 once, 2 log, 3 replay list, 4 attempts; ARGV
// 1 log entry, 2 log length, 3 "1": pop the replay, 4 event id whose
// failed attempts are forgotten ("" none).
var deliveredScript = redis.NewScript(onceLua + `
redis.call('LPUSH', KEYS[2], ARGV[1])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[2]) - 1)
if ARGV[3] == '1' then redis.call('LPOP', KEYS[3]) end
if ARGV[4] ~= '' then redis.call('HDEL', KEYS[4], ARGV[4]) end
` + onceEnd)

// delivered records an acknowledged replay in one round trip, once per
// call (a call sent again pops no second replay): the log entry, the
// replay popped, and the event's failed attempts forgotten.
func (l *Ledger) delivered(ctx context.Context, tenant, id string, d Delivery, replay, failedBefore bool) error {
	b, _ := json.Marshal(d)
	pop, forget := "0", ""
	if replay {
		pop = "1"
	}
	if failedBefore {
		forget = d.Event
	}
	if err := deliveredScript.Run(ctx, l.rdb,
		[]string{onceKey(tenant, id), endpointKey(tenant, "log", id), endpointKey(tenant, "replay", id), endpointKey(tenant, "att", id)},
		b, deliveryLogLength, pop, forget).Err(); err != nil {
		return redisErr("delivered", err)
	}
	return nil
}

// deliveries returns the endpoint's log, newest first.
func (l *Ledger) deliveries(ctx context.Context, tenant, id string, limit int) ([]Delivery, error) {
	if limit <= 0 || limit > deliveryLogLength {
		limit = deliveryLogLength
	}
	ss, err := l.rdb.LRange(ctx, endpointKey(tenant, "log", id), 0, int64(limit-1)).Result()
	if err != nil {
		return nil, redisErr("delivery log", err)
	}
	out := make([]Delivery, 0, len(ss))
	for _, s := range ss {
		var d Delivery
		if json.Unmarshal([]byte(s), &d) == nil {
			out = append(out, d)
		}
	}
	return out, nil
}
