package ldapstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/scim"
)

// Group paths an LDAP group mapping may map (matched case-insensitively).
var groupPaths = []string{"displayName", "externalId", "id"}

// groupField returns the attribute the group path maps to.
func (s *Store) groupField(path string) (string, bool) {
	if s.cfg.Groups == nil {
		return "", false
	}
	for p, attr := range s.cfg.Groups.Attributes {
		if strings.EqualFold(strings.TrimPrefix(strings.ToLower(p), strings.ToLower(scim.SchemaGroup)+":"), strings.ToLower(path)) {
			return attr, true
		}
	}
	return "", false
}

// groupValues are the attribute values g maps to (nil: absent).
func (s *Store) groupValues(g adapters.Group) (map[string]any, error) {
	out := map[string]any{}
	for _, p := range groupPaths {
		attr, ok := s.groupField(p)
		if !ok {
			continue
		}
		if p == "id" {
			out[attr] = nilIfEmpty(g.ID)
			continue
		}
		var raw any
		for k, v := range g.Attrs {
			if strings.EqualFold(k, p) {
				raw = v
			}
		}
		switch v := raw.(type) {
		case nil:
			out[attr] = nil
		case string:
			out[attr] = nilIfEmpty(v)
		default:
			return nil, fmt.Errorf("%w: group %s is not a string", adapters.ErrRejected, p)
		}
	}
	return out, nil
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *Store) groupsMapped(op string) error {
	if s.cfg.Groups == nil {
		return fmt.Errorf("ldapstore: %s: %w: the tenant maps no groups", op, adapters.ErrConfig)
	}
	return nil
}

// memberAttr is the membership attribute of the configured group class.
func (s *Store) memberAttr() string {
	switch s.opts.GroupObjectClass {
	case adapters.LDAPGroupOfUniqueNames:
		return "uniqueMember"
	case adapters.LDAPPosixGroup:
		return "memberUid"
	}
	return "member"
}

// needsPlaceholder: the class requires at least one member value.
func (s *Store) needsPlaceholder() bool {
	return s.opts.GroupObjectClass == adapters.LDAPGroupOfNames || s.opts.GroupObjectClass == adapters.LDAPGroupOfUniqueNames
}

func (s *Store) groupClassFilter() string {
	return "(objectClass=" + ldap.EscapeFilter(s.opts.GroupObjectClass) + ")"
}

func (s *Store) groupAttributes() []string {
	attrs := []string{s.opts.AnchorAttribute, s.opts.GroupRDNAttribute}
	for _, p := range groupPaths {
		if a, ok := s.groupField(p); ok {
			attrs = append(attrs, a)
		}
	}
	return attrs
}

// findGroup finds a group by anchor, else by displayName.
func (s *Store) findGroup(c *ldap.Conn, anchor string, displayName any) (*ldap.Entry, error) {
	if anchor != "" {
		if f, ok := s.anchorFilter(anchor); ok {
			es, err := s.search(c, s.opts.GroupsBaseDN, "(&"+s.groupClassFilter()+f+")", s.groupAttributes())
			if err != nil {
				return nil, err
			}
			if len(es) == 1 {
				return es[0], nil
			}
		}
	}
	name, _ := displayName.(string)
	attr, _ := s.groupField("displayName")
	if name == "" {
		return nil, nil
	}
	es, err := s.search(c, s.opts.GroupsBaseDN, "(&"+s.groupClassFilter()+"("+attr+"="+ldap.EscapeFilter(name)+"))", s.groupAttributes())
	if err != nil {
		return nil, err
	}
	es = filterEntries(es, func(e *ldap.Entry) bool { return valueMatches(e, []string{attr}, name, true) })
	switch len(es) {
	case 0:
		return nil, nil
	case 1:
		return es[0], nil
	}
	return nil, fmt.Errorf("%w: %w: %d groups match the displayName", adapters.ErrRejected, adapters.ErrAlreadyExists, len(es))
}

