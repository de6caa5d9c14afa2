package sync

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/queue"
	"github.com/scimbridge/scimbridge/scim"
)

// Query is a list or search request.
type Query struct {
	// Filter selects resources; nil selects all.
	Filter *scim.Filter
	// SortBy is an attribute path to sort by ("" keeps creation order);
	// Descending reverses it.
	SortBy     string
	Descending bool
	// Schemas is the tenant's schema set, which gives sortBy its type
	// (nil: the default set).
	Schemas *scim.SchemaSet
	// StartIndex is 1-based; Count is the page size (0: total only).
	StartIndex int
	Count      int
	// WithMembers loads group members (false for excludedAttributes=members
	// or an attributes list without members).
	WithMembers bool
}

// GroupPage is a page of groups with their members when asked for.
type GroupPage struct {
	Groups []*Record
	// Members holds each group's member user ids (by group id) when the
	// query asked for members.
	Members map[string][]string
	Total   int
}

func memberIDs(ms []scim.Member) []string {
	out := make([]string, 0, len(ms))
	seen := map[string]bool{}
	for _, m := range ms {
		if m.Value != "" && !seen[m.Value] {
			seen[m.Value] = true
			out = append(out, m.Value)
		}
	}
	return out
}

// groupWritten reports the members a group write left out (not users of
// the tenant: a stale id the IdP still holds) and queues the group's
// reconcile. The write itself went on: one unknown member must not block
// every other change of the group. The operator sees the drop in the
// group's sync status (Record.Dropped), this log line and
// scimbridge_group_members_dropped_total.
func (s *Service) groupWritten(ctx context.Context, queueName string, r *Record) {
	if d := r.Dropped; d.Count > 0 && d.Version == r.Version {
		s.logger().WarnContext(ctx, "group members dropped: not users of the tenant",
			"tenant", r.Tenant, "group", r.ID, "version", r.Version, "count", d.Count, "ids", d.IDs)
		s.Metrics.dropped(r.Tenant, d.Count)
	}
	s.enqueueGroup(ctx, queueName, r)
}

func (s *Service) enqueueGroup(ctx context.Context, queueName string, r *Record) {
	s.acknowledged(ctx, queue.KindGroup, r)
	if s.Enqueuer == nil {
		return
	}
	p := queue.Reconcile{Tenant: r.Tenant, Kind: queue.KindGroup, ID: r.ID, Version: r.Version}
	if err := s.Enqueuer.Enqueue(ctx, queueName, p, ""); err != nil {
		s.logger().WarnContext(ctx, "enqueue failed; the sweeper will pick the resource up",
			"tenant", r.Tenant, "id", r.ID, "version", r.Version, "err", err)
	}
}

// CreateGroup records a new group with its members (user ids of this
// tenant; ids that are not are left out: see groupWritten). ErrUniqueness when
// displayName (case-insensitive) is taken, or externalId in a tenant that
// makes it unique.
func (s *Service) CreateGroup(ctx context.Context, tenant string, a scim.Attrs, members []string) (*Record, error) {
	u, err := s.uniqueness(ctx, tenant)
	if err != nil {
		return nil, err
	}
	members = dedupe(members)
	r, err := s.Ledger.putGroup(ctx, tenant, u, newID(), modeCreate, 0, a, true, members, nil, "", nil)
	var ue *UniquenessError
	if errors.As(err, &ue) && ue.Attribute == "displayName" {
		// The IdP's retry of a create answered 503 because replicas did
		// not hold it in time (ledger_replicas.go): the recorded group.
		if prev, ok, cerr := s.Ledger.confirmUnacknowledgedGroup(ctx, tenant, ue.ExistingID, a, members); cerr != nil {
			return nil, cerr
		} else if ok {
			r, err = prev, nil
		}
	}
	if err != nil {
		return nil, err
	}
	s.groupWritten(ctx, queue.QueueProvision, r)
	return r, nil
}

// ReplaceGroup is PUT: attributes and the whole member list replaced.
func (s *Service) ReplaceGroup(ctx context.Context, tenant, id string, a scim.Attrs, members []string, ifVersion int64) (*Record, error) {
	return s.updateGroup(ctx, tenant, id, ifVersion, func(*Record) (scim.Attrs, scim.MemberDelta, error) {
		d := scim.MemberDelta{Replace: true}
		for _, m := range dedupe(members) {
			d.Add = append(d.Add, scim.Member{Value: m})
		}
		return a, d, nil
	})
}

