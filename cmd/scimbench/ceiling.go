package main

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

// Ceiling is the store's own speed for the rows scimbridge writes: plain
// single-row INSERTs and UPDATEs (autocommit) into a scratch copy of the
// users table, at the given concurrency.
type Ceiling struct {
	Rows          int     `json:"rows"`
	Concurrency   int     `json:"concurrency"`
	InsertPerSec  float64 `json:"insert_per_s"`
	UpdatePerSec  float64 `json:"update_per_s"`
	InsertSeconds float64 `json:"insert_s"`
	UpdateSeconds float64 `json:"update_s"`
}

// driverOf maps a store kind to its database/sql driver.
func driverOf(kind string) (string, error) {
	switch kind {
	case "postgres":
		return "pgx", nil
	case "mysql":
		return "mysql", nil
	case "sqlite":
		return "sqlite", nil
	}
	return "", fmt.Errorf("scimbench: store kind %q: want postgres, mysql or sqlite", kind)
}

// storeKindOf guesses the kind from a DSN.
func storeKindOf(dsn string) string {
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return "postgres"
	case strings.Contains(dsn, "@tcp("), strings.HasPrefix(dsn, "mysql://"):
		return "mysql"
	case isLDAPURL(dsn):
		return "ldap"
	}
	return "sqlite"
}

var identRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$`)

// checkIdent refuses anything but a plain (optionally schema-qualified) name.
func checkIdent(what, s string) error {
	if !identRe.MatchString(s) {
		return fmt.Errorf("scimbench: %s %q: want a plain SQL name", what, s)
	}
	return nil
}

// scratchTable creates an empty copy of table (same columns, types,
// defaults and indexes) and returns its name and a drop function.
func scratchTable(ctx context.Context, s *storeConn) (string, func(), error) {
	name := s.table + "_sbceiling"
	drop := func() { _, _ = s.db.ExecContext(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+name) }
	drop()
	switch s.kind {
	case "postgres":
		if _, err := s.db.ExecContext(ctx, "CREATE TABLE "+name+" (LIKE "+s.table+" INCLUDING ALL)"); err != nil {
			return "", nil, fmt.Errorf("scimbench: scratch table: %w", err)
		}
	case "mysql":
		if _, err := s.db.ExecContext(ctx, "CREATE TABLE "+name+" LIKE "+s.table); err != nil {
			return "", nil, fmt.Errorf("scimbench: scratch table: %w", err)
		}
	case "sqlite":
		var ddl string
		if err := s.db.QueryRowContext(ctx, "SELECT sql FROM sqlite_master WHERE type='table' AND name=?", s.table).Scan(&ddl); err != nil {
			return "", nil, fmt.Errorf("scimbench: scratch table: %w", err)
		}
		i := strings.Index(ddl, "(")
		if i < 0 {
			return "", nil, fmt.Errorf("scimbench: scratch table: odd DDL")
		}
		if _, err := s.db.ExecContext(ctx, "CREATE TABLE "+name+" "+ddl[i:]); err != nil {
			return "", nil, fmt.Errorf("scimbench: scratch table: %w", err)
		}
		// Same indexes as the original.
		rows, err := s.db.QueryContext(ctx, "SELECT sql FROM sqlite_master WHERE type='index' AND tbl_name=? AND sql IS NOT NULL", s.table)
		if err != nil {
			return "", nil, fmt.Errorf("scimbench: scratch table: %w", err)
		}
		var idx []string
		for rows.Next() {
			var q string
			if err := rows.Scan(&q); err == nil {
				idx = append(idx, q)
			}
		}
		rows.Close()
		for n, q := range idx {
			q = regexp.MustCompile(`(?i)INDEX\s+(IF NOT EXISTS\s+)?\S+\s+ON\s+\S+`).ReplaceAllString(q, fmt.Sprintf("INDEX %s_i%d ON %s", name, n, name))
			if _, err := s.db.ExecContext(ctx, q); err != nil {
				return "", nil, fmt.Errorf("scimbench: scratch index: %w", err)
			}
		}
	}
	return name, drop, nil
}

// columnKinds reads the declared type of each column: "bool", "int" or
// "text", to build values the store accepts.
func columnKinds(ctx context.Context, db *sql.DB, table string, cols []string) ([]string, error) {
	rows, err := db.QueryContext(ctx, "SELECT "+strings.Join(cols, ",")+" FROM "+table+" WHERE 1=0")
	if err != nil {
		return nil, fmt.Errorf("scimbench: columns of %s: %w", table, err)
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, fmt.Errorf("scimbench: columns of %s: %w", table, err)
	}
	out := make([]string, len(types))
	for i, t := range types {
		n := strings.ToUpper(t.DatabaseTypeName())
		switch {
		case strings.Contains(n, "BOOL"), n == "TINYINT": // MySQL's BOOLEAN is TINYINT(1)
			out[i] = "bool"
		case strings.Contains(n, "INT"):
			out[i] = "int"
		default:
			out[i] = "text"
		}
	}
	return out, nil
}

// rowValues builds one row's values like a create of user i would map.
func rowValues(kinds, cols []string, tag string, i int) []any {
	vals := make([]any, len(cols))
	for c, k := range kinds {
		switch k {
		case "bool":
			vals[c] = true
		case "int":
			vals[c] = i
		default:
			vals[c] = fmt.Sprintf("%s-%s-%d@bench.example", cols[c], tag, i)
		}
	}
	return vals
}

// measureCeiling INSERTs rows rows and then UPDATEs each of them once
// (the mapped text columns) into a scratch copy of the users table, conc
// at a time, and returns the rates. The scratch table is dropped after.
func measureCeiling(ctx context.Context, s *storeConn, cols []string, key string, rows, conc int) (*Ceiling, error) {
	for _, c := range append([]string{key, s.table}, cols...) {
		if err := checkIdent("column or table", c); err != nil {
			return nil, err
		}
	}
	name, drop, err := scratchTable(ctx, s)
	if err != nil {
		return nil, err
	}
	defer drop()
	kinds, err := columnKinds(ctx, s.db, name, cols)
	if err != nil {
		return nil, err
	}
	s.db.SetMaxOpenConns(conc)
	s.db.SetMaxIdleConns(conc)
	// Open the connections before timing (the server's pools are warm too).
	var held []*sql.Conn
	for range conc {
		c, err := s.db.Conn(ctx)
		if err != nil {
			return nil, fmt.Errorf("scimbench: ceiling warm-up: %w", err)
		}
		held = append(held, c)
	}
	for _, c := range held {
		c.Close()
	}
	ins := "INSERT INTO " + name + " (" + strings.Join(cols, ",") + ") VALUES (" + s.placeholders(1, len(cols)) + ")"
	insertDur, err := parallel(ctx, rows, conc, func(ctx context.Context, i int) error {
		_, err := s.db.ExecContext(ctx, ins, rowValues(kinds, cols, "ceil", i)...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("scimbench: ceiling insert: %w", err)
	}
	// Update the text columns of each row by key, as an apply of a PUT does.
	var keys []any
	kr, err := s.db.QueryContext(ctx, "SELECT "+key+" FROM "+name)
	if err != nil {
		return nil, fmt.Errorf("scimbench: ceiling keys: %w", err)
	}
	for kr.Next() {
		var k any
		if err := kr.Scan(&k); err == nil {
			keys = append(keys, k)
		}
	}
	kr.Close()
	var setCols []string
	for c, k := range kinds {
		if k == "text" && cols[c] != key {
			setCols = append(setCols, cols[c])
		}
	}
	var sets []string
	for i, c := range setCols {
		sets = append(sets, c+" = "+s.placeholders(i+1, 1))
	}
	upd := "UPDATE " + name + " SET " + strings.Join(sets, ", ") + " WHERE " + key + " = " + s.placeholders(len(setCols)+1, 1)
	updateDur, err := parallel(ctx, len(keys), conc, func(ctx context.Context, i int) error {
		args := make([]any, 0, len(setCols)+1)
		for _, c := range setCols {
			args = append(args, fmt.Sprintf("%s-upd-%d", c, i))
		}
		args = append(args, keys[i])
		_, err := s.db.ExecContext(ctx, upd, args...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("scimbench: ceiling update: %w", err)
	}
	c := &Ceiling{Rows: rows, Concurrency: conc, InsertSeconds: insertDur.Seconds(), UpdateSeconds: updateDur.Seconds()}
	if insertDur > 0 {
		c.InsertPerSec = float64(rows) / insertDur.Seconds()
	}
	if updateDur > 0 {
		c.UpdatePerSec = float64(len(keys)) / updateDur.Seconds()
	}
	return c, nil
}

// parallel runs f(0..n-1) with conc goroutines and returns the wall time.
func parallel(ctx context.Context, n, conc int, f func(context.Context, int) error) (time.Duration, error) {
	var next atomic.Int64
	var wg gosync.WaitGroup
	var once gosync.Once
	var firstErr error
	start := time.Now()
	for range max(1, min(conc, n)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := f(ctx, i); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start), firstErr
}
