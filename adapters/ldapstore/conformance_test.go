package ldapstore

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/adapters/conformance"
	"github.com/scimbridge/scimbridge/adapters/ldapstore/ldaptest"
)

// variant is one way of running the suite against slapd.
type variant struct {
	name     string
	strategy string // deactivation strategy
	ad       bool   // the AD dialect (with the test AD schema)
}

var variants = []variant{
	{"OpenLDAP/flag", adapters.LDAPDeactivateFlag, false},
	{"OpenLDAP/ppolicy", adapters.LDAPDeactivatePPolicy, false},
	{"OpenLDAP/disabled_ou", adapters.LDAPDeactivateDisabledOU, false},
	{"AD-on-slapd/ad_uac", adapters.LDAPDeactivateADUAC, true},
}

// fixtureAttributes maps the suite's fixture fields to LDAP attributes.
func (v variant) fixtureAttributes() map[string]string {
	m := map[string]string{
		conformance.FieldUserName:   "uid",
		conformance.FieldGivenName:  "givenName",
		conformance.FieldFamilyName: "sn",
		conformance.FieldEmail:      "fixtureMail",
		conformance.FieldExternalID: "employeeNumber",
		conformance.FieldDepartment: "departmentNumber",
		conformance.FieldActive:     "fixtureActive",
		conformance.FieldPassword:   "userPassword",
		conformance.FieldPlan:       "fixturePlan",
	}
	if v.ad {
		m[conformance.FieldUserName] = "sAMAccountName"
		m[conformance.FieldActive] = "userAccountControl"
	}
	return m
}

func (v variant) userClasses() []string {
	if v.ad {
		return []string{"top", "person", "organizationalPerson", "user", "fixtureUser"}
	}
	return []string{"inetOrgPerson", "fixtureUser"}
}

// config is the tenant configuration for a store in ou.
func (v variant) config(s *ldaptest.Server, ou string, opts conformance.Options) adapters.Config {
	attrs := v.fixtureAttributes()
	m := conformance.Mapping("", opts)
	m.Key = ""
	for p, f := range m.Attributes {
		m.Attributes[p] = attrs[f]
	}
	m.Password.Column = attrs[m.Password.Column]
	if v.strategy == adapters.LDAPDeactivateFlag {
		m.Active.Column = attrs[m.Active.Column]
	} else {
		m.Active = nil
	}
	lo := &adapters.LDAPOptions{
		URL:               s.URL,
		BindDN:            rootDN,
		BindPasswordFile:  s.RootPWFile,
		UsersBaseDN:       "ou=people," + ou,
		UserObjectClasses: v.userClasses(),
		Deactivation:      adapters.LDAPDeactivation{Strategy: v.strategy},
		// The suite checks the stored hash itself (argon2id / bcrypt);
		// the Password Modify mode has its own test (TestPasswordModify).
		Password:     adapters.LDAPPassword{Mode: adapters.LDAPPasswordHash},
		GroupsBaseDN: "ou=groups," + ou,
	}
	if v.strategy == adapters.LDAPDeactivateDisabledOU {
		lo.Deactivation.DisabledOU = "ou=disabled,ou=people," + ou
	}
	if v.ad {
		lo.Dialect = adapters.LDAPDialectAD
		// slapd cannot generate objectGUID, so entries created here would
		// have no anchor: the AD dialect runs the suite with entryUUID.
		// objectGUID anchors are tested on entries whose GUID the test
		// writes (TestADObjectGUIDAnchor) and in the encoding tests.
		lo.AnchorAttribute = "entryUUID"
	}
	return adapters.Config{Kind: adapters.KindLDAP, Users: m, LDAP: lo}
}

func openTest(tb testing.TB, cfg adapters.Config) *Store {
	tb.Helper()
	st, err := open("tenant-"+randomHex(4), cfg, nil)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { _ = st.Close() })
	return st
}

func (v variant) harness() conformance.Harness {
	return conformance.Harness{
		Name: adapters.KindLDAP,
		New: func(tb testing.TB, opts conformance.Options) (adapters.Store, conformance.Backdoor) {
			if opts.NaturalKey {
				// The suite skips its natural-key case for ldap (entries
				// are anchored by entryUUID/objectGUID).
				tb.Fatal("ldap has no natural-key stores")
			}
			s := needServer(tb)
			ou := s.TenantOU(tb)
			st := openTest(tb, v.config(s, ou, opts))
			return st, &backdoor{v: v, s: s, ou: ou, conn: s.Admin(tb)}
		},
		Unreachable: func(tb testing.TB) adapters.Store {
			cfg := v.config(&ldaptest.Server{URL: "ldap://127.0.0.1:1", RootPWFile: "/nonexistent"}, "ou=x,"+suffix, conformance.Options{})
			cfg.LDAP.Timeout = 5e9
			return openTest(tb, cfg)
		},
	}
}

func TestConformance(t *testing.T) {
	needServer(t)
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			if v.strategy == adapters.LDAPDeactivatePPolicy && !server.HasPPolicy {
				t.Skip("slapd has no ppolicy module")
			}
			conformance.RunUserTests(t, v.harness())
		})
	}
}

// backdoor reads and writes the tenant's OU directly as the root DN.
type backdoor struct {
	v    variant
	s    *ldaptest.Server
	ou   string
	conn *ldap.Conn
}

func (b *backdoor) people() string { return "ou=people," + b.ou }

