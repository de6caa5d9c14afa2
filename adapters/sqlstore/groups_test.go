package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/adapters/conformance"
	"github.com/scimbridge/scimbridge/internal/testsupport"
)

// groupFixtureDDL is the customer's existing group and membership tables
// for a dialect; q is the table qualifier ("schema." or "db." or "main.").
// With unique, the membership table has a unique (group_id, user_id)
// constraint; without, only a plain index (as many real join tables).
// Foreign keys have no ON DELETE action, so a group can only be deleted
// after its membership rows.
func groupFixtureDDL(kind, q string, unique bool) []string {
	index := "CREATE INDEX"
	if unique {
		index = "CREATE UNIQUE INDEX"
	}
	switch kind {
	case adapters.KindPostgres:
		return []string{
			`CREATE TABLE ` + q + `groups (id bigserial PRIMARY KEY, display_name text NOT NULL, external_id text, note text)`,
			`CREATE TABLE ` + q + `group_members (group_id bigint NOT NULL REFERENCES ` + q + `groups (id),
				user_id bigint NOT NULL REFERENCES ` + q + `users (id))`,
			index + ` ON ` + q + `group_members (group_id, user_id)`,
		}
	case adapters.KindMySQL:
		// GROUPS is a reserved word in MySQL 8: quote it.
		db := "`" + strings.TrimSuffix(q, ".") + "`."
		return []string{
			"CREATE TABLE " + db + "`groups` (id bigint AUTO_INCREMENT PRIMARY KEY, display_name varchar(255) NOT NULL, external_id varchar(255), note varchar(255)) CHARACTER SET utf8mb4",
			"CREATE TABLE " + db + "group_members (group_id bigint NOT NULL, user_id bigint NOT NULL, " +
				"FOREIGN KEY (group_id) REFERENCES " + db + "`groups` (id), FOREIGN KEY (user_id) REFERENCES " + db + "users (id)) ENGINE=InnoDB",
			index + " members_idx ON " + db + "group_members (group_id, user_id)",
		}
	case adapters.KindSQLite:
		// SQLite's CREATE INDEX takes the schema on the index name.
		return []string{
			`CREATE TABLE groups (id integer PRIMARY KEY AUTOINCREMENT, display_name text NOT NULL, external_id text, note text)`,
			`CREATE TABLE group_members (group_id integer NOT NULL REFERENCES groups (id),
				user_id integer NOT NULL REFERENCES users (id))`,
			index + ` main.members_idx ON group_members (group_id, user_id)`,
		}
	}
	panic("unknown kind " + kind)
}

// groupFixture is one fresh, isolated database holding the user and group
// fixtures.
type groupFixture struct {
	cfg adapters.Config
	db  *sql.DB
}

// newGroupFixture creates the fixture tables for kind in their own schema
// (PostgreSQL), database (MySQL) or file (SQLite).
func newGroupFixture(tb testing.TB, kind string, unique bool) groupFixture {
	tb.Helper()
	var (
		db  *sql.DB
		cfg adapters.Config
		q   string
	)
	switch kind {
	case adapters.KindPostgres:
		dsn := testsupport.PostgresDSN()
		var schema string
		db, schema = testsupport.PostgresSchema(tb, "t")
		q = schema + "."
		cfg = adapters.Config{Kind: kind, DSNFile: dsnFile(tb, dsn)}
	case adapters.KindMySQL:
		dsn := testsupport.MySQLDSN()
		var database string
		db, database, _ = testsupport.MySQLDatabase(tb, "t")
		q = database + "."
		cfg = adapters.Config{Kind: kind, DSNFile: dsnFile(tb, dsn)}
	case adapters.KindSQLite:
		path := filepath.Join(tb.TempDir(), "app.db")
		var err error
		db, err = sql.Open("sqlite", sqliteDSN(path))
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { _ = db.Close() })
		q = "main."
		cfg = adapters.Config{Kind: kind, DSN: path}
	default:
		tb.Fatalf("unknown kind %s", kind)
	}
	ddlQualifier := q
	if kind == adapters.KindSQLite {
		ddlQualifier = ""
	}
	testsupport.Exec(tb, db, fixtureDDL(kind, ddlQualifier+"users", false))
	for _, ddl := range groupFixtureDDL(kind, q, unique) {
		testsupport.Exec(tb, db, ddl)
	}
	cfg.Users = conformance.Mapping(q+"users", conformance.Options{})
	cfg.Groups = conformance.GroupMapping(q+"groups", q+"group_members")
	return groupFixture{cfg: cfg, db: db}
}

