package sqlstore

import (
	"context"
	"database/sql"
	"path/filepath"
	"sort"
	"testing"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/adapters/conformance"
	"github.com/scimbridge/scimbridge/internal/testsupport"
	"github.com/scimbridge/scimbridge/scim"
)

// sqliteFixture opens a fresh SQLite database with ddl and returns its
// admin handle and path.
func sqliteFixture(t *testing.T, ddl ...string) (*sql.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "app.db")
	db, err := sql.Open("sqlite", sqliteDSN(path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	for _, q := range ddl {
		testsupport.Exec(t, db, q)
	}
	return db, path
}

// An apply that changes nothing issues no UPDATE at all (a trigger on the
// customer's table would otherwise fire), and one that changes a column
// writes only that column.
func TestUnchangedApplyWritesNothing(t *testing.T) {
	t.Parallel()
	db, path := sqliteFixture(t,
		fixtureDDL(adapters.KindSQLite, "users", false),
		`CREATE TABLE audit (col text)`,
		`CREATE TRIGGER users_given AFTER UPDATE OF given_name ON users BEGIN INSERT INTO audit VALUES ('given_name'); END`,
		`CREATE TRIGGER users_email AFTER UPDATE OF email ON users BEGIN INSERT INTO audit VALUES ('email'); END`,
		`CREATE TRIGGER users_any AFTER UPDATE ON users BEGIN INSERT INTO audit VALUES ('row'); END`,
	)
	s := openStore(t, adapters.Config{Kind: adapters.KindSQLite, DSN: path, Users: conformance.Mapping("users", conformance.Options{})})
	ctx := context.Background()
	u := adapters.User{Attrs: scim.Attrs{
		"userName": "jane@example.com",
		"name":     map[string]any{"givenName": "Jane"},
		"emails":   []any{map[string]any{"type": "work", "value": "jane@example.com"}},
	}, Active: true}
	anchor, err := s.ApplyUser(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	u.Anchor = anchor
	for i := 0; i < 3; i++ {
		if _, err := s.ApplyUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	audit := func() []string {
		rows, err := db.Query(`SELECT col FROM audit ORDER BY rowid`)
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
	u.Attrs["name"] = map[string]any{"givenName": "Janet"}
	if _, err := s.ApplyUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	got := audit()
	sort.Strings(got) // trigger order is unspecified
	if len(got) != 2 || got[0] != "given_name" || got[1] != "row" {
		t.Fatalf("a given-name change fired %v, want [given_name row]", got)
	}
}

// Configured active values: a text column holding 'A' / 'D'.
func TestConfiguredActiveValues(t *testing.T) {
	t.Parallel()
	db, path := sqliteFixture(t, `CREATE TABLE accounts (
		account_id integer PRIMARY KEY AUTOINCREMENT, login text NOT NULL, status text NOT NULL DEFAULT 'A'
		CHECK (status IN ('A', 'D')))`)
	m := adapters.UserMapping{
		Table:      "accounts",
		Key:        "account_id",
		Attributes: map[string]string{"userName": "login"},
		Active:     &adapters.ActiveMapping{Column: "status", Active: "A", Inactive: "D"},
	}
	s := openStore(t, adapters.Config{Kind: adapters.KindSQLite, DSN: path, Users: m})
	ctx := context.Background()
	status := func(anchor string) string {
		var st string
		if err := db.QueryRow(`SELECT status FROM accounts WHERE account_id = ?`, anchor).Scan(&st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	u := adapters.User{Attrs: scim.Attrs{"userName": "bob"}, Active: false}
	anchor, err := s.ApplyUser(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if got := status(anchor); got != "D" {
		t.Fatalf("inactive user status = %q, want D", got)
	}
	u.Anchor, u.Active = anchor, true
	if _, err := s.ApplyUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if got := status(anchor); got != "A" {
		t.Fatalf("active user status = %q, want A", got)
	}
	if err := s.RemoveUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if got := status(anchor); got != "D" {
		t.Fatalf("removed user status = %q, want D", got)
	}
	found, err := s.FindUsers(ctx, adapters.MatchUserName, "BOB")
	if err != nil || len(found) != 1 || found[0].Attrs["active"] != false {
		t.Fatalf("FindUsers = %+v, %v; want bob inactive", found, err)
	}
	// email is not mapped here: lookups by it answer nothing.
	if found, err := s.FindUsers(ctx, adapters.MatchEmail, "bob"); err != nil || found != nil {
		t.Fatalf("FindUsers(email) = %+v, %v", found, err)
	}
}
