package ldapstore

import (
	"context"
	"encoding/base64"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/scimbridge/scimbridge/adapters"
)

// ppolicyPermanentLock is the pwdAccountLockedTime value ppolicy reads as
// "locked until an administrator unlocks".
const ppolicyPermanentLock = "000001010000Z"

const attrPwdLocked = "pwdAccountLockedTime"

// userAttributes are the attributes a user read requests.
func (s *Store) userAttributes() []string {
	seen := map[string]bool{}
	var attrs []string
	addAttr := func(a string) {
		if a != "" && !seen[strings.ToLower(a)] {
			seen[strings.ToLower(a)] = true
			attrs = append(attrs, a)
		}
	}
	for _, c := range s.cfg.Users.Columns() {
		addAttr(c)
	}
	addAttr(s.opts.AnchorAttribute)
	addAttr(s.opts.UserRDNAttribute)
	switch s.opts.Deactivation.Strategy {
	case adapters.LDAPDeactivateFlag:
		addAttr(s.opts.Deactivation.Attribute)
	case adapters.LDAPDeactivatePPolicy:
		addAttr(attrPwdLocked)
	case adapters.LDAPDeactivateADUAC:
		addAttr("userAccountControl")
	}
	if pm := s.cfg.Users.Password; pm != nil && s.opts.Password.Mode == adapters.LDAPPasswordHash {
		addAttr(pm.Column)
	}
	return attrs
}

// classFilter matches entries of every configured user object class.
func (s *Store) classFilter() string {
	var b strings.Builder
	for _, oc := range s.opts.UserObjectClasses {
		if strings.EqualFold(oc, "top") {
			continue
		}
		b.WriteString("(objectClass=" + ldap.EscapeFilter(oc) + ")")
	}
	return b.String()
}

// anchorOf reads an entry's anchor (objectGUID as a GUID string).
func (s *Store) anchorOf(e *ldap.Entry) (string, error) {
	if strings.EqualFold(s.opts.AnchorAttribute, "objectGUID") {
		raw := e.GetEqualFoldRawAttributeValue(s.opts.AnchorAttribute)
		if len(raw) == 0 {
			return "", fmt.Errorf("%w: entry has no objectGUID", adapters.ErrRejected)
		}
		g, err := guidString(raw)
		if err != nil {
			return "", fmt.Errorf("%w: %v", adapters.ErrRejected, err)
		}
		return g, nil
	}
	v := e.GetEqualFoldAttributeValue(s.opts.AnchorAttribute)
	if v == "" {
		return "", fmt.Errorf("%w: entry has no %s (the anchor attribute)", adapters.ErrRejected, s.opts.AnchorAttribute)
	}
	return v, nil
}

// anchorFilter is the filter matching the anchor value, or false when the
// value cannot be an anchor of this store.
func (s *Store) anchorFilter(anchor string) (string, bool) {
	if strings.EqualFold(s.opts.AnchorAttribute, "objectGUID") {
		b, err := guidBytes(anchor)
		if err != nil {
			return "", false
		}
		return "(objectGUID=" + escapeBinaryFilter(b) + ")", true
	}
	return "(" + s.opts.AnchorAttribute + "=" + ldap.EscapeFilter(anchor) + ")", true
}

// search runs a subtree search under base with the Simple Paged Results
// control (page_size), never chasing referrals.
func (s *Store) search(c *ldap.Conn, base, filter string, attrs []string) ([]*ldap.Entry, error) {
	req := ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, filter, attrs, nil)
	res, err := c.SearchWithPaging(req, uint32(s.opts.PageSize))
	if err != nil {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
			return nil, fmt.Errorf("base %q: %w", base, err)
		}
		return nil, err
	}
	return res.Entries, nil
}

