package tenants

import (
	"maps"
	"slices"

	"github.com/scimbridge/scimbridge/adapters"
)

// cloneTenant returns a deep copy of t: no map, slice or pointer of the
// copy is shared with t, so a caller may change what Registry.Get returned
// without touching the cache. TestCloneTenantEveryField fills every field
// by reflection and fails when a field added later is not copied here.
func cloneTenant(t *Tenant) *Tenant {
	if t == nil {
		return nil
	}
	c := *t
	c.Store = cloneStoreConfig(t.Store)
	c.Unique = slices.Clone(t.Unique)
	if t.Schema != nil {
		s := *t.Schema
		s.Attributes = slices.Clone(t.Schema.Attributes)
		c.Schema = &s
	}
	if t.Setup != nil {
		o := *t.Setup
		o.FrameAncestors = slices.Clone(t.Setup.FrameAncestors)
		c.Setup = &o
	}
	return &c
}

// cloneStoreConfig deep-copies a store configuration.
func cloneStoreConfig(cfg adapters.Config) adapters.Config {
	c := cfg
	c.Users.Attributes = maps.Clone(cfg.Users.Attributes)
	if cfg.Users.Active != nil {
		a := *cfg.Users.Active
		c.Users.Active = &a
	}
	if cfg.Users.Password != nil {
		p := *cfg.Users.Password
		c.Users.Password = &p
	}
	if cfg.Groups != nil {
		g := *cfg.Groups
		g.Attributes = maps.Clone(cfg.Groups.Attributes)
		if cfg.Groups.Members != nil {
			m := *cfg.Groups.Members
			g.Members = &m
		}
		c.Groups = &g
	}
	if cfg.LDAP != nil {
		l := *cfg.LDAP
		l.UserObjectClasses = slices.Clone(cfg.LDAP.UserObjectClasses)
		c.LDAP = &l
	}
	return c
}
