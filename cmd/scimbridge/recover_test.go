package main

// Disaster recovery end to end: an Okta lifecycle and Push Groups against
// a PostgreSQL tenant and an OpenLDAP tenant that keep the SCIM id in the
// store, then the tenants' Redis data deleted, then `scimbridge recover`
// (and backup/restore) through the command line, checked by GETs by the
// old ids and Okta's spec test. They reuse e2e_test.go's helpers (Redis db
// 9, not in parallel with the other e2e tests).

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/adapters/ldapstore/ldaptest"
	"github.com/scimbridge/scimbridge/internal/testsupport"
	syncsvc "github.com/scimbridge/scimbridge/sync"
	"github.com/scimbridge/scimbridge/tenants"
)

// ---- a PostgreSQL store view keeping the SCIM id ----

// pgFixture is a schema of the test's own holding the customer's accounts,
// groups and group_members tables (with a scim_id column each), with one
// pre-existing account.
type pgFixture struct {
	db     *sql.DB
	schema string
}

func newPGFixture(t *testing.T) *pgFixture {
	t.Helper()
	db, schema := testsupport.PostgresSchema(t, "dr")
	f := &pgFixture{db: db, schema: schema}
	for _, s := range []string{
		`CREATE TABLE ` + schema + `.accounts (
			id bigserial PRIMARY KEY, login text NOT NULL, first_name text, last_name text, full_name text,
			mail text, okta_id text, dept text, enabled boolean NOT NULL DEFAULT true, pw_hash text,
			plan text NOT NULL DEFAULT 'free', note text, scim_id text)`,
		`CREATE TABLE ` + schema + `.groups (id bigserial PRIMARY KEY, display_name text NOT NULL, external_id text,
			note text, scim_id text)`,
		`CREATE TABLE ` + schema + `.group_members (
			group_id bigint NOT NULL REFERENCES ` + schema + `.groups (id),
			user_id bigint NOT NULL REFERENCES ` + schema + `.accounts (id), PRIMARY KEY (group_id, user_id))`,
		`INSERT INTO ` + schema + `.accounts (login, first_name, last_name, full_name, mail, plan, note)
		 VALUES ('Pre.Existing@example.com', 'Pre', 'Existing', 'Pre Existing', 'pre.existing@example.com', '` + prePlan + `', '` + preNote + `')`,
	} {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// tenant maps the SCIM id of users and groups to scim_id columns.
func (f *pgFixture) tenant(id string) tenants.Tenant {
	return tenants.Tenant{ID: id, Name: "DR PostgreSQL " + id, Store: adapters.Config{
		Kind: "postgres", DSN: testsupport.PostgresDSN(),
		Users: adapters.UserMapping{
			Table: f.schema + ".accounts", Key: "id",
			Attributes: map[string]string{
				"id": "scim_id", "userName": "login", "name.givenName": "first_name", "name.familyName": "last_name",
				"displayName": "full_name", `emails[type eq "work"].value`: "mail", "externalId": "okta_id",
				enterpriseURN + ":department": "dept",
			},
			Active:   &adapters.ActiveMapping{Column: "enabled"},
			Password: &adapters.PasswordMapping{Column: "pw_hash", Hash: "bcrypt", Cost: 5},
			OnDelete: adapters.OnDeleteDeactivate,
		},
		Groups: &adapters.GroupMapping{
			Table: f.schema + ".groups", Key: "id",
			Attributes: map[string]string{"id": "scim_id", "displayName": "display_name", "externalId": "external_id"},
			Members:    &adapters.MembersMapping{Table: f.schema + ".group_members", GroupColumn: "group_id", UserColumn: "user_id"},
		},
	}}
}

func (f *pgFixture) user(t *testing.T, anchor string) (storeUser, bool) {
	t.Helper()
	return scanStoreUser(t, f.db.QueryRow(`SELECT `+storeUserColumns+` FROM `+f.schema+`.accounts WHERE id = $1`, anchor))
}

func (f *pgFixture) userCount(t *testing.T) int {
	t.Helper()
	var n int
	if err := f.db.QueryRow(`SELECT count(*) FROM ` + f.schema + `.accounts`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *pgFixture) setPlan(t *testing.T, anchor, plan string) {
	t.Helper()
	if _, err := f.db.Exec(`UPDATE `+f.schema+`.accounts SET plan = $1 WHERE id = $2`, plan, anchor); err != nil {
		t.Fatal(err)
	}
}

func (f *pgFixture) passwordVerifies(t *testing.T, anchor, password string) bool {
	t.Helper()
	var hash sql.NullString
	if err := f.db.QueryRow(`SELECT pw_hash FROM `+f.schema+`.accounts WHERE id = $1`, anchor).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	return strings.HasPrefix(hash.String, "$2") && adapters.VerifyPassword(hash.String, password)
}

func (f *pgFixture) group(t *testing.T, anchor string) (storeGroup, bool) {
	t.Helper()
	var g storeGroup
	var note sql.NullString
	err := f.db.QueryRow(`SELECT display_name, note FROM `+f.schema+`.groups WHERE id = $1`, anchor).Scan(&g.Name, &note)
	if err == sql.ErrNoRows {
		return g, false
	}
	if err != nil {
		t.Fatal(err)
	}
	g.Note = note.String
	g.Members = sqlMembers(t, f.db, `SELECT user_id::text FROM `+f.schema+`.group_members WHERE group_id = $1`, anchor)
	return g, true
}

func (f *pgFixture) setGroupNote(t *testing.T, anchor, note string) {
	t.Helper()
	if _, err := f.db.Exec(`UPDATE `+f.schema+`.groups SET note = $1 WHERE id = $2`, note, anchor); err != nil {
		t.Fatal(err)
	}
}

func (f *pgFixture) insertGroup(t *testing.T, name string, members ...string) string {
	t.Helper()
	var id int64
	if err := f.db.QueryRow(`INSERT INTO `+f.schema+`.groups (display_name) VALUES ($1) RETURNING id`, name).Scan(&id); err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		if _, err := f.db.Exec(`INSERT INTO `+f.schema+`.group_members (group_id, user_id) VALUES ($1, $2)`, id, m); err != nil {
			t.Fatal(err)
		}
	}
	return strconv.FormatInt(id, 10)
}

func (f *pgFixture) deletes() bool { return false }

// ---- helpers ----

// drTenant is one tenant of the disaster recovery tests.
type drTenant struct {
	id    string
	view  storeView
	users lifecycleUsers
}

// ldapDRTenant is the LDAP fixture's tenant keeping the SCIM id of users
// in employeeType and of groups in ou (attributes inetOrgPerson and
// groupOfNames allow and the fixture leaves unused).
func ldapDRTenant(f *ldapFixture, id string) tenants.Tenant {
	ten := f.tenant(id)
	ten.Store.Users.Attributes["id"] = "employeeType"
	ten.Store.Groups.Attributes["id"] = "ou"
	return ten
}

// scimSnapshot is what the IdP sees of a tenant: every user and group
// (with members) by id, as the listing returns them.
func scimSnapshot(t *testing.T, c *scimClient) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, path := range []string{"/Users", "/Groups"} {
		status, list := c.do("GET", path+"?startIndex=1&count=200", nil)
		if status != 200 {
			t.Fatalf("GET %s: %d %v", path, status, list)
		}
		res, _ := list["Resources"].([]any)
		for _, r := range res {
			m := r.(map[string]any)
			id := m["id"].(string)
			status, one := c.do("GET", path+"/"+id, nil)
			if status != 200 {
				t.Fatalf("GET %s/%s: %d %v", path, id, status, one)
			}
			out[path+"/"+id] = one
		}
	}
	return out
}

// storeShape is a resource reduced to what the tenant maps to its store
// (what a recover can give back) plus its members as ids.
func storeShape(r map[string]any) map[string]any {
	out := map[string]any{}
	for _, k := range []string{"id", "userName", "displayName", "externalId", "active"} {
		if v, ok := r[k]; ok {
			out[k] = v
		}
	}
	if n, ok := r["name"].(map[string]any); ok {
		out["name"] = map[string]any{"givenName": n["givenName"], "familyName": n["familyName"]}
	}
	if ems, ok := r["emails"].([]any); ok {
		var vals []string
		for _, e := range ems {
			if v, ok := e.(map[string]any)["value"].(string); ok {
				vals = append(vals, strings.ToLower(v))
			}
		}
		sort.Strings(vals)
		out["emails"] = vals
	}
	if ent, ok := r[enterpriseURN].(map[string]any); ok && ent["department"] != nil {
		out["department"] = ent["department"]
	}
	if ms, ok := r["members"].([]any); ok {
		var ids []string
		for _, m := range ms {
			ids = append(ids, m.(map[string]any)["value"].(string))
		}
		sort.Strings(ids)
		out["members"] = ids
	} else if r["schemas"] != nil && strings.Contains(toJSON(r["schemas"]), "Group") {
		out["members"] = []string(nil)
	}
	return out
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// loseRedisData loses the whole Redis database, as a lost Redis volume
// would: FLUSHDB of the test's own database, not only the tenant's keys
// (its ledger, its record, its keys, the tenants set, the queues, every
// other tenant's data all go). The tenant must have had data to lose.
func loseRedisData(t *testing.T, rdb *redis.Client, tenant string) {
	t.Helper()
	ctx := context.Background()
	if n, err := rdb.Keys(ctx, "sb:{"+tenant+"}:*").Result(); err != nil || len(n) == 0 {
		t.Fatalf("tenant %s has no Redis data to lose (%v)", tenant, err)
	}
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	// The running worker may write its own bookkeeping again at once (the
	// sweeper's lock, asynq's heartbeats); the tenants' data stays gone.
	for _, pattern := range []string{"sb:{*", "sb:key:*", "sb:tenants"} {
		if n, err := rdb.Keys(ctx, pattern).Result(); err != nil || len(n) != 0 {
			t.Fatalf("keys left after the loss: %v %v", n, err)
		}
	}
}

// waitConverged waits until the tenant has no dirty user or group.
func waitConverged(t *testing.T, rdb *redis.Client, tenant string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		u, err1 := rdb.ZCard(context.Background(), "sb:{"+tenant+"}:u:dirty").Result()
		g, err2 := rdb.ZCard(context.Background(), "sb:{"+tenant+"}:g:dirty").Result()
		if err1 == nil && err2 == nil && u == 0 && g == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("tenant %s did not converge: %d users and %d groups dirty (%v %v)", tenant, u, g, err1, err2)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cliRunner runs scimbridge commands against a configuration file.
func cliRunner(t *testing.T, cfgPath string) func(args ...string) (string, string, error) {
	return func(args ...string) (string, string, error) {
		t.Helper()
		var out, errOut bytes.Buffer
		err := run(append(args, "--config", cfgPath), &out, &errOut)
		return out.String(), errOut.String(), err
	}
}

// ---- the tests ----

// TestRecoverAfterRedisLoss: after Okta's lifecycle and Push Groups on a
// PostgreSQL and an LDAP tenant, both tenants' Redis data is lost; recover
// rebuilds each ledger from its store, the old ids answer with the same
// users, groups and members, a second recover changes nothing, and Okta's
// spec test passes.
func TestRecoverAfterRedisLoss(t *testing.T) {
	redisAddr := testsupport.RedisDB(t, e2eRedisDB)
	rdb := testsupport.Redis(t, func(o *redis.Options) { o.DB = e2eRedisDB })
	pf := newPGFixture(t)
	lf := newLDAPFixture(t, ldaptest.New(t))
	cfg := testConfig(t, redisAddr, pf.tenant("dr-pg"), ldapDRTenant(lf, "dr-ldap"))
	cfgPath := writeAdminConfig(t, redisAddr, cfg)
	ts := startTestServer(t, cfg, serverOptions{})
	cli := cliRunner(t, cfgPath)

	runs := []*drTenant{{id: "dr-pg", view: pf}, {id: "dr-ldap", view: lf}}
	for _, r := range runs {
		c := &scimClient{t: t, base: ts.url + "/scim/" + r.id + "/v2", auth: "Bearer " + newKey(t, ts.app, r.id)}
		r.users = runOktaLifecycle(t, ts, r.id, c, r.view)
		runOktaPushGroups(t, ts, r.id, c, r.view, r.users)
		if t.Failed() {
			return
		}
		waitConverged(t, rdb, r.id)
		before := scimSnapshot(t, c)
		if len(before) != 4 { // pre, jane, bob and the adopted "Existing Team" group
			t.Fatalf("%s: %d resources before the loss, want 4: %v", r.id, len(before), before)
		}

		loseRedisData(t, rdb, r.id)

		// A dry run counts and writes nothing.
		out, notes, err := cli("recover", "--tenant", r.id, "--dry-run")
		if err != nil || !strings.Contains(out, "users: 3 in the store, 0 already in the ledger, 3 would be recorded") ||
			!strings.Contains(out, "groups: 1 in the store, 0 already in the ledger, 1 would be recorded") ||
			!strings.Contains(notes, "users get back the SCIM id") {
			t.Fatalf("%s: recover --dry-run: %v\nstdout:\n%s\nstderr:\n%s", r.id, err, out, notes)
		}
		if n, _ := rdb.Exists(context.Background(), "sb:{"+r.id+"}:u:seq", "sb:{"+r.id+"}:g:seq").Result(); n != 0 {
			t.Fatalf("%s: the dry run wrote to the ledger", r.id)
		}

		out, notes, err = cli("recover", "--tenant", r.id)
		if err != nil || !strings.Contains(out, "users: 3 in the store, 0 already in the ledger, 3 recorded (3 with their old id, 0 with a new id), 0 conflicts") ||
			!strings.Contains(out, "groups: 1 in the store, 0 already in the ledger, 1 recorded (1 with their old id, 0 with a new id), 0 conflicts") ||
			!strings.Contains(out, "memberships: 2 recorded") {
			t.Fatalf("%s: recover: %v\nstdout:\n%s\nstderr:\n%s", r.id, err, out, notes)
		}

		// The tenant's API key went with the data: a new one, as after a
		// real loss (README: Disaster recovery).
		c.auth = "Bearer " + newKey(t, ts.app, r.id)
		after := scimSnapshot(t, c)
		sameResources(t, r.id+" after recover", before, after)

		// Idempotent: a second run records nothing and changes nothing.
		out, _, err = cli("recover", "--tenant", r.id, "--json")
		var rep syncsvc.RecoverReport
		if err != nil || json.Unmarshal([]byte(out), &rep) != nil || rep.Mode != "resume" ||
			rep.Users.Known != 3 || rep.Users.Recovered != 0 || rep.Groups.Known != 1 || rep.Groups.Recovered != 0 {
			t.Fatalf("%s: second recover: %v\n%s", r.id, err, out)
		}
		if again := scimSnapshot(t, c); !reflect.DeepEqual(again, after) {
			t.Fatalf("%s: the second recover changed what the IdP sees", r.id)
		}

		// The store did not change through any of it, and the worker has
		// nothing to do: the recovered state is applied.
		waitConverged(t, rdb, r.id)
		if u, ok := r.view.user(t, r.users.janeAnchor); !ok || u.FamilyName != "Smith" || u.Plan != "pro" {
			t.Fatalf("%s: jane's entry after recover: %+v", r.id, u)
		}

		// Okta's spec test against the recovered tenant.
		runOktaSpec(t, oktaSpecPath(oktaSpecCurrent), c.base, c.auth)
	}
}

// TestRecoverRefusals: a tenant that does not keep the SCIM id in its
// store is refused without --new-ids (saying what the IdP will see), and
// a ledger holding writes of its own without --merge; with the flags each
// goes on.
func TestRecoverRefusals(t *testing.T) {
	redisAddr := testsupport.RedisDB(t, e2eRedisDB)
	ten, db := adminSQLiteTenant(t, "dr-noid")
	cfg := testConfig(t, redisAddr, ten)
	cfgPath := writeAdminConfig(t, redisAddr, cfg)
	ts := startTestServer(t, cfg, serverOptions{})
	cli := cliRunner(t, cfgPath)
	for _, un := range []string{"a@example.com", "b@example.com"} {
		if _, err := db.Exec(`INSERT INTO users (username, family_name) VALUES (?, 'Store')`, un); err != nil {
			t.Fatal(err)
		}
	}

	_, notes, err := cli("recover", "--tenant", "dr-noid")
	if err == nil || !strings.Contains(err.Error(), "refused") || !strings.Contains(err.Error(), "--new-ids") ||
		!strings.Contains(notes, "Okta re-matches its users by userName") {
		t.Fatalf("recover of a tenant without an id mapping: %v\n%s", err, notes)
	}
	if n, _ := ts.app.ledger.CountUsers(context.Background(), "dr-noid"); n != 0 {
		t.Fatalf("a refused recover wrote %d users", n)
	}
	out, _, err := cli("recover", "--tenant", "dr-noid", "--new-ids")
	if err != nil || !strings.Contains(out, "2 recorded (0 with their old id, 2 with a new id)") {
		t.Fatalf("recover --new-ids: %v\n%s", err, out)
	}

	// A ledger with SCIM writes of its own (not a recover's) is refused.
	ten2, db2 := adminSQLiteTenant(t, "dr-busy")
	if err := ts.app.registry.Put(context.Background(), ten2); err != nil {
		t.Fatal(err)
	}
	cfgPath2 := writeAdminConfig(t, redisAddr, testConfig(t, redisAddr, ten2))
	cli2 := cliRunner(t, cfgPath2)
	c := &scimClient{t: t, base: ts.url + "/scim/dr-busy/v2", auth: "Bearer " + newKey(t, ts.app, "dr-busy")}
	if status, body := c.do("POST", "/Users", map[string]any{"userName": "own@example.com"}); status != 201 {
		t.Fatalf("create: %d %v", status, body)
	}
	if _, err := db2.Exec(`INSERT INTO users (username) VALUES ('store-only@example.com')`); err != nil {
		t.Fatal(err)
	}
	waitConverged(t, testsupport.Redis(t, func(o *redis.Options) { o.DB = e2eRedisDB }), "dr-busy")
	_, _, err = cli2("recover", "--tenant", "dr-busy", "--new-ids")
	if err == nil || !strings.Contains(err.Error(), "the ledger is not empty (1 users, 0 groups, not written by a recover)") {
		t.Fatalf("recover into a ledger of its own: %v", err)
	}
	// Its dry run counts, and exits as the real run would: refused.
	out, _, err = cli2("recover", "--tenant", "dr-busy", "--new-ids", "--dry-run")
	if err == nil || !strings.Contains(err.Error(), "without --dry-run it would be refused: the ledger is not empty") ||
		!strings.Contains(out, "dry run: nothing was written") {
		t.Fatalf("recover --dry-run into a ledger of its own: %v\n%s", err, out)
	}
	out, _, err = cli2("recover", "--tenant", "dr-busy", "--new-ids", "--merge")
	if err != nil || !strings.Contains(out, "users: 2 in the store, 1 already in the ledger, 1 recorded") {
		t.Fatalf("recover --merge: %v\n%s", err, out)
	}

	// Usage errors exit 2 (a *usageError).
	var ue *usageError
	if _, _, err := cli("recover"); err == nil || !asUsage(err, &ue) {
		t.Fatalf("recover without --tenant: %v", err)
	}
}

func asUsage(err error, ue **usageError) bool {
	u, ok := err.(*usageError)
	*ue = u
	return ok
}

// TestBackupRestoreRoundTrip: a PostgreSQL tenant's ledger after Okta's
// lifecycle and Push Groups is backed up, lost, and restored: every ledger
// record, membership and index is as it was; bad and tampered files are
// refused with a clear message and change nothing; a file of another
// tenant and a ledger that is not empty need their flags; and a restore
// over a store that changed since makes the store converge.
func TestBackupRestoreRoundTrip(t *testing.T) {
	redisAddr := testsupport.RedisDB(t, e2eRedisDB)
	rdb := testsupport.Redis(t, func(o *redis.Options) { o.DB = e2eRedisDB })
	pf := newPGFixture(t)
	const tenant = "br-pg"
	cfg := testConfig(t, redisAddr, pf.tenant(tenant))
	cfgPath := writeAdminConfig(t, redisAddr, cfg)
	ts := startTestServer(t, cfg, serverOptions{})
	cli := cliRunner(t, cfgPath)
	c := &scimClient{t: t, base: ts.url + "/scim/" + tenant + "/v2", auth: "Bearer " + newKey(t, ts.app, tenant)}
	us := runOktaLifecycle(t, ts, tenant, c, pf)
	runOktaPushGroups(t, ts, tenant, c, pf, us)
	if t.Failed() {
		return
	}
	// A user Okta deletes (the deactivate policy): a tombstone the backup keeps.
	runDeleteUser(t, ts, tenant, c, pf, us)
	waitConverged(t, rdb, tenant)
	before := ledgerDump(t, rdb, tenant)
	t.Logf("the ledger before the backup: %d keys", len(before))

	dir := t.TempDir()
	file := filepath.Join(dir, "br-pg.backup")
	out, _, err := cli("backup", "--tenant", tenant, "--out", file)
	if err != nil || !strings.Contains(out, "backup of br-pg written to") {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("1mz050nq-Secret")) || bytes.Contains(raw, []byte("scb_")) {
		t.Fatal("the backup holds a secret in clear")
	}

	// Bad files are refused with a clear message, and nothing changes.
	lines := bytes.SplitAfter(raw, []byte("\n"))
	bad := map[string]struct {
		body []byte
		want string
	}{
		"empty":     {nil, "the file is empty"},
		"not ours":  {[]byte("{\"hello\":1}\n"), "not a scimbridge ledger backup"},
		"truncated": {bytes.Join(lines[:len(lines)-2], nil), "ends without its end line"},
		"tampered":  {bytes.Replace(raw, []byte(`Smith`), []byte(`Smyth`), 1), "the checksum does not match"},
		"later":     {bytes.Replace(raw, []byte(`"version":1`), []byte(`"version":9`), 1), "format version 9"},
	}
	for name, b := range bad {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b.body, 0o600); err != nil {
			t.Fatal(err)
		}
		_, _, err := cli("restore", "--tenant", tenant, "--in", path, "--overwrite")
		if err == nil || !strings.Contains(err.Error(), b.want) || !strings.Contains(err.Error(), "nothing was written") {
			t.Fatalf("restore of a %s file: %v (want %q)", name, err, b.want)
		}
		if now := ledgerDump(t, rdb, tenant); !reflect.DeepEqual(now, before) {
			t.Fatalf("restore of a %s file changed the ledger", name)
		}
	}
	// A good file over a ledger that is not empty needs --overwrite.
	if _, _, err := cli("restore", "--tenant", tenant, "--in", file); err == nil || !strings.Contains(err.Error(), "--overwrite") {
		t.Fatalf("restore over a ledger that is not empty: %v", err)
	}
	// Its dry run checks the file and exits as the real run would: refused.
	if out, _, err := cli("restore", "--tenant", tenant, "--in", file, "--dry-run"); err == nil ||
		!strings.Contains(err.Error(), "without --dry-run it would be refused") || !strings.Contains(out, "dry run: the file is good, but") {
		t.Fatalf("restore --dry-run over a ledger that is not empty: %v\n%s", err, out)
	}

	loseRedisData(t, rdb, tenant)
	// Another tenant's file needs --from-tenant.
	other := pf.tenant("br-other")
	if err := ts.app.registry.Put(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cli("restore", "--tenant", "br-other", "--in", file); err == nil || !strings.Contains(err.Error(), `backup of tenant "br-pg"`) {
		t.Fatalf("restore into another tenant: %v", err)
	}

	out, _, err = cli("restore", "--tenant", tenant, "--in", file)
	if err != nil || !strings.Contains(out, "compared with the store: 0 users and 0 groups re-applied") {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	if after := ledgerDump(t, rdb, tenant); !reflect.DeepEqual(after, before) {
		diffDump(t, before, after)
	}
	c.auth = "Bearer " + newKey(t, ts.app, tenant)
	if status, body := c.do("GET", "/Users/"+us.janeID, nil); status != 200 || body["name"].(map[string]any)["familyName"] != "Smith" {
		t.Fatalf("GET jane after restore: %d %v", status, body)
	}
	if status, _ := c.do("GET", "/Users/"+us.preID, nil); status != 404 {
		t.Fatalf("the deleted user came back after restore: %d", status)
	}

	// The store changed after the backup (the customer's tool renamed
	// jane and took bob out of the group): a restore marks exactly those
	// pending and the worker puts the store back in line with the ledger.
	if _, err := pf.db.Exec(`UPDATE `+pf.schema+`.accounts SET last_name = 'Changed' WHERE id = $1`, us.janeAnchor); err != nil {
		t.Fatal(err)
	}
	if _, err := pf.db.Exec(`DELETE FROM `+pf.schema+`.group_members WHERE user_id = $1`, us.bobAnchor); err != nil {
		t.Fatal(err)
	}
	out, _, err = cli("restore", "--tenant", tenant, "--in", file, "--overwrite", "--json")
	var rep syncsvc.RestoreReport
	if err != nil || json.Unmarshal([]byte(out), &rep) != nil || !rep.Replaced || rep.UsersReapplied != 1 || rep.GroupsReapplied != 1 {
		t.Fatalf("restore --overwrite over a changed store: %v\n%s", err, out)
	}
	waitConverged(t, rdb, tenant)
	if u, _ := pf.user(t, us.janeAnchor); u.FamilyName != "Smith" {
		t.Fatalf("jane's entry did not converge: %+v", u)
	}
	var inGroup int
	if err := pf.db.QueryRow(`SELECT count(*) FROM `+pf.schema+`.group_members WHERE user_id = $1`, us.bobAnchor).Scan(&inGroup); err != nil || inGroup != 1 {
		t.Fatalf("bob's membership did not converge: %d %v", inGroup, err)
	}
}

// ledgerDump is every ledger key of the tenant's users and groups with its
// value, leases, the drain generation and the member-change counter left
// out (they are bookkeeping of the moment, not state).
func ledgerDump(t *testing.T, rdb *redis.Client, tenant string) map[string]any {
	t.Helper()
	ctx := context.Background()
	out := map[string]any{}
	for _, pattern := range []string{"sb:{" + tenant + "}:u:*", "sb:{" + tenant + "}:g:*"} {
		keys, err := rdb.Keys(ctx, pattern).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if strings.Contains(k, ":lease:") || strings.HasSuffix(k, ":drain") || strings.HasSuffix(k, ":mseq") {
				continue
			}
			switch typ := rdb.Type(ctx, k).Val(); typ {
			case "hash":
				out[k] = rdb.HGetAll(ctx, k).Val()
			case "zset":
				out[k] = rdb.ZRangeWithScores(ctx, k, 0, -1).Val()
			case "set":
				m := rdb.SMembers(ctx, k).Val()
				sort.Strings(m)
				out[k] = m
			case "string":
				out[k] = rdb.Get(ctx, k).Val()
			default:
				t.Fatalf("key %s of type %s", k, typ)
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("empty ledger")
	}
	return out
}

func diffDump(t *testing.T, want, got map[string]any) {
	t.Helper()
	for k, w := range want {
		if g, ok := got[k]; !ok {
			t.Errorf("missing after restore: %s = %v", k, w)
		} else if !reflect.DeepEqual(w, g) {
			t.Errorf("%s after restore:\n%v\nwant\n%v", k, g, w)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("new after restore: %s = %v", k, g)
		}
	}
	t.FailNow()
}

// TestRecoverAndBackupThroughAdminAPI: the admin API's recover plan and
// run (a refusal is 409 with the plan) and the backup download, which
// the CLI's restore accepts.
func TestRecoverAndBackupThroughAdminAPI(t *testing.T) {
	redisAddr := testsupport.RedisDB(t, e2eRedisDB)
	ten, db := adminSQLiteTenant(t, "dr-api")
	cfg := withAdminToken(t, testConfig(t, redisAddr, ten))
	ts := startTestServer(t, cfg, serverOptions{})
	cli := cliRunner(t, writeAdminConfig(t, redisAddr, cfg))
	for _, un := range []string{"a@example.com", "b@example.com"} {
		if _, err := db.Exec(`INSERT INTO users (username, family_name) VALUES (?, 'Store')`, un); err != nil {
			t.Fatal(err)
		}
	}
	c := &adminClient{t: t, base: ts.url, token: testAdminToken}
	plan := c.ok(200, "GET", "/admin/v1/tenants/dr-api/recover", nil)
	if plan["user_ids_kept"] != false || !strings.Contains(toJSON(plan["refusal"]), "--new-ids") {
		t.Fatalf("recover plan: %v", plan)
	}
	refused := c.ok(409, "POST", "/admin/v1/tenants/dr-api/recover", nil)
	if !strings.Contains(toJSON(refused["error"]), "recover refused") || refused["plan"] == nil {
		t.Fatalf("refused recover: %v", refused)
	}
	c.ok(400, "POST", "/admin/v1/tenants/dr-api/recover?new_ids=maybe", nil)
	rep := c.ok(200, "POST", "/admin/v1/tenants/dr-api/recover?new_ids=true", nil)
	if users, _ := rep["users"].(map[string]any); users["recovered"] != float64(2) || users["new_ids"] != float64(2) {
		t.Fatalf("recover: %v", rep)
	}
	c.ok(404, "GET", "/admin/v1/tenants/dr-nobody/backup", nil)

	req, _ := http.NewRequest("GET", ts.url+"/admin/v1/tenants/dr-api/backup", nil)
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" || bytes.Count(body, []byte("\n")) != 4 { // header, 2 users, end
		t.Fatalf("backup download: %d %v\n%s", resp.StatusCode, resp.Header, body)
	}
	file := filepath.Join(t.TempDir(), "dr-api.backup")
	if err := os.WriteFile(file, body, 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err := cli("restore", "--tenant", "dr-api", "--in", file, "--overwrite", "--dry-run")
	if err != nil || !strings.Contains(out, "2 users, 0 groups") || !strings.Contains(out, "dry run: the file is good") {
		t.Fatalf("restore --dry-run of the download: %v\n%s", err, out)
	}
}
