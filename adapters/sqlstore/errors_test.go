package sqlstore

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/adapters/conformance"
)

func TestTranslate(t *testing.T) {
	pg := func(code string) error {
		return &pgconn.PgError{Code: code, Message: "msg " + code, Detail: "Failing row contains ($argon2id$secret)"}
	}
	my := func(n uint16) error { return &mysql.MySQLError{Number: n, Message: fmt.Sprint("msg ", n)} }
	tests := []struct {
		name string
		err  error
		want []error // sentinels the result must wrap
		not  []error // sentinels it must not wrap
	}{
		{"pg unique", pg("23505"), []error{adapters.ErrRejected, adapters.ErrAlreadyExists}, nil},
		{"pg not null", pg("23502"), []error{adapters.ErrRejected}, []error{adapters.ErrAlreadyExists}},
		{"pg check", pg("23514"), []error{adapters.ErrRejected}, nil},
		{"pg too long", pg("22001"), []error{adapters.ErrRejected}, nil},
		{"pg permission", pg("42501"), []error{adapters.ErrRejected}, nil},
		{"pg undefined column", pg("42703"), []error{adapters.ErrConfig}, []error{adapters.ErrRejected}},
		{"pg undefined table", pg("42P01"), []error{adapters.ErrConfig}, nil},
		{"pg admin shutdown", pg("57P01"), []error{adapters.ErrUnavailable}, nil},
		{"pg deadlock", pg("40P01"), []error{adapters.ErrUnavailable}, nil},
		{"pg connection", pg("08006"), []error{adapters.ErrUnavailable}, nil},
		{"pg syntax", pg("42601"), nil, []error{adapters.ErrRejected, adapters.ErrUnavailable, adapters.ErrConfig}},
		{"mysql duplicate", my(1062), []error{adapters.ErrRejected, adapters.ErrAlreadyExists}, nil},
		{"mysql null", my(1048), []error{adapters.ErrRejected}, nil},
		{"mysql no default", my(1364), []error{adapters.ErrRejected}, nil},
		{"mysql too long", my(1406), []error{adapters.ErrRejected}, nil},
		{"mysql fk", my(1452), []error{adapters.ErrRejected}, nil},
		{"mariadb check", my(4025), []error{adapters.ErrRejected}, nil},
		{"mysql unknown column", my(1054), []error{adapters.ErrConfig}, nil},
		{"mysql deadlock", my(1213), []error{adapters.ErrUnavailable}, nil},
		{"mysql lock wait", my(1205), []error{adapters.ErrUnavailable}, nil},
		{"mysql bad conn", mysql.ErrInvalidConn, []error{adapters.ErrUnavailable}, nil},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), []error{adapters.ErrUnavailable}, nil},
		{"canceled", context.Canceled, []error{adapters.ErrUnavailable}, nil},
		{"bad conn", driver.ErrBadConn, []error{adapters.ErrUnavailable}, nil},
		{"dial", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, []error{adapters.ErrUnavailable}, nil},
		{"other", errors.New("boom"), nil, []error{adapters.ErrRejected, adapters.ErrUnavailable}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := translate("op", tt.err)
			if !strings.HasPrefix(got.Error(), "sqlstore: op: ") {
				t.Errorf("no prefix: %q", got)
			}
			for _, w := range tt.want {
				if !errors.Is(got, w) {
					t.Errorf("%q does not wrap %v", got, w)
				}
			}
			for _, n := range tt.not {
				if errors.Is(got, n) {
					t.Errorf("%q wraps %v", got, n)
				}
			}
			if strings.Contains(got.Error(), "argon2id") {
				t.Errorf("row detail leaked: %q", got)
			}
		})
	}
	if translate("op", nil) != nil {
		t.Error("translate(nil) != nil")
	}
}

func TestSQLiteKind(t *testing.T) {
	tests := []struct {
		code int
		msg  string
		want errorKind
	}{
		{2067, "UNIQUE constraint failed", kindDuplicate},
		{1555, "PRIMARY KEY constraint failed", kindDuplicate},
		{1299, "NOT NULL constraint failed", kindRejected},
		{275, "CHECK constraint failed", kindRejected},
		{5, "database is locked", kindUnavailable},
		{14, "unable to open database file", kindUnavailable},
		{1, "no such table: users", kindConfig},
		{1, "table users has no column named x", kindConfig},
		{1, "near \"x\": syntax error", kindOther},
	}
	for _, tt := range tests {
		if got := sqliteKind(tt.code, tt.msg); got != tt.want {
			t.Errorf("sqliteKind(%d, %q) = %v, want %v", tt.code, tt.msg, got, tt.want)
		}
	}
}

