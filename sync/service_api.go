package sync

// PLACEHOLDER signatures of the Service the api package calls; the real
// implementation replaces this file.

import (
	"context"
	"errors"
	"time"

	"github.com/scimbridge/scimbridge/scim"
)

// Errors returned by the Ledger and the Service (wrapped; use errors.Is).
var (
	// ErrNotFound: no such resource in this tenant (or it is deleted).
	ErrNotFound = errors.New("resource not found")
	// ErrUniqueness: userName (case-insensitive) or externalId taken.
	ErrUniqueness = errors.New("uniqueness violation")
	// ErrVersionMismatch: If-Match did not match the current version.
	ErrVersionMismatch = errors.New("version mismatch")
	// ErrUnavailable: Redis could not be reached; nothing was written.
	ErrUnavailable = errors.New("ledger unavailable")
)

// Sync states of a resource.
const (
	StateApplied = "applied"
	StatePending = "pending"
	StateFailed  = "failed"
)

// Record is one resource in the ledger.
type Record struct {
	Tenant   string
	ID       string
	Attrs    scim.Attrs // desired attributes (no password)
	Version  int64      // desired version; meta.version is W/"<Version>"
	Applied  int64      // last version applied to the store
	Anchor   string     // store key, once known
	Created  time.Time
	Modified time.Time
	// Failure is the store's reason for the last permanent failure of
	// FailedVersion (empty when none).
	Failure       string
	FailedVersion int64
}

// State is applied, pending or failed.
func (r *Record) State() string {
	switch {
	case r.Applied >= r.Version:
		return StateApplied
	case r.Failure != "" && r.FailedVersion >= r.Version:
		return StateFailed
	}
	return StatePending
}

// Service is the front door's view of provisioning: every method that
// writes records the desired state atomically, enqueues the reconcile task
// and returns the record as now in the ledger.
type Service struct{}

// CreateUser records a new user; ErrUniqueness when userName/externalId is taken.
func (s *Service) CreateUser(ctx context.Context, tenant string, a scim.Attrs, password *string) (*Record, error) {
	return nil, ErrUnavailable
}

// ReplaceUser is PUT: the attributes replace the old ones, except that a
// missing active keeps the old value. ifVersion 0 means unconditional.
func (s *Service) ReplaceUser(ctx context.Context, tenant, id string, a scim.Attrs, password *string, ifVersion int64) (*Record, error) {
	return nil, ErrUnavailable
}

// PatchUser applies p atomically to the latest state (retrying on a
// concurrent write). ifVersion 0 means unconditional. Errors from the
// patch itself are *scim.Error.
func (s *Service) PatchUser(ctx context.Context, tenant, id string, p *scim.Patch, ifVersion int64) (*Record, error) {
	return nil, ErrUnavailable
}

// DeleteUser records the deletion (the store applies the tenant's delete policy).
func (s *Service) DeleteUser(ctx context.Context, tenant, id string, ifVersion int64) error {
	return ErrUnavailable
}

// GetUser returns the user's record.
func (s *Service) GetUser(ctx context.Context, tenant, id string) (*Record, error) {
	return nil, ErrUnavailable
}

// ListUsers returns the page [startIndex, startIndex+count) (1-based) of
// the users matching f (nil for all) in a stable order, and the total. A
// filter the ledger cannot answer is asked of the store and matching
// entries are adopted; the first page of an unfiltered list adopts
// store-only entries first.
func (s *Service) ListUsers(ctx context.Context, tenant string, f *scim.Filter, startIndex, count int) ([]*Record, int, error) {
	return nil, 0, ErrUnavailable
}
