package tenants

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/scimbridge/scimbridge/adapters"
)

// Stores opens each tenant's user store on first use, shares it between
// callers, reopens it when the tenant's store configuration changes and
// closes it after it has been idle for a while. It is safe for concurrent
// use.
//
// The adapters.Store it hands out is a handle owned by the pool: calling
// its Close does nothing. A store is only closed (idle, replaced, tenant
// disabled, Close) when no call through a handle is in flight; a handle
// kept past its store's closing returns an error wrapping
// adapters.ErrUnavailable, so get a fresh one with Store per operation.
type Stores struct {
	reg       *Registry
	factories map[string]adapters.Factory
	idle      time.Duration
	now       func() time.Time

	mu      sync.Mutex
	entries map[string]*storeEntry
	closed  bool
}

// storeEntry is one opened (or opening) store of one tenant configuration.
type storeEntry struct {
	tenant     string
	configHash string
	ready      chan struct{} // closed once opening finished
	store      adapters.Store
	openErr    error

	mu       sync.Mutex
	inFlight int
	lastUsed time.Time
	retired  bool // no longer handed out; close when idle of calls
	closed   bool
}

// NewStores returns a pool that opens stores with the factory registered
// for each tenant's store kind and closes a store idle for idle
// (stores.idle_close; no default here: idle <= 0 is a wiring bug and
// panics).
func NewStores(reg *Registry, factories map[string]adapters.Factory, idle time.Duration) *Stores {
	if idle <= 0 {
		panic(fmt.Sprintf("tenants.NewStores: idle %s: set stores.idle_close", idle))
	}
	fs := make(map[string]adapters.Factory, len(factories))
	for k, f := range factories {
		fs[k] = f
	}
	return &Stores{
		reg:       reg,
		factories: fs,
		idle:      idle,
		now:       time.Now,
		entries:   make(map[string]*storeEntry),
	}
}

// configHash identifies a store configuration.
func configHash(c adapters.Config) (string, error) {
	raw, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:]), nil
}

// Store returns the tenant's store, opening it if needed. ErrNotFound for
// an unknown tenant, ErrDisabled for a disabled one, an error wrapping
// adapters.ErrConfig when no factory serves the store kind.
func (s *Stores) Store(ctx context.Context, tenantID string) (adapters.Store, error) {
	c, err := s.reg.lookup(ctx, tenantID)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			s.retire(tenantID) // deleted tenant
		}
		return nil, err
	}
	t, h := c.tenant, c.storeHash
	if t.Disabled {
		s.retire(tenantID)
		return nil, fmt.Errorf("tenants: store of %q: %w", tenantID, ErrDisabled)
	}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, fmt.Errorf("tenants: store of %q: %w", tenantID, ErrClosed)
	}
	e := s.entries[tenantID]
	opener := false
	if e == nil || e.configHash != h {
		if e != nil {
			delete(s.entries, tenantID)
			e.retire()
		}
		e = &storeEntry{tenant: tenantID, configHash: h, ready: make(chan struct{}), lastUsed: s.now()}
		s.entries[tenantID] = e
		opener = true
	}
	s.mu.Unlock()

	if opener {
		s.open(ctx, e, t)
	} else {
		select {
		case <-e.ready:
		case <-ctx.Done():
			return nil, fmt.Errorf("tenants: store of %q: %w", tenantID, ctx.Err())
		}
	}
	if e.openErr != nil {
		return nil, e.openErr
	}
	e.mu.Lock()
	e.lastUsed = s.now()
	e.mu.Unlock()
	return handleFor(&storeHandle{Store: e.store, entry: e, now: s.now}), nil
}