func groupHarness(kind string, unique bool) conformance.GroupHarness {
	var users conformance.Harness
	var unreachable adapters.Config
	switch kind {
	case adapters.KindPostgres:
		users = postgresHarness()
		unreachable = adapters.Config{Kind: kind, DSN: "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=5"}
	case adapters.KindMySQL:
		users = mysqlHarness()
		unreachable = adapters.Config{Kind: kind, DSN: "root@tcp(127.0.0.1:1)/test?timeout=5s"}
	case adapters.KindSQLite:
		users = sqliteHarness()
		unreachable = adapters.Config{Kind: kind}
	}
	return conformance.GroupHarness{
		Name: kind,
		New: func(tb testing.TB) (conformance.GroupStore, conformance.Backdoor, conformance.GroupBackdoor) {
			f := newGroupFixture(tb, kind, unique)
			s := openStore(tb, f.cfg).(conformance.GroupStore)
			return s, newBackdoor(kind, f.db, f.cfg.Users), newGroupBackdoor(kind, f.db, f.cfg.Groups)
		},
		WithoutGroups: func(tb testing.TB) adapters.Store {
			s, _ := users.New(tb, conformance.Options{})
			return s
		},
		Unreachable: func(tb testing.TB) conformance.GroupStore {
			cfg := unreachable
			if kind == adapters.KindSQLite {
				cfg.DSN = filepath.Join(tb.TempDir(), "no-such-dir", "app.db")
			}
			cfg.Users = conformance.Mapping("users", conformance.Options{})
			cfg.Groups = conformance.GroupMapping("groups", "group_members")
			return openStore(tb, cfg).(conformance.GroupStore)
		},
	}
}

func runGroupConformance(t *testing.T, kind string) {
	for _, variant := range []struct {
		name   string
		unique bool
	}{{"unique_members", true}, {"plain_members", false}} {
		t.Run(variant.name, func(t *testing.T) {
			t.Parallel()
			conformance.RunGroupTests(t, groupHarness(kind, variant.unique))
		})
	}
}

func TestPostgresGroupConformance(t *testing.T) {
	t.Parallel()
	runGroupConformance(t, adapters.KindPostgres)
}

func TestMySQLGroupConformance(t *testing.T) {
	t.Parallel()
	runGroupConformance(t, adapters.KindMySQL)
}

func TestSQLiteGroupConformance(t *testing.T) {
	t.Parallel()
	runGroupConformance(t, adapters.KindSQLite)
}

// groupBackdoor reads and writes the group fixture directly.
type groupBackdoor struct {
	*backdoor
	members, groupColumn, userColumn string
}

func newGroupBackdoor(kind string, db *sql.DB, m *adapters.GroupMapping) *groupBackdoor {
	d := dialects[kind]
	return &groupBackdoor{
		backdoor:    &backdoor{d: d, db: db, table: d.ident(m.Table), key: d.ident(m.Key)},
		members:     d.ident(m.Members.Table),
		groupColumn: d.ident(m.Members.GroupColumn),
		userColumn:  d.ident(m.Members.UserColumn),
	}
}

