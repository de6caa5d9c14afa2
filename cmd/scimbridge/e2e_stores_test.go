package main

// End-to-end tests of one server process serving tenants on different
// store kinds at once (OpenLDAP and MariaDB), checked in the stores
// themselves: LDAP searches as the directory's root and SQL queries. They
// reuse e2e_test.go's helpers (Redis db 9, not in parallel with the other
// e2e tests); each store fixture is the test's own (a tenant OU on a
// throwaway slapd, a database of its own on MariaDB).

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/adapters/ldapstore/ldaptest"
	"github.com/scimbridge/scimbridge/internal/testsupport"
	syncsvc "github.com/scimbridge/scimbridge/sync"
	"github.com/scimbridge/scimbridge/tenants"
)

const enterpriseURN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

// The pre-existing entry every fixture starts with (created outside
// scimbridge, to be adopted by Okta's existence check).
const (
	preUserName = "pre.existing@example.com"
	prePlan     = "enterprise"
	preNote     = "created by the customer"
)

// storeUser is a user entry as the store holds it. Plan and Note are
// unmapped: scimbridge must never write them.
type storeUser struct {
	UserName, GivenName, FamilyName, Email, ExternalID, Department string
	Active                                                         bool
	Plan, Note                                                     string
}

// storeGroup is a group entry as the store holds it; Members are the
// member users' anchors, sorted. Note is unmapped.
type storeGroup struct {
	Name, Note string
	Members    []string
}

// storeView reads and writes one tenant's store directly, as the
// customer's own tools would.
type storeView interface {
	user(t *testing.T, anchor string) (storeUser, bool)
	userCount(t *testing.T) int
	// setPlan changes the unmapped plan of a user entry.
	setPlan(t *testing.T, anchor, plan string)
	passwordVerifies(t *testing.T, anchor, password string) bool
	group(t *testing.T, anchor string) (storeGroup, bool)
	// setGroupNote changes the unmapped note of a group entry.
	setGroupNote(t *testing.T, anchor, note string)
	// insertGroup creates a group outside scimbridge with the users (by
	// anchor) as members and returns its anchor.
	insertGroup(t *testing.T, name string, members ...string) string
	// deletes reports whether a SCIM DELETE removes the user entry (the
	// delete policy) rather than deactivating it.
	deletes() bool
}

// ---- OpenLDAP ----

// ldapFixture is a tenant OU on a throwaway slapd with one pre-existing
// inetOrgPerson entry.
type ldapFixture struct {
	srv  *ldaptest.Server
	ou   string
	conn *ldap.Conn
}

func (f *ldapFixture) people() string { return "ou=people," + f.ou }
func (f *ldapFixture) groups() string { return "ou=groups," + f.ou }

func newLDAPFixture(t *testing.T, srv *ldaptest.Server) *ldapFixture {
	t.Helper()
	f := &ldapFixture{srv: srv, ou: srv.TenantOU(t)}
	f.conn = srv.Admin(t)
	r := ldap.NewAddRequest("uid="+ldap.EscapeDN(preUserName)+","+f.people(), nil)
	r.Attribute("objectClass", []string{"inetOrgPerson", "fixtureUser"})
	r.Attribute("uid", []string{preUserName})
	r.Attribute("cn", []string{"Pre Existing"})
	r.Attribute("givenName", []string{"Pre"})
	r.Attribute("sn", []string{"Existing"})
	r.Attribute("mail", []string{preUserName})
	r.Attribute("fixtureActive", []string{"TRUE"})
	r.Attribute("fixturePlan", []string{prePlan})
	r.Attribute("description", []string{preNote})
	if err := f.conn.Add(r); err != nil {
		t.Fatalf("add the pre-existing entry: %v", err)
	}
	return f
}

// tenant is the LDAP tenant's configuration: uid as RDN and userName,
// fixtureActive as the flag, Password Modify for passwords, the delete
// policy, groupOfNames groups.
func (f *ldapFixture) tenant(id string) tenants.Tenant {
	return tenants.Tenant{ID: id, Name: "E2E LDAP " + id, Store: adapters.Config{
		Kind: adapters.KindLDAP,
		Users: adapters.UserMapping{
			Attributes: map[string]string{
				"userName": "uid", "name.givenName": "givenName", "name.familyName": "sn",
				"displayName": "cn", `emails[type eq "work"].value`: "mail", "externalId": "employeeNumber",
				enterpriseURN + ":department": "departmentNumber",
			},
			Active:   &adapters.ActiveMapping{Column: "fixtureActive"},
			Password: &adapters.PasswordMapping{Column: "userPassword"},
			OnDelete: adapters.OnDeleteDelete,
		},
		Groups: &adapters.GroupMapping{Attributes: map[string]string{"displayName": "cn", "externalId": "businessCategory"}},
		LDAP: &adapters.LDAPOptions{
			URL: f.srv.URL, BindDN: f.srv.RootDN, BindPasswordFile: f.srv.RootPWFile,
			UsersBaseDN:       f.people(),
			UserObjectClasses: []string{"inetOrgPerson", "fixtureUser"},
			Deactivation:      adapters.LDAPDeactivation{Strategy: adapters.LDAPDeactivateFlag},
			Password:          adapters.LDAPPassword{Mode: adapters.LDAPPasswordModifyExt},
			GroupsBaseDN:      f.groups(),
			GroupObjectClass:  adapters.LDAPGroupOfNames,
		},
	}}
}

// search runs a root search below base.
func (f *ldapFixture) search(t *testing.T, base string, scope int, filter string, attrs ...string) []*ldap.Entry {
	t.Helper()
	res, err := f.conn.Search(ldap.NewSearchRequest(base, scope, ldap.NeverDerefAliases, 0, 0, false, filter, attrs, nil))
	if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		return nil
	}
	if err != nil {
		t.Fatalf("search %s %s: %v", base, filter, err)
	}
	return res.Entries
}

