package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/scim"
	syncsvc "github.com/scimbridge/scimbridge/sync"
	"github.com/scimbridge/scimbridge/tenants"
)

// setupOptions configures `scimbench setup`.
type setupOptions struct {
	Redis     redis.UniversalClient
	StoreKind string
	StoreDSN  string
	// Schema is the PostgreSQL schema holding the tables; for MySQL and
	// SQLite it is a table-name prefix.
	Schema       string
	Tenants      int
	TenantPrefix string
	// Users per tenant, written Via "api" (POST through the running server,
	// applied to the store by its worker) or "ledger" (adopted records
	// written straight into the ledger, no store rows).
	Users        int
	Via          string
	GroupMembers int
	PublicURL    string
	Concurrency  int
	HTTP         *scimClientFactory
	Wait         time.Duration
	// LDAP reaches an LDAP store; setup makes ou=<Schema> under LDAPBase.
	LDAP     *ldapClient
	LDAPBase string
	// StoreConcurrency is the tenants' max_concurrency (0: the default).
	StoreConcurrency int
}

// scimClientFactory builds clients for targets.
type scimClientFactory struct{ allowRemote bool }

// setupReport is what setup did.
type setupReport struct {
	Tenants             int     `json:"tenants"`
	UsersPerTenant      int     `json:"users_per_tenant"`
	Via                 string  `json:"via"`
	GroupMembers        int     `json:"group_members"`
	GroupID             string  `json:"group_id,omitempty"`
	Seconds             float64 `json:"seconds"`
	UsersPerSec         float64 `json:"users_per_s"`
	RedisUsedBefore     int64   `json:"redis_used_memory_before"`
	RedisUsedAfter      int64   `json:"redis_used_memory_after"`
	RedisBytesPerUser   float64 `json:"redis_bytes_per_user"`
	RecordBytesSample   int64   `json:"record_memory_usage_sample"`
	ConvergedSeconds    float64 `json:"converged_s,omitempty"`
	StoreUsersTable     string  `json:"store_users_table"`
	StoreMarkerColumn   string  `json:"store_marker_column"`
	StoreCeilingColumns string  `json:"store_ceiling_columns"`
}

// storeTables names the tables setup creates.
func storeTables(kind, schema string) (users, groups, members string) {
	if kind == "postgres" {
		return schema + ".users", schema + ".groups", schema + ".group_members"
	}
	return schema + "_users", schema + "_groups", schema + "_group_members"
}

// ceilingColumns are the users-table columns scimbridge maps (the ceiling
// writes the same ones).
const ceilingColumns = "login,first_name,last_name,full_name,mail,okta_id,dept,enabled"

