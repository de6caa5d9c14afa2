package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"

	"github.com/scimbridge/scimbridge/adapters"
)

// The statements and scans users and groups share: both are a table with
// a key column and mapped columns.

// scanRows runs st, a SELECT of the key, then columns, then (withPassword)
// the password column, and scans every row. A row with a NULL key is
// skipped: it cannot be an anchor.
func scanRows(ctx context.Context, q queryer, st *stmt, columns []string, withPassword bool) ([]row, error) {
	return scanTaggedRows(ctx, q, st, columns, withPassword, false)
}

// scanTaggedRows is scanRows for a SELECT that, when tagged, returns an
// integer tag (row.tag) before the key.
func scanTaggedRows(ctx context.Context, q queryer, st *stmt, columns []string, withPassword, tagged bool) ([]row, error) {
	rows, err := q.QueryContext(ctx, st.String(), st.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	first := 0 // the key's column
	if tagged {
		first = 1
	}
	var out []row
	for rows.Next() {
		n := first + 1 + len(columns)
		if withPassword {
			n++
		}
		vals := make([]any, n)
		ptrs := make([]any, n)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		key, ok := adapters.StoredString(vals[first])
		if !ok {
			continue
		}
		r := row{key: key, fields: make(map[string]any, len(columns))}
		if tagged {
			tag, ok := adapters.StoredString(vals[0])
			if !ok {
				return nil, fmt.Errorf("row tag %T is not a number", vals[0])
			}
			if r.tag, err = strconv.Atoi(tag); err != nil {
				return nil, fmt.Errorf("row tag %q is not a number", tag)
			}
		}
		for i, c := range columns {
			r.fields[c] = normalize(vals[first+1+i])
		}
		if withPassword {
			r.password = normalize(vals[n-1])
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// exactMatchStmt selects (selectList) the rows of table whose column equals
// value exactly, ordered by key, at most maxFound.
func exactMatchStmt(d *dialect, selectList, table, key, column, value string) *stmt {
	st := &stmt{d: d}
	st.write("SELECT ", selectList, " FROM ", table, " WHERE ", d.exactEqual(d.ident(column), st.next()))
	st.args = append(st.args, value)
	st.write(fmt.Sprintf(" ORDER BY %s LIMIT %d", key, maxFound))
	return st
}

// pageStmt selects (selectList) one page of table ordered by key: the
// rows after the cursor's key, one more than limit so that the caller
// sees whether another page follows (see cutPage).
func pageStmt(d *dialect, selectList, table, key, cursor string, limit int) (*stmt, error) {
	st := &stmt{d: d}
	st.write("SELECT ", selectList, " FROM ", table)
	if cursor != "" {
		after, err := decodeCursor(cursor)
		if err != nil {
			return nil, err
		}
		st.write(" WHERE ", key, " > ").arg(after)
	}
	st.write(fmt.Sprintf(" ORDER BY %s LIMIT %d", key, limit+1))
	return st, nil
}

// cutPage trims the rows of a pageStmt to limit and returns the cursor of
// the next page ("" when this is the last).
func cutPage(rows []row, limit int) ([]row, string) {
	if len(rows) <= limit {
		return rows, ""
	}
	rows = rows[:limit]
	return rows, encodeCursor(rows[len(rows)-1].key)
}

// changedColumns is what an UPDATE writes: the columns whose desired value
// differs from the stored one, and those values.
func changedColumns(columns []string, desired, stored map[string]any) ([]string, []any) {
	var cols []string
	var vals []any
	for _, col := range columns {
		if v := desired[col]; !sameValue(v, stored[col]) {
			cols = append(cols, col)
			vals = append(vals, v)
		}
	}
	return cols, vals
}

// presentColumns is what an INSERT writes: the columns with a non-nil
// desired value (column defaults apply to the rest), and those values.
func presentColumns(columns []string, desired map[string]any) ([]string, []any) {
	var cols []string
	var vals []any
	for _, col := range columns {
		if v := desired[col]; v != nil {
			cols = append(cols, col)
			vals = append(vals, v)
		}
	}
	return cols, vals
}

// updateStmt is UPDATE table SET cols = vals WHERE key = rowKey.
func updateStmt(d *dialect, table, key, rowKey string, cols []string, vals []any) *stmt {
	st := &stmt{d: d}
	st.write("UPDATE ", table, " SET ")
	for i, c := range cols {
		if i > 0 {
			st.write(", ")
		}
		st.write(d.ident(c), " = ").arg(vals[i])
	}
	st.write(" WHERE ", key, " = ").arg(rowKey)
	return st
}

// insertStmt is INSERT INTO table (cols) VALUES (row 1), (row 2), ...; each
// row holds a value for each of cols.
func insertStmt(d *dialect, table string, cols []string, rows [][]any) *stmt {
	st := &stmt{d: d}
	st.write("INSERT INTO ", table, " (")
	for i, c := range cols {
		if i > 0 {
			st.write(", ")
		}
		st.write(d.ident(c))
	}
	st.write(") VALUES ")
	for j, vals := range rows {
		if j > 0 {
			st.write(", ")
		}
		st.write("(")
		for i, v := range vals {
			if i > 0 {
				st.write(", ")
			}
			st.arg(v)
		}
		st.write(")")
	}
	return st
}

// mappedKey is the desired value of the key column when the key is also
// a mapped column (a natural key: it comes from SCIM, not the store).
func mappedKey(keyIsMapped bool, keyColumn string, desired map[string]any) (string, bool) {
	if !keyIsMapped {
		return "", false
	}
	v, ok := desired[keyColumn].(string)
	return v, ok
}

// newRow is one INSERT and how to learn the key of the row it creates.
type newRow struct {
	op    string // the error prefix: "insert user"
	table string // quoted
	key   string // quoted key column
	cols  []string
	vals  []any
	// natural is the key's value when the key is a mapped column.
	natural   string
	isNatural bool
	// readBack finds the row by its unique name: the last resort, when the
	// key is neither returned, natural nor auto-increment.
	readBack func() ([]row, error)
}

// insertRow runs the INSERT and returns the new row's key: by RETURNING
// where the dialect has it, else the natural key, else the auto-increment
// id, else by reading the row back.
func insertRow(ctx context.Context, tx *sql.Tx, d *dialect, r newRow) (string, error) {
	st := insertStmt(d, r.table, r.cols, [][]any{r.vals})

	if d.returning {
		st.write(" RETURNING ", r.key)
		var key any
		if err := tx.QueryRowContext(ctx, st.String(), st.args...).Scan(&key); err != nil {
			return "", translate(r.op, err)
		}
		anchor, ok := adapters.StoredString(normalize(key))
		if !ok {
			return "", fmt.Errorf("sqlstore: %s: %w: the key column is NULL", r.op, adapters.ErrRejected)
		}
		return anchor, nil
	}
	res, err := tx.ExecContext(ctx, st.String(), st.args...)
	if err != nil {
		return "", translate(r.op, err)
	}
	if r.isNatural {
		return r.natural, nil
	}
	if id, err := res.LastInsertId(); err == nil && id != 0 {
		return fmt.Sprint(id), nil
	}
	rows, err := r.readBack()
	if err != nil {
		return "", err
	}
	if len(rows) != 1 {
		return "", fmt.Errorf("sqlstore: %s: %w: cannot read back the generated key", r.op, adapters.ErrRejected)
	}
	return rows[0].key, nil
}
