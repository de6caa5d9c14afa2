package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/adapters/conformance"
	"github.com/scimbridge/scimbridge/internal/testsupport"
)

// dsnFile writes the DSN to a file the store reads (dsn_file), so a CI DSN
// with a password never sits inline in the config.
func dsnFile(tb testing.TB, dsn string) string {
	p := filepath.Join(tb.TempDir(), "dsn")
	if err := os.WriteFile(p, []byte(dsn+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

// fixtureDDL is the customer's existing table for a dialect.
func fixtureDDL(kind, table string, naturalKey bool) string {
	check := fmt.Sprintf("CHECK (department IS NULL OR department <> '%s')", conformance.RejectedDepartment)
	switch kind {
	case adapters.KindPostgres:
		key := "id bigserial PRIMARY KEY, username text NOT NULL UNIQUE"
		if naturalKey {
			key = "username text PRIMARY KEY"
		}
		return `CREATE TABLE ` + table + ` (` + key + `,
			given_name text, family_name text, email text UNIQUE, external_id text,
			department text ` + check + `,
			is_active boolean NOT NULL DEFAULT true, password_hash text,
			plan text DEFAULT 'free', created_at timestamptz DEFAULT now())`
	case adapters.KindMySQL:
		key := "id bigint AUTO_INCREMENT PRIMARY KEY, username varchar(255) NOT NULL UNIQUE"
		if naturalKey {
			key = "username varchar(255) PRIMARY KEY"
		}
		return `CREATE TABLE ` + table + ` (` + key + `,
			given_name varchar(255), family_name varchar(255), email varchar(255) UNIQUE,
			external_id varchar(255), department varchar(255) ` + check + `,
			is_active boolean NOT NULL DEFAULT true, password_hash varchar(255),
			plan varchar(32) DEFAULT 'free', created_at timestamp DEFAULT CURRENT_TIMESTAMP
			) CHARACTER SET utf8mb4`
	case adapters.KindSQLite:
		key := "id integer PRIMARY KEY AUTOINCREMENT, username text NOT NULL UNIQUE"
		if naturalKey {
			key = "username text PRIMARY KEY NOT NULL"
		}
		return `CREATE TABLE ` + table + ` (` + key + `,
			given_name text, family_name text, email text UNIQUE, external_id text,
			department text ` + check + `,
			is_active boolean NOT NULL DEFAULT true, password_hash text,
			plan text DEFAULT 'free', created_at text DEFAULT CURRENT_TIMESTAMP)`
	}
	panic("unknown kind " + kind)
}

// openStore opens the store under test the way cmd will: through Open.
func openStore(tb testing.TB, cfg adapters.Config) adapters.Store {
	tb.Helper()
	s, err := Open(context.Background(), "tenant-"+testsupport.RandomHex(6), cfg)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

func postgresHarness() conformance.Harness {
	dsn := testsupport.PostgresDSN()
	return conformance.Harness{
		Name: adapters.KindPostgres,
		New: func(tb testing.TB, opts conformance.Options) (adapters.Store, conformance.Backdoor) {
			db, schema := testsupport.PostgresSchema(tb, "t")
			table := schema + ".users"
			testsupport.Exec(tb, db, fixtureDDL(adapters.KindPostgres, table, opts.NaturalKey))
			cfg := adapters.Config{Kind: adapters.KindPostgres, DSNFile: dsnFile(tb, dsn), Users: conformance.Mapping(table, opts)}
			return openStore(tb, cfg), newBackdoor(adapters.KindPostgres, db, cfg.Users)
		},
		Unreachable: func(tb testing.TB) adapters.Store {
			cfg := adapters.Config{
				Kind:  adapters.KindPostgres,
				DSN:   "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=5",
				Users: conformance.Mapping("users", conformance.Options{}),
			}
			return openStore(tb, cfg)
		},
	}
}

func mysqlHarness() conformance.Harness {
	dsn := testsupport.MySQLDSN()
	return conformance.Harness{
		Name: adapters.KindMySQL,
		New: func(tb testing.TB, opts conformance.Options) (adapters.Store, conformance.Backdoor) {
			db, database, _ := testsupport.MySQLDatabase(tb, "t")
			table := database + ".users"
			testsupport.Exec(tb, db, fixtureDDL(adapters.KindMySQL, table, opts.NaturalKey))
			cfg := adapters.Config{Kind: adapters.KindMySQL, DSNFile: dsnFile(tb, dsn), Users: conformance.Mapping(table, opts)}
			return openStore(tb, cfg), newBackdoor(adapters.KindMySQL, db, cfg.Users)
		},
		// The fixture's username column has a case-insensitive collation,
		// so its unique index refuses two userNames differing in case:
		// the ambiguous-userName cases replace it with a plain index.
		AllowCaseTwins: func(tb testing.TB, bd conformance.Backdoor) {
			b := bd.(*backdoor)
			testsupport.Exec(tb, b.db, "ALTER TABLE "+b.table+" DROP INDEX username, ADD INDEX (username)")
		},
		Unreachable: func(tb testing.TB) adapters.Store {
			cfg := adapters.Config{
				Kind:  adapters.KindMySQL,
				DSN:   "root@tcp(127.0.0.1:1)/test?timeout=5s",
				Users: conformance.Mapping("users", conformance.Options{}),
			}
			return openStore(tb, cfg)
		},
	}
}

func sqliteHarness() conformance.Harness {
	return conformance.Harness{
		Name: adapters.KindSQLite,
		New: func(tb testing.TB, opts conformance.Options) (adapters.Store, conformance.Backdoor) {
			path := filepath.Join(tb.TempDir(), "app.db")
			db, err := sql.Open("sqlite", sqliteDSN(path))
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(func() { _ = db.Close() })
			testsupport.Exec(tb, db, fixtureDDL(adapters.KindSQLite, "users", opts.NaturalKey))
			cfg := adapters.Config{Kind: adapters.KindSQLite, DSN: path, Users: conformance.Mapping("main.users", opts)}
			return openStore(tb, cfg), newBackdoor(adapters.KindSQLite, db, cfg.Users)
		},
		Unreachable: func(tb testing.TB) adapters.Store {
			cfg := adapters.Config{
				Kind:  adapters.KindSQLite,
				DSN:   filepath.Join(tb.TempDir(), "no-such-dir", "app.db"),
				Users: conformance.Mapping("users", conformance.Options{}),
			}
			return openStore(tb, cfg)
		},
	}
}

func TestPostgresConformance(t *testing.T) {
	t.Parallel()
	conformance.RunUserTests(t, postgresHarness())
}

func TestMySQLConformance(t *testing.T) {
	t.Parallel()
	conformance.RunUserTests(t, mysqlHarness())
}

func TestSQLiteConformance(t *testing.T) {
	t.Parallel()
	conformance.RunUserTests(t, sqliteHarness())
}

// backdoor reads and writes the fixture table directly.
type backdoor struct {
	d     *dialect
	db    *sql.DB
	table string
	key   string
}

func newBackdoor(kind string, db *sql.DB, m adapters.UserMapping) *backdoor {
	d := dialects[kind]
	return &backdoor{d: d, db: db, table: d.ident(m.Table), key: d.ident(m.Key)}
}

func (b *backdoor) ctx(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

func (b *backdoor) Get(tb testing.TB, anchor string) (map[string]string, bool) {
	tb.Helper()
	st := &stmt{d: b.d}
	st.write("SELECT * FROM ", b.table, " WHERE ", b.key, " = ").arg(anchor)
	rows, err := b.db.QueryContext(b.ctx(tb), st.String(), st.args...)
	if err != nil {
		tb.Fatalf("backdoor get: %v", err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			tb.Fatalf("backdoor get: %v", err)
		}
		return nil, false
	}
	cols, err := rows.Columns()
	if err != nil {
		tb.Fatal(err)
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		tb.Fatalf("backdoor scan: %v", err)
	}
	out := map[string]string{}
	for i, c := range cols {
		c = strings.ToLower(c)
		if vals[i] == nil {
			continue
		}
		if c == conformance.FieldActive {
			out[c] = fmt.Sprint(adapters.Truthy(vals[i]))
			continue
		}
		s, _ := adapters.StoredString(vals[i])
		out[c] = s
	}
	return out, true
}

func (b *backdoor) Insert(tb testing.TB, fields map[string]string) string {
	tb.Helper()
	names := conformance.SortedKeys(fields)
	vals := make([]any, len(names))
	for i, n := range names {
		vals[i] = fields[n]
	}
	st := insertStmt(b.d, b.table, names, [][]any{vals})
	if b.d.returning {
		st.write(" RETURNING ", b.key)
		var key any
		if err := b.db.QueryRowContext(b.ctx(tb), st.String(), st.args...).Scan(&key); err != nil {
			tb.Fatalf("backdoor insert: %v", err)
		}
		s, _ := adapters.StoredString(normalize(key))
		return s
	}
	res, err := b.db.ExecContext(b.ctx(tb), st.String(), st.args...)
	if err != nil {
		tb.Fatalf("backdoor insert: %v", err)
	}
	if b.key == b.d.ident(conformance.FieldUserName) {
		return fields[conformance.FieldUserName]
	}
	id, err := res.LastInsertId()
	if err != nil {
		tb.Fatal(err)
	}
	return fmt.Sprint(id)
}

func (b *backdoor) Set(tb testing.TB, anchor, field, value string) {
	tb.Helper()
	st := &stmt{d: b.d}
	st.write("UPDATE ", b.table, " SET ", b.d.ident(field), " = ").arg(value).write(" WHERE ", b.key, " = ").arg(anchor)
	if _, err := b.db.ExecContext(b.ctx(tb), st.String(), st.args...); err != nil {
		tb.Fatalf("backdoor set: %v", err)
	}
}

func (b *backdoor) Delete(tb testing.TB, anchor string) {
	tb.Helper()
	st := &stmt{d: b.d}
	st.write("DELETE FROM ", b.table, " WHERE ", b.key, " = ").arg(anchor)
	if _, err := b.db.ExecContext(b.ctx(tb), st.String(), st.args...); err != nil {
		tb.Fatalf("backdoor delete: %v", err)
	}
}

func (b *backdoor) Count(tb testing.TB) int {
	tb.Helper()
	var n int
	if err := b.db.QueryRowContext(b.ctx(tb), "SELECT count(*) FROM "+b.table).Scan(&n); err != nil {
		tb.Fatalf("backdoor count: %v", err)
	}
	return n
}