// createStoreTables creates an "existing customer" users table shaped like
// the PostgreSQL example config, plus group tables.
func createStoreTables(ctx context.Context, db *sql.DB, kind, schema string) error {
	users, groups, members := storeTables(kind, schema)
	var stmts []string
	switch kind {
	case "postgres":
		stmts = []string{
			"CREATE SCHEMA IF NOT EXISTS " + schema,
			`CREATE TABLE IF NOT EXISTS ` + users + ` (id bigserial PRIMARY KEY, login text NOT NULL,
				first_name text, last_name text, full_name text, mail text, okta_id text, dept text,
				enabled boolean NOT NULL DEFAULT true, plan text NOT NULL DEFAULT 'free',
				created_at timestamptz NOT NULL DEFAULT now())`,
			`CREATE INDEX IF NOT EXISTS users_login_lower ON ` + users + ` (lower(login))`,
			`CREATE INDEX IF NOT EXISTS users_mail_lower ON ` + users + ` (lower(mail))`,
			`CREATE INDEX IF NOT EXISTS users_okta_id ON ` + users + ` (okta_id)`,
			`CREATE INDEX IF NOT EXISTS users_dept ON ` + users + ` (dept)`,
			`CREATE TABLE IF NOT EXISTS ` + groups + ` (id bigserial PRIMARY KEY, name text NOT NULL)`,
			`CREATE TABLE IF NOT EXISTS ` + members + ` (group_id bigint NOT NULL, user_id bigint NOT NULL,
				PRIMARY KEY (group_id, user_id))`,
		}
	case "mysql":
		stmts = []string{
			`CREATE TABLE IF NOT EXISTS ` + users + ` (id BIGINT AUTO_INCREMENT PRIMARY KEY, login VARCHAR(255) NOT NULL,
				first_name VARCHAR(255), last_name VARCHAR(255), full_name VARCHAR(255), mail VARCHAR(255),
				okta_id VARCHAR(64), dept VARCHAR(255), enabled BOOLEAN NOT NULL DEFAULT TRUE,
				plan VARCHAR(32) NOT NULL DEFAULT 'free', KEY (login), KEY (mail), KEY (okta_id), KEY (dept))`,
			`CREATE TABLE IF NOT EXISTS ` + groups + ` (id BIGINT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(255) NOT NULL)`,
			`CREATE TABLE IF NOT EXISTS ` + members + ` (group_id BIGINT NOT NULL, user_id BIGINT NOT NULL, PRIMARY KEY (group_id, user_id))`,
		}
	case "sqlite":
		stmts = []string{
			`CREATE TABLE IF NOT EXISTS ` + users + ` (id INTEGER PRIMARY KEY AUTOINCREMENT, login TEXT NOT NULL,
				first_name TEXT, last_name TEXT, full_name TEXT, mail TEXT, okta_id TEXT, dept TEXT,
				enabled BOOLEAN NOT NULL DEFAULT 1, plan TEXT NOT NULL DEFAULT 'free')`,
			`CREATE INDEX IF NOT EXISTS ` + schema + `_users_dept ON ` + users + ` (dept)`,
			`CREATE TABLE IF NOT EXISTS ` + groups + ` (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL)`,
			`CREATE TABLE IF NOT EXISTS ` + members + ` (group_id INTEGER NOT NULL, user_id INTEGER NOT NULL, PRIMARY KEY (group_id, user_id))`,
		}
	}
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("scimbench: create store tables: %w", err)
		}
	}
	return nil
}

// benchTenant is a tenant whose store is the setup's tables.
func benchTenant(id, kind, dsn, schema string) tenants.Tenant {
	users, groups, members := storeTables(kind, schema)
	return tenants.Tenant{ID: id, Name: "scimbench " + id, Store: adapters.Config{
		Kind: kind, DSN: dsn,
		Users: adapters.UserMapping{
			Table: users, Key: "id",
			Attributes: map[string]string{
				"userName": "login", "name.givenName": "first_name", "name.familyName": "last_name",
				"displayName": "full_name", `emails[type eq "work"].value`: "mail", "externalId": "okta_id",
				schemaEnterprise + ":department": "dept",
			},
			Active:   &adapters.ActiveMapping{Column: "enabled"},
			OnDelete: "deactivate",
		},
		Groups: &adapters.GroupMapping{
			Table: groups, Key: "id",
			Attributes: map[string]string{"displayName": "name"},
			Members:    &adapters.MembersMapping{Table: members, GroupColumn: "group_id", UserColumn: "user_id"},
		},
	}}
}

