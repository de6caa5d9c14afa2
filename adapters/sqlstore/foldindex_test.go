package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/adapters/conformance"
)

// queryPlan is SQLite's EXPLAIN QUERY PLAN of st, one detail per line.
func queryPlan(t *testing.T, db *sql.DB, st *stmt) []string {
	t.Helper()
	rows, err := db.Query("EXPLAIN QUERY PLAN "+st.String(), st.args...)
	if err != nil {
		t.Fatalf("explain %s: %v", st, err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}

// A case-insensitive lookup on SQLite (the merged adopt check of a drain's
// batch, and a userName or email filter's check) is served by an index on
// SQLiteLowerFunc(column), the exact expression it compares, when the
// table has one (the embedded default's demo store does): a search of that
// index, no scan of the table. Without the index the same statements scan,
// which is what the plan check tells apart.
func TestSQLiteFoldIndexServesMatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	indexes := []string{
		`CREATE INDEX users_username_fold ON users (` + SQLiteLowerFunc + `(` + conformance.FieldUserName + `))`,
		`CREATE INDEX users_email_fold ON users (` + SQLiteLowerFunc + `(` + conformance.FieldEmail + `))`,
	}
	for _, indexed := range []bool{true, false} {
		t.Run(fmt.Sprintf("indexed=%v", indexed), func(t *testing.T) {
			ddl := []string{fixtureDDL(adapters.KindSQLite, "users", false)}
			if indexed {
				ddl = append(ddl, indexes...)
			}
			db, path := sqliteFixture(t, ddl...)
			st := openStore(t, adapters.Config{Kind: adapters.KindSQLite, DSN: path,
				Users: conformance.Mapping("users", conformance.Options{PasswordHash: "argon2id"})})
			s := st.(*store)
			// Some rows, so the planner has a table to choose over.
			for i := 0; i < 200; i++ {
				if _, err := s.ApplyUser(ctx, benchUser(fmt.Sprintf("User%d@Example.com", i))); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := db.Exec("ANALYZE"); err != nil {
				t.Fatal(err)
			}
			run := []runUser{runName("a@example.com"), runName("Ärger@example.com"), runName("c@example.com")}
			stmts := map[string]*stmt{
				"merged adopt check":  s.runMatchStmt(ctx, db, run, true),
				"userName eq":         s.matchStmt(ctx, db, []string{conformance.FieldUserName}, "Jane@Example.com", 2, false),
				"emails.value eq":     s.matchStmt(ctx, db, []string{conformance.FieldEmail}, "Jane@Example.com", 2, false),
				"userName eq listing": s.matchStmt(ctx, db, []string{conformance.FieldUserName}, "Jane@Example.com", 100, false),
			}
			for name, q := range stmts {
				plan := queryPlan(t, db, q)
				searches, scans := 0, 0
				for _, d := range plan {
					if strings.HasPrefix(d, "SCAN users") || strings.HasPrefix(d, "SCAN main.users") {
						scans++
					}
					if strings.HasPrefix(d, "SEARCH users USING INDEX users_") {
						searches++
					}
				}
				want := 1
				if name == "merged adopt check" {
					want = len(run)
				}
				if indexed && (scans != 0 || searches != want) {
					t.Errorf("%s: plan %q: want %d index searches and no scan", name, plan, want)
				}
				if !indexed && scans != want {
					t.Errorf("%s without the index: plan %q: want %d scans", name, plan, want)
				}
			}
		})
	}
}

// The index changes no answer: a non-ASCII case variant, which SQLite's
// own lower() and NOCASE would not fold, still matches through it.
func TestSQLiteFoldIndexKeepsUnicodeFolding(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, path := sqliteFixture(t, fixtureDDL(adapters.KindSQLite, "users", false),
		`CREATE INDEX users_username_fold ON users (`+SQLiteLowerFunc+`(`+conformance.FieldUserName+`))`)
	s := openStore(t, adapters.Config{Kind: adapters.KindSQLite, DSN: path, Users: conformance.Mapping("users", conformance.Options{})})
	anchor, err := s.ApplyUser(ctx, benchUser("ÄRGER@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	// A batch apply of the lower-case variant adopts the row, not a second one.
	anchors, errs := s.(*store).ApplyUsers(ctx, []adapters.User{benchUser("ärger@example.com"), benchUser("other@example.com")})
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if anchors[0] != anchor {
		t.Fatalf("ärger@example.com applied to %q, want the row of ÄRGER@example.com %q", anchors[0], anchor)
	}
	found, err := s.FindUsers(ctx, adapters.MatchUserName, "ärger@EXAMPLE.com")
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || found[0].Anchor != anchor {
		t.Fatalf("FindUsers(ärger@EXAMPLE.com) = %+v, want the one row %q", found, anchor)
	}
}

// BenchmarkSQLiteBatchByTableSize applies a drain-sized batch of 50 new
// users (one merged adopt check, one multi-row INSERT) to a SQLite table
// that already holds 1,000 or 20,000 users, with and without an index on
// the folded userName (the demo store's). With the index a batch costs
// the same at any size; without it, each adopt check scans the table.
// The batch's rows are removed off the clock after each iteration.
func BenchmarkSQLiteBatchByTableSize(b *testing.B) {
	for _, indexed := range []bool{true, false} {
		for _, size := range []int{1000, 20000} {
			b.Run(fmt.Sprintf("indexed=%v/rows=%d", indexed, size), func(b *testing.B) {
				ddl := []string{fixtureDDL(adapters.KindSQLite, "users", false)}
				if indexed {
					ddl = append(ddl, `CREATE INDEX users_username_fold ON users (`+SQLiteLowerFunc+`(`+conformance.FieldUserName+`))`)
				}
				path := b.TempDir() + "/app.db"
				db, err := sql.Open("sqlite", sqliteDSN(path))
				if err != nil {
					b.Fatal(err)
				}
				defer db.Close()
				for _, q := range ddl {
					if _, err := db.Exec(q); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := db.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < ?)
					INSERT INTO users (username, email) SELECT 'seed' || i || '@example.com', 'mail.seed' || i || '@example.com' FROM n`, size); err != nil {
					b.Fatal(err)
				}
				s := openStore(b, adapters.Config{Kind: adapters.KindSQLite, DSN: path, Users: conformance.Mapping("users", conformance.Options{})}).(*store)
				ctx := context.Background()
				batch := make([]adapters.User, 50)
				for i := range batch {
					batch[i] = benchUser(fmt.Sprintf("New%d@Example.com", i))
				}
				for b.Loop() {
					_, errs := s.ApplyUsers(ctx, batch)
					for _, err := range errs {
						if err != nil {
							b.Fatal(err)
						}
					}
					b.StopTimer()
					if _, err := db.Exec(`DELETE FROM users WHERE username LIKE 'New%'`); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "users/s")
			})
		}
	}
}
