package sqlstore

import (
	"context"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/adapters/conformance"
	"github.com/scimbridge/scimbridge/internal/testsupport"
)

// mysqlCollationStore makes a MySQL users table whose userName column has
// the given collation and opens a store on it.
func mysqlCollationStore(t *testing.T, collation string) (*store, string) {
	t.Helper()
	dsn := testsupport.MySQLDSN()
	db, database, _ := testsupport.MySQLDatabase(t, "t")
	table := database + ".users"
	ddl := fixtureDDL(adapters.KindMySQL, table, false)
	ddl = strings.Replace(ddl, "username varchar(255) NOT NULL UNIQUE", "username varchar(255) COLLATE "+collation+" NOT NULL UNIQUE", 1)
	testsupport.Exec(t, db, ddl)
	cfg := adapters.Config{Kind: adapters.KindMySQL, DSNFile: dsnFile(t, dsn), Users: conformance.Mapping(table, conformance.Options{})}
	return openStore(t, cfg).(*store), table
}

func TestMySQLFoldIndexedByCollation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		collation string
		indexed   bool
	}{
		{"utf8mb4_general_ci", true},
		{"utf8mb4_unicode_ci", true},
		{"utf8mb4_bin", false},
	} {
		t.Run(tc.collation, func(t *testing.T) {
			s, table := mysqlCollationStore(t, tc.collation)
			if got := s.foldIndexed(ctx, s.db, table, conformance.FieldUserName); got != tc.indexed {
				t.Fatalf("foldIndexed(%s) = %v, want %v", tc.collation, got, tc.indexed)
			}
			st := s.matchStmt(ctx, s.db, []string{conformance.FieldUserName}, "Alice@Example.com", 2, false)
			if has := strings.Contains(st.String(), "`"+conformance.FieldUserName+"` = ?"); has != tc.indexed {
				t.Fatalf("match statement %q: indexed equality present = %v, want %v", st.String(), has, tc.indexed)
			}
			// Either way a case variant is adopted, never duplicated.
			first, err := s.ApplyUser(ctx, adapters.User{ID: "u1", Attrs: map[string]any{"userName": "Alice@Example.com"}, Active: true})
			if err != nil {
				t.Fatal(err)
			}
			second, err := s.ApplyUser(ctx, adapters.User{ID: "u2", Attrs: map[string]any{"userName": "alice@example.COM"}, Active: true})
			if err != nil {
				t.Fatal(err)
			}
			if first != second {
				t.Fatalf("case variant got anchor %q, want the existing row %q", second, first)
			}
		})
	}
}

func TestFoldIndexedOnlyMySQL(t *testing.T) {
	t.Parallel()
	s := &store{d: dialects[adapters.KindPostgres], m: adapters.UserMapping{Table: "users"}}
	if s.foldIndexed(context.Background(), nil, "users", "login") {
		t.Fatal("foldIndexed true for PostgreSQL")
	}
	st := s.matchStmt(context.Background(), nil, []string{"login"}, "x", 2, false)
	if got, want := st.String(), `lower("login") = lower($1) LIMIT 2`; !strings.HasSuffix(got, want) {
		t.Fatalf("statement %q, want suffix %q", got, want)
	}
}