// ApplyGroup creates, adopts or updates the group entry (members
// untouched); a displayName change renames it with ModifyDN.
func (s *Store) applyGroup(ctx context.Context, g adapters.Group) (string, error) {
	if err := s.groupsMapped("apply group"); err != nil {
		return "", err
	}
	vals, err := s.groupValues(g)
	if err != nil {
		return "", fmt.Errorf("ldapstore: apply group: %w", err)
	}
	nameAttr, _ := s.groupField("displayName")
	name, _ := vals[nameAttr].(string)
	if name == "" {
		return "", fmt.Errorf("ldapstore: apply group: %w: displayName is required", adapters.ErrRejected)
	}
	var anchor string
	err = s.do(ctx, "apply group", func(c *ldap.Conn) error {
		e, err := s.findGroup(c, g.Anchor, name)
		if err != nil {
			return err
		}
		if e == nil {
			anchor, err = s.createGroup(c, vals, name)
			return err
		}
		if anchor, err = s.anchorOf(e); err != nil {
			return err
		}
		rdn, _, err := splitDN(e.DN)
		if err != nil {
			return err
		}
		if len(rdn.Attributes) == 1 && strings.EqualFold(rdn.Attributes[0].Type, s.opts.GroupRDNAttribute) && rdn.Attributes[0].Value != name {
			if err := c.ModifyDN(ldap.NewModifyDNRequest(e.DN, s.opts.GroupRDNAttribute+"="+ldap.EscapeDN(name), true, "")); err != nil {
				return fmt.Errorf("rename group: %w", err)
			}
			if e, err = s.findGroup(c, anchor, nil); err != nil {
				return err
			} else if e == nil {
				return fmt.Errorf("re-read group after rename: %w", adapters.ErrNotFound)
			}
		}
		mod := ldap.NewModifyRequest(e.DN, nil)
		for _, k := range sortedKeys(vals) {
			cur := e.GetEqualFoldAttributeValues(k)
			v, _ := vals[k].(string)
			switch {
			case v == "" && len(cur) > 0:
				mod.Delete(k, nil)
			case v != "" && (len(cur) != 1 || cur[0] != v):
				mod.Replace(k, []string{v})
			}
		}
		if len(mod.Changes) > 0 {
			if err := c.Modify(mod); err != nil {
				return fmt.Errorf("modify group: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return anchor, nil
}

func (s *Store) createGroup(c *ldap.Conn, vals map[string]any, name string) (string, error) {
	dn := s.opts.GroupRDNAttribute + "=" + ldap.EscapeDN(name) + "," + s.opts.GroupsBaseDN
	req := ldap.NewAddRequest(dn, nil)
	classes := []string{s.opts.GroupObjectClass}
	req.Attribute("objectClass", classes)
	rdnSet := false
	for _, k := range sortedKeys(vals) {
		if v, ok := vals[k].(string); ok && v != "" {
			req.Attribute(k, []string{v})
			rdnSet = rdnSet || strings.EqualFold(k, s.opts.GroupRDNAttribute)
		}
	}
	if !rdnSet {
		req.Attribute(s.opts.GroupRDNAttribute, []string{name})
	}
	if s.needsPlaceholder() {
		req.Attribute(s.memberAttr(), []string{s.opts.PlaceholderMemberDN})
	}
	if s.opts.GroupObjectClass == adapters.LDAPPosixGroup {
		gid, err := s.nextGIDNumber(c)
		if err != nil {
			return "", err
		}
		req.Attribute("gidNumber", []string{strconv.Itoa(gid)})
	}
	if err := c.Add(req); err != nil {
		return "", fmt.Errorf("add group: %w", err)
	}
	res, err := c.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
		"(objectClass=*)", []string{s.opts.AnchorAttribute}, nil))
	if err != nil {
		return "", fmt.Errorf("read back the group anchor: %w", err)
	}
	if len(res.Entries) != 1 {
		return "", fmt.Errorf("read back the group anchor: %w", adapters.ErrNotFound)
	}
	return s.anchorOf(res.Entries[0])
}

// nextGIDNumber is one above the highest gidNumber of the posixGroups in
// groups_base_dn (at least gid_number_start). Two concurrent creates may
// pick the same number; directories that need unique gidNumbers enforce it
// (slapo-unique) and the apply is retried.
func (s *Store) nextGIDNumber(c *ldap.Conn) (int, error) {
	es, err := s.search(c, s.opts.GroupsBaseDN, "(&(objectClass=posixGroup)(gidNumber=*))", []string{"gidNumber"})
	if err != nil {
		return 0, err
	}
	next := s.opts.GIDNumberStart
	for _, e := range es {
		if n, err := strconv.Atoi(e.GetAttributeValue("gidNumber")); err == nil && n >= next {
			next = n + 1
		}
	}
	return next, nil
}

// RemoveGroup deletes the group entry (users untouched); a missing group
// is success.
func (s *Store) removeGroup(ctx context.Context, g adapters.Group) error {
	if err := s.groupsMapped("remove group"); err != nil {
		return err
	}
	vals, _ := s.groupValues(g)
	nameAttr, _ := s.groupField("displayName")
	return s.do(ctx, "remove group", func(c *ldap.Conn) error {
		e, err := s.findGroup(c, g.Anchor, vals[nameAttr])
		if err != nil || e == nil {
			return err
		}
		if err := c.Del(ldap.NewDelRequest(e.DN, nil)); err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
			return fmt.Errorf("delete group: %w", err)
		}
		return nil
	})
}

// memberValue is the membership value for the user with the anchor: its
// DN, or for posixGroup its RDN attribute value (the uid).
func (s *Store) memberValue(c *ldap.Conn, userAnchor string) (string, error) {
	f, ok := s.anchorFilter(userAnchor)
	var es []*ldap.Entry
	if ok {
		var err error
		es, err = s.search(c, s.opts.UsersBaseDN, "(&"+s.classFilter()+f+")", []string{s.opts.UserRDNAttribute})
		if err != nil {
			return "", err
		}
	}
	if len(es) != 1 {
		return "", fmt.Errorf("%w: member %q is not a user of this store", adapters.ErrRejected, userAnchor)
	}
	if s.opts.GroupObjectClass == adapters.LDAPPosixGroup {
		v := es[0].GetEqualFoldAttributeValue(s.opts.UserRDNAttribute)
		if v == "" {
			return "", fmt.Errorf("%w: member %q has no %s", adapters.ErrRejected, userAnchor, s.opts.UserRDNAttribute)
		}
		return v, nil
	}
	return es[0].DN, nil
}

func (s *Store) groupDN(c *ldap.Conn, groupAnchor string) (string, error) {
	e, err := s.findGroup(c, groupAnchor, nil)
	if err != nil {
		return "", err
	}
	if e == nil {
		return "", fmt.Errorf("group %q: %w", groupAnchor, adapters.ErrNotFound)
	}
	return e.DN, nil
}

// AddMembers adds each user with its own Modify (add one value); a value
// already present is fine. The placeholder member, if any, is dropped
// once a real member is in.
func (s *Store) addMembers(ctx context.Context, groupAnchor string, userAnchors []string) error {
	if err := s.groupsMapped("add members"); err != nil {
		return err
	}
	return s.do(ctx, "add members", func(c *ldap.Conn) error {
		dn, err := s.groupDN(c, groupAnchor)
		if err != nil {
			return err
		}
		added := false
		for _, ua := range userAnchors {
			v, err := s.memberValue(c, ua)
			if err != nil {
				return err
			}
			mod := ldap.NewModifyRequest(dn, nil)
			mod.Add(s.memberAttr(), []string{v})
			if err := c.Modify(mod); err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultAttributeOrValueExists) {
				return fmt.Errorf("add member: %w", err)
			}
			added = true
		}
		if added && s.needsPlaceholder() {
			mod := ldap.NewModifyRequest(dn, nil)
			mod.Delete(s.memberAttr(), []string{s.opts.PlaceholderMemberDN})
			if err := c.Modify(mod); err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchAttribute) {
				return fmt.Errorf("drop placeholder member: %w", err)
			}
		}
		return nil
	})
}

