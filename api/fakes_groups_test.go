package api

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/scimbridge/scimbridge/scim"
	syncsvc "github.com/scimbridge/scimbridge/sync"
)

// The group half of memUsers: the same observable contract as sync's group
// ledger (unique displayName case-insensitively, externalId not, unknown
// member ids left out, member changes applied as a delta,
// versions and If-Match), plus sorted search. It records what it was asked,
// so tests can check that members are not loaded when excluded.

type memGroupState struct {
	groups  map[string]map[string]*syncsvc.Record // tenant -> id -> record
	members map[string]map[string]bool            // group id -> member ids
	// memberLoads counts GroupMembers calls and SearchGroups calls with
	// WithMembers.
	memberLoads int
	lastQuery   syncsvc.Query
}

var _ Groups = (*memUsers)(nil)

func (m *memUsers) groupState() *memGroupState {
	if m.g == nil {
		m.g = &memGroupState{groups: map[string]map[string]*syncsvc.Record{}, members: map[string]map[string]bool{}}
	}
	return m.g
}

func (m *memUsers) checkGroupUnique(tenant, id string, a scim.Attrs) error {
	name, _ := a["displayName"].(string)
	for otherID, r := range m.groupState().groups[tenant] {
		if otherID == id {
			continue
		}
		if n, _ := r.Attrs["displayName"].(string); strings.EqualFold(n, name) {
			return fmt.Errorf("memUsers: group displayName %q: %w", name, syncsvc.ErrUniqueness)
		}
	}
	return nil
}

// knownMembers returns the ids that are users of the tenant (the ledger
// leaves the others out of a group write).
func (m *memUsers) knownMembers(tenant string, ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if _, ok := m.users[tenant][id]; ok {
			out = append(out, id)
		}
	}
	return out
}

func (m *memUsers) findGroup(tenant, id string, ifVersion int64) (*syncsvc.Record, error) {
	r, ok := m.groupState().groups[tenant][id]
	if !ok {
		return nil, fmt.Errorf("memUsers: group %q: %w", id, syncsvc.ErrNotFound)
	}
	if ifVersion != 0 && ifVersion != r.Version {
		return nil, fmt.Errorf("memUsers: group %q at %d: %w", id, r.Version, syncsvc.ErrVersionMismatch)
	}
	return r, nil
}

