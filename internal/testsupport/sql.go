package testsupport

import (
	"context"
	"database/sql"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
)

// server is one admin pool per SQL server for the whole test binary (as
// river's DBPool): opened at the first use, never closed (it goes with
// the process), and the first failure to reach the server is every later
// test's too.
type server struct {
	once sync.Once
	db   *sql.DB
	err  error
}

var (
	postgresServer server
	mysqlServer    server
)

func (s *server) open(tb testing.TB, what, driver, dsn string) *sql.DB {
	tb.Helper()
	s.once.Do(func() {
		db, err := sql.Open(driver, dsn)
		if err != nil {
			s.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := db.PingContext(ctx); err != nil {
			_ = db.Close()
			s.err = err
			return
		}
		db.SetMaxOpenConns(8)
		s.db = db
	})
	Require(tb, what, s.err)
	return s.db
}

// Postgres returns the admin pool of the test PostgreSQL server
// (PostgresDSN; driver "pgx"), shared by the test binary: do not close it.
// An unreachable server is handled by Require.
func Postgres(tb testing.TB) *sql.DB {
	tb.Helper()
	return postgresServer.open(tb, "postgres", "pgx", PostgresDSN())
}

// MySQL returns the admin pool of the test MariaDB/MySQL server
// (MySQLDSN; driver "mysql"), shared by the test binary: do not close it.
// An unreachable server is handled by Require.
func MySQL(tb testing.TB) *sql.DB {
	tb.Helper()
	return mysqlServer.open(tb, "mariadb/mysql", "mysql", MySQLDSN())
}

// PostgresSchema creates a schema of the test's own on the test
// PostgreSQL server and drops it (CASCADE) when the test ends. It returns
// the admin pool and the schema's name (a plain identifier).
func PostgresSchema(tb testing.TB, prefix string) (*sql.DB, string) {
	tb.Helper()
	db := Postgres(tb)
	name := prefix + "_" + RandomHex(5)
	Exec(tb, db, `CREATE SCHEMA `+name)
	tb.Cleanup(func() { Exec(tb, db, `DROP SCHEMA `+name+` CASCADE`) })
	return db, name
}

// MySQLDatabase creates a database (utf8mb4) of the test's own on the
// test MariaDB/MySQL server and drops it when the test ends. It returns the
// admin pool, the database's name and a DSN for it (MySQLDSN with that
// database).
func MySQLDatabase(tb testing.TB, prefix string) (db *sql.DB, name, dsn string) {
	tb.Helper()
	db = MySQL(tb)
	cfg, err := mysql.ParseDSN(MySQLDSN())
	if err != nil {
		tb.Fatalf("%s: %v", EnvMySQL, err)
	}
	name = prefix + "_" + RandomHex(5)
	Exec(tb, db, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4")
	tb.Cleanup(func() { Exec(tb, db, "DROP DATABASE "+name) })
	cfg.DBName = name
	return db, name, cfg.FormatDSN()
}

// Exec runs one statement (30 s at most) and fails the test on error.
func Exec(tb testing.TB, db *sql.DB, query string, args ...any) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, query, args...); err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
}
