package main

// Security tests against a real server (the real router and worker, real
// Redis (db 13, securityRedisDB), real PostgreSQL and SQLite stores): tenant isolation over
// every endpoint and verb, the worker's re-check of a task's tenant,
// planted secrets searched for everywhere they could leak, input limits,
// and SQL metacharacters stored and matched literally. Like the other
// e2e tests they run one after another on a Redis database of their own,
// flushed per test: a worker of another test run on db 9 would take these
// tasks without this test's environment (the DSN variable).

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/scimbridge/scimbridge/internal/testsupport"
	"github.com/scimbridge/scimbridge/queue"
	"github.com/scimbridge/scimbridge/scim"
	syncsvc "github.com/scimbridge/scimbridge/sync"
	"github.com/scimbridge/scimbridge/tenants"
)

// securityRedisDB is the Redis database of these tests (flushed by
// testsupport.RedisDB at the start of each).
const securityRedisDB = testsupport.DBScimbridgeSecurity

// securityConfig is testConfig on securityRedisDB.
func securityConfig(t *testing.T, redisAddr string, ts ...tenants.Tenant) *Config {
	t.Helper()
	cfg := testConfig(t, redisAddr, ts...)
	cfg.Redis.DB = securityRedisDB
	return cfg
}

// showProblemsOnFailure logs the server's warnings and errors when the
// test fails.
func showProblemsOnFailure(t *testing.T, logs *testsupport.LockedBuffer) {
	t.Cleanup(func() {
		if t.Failed() {
			for _, l := range strings.Split(logs.String(), "\n") {
				if strings.Contains(l, `"level":"ERROR"`) || strings.Contains(l, `"level":"WARN"`) {
					t.Log(l)
				}
			}
		}
	})
}

// exchange is one HTTP request and its answer, kept for searching.
type exchange struct {
	method, url string
	status      int
	header      http.Header
	body        []byte
}

// rawClient sends raw bodies and records every answer.
type rawClient struct {
	t   *testing.T
	mu  gosync.Mutex
	log []exchange
}

func (c *rawClient) send(method, url, auth string, body []byte) exchange {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	ex := exchange{method: method, url: url, status: resp.StatusCode, header: resp.Header, body: raw}
	c.mu.Lock()
	c.log = append(c.log, ex)
	c.mu.Unlock()
	return ex
}

// json sends v as JSON (nil: no body) and decodes the answer.
func (c *rawClient) json(method, url, auth string, v any) (int, map[string]any) {
	c.t.Helper()
	var body []byte
	if v != nil {
		var err error
		if body, err = json.Marshal(v); err != nil {
			c.t.Fatal(err)
		}
	}
	ex := c.send(method, url, auth, body)
	var out map[string]any
	if len(ex.body) > 0 {
		_ = json.Unmarshal(ex.body, &out)
	}
	return ex.status, out
}

// tenantLedgerDump reads every ledger key of a tenant (leases, store
// slots and the rate limiter's bucket excluded: they come and go with
// applies and requests) and its value, for before/after checks.
func tenantLedgerDump(t *testing.T, rdb *redis.Client, tenant string) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	iter := rdb.Scan(ctx, 0, "sb:{"+tenant+"}:*", 500).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		// Worker-side and limiter keys come and go on their own: a
		// resource's lease, the tenant's store slots (a drain holds one
		// until it ends), the rate limiter.
		if strings.Contains(k, ":lease:") || strings.HasSuffix(k, ":slots") || strings.HasSuffix(k, ":rate") {
			continue
		}
		out[k] = redisValue(t, rdb, k)
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// redisValue renders any Redis value as text.
func redisValue(t *testing.T, rdb *redis.Client, key string) string {
	t.Helper()
	ctx := context.Background()
	typ, err := rdb.Type(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	var v any
	switch typ {
	case "string":
		v, err = rdb.Get(ctx, key).Result()
	case "hash":
		v, err = rdb.HGetAll(ctx, key).Result()
	case "list":
		v, err = rdb.LRange(ctx, key, 0, -1).Result()
	case "set":
		var m []string
		m, err = rdb.SMembers(ctx, key).Result()
		sort.Strings(m)
		v = m
	case "zset":
		v, err = rdb.ZRangeWithScores(ctx, key, 0, -1).Result()
	case "stream":
		v, err = rdb.XRange(ctx, key, "-", "+").Result()
	case "none":
		return "(gone)"
	default:
		v = "(type " + typ + ")"
	}
	if err != nil && !errors.Is(err, redis.Nil) {
		t.Fatalf("redis %s %s: %v", typ, key, err)
	}
	return typ + ":" + fmt.Sprint(v)
}

func diffDumps(before, after map[string]string) []string {
	var diffs []string
	for k, v := range before {
		if after[k] != v {
			diffs = append(diffs, fmt.Sprintf("%s: %.200s -> %.200s", k, v, after[k]))
		}
	}
	for k, v := range after {
		if _, ok := before[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: new %.200s", k, v))
		}
	}
	sort.Strings(diffs)
	return diffs
}

// tableDump reads a table's rows as text, in key order.
func tableDump(t *testing.T, db *sql.DB, table string) string {
	t.Helper()
	var s sql.NullString
	err := db.QueryRow(`SELECT string_agg(r::text, E'\n' ORDER BY r.id) FROM ` + table + ` r`).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	return s.String
}

func redisClient(t *testing.T, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, DB: securityRedisDB})
	t.Cleanup(func() { c.Close() })
	return c
}

// ids returns the ids of a list response's resources.
func ids(list map[string]any) []string {
	var out []string
	res, _ := list["Resources"].([]any)
	for _, r := range res {
		m, _ := r.(map[string]any)
		id, _ := m["id"].(string)
		out = append(out, id)
	}
	return out
}

