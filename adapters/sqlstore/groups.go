package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/scimbridge/scimbridge/adapters"
)

// memberBatch is how many members one membership statement carries (two
// bind parameters each on insert: far below every database's limit).
const memberBatch = 500

// groupTables are a tenant's group table and membership (join) table.
type groupTables struct {
	m       adapters.GroupMapping
	mapper  *adapters.GroupMapper // m compiled: Fields and Attrs per group
	table   string                // quoted groups table
	key     string                // quoted key column
	columns []string              // mapped columns (unquoted)
	// displayNameColumn is the column of displayName (unquoted).
	displayNameColumn string

	members     string // quoted membership table
	groupColumn string // quoted
	userColumn  string // quoted
}

// newGroupTables prepares the group statements' names and compiles the
// mapping from a validated mapping; nil when the tenant maps no groups.
func newGroupTables(d *dialect, m *adapters.GroupMapping) (*groupTables, error) {
	if m == nil || m.Members == nil {
		return nil, nil
	}
	mapper, err := adapters.NewGroupMapper(*m)
	if err != nil {
		return nil, err
	}
	displayName, _ := m.FieldFor(adapters.GroupPathDisplayName)
	return &groupTables{
		m:                 *m,
		mapper:            mapper,
		table:             d.ident(m.Table),
		key:               d.ident(m.Key),
		columns:           m.Columns(),
		displayNameColumn: displayName,
		members:           d.ident(m.Members.Table),
		groupColumn:       d.ident(m.Members.GroupColumn),
		userColumn:        d.ident(m.Members.UserColumn),
	}, nil
}

// groupTables returns the tenant's group tables, or an ErrConfig error
// when it maps no groups.
func (s *store) groupTables(op string) (*groupTables, error) {
	if s.groups == nil {
		return nil, fmt.Errorf("sqlstore: %s: %w: the tenant maps no groups", op, adapters.ErrConfig)
	}
	return s.groups, nil
}

// selectList is "key, c1, c2, ..." of the groups table.
func (g *groupTables) selectList(d *dialect) string {
	cols := []string{g.key}
	for _, c := range g.columns {
		cols = append(cols, d.ident(c))
	}
	return strings.Join(cols, ", ")
}

// queryGroups runs a SELECT built from selectList and scans every row.
func (g *groupTables) queryGroups(ctx context.Context, q queryer, st *stmt) ([]row, error) {
	return scanRows(ctx, q, st, g.columns, false)
}

// matchDisplayName selects the groups whose displayName equals name
// case-insensitively, ordered by key; indexed: see store.foldIndexed.
func (g *groupTables) matchDisplayName(d *dialect, name string, limit int, indexed bool) *stmt {
	st := &stmt{d: d}
	st.write("SELECT ", g.selectList(d), " FROM ", g.table, " WHERE ")
	foldMatch(st, g.displayNameColumn, name, indexed)
	if limit <= 2 { // an existence check: see store.matchStmt
		st.write(fmt.Sprintf(" LIMIT %d", limit))
		return st
	}
	st.write(fmt.Sprintf(" ORDER BY %s LIMIT %d", g.key, limit))
	return st
}

func (s *store) groupEntries(g *groupTables, rows []row) ([]adapters.GroupEntry, error) {
	out := make([]adapters.GroupEntry, 0, len(rows))
	for _, r := range rows {
		attrs, err := g.mapper.Attrs(r.fields)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: group row %s: %w", r.key, err)
		}
		out = append(out, adapters.GroupEntry{Anchor: r.key, Attrs: attrs, ID: g.mapper.ID(r.fields)})
	}
	return out, nil
}