// findUser finds the user entry by anchor, falling back to the userName
// attribute when there is no anchor or it is gone. nil when none exists;
// an error wrapping ErrAlreadyExists when userName matches several.
func (s *Store) findUser(c *ldap.Conn, anchor string, userName any) (*ldap.Entry, error) {
	if anchor != "" {
		if f, ok := s.anchorFilter(anchor); ok {
			es, err := s.search(c, s.opts.UsersBaseDN, "(&"+s.classFilter()+f+")", s.userAttributes())
			if err != nil {
				return nil, err
			}
			if len(es) == 1 {
				return es[0], nil
			}
		}
	}
	name, ok := userName.(string)
	if !ok || name == "" {
		return nil, nil
	}
	attr, _ := s.cfg.Users.FieldFor("userName")
	es, err := s.search(c, s.opts.UsersBaseDN, "(&"+s.classFilter()+"("+attr+"="+ldap.EscapeFilter(name)+"))", s.userAttributes())
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
	return nil, fmt.Errorf("%w: %w: %d entries match the userName", adapters.ErrRejected, adapters.ErrAlreadyExists, len(es))
}

// valueMatches reports whether one of the entry's values of the attributes
// equals value: case-insensitively (fold) or exactly. The server's
// matching rule also ignores insignificant spaces and may be looser than
// SCIM's equality, so its answer is narrowed here, never widened.
func valueMatches(e *ldap.Entry, attrs []string, value string, fold bool) bool {
	for _, a := range attrs {
		for _, v := range e.GetEqualFoldAttributeValues(a) {
			if v == value || (fold && strings.EqualFold(v, value)) {
				return true
			}
		}
	}
	return false
}

