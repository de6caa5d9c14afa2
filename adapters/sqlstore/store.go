package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"modernc.org/sqlite"

	"github.com/scimbridge/scimbridge/adapters"
)

// Pool settings: a tenant's store gets a handful of connections at most.
const (
	// maxSharedConns caps one shared pool (all tenants on one database).
	maxSharedConns  = 32
	maxIdleConns    = 4
	connMaxIdleTime = 5 * time.Minute
	connMaxLifetime = 30 * time.Minute
	connectTimeout  = 10 * time.Second
	// maxFound caps the entries FindUsers returns.
	maxFound = 100
	// maxPage caps a ListUsers page; defaultPage is used for limit <= 0.
	maxPage     = 1000
	defaultPage = 100
)

// SQLiteLowerFunc is the SQLite function the SQLite dialect folds case
// with (strings.ToLower), registered deterministic with the driver so an
// index on SQLiteLowerFunc(column) can serve a case-insensitive match.
// Only a connection that has the function can write such a table (the
// sqlite3 shell cannot insert into it: "no such function").
const SQLiteLowerFunc = "scimbridge_lower"

func init() {
	// A Unicode-aware lower() for SQLite, whose built-in folds ASCII only.
	sqlite.MustRegisterDeterministicScalarFunction(SQLiteLowerFunc, 1,
		func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			switch v := args[0].(type) {
			case string:
				return strings.ToLower(v), nil
			case []byte:
				return strings.ToLower(string(v)), nil
			}
			return args[0], nil
		})
}

var tracer = otel.Tracer("github.com/scimbridge/scimbridge/adapters/sqlstore")

// store is one tenant's SQL user table.
type store struct {
	tenantID string
	d        *dialect
	db       *sql.DB // shared with the other tenants of the same database
	pools    *sharedPools
	closed   atomic.Bool
	m        adapters.UserMapping
	mapper   *adapters.UserMapper // m compiled: Fields and Attrs per user

	table   string   // quoted table
	key     string   // quoted key column
	columns []string // mapped columns (unquoted), active included, password not
	// userNameColumn is the column of userName (unquoted).
	userNameColumn string
	// groups are the group and membership tables; nil when the tenant
	// maps no groups.
	groups *groupTables
	// collations says which columns a MySQL match can reach through
	// their index (see foldIndexed).
	collations collationCache
}

var (
	_ adapters.Store      = (*store)(nil)
	_ adapters.GroupStore = (*store)(nil)
	_ adapters.BatchStore = (*store)(nil)
)

// NewFactory returns the adapters.Factory for "postgres", "mysql" and
// "sqlite" whose stores dial only where policy permits (nil: the default
// policy) and share one connection pool per database among themselves.
// A factory validates cfg (every problem wraps ErrConfig) and opens a
// small pool without connecting: the first call connects.
func NewFactory(policy *adapters.HostPolicy) adapters.Factory {
	pools := &sharedPools{policy: policy, pools: map[string]*sharedPool{}, byDB: map[*sql.DB]string{}}
	return func(_ context.Context, tenantID string, cfg adapters.Config) (adapters.Store, error) {
		return open(pools, tenantID, cfg)
	}
}

// Open is a factory with the default host policy, for tools and tests;
// the server wires NewFactory with the operator's policy.
func Open(ctx context.Context, tenantID string, cfg adapters.Config) (adapters.Store, error) {
	return defaultFactory(ctx, tenantID, cfg)
}

// defaultFactory is Open's: its pools are shared by the stores Open opens.
var defaultFactory = NewFactory(nil)

func open(pools *sharedPools, tenantID string, cfg adapters.Config) (adapters.Store, error) {
	d, ok := dialects[cfg.Kind]
	if !ok {
		return nil, fmt.Errorf("sqlstore: kind %q: %w: not a SQL store", cfg.Kind, adapters.ErrConfig)
	}
	if err := cfg.ValidateErr(); err != nil {
		return nil, fmt.Errorf("sqlstore: tenant %s: %w", tenantID, err)
	}
	// Compiled before the pool is acquired, so that an error leaves
	// nothing to release.
	mapper, err := adapters.NewUserMapper(cfg.Users)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: tenant %s: %w", tenantID, err)
	}
	groups, err := newGroupTables(d, cfg.Groups)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: tenant %s: %w", tenantID, err)
	}
	dsn, err := cfg.ResolveDSN()
	if err != nil {
		return nil, fmt.Errorf("sqlstore: tenant %s: %w", tenantID, err)
	}
	db, err := pools.acquire(cfg.Kind, dsn, cfg.Concurrency())
	if err != nil {
		return nil, fmt.Errorf("sqlstore: tenant %s: %w", tenantID, err)
	}

	m := cfg.Users
	userNameColumn, _ := m.FieldFor("userName")
	return &store{
		tenantID:       tenantID,
		d:              d,
		db:             db,
		pools:          pools,
		m:              m,
		mapper:         mapper,
		table:          d.ident(m.Table),
		key:            d.ident(m.Key),
		columns:        m.Columns(),
		userNameColumn: userNameColumn,
		groups:         groups,
	}, nil
}