// redisUsedMemory reads INFO memory used_memory.
func redisUsedMemory(ctx context.Context, rdb redis.UniversalClient) int64 {
	info, err := rdb.Info(ctx, "memory").Result()
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// runSetup registers tenants and keys, writes users and the group, and
// returns the targets and a report.
func runSetup(ctx context.Context, o setupOptions) (*TargetsFile, *setupReport, error) {
	var users, marker string
	newTenant := func(id string) tenants.Tenant {
		t := benchTenant(id, o.StoreKind, o.StoreDSN, o.Schema)
		t.Store.MaxConcurrency = o.StoreConcurrency
		return t
	}
	if o.StoreKind == "ldap" {
		dns := ldapContainers(o.Schema, o.LDAPBase)
		if err := createLDAPContainers(o.LDAP, dns); err != nil {
			return nil, nil, err
		}
		users, marker = dns.users, ldapMarkerAttribute
		newTenant = func(id string) tenants.Tenant { return benchLDAPTenant(id, o.LDAP, dns, o.StoreConcurrency) }
	} else {
		db, err := openStore(o.StoreKind, o.StoreDSN)
		if err != nil {
			return nil, nil, err
		}
		defer db.Close()
		if err := createStoreTables(ctx, db, o.StoreKind, o.Schema); err != nil {
			return nil, nil, err
		}
		users, _, _ = storeTables(o.StoreKind, o.Schema)
		marker = "dept"
	}
	rep := &setupReport{Tenants: o.Tenants, UsersPerTenant: o.Users, Via: o.Via, GroupMembers: o.GroupMembers,
		StoreUsersTable: users, StoreMarkerColumn: marker, StoreCeilingColumns: ceilingColumns}
	reg := tenants.NewRegistry(o.Redis)
	keys := tenants.NewKeyStore(o.Redis)
	defer keys.Wait()
	tf := &TargetsFile{Targets: make([]Target, o.Tenants)}
	_, err := parallel(ctx, o.Tenants, o.Concurrency, func(ctx context.Context, i int) error {
		id := fmt.Sprintf("%s-%d", o.TenantPrefix, i)
		if err := reg.Put(ctx, newTenant(id)); err != nil {
			return err
		}
		plain, _, err := keys.Create(ctx, id, fmt.Sprintf("scimbench-%d", time.Now().UnixNano()))
		if err != nil {
			return err
		}
		tf.Targets[i] = Target{Tenant: id, BaseURL: o.PublicURL + "/scim/" + id + "/v2", APIKey: plain}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("scimbench: setup tenants: %w", err)
	}

	before := redisUsedMemory(ctx, o.Redis)
	rep.RedisUsedBefore = before
	start := time.Now()
	total := o.Tenants * o.Users
	groupUsers := make([]userRef, min(o.GroupMembers, o.Users))
	switch o.Via {
	case "ledger":
		ledger := syncsvc.NewLedger(o.Redis, nil)
		_, err = parallel(ctx, total, o.Concurrency, func(ctx context.Context, n int) error {
			ti, j := n/o.Users, n%o.Users
			tenant := tf.Targets[ti].Tenant
			un := fmt.Sprintf("u%d@%s.bench.example", j, tenant)
			rec, err := ledger.AdoptUser(ctx, tenant, syncsvc.Uniqueness{}, fmt.Sprintf("sbl-%d", j), ledgerAttrs(un, j))
			if err != nil {
				return err
			}
			if ti == 0 && j < len(groupUsers) {
				groupUsers[j] = userRef{id: rec.ID, userName: un}
			}
			return nil
		})
	case "api":
		f := o.HTTP
		var done atomic.Int64
		_, err = parallel(ctx, o.Tenants, max(1, o.Concurrency/max(1, min(o.Users, o.Concurrency))), func(ctx context.Context, ti int) error {
			c := &scimClient{http: newHTTPClient(o.Concurrency, f.allowRemote), target: tf.Targets[ti]}
			refs, err := createUsers(ctx, c, o.Users, "u-"+tf.Targets[ti].Tenant, o.Concurrency)
			if err != nil {
				return err
			}
			if ti == 0 {
				copy(groupUsers, refs)
			}
			done.Add(int64(len(refs)))
			return nil
		})
	default:
		return nil, nil, fmt.Errorf("scimbench: --via %q: want api or ledger", o.Via)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("scimbench: setup users: %w", err)
	}
	rep.Seconds = time.Since(start).Seconds()
	if rep.Seconds > 0 {
		rep.UsersPerSec = float64(total) / rep.Seconds
	}
	rep.RedisUsedAfter = redisUsedMemory(ctx, o.Redis)
	if total > 0 {
		rep.RedisBytesPerUser = float64(rep.RedisUsedAfter-before) / float64(total)
	}
	if total > 0 {
		var rec string
		if o.Via == "ledger" || len(groupUsers) > 0 {
			ids, _ := o.Redis.ZRange(ctx, "sb:{"+tf.Targets[0].Tenant+"}:u:all", 0, 0).Result()
			if len(ids) > 0 {
				rec = ledgerRecordKey(tf.Targets[0].Tenant, "u", ids[0])
			}
		}
		if rec != "" {
			rep.RecordBytesSample, _ = o.Redis.MemoryUsage(ctx, rec).Result()
		}
	}

	if len(groupUsers) > 0 {
		c := &scimClient{http: newHTTPClient(4, o.HTTP.allowRemote), target: tf.Targets[0]}
		gid, err := createGroup(ctx, c, "scimbench-big-"+tf.Targets[0].Tenant)
		if err != nil {
			return nil, nil, err
		}
		for lo := 0; lo < len(groupUsers); lo += 1000 {
			var vals []map[string]any
			for _, u := range groupUsers[lo:min(lo+1000, len(groupUsers))] {
				vals = append(vals, map[string]any{"value": u.id, "display": u.userName})
			}
			r := c.do(ctx, "PATCH", "/Groups/"+gid+"?excludedAttributes=members", map[string]any{
				"schemas":    []string{schemaPatchOp},
				"Operations": []map[string]any{{"op": "add", "path": "members", "value": vals}},
			})
			if err := r.errStatus("add group members"); err != nil {
				return nil, nil, err
			}
		}
		tf.GroupID, rep.GroupID = gid, gid
	}
	if o.Wait > 0 && (o.Via == "api" || len(groupUsers) > 0) {
		t0 := time.Now()
		if err := waitClean(ctx, o.Redis, tf.Targets, o.Wait); err != nil {
			return nil, nil, err
		}
		rep.ConvergedSeconds = time.Since(t0).Seconds()
	}
	return tf, rep, nil
}

// ledgerAttrs are the attributes an Okta-created user has in the ledger.
func ledgerAttrs(userName string, j int) scim.Attrs {
	return scim.Attrs{
		"userName":    userName,
		"name":        map[string]any{"givenName": "Ledger", "familyName": fmt.Sprintf("User%d", j)},
		"displayName": fmt.Sprintf("Ledger User%d", j),
		"emails":      []any{map[string]any{"primary": true, "value": userName, "type": "work"}},
		"externalId":  fmt.Sprintf("00ubench%012d", j),
		"active":      true,
	}
}

// waitClean waits until no user or group of the targets' tenants is dirty.
func waitClean(ctx context.Context, rdb redis.UniversalClient, ts []Target, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var dirty int64
		for lo := 0; lo < len(ts); lo += 500 {
			pipe := rdb.Pipeline()
			var cmds []*redis.IntCmd
			for _, t := range ts[lo:min(lo+500, len(ts))] {
				cmds = append(cmds, pipe.ZCard(ctx, "sb:{"+t.Tenant+"}:u:dirty"), pipe.ZCard(ctx, "sb:{"+t.Tenant+"}:g:dirty"))
			}
			if _, err := pipe.Exec(ctx); err != nil {
				return fmt.Errorf("scimbench: wait for the worker: %w", err)
			}
			for _, c := range cmds {
				dirty += c.Val()
			}
		}
		if dirty == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("scimbench: %d resources still dirty after %s", dirty, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// openStore opens the store database.
func openStore(kind, dsn string) (*sql.DB, error) {
	drv, err := driverOf(kind)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open(drv, dsn)
	if err != nil {
		return nil, fmt.Errorf("scimbench: open store: %w", err)
	}
	return db, nil
}

// writeTargets writes the targets file readable by its owner only (it
// holds API keys).
func writeTargets(path string, tf *TargetsFile) error {
	b, err := json.MarshalIndent(tf, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("scimbench: write targets: %w", err)
	}
	return nil
}

// deleteTenants removes setup's tenants (registry, keys, ledger keys).
func deleteTenants(ctx context.Context, rdb redis.UniversalClient, ids []string) error {
	reg := tenants.NewRegistry(rdb)
	var mu gosync.Mutex
	var firstErr error
	_, _ = parallel(ctx, len(ids), 16, func(ctx context.Context, i int) error {
		err := reg.Delete(ctx, ids[i])
		if err == nil {
			err = forEachPrimary(ctx, rdb, func(ctx context.Context, node redis.UniversalClient) error {
				var cursor uint64
				for {
					keys, next, e := node.Scan(ctx, cursor, "sb:{"+ids[i]+"}:*", 1000).Result()
					if e != nil {
						return e
					}
					if len(keys) > 0 {
						node.Unlink(ctx, keys...)
					}
					if cursor = next; cursor == 0 {
						return nil
					}
				}
			})
		}
		if err != nil {
			mu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		}
		return nil
	})
	return firstErr
}

// forEachPrimary runs fn on every primary of a cluster (a SCAN sees one
// node), or on rdb itself.
func forEachPrimary(ctx context.Context, rdb redis.UniversalClient, fn func(context.Context, redis.UniversalClient) error) error {
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return fn(ctx, c) })
	}
	return fn(ctx, rdb)
}
