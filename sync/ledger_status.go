package sync

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scimbridge/scimbridge/queue"
)

// The ledger's counts and pages for the operator (status.go) and the
// dirty-set metrics (metrics.go).

// keysOf returns the ledger keys of a kind ("User" or "Group").
func keysOf(tenant, kind string) (keys, error) {
	switch kind {
	case queue.KindUser:
		return userKeys(tenant), nil
	case queue.KindGroup:
		return groupKeys(tenant), nil
	}
	return keys{}, fmt.Errorf("sync: resource kind %q: %w", kind, ErrInvalidRequest)
}

// Summary counts the tenant's resources by state, in one round trip.
func (l *Ledger) Summary(ctx context.Context, tenant string) (*Summary, error) {
	u, g := userKeys(tenant), groupKeys(tenant)
	pipe := l.rdb.Pipeline()
	cmds := []*redis.IntCmd{
		pipe.ZCard(ctx, u.all()), pipe.ZCard(ctx, g.all()),
		pipe.ZCard(ctx, u.dirty()), pipe.ZCard(ctx, g.dirty()),
		pipe.ZCard(ctx, u.failed()), pipe.ZCard(ctx, g.failed()),
	}
	oldest := pipe.ZRangeWithScores(ctx, u.dirty(), 0, 0)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, redisErr("summary", err)
	}
	s := &Summary{Tenant: tenant,
		Users: int(cmds[0].Val()), Groups: int(cmds[1].Val()),
		PendingUsers: int(cmds[2].Val()), PendingGroups: int(cmds[3].Val()),
		FailedUsers: int(cmds[4].Val()), FailedGroups: int(cmds[5].Val()),
	}
	if z := oldest.Val(); len(z) > 0 {
		s.OldestPending = time.UnixMilli(int64(z[0].Score)).UTC()
	}
	return s, nil
}

// statePage returns how many of the tenant's resources of kind ("User" or
// "Group") are in a state (filter: FilterAll, FilterPending, FilterFailed)
// and the ids of the page [offset, offset+count) in that state's order,
// in one round trip.
func (l *Ledger) statePage(ctx context.Context, tenant, kind, filter string, offset, count int) (int, []string, error) {
	k, err := keysOf(tenant, kind)
	if err != nil {
		return 0, nil, err
	}
	var set string
	switch filter {
	case FilterAll, "":
		set = k.all()
	case FilterPending:
		set = k.dirty()
	case FilterFailed:
		set = k.failed()
	default:
		return 0, nil, fmt.Errorf("sync: state %q (want all, pending or failed): %w", filter, ErrInvalidRequest)
	}
	pipe := l.rdb.Pipeline()
	total := pipe.ZCard(ctx, set)
	page := pipe.ZRange(ctx, set, int64(offset), int64(offset+count-1))
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, nil, redisErr("statuses", err)
	}
	return int(total.Val()), page.Val(), nil
}

// Records returns the records of ids of kind ("User" or "Group"), deleted
// ones included, in the order given, skipping missing ones; one round trip.
func (l *Ledger) Records(ctx context.Context, tenant, kind string, ids []string) ([]*Record, error) {
	k, err := keysOf(tenant, kind)
	if err != nil {
		return nil, err
	}
	return l.records(ctx, k, ids, true)
}

// dirtyReadings counts each tenant's dirty users and groups and finds the
// oldest of each, in one pipeline.
func (l *Ledger) dirtyReadings(ctx context.Context, tenants TenantLister) ([]dirtyReading, error) {
	ids, err := tenants.TenantIDs(ctx)
	if err != nil {
		return nil, err
	}
	sort.Strings(ids)
	type pending struct {
		count *redis.IntCmd
		first *redis.ZSliceCmd
	}
	out := make([]dirtyReading, 0, 2*len(ids))
	var cmds []pending
	pipe := l.rdb.Pipeline()
	for _, tenant := range ids {
		for _, k := range []keys{userKeys(tenant), groupKeys(tenant)} {
			kind := queue.KindUser
			if k.kind == "g" {
				kind = queue.KindGroup
			}
			out = append(out, dirtyReading{tenant: tenant, kind: kind})
			cmds = append(cmds, pending{count: pipe.ZCard(ctx, k.dirty()), first: pipe.ZRangeWithScores(ctx, k.dirty(), 0, 0)})
		}
	}
	if len(cmds) == 0 {
		return out, nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, redisErr("dirty readings", err)
	}
	for i, c := range cmds {
		out[i].count = c.count.Val()
		if first := c.first.Val(); len(first) > 0 {
			out[i].oldest = time.UnixMilli(int64(first[0].Score))
		}
	}
	return out, nil
}
