package adapters

import (
	"fmt"
	"sort"
	"strings"

	"github.com/scimbridge/scimbridge/scim"
)

// Preview is what a SCIM user would become in a tenant's store.
type Preview struct {
	// Tenant is the tenant's id (set by the caller: PreviewUser knows only
	// the store's configuration).
	Tenant string `json:"tenant"`
	Kind   string `json:"store_kind"`
	// Table and Key are the SQL table and its key column ("" for LDAP).
	Table string `json:"table,omitempty"`
	Key   string `json:"key,omitempty"`
	// Fields are the columns or LDAP attributes written, with their values
	// (null: cleared on update, left to the store's default on create).
	Fields map[string]any `json:"fields"`
	// Password says what happens to a password in the request.
	Password string `json:"password,omitempty"`
	// Unmapped lists the request's attributes written nowhere.
	Unmapped []string `json:"unmapped"`
}

// PreviewUser returns the store fields c's user mapping writes for a SCIM
// user's attributes (as the front door parsed them), what happens to its
// password (hasPassword: the request carried one) and which attributes are
// written nowhere. It is pure: no store is opened, nothing is written.
func PreviewUser(c Config, attrs scim.Attrs, hasPassword bool) (*Preview, error) {
	m := c.Users
	fields, err := m.Fields(User{Attrs: attrs, Active: ActiveOf(attrs)})
	if err != nil {
		return nil, err
	}
	p := &Preview{Kind: c.Kind, Fields: fields, Unmapped: []string{}}
	if c.Kind != "ldap" {
		p.Table, p.Key = m.Table, m.Key
	}
	switch {
	case !hasPassword:
	case m.Password == nil:
		p.Password = "ignored: passwords are not mapped for this tenant"
	default:
		hash := m.Password.Hash
		if hash == "" {
			hash = HashArgon2id
		}
		p.Password = fmt.Sprintf("written to %s, hashed with %s", m.Password.Column, hash)
	}
	for attr := range attrs {
		if attr == "active" && m.Active != nil {
			continue
		}
		if !m.mapsAttribute(attr) {
			p.Unmapped = append(p.Unmapped, attr)
		}
	}
	sort.Strings(p.Unmapped)
	return p, nil
}

// mapsAttribute reports whether a mapped path starts with the top-level
// attribute attr (case-insensitively): "name" is mapped by
// "name.givenName", "emails" by `emails[type eq "work"].value`.
func (m UserMapping) mapsAttribute(attr string) bool {
	la := strings.ToLower(attr)
	for path := range m.Attributes {
		lp := strings.ToLower(path)
		if lp == la || strings.HasPrefix(lp, la+".") || strings.HasPrefix(lp, la+"[") || strings.HasPrefix(lp, la+":") {
			return true
		}
	}
	return false
}