// open runs the factory for e; on failure the entry leaves the pool so the
// next call tries again.
func (s *Stores) open(ctx context.Context, e *storeEntry, t *Tenant) {
	defer close(e.ready)
	factory, ok := s.factories[t.Store.Kind]
	if !ok {
		e.openErr = fmt.Errorf("tenants: store of %q: kind %q: %w: no such store kind", t.ID, t.Store.Kind, adapters.ErrConfig)
	} else {
		// Opening is lazy and cheap by contract; it must not be cut short by
		// the first caller's cancellation, since others wait for it.
		st, err := factory(context.WithoutCancel(ctx), t.ID, cloneStoreConfig(t.Store))
		switch {
		case err != nil:
			e.openErr = fmt.Errorf("tenants: open store of %q: %w", t.ID, err)
		case st == nil:
			e.openErr = fmt.Errorf("tenants: open store of %q: %w: factory returned no store", t.ID, adapters.ErrConfig)
		default:
			e.store = st
		}
	}
	if e.openErr != nil {
		s.mu.Lock()
		if s.entries[e.tenant] == e {
			delete(s.entries, e.tenant)
		}
		s.mu.Unlock()
		return
	}
	e.mu.Lock()
	closeNow := e.retired && e.inFlight == 0 && !e.closed
	if closeNow {
		e.closed = true
	}
	e.mu.Unlock()
	if closeNow {
		_ = e.store.Close()
	}
}

// retire takes the tenant's entry out of the pool and closes it once no
// call is in flight.
func (s *Stores) retire(tenantID string) {
	s.mu.Lock()
	e := s.entries[tenantID]
	delete(s.entries, tenantID)
	s.mu.Unlock()
	if e != nil {
		e.retire()
	}
}

// retire marks e retired and closes its store if it is open and unused.
func (e *storeEntry) retire() {
	e.mu.Lock()
	e.retired = true
	closeNow := e.store != nil && e.inFlight == 0 && !e.closed
	if closeNow {
		e.closed = true
	}
	e.mu.Unlock()
	if closeNow {
		_ = e.store.Close()
	}
}

// CloseIdle closes the stores unused for longer than the idle time, as of now.
func (s *Stores) CloseIdle(now time.Time) {
	s.mu.Lock()
	var idle []*storeEntry
	for id, e := range s.entries {
		select {
		case <-e.ready:
		default:
			continue // still opening
		}
		e.mu.Lock()
		if e.inFlight == 0 && now.Sub(e.lastUsed) > s.idle {
			idle = append(idle, e)
			delete(s.entries, id)
		}
		e.mu.Unlock()
	}
	s.mu.Unlock()
	for _, e := range idle {
		e.retire()
	}
}

// Run closes idle stores periodically until ctx ends.
func (s *Stores) Run(ctx context.Context) {
	every := s.idle / 2
	if every < time.Second {
		every = time.Second
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			s.CloseIdle(s.now())
		}
	}
}

// Close closes every store (those in use as soon as their calls end) and
// refuses further Store calls.
func (s *Stores) Close() error {
	s.mu.Lock()
	s.closed = true
	all := s.entries
	s.entries = make(map[string]*storeEntry)
	s.mu.Unlock()
	for _, e := range all {
		e.retire()
	}
	return nil
}

// begin counts a call through a handle; false when the store is closed.
func (e *storeEntry) begin() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false
	}
	e.inFlight++
	return true
}

// end finishes a call; the last call of a retired entry closes the store.
func (e *storeEntry) end(now time.Time) {
	e.mu.Lock()
	e.inFlight--
	e.lastUsed = now
	closeNow := e.retired && e.inFlight == 0 && !e.closed
	if closeNow {
		e.closed = true
	}
	e.mu.Unlock()
	if closeNow {
		_ = e.store.Close()
	}
}

// storeHandle is what Stores hands out: the tenant's store, with calls
// counted so the pool never closes a store under a running call. Methods
// added to adapters.Store later pass through the embedded Store uncounted
// until they are listed here.
type storeHandle struct {
	adapters.Store
	entry *storeEntry
	now   func() time.Time
}

var _ adapters.Store = (*storeHandle)(nil)

func (h *storeHandle) closedErr() error {
	return fmt.Errorf("tenants: store of %q: %w: closed by the pool, get it again", h.entry.tenant, adapters.ErrUnavailable)
}

func (h *storeHandle) ApplyUser(ctx context.Context, u adapters.User) (string, error) {
	if !h.entry.begin() {
		return "", h.closedErr()
	}
	defer h.entry.end(h.now())
	return h.Store.ApplyUser(ctx, u)
}

func (h *storeHandle) RemoveUser(ctx context.Context, u adapters.User) error {
	if !h.entry.begin() {
		return h.closedErr()
	}
	defer h.entry.end(h.now())
	return h.Store.RemoveUser(ctx, u)
}