// ApplyGroup implements adapters.GroupStore: in one transaction, find the
// group row by anchor, else by displayName (case-insensitive), then update
// the mapped columns that differ (no UPDATE when none does), or insert.
// Membership rows are not touched.
func (s *store) ApplyGroup(ctx context.Context, grp adapters.Group) (anchor string, err error) {
	ctx, span := s.span(ctx, "ApplyGroup")
	defer func() { adapters.EndStoreSpan(span, err) }()

	g, err := s.groupTables("apply group")
	if err != nil {
		return "", err
	}
	fields, err := g.mapper.Fields(grp)
	if err != nil {
		return "", fmt.Errorf("sqlstore: apply group: %w", err)
	}

	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return "", translate("begin", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()

	existing, err := s.findGroupForApply(ctx, tx, g, grp.Anchor, fields[g.displayNameColumn])
	if err != nil {
		return "", err
	}
	if existing != nil {
		anchor, err = s.updateGroup(ctx, tx, g, existing, fields)
	} else {
		anchor, err = s.insertGroup(ctx, tx, g, fields)
	}
	if err != nil {
		return "", err
	}
	if err := tx.Commit(); err != nil {
		return "", translate("commit", err)
	}
	return anchor, nil
}

// findGroupForApply returns the row an apply targets: the anchor's, else
// the one whose displayName matches case-insensitively; nil when none.
// Several displayName matches cannot be adopted: ErrAlreadyExists.
func (s *store) findGroupForApply(ctx context.Context, tx *sql.Tx, g *groupTables, anchor string, displayName any) (*row, error) {
	if anchor != "" {
		st := &stmt{d: s.d}
		st.write("SELECT ", g.selectList(s.d), " FROM ", g.table, " WHERE ", g.key, " = ").arg(anchor)
		rows, err := g.queryGroups(ctx, tx, st)
		if err != nil {
			return nil, translate("select group by anchor", err)
		}
		if len(rows) > 0 {
			return &rows[0], nil
		}
	}
	name, ok := displayName.(string)
	if !ok || name == "" {
		return nil, nil
	}
	rows, err := g.queryGroups(ctx, tx, g.matchDisplayName(s.d, name, 2, s.foldIndexed(ctx, tx, g.m.Table, g.displayNameColumn)))
	if err != nil {
		return nil, translate("select group by displayName", err)
	}
	switch len(rows) {
	case 0:
		return nil, nil
	case 1:
		return &rows[0], nil
	}
	return nil, fmt.Errorf("sqlstore: apply group: %w: %w: several groups match the displayName case-insensitively", adapters.ErrRejected, adapters.ErrAlreadyExists)
}

// updateGroup writes the columns whose stored value differs from the
// desired one and returns the anchor afterwards.
func (s *store) updateGroup(ctx context.Context, tx *sql.Tx, g *groupTables, r *row, fields map[string]any) (string, error) {
	cols, vals := changedColumns(g.columns, fields, r.fields)
	if len(cols) == 0 {
		return r.key, nil
	}
	st := updateStmt(s.d, g.table, g.key, r.key, cols, vals)
	if _, err := tx.ExecContext(ctx, st.String(), st.args...); err != nil {
		return "", translate("update group", err)
	}
	// A natural key moves with its attribute (a renamed group); the
	// membership rows follow only if the customer's foreign key says
	// ON UPDATE CASCADE.
	if v, ok := mappedKey(g.m.KeyIsMapped(), g.m.Key, fields); ok {
		return v, nil
	}
	return r.key, nil
}

// insertGroup creates the group row from the non-nil fields (column
// defaults apply to the rest) and returns its key.
func (s *store) insertGroup(ctx context.Context, tx *sql.Tx, g *groupTables, fields map[string]any) (string, error) {
	cols, vals := presentColumns(g.columns, fields)
	natural, isNatural := mappedKey(g.m.KeyIsMapped(), g.m.Key, fields)
	return insertRow(ctx, tx, s.d, newRow{
		op: "insert group", table: g.table, key: g.key, cols: cols, vals: vals,
		natural: natural, isNatural: isNatural,
		readBack: func() ([]row, error) {
			// No auto-increment key: read the key back by displayName.
			name, _ := fields[g.displayNameColumn].(string)
			rows, err := g.queryGroups(ctx, tx, g.matchDisplayName(s.d, name, 2, s.foldIndexed(ctx, tx, g.m.Table, g.displayNameColumn)))
			if err != nil {
				return nil, translate("read back group key", err)
			}
			return rows, nil
		},
	})
}

// RemoveGroup implements adapters.GroupStore: the group's membership rows,
// then the group row, in one transaction. The member users stay. Without
// an anchor (an apply that crashed before its anchor was recorded) the
// group is the one whose displayName matches, as ApplyGroup would have
// adopted it. A missing group is success.
func (s *store) RemoveGroup(ctx context.Context, grp adapters.Group) (err error) {
	ctx, span := s.span(ctx, "RemoveGroup")
	defer func() { adapters.EndStoreSpan(span, err) }()

	g, err := s.groupTables("remove group")
	if err != nil {
		return err
	}
	key := grp.Anchor
	if key == "" {
		fields, err := g.mapper.Fields(grp)
		if err != nil {
			return fmt.Errorf("sqlstore: remove group: %w", err)
		}
		name, _ := fields[g.displayNameColumn].(string)
		if name == "" {
			return nil
		}
		rows, err := g.queryGroups(ctx, s.db, g.matchDisplayName(s.d, name, 2, s.foldIndexed(ctx, s.db, g.m.Table, g.displayNameColumn)))
		if err != nil {
			return translate("select group by displayName", err)
		}
		switch len(rows) {
		case 0:
			return nil
		case 1:
			key = rows[0].key
		default:
			return fmt.Errorf("sqlstore: remove group: %w: %w: several groups match the displayName case-insensitively", adapters.ErrRejected, adapters.ErrAlreadyExists)
		}
	}

	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return translate("begin", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	members := &stmt{d: s.d}
	members.write("DELETE FROM ", g.members, " WHERE ", g.groupColumn, " = ").arg(key)
	if _, err := tx.ExecContext(ctx, members.String(), members.args...); err != nil {
		return translate("remove group members", err)
	}
	group := &stmt{d: s.d}
	group.write("DELETE FROM ", g.table, " WHERE ", g.key, " = ").arg(key)
	if _, err := tx.ExecContext(ctx, group.String(), group.args...); err != nil {
		return translate("remove group", err)
	}
	if err := tx.Commit(); err != nil {
		return translate("commit", err)
	}
	return nil
}

// AddMembers implements adapters.GroupStore. Per batch of members it asks
// which of just those are already rows (an indexed probe bounded by the
// batch, never the group's member list) and inserts the others, so the
// cost does not depend on the group's size. The insert also skips
// duplicates when the customer's join table has a unique constraint (a
// concurrent writer); without one the probe is what keeps rows unique.
// All batches commit together. A member that is not a user (a foreign-key
// violation) rejects the call: ErrRejected.
func (s *store) AddMembers(ctx context.Context, groupAnchor string, userAnchors []string) (err error) {
	ctx, span := s.span(ctx, "AddMembers")
	defer func() { adapters.EndStoreSpan(span, err) }()
	return s.changeMembers(ctx, "add members", groupAnchor, userAnchors, s.addMemberBatch)
}

// RemoveMembers implements adapters.GroupStore: DELETE ... WHERE group =
// ? AND user IN (...), per batch, in one transaction. Absent members and
// removing the last member are fine.
func (s *store) RemoveMembers(ctx context.Context, groupAnchor string, userAnchors []string) (err error) {
	ctx, span := s.span(ctx, "RemoveMembers")
	defer func() { adapters.EndStoreSpan(span, err) }()
	return s.changeMembers(ctx, "remove members", groupAnchor, userAnchors, s.removeMemberBatch)
}

type memberBatchFunc func(ctx context.Context, tx *sql.Tx, g *groupTables, groupAnchor string, batch []string) error

// changeMembers runs one membership change in batches inside a transaction.
func (s *store) changeMembers(ctx context.Context, op, groupAnchor string, userAnchors []string, apply memberBatchFunc) (err error) {
	g, err := s.groupTables(op)
	if err != nil {
		return err
	}
	if groupAnchor == "" {
		return fmt.Errorf("sqlstore: %s: %w: no group anchor", op, adapters.ErrRejected)
	}
	anchors := uniqueAnchors(userAnchors)
	if len(anchors) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return translate("begin", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	for start := 0; start < len(anchors); start += memberBatch {
		batch := anchors[start:min(start+memberBatch, len(anchors))]
		if err := apply(ctx, tx, g, groupAnchor, batch); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return translate("commit", err)
	}
	return nil
}

func (s *store) addMemberBatch(ctx context.Context, tx *sql.Tx, g *groupTables, groupAnchor string, batch []string) error {
	probe := &stmt{d: s.d}
	probe.write("SELECT ", g.userColumn, " FROM ", g.members, " WHERE ", g.groupColumn, " = ").arg(groupAnchor)
	probe.write(" AND ", g.userColumn, " IN (")
	for i, u := range batch {
		if i > 0 {
			probe.write(", ")
		}
		probe.arg(u)
	}
	probe.write(")")
	rows, err := tx.QueryContext(ctx, probe.String(), probe.args...)
	if err != nil {
		return translate("probe members", err)
	}
	present := map[string]bool{}
	for rows.Next() {
		var v any
		if err := rows.Scan(&v); err != nil {
			_ = rows.Close()
			return translate("probe members", err)
		}
		if s, ok := adapters.StoredString(normalize(v)); ok {
			present[s] = true
		}
	}
	if err := rows.Err(); err != nil {
		_ = rows.Close()
		return translate("probe members", err)
	}
	if err := rows.Close(); err != nil {
		return translate("probe members", err)
	}

	insert := &stmt{d: s.d}
	insert.write("INSERT INTO ", g.members, " (", g.groupColumn, ", ", g.userColumn, ") VALUES ")
	n := 0
	for _, u := range batch {
		if present[u] {
			continue
		}
		if n > 0 {
			insert.write(", ")
		}
		insert.write("(").arg(groupAnchor).write(", ").arg(u).write(")")
		n++
	}
	if n == 0 {
		return nil
	}
	insert.write(s.d.skipDuplicates(g.groupColumn))
	if _, err := tx.ExecContext(ctx, insert.String(), insert.args...); err != nil {
		return translate("insert members", err)
	}
	return nil
}

func (s *store) removeMemberBatch(ctx context.Context, tx *sql.Tx, g *groupTables, groupAnchor string, batch []string) error {
	st := &stmt{d: s.d}
	st.write("DELETE FROM ", g.members, " WHERE ", g.groupColumn, " = ").arg(groupAnchor)
	st.write(" AND ", g.userColumn, " IN (")
	for i, u := range batch {
		if i > 0 {
			st.write(", ")
		}
		st.arg(u)
	}
	st.write(")")
	if _, err := tx.ExecContext(ctx, st.String(), st.args...); err != nil {
		return translate("delete members", err)
	}
	return nil
}

// uniqueAnchors drops empty and repeated anchors, keeping the first order.
func uniqueAnchors(in []string) []string {
	seen := make(map[string]bool, len(in))
	out := make([]string, 0, len(in))
	for _, a := range in {
		if a == "" || seen[a] {
			continue
		}
		seen[a] = true
		out = append(out, a)
	}
	return out
}

// FindGroups implements adapters.GroupStore: displayName
// case-insensitively, externalId exactly; other attributes find nothing.
func (s *store) FindGroups(ctx context.Context, attr adapters.Match, value string) (_ []adapters.GroupEntry, err error) {
	ctx, span := s.span(ctx, "FindGroups")
	defer func() { adapters.EndStoreSpan(span, err) }()

	g, err := s.groupTables("find groups")
	if err != nil {
		return nil, err
	}
	column, ok := g.m.LookupField(attr)
	if !ok {
		return nil, nil
	}
	var st *stmt
	if attr == adapters.MatchDisplayName {
		st = g.matchDisplayName(s.d, value, maxFound, s.foldIndexed(ctx, s.db, g.m.Table, g.displayNameColumn))
	} else {
		st = exactMatchStmt(s.d, g.selectList(s.d), g.table, g.key, column, value)
	}
	rows, err := g.queryGroups(ctx, s.db, st)
	if err != nil {
		return nil, translate("find groups", err)
	}
	return s.groupEntries(g, rows)
}

// ListGroups implements adapters.GroupStore: pages ordered by key; the
// cursor is the previous page's last key, opaque.
func (s *store) ListGroups(ctx context.Context, cursor string, limit int) (_ []adapters.GroupEntry, next string, err error) {
	ctx, span := s.span(ctx, "ListGroups")
	defer func() { adapters.EndStoreSpan(span, err) }()

	g, err := s.groupTables("list groups")
	if err != nil {
		return nil, "", err
	}
	limit = pageSize(limit)
	st, err := pageStmt(s.d, g.selectList(s.d), g.table, g.key, cursor, limit)
	if err != nil {
		return nil, "", err
	}
	rows, err := g.queryGroups(ctx, s.db, st)
	if err != nil {
		return nil, "", translate("list groups", err)
	}
	rows, next = cutPage(rows, limit)
	entries, err := s.groupEntries(g, rows)
	if err != nil {
		return nil, "", err
	}
	return entries, next, nil
}

// ListMembers implements adapters.GroupStore: a group's member user keys
// ordered by the membership table's user column, keyset-paged. An unknown
// group has no members.
func (s *store) ListMembers(ctx context.Context, groupAnchor, cursor string, limit int) (_ []string, next string, err error) {
	ctx, span := s.span(ctx, "ListMembers")
	defer func() { adapters.EndStoreSpan(span, err) }()

	g, err := s.groupTables("list members")
	if err != nil {
		return nil, "", err
	}
	limit = pageSize(limit)
	st := &stmt{d: s.d}
	// DISTINCT: a join table without a unique constraint may hold a
	// member twice (written by the customer's own application).
	st.write("SELECT DISTINCT ", g.userColumn, " FROM ", g.members, " WHERE ", g.groupColumn, " = ").arg(groupAnchor)
	if cursor != "" {
		after, err := decodeCursor(cursor)
		if err != nil {
			return nil, "", err
		}
		st.write(" AND ", g.userColumn, " > ").arg(after)
	}
	st.write(fmt.Sprintf(" ORDER BY %s LIMIT %d", g.userColumn, limit+1))
	rows, err := s.db.QueryContext(ctx, st.String(), st.args...)
	if err != nil {
		return nil, "", translate("list members", err)
	}
	defer rows.Close()
	var members []string
	for rows.Next() {
		var v any
		if err := rows.Scan(&v); err != nil {
			return nil, "", translate("list members", err)
		}
		if m, ok := adapters.StoredString(normalize(v)); ok {
			members = append(members, m)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, "", translate("list members", err)
	}
	if len(members) > limit {
		members = members[:limit]
		next = encodeCursor(members[len(members)-1])
	}
	return members, next, nil
}

// pageSize bounds a requested page size.
func pageSize(limit int) int {
	if limit <= 0 {
		return defaultPage
	}
	return min(limit, maxPage)
}
