package main

// Operations on the Redis topologies the test starts itself: on a real
// three-primary Redis Cluster, disaster recovery (recover, backup and
// restore after FLUSHALL on every primary), every admin command, the
// sweeper finding jobs that were lost, and key revocation across two API
// processes; through a Sentinel, key revocation across two API processes
// before and after a failover.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.yaml.in/yaml/v3"

	"github.com/scimbridge/scimbridge/internal/testsupport"
	"github.com/scimbridge/scimbridge/queue"
	syncsvc "github.com/scimbridge/scimbridge/sync"
	"github.com/scimbridge/scimbridge/tenants"
)

// TestOperationsOnRedisCluster runs the operations an operator relies on
// against one three-primary cluster, emptied before each.
func TestOperationsOnRedisCluster(t *testing.T) {
	cluster := testsupport.StartRedisCluster(t, 3)
	topo := cluster.Topology()
	for _, tc := range []struct {
		name string
		run  func(*testing.T, testsupport.RedisTopology)
	}{
		{"RecoverBackupRestore", testRecoverBackupRestore},
		{"EveryAdminCommand", testEveryAdminCommand},
		{"SweeperRequeuesLostJobs", testSweeperRequeuesLostJobs},
		{"KeyRevocationAcrossProcesses", func(t *testing.T, topo testsupport.RedisTopology) {
			testKeyRevocationAcrossProcesses(t, topo, nil)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topo.Flush(t)
			tc.run(t, topo)
		})
	}
}

// TestEveryAdminCommand runs the admin commands' table on the standalone
// test Redis (the cluster runs it in TestOperationsOnRedisCluster).
func TestEveryAdminCommand(t *testing.T) {
	testEveryAdminCommand(t, e2eTopology(t))
}

// TestKeyRevocationThroughSentinel: two API processes find the primary
// through a sentinel; a key revoked on one is refused by the other at once
// (its cache would trust it for an hour), before a failover and after it
// (the announcement's subscription moved to the new primary by itself).
func TestKeyRevocationThroughSentinel(t *testing.T) {
	rs := testsupport.StartRedisSentinel(t)
	testKeyRevocationAcrossProcesses(t, rs.Topology(), func(t *testing.T) {
		old := rs.Primary.Addr
		rs.Primary.Kill()
		t.Logf("failed over from %s to %s", old, rs.WaitFailover(t, old))
	})
}

// tenantNode is the server holding the tenant's hash slot: on a cluster
// the primary of that slot, otherwise the one client.
func tenantNode(t *testing.T, rdb redis.UniversalClient, tenant string) *redis.Client {
	t.Helper()
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		n, err := c.MasterForKey(context.Background(), "sb:{"+tenant+"}:u:seq")
		if err != nil {
			t.Fatal(err)
		}
		return n
	case *redis.Client:
		return c
	}
	t.Fatalf("no single node behind a %T", rdb)
	return nil
}

// loseEveryPrimary loses the topology's whole data set: FLUSHALL on every
// primary of a cluster (the other topologies: FLUSHDB of the test's own
// database). The tenant must have had data to lose, and has none after.
func loseEveryPrimary(t *testing.T, topo testsupport.RedisTopology, tenant string) {
	t.Helper()
	ctx := context.Background()
	rdb := topo.Client(t)
	if n, err := tenantNode(t, rdb, tenant).Keys(ctx, "sb:{"+tenant+"}:*").Result(); err != nil || len(n) == 0 {
		t.Fatalf("tenant %s has no Redis data to lose (%v)", tenant, err)
	}
	if topo.Mode != testsupport.TopologyCluster {
		loseRedisData(t, tenantNode(t, rdb, tenant), tenant)
		return
	}
	var mu gosync.Mutex
	primaries := 0
	err := rdb.(*redis.ClusterClient).ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
		if err := n.FlushAll(ctx).Err(); err != nil {
			return err
		}
		// The running worker may write its own bookkeeping again at once
		// (the sweeper's lock, asynq's heartbeats); the tenants' data,
		// keys and records stay gone.
		for _, pattern := range []string{"sb:{*", "sb:key:*", "sb:tenants"} {
			if left, err := n.Keys(ctx, pattern).Result(); err != nil || len(left) != 0 {
				return fmt.Errorf("%s after FLUSHALL: %v %v", n.Options().Addr, left, err)
			}
		}
		mu.Lock()
		primaries++
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if primaries != len(topo.ClusterAddrs) {
		t.Fatalf("flushed %d primaries, want %d", primaries, len(topo.ClusterAddrs))
	}
}

