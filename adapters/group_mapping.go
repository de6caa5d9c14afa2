package adapters

import (
	"fmt"
	"strings"

	"github.com/scimbridge/scimbridge/scim"
)

// The group half of the mapping engine. A group has few attributes:
// displayName (required), externalId and the SCIM id, each mapped to one
// field (SQL column or LDAP attribute). Members never go through Fields:
// they change one at a time through GroupStore.AddMembers / RemoveMembers.

// Group attribute paths a GroupMapping may map.
const (
	GroupPathDisplayName = "displayName"
	GroupPathExternalID  = "externalId"
	GroupPathID          = "id"
)

// groupPaths are the mappable group paths, canonical spelling.
var groupPaths = []string{GroupPathDisplayName, GroupPathExternalID, GroupPathID}

// canonicalGroupPath returns the canonical spelling of a mappable group
// path (matched case-insensitively, with or without the core Group schema
// URN prefix) and whether it is one.
func canonicalGroupPath(p string) (string, bool) {
	const urnPrefix = "urn:ietf:params:scim:schemas:core:2.0:group:"
	l := strings.ToLower(p)
	l = strings.TrimPrefix(l, urnPrefix)
	for _, c := range groupPaths {
		if strings.ToLower(c) == l {
			return c, true
		}
	}
	return "", false
}

// GroupMapper is a GroupMapping compiled for a store: its paths are
// resolved to their canonical spelling and sorted once, when the store is
// opened (NewGroupMapper), rather than for every group Fields and Attrs map.
// It is read-only and safe for concurrent use.
type GroupMapper struct {
	paths []groupPath // sorted by path as configured
}

// groupPath is one attribute of a compiled group mapping.
type groupPath struct {
	canon string // GroupPathDisplayName, GroupPathExternalID or GroupPathID
	field string // the store field it maps to
}

// NewGroupMapper compiles m. A path that is not a mappable group attribute
// is an error wrapping ErrConfig (Config.Validate reports it too).
func NewGroupMapper(m GroupMapping) (*GroupMapper, error) {
	sorted := m.sortedPaths()
	c := &GroupMapper{paths: make([]groupPath, 0, len(sorted))}
	for _, p := range sorted {
		canon, ok := canonicalGroupPath(p)
		if !ok {
			return nil, fmt.Errorf("adapters: group mapping path %q: %w: not a group attribute", p, ErrConfig)
		}
		c.paths = append(c.paths, groupPath{canon: canon, field: m.Attributes[p]})
	}
	return c, nil
}

// Fields returns the store field values g maps to, keyed by field name: one
// per mapped attribute, nil when g has no value for it (an update clears
// the field; a create leaves it out). A value that is not a single string
// (say a complex displayName) is an error wrapping ErrRejected.
func (c *GroupMapper) Fields(g Group) (map[string]any, error) {
	fields := make(map[string]any, len(c.paths))
	for _, gp := range c.paths {
		if gp.canon == GroupPathID {
			fields[gp.field] = nilIfEmpty(g.ID)
			continue
		}
		raw, present := lookupFold(g.Attrs, gp.canon)
		if !present {
			fields[gp.field] = nil
			continue
		}
		v, err := fieldValue(raw)
		if err != nil {
			return nil, fmt.Errorf("adapters: group attribute %s: %w: %v", gp.canon, ErrRejected, err)
		}
		fields[gp.field] = v
	}
	return fields, nil
}

// Attrs builds SCIM group attributes from a store entry's fields (as read
// from the store). Missing or NULL fields are left out; the "id" mapping is
// not returned.
func (c *GroupMapper) Attrs(fields map[string]any) (scim.Attrs, error) {
	attrs := scim.Attrs{}
	for _, gp := range c.paths {
		if gp.canon == GroupPathID {
			continue
		}
		if s, ok := StoredString(fields[gp.field]); ok {
			attrs[gp.canon] = s
		}
	}
	return attrs, nil
}

// ID returns the SCIM id held in a group's fields where "id" is mapped
// ("" when it is not, or the field is empty).
func (c *GroupMapper) ID(fields map[string]any) string {
	for _, gp := range c.paths {
		if gp.canon == GroupPathID {
			s, _ := StoredString(fields[gp.field])
			return s
		}
	}
	return ""
}

// MapsID reports whether the group's SCIM id is mapped to a field.
func (m GroupMapping) MapsID() bool {
	_, ok := m.FieldFor(GroupPathID)
	return ok
}