// PatchGroup applies p (scim.Patch.ApplyGroup) atomically: attribute
// changes and member additions/removals in one step whose cost is
// proportional to the members changed.
func (s *Service) PatchGroup(ctx context.Context, tenant, id string, p *scim.Patch, ifVersion int64) (*Record, error) {
	if d, ok, err := p.MembersOnly(); ok && err == nil {
		// Okta's and Entra's membership PATCHes: recorded in one round
		// trip, without reading the group (its attributes do not change).
		// A patch with an error takes the path below, so that a missing
		// group is still a 404 before the patch's 400.
		r, err := s.Ledger.putGroup(ctx, tenant, Uniqueness{}, id, modeMembers, ifVersion, nil, d.Replace, memberIDs(d.Add), dedupe(d.Remove), "", nil)
		if err != nil {
			return nil, err
		}
		s.groupWritten(ctx, queue.QueueProvision, r)
		return r, nil
	}
	return s.updateGroup(ctx, tenant, id, ifVersion, func(cur *Record) (scim.Attrs, scim.MemberDelta, error) {
		return p.ApplyGroup(cur.Attrs.Clone())
	})
}

func (s *Service) updateGroup(ctx context.Context, tenant, id string, ifVersion int64,
	next func(cur *Record) (scim.Attrs, scim.MemberDelta, error)) (*Record, error) {
	u, err := s.uniqueness(ctx, tenant)
	if err != nil {
		return nil, err
	}
	for range maxCASRetries {
		cur, err := s.Ledger.GetGroup(ctx, tenant, id)
		if err != nil {
			return nil, err
		}
		if ifVersion > 0 && cur.Version != ifVersion {
			return nil, fmt.Errorf("sync: group %s is at version %d: %w", id, cur.Version, ErrVersionMismatch)
		}
		a, d, err := next(cur)
		if err != nil {
			return nil, err
		}
		r, err := s.Ledger.putGroup(ctx, tenant, u, id, modeUpdate, cur.Version, a, d.Replace, memberIDs(d.Add), dedupe(d.Remove), "", cur.Attrs)
		if errors.Is(err, ErrVersionMismatch) && ifVersion == 0 {
			continue
		}
		if err != nil {
			return nil, err
		}
		s.groupWritten(ctx, queue.QueueProvision, r)
		return r, nil
	}
	return nil, fmt.Errorf("sync: group %s: too many concurrent writes: %w", id, ErrUnavailable)
}

// DeleteGroup records the deletion of a group.
func (s *Service) DeleteGroup(ctx context.Context, tenant, id string, ifVersion int64) error {
	r, err := s.Ledger.putGroup(ctx, tenant, Uniqueness{}, id, modeDelete, ifVersion, nil, false, nil, nil, "", nil)
	if err != nil {
		return err
	}
	s.enqueueGroup(ctx, queue.QueueDeprovision, r)
	return nil
}

// GetGroup returns a group's record (without members).
func (s *Service) GetGroup(ctx context.Context, tenant, id string) (*Record, error) {
	return s.Ledger.GetGroup(ctx, tenant, id)
}

// GroupMembers returns a group's member user ids, sorted.
func (s *Service) GroupMembers(ctx context.Context, tenant, id string) ([]string, error) {
	if _, err := s.Ledger.GetGroup(ctx, tenant, id); err != nil {
		return nil, err
	}
	return s.Ledger.GroupMembers(ctx, tenant, id)
}

