package sync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	gosync "sync"
	"time"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/queue"
	"github.com/scimbridge/scimbridge/scim"
)

// GroupsMapper says whether a tenant's store maps groups (otherwise groups
// live in the ledger only).
type GroupsMapper interface {
	GroupsMapped(ctx context.Context, tenantID string) (bool, error)
}

// UniquenessSource says which attributes a tenant makes unique beyond
// those that always are (userName, a group's displayName);
// *tenants.Registry satisfies it. Only "externalId" means anything today.
type UniquenessSource interface {
	UniqueAttributes(ctx context.Context, tenantID string) ([]string, error)
}

// StoreSource hands out a tenant's store (tenants.Stores satisfies it).
type StoreSource interface {
	Store(ctx context.Context, tenantID string) (adapters.Store, error)
}

// Enqueuer puts reconcile tasks on a queue (queue.Enqueuer satisfies it).
type Enqueuer interface {
	Enqueue(ctx context.Context, queueName string, p queue.Reconcile, salt string) error
}

// Service is the front door's view of provisioning: every method that
// writes records the desired state atomically in the ledger, enqueues the
// reconcile task and returns the record as it now is in the ledger.
//
// Required: Ledger; with Stores, also ImportInterval and StoreTimeout
// (there are no defaults: see required.go). Check reports the missing
// ones; a call that needs an unset duration panics naming it.
type Service struct {
	Ledger   *Ledger
	Enqueuer Enqueuer
	Stores   StoreSource
	// Groups says which tenants sync groups to their store (nil: none).
	Groups GroupsMapper
	// Unique says which tenants make externalId unique (nil: none do;
	// externalId is not unique by default, RFC 7643 §3.1).
	Unique UniquenessSource
	// Coalesce queues the drain of the tenant's backlog for a user write
	// instead of a task per user version (Enqueuer must be a DrainEnqueuer).
	Coalesce bool
	Logger   *slog.Logger
	// Metrics counts what the front door's writes drop (nil: nothing).
	Metrics *Metrics
	// ImportInterval is how often an unfiltered first page re-reads the
	// store for entries created outside scimbridge (required with Stores).
	ImportInterval time.Duration
	// StoreTimeout bounds a store lookup made while answering a request
	// (required with Stores).
	StoreTimeout time.Duration

	mu      gosync.Mutex
	imports map[string]*importState
	// queued remembers, per tenant and queue, the drain generation this
	// process last queued (or found queued) and when: see enqueue.
	queued map[[2]string]queuedDrain
}

type queuedDrain struct {
	gen string
	at  time.Time
}

// drainQueuedFor bounds how long enqueue trusts its memory of a queued
// drain before asking asynq again (in case the task was deleted by hand).
const drainQueuedFor = time.Second

type importState struct {
	mu   gosync.Mutex
	last time.Time
}

// due reports whether the last import is older than interval.
func (st *importState) due(interval time.Duration) bool {
	return time.Since(st.last) >= interval
}

func (st *importState) done() { st.last = time.Now() }

// importState returns the throttle state of one tenant's import of a kind.
func (s *Service) importState(name string) *importState {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.imports == nil {
		s.imports = map[string]*importState{}
	}
	st := s.imports[name]
	if st == nil {
		st = &importState{}
		s.imports[name] = st
	}
	return st
}

func (s *Service) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// uniqueness is what the tenant's writes keep unique beyond userName and
// a group's displayName.
func (s *Service) uniqueness(ctx context.Context, tenant string) (Uniqueness, error) {
	var u Uniqueness
	if s.Unique == nil {
		return u, nil
	}
	attrs, err := s.Unique.UniqueAttributes(ctx, tenant)
	if err != nil {
		return u, fmt.Errorf("sync: tenant %s: unique attributes: %w: %w", tenant, ErrUnavailable, err)
	}
	for _, a := range attrs {
		if a == "externalId" {
			u.ExternalID = true
		}
	}
	return u, nil
}

// maxCASRetries bounds read-modify-write retries under concurrent writers.
const maxCASRetries = 50

