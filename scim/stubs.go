package scim

// THIS FILE IS A PLACEHOLDER: the scim helper replaces it with the real
// implementation (split over path.go, user.go, patch.go, filter.go,
// discovery.go) and deletes it. Signatures here are the contract the other
// packages code against.

import "errors"

var errTodo = errors.New("scim: not implemented yet")

// Filter is a parsed SCIM filter (RFC 7644 §3.4.2.2).
type Filter struct{}

// ParseFilter parses s; errors are *Error with scimType invalidFilter.
func ParseFilter(s string) (*Filter, error) { return nil, errTodo }

// Match reports whether the rendered resource r (as built by RenderUser,
// with id and meta) satisfies the filter.
func (f *Filter) Match(r map[string]any) bool { return false }

// Lookup is an equality condition that every match of a filter must meet,
// usable to answer the filter from an index: Attr is one of "userName",
// "externalId", "emails.value", "displayName", "id".
type Lookup struct {
	Attr  string
	Value string
}

// Lookups returns the indexable equality conditions ANDed at the top of the
// filter (empty when the filter has none and needs a scan).
func (f *Filter) Lookups() []Lookup { return nil }
