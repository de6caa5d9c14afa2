package main

// The end-to-end suites on Redis topologies the test starts itself: a
// three-primary Redis Cluster (every ledger script's keys in one slot, or
// the cluster answers CROSSSLOT; queue work on every primary) and a
// primary with a replica behind a Sentinel.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/internal/testsupport"
	syncsvc "github.com/scimbridge/scimbridge/sync"
)

// TestE2EOnRedisCluster runs the end-to-end flows (Okta's spec test, an
// Okta user's lifecycle in a table, Okta's lifecycle and Push Groups on
// LDAP and MariaDB, Entra with groups, the admin API: key revocation,
// import, drift, replay; the operator surfaces: the asynq dashboard listing
// the sharded queues, /metrics, the admin commands) against a real
// three-primary cluster.
func TestE2EOnRedisCluster(t *testing.T) {
	cluster := testsupport.StartRedisCluster(t, 3)
	topo := cluster.Topology()
	for _, tc := range []struct {
		name string
		run  func(*testing.T, testsupport.RedisTopology)
	}{
		{"OktaSpec", testOktaSpecAgainstPostgresTenant},
		{"OktaLifecycle", testOktaLifecycleInPostgresTable},
		{"OktaPushGroups", testTwoStoreKindsInOneServer},
		{"EntraGroups", testEntraProvisioningInPostgresTables},
		{"AdminAPI", testAdminAPI},
		{"OperatorSurfaces", testOperatorSurfaces},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topo.Flush(t)
			tc.run(t, topo)
		})
	}
}

// post sends a SCIM POST and returns the status, the Retry-After header
// and the body.
func post(t *testing.T, c *scimClient, path string, body any) (int, string, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequest("POST", c.base+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", c.auth)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, resp.Header.Get("Retry-After"), out
}

// With redis.min_replicas 1, a create is acknowledged only once a replica
// holds it. With the replica gone, the create is answered 503 with an
// integer Retry-After; the IdP's retry of the same create (same userName,
// same content) is answered 201 with the recorded user once a replica is
// back, not 409; a second create of that user after that is a 409 again
// (what Okta's spec test requires), and so is a create with other content.
func TestMinReplicasAcknowledgement(t *testing.T) {
	primary := testsupport.StartRedisServer(t)
	replica := testsupport.StartRedisServer(t, "--replicaof", "127.0.0.1", strconv.Itoa(primary.Port))
	waitReplicas(t, primary, 1)
	ten, db := adminSQLiteTenant(t, "acked")
	cfg := testConfigOn(t, testsupport.RedisTopology{Mode: testsupport.TopologyStandalone, Addr: primary.Addr}, ten)
	cfg.Redis.MinReplicas = 1
	cfg.Redis.ReplicaTimeout = 300 * time.Millisecond
	ts := startTestServer(t, cfg, serverOptions{})
	c := &scimClient{t: t, base: ts.url + "/scim/acked/v2", auth: "Bearer " + newKey(t, ts.app, "acked")}
	user := func(name string) map[string]any {
		return map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": name,
			"name": map[string]any{"givenName": "Ann", "familyName": "Acked"}, "active": true}
	}

	if status, _, body := post(t, c, "/Users", user("first@example.com")); status != 201 {
		t.Fatalf("create with a replica: %d %v", status, body)
	}

	replica.Kill()
	waitReplicas(t, primary, 0)
	status, retryAfter, body := post(t, c, "/Users", user("retried@example.com"))
	if status != 503 {
		t.Fatalf("create without a replica: %d %v, want 503", status, body)
	}
	if n, err := strconv.Atoi(retryAfter); err != nil || n < 1 {
		t.Fatalf("Retry-After %q: want an integer number of seconds", retryAfter)
	}
	// The IdP retries while the replica is still away: 503 again.
	if status, _, body := post(t, c, "/Users", user("retried@example.com")); status != 503 {
		t.Fatalf("retry without a replica: %d %v, want 503", status, body)
	}

	replica.Restart()
	waitReplicas(t, primary, 1)
	status, _, body = post(t, c, "/Users", user("retried@example.com"))
	if status != 201 {
		t.Fatalf("retry with the replica back: %d %v, want 201 with the recorded user", status, body)
	}
	id, _ := body["id"].(string)
	found, err := ts.app.ledger.FindUsers(context.Background(), "acked", "userName", "retried@example.com")
	if err != nil || len(found) != 1 || found[0].ID != id {
		t.Fatalf("ledger holds %+v (%v), want the one user %s", found, err, id)
	}
	// The replica holds it (what the 201 promised).
	if n, err := replica.Client().Exists(context.Background(), "sb:{acked}:u:r:"+id).Result(); err != nil || n != 1 {
		t.Fatalf("replica has the user: %d %v", n, err)
	}
	waitApplied(t, ts.app, "acked", id)
	var rows int
	if err := db.QueryRow(`SELECT count(*) FROM users WHERE username = 'retried@example.com'`).Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("store rows: %d %v, want 1", rows, err)
	}
	// Acknowledged now: another create of the same user is a conflict.
	if status, _, body := post(t, c, "/Users", user("retried@example.com")); status != 409 {
		t.Fatalf("create of an acknowledged user: %d %v, want 409", status, body)
	}

	// A 503'd create, then a create of that userName with other content:
	// a conflict, not the recorded user.
	replica.Kill()
	waitReplicas(t, primary, 0)
	if status, _, _ := post(t, c, "/Users", user("other@example.com")); status != 503 {
		t.Fatalf("create without a replica: %d, want 503", status)
	}
	replica.Restart()
	waitReplicas(t, primary, 1)
	changed := user("other@example.com")
	changed["name"] = map[string]any{"givenName": "Someone", "familyName": "Else"}
	if status, _, body := post(t, c, "/Users", changed); status != 409 {
		t.Fatalf("create with other content: %d %v, want 409", status, body)
	}
}