// CreateUser records a new user; ErrUniqueness when userName is taken
// (or externalId, in a tenant that makes it unique).
func (s *Service) CreateUser(ctx context.Context, tenant string, a scim.Attrs, password *string) (*Record, error) {
	u, err := s.uniqueness(ctx, tenant)
	if err != nil {
		return nil, err
	}
	r, err := s.Ledger.CreateUser(ctx, tenant, u, a, password)
	var ue *UniquenessError
	if errors.As(err, &ue) && ue.Attribute == "userName" {
		// The IdP's retry of a create answered 503 because replicas did
		// not hold it in time (ledger_replicas.go): the recorded user.
		if prev, ok, cerr := s.Ledger.ConfirmUnacknowledged(ctx, tenant, ue.ExistingID, a); cerr != nil {
			return nil, cerr
		} else if ok {
			r, err = prev, nil
		}
	}
	if err != nil {
		return nil, err
	}
	q := queue.QueueProvision
	if !adapters.ActiveOf(a) {
		q = queue.QueueDeprovision
	}
	s.enqueue(ctx, q, r)
	return r, nil
}

// ReplaceUser is PUT: the attributes replace the old ones, except that a
// missing active keeps the old value. ifVersion 0 means unconditional.
//
// Without ifVersion, and with events off, the record is not read first:
// the script keeps the stored active (one round trip, no decode of the old
// document). With events on the old state is read, because user.updated
// names the attributes that changed and a PUT may deactivate.
func (s *Service) ReplaceUser(ctx context.Context, tenant, id string, a scim.Attrs, password *string, ifVersion int64) (*Record, error) {
	if ifVersion == 0 && !s.Ledger.EventsEnabled() {
		u, err := s.uniqueness(ctx, tenant)
		if err != nil {
			return nil, err
		}
		r, err := s.Ledger.ReplaceUserUnread(ctx, tenant, u, id, a.Clone(), password)
		if err != nil {
			return nil, err
		}
		q := queue.QueueProvision
		if r.priorActive != "false" && !adapters.ActiveOf(r.Attrs) {
			q = queue.QueueDeprovision // a deactivation (or, without the prior state, possibly one)
		}
		s.enqueue(ctx, q, r)
		return r, nil
	}
	return s.updateUser(ctx, tenant, id, ifVersion, func(cur *Record) (scim.Attrs, *string, error) {
		next := a.Clone()
		if _, ok := next["active"]; !ok {
			if v, ok := cur.Attrs["active"]; ok {
				next["active"] = v
			}
		}
		return next, password, nil
	})
}

// PatchUser applies p atomically to the latest state (retrying on a
// concurrent write). ifVersion 0 means unconditional. Errors from the
// patch itself are *scim.Error.
func (s *Service) PatchUser(ctx context.Context, tenant, id string, p *scim.Patch, ifVersion int64) (*Record, error) {
	return s.updateUser(ctx, tenant, id, ifVersion, func(cur *Record) (scim.Attrs, *string, error) {
		return p.ApplyUser(cur.Attrs.Clone())
	})
}

// updateUser is the read-modify-write loop: compute the next state from the
// current one and write it only if nobody wrote in between.
func (s *Service) updateUser(ctx context.Context, tenant, id string, ifVersion int64,
	next func(cur *Record) (scim.Attrs, *string, error)) (*Record, error) {
	u, err := s.uniqueness(ctx, tenant)
	if err != nil {
		return nil, err
	}
	for range maxCASRetries {
		// The state this process last read or wrote, when it has it
		// (ledger_base.go): the write is refused if anything wrote since.
		cur, base, err := s.Ledger.userBase(ctx, tenant, id, ifVersion)
		if err != nil {
			return nil, err
		}
		if ifVersion > 0 && cur.Version != ifVersion {
			return nil, fmt.Errorf("sync: user %s is at version %d: %w", id, cur.Version, ErrVersionMismatch)
		}
		a, pw, err := next(cur)
		if err != nil && base != "" {
			s.Ledger.bases.forget(tenant, id)
			continue // a patch error on a remembered state: read it and apply again
		}
		if err != nil {
			return nil, err
		}
		r, err := s.Ledger.putUserOn(ctx, tenant, u, id, modeUpdate, cur.Version, a, pw, "", "", cur.Attrs, base)
		if errors.Is(err, errStaleBase) || (errors.Is(err, ErrVersionMismatch) && ifVersion == 0) {
			continue // a concurrent write won; redo on top of it
		}
		if err != nil {
			return nil, err
		}
		q := queue.QueueProvision
		if adapters.ActiveOf(cur.Attrs) && !adapters.ActiveOf(a) {
			q = queue.QueueDeprovision
		}
		s.enqueue(ctx, q, r)
		return r, nil
	}
	return nil, fmt.Errorf("sync: user %s: too many concurrent writes: %w", id, ErrUnavailable)
}

