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
// second create of the same user to be a 409), so a create answered 503
// this way is marked unacknowledged on its record (field "unack", the
// time), and a retried create of the same userName with the same content
// within unackedFor is answered with the recorded user once replicas hold
// it (ConfirmUnacknowledged), the way an idempotent API answers a retry.
// Group creates likewise, by displayName, with the same document and the
// same requested members (field "unackm", their digest: a group's
// document leaves members out).

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

// writeReplicated runs write against Redis: as it is without
// RequireReplicas, otherwise on one connection to the primary holding
// slotKey, then WAITs there.
func (l *Ledger) writeReplicated(ctx context.Context, slotKey string, write func(redis.Scripter) error) error {
	if l.minReplicas <= 0 {
		return write(l.rdb)
	}
	var node *redis.Client
	switch c := l.rdb.(type) {
	case *redis.Client: // standalone, or a failover client (the current master)
		node = c
	case *redis.ClusterClient:
		n, err := c.MasterForKey(ctx, slotKey)
		if err != nil {
			return redisErr("find the primary", err)
		}
		node = n
	default:
		return fmt.Errorf("sync: redis.min_replicas needs a standalone, sentinel or cluster client, not %T", l.rdb)
	}
	conn := node.Conn()
	defer conn.Close()
	if err := write(conn); err != nil {
		return err
	}
	n, err := conn.Wait(ctx, l.minReplicas, l.replicaTimeout).Result()
	if err != nil {
		return redisErr("wait for replicas", err)
	}
	if n < int64(l.minReplicas) {
		return fmt.Errorf("sync: %d of %d replicas within %s: %w", n, l.minReplicas, l.replicaTimeout, ErrNotReplicated)
	}
	return nil
}

// markUnacknowledged records on a created user's or group's record (k
// says which) that its create was answered ErrNotReplicated (best effort:
// without the mark, a retry is a 409, as it always was). members is the
// digest of a group create's requested members (membersDigest; "" for a
// user): a group's document leaves them out, and a retry must ask for the
// same ones to be recognised.
func (l *Ledger) markUnacknowledged(ctx context.Context, k keys, id, members string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	fields := []any{"unack", strconv.FormatInt(l.now().UnixMilli(), 10)}
	if members != "" {
		fields = append(fields, "unackm", members)
	}
	_ = l.rdb.HSet(ctx, k.rec(id), fields...).Err()
}

// membersDigest identifies a group create's requested members (ids
// deduplicated, in any order) for markUnacknowledged.
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
// user id: when that user's own create was answered ErrNotReplicated
// within unackedFor and a holds the same attributes, it clears the mark
// with a write of its own followed by WAIT (so replicas hold the earlier
// write too: replication is in order) and returns the user; ok is false
// when the create is a real conflict.
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
	err = l.writeReplicated(ctx, k.rec(id), func(c redis.Scripter) error {
		return c.(interface {
			HDel(context.Context, string, ...string) *redis.IntCmd
		}).HDel(ctx, k.rec(id), "unack", "unackm").Err()
	})
	if err != nil {
		if !errors.Is(err, ErrUnavailable) {
			err = redisErr("confirm create", err)
		}
		return nil, false, err
	}
	r, err := recordFromFields(k.tenant, id, f)
	if err != nil {
		return nil, false, err
	}
	return r, true, nil
}
