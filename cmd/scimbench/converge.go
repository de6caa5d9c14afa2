package main

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// convergePoll is how often convergence is polled.
const convergePoll = 20 * time.Millisecond

// lastWrites keeps, per resource, the highest acknowledged version and the
// marker of that write.
func lastWrites(ws []write) []write {
	type key struct {
		target int
		kind   string
		id     string
	}
	last := map[key]write{}
	var order []key
	for _, w := range ws {
		k := key{w.target, w.kind, w.id}
		cur, ok := last[k]
		if !ok {
			order = append(order, k)
		}
		if !ok || w.version > cur.version || (w.version == cur.version && w.marker != "") {
			last[k] = w
		}
	}
	out := make([]write, 0, len(order))
	for _, k := range order {
		out = append(out, last[k])
	}
	return out
}

// ledgerRecordKey is the ledger hash of a resource (see sync/ledger.go:
// sb:{tenant}:<u|g>:r:<id>, fields v = desired, av = applied version).
func ledgerRecordKey(tenant, kind, id string) string {
	return "sb:{" + tenant + "}:" + kind + ":r:" + id
}

// waitLedger polls the ledger until every write's applied version (av)
// reaches its acknowledged version, or timeout. A write without a known
// version (a 204 answer) waits for the desired version read at the first
// poll. A write whose version the store rejected (failv) counts as failed,
// not pending. It returns how long it took, how many were still pending
// and how many failed.
func waitLedger(ctx context.Context, rdb redis.UniversalClient, tenants []string, ws []write, timeout time.Duration) (_ time.Duration, _ int, failed int, _ error) {
	start := time.Now()
	pending := lastWrites(ws)
	first := true
	for {
		failed = 0
		next := pending[:0:0]
		for lo := 0; lo < len(pending); lo += 1000 {
			batch := pending[lo:min(lo+1000, len(pending))]
			pipe := rdb.Pipeline()
			cmds := make([]*redis.SliceCmd, len(batch))
			for i, w := range batch {
				cmds[i] = pipe.HMGet(ctx, ledgerRecordKey(tenants[w.target], w.kind, w.id), "v", "av", "failv")
			}
			if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
				return time.Since(start), len(pending), failed, fmt.Errorf("scimbench: poll ledger: %w", err)
			}
			for i, w := range batch {
				vals := cmds[i].Val()
				v, av := redisInt(vals, 0), redisInt(vals, 1)
				if first && w.version == 0 {
					w.version = v
				}
				switch {
				case av >= w.version:
				case redisInt(vals, 2) >= w.version:
					failed++ // the store rejected it: recorded, never applied
				default:
					next = append(next, w)
				}
			}
		}
		first = false
		pending = next
		if len(pending) == 0 {
			return time.Since(start), 0, failed, nil
		}
		if time.Since(start) > timeout {
			return time.Since(start), len(pending), failed, nil
		}
		select {
		case <-ctx.Done():
			return time.Since(start), len(pending), failed, ctx.Err()
		case <-time.After(convergePoll):
		}
	}
}

func redisInt(vals []any, i int) int64 {
	if i >= len(vals) || vals[i] == nil {
		return 0
	}
	s, _ := vals[i].(string)
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// storeConn is the user store under test.
type storeConn struct {
	kind string // postgres, mysql, sqlite or ldap
	db   *sql.DB
	// ldap reaches an LDAP store; table is then the users base DN and
	// markerColumn the marker's attribute.
	ldap  *ldapClient
	table string
	// markerColumn is the column the marker attribute (enterprise
	// department) maps to.
	markerColumn string
}

// placeholders returns n placeholders for the dialect, starting at from.
func (s *storeConn) placeholders(from, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		if s.kind == "postgres" {
			b.WriteString("$" + strconv.Itoa(from+i))
		} else {
			b.WriteString("?")
		}
	}
	return b.String()
}

// waitStore polls the store until the row of every marked write holds that
// write's marker (the last acknowledged value), or timeout.
func waitStore(ctx context.Context, s *storeConn, ws []write, timeout time.Duration, stuck func(id, marker string)) (time.Duration, int, error) {
	start := time.Now()
	var pending []string
	idOf := map[string]string{}
	for _, w := range lastWrites(ws) {
		if w.marker != "" && w.kind == "u" {
			pending = append(pending, w.marker)
			idOf[w.marker] = w.id
		}
	}
	batchSize := 500
	if s.ldap != nil {
		// One substring search reads a whole run's markers.
		batchSize = max(1, len(pending))
	}
	for {
		var next []string
		for lo := 0; lo < len(pending); lo += batchSize {
			batch := pending[lo:min(lo+batchSize, len(pending))]
			found, err := s.markersPresent(ctx, batch)
			if err != nil {
				return time.Since(start), len(pending), err
			}
			for _, m := range batch {
				if !found[m] {
					next = append(next, m)
				}
			}
		}
		pending = next
		if len(pending) == 0 {
			return time.Since(start), 0, nil
		}
		if time.Since(start) > timeout {
			for _, m := range pending[:min(len(pending), 10)] {
				stuck(idOf[m], m)
			}
			return time.Since(start), len(pending), nil
		}
		select {
		case <-ctx.Done():
			return time.Since(start), len(pending), ctx.Err()
		case <-time.After(convergePoll):
		}
	}
}

// markersPresent returns which markers some row holds.
func (s *storeConn) markersPresent(ctx context.Context, markers []string) (map[string]bool, error) {
	if s.ldap != nil {
		return ldapMarkersPresent(s.ldap, s.table, s.markerColumn, markers)
	}
	q := "SELECT " + s.markerColumn + " FROM " + s.table + " WHERE " + s.markerColumn + " IN (" + s.placeholders(1, len(markers)) + ")"
	args := make([]any, len(markers))
	for i, m := range markers {
		args[i] = m
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("scimbench: poll store: %w", err)
	}
	defer rows.Close()
	found := make(map[string]bool, len(markers))
	for rows.Next() {
		var m sql.NullString
		if err := rows.Scan(&m); err != nil {
			return nil, fmt.Errorf("scimbench: poll store: %w", err)
		}
		found[m.String] = true
	}
	return found, rows.Err()
}
