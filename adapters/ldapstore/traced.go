package ldapstore

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/scimbridge/scimbridge/adapters"
)

// Every store call opens one span named after itself, carrying the tenant,
// never entry values; a failure is recorded by its class only (the LDAP
// message may echo a value).

var tracer = otel.Tracer("github.com/scimbridge/scimbridge/adapters/ldapstore")

func (s *Store) span(ctx context.Context, name string) (context.Context, trace.Span) {
	return tracer.Start(ctx, "ldapstore."+name, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("scimbridge.tenant", s.tenantID), attribute.String("db.system", "ldap")))
}

// ApplyUser implements adapters.Store.
func (s *Store) ApplyUser(ctx context.Context, u adapters.User) (anchor string, err error) {
	ctx, span := s.span(ctx, "ApplyUser")
	defer func() { adapters.EndStoreSpan(span, err) }()
	return s.applyUser(ctx, u)
}

// ApplyUsers implements adapters.BatchStore (see batch.go).
func (s *Store) ApplyUsers(ctx context.Context, users []adapters.User) ([]string, []error) {
	ctx, span := s.span(ctx, "ApplyUsers")
	span.SetAttributes(attribute.Int("scimbridge.users", len(users)))
	anchors, errs := s.applyUsers(ctx, users)
	var failed error
	for _, err := range errs {
		if err != nil {
			failed = err
			break
		}
	}
	adapters.EndStoreSpan(span, failed)
	return anchors, errs
}

// RemoveUser implements adapters.Store.
func (s *Store) RemoveUser(ctx context.Context, u adapters.User) (err error) {
	ctx, span := s.span(ctx, "RemoveUser")
	defer func() { adapters.EndStoreSpan(span, err) }()
	return s.removeUser(ctx, u)
}

// FindUsers implements adapters.Store.
func (s *Store) FindUsers(ctx context.Context, attr adapters.Match, value string) (out []adapters.Entry, err error) {
	ctx, span := s.span(ctx, "FindUsers")
	defer func() { adapters.EndStoreSpan(span, err) }()
	return s.findUsers(ctx, attr, value)
}

// ListUsers implements adapters.Store.
func (s *Store) ListUsers(ctx context.Context, cursor string, limit int) (out []adapters.Entry, next string, err error) {
	ctx, span := s.span(ctx, "ListUsers")
	defer func() { adapters.EndStoreSpan(span, err) }()
	return s.listUsers(ctx, cursor, limit)
}

// ApplyGroup implements adapters.GroupStore.
func (s *Store) ApplyGroup(ctx context.Context, g adapters.Group) (anchor string, err error) {
	ctx, span := s.span(ctx, "ApplyGroup")
	defer func() { adapters.EndStoreSpan(span, err) }()
	return s.applyGroup(ctx, g)
}

// RemoveGroup implements adapters.GroupStore.
func (s *Store) RemoveGroup(ctx context.Context, g adapters.Group) (err error) {
	ctx, span := s.span(ctx, "RemoveGroup")
	defer func() { adapters.EndStoreSpan(span, err) }()
	return s.removeGroup(ctx, g)
}

// AddMembers implements adapters.GroupStore.
func (s *Store) AddMembers(ctx context.Context, groupAnchor string, userAnchors []string) (err error) {
	ctx, span := s.span(ctx, "AddMembers")
	span.SetAttributes(attribute.Int("scimbridge.members", len(userAnchors)))
	defer func() { adapters.EndStoreSpan(span, err) }()
	return s.addMembers(ctx, groupAnchor, userAnchors)
}

// RemoveMembers implements adapters.GroupStore.
func (s *Store) RemoveMembers(ctx context.Context, groupAnchor string, userAnchors []string) (err error) {
	ctx, span := s.span(ctx, "RemoveMembers")
	span.SetAttributes(attribute.Int("scimbridge.members", len(userAnchors)))
	defer func() { adapters.EndStoreSpan(span, err) }()
	return s.removeMembers(ctx, groupAnchor, userAnchors)
}

// FindGroups implements adapters.GroupStore.
func (s *Store) FindGroups(ctx context.Context, attr adapters.Match, value string) (out []adapters.GroupEntry, err error) {
	ctx, span := s.span(ctx, "FindGroups")
	defer func() { adapters.EndStoreSpan(span, err) }()
	return s.findGroups(ctx, attr, value)
}

// ListGroups implements adapters.GroupStore.
func (s *Store) ListGroups(ctx context.Context, cursor string, limit int) (out []adapters.GroupEntry, next string, err error) {
	ctx, span := s.span(ctx, "ListGroups")
	defer func() { adapters.EndStoreSpan(span, err) }()
	return s.listGroups(ctx, cursor, limit)
}

// ListMembers implements adapters.GroupStore.
func (s *Store) ListMembers(ctx context.Context, groupAnchor, cursor string, limit int) (out []string, next string, err error) {
	ctx, span := s.span(ctx, "ListMembers")
	defer func() { adapters.EndStoreSpan(span, err) }()
	return s.listMembers(ctx, groupAnchor, cursor, limit)
}