func (h *storeHandle) FindUsers(ctx context.Context, attr adapters.Match, value string) ([]adapters.Entry, error) {
	if !h.entry.begin() {
		return nil, h.closedErr()
	}
	defer h.entry.end(h.now())
	return h.Store.FindUsers(ctx, attr, value)
}

func (h *storeHandle) ListUsers(ctx context.Context, cursor string, limit int) ([]adapters.Entry, string, error) {
	if !h.entry.begin() {
		return nil, "", h.closedErr()
	}
	defer h.entry.end(h.now())
	return h.Store.ListUsers(ctx, cursor, limit)
}

func (h *storeHandle) Ping(ctx context.Context) error {
	if !h.entry.begin() {
		return h.closedErr()
	}
	defer h.entry.end(h.now())
	return h.Store.Ping(ctx)
}

// Close does nothing: the pool owns the store.
func (h *storeHandle) Close() error { return nil }

// groupStoreHandle is the handle of a store that also keeps groups: the
// group calls are counted like the user calls.
type groupStoreHandle struct {
	*storeHandle
	groups adapters.GroupStore
}

var _ adapters.GroupStore = (*groupStoreHandle)(nil)

// handleFor wraps a pooled store, keeping its group methods visible.
func handleFor(h *storeHandle) adapters.Store {
	if gs, ok := h.Store.(adapters.GroupStore); ok {
		return &groupStoreHandle{storeHandle: h, groups: gs}
	}
	return h
}

// counted runs f as one counted call on the store.
func (h *storeHandle) counted(f func() error) error {
	if !h.entry.begin() {
		return h.closedErr()
	}
	defer h.entry.end(h.now())
	return f()
}

func (h *groupStoreHandle) ApplyGroup(ctx context.Context, g adapters.Group) (anchor string, err error) {
	err = h.counted(func() (e error) { anchor, e = h.groups.ApplyGroup(ctx, g); return })
	return
}

func (h *groupStoreHandle) RemoveGroup(ctx context.Context, g adapters.Group) error {
	return h.counted(func() error { return h.groups.RemoveGroup(ctx, g) })
}

func (h *groupStoreHandle) AddMembers(ctx context.Context, groupAnchor string, userAnchors []string) error {
	return h.counted(func() error { return h.groups.AddMembers(ctx, groupAnchor, userAnchors) })
}

func (h *groupStoreHandle) RemoveMembers(ctx context.Context, groupAnchor string, userAnchors []string) error {
	return h.counted(func() error { return h.groups.RemoveMembers(ctx, groupAnchor, userAnchors) })
}

func (h *groupStoreHandle) FindGroups(ctx context.Context, attr adapters.Match, value string) (out []adapters.GroupEntry, err error) {
	err = h.counted(func() (e error) { out, e = h.groups.FindGroups(ctx, attr, value); return })
	return
}

func (h *groupStoreHandle) ListGroups(ctx context.Context, cursor string, limit int) (out []adapters.GroupEntry, next string, err error) {
	err = h.counted(func() (e error) { out, next, e = h.groups.ListGroups(ctx, cursor, limit); return })
	return
}

func (h *groupStoreHandle) ListMembers(ctx context.Context, groupAnchor, cursor string, limit int) (out []string, next string, err error) {
	err = h.counted(func() (e error) { out, next, e = h.groups.ListMembers(ctx, groupAnchor, cursor, limit); return })
	return
}

var _ adapters.BatchStore = (*storeHandle)(nil)

// ApplyUsers applies users as one batch when the store can, else one by
// one; counted as one call.
func (h *storeHandle) ApplyUsers(ctx context.Context, users []adapters.User) (anchors []string, errs []error) {
	err := h.counted(func() error {
		if bs, ok := h.Store.(adapters.BatchStore); ok {
			anchors, errs = bs.ApplyUsers(ctx, users)
			return nil
		}
		anchors, errs = make([]string, len(users)), make([]error, len(users))
		for i, u := range users {
			anchors[i], errs[i] = h.Store.ApplyUser(ctx, u)
		}
		return nil
	})
	if err != nil {
		anchors, errs = make([]string, len(users)), make([]error, len(users))
		for i := range errs {
			errs[i] = err
		}
	}
	return anchors, errs
}
