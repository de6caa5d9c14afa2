package sync

// Each resource's sync state as the operator sees it: counts by state,
// pages of resources in one state, one resource.

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/scimbridge/scimbridge/queue"
)

// Filters of Admin.Statuses.
const (
	FilterAll     = "all"
	FilterPending = "pending"
	FilterFailed  = "failed"
)

// ResourceStatus is one resource's sync state as an operator sees it.
type ResourceStatus struct {
	ID   string `json:"id"`
	Kind string `json:"kind"`
	// Name is the userName of a user, the displayName of a group.
	Name    string `json:"name"`
	Version int64  `json:"version"`
	Applied int64  `json:"applied_version"`
	// State is applied, pending or failed. A failed resource whose replay
	// was asked for is pending again (Replayed) until the store takes it.
	State string `json:"state"`
	// Failure is the store's reason for the last permanent failure of
	// FailedVersion; it stays visible after a replay until applied.
	Failure       string `json:"failure,omitempty"`
	FailedVersion int64  `json:"failed_version,omitempty"`
	Replayed      bool   `json:"replayed,omitempty"`
	// WaitsFor, for a pending user, is the user whose store entry its last
	// apply found while that user's own change was pending; retried.
	WaitsFor string    `json:"waits_for,omitempty"`
	Anchor   string    `json:"anchor,omitempty"`
	Deleted  bool      `json:"deleted,omitempty"`
	Modified time.Time `json:"modified"`
	// DroppedMembers, for a group, are the member ids its latest write
	// naming members left out because they are not users of the tenant.
	DroppedMembers *DroppedMembers `json:"dropped_members,omitempty"`
}

// StatusPage is a page of resource states.
type StatusPage struct {
	Total     int              `json:"total"`
	Offset    int              `json:"offset"`
	Resources []ResourceStatus `json:"resources"`
}

// Summary counts a tenant's resources by state.
type Summary struct {
	Tenant        string `json:"tenant"`
	Users         int    `json:"users"`
	Groups        int    `json:"groups"`
	PendingUsers  int    `json:"pending_users"`
	PendingGroups int    `json:"pending_groups"`
	FailedUsers   int    `json:"failed_users"`
	FailedGroups  int    `json:"failed_groups"`
	// OldestPending is when the oldest pending user became dirty (zero: none).
	OldestPending time.Time `json:"oldest_pending,omitzero"`
}

// Summary counts the tenant's resources by state.
func (a *Admin) Summary(ctx context.Context, tenant string) (*Summary, error) {
	return a.Ledger.Summary(ctx, tenant)
}

// Statuses returns a page of the tenant's resources of kind ("User" or
// "Group") in one state: all (live resources, in creation order), pending
// (waiting for the store, oldest first, deletions included) or failed
// (rejected by the store, oldest failure first).
func (a *Admin) Statuses(ctx context.Context, tenant, kind, filter string, offset, count int) (*StatusPage, error) {
	offset = max(offset, 0)
	if count <= 0 {
		count = 100
	}
	total, ids, err := a.Ledger.statePage(ctx, tenant, kind, filter, offset, count)
	if err != nil {
		return nil, err
	}
	res, err := a.statusesOf(ctx, tenant, kind, ids)
	if err != nil {
		return nil, err
	}
	return &StatusPage{Total: total, Offset: offset, Resources: res}, nil
}

// Status returns one resource's state (a deleted one too, while its
// tombstone is kept); ErrNotFound when the tenant has no such resource.
func (a *Admin) Status(ctx context.Context, tenant, kind, id string) (*ResourceStatus, error) {
	res, err := a.statusesOf(ctx, tenant, kind, []string{id})
	if err != nil {
		return nil, err
	}
	if len(res) == 0 {
		return nil, fmt.Errorf("sync: %s %s: %w", strings.ToLower(kind), id, ErrNotFound)
	}
	return &res[0], nil
}

// statusesOf loads the records of ids of kind (skipping missing ones) in
// one round trip.
func (a *Admin) statusesOf(ctx context.Context, tenant, kind string, ids []string) ([]ResourceStatus, error) {
	recs, err := a.Ledger.Records(ctx, tenant, kind, ids)
	if err != nil {
		return nil, err
	}
	out := make([]ResourceStatus, 0, len(recs))
	for _, r := range recs {
		st := ResourceStatus{ID: r.ID, Kind: kind, Version: r.Version, Applied: r.Applied,
			State: r.State(), Failure: r.Failure, FailedVersion: r.FailedVersion,
			Anchor: r.Anchor, Deleted: r.Deleted, Modified: r.Modified}
		if kind == queue.KindGroup {
			st.Name, _ = r.Attrs["displayName"].(string)
		} else {
			st.Name, _ = r.Attrs["userName"].(string)
		}
		// Replayed: out of the failed index, waiting for the store again.
		st.Replayed = r.Retrying
		st.WaitsFor = r.WaitsFor
		if r.Dropped.Count > 0 {
			d := r.Dropped
			st.DroppedMembers = &d
		}
		out = append(out, st)
	}
	return out, nil
}
