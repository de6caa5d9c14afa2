package sqlstore

import (
	"context"
	"database/sql"
	"strings"
	"sync/atomic"
	"time"

	"github.com/scimbridge/scimbridge/adapters"
)

// MySQL and MariaDB compare a userName (or a group's displayName) with
// CAST(LOWER(c) AS BINARY) = CAST(LOWER(?) AS BINARY): bytes, so a PAD
// SPACE collation does not call "x " equal to "x". That expression cannot
// use an index on c, so every apply of a new user scanned the whole table
// (20,000 users: 123 applies/s). When c has a case-insensitive collation
// (its name ends in _ci), the match is written
//
//	c = ? AND CAST(LOWER(c) AS BINARY) = CAST(LOWER(?) AS BINARY)
//
// The first term uses c's index; under a _ci collation it holds for every
// case variant, so the second term decides as before. The one difference:
// a character the collation does not fold the way LOWER does (KELVIN SIGN
// U+212A is "k" to LOWER but not to utf8mb4_general_ci) no longer matches
// its ASCII letter, exactly as the column's own unique index would see it.
// A case-sensitive or binary column keeps the scan (c = ? would miss case
// variants there).

// collationTTL is how long a table's column collations are trusted before
// they are read again (a customer may ALTER the table).
const collationTTL = 5 * time.Minute

// collations is a snapshot of which columns have a _ci collation.
type collations struct {
	ci     map[string]bool // table + "\x00" + lower(column)
	readAt time.Time
}

// collationCache is the store's current snapshot (nil until read).
type collationCache struct {
	p atomic.Pointer[collations]
}

// foldIndexed reports whether column of table can be matched through its
// index (MySQL only: a _ci collation). It reads the table's collations
// through q (the apply's transaction, so it never needs a second pooled
// connection) at most once per collationTTL; a failed read answers false
// (the scan) and is retried on the next call.
func (s *store) foldIndexed(ctx context.Context, q queryer, table, column string) bool {
	if s.d.kind != adapters.KindMySQL {
		return false
	}
	c := s.collations.p.Load()
	if c == nil || time.Since(c.readAt) > collationTTL {
		tables := []string{s.m.Table}
		if s.groups != nil {
			tables = append(tables, s.groups.m.Table)
		}
		fresh, err := readCollations(ctx, q, tables)
		if err != nil {
			return false
		}
		s.collations.p.Store(fresh)
		c = fresh
	}
	return c.ci[table+"\x00"+strings.ToLower(column)]
}

// readCollations reads the collation of every column of the tables
// ("db.table" or "table" in the connection's database).
func readCollations(ctx context.Context, q queryer, tables []string) (*collations, error) {
	c := &collations{ci: map[string]bool{}, readAt: time.Now()}
	for _, t := range tables {
		var schema any
		name := t
		if db, tbl, ok := strings.Cut(t, "."); ok {
			schema, name = db, tbl
		}
		rows, err := q.QueryContext(ctx, "SELECT COLUMN_NAME, COLLATION_NAME FROM information_schema.COLUMNS"+
			" WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?", schema, name)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var col string
			var coll sql.NullString
			if err := rows.Scan(&col, &coll); err != nil {
				rows.Close()
				return nil, err
			}
			c.ci[t+"\x00"+strings.ToLower(col)] = coll.Valid && strings.HasSuffix(strings.ToLower(coll.String), "_ci")
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// foldMatch writes "column equals value case-insensitively" to st, with
// the indexed equality first when indexed (see foldIndexed).
func foldMatch(st *stmt, column, value string, indexed bool) {
	quoted := st.d.ident(column)
	if indexed {
		st.write("(", quoted, " = ").arg(value).write(" AND ")
	}
	st.write(st.d.foldEqual(quoted, st.next()))
	st.args = append(st.args, value)
	if indexed {
		st.write(")")
	}
}