// Group creates are acknowledged like user creates: with the replica
// gone, a group create is answered 503 with an integer Retry-After; the
// IdP's retry is 503 while the replica is away and 201 with the recorded
// group (same id, one group in the ledger and in the store) once it is
// back, not a 409 on displayName; a retry with other members or other
// attributes is a 409, and leaves the identical retry recognised.
func TestMinReplicasAcknowledgementGroups(t *testing.T) {
	primary := testsupport.StartRedisServer(t)
	replica := testsupport.StartRedisServer(t, "--replicaof", "127.0.0.1", strconv.Itoa(primary.Port))
	waitReplicas(t, primary, 1)
	ten, db := adminSQLiteTenant(t, "ackedg")
	for _, s := range []string{
		`CREATE TABLE groups (id INTEGER PRIMARY KEY AUTOINCREMENT, display_name TEXT NOT NULL, external_id TEXT)`,
		`CREATE TABLE group_members (group_id INTEGER NOT NULL, user_id INTEGER NOT NULL, PRIMARY KEY (group_id, user_id))`,
	} {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	ten.Store.Groups = &adapters.GroupMapping{Table: "groups", Key: "id",
		Attributes: map[string]string{"displayName": "display_name", "externalId": "external_id"},
		Members:    &adapters.MembersMapping{Table: "group_members", GroupColumn: "group_id", UserColumn: "user_id"}}
	cfg := testConfigOn(t, testsupport.RedisTopology{Mode: testsupport.TopologyStandalone, Addr: primary.Addr}, ten)
	cfg.Redis.MinReplicas = 1
	cfg.Redis.ReplicaTimeout = 300 * time.Millisecond
	ts := startTestServer(t, cfg, serverOptions{})
	c := &scimClient{t: t, base: ts.url + "/scim/ackedg/v2", auth: "Bearer " + newKey(t, ts.app, "ackedg")}
	var members []string
	for _, name := range []string{"ann@example.com", "bob@example.com"} {
		status, _, body := post(t, c, "/Users", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
			"userName": name, "name": map[string]any{"givenName": "G", "familyName": "Member"}, "active": true})
		if status != 201 {
			t.Fatalf("create member %s: %d %v", name, status, body)
		}
		members = append(members, body["id"].(string))
	}
	group := func(name, ext string, ids ...string) map[string]any {
		var m []map[string]any
		for _, id := range ids {
			m = append(m, map[string]any{"value": id})
		}
		return map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
			"displayName": name, "externalId": ext, "members": m}
	}

	replica.Kill()
	waitReplicas(t, primary, 0)
	status, retryAfter, body := post(t, c, "/Groups", group("Engineering", "okta-eng", members[0]))
	if status != 503 {
		t.Fatalf("group create without a replica: %d %v, want 503", status, body)
	}
	if n, err := strconv.Atoi(retryAfter); err != nil || n < 1 {
		t.Fatalf("Retry-After %q: want an integer number of seconds", retryAfter)
	}
	if status, _, body := post(t, c, "/Groups", group("Engineering", "okta-eng", members[0])); status != 503 {
		t.Fatalf("retry without a replica: %d %v, want 503", status, body)
	}

	replica.Restart()
	waitReplicas(t, primary, 1)
	status, _, body = post(t, c, "/Groups", group("Engineering", "okta-eng", members[0]))
	if status != 201 {
		t.Fatalf("retry with the replica back: %d %v, want 201 with the recorded group", status, body)
	}
	id, _ := body["id"].(string)
	if n, err := ts.app.ledger.CountGroups(context.Background(), "ackedg"); err != nil || n != 1 {
		t.Fatalf("ledger holds %d groups (%v), want 1", n, err)
	}
	if n, err := replica.Client().Exists(context.Background(), "sb:{ackedg}:g:r:"+id).Result(); err != nil || n != 1 {
		t.Fatalf("replica has the group: %d %v", n, err)
	}
	testsupport.WaitFor(t, "group "+id+" applied", 30*time.Second, func() bool {
		r, err := ts.app.ledger.GetGroup(context.Background(), "ackedg", id)
		return err == nil && r.State() == syncsvc.StateApplied
	})
	var rows, memberRows int
	if err := db.QueryRow(`SELECT count(*) FROM groups WHERE display_name = 'Engineering'`).Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("store groups: %d %v, want 1", rows, err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM group_members`).Scan(&memberRows); err != nil || memberRows != 1 {
		t.Fatalf("store memberships: %d %v, want 1", memberRows, err)
	}
	if status, _, body := post(t, c, "/Groups", group("Engineering", "okta-eng", members[0])); status != 409 {
		t.Fatalf("create of an acknowledged group: %d %v, want 409", status, body)
	}

	// A 503'd group create, then creates of that displayName with other
	// members or another externalId: conflicts. The identical retry after
	// them is still the recorded group.
	replica.Kill()
	waitReplicas(t, primary, 0)
	if status, _, _ := post(t, c, "/Groups", group("Sales", "okta-sales", members[0])); status != 503 {
		t.Fatalf("group create without a replica: %d, want 503", status)
	}
	replica.Restart()
	waitReplicas(t, primary, 1)
	if status, _, body := post(t, c, "/Groups", group("Sales", "okta-sales", members...)); status != 409 {
		t.Fatalf("create with other members: %d %v, want 409", status, body)
	}
	if status, _, body := post(t, c, "/Groups", group("Sales", "okta-other", members[0])); status != 409 {
		t.Fatalf("create with another externalId: %d %v, want 409", status, body)
	}
	if status, _, body := post(t, c, "/Groups", group("Sales", "okta-sales", members[0])); status != 201 {
		t.Fatalf("identical retry after the conflicts: %d %v, want 201", status, body)
	}
	if n, err := ts.app.ledger.CountGroups(context.Background(), "ackedg"); err != nil || n != 2 {
		t.Fatalf("ledger holds %d groups (%v), want 2", n, err)
	}
}

// waitReplicas waits until the primary counts n replicas online.
func waitReplicas(t *testing.T, primary *testsupport.RedisServer, n int) {
	t.Helper()
	c := primary.Client()
	testsupport.WaitFor(t, fmt.Sprintf("%d replica(s) of %s", n, primary.Addr), 20*time.Second, func() bool {
		info, err := c.Info(context.Background(), "replication").Result()
		return err == nil && infoInt(info, "connected_slaves") == n &&
			(n == 0 || strings.Contains(info, "state=online"))
	})
}

// TestE2EOnRedisSentinel runs Okta's spec test, the admin API (key
// revocation, import, drift, replay) and the operator surfaces (dashboard,
// /metrics, admin commands) through a Sentinel set: the client
// finds the primary through the sentinel, with min_replicas 1 every write
// waits for the replica.
func TestE2EOnRedisSentinel(t *testing.T) {
	rs := testsupport.StartRedisSentinel(t)
	topo := rs.Topology()
	topo.MinReplicas = 1
	for _, tc := range []struct {
		name string
		run  func(*testing.T, testsupport.RedisTopology)
	}{
		{"OktaSpec", testOktaSpecAgainstPostgresTenant},
		{"AdminAPI", testAdminAPI},
		{"OperatorSurfaces", testOperatorSurfaces},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topo.Flush(t)
			tc.run(t, topo)
		})
	}
}

// The sentinels' own password (redis.sentinel.password_file or
// password_env): through a sentinel started with requirepass, the service
// starts and serves with the password from a file (its trailing newline
// dropped) or a variable, and refuses to start without it or with a wrong
// one (naming neither password); setting both the variable and the file is
// a configuration error.
func TestSentinelPassword(t *testing.T) {
	const password = "sentinel-s3cret"
	rs := testsupport.StartRedisSentinel(t, testsupport.SentinelPassword(password))
	ten, _ := adminSQLiteTenant(t, "sentpw")
	plain := rs.Topology()
	plain.SentinelPassword = "" // the config carries it as a file or a variable, set below
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	refused := func(what string, cfg *Config, secrets ...string) {
		t.Helper()
		a, err := newApp(context.Background(), cfg, testsupport.Logger())
		if err == nil {
			a.close()
			t.Fatalf("%s: the service started, want refused by the sentinel", what)
		}
		for _, s := range secrets {
			if strings.Contains(err.Error(), s) {
				t.Fatalf("%s: the error names a password: %v", what, err)
			}
		}
	}

	refused("no password", testConfigOn(t, plain, ten))
	wrong := testConfigOn(t, plain, ten)
	wrong.Redis.Sentinel.PasswordFile = file("wrong", "not-"+password+"\n")
	refused("a wrong password", wrong, password)

	t.Setenv("SCIMBRIDGE_TEST_SENTINEL_PASSWORD", password)
	both := testConfigOn(t, plain, ten)
	both.Redis.Sentinel.PasswordFile = file("both", password+"\n")
	both.Redis.Sentinel.PasswordEnv = "SCIMBRIDGE_TEST_SENTINEL_PASSWORD"
	if errs := both.validate(); !strings.Contains(fmt.Sprint(errs), "not both") {
		t.Fatalf("password_env and password_file both set: %v, want refused", errs)
	}

	fromEnv := testConfigOn(t, plain, ten)
	fromEnv.Redis.Sentinel.PasswordEnv = "SCIMBRIDGE_TEST_SENTINEL_PASSWORD"
	a, err := newApp(context.Background(), fromEnv, testsupport.Logger())
	if err != nil {
		t.Fatalf("password from the variable: %v", err)
	}
	a.close()

	cfg := testConfigOn(t, plain, ten)
	cfg.Redis.Sentinel.PasswordFile = file("right", password+"\n")
	if errs := cfg.validate(); len(errs) > 0 {
		t.Fatal(errs)
	}
	ts := startTestServer(t, cfg, serverOptions{})
	c := &scimClient{t: t, base: ts.url + "/scim/sentpw/v2", auth: "Bearer " + newKey(t, ts.app, "sentpw")}
	status, _, body := post(t, c, "/Users", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": "through@example.com", "active": true})
	if status != 201 {
		t.Fatalf("create through the password-protected sentinel: %d %v", status, body)
	}
	// On the primary the sentinel names (a client given the password).
	found, err := syncsvc.NewLedger(rs.Topology().Client(t), nil).FindUsers(context.Background(), "sentpw", "userName", "through@example.com")
	if err != nil || len(found) != 1 || found[0].ID != body["id"] {
		t.Fatalf("stored: %+v %v, want the created user", found, err)
	}
}
