package sync

// Replay: failed resources re-enqueued at the operator's request.

import (
	"context"

	"github.com/scimbridge/scimbridge/queue"
)

// ReplayResult counts the resources a replay re-enqueued.
type ReplayResult struct {
	Users  int `json:"users"`
	Groups int `json:"groups"`
}

// maxReplay bounds one replay (the rest waits for the next one).
const maxReplay = 100000

// Replay re-enqueues every failed resource of the tenant: each leaves the
// failed index, is marked dirty and gets a reconcile task under a fresh
// task id (the archived task of the failed attempt keeps its id).
func (a *Admin) Replay(ctx context.Context, tenant string) (*ReplayResult, error) {
	if _, err := a.Tenants.Get(ctx, tenant); err != nil {
		return nil, err
	}
	res := &ReplayResult{}
	salt := "replay-" + randomHex(6)
	for _, kind := range []string{queue.KindUser, queue.KindGroup} {
		ids, err := a.Ledger.Failed(ctx, tenant, kind, maxReplay)
		if err != nil {
			return res, err
		}
		for _, id := range ids {
			v, err := a.Ledger.RetryFailed(ctx, tenant, kind, id)
			if err != nil {
				return res, err
			}
			if v == 0 {
				continue // a newer change or an apply got there first
			}
			p := queue.Reconcile{Tenant: tenant, Kind: kind, ID: id, Version: v}
			if err := a.Enqueuer.Enqueue(ctx, queue.QueueProvision, p, salt); err != nil {
				// Marked dirty already: the sweeper re-enqueues it.
				a.logger().WarnContext(ctx, "replay: enqueue failed; the sweeper will pick the resource up",
					"tenant", tenant, "kind", kind, "id", id, "err", err)
			}
			if kind == queue.KindUser {
				res.Users++
			} else {
				res.Groups++
			}
		}
	}
	return res, nil
}