func dedupe(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if id != "" && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// SearchGroups lists groups matching q.
func (s *Service) SearchGroups(ctx context.Context, tenant string, q Query) (*GroupPage, error) {
	if q.StartIndex < 1 {
		q.StartIndex = 1
	}
	filterNeedsMembers := q.Filter != nil && strings.Contains(strings.ToLower(q.Filter.String()), "members")
	var matched []*Record
	var total int
	var members map[string][]string
	if q.Filter == nil && q.SortBy == "" {
		if q.StartIndex == 1 {
			s.importStoreGroups(ctx, tenant)
		}
		n, err := s.Ledger.CountGroups(ctx, tenant)
		if err != nil {
			return nil, err
		}
		total = n
		if q.Count > 0 {
			ids, err := s.Ledger.GroupIDs(ctx, tenant, q.StartIndex-1, q.Count)
			if err != nil {
				return nil, err
			}
			if matched, err = s.Ledger.groupsByIDs(ctx, tenant, ids, false); err != nil {
				return nil, err
			}
		}
	} else {
		candidates, err := s.groupCandidates(ctx, tenant, q.Filter)
		if err != nil {
			return nil, err
		}
		if filterNeedsMembers {
			members = map[string][]string{}
		}
		for _, r := range candidates {
			var ms []string
			if filterNeedsMembers {
				if ms, err = s.Ledger.GroupMembers(ctx, tenant, r.ID); err != nil {
					return nil, err
				}
				members[r.ID] = ms
			}
			if q.Filter == nil || q.Filter.Match(GroupResource(r, ms, "")) {
				matched = append(matched, r)
			}
		}
		sortRecords(matched, q, func(r *Record) map[string]any { return GroupResource(r, nil, "") })
		total = len(matched)
		lo := min(q.StartIndex-1, total)
		hi := min(lo+max(q.Count, 0), total)
		matched = matched[lo:hi]
	}
	page := &GroupPage{Groups: matched, Total: total}
	if q.WithMembers {
		page.Members = make(map[string][]string, len(matched))
		for _, r := range matched {
			if ms, ok := members[r.ID]; ok {
				page.Members[r.ID] = ms
				continue
			}
			ms, err := s.Ledger.GroupMembers(ctx, tenant, r.ID)
			if err != nil {
				return nil, err
			}
			page.Members[r.ID] = ms
		}
	}
	return page, nil
}

// groupCandidates returns the live groups a filter may match: from an
// index when it has an indexable equality (asking the store and adopting
// when the ledger misses), else all.
func (s *Service) groupCandidates(ctx context.Context, tenant string, f *scim.Filter) ([]*Record, error) {
	if f != nil {
		for _, lk := range f.Lookups() {
			var recs []*Record
			var err error
			switch lk.Attr {
			case "displayName", "externalId":
				recs, err = s.Ledger.findGroups(ctx, tenant, lk.Attr, lk.Value)
			case "id":
				recs, err = s.Ledger.groupsByIDs(ctx, tenant, []string{lk.Value}, false)
			default:
				continue
			}
			if err != nil {
				return nil, err
			}
			if len(recs) == 0 && lk.Attr != "id" {
				recs = s.adoptGroupMatches(ctx, tenant, lk)
			}
			return recs, nil
		}
	}
	var out []*Record
	n, err := s.Ledger.CountGroups(ctx, tenant)
	if err != nil {
		return nil, err
	}
	for off := 0; off < n; off += scanBatch {
		ids, err := s.Ledger.GroupIDs(ctx, tenant, off, scanBatch)
		if err != nil {
			return nil, err
		}
		recs, err := s.Ledger.groupsByIDs(ctx, tenant, ids, false)
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
	}
	return out, nil
}

// groupStore returns the tenant's store as a GroupStore, or nil when the
// tenant keeps groups in the ledger only.
func (s *Service) groupStore(ctx context.Context, tenant string) adapters.GroupStore {
	if s.Stores == nil || s.Groups == nil {
		return nil
	}
	if ok, err := s.Groups.GroupsMapped(ctx, tenant); err != nil || !ok {
		return nil
	}
	st, err := s.Stores.Store(ctx, tenant)
	if err != nil {
		s.logger().WarnContext(ctx, "store unavailable for group lookup", "tenant", tenant, "err", err)
		return nil
	}
	gs, _ := st.(adapters.GroupStore)
	return gs
}

// adoptGroupMatches asks the store for groups the ledger missed and adopts them.
func (s *Service) adoptGroupMatches(ctx context.Context, tenant string, lk scim.Lookup) []*Record {
	m := adapters.MatchDisplayName
	if lk.Attr == "externalId" {
		m = adapters.MatchExternalID
	}
	if s.Stores == nil || s.Groups == nil {
		return nil // groups live in the ledger only
	}
	ctx, cancel := context.WithTimeout(ctx, s.storeTimeout())
	defer cancel()
	gs := s.groupStore(ctx, tenant)
	if gs == nil {
		return nil
	}
	entries, err := gs.FindGroups(ctx, m, lk.Value)
	if err != nil {
		s.logger().WarnContext(ctx, "store group lookup failed", "tenant", tenant, "err", err)
		return nil
	}
	var out []*Record
	for _, e := range entries {
		r, err := s.adoptGroup(ctx, tenant, gs, e)
		if err != nil {
			s.logger().WarnContext(ctx, "adopting store group failed", "tenant", tenant, "err", err)
			continue
		}
		if !r.Deleted {
			out = append(out, r)
		}
	}
	return out
}

// adoptGroup records a store group and its members (those users the ledger
// knows) as applied.
func (s *Service) adoptGroup(ctx context.Context, tenant string, gs adapters.GroupStore, e adapters.GroupEntry) (*Record, error) {
	var anchors []string
	cursor := ""
	for {
		page, next, err := gs.ListMembers(ctx, e.Anchor, cursor, scanBatch)
		if err != nil {
			return nil, err
		}
		anchors = append(anchors, page...)
		if next == "" || len(page) == 0 {
			break
		}
		cursor = next
	}
	ids, err := s.Ledger.userIDsByAnchor(ctx, tenant, anchors)
	if err != nil {
		return nil, err
	}
	members := make([]string, 0, len(ids))
	for _, a := range anchors {
		if id, ok := ids[a]; ok {
			members = append(members, id)
		}
	}
	u, err := s.uniqueness(ctx, tenant)
	if err != nil {
		return nil, err
	}
	return s.Ledger.putGroup(ctx, tenant, u, newID(), modeAdopt, 0, e.Attrs, true, dedupe(members), nil, e.Anchor, nil)
}

// importStoreGroups adopts store groups the ledger does not know, at most
// once per ImportInterval per tenant.
func (s *Service) importStoreGroups(ctx context.Context, tenant string) {
	if s.Stores == nil || s.Groups == nil {
		return // groups live in the ledger only
	}
	st := s.importState("g:" + tenant)
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.due(s.importInterval()) {
		return
	}
	gs := s.groupStore(ctx, tenant)
	if gs == nil {
		return
	}
	if _, err := s.ImportGroups(ctx, tenant, gs); err != nil {
		s.logger().WarnContext(ctx, "importing store groups failed", "tenant", tenant, "err", err)
		return
	}
	st.done()
}

// ImportGroups adopts every store group the ledger does not know.
func (s *Service) ImportGroups(ctx context.Context, tenant string, gs adapters.GroupStore) (int, error) {
	cursor, adopted := "", 0
	for {
		entries, next, err := gs.ListGroups(ctx, cursor, scanBatch)
		if err != nil {
			return adopted, err
		}
		anchors := make([]string, len(entries))
		for i, e := range entries {
			anchors[i] = e.Anchor
		}
		known, err := s.Ledger.KnownGroupAnchors(ctx, tenant, anchors)
		if err != nil {
			return adopted, err
		}
		for _, e := range entries {
			if known[e.Anchor] {
				continue
			}
			if _, err := s.adoptGroup(ctx, tenant, gs, e); err != nil {
				if errors.Is(err, ErrUniqueness) || isSCIMError(err) {
					continue
				}
				return adopted, err
			}
			adopted++
		}
		if next == "" || len(entries) == 0 {
			return adopted, nil
		}
		cursor = next
	}
}

// SearchUsers lists users matching q (ListUsers with sorting).
func (s *Service) SearchUsers(ctx context.Context, tenant string, q Query) ([]*Record, int, error) {
	if q.SortBy == "" {
		return s.ListUsers(ctx, tenant, q.Filter, q.StartIndex, q.Count)
	}
	if q.StartIndex < 1 {
		q.StartIndex = 1
	}
	var all []*Record
	if q.Filter != nil {
		var err error
		if all, err = s.matchUsers(ctx, tenant, q.Filter); err != nil {
			return nil, 0, err
		}
	} else {
		if q.StartIndex == 1 {
			s.importStore(ctx, tenant)
		}
		total, err := s.Ledger.CountUsers(ctx, tenant)
		if err != nil {
			return nil, 0, err
		}
		for off := 0; off < total; off += scanBatch {
			ids, err := s.Ledger.UserIDs(ctx, tenant, off, scanBatch)
			if err != nil {
				return nil, 0, err
			}
			recs, err := s.Ledger.GetUsers(ctx, tenant, ids)
			if err != nil {
				return nil, 0, err
			}
			all = append(all, recs...)
		}
	}
	sortRecords(all, q, func(r *Record) map[string]any { return UserResource(r, "") })
	total := len(all)
	lo := min(q.StartIndex-1, total)
	hi := min(lo+max(q.Count, 0), total)
	return all[lo:hi], total, nil
}

// sortRecords orders records by q.SortBy (stable: ties keep creation order).
func sortRecords(recs []*Record, q Query, render func(*Record) map[string]any) {
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].Seq < recs[j].Seq })
	if q.SortBy == "" {
		return
	}
	rendered := make(map[*Record]map[string]any, len(recs))
	for _, r := range recs {
		rendered[r] = render(r)
	}
	compare := q.Schemas.Sorter(q.SortBy) // the path parsed once, not per comparison
	sort.SliceStable(recs, func(i, j int) bool {
		c := compare(rendered[recs[i]], rendered[recs[j]])
		if q.Descending {
			c = -c
		}
		return c < 0
	})
}
