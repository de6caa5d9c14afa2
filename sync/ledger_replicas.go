package sync

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scimbridge/scimbridge/scim"
)

// Acknowledgements that survive a failover (redis.min_replicas). Redis
// replication is asynchronous: a primary that dies can take writes it has
// acknowledged with it. With RequireReplicas(n > 0), a front-door write
// runs on one connection to the primary of the tenant's slot and is
// followed there by WAIT n (WAIT counts the replicas that hold every write
// of its own connection), so the ledger answers only once n replicas hold
// the write. When they do not within the timeout the write stays on the
// primary (dirty, so the sweeper still brings the store in line) and the
// caller gets ErrNotReplicated: 503 with Retry-After at the front door.
//
// The IdP then retries. A PUT or PATCH is idempotent by content; a
// create is not (the user exists now, and Okta's own test requires a
// second create of the same user to be a 409), so a create under
// RequireReplicas is marked unacknowledged by the write script itself
// (field "unack", the time), atomically with the record: the mark is there
// whenever the write is, however the reply is lost. It is cleared once
// WAIT has seen n replicas hold the write (a write after WAIT on the same
// connection). A retried create of the same userName with the same
// content within unackedFor, finding the mark, is answered with the
// recorded user once replicas hold it (ConfirmUnacknowledged), the way an
// idempotent API answers a retry. Group creates likewise, by displayName,
// with the same document and the same requested members (field "unackm",
// their digest: a group's document leaves members out).
//
// A reply lost on the dedicated connection (a read timeout, a reset) is
// not re-sent by go-redis there: the connection is gone. writeReplicated
// re-sends the same write (the same request id: see Replays, ledger_lua.go)
// on a fresh connection, a bounded number of times within the request's
// context; a resend that finds its own request id writes the id again, so
// the WAIT on the fresh connection covers the first run. When no attempt
// gets an answer the caller gets ErrUnavailable (503), and the mark the
// script set lets the IdP's identical retry have the recorded resource.
//
// If the clearing write after WAIT is lost (Redis fails right then), the
// mark stays: an identical create within unackedFor is then answered with
// the recorded resource instead of a 409. That errs toward the idempotent
// answer, never toward a duplicate.

// ErrNotReplicated: the write is recorded on the primary but fewer than
// redis.min_replicas replicas hold it yet. It wraps ErrUnavailable (503
// with Retry-After: retry); unlike the other ErrUnavailable causes,
// something was written, and the retry is safe (see above).
var ErrNotReplicated = fmt.Errorf("the write is not yet on enough replicas: %w", ErrUnavailable)

// unackedFor is how long a create answered ErrNotReplicated is recognised
// in a retry: longer than IdPs keep retrying a 503 (Okta: about an hour
// of backoff; Entra: its next cycle, 40 minutes).
const unackedFor = 2 * time.Hour

// RequireReplicas makes every front-door write wait (WAIT) until n
// replicas hold it, at most timeout. n 0 (the default) answers on the
// primary's acknowledgement. Call it before the ledger is used.
func (l *Ledger) RequireReplicas(n int, timeout time.Duration) {
	l.minReplicas, l.replicaTimeout = n, timeout
}

// replicatedAttempts bounds writeReplicated's sends of one write.
const replicatedAttempts = 3

// writeReplicated runs write against Redis: as it is without
// RequireReplicas, otherwise on one connection to the primary holding
// slotKey, then WAITs there; a network error or timeout (the write may or
// may not have run) sends write again on a fresh connection, at most
// replicatedAttempts times in all, while ctx lasts: write must be safe to
// resend, and a resend must write (see the top of this file). write
// returns the record whose unacknowledged mark its script set ("" none):
// it is cleared once replicas hold the write.
func (l *Ledger) writeReplicated(ctx context.Context, slotKey string, write func(redis.Scripter) (marked string, err error)) error {
	if l.minReplicas <= 0 {
		_, err := write(l.rdb)
		return err
	}
	var err error
	for attempt := 0; attempt < replicatedAttempts; attempt++ {
		if attempt > 0 && ctx.Err() != nil {
			break
		}
		var retry bool
		if retry, err = l.writeReplicatedOnce(ctx, slotKey, write); !retry {
			return err
		}
	}
	return err
}

