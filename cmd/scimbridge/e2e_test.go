package main

// End-to-end tests: the real router and worker on a real Redis, against a
// real PostgreSQL table and the embedded default. They run one after
// another (not in parallel) on a Redis database of their own (db 9, which
// no other package's tests use), flushed at the start of each test, since
// the asynq queues are per database.

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	gosync "sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/internal/testsupport"
	syncsvc "github.com/scimbridge/scimbridge/sync"
	"github.com/scimbridge/scimbridge/tenants"
)

// e2eRedisDB is the Redis database of the e2e tests (flushed by
// testsupport.RedisDB at the start of each).
const e2eRedisDB = testsupport.DBScimbridgeE2E

// e2ePostgres creates a schema of the test's own holding a customer's
// existing users table with one pre-existing row; it returns the DSN, the
// qualified table name and a connection for checks.
func e2ePostgres(t *testing.T) (dsn, table string, db *sql.DB) {
	t.Helper()
	dsn = testsupport.PostgresDSN()
	db, schema := testsupport.PostgresSchema(t, "e2e")
	for _, s := range []string{
		`CREATE TABLE ` + schema + `.accounts (
			id          bigserial PRIMARY KEY,
			login       text NOT NULL,
			first_name  text,
			last_name   text,
			full_name   text,
			mail        text,
			okta_id     text,
			dept        text,
			enabled     boolean NOT NULL DEFAULT true,
			pw_hash     text,
			plan        text NOT NULL DEFAULT 'free',
			created_at  timestamptz NOT NULL DEFAULT now())`,
		`INSERT INTO ` + schema + `.accounts (login, first_name, last_name, full_name, mail, plan)
		 VALUES ('Pre.Existing@example.com', 'Pre', 'Existing', 'Pre Existing', 'pre.existing@example.com', 'enterprise')`,
	} {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	return dsn, schema + ".accounts", db
}

func postgresTenant(id, dsn, table string) tenants.Tenant {
	return tenants.Tenant{ID: id, Name: "E2E " + id, Store: adapters.Config{
		Kind: "postgres", DSN: dsn,
		Users: adapters.UserMapping{
			Table: table, Key: "id",
			Attributes: map[string]string{
				"userName": "login", "name.givenName": "first_name", "name.familyName": "last_name",
				"displayName": "full_name", `emails[type eq "work"].value`: "mail", "externalId": "okta_id",
				"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "dept",
			},
			Active:   &adapters.ActiveMapping{Column: "enabled"},
			Password: &adapters.PasswordMapping{Column: "pw_hash", Hash: "bcrypt", Cost: 5}, // cost 12 is ~10 s a hash under -race
			OnDelete: "deactivate",
		},
	}}
}

// testServer is a running API and worker.
type testServer struct {
	app  *app
	url  string
	stop func()
}

// serverOptions shape a test server. The zero value serves the SCIM
// router alone (what the e2e tests speak to) with the log discarded, or
// its warnings on stderr with -v.
type serverOptions struct {
	// full serves the API process's whole handler (admin API, /metrics,
	// /readyz, /monitoring) instead of the SCIM router alone.
	full bool
	// logs, when not nil, receives every log line as JSON, debug included
	// (slog's default logger too, for the test's duration).
	logs io.Writer
	// opsToken is the operator token guarding /metrics and /monitoring
	// ("" for none).
	opsToken string
	// factories, when not nil, replace the store factories.
	factories map[string]adapters.Factory
	// caches turns on the key and OAuth client caches (api.key_cache_ttl)
	// and their watchers, as `scimbridge api` does.
	caches bool
	// publicURL sets public_url to the server's own address (as the
	// default does in production), so events show the meta.location the
	// API shows; without it the API derives it from each request's Host.
	publicURL bool
}

// startTestServer is the one test server of the package: it wires cfg
// like `scimbridge serve` does (newApp, the tenants seeded, the worker
// running) with the API on an httptest server, shaped by opts, and stops
// it all at cleanup (or at ts.stop).
func startTestServer(t testing.TB, cfg *Config, opts serverOptions) *testServer {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	cfg.PublicURL = "" // derive from each request's Host
	if opts.publicURL {
		cfg.PublicURL = "http://" + srv.Listener.Addr().String()
	}
	logger := testsupport.Logger()
	if opts.logs != nil {
		logger = slog.New(newCorrelatingHandler(slog.NewJSONHandler(opts.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
		prevDefault := slog.Default()
		slog.SetDefault(logger)
		t.Cleanup(func() { slog.SetDefault(prevDefault) })
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := newApp(ctx, cfg, logger)
	if err != nil {
		cancel()
		srv.Close()
		t.Fatal(err)
	}
	if opts.factories != nil {
		a.stores.Close()
		a.stores = tenants.NewStores(a.registry, opts.factories, cfg.Stores.IdleClose)
		a.service.Stores = a.stores
	}
	a.opsToken = opts.opsToken
	if err := a.seedTenants(ctx); err != nil {
		cancel()
		a.close()
		srv.Close()
		t.Fatal(err)
	}
	if opts.caches {
		a.keys.EnableCache(cfg.API.KeyCacheTTL)
		a.oauth.EnableCache(cfg.API.KeyCacheTTL)
		go a.keys.Watch(ctx, logger)
		go a.oauth.Watch(ctx, logger)
	}
	handler := a.router()
	if opts.full {
		handler = a.handler()
	}
	srv.Config.Handler = handler
	srv.Start()
	done := make(chan struct{})
	go func() { _ = a.runWorker(ctx); close(done) }()
	ts := &testServer{app: a, url: srv.URL}
	var once gosync.Once
	ts.stop = func() {
		once.Do(func() {
			srv.Close()
			cancel()
			<-done
			a.close()
		})
	}
	t.Cleanup(ts.stop)
	return ts
}

func testConfig(t testing.TB, redisAddr string, ts ...tenants.Tenant) *Config {
	t.Helper()
	var c Config
	c.Redis.Addr = redisAddr
	c.Redis.DB = e2eRedisDB
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	c.Secrets.KeyFile = t.TempDir() + "/secret.key"
	if err := os.WriteFile(c.Secrets.KeyFile, []byte(hex.EncodeToString(key)), 0o600); err != nil {
		t.Fatal(err)
	}
	c.Worker.Concurrency = 8
	c.Tenants = ts
	c.applyDefaults()
	if errs := c.validate(); len(errs) > 0 {
		t.Fatal(errs)
	}
	return &c
}

// e2eTopology is the Redis of the e2e tests run on their own: the test
// Redis's e2e database, flushed.
func e2eTopology(t testing.TB) testsupport.RedisTopology {
	return testsupport.StandaloneTopology(t, e2eRedisDB)
}

// testConfigOn is testConfig on a Redis topology (redis.mode and its
// addresses), so one e2e test runs on standalone, Sentinel or Cluster.
func testConfigOn(t testing.TB, topo testsupport.RedisTopology, ts ...tenants.Tenant) *Config {
	t.Helper()
	c := testConfig(t, topo.Addr, ts...)
	c.Redis.Mode = topo.Mode
	c.Redis.DB = topo.DB
	c.Redis.Sentinel.Master = topo.Master
	c.Redis.Sentinel.Addrs = topo.SentinelAddrs
	c.Redis.Cluster.Addrs = topo.ClusterAddrs
	c.Redis.MinReplicas = topo.MinReplicas
	c.Redis.QueueShards = 0
	c.applyDefaults()
	if errs := c.validate(); len(errs) > 0 {
		t.Fatal(errs)
	}
	return c
}

// scimClient speaks to one tenant's Base URL.
type scimClient struct {
	t    *testing.T
	base string
	auth string
}

func (c *scimClient) do(method, path string, body any) (int, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", c.auth)
	req.Header.Set("Content-Type", "application/scim+json")
	req.Header.Set("User-Agent", "Okta SCIM Client 1.0.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			c.t.Fatalf("%s %s: %d, not JSON: %s", method, path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, out
}

// waitApplied waits until the ledger says the user's latest version is in
// the store (the worker runs in the background).
func waitApplied(t *testing.T, a *app, tenant, id string) *syncsvc.Record {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := a.ledger.GetUser(context.Background(), tenant, id)
		if err == nil && r.State() == syncsvc.StateApplied {
			return r
		}
		if err == nil && r.State() == syncsvc.StateFailed {
			t.Fatalf("user %s failed in the store: %s", id, r.Failure)
		}
		if time.Now().After(deadline) {
			t.Fatalf("user %s not applied: %+v %v", id, r, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func newKey(t testing.TB, a *app, tenant string) string {
	t.Helper()
	plain, _, err := a.keys.Create(context.Background(), tenant, "e2e")
	if err != nil {
		t.Fatal(err)
	}
	return plain
}

func TestOktaSpecAgainstPostgresTenant(t *testing.T) {
	testOktaSpecAgainstPostgresTenant(t, e2eTopology(t))
}

func testOktaSpecAgainstPostgresTenant(t *testing.T, topo testsupport.RedisTopology) {
	dsn, table, db := e2ePostgres(t)
	ts := startTestServer(t, testConfigOn(t, topo, postgresTenant("acme", dsn, table)), serverOptions{})
	key := newKey(t, ts.app, "acme")
	base := ts.url + "/scim/acme/v2"
	for _, spec := range []string{"Okta-SCIM-20-SPEC-Test.json", "Okta-SCIM-20-SPEC-Test-old.json"} {
		vars := runOktaSpec(t, oktaSpecPath(spec), base, "Bearer "+key)
		// The user the spec created reached the customer's table.
		r := waitApplied(t, ts.app, "acme", vars["idUserOne"])
		var login, first, last string
		var enabled bool
		err := db.QueryRow(`SELECT login, first_name, last_name, enabled FROM `+table+` WHERE id = $1`, r.Anchor).
			Scan(&login, &first, &last, &enabled)
		if err != nil || login != vars["randomUsername"] || first != vars["randomGivenName"] || last != vars["randomFamilyName"] || !enabled {
			t.Fatalf("%s: store row: %q %q %q %v (%v)", spec, login, first, last, enabled, err)
		}
	}
}

func TestOktaSpecAgainstEmbeddedDefault(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("SCIMBRIDGE_LISTEN", "127.0.0.1:0")
	emb, err := startEmbedded(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Close()
	ts := startTestServer(t, emb.cfg, serverOptions{})
	var out bytes.Buffer
	if err := emb.announce(context.Background(), ts.app, &out); err != nil {
		t.Fatal(err)
	}
	key := regexp.MustCompile(`(?m)^API key: (\S+)$`).FindStringSubmatch(out.String())
	if key == nil || !strings.Contains(out.String(), "Base URL: ") {
		t.Fatalf("announcement: %s", out.String())
	}
	runOktaSpec(t, oktaSpecPath("Okta-SCIM-20-SPEC-Test.json"), ts.url+"/scim/demo/v2", "Bearer "+key[1])
}

func TestEmbeddedDefaultSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("SCIMBRIDGE_LISTEN", "127.0.0.1:0")
	start := func() (*embedded, *testServer, string) {
		emb, err := startEmbedded(dir)
		if err != nil {
			t.Fatal(err)
		}
		ts := startTestServer(t, emb.cfg, serverOptions{})
		var out bytes.Buffer
		if err := emb.announce(context.Background(), ts.app, &out); err != nil {
			t.Fatal(err)
		}
		return emb, ts, regexp.MustCompile(`(?m)^API key: (\S+)$`).FindStringSubmatch(out.String())[1]
	}
	emb, ts, key := start()
	c := &scimClient{t: t, base: ts.url + "/scim/demo/v2", auth: "Bearer " + key}
	status, body := c.do("POST", "/Users", map[string]any{"userName": "kept@example.com", "name": map[string]any{"givenName": "K", "familyName": "P"}})
	if status != 201 {
		t.Fatalf("create: %d %v", status, body)
	}
	id := body["id"].(string)
	waitApplied(t, ts.app, "demo", id)
	ts.stop()
	if err := emb.Close(); err != nil {
		t.Fatal(err)
	}

	emb, ts, key2 := start()
	defer emb.Close()
	if key2 != key {
		t.Fatalf("the demo key changed across a restart")
	}
	c = &scimClient{t: t, base: ts.url + "/scim/demo/v2", auth: "Bearer " + key}
	if status, body := c.do("GET", "/Users/"+id, nil); status != 200 || body["userName"] != "kept@example.com" {
		t.Fatalf("after restart: %d %v", status, body)
	}
}

// TestOktaLifecycleInPostgresTable follows one Okta user through its life
// and checks the customer's table itself at every step.
func TestOktaLifecycleInPostgresTable(t *testing.T) {
	testOktaLifecycleInPostgresTable(t, e2eTopology(t))
}

func testOktaLifecycleInPostgresTable(t *testing.T, topo testsupport.RedisTopology) {
	dsn, table, db := e2ePostgres(t)
	ts := startTestServer(t, testConfigOn(t, topo, postgresTenant("lifecycle", dsn, table)), serverOptions{})
	c := &scimClient{t: t, base: ts.url + "/scim/lifecycle/v2", auth: "Bearer " + newKey(t, ts.app, "lifecycle")}

	type acct struct {
		Login, First, Last, Mail, Plan string
		Dept, PwHash, OktaID           sql.NullString
		Enabled                        bool
	}
	rowOf := func(anchor string) acct {
		t.Helper()
		var a acct
		err := db.QueryRow(`SELECT login, COALESCE(first_name,''), COALESCE(last_name,''), COALESCE(mail,''), plan, dept, pw_hash, okta_id, enabled FROM `+table+` WHERE id = $1`, anchor).
			Scan(&a.Login, &a.First, &a.Last, &a.Mail, &a.Plan, &a.Dept, &a.PwHash, &a.OktaID, &a.Enabled)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	count := func() int {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// 1. Okta's existence check finds the pre-existing row (case-insensitive)
	// and links to it instead of creating a duplicate.
	status, list := c.do("GET", "/Users?filter="+urlq(`userName eq "PRE.EXISTING@EXAMPLE.COM"`)+"&startIndex=1&count=100", nil)
	if status != 200 || list["totalResults"].(float64) != 1 {
		t.Fatalf("existence check of a pre-existing row: %d %v", status, list)
	}
	pre := list["Resources"].([]any)[0].(map[string]any)
	preID := pre["id"].(string)
	if pre["name"].(map[string]any)["familyName"] != "Existing" {
		t.Fatalf("adopted user: %v", pre)
	}
	// Okta then updates it with PUT: the same row changes, the unmapped
	// plan column stays.
	pre["name"] = map[string]any{"givenName": "Pre", "familyName": "Renamed"}
	pre["externalId"] = "00upre"
	delete(pre, "active")
	if status, body := c.do("PUT", "/Users/"+preID, pre); status != 200 || body["active"] != true {
		t.Fatalf("PUT adopted user: %d %v", status, body)
	}
	r := waitApplied(t, ts.app, "lifecycle", preID)
	if got := rowOf(r.Anchor); got.Last != "Renamed" || got.Plan != "enterprise" || !got.Enabled || got.OktaID.String != "00upre" {
		t.Fatalf("adopted row after PUT: %+v", got)
	}

	// 2. Create.
	status, u := c.do("POST", "/Users", map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": "jane@example.com", "name": map[string]any{"givenName": "Jane", "familyName": "Doe"},
		"emails":      []any{map[string]any{"primary": true, "value": "jane@example.com", "type": "work"}},
		"displayName": "Jane Doe", "locale": "en-US", "externalId": "00ujl29u0le5T6Aj10h7",
		"groups": []any{}, "password": "1mz050nq", "active": true,
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"department": "Legal"},
	})
	if status != 201 {
		t.Fatalf("create: %d %v", status, u)
	}
	id := u["id"].(string)
	r = waitApplied(t, ts.app, "lifecycle", id)
	row := rowOf(r.Anchor)
	if row.Login != "jane@example.com" || row.First != "Jane" || row.Dept.String != "Legal" || !row.Enabled || row.Plan != "free" {
		t.Fatalf("created row: %+v", row)
	}
	if !strings.HasPrefix(row.PwHash.String, "$2") || strings.Contains(row.PwHash.String, "1mz050nq") {
		t.Fatalf("password column holds %q, want a bcrypt hash", row.PwHash.String)
	}
	if r.HasPendingPassword() {
		t.Fatal("the sealed password stayed in the ledger after it was applied")
	}
	// An unmapped column the customer changes is never touched by us.
	if _, err := db.Exec(`UPDATE `+table+` SET plan = 'pro' WHERE id = $1`, r.Anchor); err != nil {
		t.Fatal(err)
	}

	// 3. Update: Okta GETs, then PUTs the whole object back without active.
	_, got := c.do("GET", "/Users/"+id, nil)
	got["name"].(map[string]any)["familyName"] = "Smith"
	delete(got, "active")
	if status, body := c.do("PUT", "/Users/"+id, got); status != 200 || body["name"].(map[string]any)["familyName"] != "Smith" || body["active"] != true {
		t.Fatalf("PUT: %d %v", status, body)
	}
	r = waitApplied(t, ts.app, "lifecycle", id)
	if row := rowOf(r.Anchor); row.Last != "Smith" || !row.Enabled || row.Plan != "pro" {
		t.Fatalf("row after PUT: %+v", row)
	}

	// 4. Deactivate, 5. reactivate (Okta's path-less PATCH).
	for _, active := range []bool{false, true} {
		status, body := c.do("PATCH", "/Users/"+id, map[string]any{
			"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{map[string]any{"op": "replace", "value": map[string]any{"active": active}}},
		})
		if status != 200 || body["active"] != active {
			t.Fatalf("PATCH active=%v: %d %v", active, status, body)
		}
		r = waitApplied(t, ts.app, "lifecycle", id)
		if row := rowOf(r.Anchor); row.Enabled != active || row.Plan != "pro" || row.Last != "Smith" {
			t.Fatalf("row after active=%v: %+v", active, row)
		}
	}

	// 6. Entra's disable shape: a string "False" on a path.
	status, body := c.do("PATCH", "/Users/"+id, map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []any{map[string]any{"op": "Replace", "path": "active", "value": "False"}},
	})
	if status != 200 || body["active"] != false {
		t.Fatalf("Entra disable: %d %v", status, body)
	}
	r = waitApplied(t, ts.app, "lifecycle", id)
	if rowOf(r.Anchor).Enabled {
		t.Fatal("Entra disable did not reach the row")
	}

	// 7. DELETE with the deactivate policy: 404 afterwards, row kept but disabled.
	if status, _ := c.do("DELETE", "/Users/"+preID, nil); status != 204 {
		t.Fatalf("DELETE: %d", status)
	}
	if status, _ := c.do("GET", "/Users/"+preID, nil); status != 404 {
		t.Fatalf("GET after DELETE: %d", status)
	}
	waitDeleted(t, ts.app, "lifecycle", preID)
	var preEnabled bool
	if err := db.QueryRow(`SELECT enabled FROM ` + table + ` WHERE login = 'Pre.Existing@example.com'`).Scan(&preEnabled); err != nil || preEnabled {
		t.Fatalf("deleted user's row: enabled=%v err=%v", preEnabled, err)
	}

	// Nothing was duplicated along the way; a new import does not bring the
	// deleted user back.
	if n := count(); n != 2 {
		t.Fatalf("table has %d rows, want 2", n)
	}
	status, list = c.do("GET", "/Users?startIndex=1&count=100", nil)
	if status != 200 || list["totalResults"].(float64) != 1 {
		t.Fatalf("list after delete: %d %v", status, list)
	}
}

// waitDeleted waits until a deleted user's tombstone has been applied.
func waitDeleted(t *testing.T, a *app, tenant, id string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, _, err := a.ledger.OldestDirty(context.Background(), tenant)
		if err == nil && n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("delete of %s not applied (%d dirty, %v)", id, n, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func urlq(s string) string {
	return strings.NewReplacer(" ", "%20", `"`, "%22", "@", "%40").Replace(s)
}