// openDB opens the pool for a kind without connecting. Parse errors never
// echo the DSN.
func openDB(kind, dsn string, policy *adapters.HostPolicy) (*sql.DB, error) {
	switch kind {
	case adapters.KindPostgres:
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			// pgconn's parse errors redact the password.
			return nil, fmt.Errorf("%w: postgres dsn: %v", adapters.ErrConfig, err)
		}
		if cfg.ConnectTimeout == 0 {
			cfg.ConnectTimeout = connectTimeout
		}
		cfg.DialFunc = policy.DialContext // the operator's host policy
		return stdlib.OpenDB(*cfg), nil
	case adapters.KindMySQL:
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			return nil, fmt.Errorf("%w: mysql dsn does not parse", adapters.ErrConfig)
		}
		if cfg.Timeout == 0 {
			cfg.Timeout = connectTimeout
		}
		if !strings.Contains(strings.ToLower(dsn), "interpolateparams") {
			// One round trip per statement instead of three (prepare,
			// execute, close): the driver quotes the arguments itself, and
			// falls back to server-side prepared statements for a
			// connection charset where that would be unsafe.
			cfg.InterpolateParams = true
		}
		cfg.DialFunc = policy.DialContext // the operator's host policy
		connector, err := mysql.NewConnector(cfg)
		if err != nil {
			return nil, fmt.Errorf("%w: mysql dsn: %v", adapters.ErrConfig, err)
		}
		return sql.OpenDB(connector), nil
	case adapters.KindSQLite:
		return sql.Open("sqlite", sqliteDSN(dsn))
	}
	return nil, fmt.Errorf("%w: kind %q", adapters.ErrConfig, kind)
}