// DeleteUser records the deletion (the store applies the tenant's delete policy).
func (s *Service) DeleteUser(ctx context.Context, tenant, id string, ifVersion int64) error {
	r, err := s.Ledger.DeleteUser(ctx, tenant, id, ifVersion)
	if err != nil {
		return err
	}
	s.enqueue(ctx, queue.QueueDeprovision, r)
	return nil
}

// GetUser returns the user's record.
// What it read is remembered as the base of this process's next write
// of the user (ledger_base.go: an IdP often reads a user just before it
// writes it).
func (s *Service) GetUser(ctx context.Context, tenant, id string) (*Record, error) {
	return s.Ledger.getUserRemembered(ctx, tenant, id)
}

// acknowledged appends r's *.acknowledged event when an endpoint takes
// them; a failure is logged (the write stands, and its other events come
// with the apply).
func (s *Service) acknowledged(ctx context.Context, kind string, r *Record) {
	if err := s.Ledger.emitAcknowledged(ctx, kind, r); err != nil {
		s.logger().WarnContext(ctx, "acknowledged event not added", "tenant", r.Tenant, "id", r.ID, "version", r.Version, "err", err)
	}
}

// enqueue queues the reconcile of r. A failure is logged, not returned:
// the resource is already marked dirty in the same atomic step as its
// desired state, and the sweeper re-enqueues it.
func (s *Service) enqueue(ctx context.Context, queueName string, r *Record) {
	s.acknowledged(ctx, queue.KindUser, r)
	if s.Enqueuer == nil {
		return
	}
	if de, ok := s.Enqueuer.(DrainEnqueuer); ok && s.Coalesce {
		// A write that read generation G (with the write, or after it)
		// is drained by the drain of G, which bumps the generation when
		// it starts and reads the backlog after that. So once that task
		// is queued, by this process or another (asynq's task id
		// conflict), later writes that read G need not queue it again.
		gen, err := r.drainGen, error(nil)
		if gen == "" {
			gen, err = s.Ledger.DrainGeneration(ctx, r.Tenant)
		}
		if err == nil && !s.drainQueued(r.Tenant, queueName, gen) {
			if err = de.EnqueueDrain(ctx, queueName, r.Tenant, gen); err == nil {
				s.rememberDrain(r.Tenant, queueName, gen)
			}
		}
		if err != nil {
			s.logger().WarnContext(ctx, "enqueue failed; the sweeper will pick the resource up",
				"tenant", r.Tenant, "id", r.ID, "version", r.Version, "err", err)
		}
		return
	}
	p := queue.Reconcile{Tenant: r.Tenant, Kind: queue.KindUser, ID: r.ID, Version: r.Version}
	if err := s.Enqueuer.Enqueue(ctx, queueName, p, ""); err != nil {
		s.logger().WarnContext(ctx, "enqueue failed; the sweeper will pick the resource up",
			"tenant", r.Tenant, "id", r.ID, "version", r.Version, "err", err)
	}
}

// drainQueued reports whether this process queued (or found queued) the
// tenant's drain of generation gen on queueName within drainQueuedFor.
func (s *Service) drainQueued(tenant, queueName, gen string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, ok := s.queued[[2]string{tenant, queueName}]
	return ok && q.gen == gen && time.Since(q.at) < drainQueuedFor
}