func TestTenantIsolationOverEveryEndpoint(t *testing.T) {
	redisAddr := testsupport.RedisDB(t, securityRedisDB)
	dsn, tableA, dbA := e2ePostgres(t)
	_, tableB, dbB := e2ePostgres(t)
	cfg := withAdminToken(t, securityConfig(t, redisAddr, postgresTenant("iso-a", dsn, tableA), postgresTenant("iso-b", dsn, tableB)))
	var logs testsupport.LockedBuffer
	ts := startTestServer(t, cfg, serverOptions{full: true, logs: &logs})
	showProblemsOnFailure(t, &logs)
	rdb := redisClient(t, redisAddr)
	keyA, keyB := "Bearer "+newKey(t, ts.app, "iso-a"), "Bearer "+newKey(t, ts.app, "iso-b")
	baseA, baseB := ts.url+"/scim/iso-a/v2", ts.url+"/scim/iso-b/v2"
	c := &rawClient{t: t}

	mkUser := func(base, auth, userName, ext, email, display string) string {
		t.Helper()
		status, body := c.json("POST", base+"/Users", auth, map[string]any{
			"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
			"userName": userName, "externalId": ext, "displayName": display,
			"name":   map[string]any{"givenName": "G", "familyName": "F"},
			"emails": []any{map[string]any{"value": email, "type": "work", "primary": true}},
		})
		if status != 201 {
			t.Fatalf("create %s: %d %v", userName, status, body)
		}
		return body["id"].(string)
	}
	mkGroup := func(base, auth, name string, members ...string) string {
		t.Helper()
		var ms []any
		for _, m := range members {
			ms = append(ms, map[string]any{"value": m})
		}
		status, body := c.json("POST", base+"/Groups", auth, map[string]any{
			"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
			"displayName": name, "members": ms,
		})
		if status != 201 {
			t.Fatalf("create group %s: %d %v", name, status, body)
		}
		return body["id"].(string)
	}
	a1 := mkUser(baseA, keyA, "alice@a.example", "ext-a1", "alice@a.example", "Alice A")
	gA := mkGroup(baseA, keyA, "A Team", a1)
	b1 := mkUser(baseB, keyB, "bob@b.example", "ext-b1", "bob.work@b.example", "Bob B")
	b2 := mkUser(baseB, keyB, "beth@b.example", "ext-b2", "beth.work@b.example", "Beth B")
	gB := mkGroup(baseB, keyB, "B Team", b1, b2)
	for _, u := range []struct{ tenant, id string }{{"iso-a", a1}, {"iso-b", b1}, {"iso-b", b2}} {
		waitApplied(t, ts.app, u.tenant, u.id)
	}
	waitDeleted(t, ts.app, "iso-b", "(all)") // nothing of B left dirty
	waitDeleted(t, ts.app, "iso-a", "(all)")

	// B as B sees it, before.
	readB := func() map[string]string {
		t.Helper()
		out := map[string]string{}
		for _, p := range []string{"/Users/" + b1, "/Users/" + b2, "/Groups/" + gB, "/Users", "/Groups"} {
			ex := c.send("GET", baseB+p, keyB, nil)
			if ex.status != 200 {
				t.Fatalf("B reads %s: %d %s", p, ex.status, ex.body)
			}
			out[p] = string(ex.body)
		}
		return out
	}
	bAPI, bLedger, bRows := readB(), tenantLedgerDump(t, rdb, "iso-b"), tableDump(t, dbB, tableB)
	aRows := tableDump(t, dbA, tableA)

	userBody := map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "intruder@a.example"}
	groupBody := map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Intruders"}
	activeOff := patchOp(map[string]any{"op": "replace", "value": map[string]any{"active": false}})
	renameGroup := patchOp(map[string]any{"op": "replace", "path": "displayName", "value": "Taken"})
	search := map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"}, "startIndex": 1, "count": 100}
	bulkBody := func(ops ...map[string]any) map[string]any {
		list := make([]any, len(ops))
		for i, o := range ops {
			list[i] = o
		}
		return map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:BulkRequest"}, "Operations": list}
	}

	// 1. A's key on every route under B's Base URL: 401, the same answer as
	// an unknown key.
	type route struct {
		method, path string
		body         any
	}
	routes := []route{
		{"GET", "/Users", nil}, {"GET", "/Users?filter=" + url.QueryEscape(`userName eq "bob@b.example"`), nil},
		{"POST", "/Users/.search", search}, {"POST", "/Users", userBody},
		{"GET", "/Users/" + b1, nil}, {"PUT", "/Users/" + b1, userBody}, {"PATCH", "/Users/" + b1, activeOff}, {"DELETE", "/Users/" + b1, nil},
		{"GET", "/Groups", nil}, {"POST", "/Groups/.search", search}, {"POST", "/Groups", groupBody},
		{"GET", "/Groups/" + gB, nil}, {"PUT", "/Groups/" + gB, groupBody}, {"PATCH", "/Groups/" + gB, renameGroup}, {"DELETE", "/Groups/" + gB, nil},
		{"POST", "/Bulk", bulkBody(map[string]any{"method": "DELETE", "path": "/Users/" + b1})},
		{"GET", "/ServiceProviderConfig", nil}, {"GET", "/ResourceTypes", nil}, {"GET", "/ResourceTypes/User", nil},
		{"GET", "/Schemas", nil}, {"GET", "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User", nil},
		{"GET", "/NoSuchEndpoint", nil},
	}
	for _, r := range routes {
		raw, _ := json.Marshal(r.body)
		if r.body == nil {
			raw = nil
		}
		withA := c.send(r.method, baseB+r.path, keyA, raw)
		unknown := c.send(r.method, baseB+r.path, "Bearer scb_unknownkey0000000000000000000000", raw)
		want := 401
		if r.path == "/NoSuchEndpoint" {
			want = 404 // no route: answered before authentication, for every tenant alike
		}
		if withA.status != want || unknown.status != want || !bytes.Equal(withA.body, unknown.body) {
			t.Errorf("%s %s under B's Base URL with A's key: %d %s; with an unknown key: %d %s; want the same %d",
				r.method, r.path, withA.status, withA.body, unknown.status, unknown.body, want)
		}
	}

	// 2. Under A's Base URL, B's ids are not found (never 403), on users
	// and groups, whatever the kind in the path.
	for _, id := range []string{b1, b2, gB} {
		for _, kind := range []string{"/Users/", "/Groups/"} {
			body := any(userBody)
			patch := activeOff
			if kind == "/Groups/" {
				body, patch = groupBody, renameGroup
			}
			for _, r := range []route{{"GET", kind + id, nil}, {"PUT", kind + id, body}, {"PATCH", kind + id, patch}, {"DELETE", kind + id, nil}} {
				status, out := c.json(r.method, baseA+r.path, keyA, r.body)
				if status != 404 {
					t.Errorf("%s %s (B's id) with A's key: %d %v, want 404", r.method, r.path, status, out)
				}
			}
		}
	}

	// 3. Filters by B's values find nothing; lists and searches hold only A's.
	for _, f := range []string{
		`userName eq "bob@b.example"`, `userName eq "BOB@B.EXAMPLE"`, `externalId eq "ext-b1"`,
		`emails.value eq "bob.work@b.example"`, `emails[type eq "work"].value eq "beth.work@b.example"`,
		`displayName eq "Bob B"`, `id eq "` + b1 + `"`, `userName sw "b"`, `userName co "b.example"`,
		`userName eq "bob@b.example" or userName eq "alice@a.example"`,
	} {
		status, list := c.json("GET", baseA+"/Users?filter="+url.QueryEscape(f), keyA, nil)
		if status != 200 {
			t.Errorf("filter %s: %d %v", f, status, list)
			continue
		}
		for _, id := range ids(list) {
			if id != a1 {
				t.Errorf("filter %s with A's key returned %s, not A's", f, id)
			}
		}
		sreq := map[string]any{"schemas": search["schemas"], "filter": f}
		status, list = c.json("POST", baseA+"/Users/.search", keyA, sreq)
		if status != 200 {
			t.Errorf(".search %s: %d %v", f, status, list)
		}
		for _, id := range ids(list) {
			if id != a1 {
				t.Errorf(".search %s with A's key returned %s, not A's", f, id)
			}
		}
	}
	for _, f := range []string{`displayName eq "B Team"`, `id eq "` + gB + `"`, `members.value eq "` + b1 + `"`, `displayName sw "B"`} {
		for _, ex := range []struct {
			method, path string
			body         any
		}{{"GET", "/Groups?filter=" + url.QueryEscape(f), nil}, {"POST", "/Groups/.search", map[string]any{"schemas": search["schemas"], "filter": f}}} {
			status, list := c.json(ex.method, baseA+ex.path, keyA, ex.body)
			if status != 200 && status != 400 {
				t.Errorf("group filter %s: %d %v", f, status, list)
			}
			if got := ids(list); len(got) != 0 {
				t.Errorf("group filter %s with A's key returned %v", f, got)
			}
		}
	}
	// A's table holds a pre-existing row: listing adopts it, so A's lists
	// are A's ledger users, whatever they are; never one of B's.
	for _, ex := range []struct {
		method, path string
		body         any
		kind         string
	}{
		{"GET", "/Users?startIndex=1&count=100", nil, "u"},
		{"POST", "/Users/.search", search, "u"},
		{"GET", "/Groups?startIndex=1&count=100", nil, "g"},
		{"POST", "/Groups/.search", search, "g"},
	} {
		status, list := c.json(ex.method, baseA+ex.path, keyA, ex.body)
		got := ids(list)
		if status != 200 || list["totalResults"] != float64(len(got)) {
			t.Errorf("%s %s with A's key: %d %v", ex.method, ex.path, status, list)
		}
		for _, id := range got {
			if id == b1 || id == b2 || id == gB {
				t.Errorf("%s %s with A's key lists B's %s", ex.method, ex.path, id)
			}
		}
		if ex.kind == "g" && fmt.Sprint(got) != fmt.Sprint([]string{gA}) {
			t.Errorf("%s %s with A's key: %v, want only %s", ex.method, ex.path, got, gA)
		}
		if n, _ := ts.app.ledger.CountUsers(context.Background(), "iso-a"); ex.kind == "u" && (len(got) != n || !slices.Contains(got, a1)) {
			t.Errorf("%s %s with A's key: %v, want A's %d users", ex.method, ex.path, got, n)
		}
	}
	// A's group lists A's member only.
	status, g := c.json("GET", baseA+"/Groups/"+gA, keyA, nil)
	if ms, _ := g["members"].([]any); status != 200 || len(ms) != 1 || ms[0].(map[string]any)["value"] != a1 {
		t.Errorf("A's group: %d %v, want A's one member", status, g)
	}

	// 4. Bulk naming B's ids: each operation 404.
	status, bulk := c.json("POST", baseA+"/Bulk", keyA, bulkBody(
		map[string]any{"method": "PUT", "path": "/Users/" + b1, "data": userBody},
		map[string]any{"method": "PATCH", "path": "/Users/" + b2, "data": activeOff},
		map[string]any{"method": "DELETE", "path": "/Users/" + b1},
		map[string]any{"method": "PUT", "path": "/Groups/" + gB, "data": groupBody},
		map[string]any{"method": "PATCH", "path": "/Groups/" + gB, "data": renameGroup},
		map[string]any{"method": "DELETE", "path": "/Groups/" + gB},
	))
	if status != 200 {
		t.Fatalf("bulk with B's ids: %d %v", status, bulk)
	}
	results, _ := bulk["Operations"].([]any)
	if len(results) != 6 {
		t.Fatalf("bulk with B's ids: %d results: %v", len(results), bulk)
	}
	for i, r := range results {
		if st := fmt.Sprint(r.(map[string]any)["status"]); st != "404" {
			t.Errorf("bulk operation %d on B's id: status %s (%v), want 404", i, st, r)
		}
	}

	// 5. B's user as a member of A's group, by PATCH, PUT, POST and Bulk:
	// left out of the group, exactly as an id no tenant has (a group change
	// is not refused for a member the tenant does not know), so the answer
	// does not tell B's ids from unknown ones.
	memberOf := func(id string) []any { return []any{map[string]any{"value": id}} }
	noBUsers := func(what string, v any) {
		t.Helper()
		if s := fmt.Sprint(v); strings.Contains(s, b1) || strings.Contains(s, b2) {
			t.Errorf("%s shows B's user: %v", what, v)
		}
	}
	for _, ex := range []struct {
		method, path string
		body         any
	}{
		{"PATCH", "/Groups/" + gA, patchOp(map[string]any{"op": "add", "path": "members", "value": memberOf(b1)})},
		{"PATCH", "/Groups/" + gA, patchOp(map[string]any{"op": "replace", "path": "members", "value": memberOf(b2)})},
		{"PUT", "/Groups/" + gA, map[string]any{"schemas": groupBody["schemas"], "displayName": "A Team", "members": memberOf(b1)}},
		{"POST", "/Groups", map[string]any{"schemas": groupBody["schemas"], "displayName": "A Mixed", "members": memberOf(b1)}},
	} {
		status, out := c.json(ex.method, baseA+ex.path, keyA, ex.body)
		if status/100 != 2 {
			t.Errorf("%s %s with B's user as member: %d %v, want it applied without the member", ex.method, ex.path, status, out)
		}
		noBUsers(ex.method+" "+ex.path+" answer", out)
	}
	status, bulk = c.json("POST", baseA+"/Bulk", keyA, bulkBody(map[string]any{"method": "PATCH", "path": "/Groups/" + gA,
		"data": patchOp(map[string]any{"op": "add", "path": "members", "value": memberOf(b1)})}))
	if results, _ := bulk["Operations"].([]any); status != 200 || len(results) != 1 || fmt.Sprint(results[0].(map[string]any)["status"]) != "200" {
		t.Errorf("bulk PATCH adding B's user to A's group: %d %v, want one 200", status, bulk)
	}
	if status, g := c.json("GET", baseA+"/Groups/"+gA, keyA, nil); status != 200 {
		t.Errorf("GET A's group: %d %v", status, g)
	} else {
		noBUsers("A's group", g["members"])
	}

	// 6. Admin routes with a SCIM key: refused (401 or 404; 429 once this
	// address has sent more wrong operator tokens than the limit allows).
	refused := func(status int) bool {
		return status == http.StatusUnauthorized || status == http.StatusNotFound || status == http.StatusTooManyRequests
	}
	for _, p := range []string{"/admin/v1/tenants", "/admin/v1/tenants/iso-b", "/admin/v1/tenants/iso-b/keys",
		"/admin/v1/tenants/iso-b/users", "/admin/v1/tenants/iso-a/users/" + a1, "/console/", "/monitoring/api/queues", "/metrics"} {
		for _, key := range []string{keyA, keyB} {
			ex := c.send("GET", ts.url+p, key, nil)
			loginPage := p == "/console/" && (ex.status == http.StatusSeeOther || ex.status == 200 && bytes.Contains(ex.body, []byte("Log in")))
			if loginPage && bytes.Contains(ex.body, []byte("iso-")) {
				t.Errorf("GET /console/ with a SCIM key shows a tenant: %s", ex.body)
			}
			if !refused(ex.status) && !loginPage {
				t.Errorf("GET %s with a SCIM key: %d %.200s, want 401, 404 or 429", p, ex.status, ex.body)
			}
		}
	}
	if ex := c.send("POST", ts.url+"/admin/v1/tenants/iso-b/keys", keyA, []byte(`{"name":"stolen"}`)); !refused(ex.status) {
		t.Errorf("POST a key for B with A's SCIM key: %d %s", ex.status, ex.body)
	}

	// Nothing of B changed: its ledger, its rows, its answers; A's rows too.
	waitDeleted(t, ts.app, "iso-a", "(all)")
	if d := diffDumps(bLedger, tenantLedgerDump(t, rdb, "iso-b")); len(d) > 0 {
		t.Errorf("B's ledger changed:\n%s", strings.Join(d, "\n"))
	}
	if got := tableDump(t, dbB, tableB); got != bRows {
		t.Errorf("B's rows changed:\n%s\nwas\n%s", got, bRows)
	}
	if got := tableDump(t, dbA, tableA); got != aRows {
		t.Errorf("A's rows changed:\n%s\nwas\n%s", got, aRows)
	}
	for p, was := range bAPI {
		if ex := c.send("GET", baseB+p, keyB, nil); string(ex.body) != was {
			t.Errorf("B's %s changed: %s\nwas %s", p, ex.body, was)
		}
	}
	// And B's id never surfaced in any answer to A's key.
	for _, ex := range c.log {
		if !strings.HasPrefix(ex.url, baseA) {
			continue
		}
		for _, s := range []string{"bob@b.example", "beth@b.example", "ext-b1", "Bob B", "B Team"} {
			if bytes.Contains(ex.body, []byte(s)) {
				t.Errorf("%s %s answered B's %q: %.300s", ex.method, ex.url, s, ex.body)
			}
		}
	}
}