func (f *ldapFixture) byAnchor(t *testing.T, base, anchor string) *ldap.Entry {
	t.Helper()
	es := f.search(t, base, ldap.ScopeWholeSubtree, "(entryUUID="+ldap.EscapeFilter(anchor)+")", "*", "entryUUID")
	switch len(es) {
	case 0:
		return nil
	case 1:
		return es[0]
	}
	t.Fatalf("%d entries with entryUUID %s", len(es), anchor)
	return nil
}

func (f *ldapFixture) user(t *testing.T, anchor string) (storeUser, bool) {
	t.Helper()
	e := f.byAnchor(t, f.people(), anchor)
	if e == nil {
		return storeUser{}, false
	}
	// Entries stay where they were created: directly below ou=people.
	if !childOf(e.DN, f.people()) {
		t.Fatalf("user entry %q is not directly below %s", e.DN, f.people())
	}
	return storeUser{
		UserName: e.GetAttributeValue("uid"), GivenName: e.GetAttributeValue("givenName"),
		FamilyName: e.GetAttributeValue("sn"), Email: e.GetAttributeValue("mail"),
		ExternalID: e.GetAttributeValue("employeeNumber"), Department: e.GetAttributeValue("departmentNumber"),
		Active: strings.EqualFold(e.GetAttributeValue("fixtureActive"), "TRUE"),
		Plan:   e.GetAttributeValue("fixturePlan"), Note: e.GetAttributeValue("description"),
	}, true
}

// childOf reports whether dn is an entry directly below parent.
func childOf(dn, parent string) bool {
	c, err := ldap.ParseDN(dn)
	if err != nil {
		return false
	}
	p, err := ldap.ParseDN(parent)
	if err != nil {
		return false
	}
	return len(c.RDNs) == len(p.RDNs)+1 && p.AncestorOfFold(c)
}

func (f *ldapFixture) userCount(t *testing.T) int {
	t.Helper()
	return len(f.search(t, f.people(), ldap.ScopeWholeSubtree, "(objectClass=inetOrgPerson)", "1.1"))
}

func (f *ldapFixture) setPlan(t *testing.T, anchor, plan string) {
	t.Helper()
	e := f.byAnchor(t, f.people(), anchor)
	if e == nil {
		t.Fatalf("no entry %s", anchor)
	}
	m := ldap.NewModifyRequest(e.DN, nil)
	m.Replace("fixturePlan", []string{plan})
	if err := f.conn.Modify(m); err != nil {
		t.Fatal(err)
	}
}

// passwordVerifies binds as the user.
func (f *ldapFixture) passwordVerifies(t *testing.T, anchor, password string) bool {
	t.Helper()
	e := f.byAnchor(t, f.people(), anchor)
	if e == nil {
		t.Fatalf("no entry %s", anchor)
	}
	c, err := ldap.DialURL(f.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Bind(e.DN, password)
	if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
		t.Fatalf("bind as %s: %v", e.DN, err)
	}
	return err == nil
}

// group resolves each member DN to the user's entryUUID. The placeholder
// member (the bind DN, kept when a groupOfNames would be empty) is left
// out; a member DN outside the tenant's people OU fails the test.
func (f *ldapFixture) group(t *testing.T, anchor string) (storeGroup, bool) {
	t.Helper()
	e := f.byAnchor(t, f.groups(), anchor)
	if e == nil {
		return storeGroup{}, false
	}
	g := storeGroup{Name: e.GetAttributeValue("cn"), Note: e.GetAttributeValue("description"), Members: []string{}}
	for _, dn := range e.GetAttributeValues("member") {
		if strings.EqualFold(dn, f.srv.RootDN) {
			continue
		}
		if !childOf(dn, f.people()) {
			t.Fatalf("group %s has member %q outside %s", g.Name, dn, f.people())
		}
		es := f.search(t, dn, ldap.ScopeBaseObject, "(objectClass=*)", "entryUUID")
		if len(es) != 1 {
			t.Fatalf("group %s: member %q has no entry", g.Name, dn)
		}
		g.Members = append(g.Members, es[0].GetAttributeValue("entryUUID"))
	}
	sort.Strings(g.Members)
	return g, true
}

func (f *ldapFixture) setGroupNote(t *testing.T, anchor, note string) {
	t.Helper()
	e := f.byAnchor(t, f.groups(), anchor)
	if e == nil {
		t.Fatalf("no group %s", anchor)
	}
	m := ldap.NewModifyRequest(e.DN, nil)
	m.Replace("description", []string{note})
	if err := f.conn.Modify(m); err != nil {
		t.Fatal(err)
	}
}

func (f *ldapFixture) insertGroup(t *testing.T, name string, members ...string) string {
	t.Helper()
	dns := []string{}
	for _, a := range members {
		e := f.byAnchor(t, f.people(), a)
		if e == nil {
			t.Fatalf("no user %s", a)
		}
		dns = append(dns, e.DN)
	}
	if len(dns) == 0 {
		dns = append(dns, f.srv.RootDN)
	}
	dn := "cn=" + ldap.EscapeDN(name) + "," + f.groups()
	r := ldap.NewAddRequest(dn, nil)
	r.Attribute("objectClass", []string{"groupOfNames"})
	r.Attribute("cn", []string{name})
	r.Attribute("member", dns)
	if err := f.conn.Add(r); err != nil {
		t.Fatalf("add %s: %v", dn, err)
	}
	es := f.search(t, dn, ldap.ScopeBaseObject, "(objectClass=*)", "entryUUID")
	return es[0].GetAttributeValue("entryUUID")
}

func (f *ldapFixture) deletes() bool { return true }

// ---- MariaDB ----

// mariaFixture is a database of the test's own holding the customer's
// users, groups and group_members tables, with one pre-existing user.
type mariaFixture struct {
	dsn string
	db  *sql.DB
}

