package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"syscall"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/scimbridge/scimbridge/adapters"
)

// translate gives a driver error its meaning: ErrRejected (constraint or data
// error; a unique violation also wraps ErrAlreadyExists), ErrConfig (the
// mapping names a table or column the database does not have),
// ErrUnavailable (cannot connect, timeout, lock contention, shutdown).
// Anything else is returned as is. The message is the database's own short
// message: never the row detail, which could hold a password hash.
func translate(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, adapters.ErrRejected) || errors.Is(err, adapters.ErrUnavailable) ||
		errors.Is(err, adapters.ErrConfig) || errors.Is(err, adapters.ErrAlreadyExists) {
		return fmt.Errorf("sqlstore: %s: %w", op, err)
	}

	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return classify(op, postgresKind(pgErr.Code), fmt.Sprintf("%s (SQLSTATE %s)", redactValues(pgErr.Message), pgErr.Code))
	}
	var myErr *mysql.MySQLError
	if errors.As(err, &myErr) {
		return classify(op, mysqlKind(myErr.Number), fmt.Sprintf("%s (error %d)", redactValues(myErr.Message), myErr.Number))
	}
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		return classify(op, sqliteKind(liteErr.Code(), liteErr.Error()), liteErr.Error())
	}

	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || pgconn.Timeout(err) {
		return fmt.Errorf("sqlstore: %s: %w: %v", op, adapters.ErrUnavailable, err)
	}
	var netErr net.Error
	var connectErr *pgconn.ConnectError
	if errors.As(err, &netErr) || errors.As(err, &connectErr) {
		return fmt.Errorf("sqlstore: %s: %w: %v", op, adapters.ErrUnavailable, err)
	}
	return fmt.Errorf("sqlstore: %s: %w", op, err)
}

// errorKind is what a database error means for scimbridge.
type errorKind int

const (
	kindOther errorKind = iota
	kindRejected
	kindDuplicate
	kindConfig
	kindUnavailable
)

func classify(op string, k errorKind, msg string) error {
	switch k {
	case kindDuplicate:
		return fmt.Errorf("sqlstore: %s: %w: %w: %s", op, adapters.ErrRejected, adapters.ErrAlreadyExists, msg)
	case kindRejected:
		return fmt.Errorf("sqlstore: %s: %w: %s", op, adapters.ErrRejected, msg)
	case kindConfig:
		return fmt.Errorf("sqlstore: %s: %w: %s", op, adapters.ErrConfig, msg)
	case kindUnavailable:
		return fmt.Errorf("sqlstore: %s: %w: %s", op, adapters.ErrUnavailable, msg)
	}
	return fmt.Errorf("sqlstore: %s: %s", op, msg)
}

// postgresKind classifies a SQLSTATE.
func postgresKind(code string) errorKind {
	switch {
	case code == "23505":
		return kindDuplicate
	case strings.HasPrefix(code, "22"), strings.HasPrefix(code, "23"), code == "42501":
		// data exception, integrity violation, insufficient privilege
		return kindRejected
	case code == "42P01", code == "42703", code == "3F000":
		// undefined table, undefined column, invalid schema name
		return kindConfig
	case strings.HasPrefix(code, "08"), strings.HasPrefix(code, "53"), strings.HasPrefix(code, "57"),
		strings.HasPrefix(code, "40"), code == "55P03":
		// connection exception, insufficient resources, operator
		// intervention (shutdown, statement timeout), transaction rollback
		// (serialization, deadlock), lock not available
		return kindUnavailable
	}
	return kindOther
}

// mysqlKind classifies a MySQL / MariaDB error number.
func mysqlKind(n uint16) errorKind {
	switch n {
	case 1062, 1586: // duplicate entry
		return kindDuplicate
	case 1048, // column cannot be null
		1364,       // field has no default value
		1264,       // out of range
		1265,       // data truncated
		1292,       // incorrect value
		1366,       // incorrect integer/string value
		1406,       // data too long
		1451, 1452, // foreign key
		1216, 1217, // foreign key (old)
		3819,             // check constraint (MySQL)
		4025,             // check constraint (MariaDB)
		1142, 1143, 1227: // permission denied
		return kindRejected
	case 1146, // table doesn't exist
		1054, // unknown column
		1049: // unknown database
		return kindConfig
	case 1040, // too many connections
		1044, 1045, // access denied at connect (credentials may be rotated)
		1053,                         // server shutdown
		1205,                         // lock wait timeout
		1213,                         // deadlock
		1927,                         // connection killed
		2002, 2003, 2006, 2013, 3024: // no connection, gone away, lost, query timeout
		return kindUnavailable
	}
	return kindOther
}

// sqliteKind classifies an SQLite result code (primary code in the low byte).
func sqliteKind(code int, msg string) errorKind {
	switch code {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return kindDuplicate
	}
	switch code & 0xff {
	case sqlite3.SQLITE_CONSTRAINT, sqlite3.SQLITE_MISMATCH, sqlite3.SQLITE_TOOBIG,
		sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM, sqlite3.SQLITE_AUTH:
		return kindRejected
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR,
		sqlite3.SQLITE_FULL, sqlite3.SQLITE_INTERRUPT, sqlite3.SQLITE_NOTADB:
		return kindUnavailable
	case sqlite3.SQLITE_ERROR:
		if strings.Contains(msg, "no such table") || strings.Contains(msg, "no such column") ||
			strings.Contains(msg, "has no column named") {
			return kindConfig
		}
	}
	return kindOther
}

// Database messages that quote the offending value: the value is personal
// data (a user name, an email) and the message travels to logs, traces and
// the operator's failure list, so it is cut out; names of columns and
// constraints stay.
var (
	mysqlDuplicateEntry = regexp.MustCompile(`(?s)Duplicate entry '.*' for key`)
	postgresInvalidText = regexp.MustCompile(`(?s)(invalid input (?:syntax|value) for [^:]+): .*`)
)

func redactValues(msg string) string {
	msg = mysqlDuplicateEntry.ReplaceAllString(msg, "Duplicate entry '…' for key")
	return postgresInvalidText.ReplaceAllString(msg, "$1: …")
}
