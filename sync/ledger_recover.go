package sync

import (
	"context"
	"errors"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/scimbridge/scimbridge/scim"
)

// The ledger side of disaster recovery (recover.go): a user or group
// recorded from the store with the SCIM id it had, whether a tenant's
// ledger holds anything, and the mark a recover leaves on the ledger it
// filled.

// recoverKey is the hash a recover writes before its first record and
// completes at its end: started, finished (unix ms), users, groups.
func recoverKey(tenant string) string { return "sb:{" + tenant + "}:recover" }

// recoverUser records a store entry as an applied user with the given id
// (the one the store holds, or a new one), through the adopt write: the
// same uniqueness checks as an adoption, the anchor indexed, nothing dirty.
func (l *Ledger) recoverUser(ctx context.Context, tenant string, u Uniqueness, id, anchor string, a scim.Attrs) (*Record, error) {
	return l.putUser(ctx, tenant, u, id, modeAdopt, 0, a, nil, anchor, "", nil)
}

// recoverGroup records a store group as an applied group with the given id
// and members (user ids), as an adoption does.
func (l *Ledger) recoverGroup(ctx context.Context, tenant string, u Uniqueness, id, anchor string, a scim.Attrs, members []string) (*Record, error) {
	return l.putGroup(ctx, tenant, u, id, modeAdopt, 0, a, true, members, nil, anchor, nil)
}

// LedgerContents is what a tenant's ledger holds.
type LedgerContents struct {
	// Users and Groups count the live resources.
	Users  int `json:"users"`
	Groups int `json:"groups"`
	// Empty: no user or group was ever recorded (no live one, no
	// tombstone): the creation counters do not exist.
	Empty bool `json:"empty"`
	// Recovered: a recover wrote to this ledger (RecoverFinished is zero
	// while it runs or when it was interrupted).
	Recovered       bool  `json:"recovered"`
	RecoverFinished int64 `json:"recover_finished_ms,omitempty"`
}

// Contents reports what the tenant's ledger holds, in one round trip.
func (l *Ledger) Contents(ctx context.Context, tenant string) (*LedgerContents, error) {
	uk, gk := userKeys(tenant), groupKeys(tenant)
	pipe := l.rdb.Pipeline()
	users := pipe.ZCard(ctx, uk.all())
	groups := pipe.ZCard(ctx, gk.all())
	seqs := pipe.Exists(ctx, uk.seq(), gk.seq())
	mark := pipe.HMGet(ctx, recoverKey(tenant), "started", "finished")
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, redisErr("ledger contents", err)
	}
	c := &LedgerContents{Users: int(users.Val()), Groups: int(groups.Val()), Empty: seqs.Val() == 0}
	if v := mark.Val(); len(v) == 2 && v[0] != nil {
		c.Recovered = true
		if s, ok := v[1].(string); ok {
			c.RecoverFinished, _ = strconv.ParseInt(s, 10, 64)
		}
	}
	return c, nil
}

// markRecover records the start (finished false) or the end of a recover.
func (l *Ledger) markRecover(ctx context.Context, tenant string, finished bool, users, groups int) error {
	now := l.now().UnixMilli()
	var err error
	if finished {
		err = l.rdb.HSet(ctx, recoverKey(tenant), "finished", now, "users", users, "groups", groups).Err()
	} else {
		pipe := l.rdb.TxPipeline()
		pipe.HSetNX(ctx, recoverKey(tenant), "started", now)
		pipe.HDel(ctx, recoverKey(tenant), "finished")
		_, err = pipe.Exec(ctx)
	}
	if err != nil {
		return redisErr("mark recover", err)
	}
	return nil
}

// recordExists reports which of ids have a record (live or deleted) of
// the kind: a recovered id another record holds is a conflict.
func (l *Ledger) recordsExist(ctx context.Context, k keys, ids []string) (map[string]bool, error) {
	out := make(map[string]bool, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	pipe := l.rdb.Pipeline()
	cmds := make([]*redis.IntCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.Exists(ctx, k.rec(id))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, redisErr("records exist", err)
	}
	for i, c := range cmds {
		if c.Val() > 0 {
			out[ids[i]] = true
		}
	}
	return out, nil
}