func (b *backdoor) userFilter() string {
	var f strings.Builder
	f.WriteString("(&")
	for _, oc := range b.v.userClasses() {
		if oc != "top" {
			f.WriteString("(objectClass=" + oc + ")")
		}
	}
	f.WriteString(")")
	return f.String()
}

func (b *backdoor) entry(tb testing.TB, anchor string) *ldap.Entry {
	tb.Helper()
	res, err := searchPatiently(b.conn, ldap.NewSearchRequest(b.people(), ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(&"+b.userFilter()+"(entryUUID="+ldap.EscapeFilter(anchor)+"))", []string{"*", "entryUUID", "pwdAccountLockedTime"}, nil))
	if err != nil {
		tb.Fatalf("backdoor search: %v", err)
	}
	if len(res.Entries) == 0 {
		return nil
	}
	return res.Entries[0]
}

func (b *backdoor) Get(tb testing.TB, anchor string) (map[string]string, bool) {
	e := b.entry(tb, anchor)
	if e == nil {
		return nil, false
	}
	out := map[string]string{}
	for field, attr := range b.v.fixtureAttributes() {
		if v := e.GetEqualFoldAttributeValues(attr); len(v) > 0 {
			out[field] = v[0]
		}
	}
	if pw, ok := out[conformance.FieldPassword]; ok {
		out[conformance.FieldPassword] = StripScheme(pw)
	}
	// LDAP has no attribute defaults: the fixture's application reads an
	// absent plan as the default plan.
	if _, ok := out[conformance.FieldPlan]; !ok {
		out[conformance.FieldPlan] = conformance.PlanDefault
	}
	active := true
	switch b.v.strategy {
	case adapters.LDAPDeactivateFlag:
		active = strings.EqualFold(out[conformance.FieldActive], "TRUE")
	case adapters.LDAPDeactivatePPolicy:
		active = len(e.GetAttributeValues("pwdAccountLockedTime")) == 0
	case adapters.LDAPDeactivateDisabledOU:
		active = !strings.HasSuffix(strings.ToLower(e.DN), strings.ToLower(",ou=disabled,"+b.people()))
	case adapters.LDAPDeactivateADUAC:
		uac, _ := strconv.Atoi(out[conformance.FieldActive])
		active = uac&uacAccountDisable == 0
	}
	out[conformance.FieldActive] = strconv.FormatBool(active)
	return out, true
}

func (b *backdoor) Insert(tb testing.TB, fields map[string]string) string {
	tb.Helper()
	cn := "ext-" + randomHex(6)
	dn := "cn=" + cn + "," + b.people()
	r := ldap.NewAddRequest(dn, nil)
	r.Attribute("objectClass", b.v.userClasses())
	r.Attribute("cn", []string{cn})
	attrs := b.v.fixtureAttributes()
	if _, ok := fields[conformance.FieldFamilyName]; !ok {
		r.Attribute("sn", []string{"-"}) // person requires sn
	}
	// The customer's application sets the account active.
	switch b.v.strategy {
	case adapters.LDAPDeactivateFlag:
		r.Attribute("fixtureActive", []string{"TRUE"})
	case adapters.LDAPDeactivateADUAC:
		r.Attribute("userAccountControl", []string{"512"})
	}
	for f, v := range fields {
		r.Attribute(attrs[f], []string{v})
	}
	if err := b.conn.Add(r); err != nil {
		tb.Fatalf("backdoor insert: %v", err)
	}
	res, err := searchPatiently(b.conn, ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{"entryUUID"}, nil))
	if err != nil || len(res.Entries) != 1 {
		tb.Fatalf("backdoor read back: %v", err)
	}
	return res.Entries[0].GetAttributeValue("entryUUID")
}

func (b *backdoor) Set(tb testing.TB, anchor, field, value string) {
	tb.Helper()
	e := b.entry(tb, anchor)
	if e == nil {
		tb.Fatalf("backdoor set: no entry %s", anchor)
	}
	mod := ldap.NewModifyRequest(e.DN, nil)
	mod.Replace(b.v.fixtureAttributes()[field], []string{value})
	if err := b.conn.Modify(mod); err != nil {
		tb.Fatalf("backdoor set: %v", err)
	}
}

func (b *backdoor) Delete(tb testing.TB, anchor string) {
	tb.Helper()
	if e := b.entry(tb, anchor); e != nil {
		if err := b.conn.Del(ldap.NewDelRequest(e.DN, nil)); err != nil {
			tb.Fatalf("backdoor delete: %v", err)
		}
	}
}

func (b *backdoor) Count(tb testing.TB) int {
	tb.Helper()
	res, err := searchPatiently(b.conn, ldap.NewSearchRequest(b.people(), ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, b.userFilter(), []string{"1.1"}, nil))
	if err != nil {
		tb.Fatalf("backdoor count: %v", err)
	}
	return len(res.Entries)
}

// searchPatiently is conn.Search, tried again while slapd answers Busy:
// a search that meets a pause of slapd's thread pool (a cn=config change,
// which the tests make as they add tenant OUs to the uniqueness overlay)
// is cut short with LDAP_BUSY, to be tried again.
func searchPatiently(conn *ldap.Conn, req *ldap.SearchRequest) (*ldap.SearchResult, error) {
	for try := 0; ; try++ {
		res, err := conn.Search(req)
		if try < 50 && ldap.IsErrorWithCode(err, ldap.LDAPResultBusy) {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		return res, err
	}
}