func filterEntries(es []*ldap.Entry, keep func(*ldap.Entry) bool) []*ldap.Entry {
	out := es[:0]
	for _, e := range es {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}

// desired is what an apply writes: attribute values (nil: absent), the RDN
// value and the active flag.
type desired struct {
	attrs    map[string]any
	rdnValue string
	active   bool
}

func (s *Store) desiredOf(u adapters.User) (desired, error) {
	fields, err := s.users.Fields(u)
	if err != nil {
		return desired{}, err
	}
	d := desired{attrs: map[string]any{}, active: u.Active}
	for k, v := range fields {
		d.attrs[k] = v
	}
	if am := s.cfg.Users.Active; am != nil {
		delete(d.attrs, am.Column)
	}
	if s.opts.Deactivation.Strategy == adapters.LDAPDeactivateFlag {
		d.attrs[s.opts.Deactivation.Attribute] = s.flagValue(u.Active)
	}
	userNameAttr, _ := s.cfg.Users.FieldFor("userName")
	rdn, _ := d.attrs[userNameAttr].(string)
	if v, mapped := d.attrs[s.opts.UserRDNAttribute]; mapped {
		rdn, _ = v.(string)
	}
	if name, _ := d.attrs[userNameAttr].(string); name == "" {
		return desired{}, fmt.Errorf("%w: userName is required (attribute %s)", adapters.ErrRejected, userNameAttr)
	}
	if rdn == "" {
		return desired{}, fmt.Errorf("%w: no value for the RDN attribute %s", adapters.ErrRejected, s.opts.UserRDNAttribute)
	}
	d.rdnValue = rdn
	return d, nil
}

func (s *Store) flagValue(active bool) string {
	if active {
		return s.opts.Deactivation.ActiveValue
	}
	return s.opts.Deactivation.InactiveValue
}

// ApplyUser creates, adopts or updates the user's entry (see
// adapters.Store) and returns its anchor.
func (s *Store) applyUser(ctx context.Context, u adapters.User) (string, error) {
	d, err := s.desiredOf(u)
	if err != nil {
		return "", fmt.Errorf("ldapstore: apply user: %w", err)
	}
	var anchor string
	err = s.do(ctx, "apply user", func(c *ldap.Conn) error {
		e, err := s.findUser(c, u.Anchor, d.attrs[mustField(s.cfg.Users, "userName")])
		if err != nil {
			return err
		}
		if e == nil {
			anchor, err = s.createUser(c, d, u.Password)
			return err
		}
		anchor, err = s.updateUser(c, e, d, u.Password)
		return err
	})
	if err != nil {
		return "", err
	}
	return anchor, nil
}

func mustField(m adapters.UserMapping, path string) string {
	f, _ := m.FieldFor(path)
	return f
}

// needsCommonName reports whether new entries need a cn the mapping does
// not give (person and its subclasses require it).
func (s *Store) needsCommonName(d desired) bool {
	if strings.EqualFold(s.opts.UserRDNAttribute, "cn") {
		return false
	}
	for k, v := range d.attrs {
		if strings.EqualFold(k, "cn") && v != nil {
			return false
		}
	}
	return s.personClasses()
}

// personClasses reports whether user entries are persons (cn required).
func (s *Store) personClasses() bool {
	for _, oc := range s.opts.UserObjectClasses {
		switch strings.ToLower(oc) {
		case "person", "organizationalperson", "inetorgperson", "user":
			return true
		}
	}
	return false
}

func (s *Store) createUser(c *ldap.Conn, d desired, password *string) (string, error) {
	dn, err := s.addUser(c, d, password)
	if err != nil {
		return "", err
	}
	return s.readAnchor(c, dn)
}

// addUser adds the user's entry (and sets its password) and returns its DN.
func (s *Store) addUser(c *ldap.Conn, d desired, password *string) (string, error) {
	parent := s.opts.UsersBaseDN
	if s.opts.Deactivation.Strategy == adapters.LDAPDeactivateDisabledOU && !d.active {
		parent = s.opts.Deactivation.DisabledOU
	}
	dn := s.opts.UserRDNAttribute + "=" + ldap.EscapeDN(d.rdnValue) + "," + parent
	req := ldap.NewAddRequest(dn, nil)
	req.Attribute("objectClass", s.opts.UserObjectClasses)
	rdnSet := false
	for _, k := range sortedKeys(d.attrs) {
		if v, ok := d.attrs[k].(string); ok && v != "" {
			req.Attribute(k, []string{v})
			if strings.EqualFold(k, s.opts.UserRDNAttribute) {
				rdnSet = true
			}
		}
	}
	if !rdnSet {
		req.Attribute(s.opts.UserRDNAttribute, []string{d.rdnValue})
	}
	if s.needsCommonName(d) {
		// cn is required by person; unmapped, it starts as the RDN value
		// and is never touched again.
		req.Attribute("cn", []string{d.rdnValue})
	}
	switch s.opts.Deactivation.Strategy {
	case adapters.LDAPDeactivatePPolicy:
		if !d.active {
			req.Attribute(attrPwdLocked, []string{ppolicyPermanentLock})
		}
	case adapters.LDAPDeactivateADUAC:
		uac := uacNormalAccount
		if !d.active {
			uac |= uacAccountDisable
		}
		req.Attribute("userAccountControl", []string{strconv.Itoa(uac)})
	}
	extended, err := s.passwordMods(func(attr string, values []string) { req.Attribute(attr, values) }, nil, password)
	if err != nil {
		return "", err
	}
	if err := c.Add(req); err != nil {
		return "", fmt.Errorf("add: %w", err)
	}
	if extended {
		if err := modifyPassword(c, dn, *password); err != nil {
			return "", err
		}
	}
	return dn, nil
}

// readAnchor reads the anchor of the entry at dn (one base-scoped search).
func (s *Store) readAnchor(c *ldap.Conn, dn string) (string, error) {
	res, err := c.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
		"(objectClass=*)", []string{s.opts.AnchorAttribute}, nil))
	if err != nil {
		return "", fmt.Errorf("read back the anchor: %w", err)
	}
	if len(res.Entries) != 1 {
		return "", fmt.Errorf("read back the anchor: %w", adapters.ErrNotFound)
	}
	return s.anchorOf(res.Entries[0])
}

// parentDN returns the DN without its first RDN, and the first RDN.
func splitDN(dn string) (*ldap.RelativeDN, string, error) {
	parsed, err := ldap.ParseDN(dn)
	if err != nil || len(parsed.RDNs) == 0 {
		return nil, "", fmt.Errorf("%w: unparseable DN", adapters.ErrRejected)
	}
	parent := &ldap.DN{RDNs: parsed.RDNs[1:]}
	return parsed.RDNs[0], parent.String(), nil
}

func rdnString(r *ldap.RelativeDN) string {
	parts := make([]string, len(r.Attributes))
	for i, a := range r.Attributes {
		parts[i] = a.Type + "=" + ldap.EscapeDN(a.Value)
	}
	return strings.Join(parts, "+")
}

func sameDN(a, b string) bool {
	da, err1 := ldap.ParseDN(a)
	db, err2 := ldap.ParseDN(b)
	return err1 == nil && err2 == nil && da.EqualFold(db)
}

