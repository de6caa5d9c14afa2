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
	fields, err := s.m.Fields(u)
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
	for k, p := range run {
		existing, err := adoptable(found[k])
		if err != nil {
			return err
		}
		if anchors[p.i], err = s.write(ctx, tx, existing, p.fields, p.password, p.withPassword); err != nil {
			return err
		}
	}
	return nil
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
