package sync

// PLACEHOLDER bodies: the group ledger is being written; the signatures
// are the contract the api package codes against.

import (
	"context"

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

// CreateGroup records a new group with its members (user ids of this
// tenant; an unknown id is a *scim.Error invalidValue). ErrUniqueness when
// displayName (case-insensitive) or externalId is taken.
func (s *Service) CreateGroup(ctx context.Context, tenant string, a scim.Attrs, members []string) (*Record, error) {
	return nil, ErrUnavailable
}

// ReplaceGroup is PUT: attributes and the whole member list replaced.
func (s *Service) ReplaceGroup(ctx context.Context, tenant, id string, a scim.Attrs, members []string, ifVersion int64) (*Record, error) {
	return nil, ErrUnavailable
}

// PatchGroup applies p (scim.Patch.ApplyGroup) atomically: attribute
// changes and member additions/removals in one step whose cost is
// proportional to the members changed.
func (s *Service) PatchGroup(ctx context.Context, tenant, id string, p *scim.Patch, ifVersion int64) (*Record, error) {
	return nil, ErrUnavailable
}

// DeleteGroup records the deletion of a group.
func (s *Service) DeleteGroup(ctx context.Context, tenant, id string, ifVersion int64) error {
	return ErrUnavailable
}

// GetGroup returns a group's record (without members).
func (s *Service) GetGroup(ctx context.Context, tenant, id string) (*Record, error) {
	return nil, ErrUnavailable
}

// GroupMembers returns a group's member user ids, sorted.
func (s *Service) GroupMembers(ctx context.Context, tenant, id string) ([]string, error) {
	return nil, ErrUnavailable
}

// SearchGroups lists groups matching q.
func (s *Service) SearchGroups(ctx context.Context, tenant string, q Query) (*GroupPage, error) {
	return nil, ErrUnavailable
}

// SearchUsers lists users matching q (ListUsers with sorting).
func (s *Service) SearchUsers(ctx context.Context, tenant string, q Query) ([]*Record, int, error) {
	return nil, 0, ErrUnavailable
}