func (s *Store) updateUser(c *ldap.Conn, e *ldap.Entry, d desired, password *string) (string, error) {
	anchor, err := s.anchorOf(e)
	if err != nil {
		return "", err
	}
	rdn, parent, err := splitDN(e.DN)
	if err != nil {
		return "", err
	}
	// Rename (the RDN value changed) and, for disabled_ou, the move.
	newRDN := ""
	if len(rdn.Attributes) == 1 && strings.EqualFold(rdn.Attributes[0].Type, s.opts.UserRDNAttribute) && rdn.Attributes[0].Value != d.rdnValue {
		newRDN = s.opts.UserRDNAttribute + "=" + ldap.EscapeDN(d.rdnValue)
	}
	newParent := ""
	if s.opts.Deactivation.Strategy == adapters.LDAPDeactivateDisabledOU {
		inDisabled := sameDN(parent, s.opts.Deactivation.DisabledOU)
		if !d.active && !inDisabled {
			newParent = s.opts.Deactivation.DisabledOU
		} else if d.active && inDisabled {
			newParent = s.opts.UsersBaseDN
		}
	}
	if newRDN != "" || newParent != "" {
		r := newRDN
		if r == "" {
			r = rdnString(rdn)
		}
		if err := c.ModifyDN(ldap.NewModifyDNRequest(e.DN, r, true, newParent)); err != nil {
			return "", fmt.Errorf("rename: %w", err)
		}
		if newRDN == "" {
			// A move (disabled_ou) keeps the RDN and every attribute: the
			// entry read before is still right, only its DN changed, so
			// the deactivation costs no second search.
			moved := *e
			moved.DN = r + "," + newParent
			e = &moved
		} else if e, err = s.findUser(c, anchor, nil); err != nil {
			return "", err
		} else if e == nil {
			return "", fmt.Errorf("re-read after rename: %w", adapters.ErrNotFound)
		}
	}

	mod := ldap.NewModifyRequest(e.DN, nil)
	for _, k := range sortedKeys(d.attrs) {
		current := e.GetEqualFoldAttributeValues(k)
		v, _ := d.attrs[k].(string)
		if v == "" && strings.EqualFold(k, "cn") && s.personClasses() {
			// person requires cn: a mapped cn left empty falls back to the
			// RDN value, as on create, instead of violating the schema.
			v = d.rdnValue
		}
		switch {
		case v == "" && len(current) > 0:
			mod.Delete(k, nil)
		case v != "" && (len(current) != 1 || current[0] != v):
			mod.Replace(k, []string{v})
		}
	}
	switch s.opts.Deactivation.Strategy {
	case adapters.LDAPDeactivatePPolicy:
		locked := len(e.GetEqualFoldAttributeValues(attrPwdLocked)) > 0
		if !d.active && !locked {
			mod.Replace(attrPwdLocked, []string{ppolicyPermanentLock})
		} else if d.active && locked {
			mod.Delete(attrPwdLocked, nil)
		}
	case adapters.LDAPDeactivateADUAC:
		cur, err := strconv.Atoi(e.GetEqualFoldAttributeValue("userAccountControl"))
		if err != nil {
			cur = uacNormalAccount
		}
		want := cur &^ uacAccountDisable
		if !d.active {
			want = cur | uacAccountDisable
		}
		if want != cur || e.GetEqualFoldAttributeValue("userAccountControl") == "" {
			mod.Replace("userAccountControl", []string{strconv.Itoa(want)})
		}
	}
	var currentPw []string
	if pm := s.cfg.Users.Password; pm != nil {
		currentPw = e.GetEqualFoldAttributeValues(pm.Column)
	}
	extended, err := s.passwordMods(func(attr string, values []string) { mod.Replace(attr, values) }, currentPw, password)
	if err != nil {
		return "", err
	}
	if len(mod.Changes) > 0 {
		if err := c.Modify(mod); err != nil {
			return "", fmt.Errorf("modify: %w", err)
		}
	}
	if extended {
		if err := modifyPassword(c, e.DN, *password); err != nil {
			return "", err
		}
	}
	return anchor, nil
}