func newMariaFixture(t *testing.T) *mariaFixture {
	t.Helper()
	_, _, dsn := testsupport.MySQLDatabase(t, "e2e")
	f := &mariaFixture{dsn: dsn}
	var err error
	if f.db, err = sql.Open("mysql", f.dsn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.db.Close() })
	for _, s := range []string{
		`CREATE TABLE users (
			id         bigint AUTO_INCREMENT PRIMARY KEY,
			login      varchar(255) NOT NULL,
			first_name varchar(255),
			last_name  varchar(255),
			full_name  varchar(255),
			mail       varchar(255),
			okta_id    varchar(255),
			dept       varchar(255),
			enabled    tinyint(1) NOT NULL DEFAULT 1,
			pw_hash    varchar(255),
			plan       varchar(32) NOT NULL DEFAULT 'free',
			note       varchar(255),
			UNIQUE KEY login_unique (login)) ENGINE=InnoDB`,
		"CREATE TABLE `groups` (id bigint AUTO_INCREMENT PRIMARY KEY, display_name varchar(255) NOT NULL, " +
			"external_id varchar(255), note varchar(255)) ENGINE=InnoDB",
		"CREATE TABLE group_members (group_id bigint NOT NULL, user_id bigint NOT NULL, " +
			"PRIMARY KEY (group_id, user_id), FOREIGN KEY (group_id) REFERENCES `groups` (id), " +
			"FOREIGN KEY (user_id) REFERENCES users (id)) ENGINE=InnoDB",
		`INSERT INTO users (login, first_name, last_name, full_name, mail, plan, note)
		 VALUES ('Pre.Existing@example.com', 'Pre', 'Existing', 'Pre Existing', 'pre.existing@example.com', '` + prePlan + `', '` + preNote + `')`,
	} {
		if _, err := f.db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// tenant is the MariaDB tenant's configuration (DSN from a file, bcrypt
// passwords, the deactivate policy, groups in `groups` and group_members).
func (f *mariaFixture) tenant(t *testing.T, id string) tenants.Tenant {
	t.Helper()
	dsnFile := filepath.Join(t.TempDir(), "dsn")
	if err := os.WriteFile(dsnFile, []byte(f.dsn), 0o600); err != nil {
		t.Fatal(err)
	}
	return tenants.Tenant{ID: id, Name: "E2E MariaDB " + id, Store: adapters.Config{
		Kind: adapters.KindMySQL, DSNFile: dsnFile,
		Users: adapters.UserMapping{
			Table: "users", Key: "id",
			Attributes: map[string]string{
				"userName": "login", "name.givenName": "first_name", "name.familyName": "last_name",
				"displayName": "full_name", `emails[type eq "work"].value`: "mail", "externalId": "okta_id",
				enterpriseURN + ":department": "dept",
			},
			Active:   &adapters.ActiveMapping{Column: "enabled"},
			Password: &adapters.PasswordMapping{Column: "pw_hash", Hash: "bcrypt", Cost: 5}, // cost 12 is ~10 s a hash under -race
			OnDelete: adapters.OnDeleteDeactivate,
		},
		Groups: &adapters.GroupMapping{
			Table: "groups", Key: "id",
			Attributes: map[string]string{"displayName": "display_name", "externalId": "external_id"},
			Members:    &adapters.MembersMapping{Table: "group_members", GroupColumn: "group_id", UserColumn: "user_id"},
		},
	}}
}

func (f *mariaFixture) user(t *testing.T, anchor string) (storeUser, bool) {
	t.Helper()
	return scanStoreUser(t, f.db.QueryRow(`SELECT `+storeUserColumns+` FROM users WHERE id = ?`, anchor))
}

// storeUserColumns are the columns of the fixtures' accounts table that
// scanStoreUser reads, in its order.
const storeUserColumns = `login, first_name, last_name, mail, okta_id, dept, enabled, plan, note`

// scanStoreUser reads a row of storeUserColumns; false when there is none.
func scanStoreUser(t *testing.T, row *sql.Row) (storeUser, bool) {
	t.Helper()
	var u storeUser
	var first, last, mail, okta, dept, note sql.NullString
	err := row.Scan(&u.UserName, &first, &last, &mail, &okta, &dept, &u.Active, &u.Plan, &note)
	if err == sql.ErrNoRows {
		return u, false
	}
	if err != nil {
		t.Fatal(err)
	}
	u.GivenName, u.FamilyName, u.Email, u.ExternalID, u.Department, u.Note = first.String, last.String, mail.String, okta.String, dept.String, note.String
	return u, true
}

func (f *mariaFixture) userCount(t *testing.T) int {
	t.Helper()
	var n int
	if err := f.db.QueryRow(`SELECT count(*) FROM users`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *mariaFixture) setPlan(t *testing.T, anchor, plan string) {
	t.Helper()
	if _, err := f.db.Exec(`UPDATE users SET plan = ? WHERE id = ?`, plan, anchor); err != nil {
		t.Fatal(err)
	}
}

func (f *mariaFixture) passwordVerifies(t *testing.T, anchor, password string) bool {
	t.Helper()
	var hash sql.NullString
	if err := f.db.QueryRow(`SELECT pw_hash FROM users WHERE id = ?`, anchor).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(hash.String, password) {
		t.Fatalf("the password column holds the password in clear")
	}
	return strings.HasPrefix(hash.String, "$2") && adapters.VerifyPassword(hash.String, password)
}

func (f *mariaFixture) group(t *testing.T, anchor string) (storeGroup, bool) {
	t.Helper()
	var g storeGroup
	var note sql.NullString
	err := f.db.QueryRow("SELECT display_name, note FROM `groups` WHERE id = ?", anchor).Scan(&g.Name, &note)
	if err == sql.ErrNoRows {
		return g, false
	}
	if err != nil {
		t.Fatal(err)
	}
	g.Note = note.String
	g.Members = sqlMembers(t, f.db, `SELECT user_id FROM group_members WHERE group_id = ?`, anchor)
	return g, true
}

// sqlMembers returns the user ids a membership query yields, sorted as
// strings (the anchors are decimal strings).
func sqlMembers(t *testing.T, db *sql.DB, query string, args ...any) []string {
	t.Helper()
	rows, err := db.Query(query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func (f *mariaFixture) setGroupNote(t *testing.T, anchor, note string) {
	t.Helper()
	if _, err := f.db.Exec("UPDATE `groups` SET note = ? WHERE id = ?", note, anchor); err != nil {
		t.Fatal(err)
	}
}

func (f *mariaFixture) insertGroup(t *testing.T, name string, members ...string) string {
	t.Helper()
	res, err := f.db.Exec("INSERT INTO `groups` (display_name) VALUES (?)", name)
	if err != nil {
		t.Fatal(err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		if _, err := f.db.Exec(`INSERT INTO group_members (group_id, user_id) VALUES (?, ?)`, id, m); err != nil {
			t.Fatal(err)
		}
	}
	return strconv.FormatInt(id, 10)
}

func (f *mariaFixture) deletes() bool { return false }

// ---- the shared sequences ----

// requireGroupStore guards a group sequence. It skips only a tenant whose
// configuration maps no groups (store.groups unset: the store genuinely
// keeps none). A tenant that maps groups must get, from the server's store
// pool, a store that implements adapters.GroupStore; anything else (the
// registry or the pool failing, a handle hiding the group methods, which
// the reconciler would answer by failing every group) fails the test.
func requireGroupStore(t *testing.T, ts *testServer, tenant string) {
	t.Helper()
	ctx := context.Background()
	ten, err := ts.app.registry.Get(ctx, tenant)
	if err != nil {
		t.Fatalf("tenant %s: %v", tenant, err)
	}
	if ten.Store.Groups == nil {
		t.Skipf("tenant %s maps no groups (its store.groups is not set)", tenant)
	}
	st, err := ts.app.stores.Store(ctx, tenant)
	if err != nil {
		t.Fatalf("store of %s: %v", tenant, err)
	}
	if _, ok := st.(adapters.GroupStore); !ok {
		t.Fatalf("tenant %s maps groups but its pooled store (%T) does not implement adapters.GroupStore: the reconciler would fail every group", tenant, st)
	}
}

// waitGroupApplied waits until the ledger says the group's latest version
// and all its membership changes are in the store.
func waitGroupApplied(t *testing.T, a *app, tenant, id string) *syncsvc.Record {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := a.ledger.GetGroup(context.Background(), tenant, id)
		if err == nil && r.State() == syncsvc.StateApplied {
			return r
		}
		if err == nil && r.State() == syncsvc.StateFailed {
			t.Fatalf("group %s failed in the store: %s", id, r.Failure)
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s not applied: %+v %v", id, r, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitStore polls the store until done reports true (the worker applies
// in the background; used where the ledger keeps no applied state, such
// as a deleted group).
func waitStore(t *testing.T, what string, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("the store never showed: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func patchOp(ops ...map[string]any) map[string]any {
	list := make([]any, len(ops))
	for i, o := range ops {
		list[i] = o
	}
	return map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": list}
}

func sortedStrings(s ...string) []string {
	out := append([]string{}, s...)
	sort.Strings(out)
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// lifecycleUsers are the users a lifecycle run leaves behind: SCIM ids and
// store anchors.
type lifecycleUsers struct {
	preID, janeID, bobID             string
	preAnchor, janeAnchor, bobAnchor string
}

// runOktaLifecycle follows Okta's user lifecycle (idp-behaviour.md §2-5 and
// Entra's disable) against one tenant and checks its store after each step.
func runOktaLifecycle(t *testing.T, ts *testServer, tenant string, c *scimClient, v storeView) lifecycleUsers {
	var out lifecycleUsers
	startCount := v.userCount(t)

	// Okta's existence check finds the pre-existing entry (case-insensitively)
	// and links to it: adopted, not duplicated.
	status, list := c.do("GET", "/Users?filter="+urlq(`userName eq "`+strings.ToUpper(preUserName)+`"`)+"&startIndex=1&count=100", nil)
	if status != 200 || list["totalResults"] != float64(1) {
		t.Fatalf("existence check of the pre-existing entry: %d %v", status, list)
	}
	pre := list["Resources"].([]any)[0].(map[string]any)
	out.preID = pre["id"].(string)
	if !strings.EqualFold(pre["userName"].(string), preUserName) || pre["name"].(map[string]any)["familyName"] != "Existing" {
		t.Fatalf("adopted user: %v", pre)
	}
	// Okta then PUTs it back (without active): the same entry changes, the
	// unmapped plan and note stay.
	pre["name"] = map[string]any{"givenName": "Pre", "familyName": "Renamed"}
	pre["externalId"] = "00upre"
	delete(pre, "active")
	if status, body := c.do("PUT", "/Users/"+out.preID, pre); status != 200 || body["active"] != true {
		t.Fatalf("PUT of the adopted user: %d %v", status, body)
	}
	out.preAnchor = waitApplied(t, ts.app, tenant, out.preID).Anchor
	if u, ok := v.user(t, out.preAnchor); !ok || u.FamilyName != "Renamed" || u.ExternalID != "00upre" || !u.Active || u.Plan != prePlan || u.Note != preNote {
		t.Fatalf("adopted entry after PUT: %+v (found %v)", u, ok)
	}
	if n := v.userCount(t); n != startCount {
		t.Fatalf("adoption changed the number of entries: %d → %d", startCount, n)
	}

	// Create.
	status, u := c.do("POST", "/Users", map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User", enterpriseURN},
		"userName": "jane@example.com", "name": map[string]any{"givenName": "Jane", "familyName": "Doe"},
		"emails":      []any{map[string]any{"primary": true, "value": "jane@example.com", "type": "work"}},
		"displayName": "Jane Doe", "locale": "en-US", "externalId": "00ujl29u0le5T6Aj10h7",
		"groups": []any{}, "password": "1mz050nq-Secret", "active": true,
		enterpriseURN: map[string]any{"department": "Legal"},
	})
	if status != 201 {
		t.Fatalf("create: %d %v", status, u)
	}
	out.janeID = u["id"].(string)
	out.janeAnchor = waitApplied(t, ts.app, tenant, out.janeID).Anchor
	jane, ok := v.user(t, out.janeAnchor)
	if !ok || jane.UserName != "jane@example.com" || jane.GivenName != "Jane" || jane.FamilyName != "Doe" ||
		jane.Email != "jane@example.com" || jane.ExternalID != "00ujl29u0le5T6Aj10h7" || jane.Department != "Legal" || !jane.Active {
		t.Fatalf("created entry: %+v (found %v)", jane, ok)
	}
	if !v.passwordVerifies(t, out.janeAnchor, "1mz050nq-Secret") {
		t.Fatal("the store does not accept the password Okta set")
	}
	// The customer's own application changes an unmapped field.
	v.setPlan(t, out.janeAnchor, "pro")

	// Update: GET, then PUT of the whole object without active.
	_, got := c.do("GET", "/Users/"+out.janeID, nil)
	got["name"].(map[string]any)["familyName"] = "Smith"
	delete(got, "active")
	if status, body := c.do("PUT", "/Users/"+out.janeID, got); status != 200 || body["active"] != true {
		t.Fatalf("PUT: %d %v", status, body)
	}
	waitApplied(t, ts.app, tenant, out.janeID)
	if jane, _ := v.user(t, out.janeAnchor); jane.FamilyName != "Smith" || !jane.Active || jane.Plan != "pro" || jane.Department != "Legal" {
		t.Fatalf("entry after PUT: %+v", jane)
	}
	if !v.passwordVerifies(t, out.janeAnchor, "1mz050nq-Secret") {
		t.Fatal("a PUT without password changed the password")
	}

	// Deactivate and reactivate with Okta's path-less PATCH.
	for _, active := range []bool{false, true} {
		status, body := c.do("PATCH", "/Users/"+out.janeID, patchOp(map[string]any{"op": "replace", "value": map[string]any{"active": active}}))
		if status != 200 || body["active"] != active {
			t.Fatalf("PATCH active=%v: %d %v", active, status, body)
		}
		waitApplied(t, ts.app, tenant, out.janeID)
		if jane, _ := v.user(t, out.janeAnchor); jane.Active != active || jane.Plan != "pro" || jane.FamilyName != "Smith" {
			t.Fatalf("entry after active=%v: %+v", active, jane)
		}
	}

	// Entra's disable (a "False" string on a path), then "True" again.
	for _, active := range []string{"False", "True"} {
		status, body := c.do("PATCH", "/Users/"+out.janeID, patchOp(map[string]any{"op": "Replace", "path": "active", "value": active}))
		if status != 200 || body["active"] != (active == "True") {
			t.Fatalf("Entra active %s: %d %v", active, status, body)
		}
		waitApplied(t, ts.app, tenant, out.janeID)
		if jane, _ := v.user(t, out.janeAnchor); jane.Active != (active == "True") || jane.Plan != "pro" {
			t.Fatalf("entry after Entra active %s: %+v", active, jane)
		}
	}

	// A second user for the group sequences.
	status, b := c.do("POST", "/Users", map[string]any{
		"userName": "bob@example.com", "name": map[string]any{"givenName": "Bob", "familyName": "Builder"},
		"emails": []any{map[string]any{"value": "bob@example.com", "type": "work"}}, "active": true,
	})
	if status != 201 {
		t.Fatalf("create bob: %d %v", status, b)
	}
	out.bobID = b["id"].(string)
	out.bobAnchor = waitApplied(t, ts.app, tenant, out.bobID).Anchor
	if n := v.userCount(t); n != startCount+2 {
		t.Fatalf("%d entries, want %d", n, startCount+2)
	}
	return out
}

// runOktaPushGroups follows Okta's Push Groups (idp-behaviour.md §6) and
// checks the group entry and its membership in the store after each step.
func runOktaPushGroups(t *testing.T, ts *testServer, tenant string, c *scimClient, v storeView, us lifecycleUsers) {
	requireGroupStore(t, ts, tenant)
	member := func(id, display string) map[string]any { return map[string]any{"value": id, "display": display} }

	// A group that exists only in the store is found by Okta's
	// existence check (case-insensitively) and adopted with the members
	// the ledger knows; a push to it changes that same entry.
	existing := v.insertGroup(t, "Existing Team", us.preAnchor)
	status, list := c.do("GET", "/Groups?filter="+urlq(`displayName eq "EXISTING TEAM"`)+"&startIndex=1&count=100", nil)
	if status != 200 || list["totalResults"] != float64(1) {
		t.Fatalf("existence check of a store-only group: %d %v", status, list)
	}
	eg := list["Resources"].([]any)[0].(map[string]any)
	egID, _ := eg["id"].(string)
	if ms, _ := eg["members"].([]any); eg["displayName"] != "Existing Team" || len(ms) != 1 || ms[0].(map[string]any)["value"] != us.preID {
		t.Fatalf("adopted group: %v", eg)
	}
	status, body := c.do("PATCH", "/Groups/"+egID, patchOp(map[string]any{"op": "add", "path": "members", "value": []any{member(us.bobID, "bob@example.com")}}))
	if status != 200 && status != 204 {
		t.Fatalf("PATCH adopted group: %d %v", status, body)
	}
	if a := waitGroupApplied(t, ts.app, tenant, egID).Anchor; a != existing {
		t.Fatalf("adopted group's anchor %q, want the store entry %q", a, existing)
	}
	if got, ok := v.group(t, existing); !ok || got.Name != "Existing Team" || !equalStrings(got.Members, sortedStrings(us.preAnchor, us.bobAnchor)) {
		t.Fatalf("adopted group in the store after a push: %+v (found %v)", got, ok)
	}

	status, list = c.do("GET", "/Groups?filter="+urlq(`displayName eq "Engineering"`)+"&startIndex=1&count=100", nil)
	if status != 200 || list["totalResults"] != float64(0) {
		t.Fatalf("group existence check: %d %v", status, list)
	}
	status, g := c.do("POST", "/Groups", map[string]any{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Engineering", "members": []any{},
	})
	if status != 201 {
		t.Fatalf("POST /Groups: %d %v", status, g)
	}
	gid := g["id"].(string)
	anchor := waitGroupApplied(t, ts.app, tenant, gid).Anchor
	check := func(step, name string, members ...string) {
		t.Helper()
		got, ok := v.group(t, anchor)
		if !ok || got.Name != name || !equalStrings(got.Members, sortedStrings(members...)) {
			t.Fatalf("%s: store group %+v (found %v), want %q with members %v", step, got, ok, name, sortedStrings(members...))
		}
	}
	check("after POST", "Engineering")
	v.setGroupNote(t, anchor, "owned by IT")

	status, body = c.do("PATCH", "/Groups/"+gid, patchOp(map[string]any{
		"op": "add", "path": "members", "value": []any{member(us.janeID, "jane@example.com"), member(us.bobID, "bob@example.com")},
	}))
	if status != 200 && status != 204 {
		t.Fatalf("PATCH add members: %d %v", status, body)
	}
	waitGroupApplied(t, ts.app, tenant, gid)
	check("after adding jane and bob", "Engineering", us.janeAnchor, us.bobAnchor)

	// Okta's mixed PATCH: a rename carrying the read-only id, a removal by
	// value filter, an addition.
	status, body = c.do("PATCH", "/Groups/"+gid, patchOp(
		map[string]any{"op": "replace", "value": map[string]any{"id": gid, "displayName": "Engineering EU"}},
		map[string]any{"op": "remove", "path": `members[value eq "` + us.janeID + `"]`},
		map[string]any{"op": "add", "path": "members", "value": []any{member(us.preID, preUserName)}},
	))
	if status != 200 && status != 204 {
		t.Fatalf("Okta mixed group PATCH: %d %v", status, body)
	}
	waitGroupApplied(t, ts.app, tenant, gid)
	check("after the rename PATCH", "Engineering EU", us.bobAnchor, us.preAnchor)
	if got, _ := v.group(t, anchor); got.Note != "owned by IT" {
		t.Fatalf("the unmapped group note changed: %+v", got)
	}

	// A whole replace of members.
	status, body = c.do("PATCH", "/Groups/"+gid, patchOp(map[string]any{
		"op": "replace", "path": "members", "value": []any{member(us.janeID, "jane@example.com")},
	}))
	if status != 200 && status != 204 {
		t.Fatalf("PATCH replace members: %d %v", status, body)
	}
	waitGroupApplied(t, ts.app, tenant, gid)
	check("after replacing members", "Engineering EU", us.janeAnchor)
	status, body = c.do("GET", "/Groups/"+gid, nil)
	if ms, _ := body["members"].([]any); status != 200 || len(ms) != 1 || ms[0].(map[string]any)["value"] != us.janeID {
		t.Fatalf("GET group after replace: %d %v", status, body)
	}

	// Emptying the group must work (groupOfNames keeps a placeholder).
	status, body = c.do("PATCH", "/Groups/"+gid, patchOp(map[string]any{"op": "remove", "path": "members"}))
	if status != 200 && status != 204 {
		t.Fatalf("PATCH remove all members: %d %v", status, body)
	}
	waitGroupApplied(t, ts.app, tenant, gid)
	check("after removing every member", "Engineering EU")

	if status, body := c.do("DELETE", "/Groups/"+gid, nil); status != 204 {
		t.Fatalf("DELETE group: %d %v", status, body)
	}
	if status, _ := c.do("GET", "/Groups/"+gid, nil); status != 404 {
		t.Fatalf("GET deleted group: %d", status)
	}
	waitStore(t, "group "+gid+" deleted", func() bool { _, ok := v.group(t, anchor); return !ok })
	for _, a := range []string{us.janeAnchor, us.bobAnchor, us.preAnchor} {
		if _, ok := v.user(t, a); !ok {
			t.Fatalf("deleting the group removed member user %s", a)
		}
	}
}

// runDeleteUser DELETEs the adopted user and checks the store per the
// tenant's delete policy.
func runDeleteUser(t *testing.T, ts *testServer, tenant string, c *scimClient, v storeView, us lifecycleUsers) {
	before := v.userCount(t)
	if status, body := c.do("DELETE", "/Users/"+us.preID, nil); status != 204 {
		t.Fatalf("DELETE: %d %v", status, body)
	}
	if status, _ := c.do("GET", "/Users/"+us.preID, nil); status != 404 {
		t.Fatalf("GET after DELETE: %d", status)
	}
	waitDeleted(t, ts.app, tenant, us.preID)
	u, ok := v.user(t, us.preAnchor)
	switch {
	case v.deletes() && (ok || v.userCount(t) != before-1):
		t.Fatalf("the delete policy left the entry: %+v", u)
	case !v.deletes() && (!ok || u.Active || u.Plan != prePlan || v.userCount(t) != before):
		t.Fatalf("the deactivate policy: entry %+v (found %v)", u, ok)
	}
	if jane, ok := v.user(t, us.janeAnchor); !ok || !jane.Active {
		t.Fatalf("deleting one user touched another: %+v", jane)
	}
}

// TestTwoStoreKindsInOneServer serves an OpenLDAP tenant and a MariaDB
// tenant from one process, runs Okta's lifecycle and Push Groups against
// both at once, and checks each directory and table.
func TestTwoStoreKindsInOneServer(t *testing.T) { testTwoStoreKindsInOneServer(t, e2eTopology(t)) }

func testTwoStoreKindsInOneServer(t *testing.T, topo testsupport.RedisTopology) {
	srv := ldaptest.New(t)
	lf := newLDAPFixture(t, srv)
	mf := newMariaFixture(t)
	ts := startTestServer(t, testConfigOn(t, topo, lf.tenant("dir-co"), mf.tenant(t, "sql-co")), serverOptions{})

	type run struct {
		tenant string
		view   storeView
		client *scimClient
		users  lifecycleUsers
	}
	runs := []*run{{tenant: "dir-co", view: lf}, {tenant: "sql-co", view: mf}}
	keys := map[string]string{}
	for _, r := range runs {
		keys[r.tenant] = "Bearer " + newKey(t, ts.app, r.tenant)
	}
	t.Run("tenants", func(t *testing.T) {
		for _, r := range runs {
			t.Run(r.tenant, func(t *testing.T) {
				t.Parallel()
				r.client = &scimClient{t: t, base: ts.url + "/scim/" + r.tenant + "/v2", auth: keys[r.tenant]}
				r.users = runOktaLifecycle(t, ts, r.tenant, r.client, r.view)
				runOktaPushGroups(t, ts, r.tenant, r.client, r.view, r.users)
			})
		}
	})
	if t.Failed() {
		return
	}

	// Each tenant's key sees only its own users, by id, by filter and in
	// the listing; the other tenant's base URL refuses the key.
	for i, r := range runs {
		other := runs[1-i]
		c := &scimClient{t: t, base: ts.url + "/scim/" + r.tenant + "/v2", auth: keys[r.tenant]}
		for _, id := range []string{other.users.janeID, other.users.bobID} {
			if status, body := c.do("GET", "/Users/"+id, nil); status != 404 {
				t.Fatalf("%s sees %s's user %s: %d %v", r.tenant, other.tenant, id, status, body)
			}
			if status, body := c.do("PATCH", "/Users/"+id, patchOp(map[string]any{"op": "replace", "path": "active", "value": false})); status != 404 {
				t.Fatalf("%s can patch %s's user %s: %d %v", r.tenant, other.tenant, id, status, body)
			}
		}
		status, list := c.do("GET", "/Users?startIndex=1&count=100", nil)
		if status != 200 || list["totalResults"] != float64(3) {
			t.Fatalf("%s lists %v users (%d), want its own 3", r.tenant, list["totalResults"], status)
		}
		for _, res := range list["Resources"].([]any) {
			id := res.(map[string]any)["id"].(string)
			if id != r.users.preID && id != r.users.janeID && id != r.users.bobID {
				t.Fatalf("%s lists a user that is not its own: %v", r.tenant, res)
			}
		}
		cross := &scimClient{t: t, base: ts.url + "/scim/" + other.tenant + "/v2", auth: keys[r.tenant]}
		if status, _ := cross.do("GET", "/Users?startIndex=1&count=2", nil); status != 401 && status != 403 && status != 404 {
			t.Fatalf("%s's key on %s's base URL: %d", r.tenant, other.tenant, status)
		}
	}
	// The other tenant's PATCH attempts changed nothing in either store.
	for _, r := range runs {
		if u, _ := r.view.user(t, r.users.bobAnchor); !u.Active {
			t.Fatalf("%s: bob was deactivated through another tenant", r.tenant)
		}
	}

	for _, r := range runs {
		t.Run("delete/"+r.tenant, func(t *testing.T) {
			c := &scimClient{t: t, base: ts.url + "/scim/" + r.tenant + "/v2", auth: keys[r.tenant]}
			runDeleteUser(t, ts, r.tenant, c, r.view, r.users)
		})
	}
}

// entrySnapshot returns an entry's user attributes (sorted values) for
// before/after comparisons; nil when there is no entry at dn.
func (f *ldapFixture) entrySnapshot(t *testing.T, dn string) map[string][]string {
	t.Helper()
	es := f.search(t, dn, ldap.ScopeBaseObject, "(objectClass=*)", "*")
	if len(es) == 0 {
		return nil
	}
	out := map[string][]string{}
	for _, a := range es[0].Attributes {
		out[strings.ToLower(a.Name)] = sortedStrings(a.Values...)
	}
	return out
}

func sameSnapshot(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !equalStrings(v, b[k]) {
			return false
		}
	}
	return true
}

// TestLDAPInjectionThroughAPI sends userNames built to break out of an LDAP
// filter (`*)(uid=*`) or a DN (`a,ou=admins`) through the SCIM API and
// checks in the directory that they are stored literally, never widen a
// search, and never place or move an entry outside the users' OU level.
func TestLDAPInjectionThroughAPI(t *testing.T) {
	redisAddr := testsupport.RedisDB(t, e2eRedisDB)
	srv := ldaptest.New(t)
	lf := newLDAPFixture(t, srv)
	// ou=admins below ou=people holding uid=a: exactly where an unescaped
	// "uid=a,ou=admins" RDN would land (and collide).
	admins := "ou=admins," + lf.people()
	adminDN := "uid=a," + admins
	for _, r := range []*ldap.AddRequest{
		func() *ldap.AddRequest {
			r := ldap.NewAddRequest(admins, nil)
			r.Attribute("objectClass", []string{"organizationalUnit"})
			r.Attribute("ou", []string{"admins"})
			return r
		}(),
		func() *ldap.AddRequest {
			r := ldap.NewAddRequest(adminDN, nil)
			r.Attribute("objectClass", []string{"inetOrgPerson", "fixtureUser"})
			r.Attribute("uid", []string{"a"})
			r.Attribute("cn", []string{"Admin"})
			r.Attribute("sn", []string{"Admin"})
			r.Attribute("fixtureActive", []string{"TRUE"})
			r.Attribute("fixturePlan", []string{"root"})
			return r
		}(),
	} {
		if err := lf.conn.Add(r); err != nil {
			t.Fatalf("add %s: %v", r.DN, err)
		}
	}
	adminBefore := lf.entrySnapshot(t, adminDN)
	preDN := "uid=" + ldap.EscapeDN(preUserName) + "," + lf.people()
	preBefore := lf.entrySnapshot(t, preDN)
	const tenant = "inject"
	ts := startTestServer(t, testConfig(t, redisAddr, lf.tenant(tenant)), serverOptions{})
	c := &scimClient{t: t, base: ts.url + "/scim/" + tenant + "/v2", auth: "Bearer " + newKey(t, ts.app, tenant)}
	untouched := func(step string) {
		t.Helper()
		if got := lf.entrySnapshot(t, adminDN); !sameSnapshot(got, adminBefore) {
			t.Fatalf("%s: the admin entry changed: %v → %v", step, adminBefore, got)
		}
		if got := lf.entrySnapshot(t, preDN); !sameSnapshot(got, preBefore) {
			t.Fatalf("%s: the pre-existing entry changed: %v → %v", step, preBefore, got)
		}
		if n := len(lf.search(t, admins, ldap.ScopeWholeSubtree, "(objectClass=*)", "1.1")); n != 2 {
			t.Fatalf("%s: ou=admins holds %d entries, want itself and uid=a", step, n)
		}
	}
	countUsers := func(filter string) float64 {
		t.Helper()
		status, list := c.do("GET", "/Users?filter="+urlq(filter)+"&startIndex=1&count=100", nil)
		if status != 200 {
			t.Fatalf("GET filter %s: %d %v", filter, status, list)
		}
		return list["totalResults"].(float64)
	}

	// Existence checks with wildcard-shaped values match nothing although
	// the OU holds entries.
	for _, name := range []string{"*)(uid=*", "*", "a*", "*)(|(objectClass=*"} {
		if n := countUsers(`userName eq "` + name + `"`); n != 0 {
			t.Fatalf("existence check of %q matched %v entries", name, n)
		}
	}

	create := func(userName string) (id, anchor string) {
		t.Helper()
		status, u := c.do("POST", "/Users", map[string]any{
			"userName": userName, "name": map[string]any{"givenName": "In", "familyName": "Jection"}, "active": true,
			// displayName maps to cn, which inetOrgPerson requires.
			"displayName": userName,
		})
		if status != 201 {
			t.Fatalf("create %q: %d %v", userName, status, u)
		}
		id = u["id"].(string)
		return id, waitApplied(t, ts.app, tenant, id).Anchor
	}
	// checkEntry finds the entry by anchor: uid holds userName literally
	// and the entry sits directly below ou=people (lf.user checks that).
	checkEntry := func(anchor, userName string) {
		t.Helper()
		u, ok := lf.user(t, anchor)
		if !ok || u.UserName != userName {
			t.Fatalf("entry %s: %+v (found %v), want uid %q", anchor, u, ok, userName)
		}
		es := lf.search(t, lf.people(), ldap.ScopeWholeSubtree, "(uid="+ldap.EscapeFilter(userName)+")", "entryUUID")
		if len(es) != 1 || es[0].GetAttributeValue("entryUUID") != anchor {
			t.Fatalf("uid %q: %d entries", userName, len(es))
		}
	}

	starID, starAnchor := create("*)(uid=*")
	checkEntry(starAnchor, "*)(uid=*")
	untouched("create *)(uid=*")
	if n := countUsers(`userName eq "*)(uid=*"`); n != 1 {
		t.Fatalf("the literal userName matched %v users, want 1", n)
	}

	commaID, commaAnchor := create("a,ou=admins")
	checkEntry(commaAnchor, "a,ou=admins")
	untouched("create a,ou=admins")
	if n := countUsers(`userName eq "a,ou=admins"`); n != 1 {
		t.Fatalf("the comma userName matched %v users, want 1", n)
	}

	// Updates reach only the entry of the user.
	status, body := c.do("PATCH", "/Users/"+starID, patchOp(map[string]any{"op": "replace", "path": "name.familyName", "value": "Changed"}))
	if status != 200 {
		t.Fatalf("PATCH: %d %v", status, body)
	}
	waitApplied(t, ts.app, tenant, starID)
	if u, _ := lf.user(t, starAnchor); u.FamilyName != "Changed" {
		t.Fatalf("PATCH did not reach the entry: %+v", u)
	}
	if u, _ := lf.user(t, commaAnchor); u.FamilyName != "Jection" {
		t.Fatalf("PATCH of one user changed another: %+v", u)
	}
	untouched("PATCH")

	// A rename (ModifyDN) to another DN-shaped name keeps the entry below
	// ou=people with the same anchor.
	status, body = c.do("PATCH", "/Users/"+commaID, patchOp(map[string]any{"op": "replace", "path": "userName", "value": "b,ou=admins+cn=x"}))
	if status != 200 {
		t.Fatalf("rename: %d %v", status, body)
	}
	waitApplied(t, ts.app, tenant, commaID)
	checkEntry(commaAnchor, "b,ou=admins+cn=x")
	untouched("rename")

	// DELETE (the delete policy) removes that entry and nothing else.
	before := lf.userCount(t)
	if status, _ := c.do("DELETE", "/Users/"+starID, nil); status != 204 {
		t.Fatalf("DELETE: %d", status)
	}
	waitDeleted(t, ts.app, tenant, starID)
	if _, ok := lf.user(t, starAnchor); ok || lf.userCount(t) != before-1 {
		t.Fatalf("DELETE: entry still there or %d users (was %d)", lf.userCount(t), before)
	}
	checkEntry(commaAnchor, "b,ou=admins+cn=x")
	untouched("DELETE")

	t.Run("group names", func(t *testing.T) {
		requireGroupStore(t, ts, tenant)
		c := &scimClient{t: t, base: c.base, auth: c.auth}
		const name = "x,ou=people+cn=*)(cn=*"
		status, g := c.do("POST", "/Groups", map[string]any{"displayName": name, "members": []any{map[string]any{"value": commaID}}})
		if status != 201 {
			t.Fatalf("POST /Groups: %d %v", status, g)
		}
		gid := g["id"].(string)
		anchor := waitGroupApplied(t, ts.app, tenant, gid).Anchor
		e := lf.byAnchor(t, lf.groups(), anchor)
		if e == nil || e.GetAttributeValue("cn") != name || !childOf(e.DN, lf.groups()) {
			t.Fatalf("group entry: %v", e)
		}
		if got, _ := lf.group(t, anchor); !equalStrings(got.Members, []string{commaAnchor}) {
			t.Fatalf("group members: %+v", got)
		}
		status, list := c.do("GET", "/Groups?filter="+urlq(`displayName eq "*"`)+"&startIndex=1&count=100", nil)
		if status != 200 || list["totalResults"] != float64(0) {
			t.Fatalf("group filter * : %d %v", status, list)
		}
		if n := len(lf.search(t, lf.people(), ldap.ScopeWholeSubtree, "(objectClass=groupOfNames)", "1.1")); n != 0 {
			t.Fatalf("%d groups below ou=people", n)
		}
		untouched("group")
	})
}
