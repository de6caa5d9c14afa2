package main

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/adapters/sqlstore"
)

// The demo store indexes the exact expressions the SQLite dialect matches
// userName and email with (sqlstore's TestSQLiteFoldIndexServesMatch
// checks its statements against such indexes), also when the store was
// made by a version without them.
func TestDemoStoreIndexesFoldedLookups(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), demoDB)
	if err := ensureDemoStore(path); err != nil {
		t.Fatal(err)
	}
	var db *sql.DB
	open := func() {
		t.Helper()
		if db != nil {
			_ = db.Close()
		}
		var err error
		if db, err = sql.Open("sqlite", path); err != nil {
			t.Fatal(err)
		}
	}
	open()
	defer func() { _ = db.Close() }()
	plan := func(column string) string {
		t.Helper()
		q := `EXPLAIN QUERY PLAN SELECT "id" FROM "users" WHERE ` +
			sqlstore.SQLiteLowerFunc + `("` + column + `") = ` + sqlstore.SQLiteLowerFunc + `(?) LIMIT 2`
		rows, err := db.Query(q, "Ada.Lovelace@example.com")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var details []string
		for rows.Next() {
			var id, parent, unused int
			var d string
			if err := rows.Scan(&id, &parent, &unused, &d); err != nil {
				t.Fatal(err)
			}
			details = append(details, d)
		}
		return strings.Join(details, "; ")
	}
	check := func(when string) {
		t.Helper()
		for col, index := range map[string]string{"username": "users_username_fold", "email": "users_email_fold"} {
			got := strings.Replace(plan(col), "USING COVERING INDEX", "USING INDEX", 1)
			if !strings.HasPrefix(got, "SEARCH users USING INDEX "+index+" ") {
				t.Errorf("%s: lookup by %s: plan %q, want a search of %s", when, col, got, index)
			}
		}
	}
	check("new store")
	for _, s := range []string{`DROP INDEX users_username_fold`, `DROP INDEX users_email_fold`} {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	if got := plan("username"); !strings.HasPrefix(got, "SCAN users") {
		t.Fatalf("without the index: plan %q, want a scan", got)
	}
	if err := ensureDemoStore(path); err != nil { // an older version's store
		t.Fatal(err)
	}
	open() // a connection that reads the new schema
	check("older store after a start")
	var users int
	if err := db.QueryRow(`SELECT count(*) FROM users`).Scan(&users); err != nil || users != 1 {
		t.Fatalf("demo users = %d, %v; want the one seeded user", users, err)
	}
}