// RemoveUser carries out users.on_delete: delete the entry, or deactivate
// it with the configured strategy (only the deactivation changes). A
// missing entry is success.
func (s *Store) removeUser(ctx context.Context, u adapters.User) error {
	userNameAttr, _ := s.cfg.Users.FieldFor("userName")
	fields, err := s.users.Fields(u)
	if err != nil {
		fields = map[string]any{}
	}
	return s.do(ctx, "remove user", func(c *ldap.Conn) error {
		e, err := s.findUser(c, u.Anchor, fields[userNameAttr])
		if err != nil || e == nil {
			return err
		}
		if s.cfg.Users.OnDelete == adapters.OnDeleteDelete {
			if err := c.Del(ldap.NewDelRequest(e.DN, nil)); err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
				return fmt.Errorf("delete: %w", err)
			}
			return nil
		}
		// Deactivate: the entry's own values for everything else, so only
		// the deactivation changes.
		d := desired{attrs: map[string]any{}, active: false}
		rdn, _, err := splitDN(e.DN)
		if err != nil {
			return err
		}
		d.rdnValue = rdn.Attributes[0].Value
		if s.opts.Deactivation.Strategy == adapters.LDAPDeactivateFlag {
			d.attrs[s.opts.Deactivation.Attribute] = s.flagValue(false)
		}
		_, err = s.updateUser(c, e, d, nil)
		return err
	})
}

// entryOf translates a user entry to SCIM through the mapping.
func (s *Store) entryOf(e *ldap.Entry) (adapters.Entry, error) {
	anchor, err := s.anchorOf(e)
	if err != nil {
		return adapters.Entry{}, err
	}
	fields := map[string]any{}
	for _, c := range s.cfg.Users.Columns() {
		if vs := e.GetEqualFoldAttributeValues(c); len(vs) > 0 {
			fields[c] = vs[0]
		}
	}
	attrs, err := s.users.Attrs(fields)
	if err != nil {
		return adapters.Entry{}, err
	}
	if a, ok := s.activeOf(e); ok {
		attrs["active"] = a
	}
	return adapters.Entry{Anchor: anchor, Attrs: attrs, ID: s.users.ID(fields)}, nil
}

// activeOf reads the active state per the deactivation strategy.
func (s *Store) activeOf(e *ldap.Entry) (active, known bool) {
	d := s.opts.Deactivation
	switch d.Strategy {
	case adapters.LDAPDeactivateFlag:
		v := e.GetEqualFoldAttributeValues(d.Attribute)
		if len(v) == 0 {
			return false, false
		}
		if d.ActiveValue != "" {
			return strings.EqualFold(v[0], d.ActiveValue), true
		}
		return !strings.EqualFold(v[0], d.InactiveValue), true
	case adapters.LDAPDeactivatePPolicy:
		return len(e.GetEqualFoldAttributeValues(attrPwdLocked)) == 0, true
	case adapters.LDAPDeactivateDisabledOU:
		_, parent, err := splitDN(e.DN)
		return err == nil && !sameDN(parent, d.DisabledOU), err == nil
	case adapters.LDAPDeactivateADUAC:
		uac, err := strconv.Atoi(e.GetEqualFoldAttributeValue("userAccountControl"))
		if err != nil {
			return false, false
		}
		return uac&uacAccountDisable == 0, true
	}
	return false, false
}