func TestSQLiteDSN(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/tmp/a.db", "/tmp/a.db?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_txlock=immediate"},
		{"file:a.db?mode=rw", "file:a.db?mode=rw&_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_txlock=immediate"},
		{"a.db?_pragma=busy_timeout(100)&_pragma=journal_mode(DELETE)&_pragma=foreign_keys(0)&_txlock=deferred", "a.db?_pragma=busy_timeout(100)&_pragma=journal_mode(DELETE)&_pragma=foreign_keys(0)&_txlock=deferred"},
	}
	for _, tt := range tests {
		if got := sqliteDSN(tt.in); got != tt.want {
			t.Errorf("sqliteDSN(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCursor(t *testing.T) {
	for _, key := range []string{"1", "9223372036854775807", "jane@example.com", "o'brien ünïcode", ""} {
		got, err := decodeCursor(encodeCursor(key))
		if err != nil || got != key {
			t.Errorf("cursor round trip of %q = %q, %v", key, got, err)
		}
	}
	for _, bad := range []string{"!!", "eDox", "a"} {
		if _, err := decodeCursor(bad); !errors.Is(err, adapters.ErrRejected) {
			t.Errorf("decodeCursor(%q) err = %v", bad, err)
		}
	}
}

func TestDialectIdentAndParams(t *testing.T) {
	pg, my := dialects[adapters.KindPostgres], dialects[adapters.KindMySQL]
	if got := pg.ident("app.users"); got != `"app"."users"` {
		t.Errorf("pg ident = %s", got)
	}
	if got := my.ident("app.users"); got != "`app`.`users`" {
		t.Errorf("mysql ident = %s", got)
	}
	st := &stmt{d: pg}
	st.write("a = ").arg("x").write(" AND b = ").arg(true)
	if st.String() != "a = $1 AND b = $2" || st.args[1] != "true" {
		t.Errorf("pg stmt = %s %v", st, st.args)
	}
	st = &stmt{d: my}
	st.write("a = ").arg("x").write(" AND b = ").arg(false)
	if st.String() != "a = ? AND b = ?" || st.args[1] != int64(0) {
		t.Errorf("mysql stmt = %s %v", st, st.args)
	}
}

func TestOpenRejectsBadConfig(t *testing.T) {
	good := adapters.Config{Kind: adapters.KindSQLite, DSN: t.TempDir() + "/x.db", Users: conformance.Mapping("users", conformance.Options{})}
	tests := []struct {
		name   string
		modify func(c *adapters.Config)
	}{
		{"ldap kind", func(c *adapters.Config) { c.Kind = adapters.KindLDAP }},
		{"bad table", func(c *adapters.Config) { c.Users.Table = "users; drop" }},
		{"inline password", func(c *adapters.Config) {
			c.Kind = adapters.KindPostgres
			c.DSN = "postgres://u:hunter2@127.0.0.1/db"
		}},
		{"empty env", func(c *adapters.Config) { c.DSN = ""; c.DSNEnv = "SCIMBRIDGE_TEST_SURELY_UNSET_DSN" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			c.Users.Attributes = good.Users.Attributes
			tt.modify(&c)
			s, err := Open(context.Background(), "t1", c)
			if !errors.Is(err, adapters.ErrConfig) {
				t.Fatalf("Open: store %v, err %v; want ErrConfig", s, err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error leaks the password: %v", err)
			}
		})
	}
	s, err := Open(context.Background(), "t1", good)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
}

func TestPingMissingTable(t *testing.T) {
	cfg := adapters.Config{Kind: adapters.KindSQLite, DSN: t.TempDir() + "/x.db", Users: conformance.Mapping("users", conformance.Options{})}
	s := openStore(t, cfg)
	if err := s.Ping(context.Background()); !errors.Is(err, adapters.ErrConfig) {
		t.Fatalf("Ping without the table: err = %v, want ErrConfig", err)
	}
}