// Columns returns every field the group mapping reads or writes (sorted by
// path, without duplicates).
func (m GroupMapping) Columns() []string { return mappedFields(m.Attributes) }

// FieldFor returns the field mapped to a group path (matched
// case-insensitively) and whether it is mapped.
func (m GroupMapping) FieldFor(p string) (string, bool) {
	want, ok := canonicalGroupPath(p)
	if !ok {
		return "", false
	}
	for _, path := range m.sortedPaths() {
		if canon, ok := canonicalGroupPath(path); ok && canon == want {
			return m.Attributes[path], true
		}
	}
	return "", false
}

// LookupField returns the field a group lookup on attr compares against
// (MatchDisplayName or MatchExternalID) and whether it is mapped.
func (m GroupMapping) LookupField(attr Match) (string, bool) {
	switch attr {
	case MatchDisplayName:
		return m.FieldFor(GroupPathDisplayName)
	case MatchExternalID:
		return m.FieldFor(GroupPathExternalID)
	}
	return "", false
}

// KeyIsMapped reports whether the key field is also the field of a mapped
// attribute, so the key value comes from SCIM rather than the store.
func (m GroupMapping) KeyIsMapped() bool { return isMappedField(m.Attributes, m.Key) }

func (m GroupMapping) sortedPaths() []string { return sortedPaths(m.Attributes) }

// lookupFold finds a top-level attribute by name, case-insensitively
// (an exact match wins).
func lookupFold(a map[string]any, name string) (any, bool) {
	if v, ok := a[name]; ok {
		return v, true
	}
	for k, v := range a {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
}

// validate checks a group mapping for a SQL store kind; users is the user
// mapping it sits beside (the membership table joins the two). LDAP
// configurations are checked by validateLDAP.
func (m GroupMapping) validate(kind string, users UserMapping) []error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: groups."+format, append([]any{ErrConfig}, args...)...))
	}
	sqlKind := IsSQLKind(kind)
	validField, fieldWord := fieldNaming(kind)
	if sqlKind && checkSQLTable(add, "table", m.Table) && strings.EqualFold(m.Table, users.Table) {
		add("table %q is the users table", m.Table)
	}
	checkKey(add, kind, m.Key)

	displayNameMapped := false
	columnOwner := map[string]string{}
	pathOwner := map[string]string{}
	for _, p := range m.sortedPaths() {
		col := m.Attributes[p]
		canon, ok := canonicalGroupPath(p)
		if !ok {
			add("attributes[%q]: not a mappable group attribute (displayName, externalId or id; members are mapped with groups.members)", p)
			continue
		}
		if other, dup := pathOwner[canon]; dup {
			add("attributes[%q]: %s is already mapped as %q", p, canon, other)
			continue
		}
		pathOwner[canon] = p
		if canon == GroupPathDisplayName {
			displayNameMapped = true
		}
		if !validField(col) {
			add("attributes[%q]: %q is not a valid %s name", p, col, fieldWord)
			continue
		}
		if other, dup := columnOwner[col]; dup {
			add("attributes[%q]: %s %q is already mapped from %q", p, fieldWord, col, other)
			continue
		}
		columnOwner[col] = p
	}
	if !displayNameMapped {
		add("attributes: displayName must be mapped (groups are matched by it)")
	}

	if !sqlKind {
		// LDAP membership is a member attribute of the group entry,
		// configured (and validated) with the LDAP options.
		return errs
	}

	mm := m.Members
	if mm == nil {
		add("members (the membership table: table, group_column, user_column) is required")
		return errs
	}
	if checkSQLTable(add, "members.table", mm.Table) {
		switch {
		case strings.EqualFold(mm.Table, m.Table):
			add("members.table %q is the groups table", mm.Table)
		case strings.EqualFold(mm.Table, users.Table):
			add("members.table %q is the users table", mm.Table)
		}
	}
	for _, c := range []struct{ name, value string }{
		{"group_column", mm.GroupColumn},
		{"user_column", mm.UserColumn},
	} {
		switch {
		case c.value == "":
			add("members.%s is required", c.name)
		case !ValidSQLIdentifier(c.value):
			add("members.%s %q is not a valid column name (letters, digits, underscore)", c.name, c.value)
		}
	}
	if mm.GroupColumn != "" && mm.GroupColumn == mm.UserColumn {
		add("members.group_column and members.user_column are the same column %q", mm.GroupColumn)
	}
	return errs
}