// sqliteDSN adds busy_timeout, WAL and immediate transactions unless the DSN
// sets them.
func sqliteDSN(dsn string) string {
	var extra []string
	lower := strings.ToLower(dsn)
	if !strings.Contains(lower, "busy_timeout") && !strings.Contains(lower, "_timeout=") {
		extra = append(extra, "_pragma=busy_timeout(5000)")
	}
	if !strings.Contains(lower, "journal_mode") && !strings.Contains(lower, "_journal=") {
		extra = append(extra, "_pragma=journal_mode(WAL)")
	}
	if !strings.Contains(lower, "foreign_keys") {
		// SQLite enforces the customer's foreign keys (a membership row
		// naming a user that does not exist) only when asked to.
		extra = append(extra, "_pragma=foreign_keys(1)")
	}
	if !strings.Contains(lower, "_txlock=") {
		extra = append(extra, "_txlock=immediate")
	}
	if len(extra) == 0 {
		return dsn
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + strings.Join(extra, "&")
}

// span starts the span of one store call.
func (s *store) span(ctx context.Context, name string) (context.Context, trace.Span) {
	return tracer.Start(ctx, "sqlstore."+name, trace.WithAttributes(
		attribute.String("scimbridge.tenant", s.tenantID),
		attribute.String("db.system", s.d.kind),
	))
}

// row is one entry read from the table.
type row struct {
	key      string
	fields   map[string]any // column -> value as read
	password any            // the password column's value, when selected
	tag      int            // a tagged SELECT's tag (batch.go)
}

// selectList is "key, c1, c2, ..." (plus the password column when asked).
func (s *store) selectList(withPassword bool) string {
	cols := []string{s.key}
	for _, c := range s.columns {
		cols = append(cols, s.d.ident(c))
	}
	if withPassword {
		cols = append(cols, s.d.ident(s.m.Password.Column))
	}
	return strings.Join(cols, ", ")
}

// queryer is a *sql.DB or *sql.Tx.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// queryRows runs a SELECT built from selectList and scans every row.
func (s *store) queryRows(ctx context.Context, q queryer, st *stmt, withPassword bool) ([]row, error) {
	return scanRows(ctx, q, st, s.columns, withPassword)
}

// normalize copies driver byte slices (only valid until the next Scan).
func normalize(v any) any {
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	return v
}

// ApplyUser implements adapters.Store: in one transaction, find the row by
// anchor, else by userName (case-insensitive), then update the columns that
// differ, or insert.
func (s *store) ApplyUser(ctx context.Context, u adapters.User) (anchor string, err error) {
	ctx, span := s.span(ctx, "ApplyUser")
	defer func() { adapters.EndStoreSpan(span, err) }()

	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return "", translate("begin", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if anchor, err = s.applyInTx(ctx, tx, u); err != nil {
		return "", err
	}
	if err := tx.Commit(); err != nil {
		return "", translate("commit", err)
	}
	return anchor, nil
}

// applyInTx is ApplyUser's work inside a transaction.
func (s *store) applyInTx(ctx context.Context, tx *sql.Tx, u adapters.User) (string, error) {
	fields, err := s.mapper.Fields(u)
	if err != nil {
		return "", fmt.Errorf("sqlstore: apply user: %w", err)
	}
	withPassword := s.needsPassword(u)
	existing, err := s.findForApply(ctx, tx, u.Anchor, fields[s.userNameColumn], withPassword)
	if err != nil {
		return "", err
	}
	return s.write(ctx, tx, existing, fields, u.Password, withPassword)
}

// needsPassword reports whether an apply of u reads and writes the
// password column.
func (s *store) needsPassword(u adapters.User) bool {
	return u.Password != nil && s.m.Password != nil
}

// write is the second half of an apply, once the target row is known:
// update existing, or insert when it is nil.
func (s *store) write(ctx context.Context, tx *sql.Tx, existing *row, fields map[string]any, password *string, withPassword bool) (string, error) {
	if existing != nil {
		return s.update(ctx, tx, existing, fields, password, withPassword)
	}
	return s.insert(ctx, tx, fields, password, withPassword)
}

// ApplyUsers implements adapters.BatchStore: all users in one transaction
// (one commit for the lot); if any of them fails, the transaction is
// rolled back and each user is applied on its own, so one rejected user
// costs the others nothing but a retry.
func (s *store) ApplyUsers(ctx context.Context, users []adapters.User) ([]string, []error) {
	anchors := make([]string, len(users))
	errs := make([]error, len(users))
	if len(users) == 0 {
		return anchors, errs
	}
	batch := func() (err error) {
		ctx, span := s.span(ctx, "ApplyUsers")
		defer func() { adapters.EndStoreSpan(span, err) }()
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return translate("begin", err)
		}
		if err := s.applyAllInTx(ctx, tx, users, anchors); err != nil {
			_ = tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return translate("commit", err)
		}
		return nil
	}
	err := batch()
	if err == nil {
		return anchors, errs
	}
	if errors.Is(err, adapters.ErrUnavailable) {
		for i := range errs {
			anchors[i], errs[i] = "", err
		}
		return anchors, errs
	}
	for i, u := range users {
		anchors[i], errs[i] = s.ApplyUser(ctx, u)
	}
	return anchors, errs
}

// findForApply returns the row an apply targets: the anchor's, else the one
// whose userName matches case-insensitively; nil when there is none.
// Several userName matches cannot be adopted: ErrAlreadyExists.
func (s *store) findForApply(ctx context.Context, tx *sql.Tx, anchor string, userName any, withPassword bool) (*row, error) {
	if anchor != "" {
		st := &stmt{d: s.d}
		// No FOR UPDATE: scimbridge never applies one user twice at once,
		// and a concurrent write by the customer's application wins in
		// some order either way; a plain read keeps the unchanged case
		// (the common retry) free of writes.
		st.write("SELECT ", s.selectList(withPassword), " FROM ", s.table, " WHERE ", s.key, " = ").arg(anchor)
		rows, err := s.queryRows(ctx, tx, st, withPassword)
		if err != nil {
			return nil, translate("select by anchor", err)
		}
		if len(rows) > 0 {
			return &rows[0], nil
		}
	}
	name, ok := userName.(string)
	if !ok || name == "" {
		return nil, nil
	}
	rows, err := s.queryRows(ctx, tx, s.matchStmt(ctx, tx, []string{s.userNameColumn}, name, 2, withPassword), withPassword)
	if err != nil {
		return nil, translate("select by userName", err)
	}
	return adoptable(rows)
}

// adoptable is the row an anchor-less apply adopts among the (at most two)
// rows its userName matches: none (nil), the one, or ErrAlreadyExists for
// several.
func adoptable(rows []row) (*row, error) {
	if len(rows) > 1 {
		return nil, fmt.Errorf("sqlstore: apply user: %w: %w: several rows match the userName case-insensitively", adapters.ErrRejected, adapters.ErrAlreadyExists)
	}
	if len(rows) == 1 {
		return &rows[0], nil
	}
	return nil, nil
}

// matchStmt selects the rows where any of columns equals value
// case-insensitively, ordered by key. q is where the statement will run
// (it may read the columns' collations first: see foldIndexed).
func (s *store) matchStmt(ctx context.Context, q queryer, columns []string, value string, limit int, withPassword bool) *stmt {
	st := &stmt{d: s.d}
	st.write("SELECT ", s.selectList(withPassword), " FROM ", s.table, " WHERE ")
	s.matchWhere(ctx, q, st, columns, value)
	if limit <= 2 {
		// An existence/ambiguity check: no ORDER BY, which would let
		// PostgreSQL walk the primary key and filter every row when nothing
		// matches, instead of using the index on the folded column.
		st.write(fmt.Sprintf(" LIMIT %d", limit))
		return st
	}
	st.write(fmt.Sprintf(" ORDER BY %s LIMIT %d", s.key, limit))
	return st
}

// matchWhere writes matchStmt's condition to st: any of columns equals
// value case-insensitively.
func (s *store) matchWhere(ctx context.Context, q queryer, st *stmt, columns []string, value string) {
	for i, c := range columns {
		if i > 0 {
			st.write(" OR ")
		}
		foldMatch(st, c, value, s.foldIndexed(ctx, q, s.m.Table, c))
	}
}

// update writes the columns whose stored value differs from the desired one
// (nothing at all when none does) and returns the row's anchor afterwards.
func (s *store) update(ctx context.Context, tx *sql.Tx, r *row, fields map[string]any, password *string, withPassword bool) (string, error) {
	cols, vals := changedColumns(s.columns, fields, r.fields)
	if withPassword {
		stored, _ := adapters.StoredString(r.password)
		if !adapters.VerifyPassword(stored, *password) {
			hash, err := s.m.Password.HashPassword(*password)
			if err != nil {
				return "", fmt.Errorf("sqlstore: apply user: %w", err)
			}
			cols = append(cols, s.m.Password.Column)
			vals = append(vals, hash)
		}
	}
	if len(cols) == 0 {
		return r.key, nil
	}
	st := updateStmt(s.d, s.table, s.key, r.key, cols, vals)
	if _, err := tx.ExecContext(ctx, st.String(), st.args...); err != nil {
		return "", translate("update user", err)
	}
	// A natural key moves with its attribute (a renamed userName).
	if v, ok := mappedKey(s.m.KeyIsMapped(), s.m.Key, fields); ok {
		return v, nil
	}
	return r.key, nil
}

// insert creates the row from the non-nil fields (so column defaults apply
// to the rest) and returns its key.
func (s *store) insert(ctx context.Context, tx *sql.Tx, fields map[string]any, password *string, withPassword bool) (string, error) {
	cols, vals, err := s.insertColumns(fields, password, withPassword)
	if err != nil {
		return "", err
	}
	natural, isNatural := mappedKey(s.m.KeyIsMapped(), s.m.Key, fields)
	return insertRow(ctx, tx, s.d, newRow{
		op: "insert user", table: s.table, key: s.key, cols: cols, vals: vals,
		natural: natural, isNatural: isNatural,
		readBack: func() ([]row, error) {
			// No auto-increment key: read the key back by userName.
			name, _ := fields[s.userNameColumn].(string)
			rows, err := s.queryRows(ctx, tx, s.matchStmt(ctx, tx, []string{s.userNameColumn}, name, 2, false), false)
			if err != nil {
				return nil, translate("read back key", err)
			}
			return rows, nil
		},
	})
}

// insertColumns are the columns and values of a new row: the non-nil
// fields (so column defaults apply to the rest) and the password's hash.
func (s *store) insertColumns(fields map[string]any, password *string, withPassword bool) ([]string, []any, error) {
	cols, vals := presentColumns(s.columns, fields)
	if withPassword {
		hash, err := s.m.Password.HashPassword(*password)
		if err != nil {
			return nil, nil, fmt.Errorf("sqlstore: apply user: %w", err)
		}
		cols = append(cols, s.m.Password.Column)
		vals = append(vals, hash)
	}
	return cols, vals, nil
}

// sameValue reports whether a desired value (string, bool or nil) equals a
// stored one, so no write is needed.
func sameValue(desired, stored any) bool {
	switch d := desired.(type) {
	case nil:
		return stored == nil
	case bool:
		return stored != nil && adapters.Truthy(stored) == d
	case string:
		s, ok := adapters.StoredString(stored)
		return ok && s == d
	}
	return false
}

// RemoveUser implements adapters.Store. The entry is the anchor's row; with
// no anchor (a user whose apply crashed before its anchor was recorded) it
// is the row whose userName matches, as ApplyUser would have adopted it.
func (s *store) RemoveUser(ctx context.Context, u adapters.User) (err error) {
	ctx, span := s.span(ctx, "RemoveUser")
	defer func() { adapters.EndStoreSpan(span, err) }()

	key := u.Anchor
	if key == "" {
		name, _ := u.Attrs["userName"].(string)
		if name == "" {
			return nil
		}
		rows, err := s.queryRows(ctx, s.db, s.matchStmt(ctx, s.db, []string{s.userNameColumn}, name, 2, false), false)
		if err != nil {
			return translate("select by userName", err)
		}
		switch len(rows) {
		case 0:
			return nil
		case 1:
			key = rows[0].key
		default:
			return fmt.Errorf("sqlstore: remove user: %w: %w: several rows match the userName case-insensitively", adapters.ErrRejected, adapters.ErrAlreadyExists)
		}
	}
	st := &stmt{d: s.d}
	if s.m.OnDelete == adapters.OnDeleteDelete {
		if s.groups != nil {
			return s.deleteUserAndMemberships(ctx, key)
		}
		st.write("DELETE FROM ", s.table, " WHERE ", s.key, " = ").arg(key)
	} else {
		inactive, _ := s.mapper.Fields(adapters.User{Active: false})
		st.write("UPDATE ", s.table, " SET ", s.d.ident(s.m.Active.Column), " = ").arg(inactive[s.m.Active.Column])
		st.write(" WHERE ", s.key, " = ").arg(key)
	}
	if _, err := s.db.ExecContext(ctx, st.String(), st.args...); err != nil {
		return translate("remove user", err)
	}
	return nil
}

// deleteUserAndMemberships deletes the user's membership rows, then the
// user row, in one transaction: a deleted user leaves its groups (the
// customer's foreign key would refuse the delete otherwise).
func (s *store) deleteUserAndMemberships(ctx context.Context, key string) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return translate("begin", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	g := s.groups
	memberships := &stmt{d: s.d}
	memberships.write("DELETE FROM ", g.members, " WHERE ", g.userColumn, " = ").arg(key)
	if _, err := tx.ExecContext(ctx, memberships.String(), memberships.args...); err != nil {
		return translate("remove user memberships", err)
	}
	user := &stmt{d: s.d}
	user.write("DELETE FROM ", s.table, " WHERE ", s.key, " = ").arg(key)
	if _, err := tx.ExecContext(ctx, user.String(), user.args...); err != nil {
		return translate("remove user", err)
	}
	if err := tx.Commit(); err != nil {
		return translate("commit", err)
	}
	return nil
}

// FindUsers implements adapters.Store.
func (s *store) FindUsers(ctx context.Context, attr adapters.Match, value string) (_ []adapters.Entry, err error) {
	ctx, span := s.span(ctx, "FindUsers")
	defer func() { adapters.EndStoreSpan(span, err) }()

	columns := s.m.LookupFields(attr)
	if len(columns) == 0 {
		return nil, nil
	}
	var st *stmt
	if attr == adapters.MatchExternalID {
		st = exactMatchStmt(s.d, s.selectList(false), s.table, s.key, columns[0], value)
	} else {
		st = s.matchStmt(ctx, s.db, columns, value, maxFound, false)
	}
	rows, err := s.queryRows(ctx, s.db, st, false)
	if err != nil {
		return nil, translate("find users", err)
	}
	return s.entries(rows)
}

// ListUsers implements adapters.Store: pages ordered by key; the cursor is
// the last key of the previous page, opaque.
func (s *store) ListUsers(ctx context.Context, cursor string, limit int) (_ []adapters.Entry, next string, err error) {
	ctx, span := s.span(ctx, "ListUsers")
	defer func() { adapters.EndStoreSpan(span, err) }()

	limit = pageSize(limit)
	st, err := pageStmt(s.d, s.selectList(false), s.table, s.key, cursor, limit)
	if err != nil {
		return nil, "", err
	}
	rows, err := s.queryRows(ctx, s.db, st, false)
	if err != nil {
		return nil, "", translate("list users", err)
	}
	rows, next = cutPage(rows, limit)
	entries, err := s.entries(rows)
	if err != nil {
		return nil, "", err
	}
	return entries, next, nil
}

const cursorPrefix = "k:"

func encodeCursor(key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + key))
}