func (s *Service) rememberDrain(tenant, queueName, gen string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.queued == nil {
		s.queued = make(map[[2]string]queuedDrain)
	}
	if len(s.queued) >= 100_000 {
		clear(s.queued) // a bound, not a policy: forgetting only costs a round trip
	}
	s.queued[[2]string{tenant, queueName}] = queuedDrain{gen: gen, at: time.Now()}
}

// scanBatch is how many records a filter scan reads per round trip.
const scanBatch = 500

// ListUsers returns the page [startIndex, startIndex+count) (1-based) of
// the users matching f (nil for all) in a stable order, and the total. An
// indexed equality the ledger cannot answer is asked of the store and
// matching entries are adopted; the first page of an unfiltered list adopts
// store-only entries first.
func (s *Service) ListUsers(ctx context.Context, tenant string, f *scim.Filter, startIndex, count int) ([]*Record, int, error) {
	if startIndex < 1 {
		startIndex = 1
	}
	if f == nil {
		if startIndex == 1 {
			s.importStore(ctx, tenant)
		}
		total, err := s.Ledger.CountUsers(ctx, tenant)
		if err != nil {
			return nil, 0, err
		}
		ids, err := s.Ledger.UserIDs(ctx, tenant, startIndex-1, count)
		if err != nil {
			return nil, 0, err
		}
		recs, err := s.Ledger.GetUsers(ctx, tenant, ids)
		return recs, total, err
	}
	matched, err := s.matchUsers(ctx, tenant, f)
	if err != nil {
		return nil, 0, err
	}
	total := len(matched)
	lo := min(startIndex-1, total)
	hi := min(lo+max(count, 0), total)
	return matched[lo:hi], total, nil
}