// FindUsers returns the entries whose mapped attribute equals value, with
// the attribute's own matching rule (case-insensitive for uid, mail, cn);
// externalId is compared exactly.
func (s *Store) findUsers(ctx context.Context, attr adapters.Match, value string) ([]adapters.Entry, error) {
	fields := s.cfg.Users.LookupFields(attr)
	if len(fields) == 0 {
		return nil, nil
	}
	var f strings.Builder
	f.WriteString("(&" + s.classFilter() + "(|")
	for _, field := range fields {
		f.WriteString("(" + field + "=" + ldap.EscapeFilter(value) + ")")
	}
	f.WriteString("))")
	var out []adapters.Entry
	err := s.do(ctx, "find users", func(c *ldap.Conn) error {
		es, err := s.search(c, s.opts.UsersBaseDN, f.String(), s.userAttributes())
		if err != nil {
			return err
		}
		for _, e := range es {
			if !valueMatches(e, fields, value, attr != adapters.MatchExternalID) {
				continue
			}
			entry, err := s.entryOf(e)
			if err != nil {
				return err
			}
			out = append(out, entry)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Listing. A Simple Paged Results cookie is bound to one connection and one
// search, so it cannot be handed to a client between calls. The cursor is
// instead the last anchor returned (base64url): each call pages through
// the anchors only (one small attribute, with the paged control), sorts
// them, takes the next limit after the cursor and reads those entries. The
// order (by anchor) is stable across calls and renames; a page costs one
// anchor scan, which stays cheap for directories of many thousand users.

const cursorPrefix = "a1:"

func encodeCursor(anchor string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + anchor))
}

func decodeCursor(cursor string) (string, error) {
	if cursor == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || !strings.HasPrefix(string(b), cursorPrefix) {
		return "", fmt.Errorf("ldapstore: list: %w: malformed cursor", adapters.ErrRejected)
	}
	return strings.TrimPrefix(string(b), cursorPrefix), nil
}

// listPage returns up to limit entries (full attributes) of the objects
// matching filter under base, ordered by anchor, after the cursor.
func (s *Store) listPage(c *ldap.Conn, base, filter string, attrs []string, after string, limit int) ([]*ldap.Entry, string, error) {
	all, err := s.search(c, base, filter, []string{s.opts.AnchorAttribute})
	if err != nil {
		return nil, "", err
	}
	anchors := make([]string, 0, len(all))
	for _, e := range all {
		if a, err := s.anchorOf(e); err == nil {
			anchors = append(anchors, a)
		}
	}
	page, next := pageAfter(anchors, after, limit)
	if len(page) == 0 {
		return nil, next, nil
	}
	var f strings.Builder
	f.WriteString("(&" + filter + "(|")
	for _, a := range page {
		af, _ := s.anchorFilter(a)
		f.WriteString(af)
	}
	f.WriteString("))")
	es, err := s.search(c, base, f.String(), attrs)
	if err != nil {
		return nil, "", err
	}
	byAnchor := map[string]*ldap.Entry{}
	for _, e := range es {
		if a, err := s.anchorOf(e); err == nil {
			byAnchor[a] = e
		}
	}
	out := make([]*ldap.Entry, 0, len(page))
	for _, a := range page {
		if e := byAnchor[a]; e != nil {
			out = append(out, e)
		}
	}
	return out, next, nil
}

// pageAfter sorts anchors and returns the page of up to limit (100 when
// unset) that follows the cursor's anchor, with the next page's cursor
// ("" when this is the last).
func pageAfter(anchors []string, after string, limit int) (page []string, next string) {
	if limit <= 0 {
		limit = 100
	}
	sort.Strings(anchors)
	start := sort.SearchStrings(anchors, after)
	if after != "" && start < len(anchors) && anchors[start] == after {
		start++
	}
	end := min(start+limit, len(anchors))
	page = anchors[start:end]
	if end < len(anchors) && len(page) > 0 {
		next = encodeCursor(page[len(page)-1])
	}
	return page, next
}

// listEntries is ListUsers and ListGroups: one page (listPage) of the
// objects matching filter under base, each turned into an entry by entryOf.
func listEntries[E any](ctx context.Context, s *Store, op, base, filter string, attrs []string, cursor string, limit int, entryOf func(*ldap.Entry) (E, error)) ([]E, string, error) {
	after, err := decodeCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	var out []E
	var next string
	err = s.do(ctx, op, func(c *ldap.Conn) error {
		es, n, err := s.listPage(c, base, filter, attrs, after, limit)
		if err != nil {
			return err
		}
		next = n
		for _, e := range es {
			entry, err := entryOf(e)
			if err != nil {
				return err
			}
			out = append(out, entry)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// ListUsers lists users ordered by anchor (see the listing note above).
func (s *Store) listUsers(ctx context.Context, cursor string, limit int) ([]adapters.Entry, string, error) {
	return listEntries(ctx, s, "list users", s.opts.UsersBaseDN, "(&"+s.classFilter()+")", s.userAttributes(), cursor, limit, s.entryOf)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
