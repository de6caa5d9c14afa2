package ldapstore

import (
	"sort"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/adapters/conformance"
	"github.com/scimbridge/scimbridge/adapters/ldapstore/ldaptest"
)

// groupVariant is one group object class (with a user variant).
type groupVariant struct {
	name  string
	users variant
	class string
}

var groupVariants = []groupVariant{
	{"OpenLDAP/groupOfNames", variants[0], adapters.LDAPGroupOfNames},
	{"OpenLDAP/groupOfUniqueNames", variants[0], adapters.LDAPGroupOfUniqueNames},
	{"AD-on-slapd/group", variants[3], adapters.LDAPADGroup},
}

// groupFixtureAttributes maps the group fixture fields to attributes
// (groupOfNames, groupOfUniqueNames and the test AD group all allow them).
var groupFixtureAttributes = map[string]string{
	conformance.GroupFieldDisplayName: "cn",
	conformance.GroupFieldExternalID:  "businessCategory",
	conformance.GroupFieldNote:        "description",
}

func (gv groupVariant) config(s *ldaptest.Server, ou string) adapters.Config {
	cfg := gv.users.config(s, ou, conformance.Options{})
	gm := conformance.GroupMapping("", "")
	gm.Key = ""
	for p, f := range gm.Attributes {
		gm.Attributes[p] = groupFixtureAttributes[f]
	}
	cfg.Groups = gm
	cfg.LDAP.GroupObjectClass = gv.class
	return cfg
}

func (gv groupVariant) harness() conformance.GroupHarness {
	return conformance.GroupHarness{
		Name: adapters.KindLDAP,
		New: func(tb testing.TB) (conformance.GroupStore, conformance.Backdoor, conformance.GroupBackdoor) {
			s := needServer(tb)
			ou := s.TenantOU(tb)
			st := openTest(tb, gv.config(s, ou))
			conn := s.Admin(tb)
			bd := &backdoor{v: gv.users, s: s, ou: ou, conn: conn}
			return st, bd, &groupBackdoor{gv: gv, users: bd, conn: conn}
		},
		WithoutGroups: func(tb testing.TB) adapters.Store {
			s := needServer(tb)
			cfg := gv.config(s, s.TenantOU(tb))
			cfg.Groups = nil
			return openTest(tb, cfg)
		},
		Unreachable: func(tb testing.TB) conformance.GroupStore {
			cfg := gv.config(&ldaptest.Server{URL: "ldap://127.0.0.1:1", RootPWFile: "/nonexistent"}, "ou=x,"+suffix)
			cfg.LDAP.Timeout = 5e9
			return openTest(tb, cfg)
		},
	}
}

func TestGroupConformance(t *testing.T) {
	needServer(t)
	for _, gv := range groupVariants {
		t.Run(gv.name, func(t *testing.T) {
			t.Parallel()
			conformance.RunGroupTests(t, gv.harness())
		})
	}
}

// groupBackdoor reads and writes the tenant's groups as the root DN.
type groupBackdoor struct {
	gv    groupVariant
	users *backdoor
	conn  *ldap.Conn
}

func (b *groupBackdoor) base() string { return "ou=groups," + b.users.ou }

func (b *groupBackdoor) memberAttr() string {
	if b.gv.class == adapters.LDAPGroupOfUniqueNames {
		return "uniqueMember"
	}
	return "member"
}

