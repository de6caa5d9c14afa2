package main

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/testsupport"
	"github.com/scimbridge/scimbridge/queue"
	"github.com/scimbridge/scimbridge/tenants"
)

// testOperatorSurfaces: what an operator looks at and runs works on the
// topology. Users are created in tenants whose provisioning work lands on
// different queues (shards, on a cluster); then the asynq dashboard
// (/monitoring, behind the operator token) lists those queues with their
// work processed, /metrics answers with the scimbridge series (the queues
// per shard, the dirty sets, the HTTP requests, no scrape error), and the
// admin commands (`scimbridge tenant list`, `status`, `drift`,
// `key create` with the new key then used) run against it from a
// configuration file.
func testOperatorSurfaces(t *testing.T, topo testsupport.RedisTopology) {
	const token = "op-token-for-topology-tests-0123"
	// Tenants whose provisioning queues differ (three, or as many as the
	// shards allow), the first ones found in a fixed list of names.
	shards := testConfigOn(t, topo).Redis.QueueShards
	byQueue := map[string]string{}
	for i := 0; i < 200 && len(byQueue) < min(3, max(shards, 1)); i++ {
		name := "ops-" + string(rune('a'+i%26)) + strings.Repeat("x", i/26)
		if q := queue.QueueName(queue.QueueProvision, name, shards); byQueue[q] == "" {
			byQueue[q] = name
		}
	}
	if want := min(3, max(shards, 1)); len(byQueue) < want {
		t.Fatalf("found tenants for %d queues, want %d", len(byQueue), want)
	}
	t.Logf("tenants by provisioning queue (%d shards): %v", shards, byQueue)
	var tens []tenants.Tenant
	for _, name := range byQueue {
		ten, _ := adminSQLiteTenant(t, name)
		tens = append(tens, ten)
	}
	cfg := testConfigOn(t, topo, tens...)
	ts := startTestServer(t, cfg, serverOptions{full: true, opsToken: token})
	for _, name := range byQueue {
		c := &scimClient{t: t, base: ts.url + "/scim/" + name + "/v2", auth: "Bearer " + newKey(t, ts.app, name)}
		status, body := c.do("POST", "/Users", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
			"userName": "ann@" + name + ".example.com", "name": map[string]any{"givenName": "Ann", "familyName": "Ops"}, "active": true})
		if status != 201 {
			t.Fatalf("create in %s: %d %v", name, status, body)
		}
		waitApplied(t, ts.app, name, body["id"].(string))
	}

	// The dashboard: every queue the work went to, each with its task
	// processed (counted by asynq in the queue's own slot).
	var queues struct {
		Queues []struct {
			Queue     string `json:"queue"`
			Processed int    `json:"processed"`
		} `json:"queues"`
	}
	testsupport.WaitFor(t, "the dashboard lists the queues with their work processed", 30*time.Second, func() bool {
		status, _, body := get(t, ts.url+"/monitoring/api/queues", "Bearer "+token)
		if status != 200 {
			t.Fatalf("GET /monitoring/api/queues: %d %s", status, body)
		}
		if err := json.Unmarshal([]byte(body), &queues); err != nil {
			t.Fatalf("queues answer: %v: %s", err, body)
		}
		processed := map[string]int{}
		for _, q := range queues.Queues {
			processed[q.Queue] = q.Processed
		}
		for q := range byQueue {
			if processed[q] < 1 {
				return false
			}
		}
		return true
	})
	if status, _, body := get(t, ts.url+"/monitoring/api/redis_info", "Bearer "+token); status != 200 {
		t.Errorf("GET /monitoring/api/redis_info: %d %s", status, body)
	}
	if status, _, _ := get(t, ts.url+"/monitoring/api/queues", ""); status != 401 {
		t.Errorf("dashboard without the token: %d, want 401", status)
	}

	// /metrics: the queue series of every shard (zero or not), the tenants'
	// dirty sets, the requests, and no failed reading.
	lines := scrape(t, ts.url, "Bearer "+token)
	for q := range queue.Queues(shards) {
		if _, ok := series(lines, "scimbridge_queue_tasks", `queue="`+q+`"`, `state="pending"`); !ok {
			t.Errorf("no scimbridge_queue_tasks series for queue %s", q)
		}
	}
	for _, name := range byQueue {
		if v, ok := series(lines, "scimbridge_dirty_resources", `tenant="`+name+`"`, `kind="User"`); !ok || v != "0" {
			t.Errorf("scimbridge_dirty_resources of %s: %q %v, want 0", name, v, ok)
		}
	}
	for _, s := range []string{"scimbridge_queue_scrape_error", "scimbridge_dirty_scrape_error"} {
		if v, ok := series(lines, s); !ok || v != "0" {
			t.Errorf("%s: %q %v, want 0", s, v, ok)
		}
	}
	if _, ok := series(lines, "scimbridge_http_requests_total"); !ok {
		t.Error("no scimbridge_http_requests_total series")
	}

	// The admin commands, from a configuration file naming the topology.
	cfgPath := writeTopologyConfig(t, cfg)
	cli := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := run(append(args, "--config", cfgPath), &out, &errOut); err != nil {
			t.Fatalf("scimbridge %v: %v\n%s", args, err, errOut.String())
		}
		return out.String()
	}
	for _, name := range byQueue {
		if out := cli("tenant", "list"); !strings.Contains(out, name) {
			t.Errorf("tenant list does not show %s:\n%s", name, out)
		}
		if out := cli("status", "--tenant", name); !strings.Contains(out, "users:  1 (0 pending, 0 failed)") {
			t.Errorf("status --tenant %s:\n%s", name, out)
		}
		if out := cli("drift", "--tenant", name); !strings.Contains(out, "0 differing, 0 missing") {
			t.Errorf("drift --tenant %s:\n%s", name, out)
		}
		var key struct {
			APIKey string `json:"api_key"`
		}
		if err := json.Unmarshal([]byte(cli("key", "create", "--tenant", name, "--name", "ops", "--json")), &key); err != nil || key.APIKey == "" {
			t.Fatalf("key create --json: %+v %v", key, err)
		}
		c := &scimClient{t: t, base: ts.url + "/scim/" + name + "/v2", auth: "Bearer " + key.APIKey}
		if status, body := c.do("GET", "/Users?filter="+url.QueryEscape(`userName eq "ann@`+name+`.example.com"`), nil); status != 200 || body["totalResults"] != float64(1) {
			t.Errorf("GET with the key the CLI created: %d %v", status, body)
		}
	}
}

