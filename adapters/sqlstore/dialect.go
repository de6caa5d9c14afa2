package sqlstore

import (
	"strconv"
	"strings"

	"github.com/scimbridge/scimbridge/adapters"
)

// dialect holds everything that differs between the SQL databases we speak.
type dialect struct {
	kind string
	// quote opens and closes a quoted identifier.
	quote byte
	// numbered placeholders ($1, $2) rather than ?.
	numbered bool
	// returning: INSERT ... RETURNING key gives the generated key; without
	// it the driver's LastInsertId does.
	returning bool
	// foldEqual compares a column with a placeholder case-insensitively;
	// exactEqual compares them exactly (no collation folding, no padding).
	foldEqual, exactEqual func(column, param string) string
	// boolTrue and boolFalse are how a boolean active column is written.
	boolTrue, boolFalse any
	// skipDuplicates is appended to an INSERT ... VALUES so a row that
	// violates a unique constraint is skipped (and only then: foreign-key,
	// NOT NULL and CHECK violations still fail). column is any quoted
	// column of the insert (MySQL needs one for its no-op update).
	skipDuplicates func(column string) string
}

var dialects = map[string]*dialect{
	adapters.KindPostgres: {
		kind: adapters.KindPostgres, quote: '"', numbered: true, returning: true,
		foldEqual:  func(c, p string) string { return "lower(" + c + ") = lower(" + p + ")" },
		exactEqual: plainEqual,
		// Strings are sent in text format by pgx, so "true"/"false" suit
		// both a boolean and a text column.
		boolTrue: "true", boolFalse: "false",
		skipDuplicates: onConflictDoNothing,
	},
	adapters.KindSQLite: {
		kind: adapters.KindSQLite, quote: '"', returning: true,
		// SQLite's lower() folds ASCII only; ours folds Unicode.
		foldEqual: func(c, p string) string {
			return SQLiteLowerFunc + "(" + c + ") = " + SQLiteLowerFunc + "(" + p + ")"
		},
		exactEqual: plainEqual,
		boolTrue:   int64(1), boolFalse: int64(0),
		skipDuplicates: onConflictDoNothing,
	},
	adapters.KindMySQL: {
		kind: adapters.KindMySQL, quote: '`',
		// Columns usually have a case-insensitive, PAD SPACE collation:
		// compare bytes so "x " does not equal "x" and externalId stays
		// case-sensitive.
		foldEqual: func(c, p string) string {
			return "CAST(LOWER(" + c + ") AS BINARY) = CAST(LOWER(" + p + ") AS BINARY)"
		},
		exactEqual: func(c, p string) string { return "CAST(" + c + " AS BINARY) = CAST(" + p + " AS BINARY)" },
		boolTrue:   int64(1), boolFalse: int64(0),
		// Not INSERT IGNORE: it would also turn a foreign-key violation
		// (a member that is not a user) into a silent warning.
		skipDuplicates: func(c string) string { return " ON DUPLICATE KEY UPDATE " + c + " = " + c },
	},
}

func plainEqual(c, p string) string { return c + " = " + p }

// onConflictDoNothing skips unique violations on PostgreSQL and SQLite
// (3.24+); with no unique constraint on the table it never triggers.
func onConflictDoNothing(string) string { return " ON CONFLICT DO NOTHING" }

// ident quotes a validated identifier, splitting a schema qualification
// ("app.users" -> "app"."users"). Names come from a validated Config, so
// they hold no quote character; quoting keeps reserved words and case.
func (d *dialect) ident(name string) string {
	parts := strings.Split(name, ".")
	for i, p := range parts {
		parts[i] = string(d.quote) + p + string(d.quote)
	}
	return strings.Join(parts, ".")
}

// param returns the placeholder for the n-th (1-based) bind parameter.
func (d *dialect) param(n int) string {
	if d.numbered {
		return "$" + strconv.Itoa(n)
	}
	return "?"
}

// bind turns a mapping value into a bind parameter.
func (d *dialect) bind(v any) any {
	if b, ok := v.(bool); ok {
		if b {
			return d.boolTrue
		}
		return d.boolFalse
	}
	return v
}

// next returns the placeholder the next arg will get.
func (s *stmt) next() string { return s.d.param(len(s.args) + 1) }

// stmt builds one SQL statement with its bind parameters.
type stmt struct {
	d    *dialect
	sql  strings.Builder
	args []any
}

func (s *stmt) write(parts ...string) *stmt {
	for _, p := range parts {
		s.sql.WriteString(p)
	}
	return s
}

// arg adds a bind parameter and writes its placeholder.
func (s *stmt) arg(v any) *stmt {
	s.args = append(s.args, s.d.bind(v))
	s.sql.WriteString(s.d.param(len(s.args)))
	return s
}

func (s *stmt) String() string { return s.sql.String() }