func (m *memUsers) CreateGroup(ctx context.Context, tenant string, a scim.Attrs, members []string) (*syncsvc.Record, error) {
	if err := m.enter(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	g := m.groupState()
	if err := m.checkGroupUnique(tenant, "", a); err != nil {
		return nil, err
	}
	members = m.knownMembers(tenant, members)
	m.nextID++
	id := fmt.Sprintf("g-%04d", m.nextID)
	now := m.tick()
	r := &syncsvc.Record{Tenant: tenant, ID: id, Attrs: a.Clone(), Version: 1, Created: now, Modified: now}
	if g.groups[tenant] == nil {
		g.groups[tenant] = map[string]*syncsvc.Record{}
	}
	g.groups[tenant][id] = r
	g.members[id] = map[string]bool{}
	for _, u := range members {
		g.members[id][u] = true
	}
	return copyRecord(r), nil
}

func (m *memUsers) ReplaceGroup(ctx context.Context, tenant, id string, a scim.Attrs, members []string, ifVersion int64) (*syncsvc.Record, error) {
	if err := m.enter(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	g := m.groupState()
	r, err := m.findGroup(tenant, id, ifVersion)
	if err != nil {
		return nil, err
	}
	if err := m.checkGroupUnique(tenant, id, a); err != nil {
		return nil, err
	}
	members = m.knownMembers(tenant, members)
	r.Attrs = a.Clone()
	r.Version++
	r.Modified = m.tick()
	g.members[id] = map[string]bool{}
	for _, u := range members {
		g.members[id][u] = true
	}
	return copyRecord(r), nil
}

func (m *memUsers) PatchGroup(ctx context.Context, tenant, id string, p *scim.Patch, ifVersion int64) (*syncsvc.Record, error) {
	if err := m.enter(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	g := m.groupState()
	r, err := m.findGroup(tenant, id, ifVersion)
	if err != nil {
		return nil, err
	}
	next, delta, err := p.ApplyGroup(r.Attrs)
	if err != nil {
		return nil, err
	}
	if err := m.checkGroupUnique(tenant, id, next); err != nil {
		return nil, err
	}
	if delta.Replace {
		g.members[id] = map[string]bool{}
	}
	for _, u := range delta.Remove {
		delete(g.members[id], u)
	}
	for _, u := range m.knownMembers(tenant, memberIDs(delta.Add)) {
		g.members[id][u] = true
	}
	r.Attrs = next
	r.Version++
	r.Modified = m.tick()
	return copyRecord(r), nil
}

func (m *memUsers) DeleteGroup(ctx context.Context, tenant, id string, ifVersion int64) error {
	if err := m.enter(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.findGroup(tenant, id, ifVersion); err != nil {
		return err
	}
	delete(m.groupState().groups[tenant], id)
	delete(m.groupState().members, id)
	return nil
}

func (m *memUsers) GetGroup(ctx context.Context, tenant, id string) (*syncsvc.Record, error) {
	if err := m.enter(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.findGroup(tenant, id, 0)
	if err != nil {
		return nil, err
	}
	return copyRecord(r), nil
}

func (m *memUsers) GroupMembers(ctx context.Context, tenant, id string) ([]string, error) {
	if err := m.enter(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.findGroup(tenant, id, 0); err != nil {
		return nil, err
	}
	m.groupState().memberLoads++
	return m.sortedMembers(id), nil
}

func (m *memUsers) sortedMembers(id string) []string {
	var out []string
	for u := range m.groupState().members[id] {
		out = append(out, u)
	}
	sort.Strings(out)
	return out
}

func (m *memUsers) SearchGroups(ctx context.Context, tenant string, q syncsvc.Query) (*syncsvc.GroupPage, error) {
	if err := m.enter(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	g := m.groupState()
	g.lastQuery = q
	var all []*syncsvc.Record
	rendered := map[string]map[string]any{}
	for _, r := range g.groups[tenant] {
		a := r.Attrs.Clone()
		var list []scim.Member
		for _, u := range m.sortedMembers(r.ID) {
			list = append(list, scim.Member{Value: u})
		}
		if v := scim.MembersAttr(list); v != nil {
			a["members"] = v
		}
		doc := scim.RenderGroup(r.ID, a, scim.Meta{ResourceType: "Group", Created: r.Created, LastModified: r.Modified})
		if q.Filter == nil || q.Filter.Match(doc) {
			all = append(all, r)
			rendered[r.ID] = doc
		}
	}
	sortRecords(all, rendered, q)
	page := &syncsvc.GroupPage{Total: len(all)}
	if q.WithMembers {
		page.Members = map[string][]string{}
		g.memberLoads++
	}
	for _, r := range pageOf(all, q) {
		page.Groups = append(page.Groups, copyRecord(r))
		if q.WithMembers {
			page.Members[r.ID] = m.sortedMembers(r.ID)
		}
	}
	return page, nil
}

func (m *memUsers) SearchUsers(ctx context.Context, tenant string, q syncsvc.Query) ([]*syncsvc.Record, int, error) {
	if err := m.enter(); err != nil {
		return nil, 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lastList.filter, m.lastList.start, m.lastList.count = q.Filter, q.StartIndex, q.Count
	m.lastSort = q
	var all []*syncsvc.Record
	rendered := map[string]map[string]any{}
	for _, r := range m.users[tenant] {
		doc := scim.RenderUser(r.ID, r.Attrs, scim.Meta{ResourceType: "User", Created: r.Created, LastModified: r.Modified, Version: etag(r.Version)})
		if q.Filter == nil || q.Filter.Match(doc) {
			all = append(all, r)
			rendered[r.ID] = doc
		}
	}
	sortRecords(all, rendered, q)
	var out []*syncsvc.Record
	for _, r := range pageOf(all, q) {
		out = append(out, copyRecord(r))
	}
	return out, len(all), nil
}

// sortRecords orders by q.SortBy with scim.CompareForSort (ids break ties),
// or by id.
func sortRecords(list []*syncsvc.Record, rendered map[string]map[string]any, q syncsvc.Query) {
	sort.SliceStable(list, func(i, j int) bool {
		if q.SortBy != "" {
			c := scim.CompareForSort(rendered[list[i].ID], rendered[list[j].ID], q.SortBy)
			if q.Descending {
				c = -c
			}
			if c != 0 {
				return c < 0
			}
		}
		return list[i].ID < list[j].ID
	})
}

func pageOf(list []*syncsvc.Record, q syncsvc.Query) []*syncsvc.Record {
	from := min(max(q.StartIndex-1, 0), len(list))
	to := min(from+q.Count, len(list))
	return list[from:to]
}