// RemoveMembers removes each user with its own Modify (delete one value);
// an absent value is fine. When the schema refuses to remove the last
// member, the placeholder is added in the same Modify.
func (s *Store) removeMembers(ctx context.Context, groupAnchor string, userAnchors []string) error {
	if err := s.groupsMapped("remove members"); err != nil {
		return err
	}
	return s.do(ctx, "remove members", func(c *ldap.Conn) error {
		dn, err := s.groupDN(c, groupAnchor)
		if err != nil {
			return err
		}
		for _, ua := range userAnchors {
			v, err := s.memberValue(c, ua)
			if err != nil {
				if isRejected(err) {
					continue // not a user here, so not a member either
				}
				return err
			}
			mod := ldap.NewModifyRequest(dn, nil)
			mod.Delete(s.memberAttr(), []string{v})
			err = c.Modify(mod)
			if err != nil && s.needsPlaceholder() && ldap.IsErrorWithCode(err, ldap.LDAPResultObjectClassViolation) {
				mod = ldap.NewModifyRequest(dn, nil)
				mod.Add(s.memberAttr(), []string{s.opts.PlaceholderMemberDN})
				mod.Delete(s.memberAttr(), []string{v})
				err = c.Modify(mod)
			}
			if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchAttribute) {
				return fmt.Errorf("remove member: %w", err)
			}
		}
		return nil
	})
}

func isRejected(err error) bool { return errors.Is(err, adapters.ErrRejected) }

