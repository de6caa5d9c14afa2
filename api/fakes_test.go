package api

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/scimbridge/scimbridge/scim"
	syncsvc "github.com/scimbridge/scimbridge/sync"
	"github.com/scimbridge/scimbridge/tenants"
)

// memUsers is an in-memory stand-in for sync.Service with the same
// observable contract (versions, uniqueness, If-Match, tenant isolation),
// so the HTTP layer can be tested on its own. The real service is tested
// against Redis in package sync and end to end in cmd.
type memUsers struct {
	mu      sync.Mutex
	users   map[string]map[string]*syncsvc.Record // tenant -> id -> record
	nextID  int
	now     time.Time
	failErr error // when set, every call returns it
	panics  bool  // when set, every call panics

	lastList struct {
		filter       *scim.Filter
		start, count int
	}
	passwords map[string]*string // id -> last password received
	lastSort  syncsvc.Query      // the last SearchUsers query
	g         *memGroupState
}

func newMemUsers() *memUsers {
	return &memUsers{
		users:     make(map[string]map[string]*syncsvc.Record),
		now:       time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
		passwords: make(map[string]*string),
	}
}

var _ Users = (*memUsers)(nil)

func (m *memUsers) enter() error {
	if m.panics {
		panic("memUsers: boom")
	}
	return m.failErr
}

func (m *memUsers) tick() time.Time {
	m.now = m.now.Add(time.Second)
	return m.now
}

// checkUnique: userName is unique case-insensitively; externalId is not
// (the ledger's default).
func (m *memUsers) checkUnique(tenant, id string, a scim.Attrs) error {
	name, _ := a["userName"].(string)
	for otherID, r := range m.users[tenant] {
		if otherID == id {
			continue
		}
		if n, _ := r.Attrs["userName"].(string); name != "" && strings.EqualFold(n, name) {
			return fmt.Errorf("memUsers: userName %q: %w", name, syncsvc.ErrUniqueness)
		}
	}
	return nil
}

func (m *memUsers) find(tenant, id string, ifVersion int64) (*syncsvc.Record, error) {
	r, ok := m.users[tenant][id]
	if !ok {
		return nil, fmt.Errorf("memUsers: user %q: %w", id, syncsvc.ErrNotFound)
	}
	if ifVersion != 0 && ifVersion != r.Version {
		return nil, fmt.Errorf("memUsers: user %q at %d, want %d: %w", id, r.Version, ifVersion, syncsvc.ErrVersionMismatch)
	}
	return r, nil
}

func copyRecord(r *syncsvc.Record) *syncsvc.Record {
	c := *r
	c.Attrs = r.Attrs.Clone()
	return &c
}

func (m *memUsers) CreateUser(ctx context.Context, tenant string, a scim.Attrs, password *string) (*syncsvc.Record, error) {
	if err := m.enter(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.checkUnique(tenant, "", a); err != nil {
		return nil, err
	}
	m.nextID++
	id := fmt.Sprintf("u-%04d", m.nextID)
	now := m.tick()
	r := &syncsvc.Record{Tenant: tenant, ID: id, Attrs: a.Clone(), Version: 1, Created: now, Modified: now}
	if m.users[tenant] == nil {
		m.users[tenant] = make(map[string]*syncsvc.Record)
	}
	m.users[tenant][id] = r
	m.passwords[id] = password
	return copyRecord(r), nil
}

func (m *memUsers) ReplaceUser(ctx context.Context, tenant, id string, a scim.Attrs, password *string, ifVersion int64) (*syncsvc.Record, error) {
	if err := m.enter(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.find(tenant, id, ifVersion)
	if err != nil {
		return nil, err
	}
	if err := m.checkUnique(tenant, id, a); err != nil {
		return nil, err
	}
	next := a.Clone()
	if _, ok := next["active"]; !ok {
		if old, ok := r.Attrs["active"]; ok {
			next["active"] = old
		}
	}
	r.Attrs = next
	r.Version++
	r.Modified = m.tick()
	m.passwords[id] = password
	return copyRecord(r), nil
}

func (m *memUsers) PatchUser(ctx context.Context, tenant, id string, p *scim.Patch, ifVersion int64) (*syncsvc.Record, error) {
	if err := m.enter(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.find(tenant, id, ifVersion)
	if err != nil {
		return nil, err
	}
	next, password, err := p.ApplyUser(r.Attrs.Clone())
	if err != nil {
		return nil, err
	}
	if err := m.checkUnique(tenant, id, next); err != nil {
		return nil, err
	}
	r.Attrs = next
	r.Version++
	r.Modified = m.tick()
	if password != nil {
		m.passwords[id] = password
	}
	return copyRecord(r), nil
}

func (m *memUsers) DeleteUser(ctx context.Context, tenant, id string, ifVersion int64) error {
	if err := m.enter(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.find(tenant, id, ifVersion); err != nil {
		return err
	}
	delete(m.users[tenant], id)
	return nil
}

func (m *memUsers) GetUser(ctx context.Context, tenant, id string) (*syncsvc.Record, error) {
	if err := m.enter(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.find(tenant, id, 0)
	if err != nil {
		return nil, err
	}
	return copyRecord(r), nil
}

func (m *memUsers) ListUsers(ctx context.Context, tenant string, f *scim.Filter, startIndex, count int) ([]*syncsvc.Record, int, error) {
	if err := m.enter(); err != nil {
		return nil, 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lastList.filter, m.lastList.start, m.lastList.count = f, startIndex, count
	var matches []*syncsvc.Record
	for _, r := range m.users[tenant] {
		rendered := scim.RenderUser(r.ID, r.Attrs, scim.Meta{ResourceType: "User", Created: r.Created, LastModified: r.Modified, Version: etag(r.Version)})
		if f == nil || f.Match(rendered) {
			matches = append(matches, r)
		}
	}
	sort.Slice(matches, func(i, j int) bool { return matches[i].ID < matches[j].ID })
	total := len(matches)
	from := startIndex - 1
	if from > total {
		from = total
	}
	to := from + count
	if to > total {
		to = total
	}
	page := make([]*syncsvc.Record, 0, to-from)
	for _, r := range matches[from:to] {
		page = append(page, copyRecord(r))
	}
	return page, total, nil
}

// memTenants is an in-memory tenant registry.
type memTenants struct {
	tenants map[string]*tenants.Tenant
	failErr error
}

var _ Tenants = (*memTenants)(nil)

func (m *memTenants) Get(ctx context.Context, id string) (*tenants.Tenant, error) {
	if m.failErr != nil {
		return nil, m.failErr
	}
	t, ok := m.tenants[id]
	if !ok {
		return nil, fmt.Errorf("memTenants: get %q: %w", id, tenants.ErrNotFound)
	}
	c := *t
	return &c, nil
}

// memKeys maps each live key to its tenant.
type memKeys struct {
	keys    map[string]string // key -> tenant
	failErr error
}

var _ Keys = (*memKeys)(nil)

func (m *memKeys) Verify(ctx context.Context, tenant, presented string) (*tenants.Key, error) {
	if m.failErr != nil {
		return nil, m.failErr
	}
	owner, ok := m.keys[presented]
	if !ok || owner != tenant {
		return nil, tenants.ErrUnauthorized
	}
	return &tenants.Key{ID: "k-" + tenant, Tenant: tenant, Name: "test"}, nil
}

// Compile-time checks that the real services satisfy the interfaces.
var (
	_ Users   = (*syncsvc.Service)(nil)
	_ Tenants = (*tenants.Registry)(nil)
	_ Keys    = (*tenants.KeyStore)(nil)
)