// sameResources fails unless after holds what before held, as the store
// gives it back (storeShape), by the same ids.
func sameResources(t *testing.T, what string, before, after map[string]map[string]any) {
	t.Helper()
	if len(after) != len(before) {
		t.Fatalf("%s: %d resources, want %d", what, len(after), len(before))
	}
	for path, was := range before {
		now, ok := after[path]
		if !ok {
			t.Fatalf("%s: %s is gone", what, path)
		}
		w, n := storeShape(was), storeShape(now)
		if _, sent := w["displayName"]; !sent && strings.HasPrefix(path, "/Users/") {
			// A value the IdP never sent but the store requires (LDAP's
			// cn, which the store fills with the userName) comes back as
			// the store holds it.
			delete(n, "displayName")
		}
		if !reflect.DeepEqual(w, n) {
			t.Fatalf("%s: %s:\n%v\nwant\n%v", what, path, n, w)
		}
	}
}

// testRecoverBackupRestore: after Okta's lifecycle and Push Groups on a
// PostgreSQL tenant keeping the SCIM id, the topology loses everything
// (FLUSHALL on every primary); `scimbridge recover` rebuilds the ledger and
// GETs by the old ids answer the same users and group. Then `backup`,
// everything lost again, `restore`: the ledger is as it was, key for key,
// and the old ids answer again.
func testRecoverBackupRestore(t *testing.T, topo testsupport.RedisTopology) {
	const tenant = "dr-topo"
	pf := newPGFixture(t)
	cfg := testConfigOn(t, topo, pf.tenant(tenant))
	ts := startTestServer(t, cfg, serverOptions{})
	cli := cliRunner(t, writeTopologyConfig(t, cfg))
	node := tenantNode(t, topo.Client(t), tenant)
	c := &scimClient{t: t, base: ts.url + "/scim/" + tenant + "/v2", auth: "Bearer " + newKey(t, ts.app, tenant)}
	us := runOktaLifecycle(t, ts, tenant, c, pf)
	runOktaPushGroups(t, ts, tenant, c, pf, us)
	if t.Failed() {
		return
	}
	waitConverged(t, node, tenant)
	before := scimSnapshot(t, c)
	if len(before) != 4 { // pre, jane, bob and the adopted "Existing Team" group
		t.Fatalf("%d resources before the loss, want 4: %v", len(before), before)
	}

	loseEveryPrimary(t, topo, tenant)
	out, notes, err := cli("recover", "--tenant", tenant)
	if err != nil || !strings.Contains(out, "users: 3 in the store, 0 already in the ledger, 3 recorded (3 with their old id, 0 with a new id), 0 conflicts") ||
		!strings.Contains(out, "groups: 1 in the store, 0 already in the ledger, 1 recorded (1 with their old id, 0 with a new id), 0 conflicts") ||
		!strings.Contains(out, "memberships: 2 recorded") {
		t.Fatalf("recover: %v\nstdout:\n%s\nstderr:\n%s", err, out, notes)
	}
	c.auth = "Bearer " + newKey(t, ts.app, tenant) // the key went with the data
	sameResources(t, "after recover", before, scimSnapshot(t, c))
	if status, body := c.do("GET", "/Users/"+us.janeID, nil); status != 200 || body["userName"] != before["/Users/"+us.janeID]["userName"] {
		t.Fatalf("GET jane by her old id after recover: %d %v", status, body)
	}
	waitConverged(t, node, tenant)
	if u, ok := pf.user(t, us.janeAnchor); !ok || u.FamilyName != "Smith" || u.Plan != "pro" {
		t.Fatalf("jane's row after recover: %+v", u)
	}

	ledger := ledgerDump(t, node, tenant)
	file := filepath.Join(t.TempDir(), tenant+".backup")
	if out, _, err := cli("backup", "--tenant", tenant, "--out", file); err != nil || !strings.Contains(out, "backup of "+tenant+" written to") {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	loseEveryPrimary(t, topo, tenant)
	out, _, err = cli("restore", "--tenant", tenant, "--in", file)
	if err != nil || !strings.Contains(out, "compared with the store: 0 users and 0 groups re-applied") {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	if after := ledgerDump(t, node, tenant); !reflect.DeepEqual(after, ledger) {
		diffDump(t, ledger, after)
	}
	c.auth = "Bearer " + newKey(t, ts.app, tenant)
	sameResources(t, "after restore", before, scimSnapshot(t, c))
	waitConverged(t, node, tenant)
}

// testEveryAdminCommand runs every admin command of the command line
// (cliCommands, but serve, api, worker and help) against the topology
// from a configuration file, in one table, each checked by its output and
// by its effect on the running service; the table must name them all.
func testEveryAdminCommand(t *testing.T, topo testsupport.RedisTopology) {
	const tenant = "adm-topo"
	ctx := context.Background()
	ten, db := adminSQLiteTenant(t, tenant)
	cfg := testConfigOn(t, topo, ten)
	ts := startTestServer(t, cfg, serverOptions{}) // the worker runs jobs and deliveries
	cfgPath := writeTopologyConfig(t, cfg)
	dir := t.TempDir()
	rcv := newHookReceiver(t)
	scim := func(auth string) *scimClient {
		return &scimClient{t: t, base: ts.url + "/scim/" + tenant + "/v2", auth: "Bearer " + auth}
	}
	seedKey := newKey(t, ts.app, tenant)
	// What another process reads now (the service's registry caches a
	// tenant for a while).
	rdb := topo.Client(t)
	registry := func() *tenants.Registry { return tenants.NewRegistry(rdb) }
	file := func(name string, v any) string {
		var b []byte
		switch v := v.(type) {
		case string:
			b = []byte(v)
		default:
			var err error
			if b, err = yaml.Marshal(v); err != nil {
				t.Fatal(err)
			}
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	decode := func(out string, v any) {
		t.Helper()
		if err := json.Unmarshal([]byte(out), v); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, out)
		}
	}
	execCLI := func(args ...string) (string, string, error) {
		var out, errOut bytes.Buffer
		err := run(append(args, "--config", cfgPath), &out, &errOut)
		return out.String(), errOut.String(), err
	}

	// Two store rows to import; a user the store rejects (failed, for
	// replay), created through SCIM.
	for _, un := range []string{"a@example.com", "b@example.com"} {
		if _, err := db.Exec(`INSERT INTO users (username, family_name) VALUES (?, 'Pre')`, un); err != nil {
			t.Fatal(err)
		}
	}
	other, _ := adminSQLiteTenant(t, "adm-topo-other")
	otherFile := file("other.yaml", other)
	renamed := other
	renamed.Name = "Other, renamed"
	renamedFile := file("renamed.yaml", renamed)
	userFile := file("user.json", `{"userName":"jane@example.com","name":{"givenName":"Jane"},"nickName":"JJ"}`)
	backupFile := filepath.Join(dir, tenant+".backup")

	// What the commands hand to the ones after them.
	var (
		apiKey, jobID, eventID, endpointID, clientID, linkID, linkToken, bobID string
	)
	type step struct {
		args   func() []string
		before func()
		check  func(out, errOut string)
	}
	fixed := func(args ...string) func() []string { return func() []string { return args } }
	steps := []step{
		{args: fixed("tenant", "list"), check: func(out, _ string) {
			if !strings.Contains(out, tenant) || !strings.Contains(out, "sqlite") {
				t.Errorf("tenant list:\n%s", out)
			}
		}},
		{args: fixed("tenant", "create", "--file", otherFile), check: func(out, _ string) {
			if _, err := registry().Get(ctx, other.ID); err != nil || !strings.Contains(out, "created tenant "+other.ID) {
				t.Errorf("tenant create: %v\n%s", err, out)
			}
		}},
		{args: fixed("tenant", "update", "--file", renamedFile), check: func(out, _ string) {
			if got, err := registry().Get(ctx, other.ID); err != nil || got.Name != renamed.Name || !strings.Contains(out, "updated tenant") {
				t.Errorf("tenant update: %+v %v\n%s", got, err, out)
			}
		}},
		{args: fixed("tenant", "disable", "--tenant", other.ID), check: func(out, _ string) {
			if got, err := registry().Get(ctx, other.ID); err != nil || !got.Disabled {
				t.Errorf("tenant disable: %+v %v\n%s", got, err, out)
			}
		}},
		{args: fixed("tenant", "show", "--tenant", other.ID, "--json"), check: func(out, _ string) {
			var shown struct {
				ID, Name string
				Disabled bool
			}
			decode(out, &shown)
			if shown.ID != other.ID || shown.Name != renamed.Name || !shown.Disabled {
				t.Errorf("tenant show: %+v", shown)
			}
		}},
		{args: fixed("tenant", "enable", "--tenant", other.ID), check: func(out, _ string) {
			if got, err := registry().Get(ctx, other.ID); err != nil || got.Disabled {
				t.Errorf("tenant enable: %+v %v\n%s", got, err, out)
			}
		}},
		// First: a SCIM list adopts the store's rows too.
		{args: fixed("import", "--tenant", tenant), check: func(out, _ string) {
			if !strings.Contains(out, "done; 2 store entries seen, 2 users adopted") {
				t.Errorf("import:\n%s", out)
			}
		}},
		{args: fixed("key", "create", "--tenant", tenant, "--name", "okta", "--json"), check: func(out, _ string) {
			var k struct {
				APIKey string `json:"api_key"`
			}
			decode(out, &k)
			apiKey = k.APIKey
			if status, body := scim(apiKey).do("GET", "/Users?count=1", nil); status != 200 {
				t.Errorf("SCIM with the created key: %d %v", status, body)
			}
		}},
		{args: fixed("key", "list", "--tenant", tenant, "--json"), check: func(out, _ string) {
			var keys []struct{ Name string }
			decode(out, &keys)
			if !slices.ContainsFunc(keys, func(k struct{ Name string }) bool { return k.Name == "okta" }) || strings.Contains(out, apiKey) {
				t.Errorf("key list:\n%s", out)
			}
		}},
		{args: fixed("preview", "--tenant", tenant, "--file", userFile), check: func(out, _ string) {
			if !strings.Contains(out, "username") || !strings.Contains(out, "jane@example.com") || !strings.Contains(out, "nickName") {
				t.Errorf("preview:\n%s", out)
			}
		}},
		{before: func() {
			if _, err := db.Exec(`CREATE TRIGGER refuse_bob BEFORE INSERT ON users WHEN NEW.username = 'bob@example.com'
				BEGIN SELECT RAISE(ABORT, 'bob is not welcome'); END`); err != nil {
				t.Fatal(err)
			}
			status, body := scim(apiKey).do("POST", "/Users", map[string]any{"userName": "bob@example.com"})
			if status != 201 {
				t.Fatalf("create bob: %d %v", status, body)
			}
			bobID = body["id"].(string)
			waitState(t, ts.app, tenant, bobID, syncsvc.StateFailed)
		}, args: fixed("status", "--tenant", tenant), check: func(out, _ string) {
			if !strings.Contains(out, "users:  3 (0 pending, 1 failed)") {
				t.Errorf("status:\n%s", out)
			}
		}},
		{args: fixed("status", "--tenant", tenant, "--state", "failed", "--json"), check: func(out, _ string) {
			var page struct {
				Total     int `json:"total"`
				Resources []struct{ ID, Failure string }
			}
			decode(out, &page)
			if page.Total != 1 || page.Resources[0].ID != bobID || !strings.Contains(page.Resources[0].Failure, "bob is not welcome") {
				t.Errorf("status --state failed: %+v", page)
			}
		}},
		{before: func() {
			if _, err := db.Exec(`DROP TRIGGER refuse_bob`); err != nil {
				t.Fatal(err)
			}
		}, args: fixed("replay", "--tenant", tenant), check: func(out, _ string) {
			if !strings.Contains(out, "replay requested for 1 failed user(s)") {
				t.Errorf("replay:\n%s", out)
			}
			waitState(t, ts.app, tenant, bobID, syncsvc.StateApplied)
		}},
		{before: func() {
			if _, err := db.Exec(`UPDATE users SET family_name = 'Edited' WHERE username = 'b@example.com'`); err != nil {
				t.Fatal(err)
			}
		}, args: fixed("drift", "--tenant", tenant), check: func(out, _ string) {
			if !strings.Contains(out, "1 differing, 0 missing") || !strings.Contains(out, `family_name: "Pre" → "Edited"`) {
				t.Errorf("drift:\n%s", out)
			}
		}},
		{args: fixed("drift", "--tenant", tenant, "--repair", "--json"), check: func(out, _ string) {
			var job struct {
				ID, State string
				Report    struct{ Repaired int }
			}
			decode(out, &job)
			jobID = job.ID
			if job.State != "done" || job.Report.Repaired != 1 {
				t.Errorf("drift --repair: %+v", job)
			}
			testsupport.WaitFor(t, "the drift repair applied", 30*time.Second, func() bool {
				var family string
				return db.QueryRow(`SELECT family_name FROM users WHERE username = 'b@example.com'`).Scan(&family) == nil && family == "Pre"
			})
		}},
		{args: func() []string { return []string{"job", "--id", jobID, "--json"} }, check: func(out, _ string) {
			var job struct{ ID, Kind, State string }
			decode(out, &job)
			if job.ID != jobID || job.Kind != "drift" || job.State != "done" {
				t.Errorf("job: %+v", job)
			}
		}},
		{args: fixed("events", "list", "--tenant", tenant, "--json"), check: func(out, _ string) {
			var page struct {
				Events     []syncsvc.Event `json:"events"`
				NextCursor string          `json:"next_cursor"`
			}
			decode(out, &page)
			if page.NextCursor == "" {
				t.Errorf("events list: no next_cursor:\n%s", out)
			}
			for _, e := range page.Events {
				if e.Type == syncsvc.EventUserCreated && e.Data.ID == bobID {
					eventID = e.ID
				}
			}
			if eventID == "" {
				t.Errorf("events list: no user.created of bob:\n%s", out)
			}
		}},
		{args: func() []string {
			return []string{"webhook", "create", "--tenant", tenant, "--url", rcv.srv.URL + "/hook", "--json"}
		}, check: func(out, _ string) {
			var created struct {
				Endpoint syncsvc.Endpoint `json:"endpoint"`
				Secret   string           `json:"secret"`
			}
			decode(out, &created)
			endpointID = created.Endpoint.ID
			rcv.mu.Lock()
			rcv.secret = created.Secret
			rcv.mu.Unlock()
			if !strings.HasPrefix(created.Secret, "whsec_") || endpointID == "" {
				t.Errorf("webhook create:\n%s", out)
			}
		}},
		{args: fixed("webhook", "list", "--tenant", tenant, "--json"), check: func(out, _ string) {
			var list []syncsvc.Endpoint
			decode(out, &list)
			if len(list) != 1 || list[0].ID != endpointID || !list[0].Enabled {
				t.Errorf("webhook list:\n%s", out)
			}
		}},
		{args: func() []string {
			return []string{"webhook", "update", "--tenant", tenant, "--endpoint", endpointID, "--types", "user.created,user.updated", "--json"}
		}, check: func(out, _ string) {
			eps, err := ts.app.webhooks.Endpoints(ctx, tenant)
			if err != nil || len(eps) != 1 || !reflect.DeepEqual(eps[0].Types, []string{"user.created", "user.updated"}) {
				t.Errorf("webhook update: %+v %v\n%s", eps, err, out)
			}
		}},
		{args: func() []string {
			return []string{"events", "replay", "--tenant", tenant, "--event", eventID, "--endpoint", endpointID}
		}, check: func(out, _ string) {
			if !strings.Contains(out, "1 event(s), 1 delivery(ies) queued") {
				t.Errorf("events replay:\n%s", out)
			}
			testsupport.WaitFor(t, "the replayed event delivered", 30*time.Second, func() bool {
				return slices.ContainsFunc(rcv.events(), func(e syncsvc.Event) bool { return e.ID == eventID })
			})
		}},
		{args: func() []string {
			return []string{"webhook", "deliveries", "--tenant", tenant, "--endpoint", endpointID, "--json"}
		}, check: func(out, _ string) {
			var list []syncsvc.Delivery
			decode(out, &list)
			if !slices.ContainsFunc(list, func(d syncsvc.Delivery) bool { return d.Event == eventID && d.Status == 200 && d.Replay }) {
				t.Errorf("webhook deliveries: no 200 for the replayed %s:\n%s", eventID, out)
			}
		}},
		{args: func() []string {
			return []string{"webhook", "rotate", "--tenant", tenant, "--endpoint", endpointID, "--overlap", "1h", "--json"}
		}, check: func(out, _ string) {
			var rotated struct {
				Endpoint syncsvc.Endpoint `json:"endpoint"`
				Secret   string           `json:"secret"`
			}
			decode(out, &rotated)
			if rotated.Endpoint.SecretsActive != 2 || !strings.HasPrefix(rotated.Secret, "whsec_") || rotated.Secret == rcv.secret {
				t.Errorf("webhook rotate:\n%s", out)
			}
		}},
		{args: func() []string { return []string{"webhook", "delete", "--tenant", tenant, "--endpoint", endpointID} }, check: func(out, _ string) {
			if eps, err := ts.app.webhooks.Endpoints(ctx, tenant); err != nil || len(eps) != 0 || !strings.Contains(out, "deleted") {
				t.Errorf("webhook delete: %+v %v\n%s", eps, err, out)
			}
		}},
		{args: fixed("oauth-client", "create", "--tenant", tenant, "--name", "entra", "--json"), check: func(out, _ string) {
			var created struct {
				ClientID     string `json:"client_id"`
				ClientSecret string `json:"client_secret"`
			}
			decode(out, &created)
			clientID = created.ClientID
			if clientID == "" || created.ClientSecret == "" {
				t.Errorf("oauth-client create:\n%s", out)
			}
		}},
		{args: fixed("oauth-client", "list", "--tenant", tenant, "--json"), check: func(out, _ string) {
			var list []tenants.OAuthClient
			decode(out, &list)
			if len(list) != 1 || list[0].ID != clientID || list[0].Revoked {
				t.Errorf("oauth-client list:\n%s", out)
			}
		}},
		{args: fixed("oauth-client", "revoke", "--tenant", tenant, "--client", "entra"), check: func(out, _ string) {
			list, err := ts.app.oauth.List(ctx, tenant)
			if err != nil || len(list) != 1 || !list[0].Revoked {
				t.Errorf("oauth-client revoke: %+v %v\n%s", list, err, out)
			}
		}},
		{args: fixed("tenant", "setup-link", "--tenant", tenant, "--ttl", "2h", "--json"), check: func(out, _ string) {
			var link struct{ ID, URL string }
			decode(out, &link)
			linkID, linkToken = link.ID, link.URL[strings.LastIndex(link.URL, "/")+1:]
			if !strings.HasPrefix(link.URL, "https://scim.example.com/setup/"+tenant+"/open/scbl_") {
				t.Errorf("setup-link:\n%s", out)
			}
			if _, err := ts.app.setupLinks().Verify(ctx, tenant, linkToken); err != nil {
				t.Errorf("the printed link does not open the page: %v", err)
			}
		}},
		{args: func() []string { return []string{"tenant", "setup-link-revoke", "--tenant", tenant, "--link", linkID} }, check: func(out, _ string) {
			if _, err := ts.app.setupLinks().Verify(ctx, tenant, linkToken); !errors.Is(err, tenants.ErrLinkRevoked) {
				t.Errorf("setup-link-revoke: the link still opens: %v\n%s", err, out)
			}
		}},
		{args: fixed("backup", "--tenant", tenant, "--out", backupFile), check: func(out, _ string) {
			if !strings.Contains(out, "backup of "+tenant+" written to") || !strings.Contains(out, ": 3 users, 0 groups") {
				t.Errorf("backup:\n%s", out)
			}
		}},
		{args: fixed("restore", "--tenant", tenant, "--in", backupFile, "--overwrite", "--dry-run"), check: func(out, _ string) {
			if !strings.Contains(out, "3 users, 0 groups") || !strings.Contains(out, "dry run: the file is good and would replace") {
				t.Errorf("restore --dry-run:\n%s", out)
			}
		}},
		{args: fixed("recover", "--tenant", tenant, "--new-ids", "--merge", "--dry-run"), check: func(out, _ string) {
			if !strings.Contains(out, "dry run: nothing was written") || !strings.Contains(out, "users: 3 in the store, 3 already in the ledger, 0 would be recorded") {
				t.Errorf("recover --dry-run:\n%s", out)
			}
		}},
		{args: fixed("key", "revoke", "--tenant", tenant, "--key", "okta"), check: func(out, _ string) {
			if status, _ := scim(apiKey).do("GET", "/Users?count=1", nil); status != 401 || !strings.Contains(out, "revoked okta") {
				t.Errorf("key revoke: the key still answers %d\n%s", status, out)
			}
			if status, _ := scim(seedKey).do("GET", "/Users?count=1", nil); status != 200 {
				t.Errorf("key revoke: another key answers %d", status)
			}
		}},
	}

	ran := map[string]bool{}
	for _, s := range steps {
		if s.before != nil {
			s.before()
		}
		args := s.args()
		name := args[0]
		if c, _ := lookupCommand(cliCommands(), args); c != nil {
			name = c.name
		}
		ran[name] = true
		out, errOut, err := execCLI(args...)
		if err != nil {
			t.Fatalf("scimbridge %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
		}
		s.check(out, errOut)
		if t.Failed() {
			t.FailNow()
		}
	}
	var missing []string
	for _, c := range cliCommands() {
		switch c.name {
		case "serve", "api", "worker", "help":
		default:
			if !ran[c.name] {
				missing = append(missing, c.name)
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("admin commands not run on %s: %v", topo.Mode, missing)
	}
}

// testSweeperRequeuesLostJobs: users of tenants whose ledgers are on
// different primaries are created while no worker runs; their queued jobs
// are lost (deleted from every queue). One sweeper pass finds every one of
// them dirty and queues it again, on its tenant's queue; a worker then
// applies them all.
func testSweeperRequeuesLostJobs(t *testing.T, topo testsupport.RedisTopology) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rdb := topo.Client(t)
	want := 1
	if topo.Mode == testsupport.TopologyCluster {
		want = len(topo.ClusterAddrs)
	}
	byNode := map[string]string{}
	for i := 0; i < 200 && len(byNode) < want; i++ {
		name := fmt.Sprintf("sw-%d", i)
		if addr := tenantNode(t, rdb, name).Options().Addr; byNode[addr] == "" {
			byNode[addr] = name
		}
	}
	if len(byNode) < want {
		t.Fatalf("tenants on %d primaries, want %d", len(byNode), want)
	}
	var tens []tenants.Tenant
	dbs := map[string]*sql.DB{}
	for _, name := range byNode {
		ten, db := adminSQLiteTenant(t, name)
		tens = append(tens, ten)
		dbs[name] = db
	}
	cfg := testConfigOn(t, topo, tens...)
	a, err := newApp(ctx, cfg, testsupport.Logger())
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	if err := a.seedTenants(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.router())
	defer srv.Close()

	ids := map[string]string{} // tenant -> user id
	for _, name := range byNode {
		c := &scimClient{t: t, base: srv.URL + "/scim/" + name + "/v2", auth: "Bearer " + newKey(t, a, name)}
		status, body := c.do("POST", "/Users", map[string]any{"userName": "lost@" + name + ".example.com"})
		if status != 201 {
			t.Fatalf("create in %s: %d %v", name, status, body)
		}
		ids[name] = body["id"].(string)
	}

	insp := asynq.NewInspector(a.asynqOpt)
	defer insp.Close()
	lost := 0
	queues, err := insp.Queues()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range queues {
		n, err := insp.DeleteAllPendingTasks(q)
		if err != nil {
			t.Fatalf("delete the tasks of %s: %v", q, err)
		}
		lost += n
	}
	if lost != len(ids) {
		t.Fatalf("deleted %d queued tasks, want %d (one per user)", lost, len(ids))
	}
	for name, id := range ids {
		if r, err := a.ledger.GetUser(ctx, name, id); err != nil || r.State() != syncsvc.StatePending {
			t.Fatalf("%s/%s after its job was lost: %v, want pending", name, id, err)
		}
	}

	sw := &syncsvc.Sweeper{Ledger: a.ledger, Enqueuer: a.enqueuer, Tenants: a.registry, Logger: testsupport.Logger(),
		Interval: time.Minute, Grace: time.Millisecond}
	time.Sleep(2 * time.Millisecond) // dirty for longer than the grace
	n, err := sw.SweepOnce(ctx)
	if err != nil || n != len(ids) {
		t.Fatalf("sweep: %d re-enqueued (%v), want %d", n, err, len(ids))
	}
	for name, id := range ids {
		q := queue.QueueName(queue.QueueProvision, name, cfg.Redis.QueueShards)
		tasks, err := insp.ListPendingTasks(q)
		if err != nil {
			t.Fatalf("pending tasks of %s: %v", q, err)
		}
		if !slices.ContainsFunc(tasks, func(ti *asynq.TaskInfo) bool {
			var p queue.Reconcile
			return json.Unmarshal(ti.Payload, &p) == nil && p.Tenant == name && p.ID == id
		}) {
			t.Fatalf("the sweeper did not queue %s/%s on %s", name, id, q)
		}
	}

	done := make(chan struct{})
	go func() { _ = a.runWorker(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for name, id := range ids {
		waitApplied(t, a, name, id)
		var rows int
		if err := dbs[name].QueryRow(`SELECT count(*) FROM users WHERE username = ?`, "lost@"+name+".example.com").Scan(&rows); err != nil || rows != 1 {
			t.Fatalf("%s: %d store rows (%v), want 1", name, rows, err)
		}
	}
}

// keyWatchers is how many subscriptions the primaries count on the key
// announcements' channel.
func keyWatchers(rdb redis.UniversalClient) int {
	var mu gosync.Mutex
	total := 0
	count := func(ctx context.Context, c redis.UniversalClient) error {
		m, err := c.PubSubNumSub(ctx, "sb:keys:changed").Result()
		mu.Lock()
		total += int(m["sb:keys:changed"])
		mu.Unlock()
		return err
	}
	if err := forEachPrimary(context.Background(), rdb, count); err != nil {
		return -1
	}
	return total
}

// testKeyRevocationAcrossProcesses: two API processes on the topology,
// each caching verified keys for an hour and watching the announcements.
// A key both have verified (and cached) is revoked on one; the other
// answers 401 as soon as the announcement arrives. With failover, it is
// done again after it, the other way round.
func testKeyRevocationAcrossProcesses(t *testing.T, topo testsupport.RedisTopology, failover func(*testing.T)) {
	const tenant = "rev-topo"
	ctx := context.Background()
	ten, _ := adminSQLiteTenant(t, tenant)
	procs := make([]*testServer, 2)
	for i := range procs {
		cfg := testConfigOn(t, topo, ten)
		cfg.API.KeyCacheTTL = time.Hour // only the announcement drops a cached key
		procs[i] = startTestServer(t, cfg, serverOptions{caches: true})
	}
	rdb := topo.Client(t)
	get := func(p *testServer, key string) int {
		c := &scimClient{t: t, base: p.url + "/scim/" + tenant + "/v2", auth: "Bearer " + key}
		status, _ := c.do("GET", "/Users?count=1", nil)
		return status
	}
	revoke := func(round string, revoker, other *testServer) {
		t.Helper()
		// Both processes' key and OAuth client watchers are subscribed: a
		// (re)subscription drops the whole cache, which would hide an
		// announcement that never arrived.
		testsupport.WaitFor(t, round+": every watcher subscribed", 30*time.Second, func() bool {
			return keyWatchers(rdb) >= 2*len(procs)
		})
		plain, _, err := revoker.app.keys.Create(ctx, tenant, round)
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range procs {
			if status := get(p, plain); status != 200 {
				t.Fatalf("%s: process %d answers %d with a live key", round, i, status)
			}
		}
		if err := revoker.app.keys.Revoke(ctx, tenant, round); err != nil {
			t.Fatal(err)
		}
		if status := get(revoker, plain); status != 401 {
			t.Fatalf("%s: the revoking process answers %d with the revoked key", round, status)
		}
		revoked := time.Now()
		testsupport.WaitFor(t, round+": the other process refuses the revoked key", 30*time.Second, func() bool {
			return get(other, plain) == 401
		})
		t.Logf("%s: the other process refused the revoked key %v after the revocation", round, time.Since(revoked).Round(time.Microsecond))
	}
	revoke("before", procs[1], procs[0])
	if failover != nil {
		failover(t)
		revoke("after-failover", procs[0], procs[1])
	}
}