func decodeCursor(c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !strings.HasPrefix(string(b), cursorPrefix) {
		return "", fmt.Errorf("sqlstore: list: %w: malformed cursor", adapters.ErrRejected)
	}
	return strings.TrimPrefix(string(b), cursorPrefix), nil
}

func (s *store) entries(rows []row) ([]adapters.Entry, error) {
	out := make([]adapters.Entry, 0, len(rows))
	for _, r := range rows {
		attrs, err := s.mapper.Attrs(r.fields)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: row %s: %w", r.key, err)
		}
		out = append(out, adapters.Entry{Anchor: r.key, Attrs: attrs, ID: s.mapper.ID(r.fields)})
	}
	return out, nil
}

// Ping implements adapters.Store.
func (s *store) Ping(ctx context.Context) (err error) {
	ctx, span := s.span(ctx, "Ping")
	defer func() { adapters.EndStoreSpan(span, err) }()
	if err := s.db.PingContext(ctx); err != nil {
		return translate("ping", err)
	}
	// Reachable is not enough: the table must be there too.
	st := &stmt{d: s.d}
	st.write("SELECT ", s.key, " FROM ", s.table, " WHERE 1 = 0")
	probes := []string{st.String()}
	if g := s.groups; g != nil {
		probes = append(probes,
			"SELECT "+g.key+" FROM "+g.table+" WHERE 1 = 0",
			"SELECT "+g.groupColumn+", "+g.userColumn+" FROM "+g.members+" WHERE 1 = 0")
	}
	for _, probe := range probes {
		rows, err := s.db.QueryContext(ctx, probe)
		if err != nil {
			return translate("ping", err)
		}
		if err := rows.Close(); err != nil {
			return translate("ping", err)
		}
	}
	return nil
}