// matchUsers returns every live user matching f, in list order.
func (s *Service) matchUsers(ctx context.Context, tenant string, f *scim.Filter) ([]*Record, error) {
	var candidates []*Record
	if lk, ok := userLookup(f.Lookups()); ok {
		var err error
		if candidates, err = s.Ledger.FindUsers(ctx, tenant, lk.Attr, lk.Value); err != nil {
			return nil, err
		}
		if len(candidates) == 0 {
			candidates = s.adoptMatches(ctx, tenant, lk)
		}
	} else {
		total, err := s.Ledger.CountUsers(ctx, tenant)
		if err != nil {
			return nil, err
		}
		for off := 0; off < total; off += scanBatch {
			ids, err := s.Ledger.UserIDs(ctx, tenant, off, scanBatch)
			if err != nil {
				return nil, err
			}
			recs, err := s.Ledger.GetUsers(ctx, tenant, ids)
			if err != nil {
				return nil, err
			}
			candidates = append(candidates, recs...)
		}
	}
	out := candidates[:0:0]
	for _, r := range candidates {
		if f.Match(UserResource(r, "")) {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out, nil
}

// adoptMatches asks the store for entries matching an equality the ledger
// missed and adopts them, so an IdP links to an existing account instead
// of creating a duplicate. A store that cannot answer yields nothing: the
// create that follows is matched by userName when applied.
//
// externalId is not unique, so the store may hold several entries with the
// value: each is adopted and all are returned, in adoption order (the
// store's). In a tenant that makes externalId unique, the first is adopted
// and each other one is refused by the ledger and logged ("adopting store
// entry failed"), staying store-only; a userName the ledger already holds
// is refused the same way. An IdP's userName lookup matches at most one.
func (s *Service) adoptMatches(ctx context.Context, tenant string, lk scim.Lookup) []*Record {
	var m adapters.Match
	switch lk.Attr {
	case "userName":
		m = adapters.MatchUserName
	case "externalId":
		m = adapters.MatchExternalID
	case "emails.value":
		m = adapters.MatchEmail
	default:
		return nil
	}
	if s.Stores == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.storeTimeout())
	defer cancel()
	st, err := s.Stores.Store(ctx, tenant)
	if err != nil {
		s.logger().WarnContext(ctx, "store unavailable for lookup", "tenant", tenant, "err", err)
		return nil
	}
	entries, err := st.FindUsers(ctx, m, lk.Value)
	if err != nil {
		s.logger().WarnContext(ctx, "store lookup failed", "tenant", tenant, "err", err)
		return nil
	}
	u, err := s.uniqueness(ctx, tenant)
	if err != nil {
		s.logger().WarnContext(ctx, "adopting store entries failed", "tenant", tenant, "err", err)
		return nil
	}
	var out []*Record
	for _, e := range entries {
		r, err := s.Ledger.AdoptUser(ctx, tenant, u, e.Anchor, e.Attrs)
		if err != nil {
			s.logger().WarnContext(ctx, "adopting store entry failed", "tenant", tenant, "err", err)
			continue
		}
		if !r.Deleted {
			out = append(out, r)
		}
	}
	return out
}

// Check reports the required settings that are unset.
func (s *Service) Check() error {
	return checkRequired("Service",
		setting{"Ledger", s.Ledger != nil},
		setting{"ImportInterval (with Stores)", s.Stores == nil || s.ImportInterval > 0},
		setting{"StoreTimeout (with Stores)", s.Stores == nil || s.StoreTimeout > 0})
}

func (s *Service) storeTimeout() time.Duration {
	return required("Service", "StoreTimeout", s.StoreTimeout)
}

func (s *Service) importInterval() time.Duration {
	return required("Service", "ImportInterval", s.ImportInterval)
}

// importStore adopts store entries the ledger does not know, at most once
// per ImportInterval per tenant. Failures are logged: listing still answers
// from the ledger.
func (s *Service) importStore(ctx context.Context, tenant string) {
	if s.Stores == nil {
		return
	}
	st := s.importState("u:" + tenant)
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.due(s.importInterval()) {
		return
	}
	if _, err := s.ImportUsers(ctx, tenant, nil); err != nil {
		s.logger().WarnContext(ctx, "importing store entries failed", "tenant", tenant, "err", err)
		return
	}
	st.done()
}

// ImportUsers pages through the tenant's store and adopts every entry the
// ledger does not know. progress, if not nil, is called after each page
// with the number of entries seen and adopted so far.
func (s *Service) ImportUsers(ctx context.Context, tenant string, progress func(seen, adopted int)) (int, error) {
	st, err := s.Stores.Store(ctx, tenant)
	if err != nil {
		return 0, err
	}
	u, err := s.uniqueness(ctx, tenant)
	if err != nil {
		return 0, err
	}
	cursor, seen, adopted := "", 0, 0
	for {
		entries, next, err := st.ListUsers(ctx, cursor, scanBatch)
		if err != nil {
			return adopted, err
		}
		anchors := make([]string, len(entries))
		for i, e := range entries {
			anchors[i] = e.Anchor
		}
		known, err := s.Ledger.KnownAnchors(ctx, tenant, anchors)
		if err != nil {
			return adopted, err
		}
		for _, e := range entries {
			seen++
			if known[e.Anchor] {
				continue
			}
			if _, err := s.Ledger.AdoptUser(ctx, tenant, u, e.Anchor, e.Attrs); err != nil {
				if errors.Is(err, ErrUniqueness) || isSCIMError(err) {
					// A ledger user claims this userName (its apply will
					// match the entry) or, in a tenant that makes it
					// unique, this externalId; or the entry has no
					// userName.
					continue
				}
				return adopted, err
			}
			adopted++
		}
		if progress != nil {
			progress(seen, adopted)
		}
		if next == "" || len(entries) == 0 {
			return adopted, nil
		}
		cursor = next
	}
}

func isSCIMError(err error) bool {
	var se *scim.Error
	return errors.As(err, &se)
}

// userLookup picks the first equality the user indexes can answer
// (userName, externalId, emails.value, id); others (displayName) are
// answered by a scan.
func userLookup(lks []scim.Lookup) (scim.Lookup, bool) {
	for _, lk := range lks {
		switch lk.Attr {
		case "userName", "externalId", "emails.value", "id":
			return lk, true
		}
	}
	return scim.Lookup{}, false
}
