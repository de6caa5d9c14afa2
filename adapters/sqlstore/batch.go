package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/scimbridge/scimbridge/adapters"
)

// Batches. An apply of a new user is two statements: the SELECT that looks
// for a row to adopt (by userName, case-insensitively) and the INSERT.
// ApplyUsers (a drain's batch, one transaction) merges the adopt checks of
// a run of users into one SELECT, so a new user costs about one statement.
//
// The merged SELECT must find, for every user of the run, exactly the rows
// its own check would have found at its turn, so a run is a sequence of
// users whose writes cannot change another's check: none has an anchor (an
// anchored user may rename its row), each has a userName, and their
// userNames differ case-insensitively (under strings.ToLower, under
// ToLower(ToUpper) and under strings.EqualFold: conservative for a
// database whose LOWER is not Go's). A write of such a user inserts or
// updates the one row its own userName matches, keeping that userName up
// to case, so it cannot create, rename or remove a row another user of the
// run matches. An anchored user or one without a userName ends the run and
// is applied alone (applyInTx); a repeated userName, or the user after
// runChunk of them, ends it and starts the next run, whose SELECT runs
// after the previous run's writes. Users are applied in the order they
// came in.
//
// The SELECT keeps each user's WHERE and LIMIT 2 by wrapping each check
// in a derived table tagged with the user's position in the run:
//
//	SELECT * FROM (SELECT 0 AS sb_i, key AS sb_k, ... WHERE <match 0> LIMIT 2) q0
//	UNION ALL SELECT * FROM (SELECT 1 AS sb_i, ... WHERE <match 1> LIMIT 2) q1 ...
//
// (SQLite allows no LIMIT on a compound member itself; MySQL needs the
// columns of a derived table to have distinct names, hence the aliases.)

// runChunk is the most users one merged SELECT checks.
const runChunk = 50

// runUser is one user of a run.
type runUser struct {
	i            int // index in the batch
	fields       map[string]any
	name         string
	password     *string
	withPassword bool
	// name under strings.ToLower and under ToLower(ToUpper), computed once
	// (distinctName compares every new user with the whole run).
	lower, upperLower string
}

// runName is a runUser of name with its folded forms.
func runName(name string) runUser {
	return runUser{name: name, lower: strings.ToLower(name), upperLower: strings.ToLower(strings.ToUpper(name))}
}

// applyAllInTx applies users in order inside tx, merging the adopt checks
// of runs (see above), and stops at the first error.
func (s *store) applyAllInTx(ctx context.Context, tx *sql.Tx, users []adapters.User, anchors []string) error {
	var run []runUser
	flush := func() error {
		if len(run) == 0 {
			return nil
		}
		err := s.applyRun(ctx, tx, run, anchors)
		run = run[:0]
		return err
	}
	for i, u := range users {
		p, ok := s.runUserOf(i, u)
		if ok && len(run) < runChunk && distinctName(run, p) {
			run = append(run, p)
			continue
		}
		if err := flush(); err != nil {
			return err
		}
		if ok { // u starts the next run
			run = append(run, p)
			continue
		}
		var err error
		if anchors[i], err = s.applyInTx(ctx, tx, u); err != nil {
			return err
		}
	}
	return flush()
}

// runUserOf is u as a user of a run, when it can be one: no anchor, a
// userName, fields that map.
func (s *store) runUserOf(i int, u adapters.User) (runUser, bool) {
	if u.Anchor != "" {
		return runUser{}, false
	}
	fields, err := s.mapper.Fields(u)
	if err != nil {
		return runUser{}, false // applyInTx reports it
	}
	name, ok := fields[s.userNameColumn].(string)
	if !ok || name == "" {
		return runUser{}, false
	}
	p := runName(name)
	p.i, p.fields, p.password, p.withPassword = i, fields, u.Password, s.needsPassword(u)
	return p, true
}

// distinctName reports whether p's userName differs case-insensitively
// from every userName of run, by every notion of case we know.
func distinctName(run []runUser, p runUser) bool {
	for _, q := range run {
		if q.lower == p.lower || q.upperLower == p.upperLower || strings.EqualFold(q.name, p.name) {
			return false
		}
	}
	return true
}

// applyRun checks the run's userNames in one SELECT, then inserts or
// updates each user as applyInTx would.
func (s *store) applyRun(ctx context.Context, tx *sql.Tx, run []runUser, anchors []string) error {
	withPassword := false
	for _, p := range run {
		withPassword = withPassword || p.withPassword
	}
	rows, err := scanTaggedRows(ctx, tx, s.runMatchStmt(ctx, tx, run, withPassword), s.columns, withPassword, true)
	if err != nil {
		return translate("select by userName", err)
	}
	found := make([][]row, len(run))
	for _, r := range rows {
		if r.tag < 0 || r.tag >= len(run) {
			return fmt.Errorf("sqlstore: apply user: %w: merged select returned tag %d", adapters.ErrRejected, r.tag)
		}
		found[r.tag] = append(found[r.tag], r)
	}
	var inserts []int // positions in run of the users with no row yet
	for k, p := range run {
		existing, err := adoptable(found[k])
		if err != nil {
			return err
		}
		if existing == nil && s.d.returning {
			inserts = append(inserts, k)
			continue
		}
		if anchors[p.i], err = s.write(ctx, tx, existing, p.fields, p.password, p.withPassword); err != nil {
			return err
		}
	}
	return s.insertRun(ctx, tx, run, inserts, anchors)
}