// writeTopologyConfig writes the configuration file an operator's
// commands read: cfg's Redis topology, secrets key and tenants, with
// https://scim.example.com as the public URL.
func writeTopologyConfig(t *testing.T, cfg *Config) string {
	t.Helper()
	type file struct {
		PublicURL string         `yaml:"public_url"`
		Redis     map[string]any `yaml:"redis"`
		Secrets   map[string]any `yaml:"secrets"`
		Log       any            `yaml:"log"`
		Tenants   any            `yaml:"tenants"`
	}
	r := map[string]any{"mode": cfg.Redis.Mode, "addr": cfg.Redis.Addr, "db": cfg.Redis.DB,
		"sentinel": map[string]any{"master": cfg.Redis.Sentinel.Master, "addrs": cfg.Redis.Sentinel.Addrs},
		"cluster":  map[string]any{"addrs": cfg.Redis.Cluster.Addrs}}
	// The service's secrets key (sealed passwords, webhook secrets, setup
	// links), as an operator's commands share it with the processes.
	return writeConfigFile(t, file{PublicURL: "https://scim.example.com", Redis: r,
		Secrets: map[string]any{"key_file": cfg.Secrets.KeyFile},
		Log:     map[string]string{"level": "warn"}, Tenants: cfg.Tenants})
}