func (b *groupBackdoor) entry(tb testing.TB, anchor string) *ldap.Entry {
	tb.Helper()
	res, err := searchPatiently(b.conn, ldap.NewSearchRequest(b.base(), ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(&(objectClass="+b.gv.class+")(entryUUID="+ldap.EscapeFilter(anchor)+"))", []string{"*", "entryUUID"}, nil))
	if err != nil {
		tb.Fatalf("group backdoor search: %v", err)
	}
	if len(res.Entries) == 0 {
		return nil
	}
	return res.Entries[0]
}

func (b *groupBackdoor) Get(tb testing.TB, anchor string) (map[string]string, bool) {
	e := b.entry(tb, anchor)
	if e == nil {
		return nil, false
	}
	out := map[string]string{}
	for f, a := range groupFixtureAttributes {
		if v := e.GetEqualFoldAttributeValues(a); len(v) > 0 {
			out[f] = v[0]
		}
	}
	return out, true
}

func (b *groupBackdoor) Insert(tb testing.TB, fields map[string]string) string {
	tb.Helper()
	dn := "cn=" + ldap.EscapeDN(fields[conformance.GroupFieldDisplayName]) + "," + b.base()
	r := ldap.NewAddRequest(dn, nil)
	r.Attribute("objectClass", []string{b.gv.class})
	for f, v := range fields {
		r.Attribute(groupFixtureAttributes[f], []string{v})
	}
	if b.gv.class != adapters.LDAPADGroup {
		r.Attribute(b.memberAttr(), []string{"cn=nobody," + suffix})
	}
	if err := b.conn.Add(r); err != nil {
		tb.Fatalf("group backdoor insert: %v", err)
	}
	res, err := searchPatiently(b.conn, ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{"entryUUID"}, nil))
	if err != nil || len(res.Entries) != 1 {
		tb.Fatalf("group backdoor read back: %v", err)
	}
	return res.Entries[0].GetAttributeValue("entryUUID")
}

func (b *groupBackdoor) Set(tb testing.TB, anchor, field, value string) {
	tb.Helper()
	e := b.entry(tb, anchor)
	if e == nil {
		tb.Fatalf("group backdoor set: no group %s", anchor)
	}
	mod := ldap.NewModifyRequest(e.DN, nil)
	mod.Replace(groupFixtureAttributes[field], []string{value})
	if err := b.conn.Modify(mod); err != nil {
		tb.Fatalf("group backdoor set: %v", err)
	}
}

func (b *groupBackdoor) Delete(tb testing.TB, anchor string) {
	tb.Helper()
	if e := b.entry(tb, anchor); e != nil {
		if err := b.conn.Del(ldap.NewDelRequest(e.DN, nil)); err != nil {
			tb.Fatalf("group backdoor delete: %v", err)
		}
	}
}

func (b *groupBackdoor) Count(tb testing.TB) int {
	tb.Helper()
	res, err := searchPatiently(b.conn, ldap.NewSearchRequest(b.base(), ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, "(objectClass="+b.gv.class+")", []string{"1.1"}, nil))
	if err != nil {
		tb.Fatalf("group backdoor count: %v", err)
	}
	return len(res.Entries)
}

// Members resolves each member DN to the user's entryUUID; values naming
// no user (the placeholder) are not members.
func (b *groupBackdoor) Members(tb testing.TB, groupAnchor string) []string {
	tb.Helper()
	e := b.entry(tb, groupAnchor)
	if e == nil {
		return nil
	}
	var anchors []string
	for _, dn := range e.GetEqualFoldAttributeValues(b.memberAttr()) {
		if !strings.HasSuffix(strings.ToLower(dn), strings.ToLower(b.users.people())) {
			continue
		}
		res, err := searchPatiently(b.conn, ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{"entryUUID"}, nil))
		if err != nil {
			tb.Fatalf("group backdoor member %s: %v", dn, err)
		}
		anchors = append(anchors, res.Entries[0].GetAttributeValue("entryUUID"))
	}
	sort.Strings(anchors)
	return anchors
}

func (b *groupBackdoor) AddMember(tb testing.TB, groupAnchor, userAnchor string) {
	tb.Helper()
	g, u := b.entry(tb, groupAnchor), b.users.entry(tb, userAnchor)
	if g == nil || u == nil {
		tb.Fatal("group backdoor add member: no such group or user")
	}
	mod := ldap.NewModifyRequest(g.DN, nil)
	mod.Add(b.memberAttr(), []string{u.DN})
	if err := b.conn.Modify(mod); err != nil {
		tb.Fatalf("group backdoor add member: %v", err)
	}
}