// maxInsertParams bounds the parameters of one multi-row INSERT (SQLite
// builds before 3.32 allow 999).
const maxInsertParams = 999

// insertRun inserts the users of run at positions ks (no row matched their
// userName), and records their keys in anchors. Users whose rows have the
// same columns share one multi-row INSERT ... RETURNING key, userName (one
// round trip for up to a run of new users instead of one each). Neither
// PostgreSQL nor SQLite promises the order of RETURNING rows, so each
// returned row goes to the user whose userName it holds: exactly, else the
// one equal under strings.ToLower (the run's userNames differ under it, see
// distinctName), for a trigger that folds case. A row matching no user, or
// a user left without one, is an error: the caller's transaction is rolled
// back and every user applied on its own. The rows were inserted anyway,
// so the order among a run's inserts and updates does not matter: a run's
// users cannot change each other's rows.
func (s *store) insertRun(ctx context.Context, tx *sql.Tx, run []runUser, ks []int, anchors []string) error {
	type newUser struct {
		k    int
		vals []any
	}
	var order []string // column lists, first seen first
	groups := map[string][]newUser{}
	colsOf := map[string][]string{}
	for _, k := range ks {
		if err := ctx.Err(); err != nil {
			return err // cancelled (a shutdown): stop before the next password hash
		}
		p := run[k]
		cols, vals, err := s.insertColumns(p.fields, p.password, p.withPassword)
		if err != nil {
			return err
		}
		sig := strings.Join(cols, "\x00")
		if _, ok := groups[sig]; !ok {
			order = append(order, sig)
			colsOf[sig] = cols
		}
		groups[sig] = append(groups[sig], newUser{k: k, vals: vals})
	}
	for _, sig := range order {
		cols, users := colsOf[sig], groups[sig]
		per := max(1, maxInsertParams/max(1, len(cols)))
		for len(users) > 0 {
			n := min(per, len(users))
			chunk := users[:n]
			users = users[n:]
			if len(chunk) == 1 {
				p := run[chunk[0].k]
				key, err := insertRow(ctx, tx, s.d, newRow{op: "insert user", table: s.table, key: s.key, cols: cols, vals: chunk[0].vals})
				if err != nil {
					return err
				}
				anchors[p.i] = key
				continue
			}
			rows := make([][]any, len(chunk))
			names := make([]string, len(chunk))
			for j, u := range chunk {
				rows[j], names[j] = u.vals, run[u.k].name
			}
			keys, err := s.insertRows(ctx, tx, cols, rows, names)
			if err != nil {
				return err
			}
			for j, u := range chunk {
				anchors[run[u.k].i] = keys[j]
			}
		}
	}
	return nil
}

// insertRows is one INSERT of rows (values for cols) RETURNING the key and
// the userName column; it returns the keys in the order of names (the
// userName of each row).
func (s *store) insertRows(ctx context.Context, tx *sql.Tx, cols []string, rows [][]any, names []string) ([]string, error) {
	st := insertStmt(s.d, s.table, cols, rows)
	st.write(" RETURNING ", s.key, ", ", s.d.ident(s.userNameColumn))
	res, err := tx.QueryContext(ctx, st.String(), st.args...)
	if err != nil {
		return nil, translate("insert users", err)
	}
	defer res.Close()
	keys := make([]string, len(rows))
	byName := make(map[string]int, len(names))
	byLower := make(map[string]int, len(names))
	for j, n := range names {
		byName[n] = j
		byLower[strings.ToLower(n)] = j
	}
	got := 0
	for res.Next() {
		var key, name any
		if err := res.Scan(&key, &name); err != nil {
			return nil, translate("insert users", err)
		}
		k, kok := adapters.StoredString(normalize(key))
		n, _ := adapters.StoredString(normalize(name))
		j, ok := byName[n]
		if !ok {
			j, ok = byLower[strings.ToLower(n)]
		}
		if !kok || !ok || keys[j] != "" {
			return nil, fmt.Errorf("sqlstore: insert users: %w: a returned row (userName %q) matches no inserted user, or its key is NULL", adapters.ErrRejected, n)
		}
		keys[j] = k
		got++
	}
	if err := res.Err(); err != nil {
		return nil, translate("insert users", err)
	}
	if got != len(rows) {
		return nil, fmt.Errorf("sqlstore: insert users: %w: %d rows returned for %d inserted", adapters.ErrRejected, got, len(rows))
	}
	return keys, nil
}

// runMatchStmt is the run's merged SELECT (see above): for user k, the
// rows matchStmt(userName, limit 2) selects, each tagged k.
func (s *store) runMatchStmt(ctx context.Context, q queryer, run []runUser, withPassword bool) *stmt {
	cols := []string{s.key + " AS sb_k"}
	for i, c := range s.columns {
		cols = append(cols, s.d.ident(c)+" AS sb_"+strconv.Itoa(i))
	}
	if withPassword {
		cols = append(cols, s.d.ident(s.m.Password.Column)+" AS sb_pw")
	}
	list := strings.Join(cols, ", ")
	st := &stmt{d: s.d}
	for k, p := range run {
		if k > 0 {
			st.write(" UNION ALL ")
		}
		n := strconv.Itoa(k)
		st.write("SELECT * FROM (SELECT ", n, " AS sb_i, ", list, " FROM ", s.table, " WHERE ")
		s.matchWhere(ctx, q, st, []string{s.userNameColumn}, p.name)
		st.write(" LIMIT 2) q", n)
	}
	return st
}