// Close implements adapters.Store.
func (s *store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.pools.release(s.db)
}

// sharedPools shares one connection pool among the tenants whose stores
// live in the same database (same kind and connection string): a thousand
// tenants in one PostgreSQL must not open a thousand pools. A pool grows
// to cover its largest tenant's concurrency (plus lookups), up to
// maxSharedConns, and closes with its last store.
type sharedPools struct {
	policy *adapters.HostPolicy // every pool dials through it
	mu     gosync.Mutex
	pools  map[string]*sharedPool
	byDB   map[*sql.DB]string
}

type sharedPool struct {
	db    *sql.DB
	refs  int
	conns int
}

func (p *sharedPools) acquire(kind, dsn string, concurrency int) (*sql.DB, error) {
	key := kind + "\x00" + dsn
	p.mu.Lock()
	defer p.mu.Unlock()
	sp := p.pools[key]
	if sp == nil {
		db, err := openDB(kind, dsn, p.policy)
		if err != nil {
			return nil, err
		}
		db.SetMaxIdleConns(maxIdleConns)
		db.SetConnMaxIdleTime(connMaxIdleTime)
		db.SetConnMaxLifetime(connMaxLifetime)
		sp = &sharedPool{db: db}
		p.pools[key] = sp
		p.byDB[db] = key
	}
	if want := min(concurrency+2, maxSharedConns); want > sp.conns {
		sp.conns = want
		sp.db.SetMaxOpenConns(want)
	}
	sp.refs++
	return sp.db, nil
}

func (p *sharedPools) release(db *sql.DB) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	key, ok := p.byDB[db]
	if !ok {
		return nil
	}
	sp := p.pools[key]
	if sp.refs--; sp.refs > 0 {
		return nil
	}
	delete(p.pools, key)
	delete(p.byDB, db)
	return db.Close()
}