// groupEntryOf translates a group entry through the mapping.
func (s *Store) groupEntryOf(e *ldap.Entry) (adapters.GroupEntry, error) {
	anchor, err := s.anchorOf(e)
	if err != nil {
		return adapters.GroupEntry{}, err
	}
	attrs := scim.Attrs{}
	for _, p := range []string{"displayName", "externalId"} {
		if a, ok := s.groupField(p); ok {
			if v := e.GetEqualFoldAttributeValues(a); len(v) > 0 {
				attrs[p] = v[0]
			}
		}
	}
	ge := adapters.GroupEntry{Anchor: anchor, Attrs: attrs}
	if a, ok := s.groupField("id"); ok {
		if v := e.GetEqualFoldAttributeValues(a); len(v) > 0 {
			ge.ID = v[0]
		}
	}
	return ge, nil
}

// FindGroups matches displayName (the attribute's matching rule, cn is
// case-insensitive) or externalId (exactly).
func (s *Store) findGroups(ctx context.Context, attr adapters.Match, value string) ([]adapters.GroupEntry, error) {
	if err := s.groupsMapped("find groups"); err != nil {
		return nil, err
	}
	var field string
	var ok bool
	switch attr {
	case adapters.MatchDisplayName:
		field, ok = s.groupField("displayName")
	case adapters.MatchExternalID:
		field, ok = s.groupField("externalId")
	}
	if !ok {
		return nil, nil
	}
	var out []adapters.GroupEntry
	err := s.do(ctx, "find groups", func(c *ldap.Conn) error {
		es, err := s.search(c, s.opts.GroupsBaseDN, "(&"+s.groupClassFilter()+"("+field+"="+ldap.EscapeFilter(value)+"))", s.groupAttributes())
		if err != nil {
			return err
		}
		for _, e := range es {
			if !valueMatches(e, []string{field}, value, attr != adapters.MatchExternalID) {
				continue
			}
			ge, err := s.groupEntryOf(e)
			if err != nil {
				return err
			}
			out = append(out, ge)
		}
		return nil
	})
	return out, err
}

// ListGroups lists groups ordered by anchor (as ListUsers).
func (s *Store) listGroups(ctx context.Context, cursor string, limit int) ([]adapters.GroupEntry, string, error) {
	if err := s.groupsMapped("list groups"); err != nil {
		return nil, "", err
	}
	return listEntries(ctx, s, "list groups", s.opts.GroupsBaseDN, s.groupClassFilter(), s.groupAttributes(), cursor, limit, s.groupEntryOf)
}

// ListMembers returns member user anchors ordered by anchor. It reads the
// group's member values once, resolves them to users, and pages the
// sorted anchors; the placeholder and values naming no user of this store
// are left out. A group not in this store has no members.
func (s *Store) listMembers(ctx context.Context, groupAnchor, cursor string, limit int) ([]string, string, error) {
	if err := s.groupsMapped("list members"); err != nil {
		return nil, "", err
	}
	after, err := decodeCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	var page []string
	var next string
	err = s.do(ctx, "list members", func(c *ldap.Conn) error {
		// A group that is not in this store has no members here.
		f, ok := s.anchorFilter(groupAnchor)
		if !ok {
			return nil
		}
		gs, err := s.search(c, s.opts.GroupsBaseDN, "(&"+s.groupClassFilter()+f+")", []string{s.memberAttr()})
		if err != nil || len(gs) != 1 {
			return err
		}
		values := gs[0].GetEqualFoldAttributeValues(s.memberAttr())
		var anchors []string
		for _, v := range values {
			if s.needsPlaceholder() && sameDN(v, s.opts.PlaceholderMemberDN) {
				continue
			}
			var filter string
			base, scope := s.opts.UsersBaseDN, ldap.ScopeWholeSubtree
			if s.opts.GroupObjectClass == adapters.LDAPPosixGroup {
				filter = "(&" + s.classFilter() + "(" + s.opts.UserRDNAttribute + "=" + ldap.EscapeFilter(v) + "))"
			} else {
				if _, err := ldap.ParseDN(v); err != nil || !isUnder(v, s.opts.UsersBaseDN) {
					continue
				}
				base, scope, filter = v, ldap.ScopeBaseObject, "(&"+s.classFilter()+")"
			}
			res, err := c.Search(ldap.NewSearchRequest(base, scope, ldap.NeverDerefAliases, 2, 0, false, filter, []string{s.opts.AnchorAttribute}, nil))
			if err != nil {
				if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
					continue
				}
				return err
			}
			if len(res.Entries) == 1 {
				if a, err := s.anchorOf(res.Entries[0]); err == nil {
					anchors = append(anchors, a)
				}
			}
		}
		page, next = pageAfter(anchors, after, limit)
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return page, next, nil
}

// isUnder reports whether dn is base or below it.
func isUnder(dn, base string) bool {
	d, err1 := ldap.ParseDN(dn)
	b, err2 := ldap.ParseDN(base)
	return err1 == nil && err2 == nil && (b.EqualFold(d) || b.AncestorOfFold(d))
}