// writeReplicatedOnce is one attempt of writeReplicated; retry says the
// outcome is unknown (a network error or timeout) and a resend may tell.
func (l *Ledger) writeReplicatedOnce(ctx context.Context, slotKey string, write func(redis.Scripter) (string, error)) (retry bool, err error) {
	var node *redis.Client
	switch c := l.rdb.(type) {
	case *redis.Client: // standalone, or a failover client (the current master)
		node = c
	case *redis.ClusterClient:
		n, err := c.MasterForKey(ctx, slotKey)
		if err != nil {
			err = redisErr("find the primary", err)
			return errors.Is(err, ErrUnavailable), err
		}
		node = n
	default:
		return false, fmt.Errorf("sync: redis.min_replicas needs a standalone, sentinel or cluster client, not %T", l.rdb)
	}
	conn := node.Conn()
	defer conn.Close()
	marked, err := write(conn)
	if err != nil {
		return errors.Is(err, ErrUnavailable), err
	}
	n, err := conn.Wait(ctx, l.minReplicas, l.replicaTimeout).Result()
	if err != nil {
		err = redisErr("wait for replicas", err)
		return errors.Is(err, ErrUnavailable), err
	}
	if n < int64(l.minReplicas) {
		return false, fmt.Errorf("sync: %d of %d replicas within %s: %w", n, l.minReplicas, l.replicaTimeout, ErrNotReplicated)
	}
	if marked != "" {
		// Best effort: a mark left behind only makes an identical create
		// within unackedFor an idempotent answer (see the top).
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = conn.HDel(cctx, marked, "unack", "unackm").Err()
	}
	return false, nil
}

// membersDigest identifies a group create's requested members (ids
// deduplicated, in any order) for the unacknowledged mark (field unackm).
func membersDigest(ids []string) string {
	s := append([]string(nil), ids...)
	sort.Strings(s)
	h := sha256.New()
	for _, id := range s {
		h.Write([]byte(id))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ConfirmUnacknowledged answers a retried create whose userName is taken by
// user id: when that user's own create is still unacknowledged (its
// answer was lost or ErrNotReplicated) since at most unackedFor and a
// holds the same attributes, it writes on the record followed by WAIT (so
// replicas hold the earlier write too: replication is in order), clears
// the mark and returns the user; ok is false when the create is a real
// conflict.
func (l *Ledger) ConfirmUnacknowledged(ctx context.Context, tenant, id string, a scim.Attrs) (_ *Record, ok bool, err error) {
	if l.minReplicas <= 0 { // no create is answered ErrNotReplicated: a 409 is a 409
		return nil, false, nil
	}
	doc, err := scim.AppendJSON(nil, a)
	if err != nil {
		return nil, false, nil
	}
	return l.confirmUnacknowledged(ctx, userKeys(tenant), id, doc, "")
}

// confirmUnacknowledgedGroup is ConfirmUnacknowledged for a retried group
// create whose displayName is taken by group id: same attributes (the
// document putGroup stores) and the same requested members.
func (l *Ledger) confirmUnacknowledgedGroup(ctx context.Context, tenant, id string, a scim.Attrs, members []string) (_ *Record, ok bool, err error) {
	if l.minReplicas <= 0 {
		return nil, false, nil
	}
	doc, err := json.Marshal(withoutMembers(a))
	if err != nil {
		return nil, false, nil
	}
	return l.confirmUnacknowledged(ctx, groupKeys(tenant), id, doc, membersDigest(members))
}

// confirmUnacknowledged is the check and the confirming write, for either
// kind: doc is the document the retry would store, members the digest of
// a group's requested members ("" for a user).
func (l *Ledger) confirmUnacknowledged(ctx context.Context, k keys, id string, doc []byte, members string) (_ *Record, ok bool, err error) {
	f, err := l.rdb.HGetAll(ctx, k.rec(id)).Result()
	if err != nil {
		return nil, false, redisErr("read the created record", err)
	}
	at, _ := strconv.ParseInt(f["unack"], 10, 64)
	if at == 0 || f["del"] == "1" || l.now().Sub(time.UnixMilli(at)) > unackedFor {
		return nil, false, nil
	}
	if !bytes.Equal(doc, []byte(f["doc"])) || f["unackm"] != members {
		return nil, false, nil
	}
	// The confirming write: the mark as read, written again. It is a write
	// of this connection after the create's (replication is in order), so
	// WAIT covers the create; it is safe to resend; writeReplicated clears
	// the mark only once replicas hold it.
	rec := k.rec(id)
	err = l.writeReplicated(ctx, rec, func(c redis.Scripter) (string, error) {
		err := c.(interface {
			HSet(context.Context, string, ...any) *redis.IntCmd
		}).HSet(ctx, rec, "unack", f["unack"]).Err()
		if err != nil {
			return "", redisErr("confirm create", err)
		}
		return rec, nil
	})
	if err != nil {
		return nil, false, err
	}
	r, err := recordFromFields(k.tenant, id, f)
	if err != nil {
		return nil, false, err
	}
	return r, true, nil
}