func (b *groupBackdoor) Delete(tb testing.TB, anchor string) {
	tb.Helper()
	st := &stmt{d: b.d}
	st.write("DELETE FROM ", b.members, " WHERE ", b.groupColumn, " = ").arg(anchor)
	if _, err := b.db.ExecContext(b.ctx(tb), st.String(), st.args...); err != nil {
		tb.Fatalf("backdoor delete memberships: %v", err)
	}
	b.backdoor.Delete(tb, anchor)
}

func (b *groupBackdoor) Members(tb testing.TB, groupAnchor string) []string {
	tb.Helper()
	st := &stmt{d: b.d}
	st.write("SELECT ", b.userColumn, " FROM ", b.members, " WHERE ", b.groupColumn, " = ").arg(groupAnchor)
	rows, err := b.db.QueryContext(b.ctx(tb), st.String(), st.args...)
	if err != nil {
		tb.Fatalf("backdoor members: %v", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v any
		if err := rows.Scan(&v); err != nil {
			tb.Fatal(err)
		}
		s, _ := adapters.StoredString(normalize(v))
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func (b *groupBackdoor) AddMember(tb testing.TB, groupAnchor, userAnchor string) {
	tb.Helper()
	st := &stmt{d: b.d}
	st.write("INSERT INTO ", b.members, " (", b.groupColumn, ", ", b.userColumn, ") VALUES (").arg(groupAnchor).write(", ").arg(userAnchor).write(")")
	if _, err := b.db.ExecContext(b.ctx(tb), st.String(), st.args...); err != nil {
		tb.Fatalf("backdoor add member: %v", err)
	}
}

// The group suite's backdoor Insert returns the generated key; the user
// backdoor's fallback (userName as natural key) never applies to groups.
var _ conformance.GroupBackdoor = (*groupBackdoor)(nil)

// countMembers counts all membership rows of a group (duplicates too).
func countMembers(tb testing.TB, db *sql.DB, d *dialect, members, group string) int {
	tb.Helper()
	var n int
	st := &stmt{d: d}
	st.write("SELECT count(*) FROM ", members, " WHERE ", d.ident(conformance.MembersFieldGroup), " = ").arg(group)
	if err := db.QueryRowContext(context.Background(), st.String(), st.args...).Scan(&n); err != nil {
		tb.Fatalf("count members: %v", err)
	}
	return n
}

// An ApplyGroup that changes nothing issues no UPDATE (a trigger on the
// customer's table would fire), and a rename writes only displayName.
func TestUnchangedGroupApplyWritesNothing(t *testing.T) {
	t.Parallel()
	f := newGroupFixture(t, adapters.KindSQLite, true)
	for _, ddl := range []string{
		`CREATE TABLE audit (col text)`,
		`CREATE TRIGGER groups_name AFTER UPDATE OF display_name ON groups BEGIN INSERT INTO audit VALUES ('display_name'); END`,
		`CREATE TRIGGER groups_ext AFTER UPDATE OF external_id ON groups BEGIN INSERT INTO audit VALUES ('external_id'); END`,
		`CREATE TRIGGER groups_any AFTER UPDATE ON groups BEGIN INSERT INTO audit VALUES ('row'); END`,
	} {
		testsupport.Exec(t, f.db, ddl)
	}
	s := openStore(t, f.cfg).(adapters.GroupStore)
	ctx := context.Background()
	g := adapters.Group{Attrs: map[string]any{"displayName": "Engineering", "externalId": "e1"}}
	anchor, err := s.ApplyGroup(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	g.Anchor = anchor
	for i := 0; i < 3; i++ {
		if _, err := s.ApplyGroup(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	audit := func() []string {
		rows, err := f.db.Query(`SELECT col FROM audit ORDER BY rowid`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var c string
			if err := rows.Scan(&c); err != nil {
				t.Fatal(err)
			}
			out = append(out, c)
		}
		return out
	}
	if got := audit(); len(got) != 0 {
		t.Fatalf("unchanged applies updated the row: %v", got)
	}
	g.Attrs["displayName"] = "Platform"
	if _, err := s.ApplyGroup(ctx, g); err != nil {
		t.Fatal(err)
	}
	got := audit()
	sort.Strings(got)
	if fmt.Sprint(got) != "[display_name row]" {
		t.Fatalf("a rename fired %v, want [display_name row]", got)
	}
}

// One AddMembers call larger than a batch: every member lands once, the
// ones already present are not inserted again, and RemoveMembers of the
// same list empties the group.
func TestMembersInBatches(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{adapters.KindPostgres, adapters.KindSQLite, adapters.KindMySQL} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			f := newGroupFixture(t, kind, false)
			s := openStore(t, f.cfg).(conformance.GroupStore)
			ctx := context.Background()
			n := 2*memberBatch + 37
			users := insertUsers(t, f, n)
			group, err := s.ApplyGroup(ctx, adapters.Group{Attrs: map[string]any{"displayName": "Everyone"}})
			if err != nil {
				t.Fatal(err)
			}
			d := dialects[kind]
			members := d.ident(f.cfg.Groups.Members.Table)
			// A few are members already (on both sides of a batch edge).
			if err := s.AddMembers(ctx, group, []string{users[0], users[memberBatch], users[n-1]}); err != nil {
				t.Fatal(err)
			}
			if err := s.AddMembers(ctx, group, users); err != nil {
				t.Fatal(err)
			}
			if got := countMembers(t, f.db, d, members, group); got != n {
				t.Fatalf("%d membership rows, want %d", got, n)
			}
			listed := 0
			for cursor := ""; ; {
				page, next, err := s.ListMembers(ctx, group, cursor, maxPage)
				if err != nil {
					t.Fatal(err)
				}
				listed += len(page)
				if next == "" {
					break
				}
				cursor = next
			}
			if listed != n {
				t.Fatalf("ListMembers listed %d, want %d", listed, n)
			}
			if err := s.RemoveMembers(ctx, group, users); err != nil {
				t.Fatal(err)
			}
			if got := countMembers(t, f.db, d, members, group); got != 0 {
				t.Fatalf("%d membership rows after removing all, want 0", got)
			}
		})
	}
}

// insertUsers bulk-inserts n users into the fixture (outside scimbridge)
// and returns their keys.
func insertUsers(tb testing.TB, f groupFixture, n int) []string {
	tb.Helper()
	d := dialects[f.cfg.Kind]
	table := d.ident(f.cfg.Users.Table)
	ctx := context.Background()
	tx, err := f.db.BeginTx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	const chunk = 1000
	for start := 0; start < n; start += chunk {
		st := &stmt{d: d}
		st.write("INSERT INTO ", table, " (username) VALUES ")
		for i := start; i < min(start+chunk, n); i++ {
			if i > start {
				st.write(", ")
			}
			st.write("(").arg(fmt.Sprintf("bulk%06d@example.com", i)).write(")")
		}
		if _, err := tx.ExecContext(ctx, st.String(), st.args...); err != nil {
			tb.Fatalf("insert users: %v", err)
		}
	}
	rows, err := tx.QueryContext(ctx, "SELECT id FROM "+table+" WHERE username LIKE 'bulk%' ORDER BY username")
	if err != nil {
		tb.Fatal(err)
	}
	var keys []string
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			tb.Fatal(err)
		}
		keys = append(keys, fmt.Sprint(id))
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	_ = rows.Close()
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
	if len(keys) != n {
		tb.Fatalf("inserted %d users, want %d", len(keys), n)
	}
	return keys
}

// A natural group key (the displayName column is the primary key): the
// anchor is the name, a rename moves it, and the membership rows follow
// through the customer's ON UPDATE CASCADE.
func TestNaturalGroupKey(t *testing.T) {
	t.Parallel()
	db, path := sqliteFixture(t,
		fixtureDDL(adapters.KindSQLite, "users", false),
		`CREATE TABLE teams (name text PRIMARY KEY NOT NULL, okta_id text)`,
		`CREATE TABLE team_members (team text NOT NULL REFERENCES teams (name) ON UPDATE CASCADE,
			user_id integer NOT NULL REFERENCES users (id), PRIMARY KEY (team, user_id))`,
	)
	cfg := adapters.Config{
		Kind:  adapters.KindSQLite,
		DSN:   path,
		Users: conformance.Mapping("users", conformance.Options{}),
		Groups: &adapters.GroupMapping{
			Table:      "teams",
			Key:        "name",
			Attributes: map[string]string{"displayName": "name", "externalId": "okta_id"},
			Members:    &adapters.MembersMapping{Table: "team_members", GroupColumn: "team", UserColumn: "user_id"},
		},
	}
	s := openStore(t, cfg).(conformance.GroupStore)
	ctx := context.Background()
	user, err := s.ApplyUser(ctx, adapters.User{Attrs: map[string]any{"userName": "jane@example.com"}, Active: true})
	if err != nil {
		t.Fatal(err)
	}
	g := adapters.Group{Attrs: map[string]any{"displayName": "Engineering", "externalId": "00g1"}}
	anchor, err := s.ApplyGroup(ctx, g)
	if err != nil || anchor != "Engineering" {
		t.Fatalf("ApplyGroup = %q, %v; want the name as anchor", anchor, err)
	}
	if err := s.AddMembers(ctx, anchor, []string{user}); err != nil {
		t.Fatal(err)
	}
	g.Anchor = anchor
	g.Attrs["displayName"] = "Platform"
	renamed, err := s.ApplyGroup(ctx, g)
	if err != nil || renamed != "Platform" {
		t.Fatalf("rename = %q, %v; want the new name as anchor", renamed, err)
	}
	members, _, err := s.ListMembers(ctx, renamed, "", 10)
	if err != nil || fmt.Sprint(members) != fmt.Sprint([]string{user}) {
		t.Fatalf("members after rename = %v, %v", members, err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM teams`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("teams = %d, %v", n, err)
	}
	if err := s.RemoveGroup(ctx, adapters.Group{Anchor: renamed}); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM team_members`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("team_members after RemoveGroup = %d, %v", n, err)
	}
}

// With the delete policy, removing a user who is a member deletes the
// membership rows first (the join table's foreign key would refuse the
// delete otherwise); the groups and the other members stay. A deactivated
// user keeps its memberships.
func TestDeletedUserLeavesGroups(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{adapters.KindPostgres, adapters.KindSQLite, adapters.KindMySQL} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			f := newGroupFixture(t, kind, true)
			ctx := context.Background()
			deactivating := openStore(t, f.cfg).(conformance.GroupStore)
			cfg := f.cfg
			cfg.Users.OnDelete = adapters.OnDeleteDelete
			deleting := openStore(t, cfg).(conformance.GroupStore)
			gb := newGroupBackdoor(kind, f.db, f.cfg.Groups)

			users := insertUsers(t, f, 3)
			group, err := deleting.ApplyGroup(ctx, adapters.Group{Attrs: map[string]any{"displayName": "Engineering"}})
			if err != nil {
				t.Fatal(err)
			}
			if err := deleting.AddMembers(ctx, group, users); err != nil {
				t.Fatal(err)
			}
			if err := deactivating.RemoveUser(ctx, adapters.User{Anchor: users[2]}); err != nil {
				t.Fatal(err)
			}
			if err := deleting.RemoveUser(ctx, adapters.User{Anchor: users[0]}); err != nil {
				t.Fatalf("RemoveUser of a member: %v", err)
			}
			want := []string{users[1], users[2]}
			sort.Strings(want)
			if got := gb.Members(t, group); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("members = %v, want %v", got, want)
			}
			if n := gb.Count(t); n != 1 {
				t.Fatalf("%d groups, want 1", n)
			}
		})
	}
}