// TestWorkerRechecksTaskTenant enqueues a reconcile naming tenant A with
// B's pending user id: the worker applies nothing anywhere. The same task
// naming B then applies B's user (the control).
func TestWorkerRechecksTaskTenant(t *testing.T) {
	redisAddr := testsupport.RedisDB(t, securityRedisDB)
	dsn, tableA, dbA := e2ePostgres(t)
	_, tableB, dbB := e2ePostgres(t)
	ts := startTestServer(t, securityConfig(t, redisAddr, postgresTenant("task-a", dsn, tableA), postgresTenant("task-b", dsn, tableB)), serverOptions{full: true})
	ctx := context.Background()
	// B's user is acknowledged in the ledger but not enqueued (the sweeper
	// waits a minute), so an apply of it would have work to do.
	rec, err := ts.app.ledger.CreateUser(ctx, "task-b", syncsvc.Uniqueness{}, map[string]any{
		"userName": "pending.b@example.com", "name": map[string]any{"givenName": "Pending", "familyName": "B"}, "active": true,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redisClient(t, redisAddr)
	aLedger, aRows, bRows := tenantLedgerDump(t, rdb, "task-a"), tableDump(t, dbA, tableA), tableDump(t, dbB, tableB)

	client := asynq.NewClient(ts.app.asynqOpt)
	defer client.Close()
	insp := asynq.NewInspector(ts.app.asynqOpt)
	defer insp.Close()
	run := func(taskID, tenant string) *asynq.TaskInfo {
		t.Helper()
		payload := fmt.Sprintf(`{"tenant":%q,"kind":"User","id":%q,"version":1}`, tenant, rec.ID)
		if _, err := client.Enqueue(asynq.NewTask(queue.TypeReconcile, []byte(payload)),
			asynq.Queue(queue.QueueProvision), asynq.TaskID(taskID), asynq.Retention(time.Minute), asynq.MaxRetry(0)); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			info, err := insp.GetTaskInfo(queue.QueueProvision, taskID)
			if err == nil && (info.State == asynq.TaskStateCompleted || info.State == asynq.TaskStateArchived) {
				return info
			}
			if time.Now().After(deadline) {
				t.Fatalf("task %s not processed: %+v %v", taskID, info, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	info := run("cross-tenant-"+testsupport.RandomHex(4), "task-a")
	t.Logf("task naming A with B's id: %s %q", info.State, info.LastErr)

	if d := diffDumps(aLedger, tenantLedgerDump(t, rdb, "task-a")); len(d) > 0 {
		t.Errorf("A's ledger changed:\n%s", strings.Join(d, "\n"))
	}
	if _, err := ts.app.ledger.GetUser(ctx, "task-a", rec.ID); !errors.Is(err, syncsvc.ErrNotFound) {
		t.Errorf("B's user id under A: %v", err)
	}
	if got := tableDump(t, dbA, tableA); got != aRows {
		t.Errorf("A's store changed:\n%s\nwas\n%s", got, aRows)
	}
	if got := tableDump(t, dbB, tableB); got != bRows {
		t.Errorf("B's store changed by a task naming A:\n%s\nwas\n%s", got, bRows)
	}
	if r, err := ts.app.ledger.GetUser(ctx, "task-b", rec.ID); err != nil || r.Applied != 0 || r.Anchor != "" {
		t.Errorf("B's record after a task naming A: %+v %v", r, err)
	}

	// The control: the same task naming B applies B's user.
	if info := run("same-tenant-"+testsupport.RandomHex(4), "task-b"); info.State != asynq.TaskStateCompleted {
		t.Fatalf("task naming B: %s %q", info.State, info.LastErr)
	}
	r := waitApplied(t, ts.app, "task-b", rec.ID)
	var login string
	if err := dbB.QueryRow(`SELECT login FROM `+tableB+` WHERE id = $1`, r.Anchor).Scan(&login); err != nil || login != "pending.b@example.com" {
		t.Fatalf("B's row after its own task: %q %v", login, err)
	}
}

// TestSecretsNeverLeak plants known secrets (a live and a revoked API key,
// a wrong key, user passwords, a store DSN password, the operator token),
// runs traffic with failures, and searches the logs, every span, every
// asynq task, every Redis key and value and every HTTP answer for them.
func TestSecretsNeverLeak(t *testing.T) {
	installTestTracing()
	redisAddr := testsupport.RedisDB(t, securityRedisDB)
	adminDSN, table, db := e2ePostgres(t)
	ctx := context.Background()

	// A PostgreSQL role whose password only the tenant's DSN (in an
	// environment variable) holds.
	dsnPassword := "DsnPw" + testsupport.RandomHex(12)
	role := "sb_sec_" + testsupport.RandomHex(5)
	schema := table[:strings.IndexByte(table, '.')]
	for _, s := range []string{
		`CREATE ROLE ` + role + ` LOGIN PASSWORD '` + dsnPassword + `'`,
		`GRANT USAGE ON SCHEMA ` + schema + ` TO ` + role,
		`GRANT SELECT, INSERT, UPDATE ON ` + table + ` TO ` + role,
		`GRANT USAGE ON ALL SEQUENCES IN SCHEMA ` + schema + ` TO ` + role,
		// A rule of the customer's the store enforces: a permanent rejection.
		`ALTER TABLE ` + table + ` ADD CONSTRAINT dept_allowed CHECK (dept IS DISTINCT FROM 'Forbidden')`,
	} {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		_, _ = db.Exec(`DROP OWNED BY ` + role)
		_, _ = db.Exec(`DROP ROLE ` + role)
	})
	u, err := url.Parse(adminDSN)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(role, dsnPassword)
	t.Setenv("SB_SECURITY_TEST_DSN", u.String())
	ten := postgresTenant("secrets", "", table)
	ten.Store.DSN, ten.Store.DSNEnv = "", "SB_SECURITY_TEST_DSN"

	operatorToken := "OpTok" + testsupport.RandomHex(16)
	cfg := securityConfig(t, redisAddr, ten)
	cfg.Admin.TokenFile = filepath.Join(t.TempDir(), "admin-token")
	if err := os.WriteFile(cfg.Admin.TokenFile, []byte(operatorToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs testsupport.LockedBuffer
	ts := startTestServer(t, cfg, serverOptions{full: true, logs: &logs})
	showProblemsOnFailure(t, &logs)
	liveKey := newKey(t, ts.app, "secrets")
	revokedKey, revokedRec, err := ts.app.keys.Create(ctx, "secrets", "to-revoke")
	if err != nil {
		t.Fatal(err)
	}
	wrongKey := "scb_" + "WrongKey" + testsupport.RandomHex(16)
	pw := []string{"PwCreate" + testsupport.RandomHex(10), "PwPatch" + testsupport.RandomHex(10), "PwPut" + testsupport.RandomHex(10), "PwDup" + testsupport.RandomHex(10), "PwBadJSON" + testsupport.RandomHex(10), "PwBulk" + testsupport.RandomHex(10)}
	secrets := map[string]string{
		"live API key": liveKey, "revoked API key": revokedKey, "wrong API key": wrongKey,
		"store DSN password": dsnPassword, "operator token": operatorToken,
	}
	for i, p := range pw {
		secrets[fmt.Sprintf("user password %d", i)] = p
	}

	base := ts.url + "/scim/secrets/v2"
	c := &rawClient{t: t}
	live, op := "Bearer "+liveKey, "Bearer "+operatorToken
	userSchema := []string{"urn:ietf:params:scim:schemas:core:2.0:User"}
	expect := func(what string, want, got int, body any) {
		t.Helper()
		if got != want {
			t.Errorf("%s: %d %v, want %d", what, got, body, want)
		}
	}

	// The revoked key works once, then is revoked through the admin API
	// and refused on the next request.
	st, body := c.json("GET", base+"/Users", "Bearer "+revokedKey, nil)
	expect("GET with the key before revocation", 200, st, body)
	st, body = c.json("DELETE", ts.url+"/admin/v1/tenants/secrets/keys/"+revokedRec.ID, op, nil)
	if st != 200 && st != 204 {
		t.Errorf("revoke: %d %v", st, body)
	}
	st, body = c.json("GET", base+"/Users", "Bearer "+revokedKey, nil)
	expect("GET with the revoked key", 401, st, body)
	st, body = c.json("GET", base+"/Users", "Bearer "+wrongKey, nil)
	expect("GET with a wrong key", 401, st, body)
	st, body = c.json("GET", base+"/Users", op, nil)
	expect("the operator token as a SCIM key", 401, st, body)

	st, body = c.json("POST", base+"/Users", live, map[string]any{"schemas": userSchema, "userName": "pat@example.com",
		"name": map[string]any{"givenName": "Pat", "familyName": "Secret"}, "password": pw[0]})
	expect("create with a password", 201, st, body)
	patID, _ := body["id"].(string)
	waitApplied(t, ts.app, "secrets", patID)
	st, body = c.json("PATCH", base+"/Users/"+patID, live, patchOp(map[string]any{"op": "replace", "path": "password", "value": pw[1]}))
	expect("PATCH password", 200, st, body)
	waitApplied(t, ts.app, "secrets", patID)
	st, body = c.json("PUT", base+"/Users/"+patID, live, map[string]any{"schemas": userSchema, "userName": "pat@example.com",
		"name": map[string]any{"givenName": "Pat", "familyName": "Secret"}, "password": pw[2]})
	expect("PUT with a password", 200, st, body)
	st, body = c.json("POST", base+"/Users", live, map[string]any{"schemas": userSchema, "userName": "PAT@example.com", "password": pw[3]})
	expect("duplicate userName with a password", 409, st, body)
	ex := c.send("POST", base+"/Users", live, []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bad@example.com","password":"`+pw[4]+`",`))
	expect("bad JSON with a password", 400, ex.status, string(ex.body))
	st, body = c.json("POST", base+"/Bulk", live, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:BulkRequest"},
		"Operations": []any{map[string]any{"method": "POST", "path": "/Users", "bulkId": "b1",
			"data": map[string]any{"schemas": userSchema, "userName": "pat@example.com", "password": pw[5]}}}})
	expect("bulk duplicate with a password", 200, st, body)
	st, body = c.json("GET", base+"/Users/00000000-0000-4000-8000-000000000000", live, nil)
	expect("unknown id", 404, st, body)
	// The store rejects this one (its CHECK constraint): a recorded failure.
	st, body = c.json("POST", base+"/Users", live, map[string]any{"schemas": userSchema, "userName": "rejected@example.com",
		"password": pw[0], "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"department": "Forbidden"}})
	expect("create the store rejects", 201, st, body)
	rejectedID, _ := body["id"].(string)
	waitState(t, ts.app, "secrets", rejectedID, syncsvc.StateFailed)
	waitApplied(t, ts.app, "secrets", patID)
	// Operator views: admin API, dashboard, metrics.
	for _, p := range []string{"/admin/v1/tenants", "/admin/v1/tenants/secrets", "/admin/v1/tenants/secrets/keys",
		"/admin/v1/tenants/secrets/users", "/admin/v1/tenants/secrets/users/" + rejectedID, "/monitoring/api/queues", "/metrics"} {
		if ex := c.send("GET", ts.url+p, op, nil); ex.status != 200 {
			t.Errorf("GET %s with the operator token: %d %.300s", p, ex.status, ex.body)
		}
	}
	if ex := c.send("GET", ts.url+"/admin/v1/tenants", "Bearer wrong-"+operatorToken[:8], nil); ex.status != 401 {
		t.Errorf("admin API with a wrong token: %d", ex.status)
	}
	if st, _ := c.json("POST", ts.url+"/admin/v1/tenants/secrets/replay", op, map[string]any{"kind": "User", "id": rejectedID}); st >= 500 {
		t.Errorf("replay: %d", st)
	}
	// The password reached the store as a hash.
	var hash string
	r, _ := ts.app.ledger.GetUser(ctx, "secrets", patID)
	if err := db.QueryRow(`SELECT pw_hash FROM `+table+` WHERE id = $1`, r.Anchor).Scan(&hash); err != nil || !strings.HasPrefix(hash, "$2") {
		t.Errorf("pw_hash %q %v, want a bcrypt hash", hash, err)
	}

	// Where secrets could end up.
	search := func(where string, data []byte) {
		t.Helper()
		for name, s := range secrets {
			if bytes.Contains(data, []byte(s)) {
				t.Errorf("the %s appears in %s: %.400s", name, where, data)
			}
		}
	}
	for _, ex := range c.log {
		search(fmt.Sprintf("the answer to %s %s (%d)", ex.method, ex.url, ex.status), ex.body)
		for k, vs := range ex.header {
			search(fmt.Sprintf("header %s of the answer to %s %s", k, ex.method, ex.url), []byte(strings.Join(vs, "\n")))
		}
	}
	for _, s := range spanExporter.GetSpans() {
		var b strings.Builder
		fmt.Fprintln(&b, s.Name, s.Status.Code, s.Status.Description)
		for _, kv := range s.Attributes {
			fmt.Fprintln(&b, kv.Key, kv.Value.String())
		}
		for _, e := range s.Events {
			fmt.Fprintln(&b, e.Name)
			for _, kv := range e.Attributes {
				fmt.Fprintln(&b, kv.Key, kv.Value.String())
			}
		}
		for _, l := range s.Links {
			for _, kv := range l.Attributes {
				fmt.Fprintln(&b, kv.Key, kv.Value.String())
			}
		}
		if s.Resource != nil {
			for _, kv := range s.Resource.Attributes() {
				fmt.Fprintln(&b, kv.Key, kv.Value.String())
			}
		}
		search("span "+s.Name, []byte(b.String()))
	}
	insp := asynq.NewInspector(ts.app.asynqOpt)
	defer insp.Close()
	queues, err := insp.Queues()
	if err != nil {
		t.Fatal(err)
	}
	tasks := 0
	for _, q := range queues {
		for state, list := range map[string]func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){
			"pending": insp.ListPendingTasks, "active": insp.ListActiveTasks, "scheduled": insp.ListScheduledTasks,
			"retry": insp.ListRetryTasks, "archived": insp.ListArchivedTasks, "completed": insp.ListCompletedTasks,
		} {
			infos, err := list(q, asynq.PageSize(1000))
			if err != nil {
				t.Fatalf("list %s tasks of %s: %v", state, q, err)
			}
			for _, info := range infos {
				tasks++
				where := fmt.Sprintf("the %s task %s of queue %s", state, info.ID, q)
				search(where+" payload", info.Payload)
				search(where+" last error", []byte(info.LastErr))
				search(where+" result", info.Result)
				for k, v := range info.Headers {
					search(where+" header "+k, []byte(v))
				}
			}
		}
	}
	rdb := redisClient(t, redisAddr)
	keys := 0
	iter := rdb.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		keys++
		search("the Redis key name "+iter.Val(), []byte(iter.Val()))
		search("the Redis value of "+iter.Val(), []byte(redisValue(t, rdb, iter.Val())))
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	ts.stop() // flush the last log lines
	search("the server's log", []byte(logs.String()))
	if keys == 0 || len(c.log) < 15 || !strings.Contains(logs.String(), "http request") {
		t.Fatalf("searched too little: %d Redis keys, %d answers, %d log bytes", keys, len(c.log), len(logs.String()))
	}
	t.Logf("searched %d answers, %d spans, %d tasks in %d queues, %d Redis keys, %d log bytes",
		len(c.log), len(spanExporter.GetSpans()), tasks, len(queues), keys, len(logs.String()))
}

// TestInputLimits sends oversized and malformed input: each is refused
// with the right status and scimType, and nothing is written.
func TestInputLimits(t *testing.T) {
	redisAddr := testsupport.RedisDB(t, securityRedisDB)
	cfg := securityConfig(t, redisAddr, sqliteTenant(t, "limits"))
	cfg.API.MaxPageSize = 5
	var logs testsupport.LockedBuffer
	ts := startTestServer(t, cfg, serverOptions{full: true, logs: &logs})
	showProblemsOnFailure(t, &logs)
	rdb := redisClient(t, redisAddr)
	auth := "Bearer " + newKey(t, ts.app, "limits")
	base := ts.url + "/scim/limits/v2"
	c := &rawClient{t: t}
	var userID string
	for i := range 7 {
		st, body := c.json("POST", base+"/Users", auth, map[string]any{"userName": fmt.Sprintf("user%d@example.com", i)})
		if st != 201 {
			t.Fatalf("create: %d %v", st, body)
		}
		userID = body["id"].(string)
	}
	waitApplied(t, ts.app, "limits", userID)
	st, body := c.json("POST", base+"/Groups", auth, map[string]any{"displayName": "Limits", "members": []any{map[string]any{"value": userID}}})
	if st != 201 {
		t.Fatalf("create group: %d %v", st, body)
	}
	groupID := body["id"].(string)
	waitGroupApplied(t, ts.app, "limits", groupID)
	// The first listing adopts the store's pre-existing row; snapshot after it.
	if st, _ := c.json("GET", base+"/Users?count=1000000", auth, nil); st != 200 {
		t.Fatalf("list: %d", st)
	}
	waitDeleted(t, ts.app, "limits", "(all)")
	before := tenantLedgerDump(t, rdb, "limits")

	deep := func(n int, open, close, inner string) string {
		return strings.Repeat(open, n) + inner + strings.Repeat(close, n)
	}
	longFilter := `userName eq "` + strings.Repeat("a", 4100) + `"`
	nestedFilter := deep(50, "(", ")", `userName eq "x"`)
	big := `{"userName":"big@example.com","displayName":"` + strings.Repeat("x", api1MiB+1024) + `"}`
	ops := make([]map[string]any, 1001)
	for i := range ops {
		ops[i] = map[string]any{"op": "replace", "path": "displayName", "value": fmt.Sprint(i)}
	}
	tooManyOps, _ := json.Marshal(patchOp(ops...))
	// Issue 17's probes: many values of one attribute, many members.
	valueList := func(n int, format string) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = map[string]any{"value": fmt.Sprintf(format, i)}
		}
		return out
	}
	emailsUser := func(name string, n int) string {
		return mustJSON(t, map[string]any{"userName": name, "emails": valueList(n, "e%d@example.com")})
	}
	addMembers := func(n int) string {
		return mustJSON(t, patchOp(map[string]any{"op": "add", "path": "members", "value": valueList(n, "00000000-0000-4000-8000-%012d")}))
	}
	bulkGroups := make([]any, 3)
	for i := range bulkGroups {
		bulkGroups[i] = map[string]any{"method": "POST", "path": "/Groups", "bulkId": fmt.Sprint(i),
			"data": map[string]any{"displayName": fmt.Sprint("bulk", i), "members": valueList(scim.MaxRequestValues/3+1, "m%d")}}
	}
	manyValuesBulk := mustJSON(t, map[string]any{"schemas": []any{"urn:ietf:params:scim:api:messages:2.0:BulkRequest"}, "Operations": bulkGroups})
	for _, tc := range []struct {
		name, method, path string
		body               string
		status             int
		scimType           string
	}{
		{"body over the limit (POST)", "POST", "/Users", big, 413, ""},
		{"body over the limit (PUT)", "PUT", "/Users/" + userID, big, 413, ""},
		{"body over the limit (PATCH)", "PATCH", "/Users/" + userID, `{"Operations":[{"op":"add","path":"displayName","value":"` + strings.Repeat("x", api1MiB+1024) + `"}]}`, 413, ""},
		{"body over the limit (Bulk)", "POST", "/Bulk", `{"Operations":[{"method":"POST","path":"/Users","data":` + big + `}]}`, 413, ""},
		{"body over the limit (.search)", "POST", "/Users/.search", `{"filter":"` + strings.Repeat("x", api1MiB+1024) + `"}`, 413, ""},
		{"filter over 4096 characters", "GET", "/Users?filter=" + url.QueryEscape(longFilter), "", 400, "invalidFilter"},
		{"filter over 4096 characters (.search)", "POST", "/Users/.search", mustJSON(t, map[string]any{"filter": longFilter}), 400, "invalidFilter"},
		{"filter nested 50 deep", "GET", "/Users?filter=" + url.QueryEscape(nestedFilter), "", 400, "invalidFilter"},
		{"filter nested 50 deep (groups)", "GET", "/Groups?filter=" + url.QueryEscape(deep(50, "(", ")", `displayName eq "x"`)), "", 400, "invalidFilter"},
		{"value path nested 50 deep", "GET", "/Users?filter=" + url.QueryEscape(deep(50, "emails[", "]", `value eq "x"`)), "", 400, "invalidFilter"},
		{"not nested 50 deep", "GET", "/Users?filter=" + url.QueryEscape(deep(50, "not (", ")", `userName eq "x"`)), "", 400, "invalidFilter"},
		{"PATCH with 1001 operations", "PATCH", "/Users/" + userID, string(tooManyOps), 400, "tooMany"},
		{"user with 1000 emails", "POST", "/Users", emailsUser("e1000@example.com", 1000), 400, "tooMany"},
		{"user with 4000 emails", "POST", "/Users", emailsUser("e4000@example.com", 4000), 400, "tooMany"},
		{"user with MaxAttributeValues+1 emails (PUT)", "PUT", "/Users/" + userID, emailsUser("user6@example.com", scim.MaxAttributeValues+1), 400, "tooMany"},
		{"PATCH adding 20000 member ids", "PATCH", "/Groups/" + groupID, addMembers(20000), 400, "tooMany"},
		{"PATCH adding MaxMemberChanges+1 member ids", "PATCH", "/Groups/" + groupID, addMembers(scim.MaxMemberChanges + 1), 400, "tooMany"},
		{"group with MaxGroupMembers+1 members", "POST", "/Groups", mustJSON(t, map[string]any{"displayName": "Big", "members": valueList(scim.MaxGroupMembers+1, "m%d")}), 400, "tooMany"},
		{"Bulk with more than MaxRequestValues values in all", "POST", "/Bulk", manyValuesBulk, 400, "tooMany"},
		{"invalid UTF-8 in a string (POST)", "POST", "/Users", "{\"userName\":\"bad\xff\xfe@example.com\"}", 400, "invalidSyntax"},
		{"invalid UTF-8 in a string (PUT)", "PUT", "/Users/" + userID, "{\"userName\":\"user6@example.com\",\"displayName\":\"\xc3\x28\"}", 400, "invalidSyntax"},
		{"invalid UTF-8 in a string (PATCH)", "PATCH", "/Users/" + userID, "{\"Operations\":[{\"op\":\"replace\",\"path\":\"displayName\",\"value\":\"\xed\xa0\x80\"}]}", 400, "invalidSyntax"},
		{"invalid UTF-8 in a key", "POST", "/Users", "{\"userName\":\"k@example.com\",\"\xff\":1}", 400, "invalidSyntax"},
		{"JSON arrays nested 10000 deep", "POST", "/Users", `{"userName":"deep@example.com","x":` + deep(10000, "[", "]", "1") + `}`, 400, "invalidSyntax"},
		{"JSON objects nested 10000 deep", "POST", "/Users", `{"userName":"deep@example.com","x":` + deep(10000, `{"a":`, "}", "1") + `}`, 400, "invalidSyntax"},
		{"JSON nested 10000 deep (PATCH)", "PATCH", "/Users/" + userID, `{"Operations":[{"op":"add","path":"displayName","value":` + deep(10000, "[", "]", `"x"`) + `}]}`, 400, "invalidSyntax"},
		{"JSON nested 10000 deep (Bulk)", "POST", "/Bulk", `{"Operations":[{"method":"POST","path":"/Users","data":{"userName":"d@example.com","x":` + deep(10000, "[", "]", "1") + `}}]}`, 400, "invalidSyntax"},
	} {
		ex := c.send(tc.method, base+tc.path, auth, []byte(tc.body))
		var out map[string]any
		_ = json.Unmarshal(ex.body, &out)
		if ex.status != tc.status || (tc.scimType != "" && out["scimType"] != tc.scimType) {
			t.Errorf("%s: %d %.300s, want %d %s", tc.name, ex.status, ex.body, tc.status, tc.scimType)
		}
		if d := diffDumps(before, tenantLedgerDump(t, rdb, "limits")); len(d) > 0 {
			t.Errorf("%s wrote to the ledger:\n%s", tc.name, strings.Join(d, "\n"))
			before = tenantLedgerDump(t, rdb, "limits")
		}
	}

	// count is clamped to the advertised maximum.
	st, spc := c.json("GET", base+"/ServiceProviderConfig", auth, nil)
	maxResults, _ := spc["filter"].(map[string]any)["maxResults"].(float64)
	if st != 200 || maxResults != 5 {
		t.Fatalf("ServiceProviderConfig filter.maxResults: %d %v, want 5", st, spc["filter"])
	}
	for _, p := range []string{"/Users?count=1000000", "/Users?startIndex=1&count=1000000&filter=" + url.QueryEscape(`userName sw "user"`)} {
		st, list := c.json("GET", base+p, auth, nil)
		if st != 200 || len(ids(list)) != int(maxResults) || list["itemsPerPage"] != maxResults || list["totalResults"].(float64) < 7 {
			t.Errorf("GET %s: %d items %d, itemsPerPage %v, total %v; want %v of them", p, st, len(ids(list)), list["itemsPerPage"], list["totalResults"], maxResults)
		}
	}
	st, list := c.json("POST", base+"/Users/.search", auth, map[string]any{"count": 1000000})
	if st != 200 || len(ids(list)) != int(maxResults) {
		t.Errorf(".search count=1000000: %d %d items", st, len(ids(list)))
	}
	if d := diffDumps(before, tenantLedgerDump(t, rdb, "limits")); len(d) > 0 {
		t.Errorf("reads wrote to the ledger:\n%s", strings.Join(d, "\n"))
	}
}

// api1MiB is the default body limit (api.DefaultMaxBodyBytes).
const api1MiB = 1 << 20

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSQLMetacharactersStoredLiterally sends SQL metacharacters in
// userName and displayName: PostgreSQL holds them as sent, and eq filters
// match them literally (no LIKE wildcards), in the ledger and in the
// store's existence check alike.
func TestSQLMetacharactersStoredLiterally(t *testing.T) {
	redisAddr := testsupport.RedisDB(t, securityRedisDB)
	dsn, table, db := e2ePostgres(t)
	ts := startTestServer(t, securityConfig(t, redisAddr, postgresTenant("inject", dsn, table)), serverOptions{full: true})
	auth := "Bearer " + newKey(t, ts.app, "inject")
	base := ts.url + "/scim/inject/v2"
	c := &rawClient{t: t}
	rowCount := func() int {
		t.Helper()
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	values := []struct{ userName, display string }{
		{`o'brien'; DROP TABLE accounts; --@example.com`, `Robert'); DROP TABLE accounts;--`},
		{`back\slash\\@example.com`, `C:\\temp\ 'x' \'`},
		{`100%_match@example.com`, `%`},
		{`under_score@example.com`, `_`},
		{`quote"double@example.com`, `"; SELECT pg_sleep(10); --`},
		{`semi;colon$1@example.com`, `$1 $$ $tag$ :name ?`},
	}
	created := map[string]string{}
	for _, v := range values {
		st, body := c.json("POST", base+"/Users", auth, map[string]any{"userName": v.userName, "displayName": v.display,
			"name": map[string]any{"givenName": v.display, "familyName": "x"}})
		if st != 201 {
			t.Fatalf("create %q: %d %v", v.userName, st, body)
		}
		created[v.userName] = body["id"].(string)
	}
	// A decoy the wildcards would match if they were wildcards.
	if st, body := c.json("POST", base+"/Users", auth, map[string]any{"userName": "underXscore@example.com"}); st != 201 {
		t.Fatalf("decoy: %d %v", st, body)
	}
	for _, v := range values {
		r := waitApplied(t, ts.app, "inject", created[v.userName])
		var login, full, first string
		if err := db.QueryRow(`SELECT login, full_name, first_name FROM `+table+` WHERE id = $1`, r.Anchor).Scan(&login, &full, &first); err != nil {
			t.Fatal(err)
		}
		if login != v.userName || full != v.display || first != v.display {
			t.Errorf("stored %q %q %q, sent %q %q", login, full, first, v.userName, v.display)
		}
	}
	if n := rowCount(); n != len(values)+2 {
		t.Errorf("table has %d rows, want %d", n, len(values)+2)
	}

	eq := func(attr, value string) []string {
		t.Helper()
		st, list := c.json("GET", base+"/Users?filter="+url.QueryEscape(attr+` eq "`+strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(value)+`"`), auth, nil)
		if st != 200 {
			t.Fatalf("filter %s eq %q: %d %v", attr, value, st, list)
		}
		return ids(list)
	}
	for _, v := range values {
		if got := eq("userName", v.userName); len(got) != 1 || got[0] != created[v.userName] {
			t.Errorf("userName eq %q: %v, want only %s", v.userName, got, created[v.userName])
		}
	}
	// Wildcards and fragments match nothing, in the ledger or in the
	// store's existence check (which would adopt what it finds).
	for _, v := range []string{"%", "_", "%@example.com", "under_score@example.co_", "100%", "Pre.Existing@example.co%",
		"pre.existing@example.co_", `' OR '1'='1`, `o'brien'`, `back\slash`} {
		if got := eq("userName", v); len(got) != 0 {
			t.Errorf("userName eq %q matched %v", v, got)
		}
		if got := eq("emails.value", v); len(got) != 0 {
			t.Errorf("emails.value eq %q matched %v", v, got)
		}
		if got := eq("externalId", v); len(got) != 0 {
			t.Errorf("externalId eq %q matched %v", v, got)
		}
	}
	if n := rowCount(); n != len(values)+2 {
		t.Errorf("after the filters the table has %d rows, want %d", n, len(values)+2)
	}
	// The pre-existing row is still found by its exact name (the store
	// lookup works) and only by it.
	if got := eq("userName", "PRE.EXISTING@EXAMPLE.COM"); len(got) != 1 {
		t.Errorf("exact existence check of the pre-existing row: %v", got)
	}

	// NUL cannot be stored in PostgreSQL text. The front door acknowledges
	// it today (a SCIM string may hold U+0000); the store then rejects it
	// and the rejection is recorded on the resource. What must never
	// happen: a row with the name cut at the NUL, or a row of someone else
	// changed.
	before := tableDump(t, db, table)
	st, body := c.json("POST", base+"/Users", auth, map[string]any{"userName": "nul\x00byte@example.com", "displayName": "pre\x00"})
	switch st {
	case 400:
	case 201:
		id, _ := body["id"].(string)
		deadline := time.Now().Add(30 * time.Second)
		for {
			r, err := ts.app.ledger.GetUser(context.Background(), "inject", id)
			if err != nil {
				t.Fatal(err)
			}
			if r.State() == syncsvc.StateFailed {
				t.Logf("a NUL in userName is acknowledged, then rejected by PostgreSQL: %s", r.Failure)
				break
			}
			if r.State() == syncsvc.StateApplied {
				var login string
				err := db.QueryRow(`SELECT login FROM `+table+` WHERE id = $1`, r.Anchor).Scan(&login)
				if err != nil || login != "nul\x00byte@example.com" {
					t.Errorf("the NUL user was applied as %q (%v)", login, err)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the NUL user is still pending: %+v", r)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if got := tableDump(t, db, table); got != before {
			t.Errorf("the NUL create changed the table:\n%s\nwas\n%s", got, before)
		}
	default:
		t.Errorf("userName with NUL: %d %v, want 400 or 201", st, body)
	}
}
