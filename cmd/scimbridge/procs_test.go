package main

// Helpers for the fault tests: the real scimbridge binary run as separate
// api and worker processes, a private redis-server and a private
// PostgreSQL cluster that the tests may kill and restart without
// disturbing the shared servers other packages' tests use.

import (
	"github.com/scimbridge/scimbridge/internal/testsupport"

	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// sendSCIM makes one SCIM request to a tenant's base URL with an API key
// (body, when not nil, as JSON) and decodes the answer; status 0 means the
// request itself failed.
func sendSCIM(base, key, method, path string, body any) (int, map[string]any, http.Header) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, base+path, rd)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, nil
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, resp.Header
}

// redisServer is a private redis-server process.
type redisServer struct {
	t    *testing.T
	dir  string
	port int
	aof  bool
	cmd  *exec.Cmd
}

func (r *redisServer) addr() string { return fmt.Sprintf("127.0.0.1:%d", r.port) }

// startRedisServer starts redis-server on a free port with its data in a
// temp dir; with aof, every write is fsynced to the append-only file.
func startRedisServer(t *testing.T, aof bool) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		testsupport.Require(t, "redis-server binary", err)
	}
	r := &redisServer{t: t, dir: t.TempDir(), port: testsupport.FreePort(t), aof: aof}
	r.start()
	t.Cleanup(func() { r.kill() })
	return r
}

func (r *redisServer) start() {
	r.t.Helper()
	aof := "no"
	if r.aof {
		aof = "yes"
	}
	r.cmd = exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", aof, "--appendfsync", "always", "--dir", r.dir,
		"--maxmemory-policy", "noeviction", "--logfile", filepath.Join(r.dir, "redis.log"))
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: r.addr()})
	defer c.Close()
	testsupport.WaitFor(r.t, "redis-server", 10*time.Second, func() bool { return c.Ping(context.Background()).Err() == nil })
}

// kill stops the server the hard way (kill -9): what the AOF has is what survives.
func (r *redisServer) kill() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

// startRole runs `scimbridge <name> --config cfg` with extra environment;
// it is killed at cleanup.
func startRole(t *testing.T, name, cfg string, env ...string) *testsupport.Process {
	t.Helper()
	cmd := exec.Command(testsupport.ScimbridgeBinary(t), name, "--config", cfg)
	cmd.Env = append(os.Environ(), env...)
	return testsupport.StartProcess(t, name, cmd, testsupport.Kill)
}

// faultConfig writes a configuration for the fault tests: one PostgreSQL
// tenant, a private Redis, fast sweeper and short leases.
func faultConfig(t *testing.T, redisAddr string, apiPort int, tenant, dsn, table string) string {
	t.Helper()
	return faultConfigOn(t, "  addr: "+redisAddr, apiPort, tenant, dsn, table)
}

// redisYAML is the redis block of a configuration for a topology.
func redisYAML(topo testsupport.RedisTopology) string {
	switch topo.Mode {
	case testsupport.TopologyCluster:
		return "  mode: cluster\n  cluster:\n    addrs: [" + strings.Join(topo.ClusterAddrs, ", ") + "]"
	case testsupport.TopologySentinel:
		return "  mode: sentinel\n  sentinel:\n    master: " + topo.Master + "\n    addrs: [" + strings.Join(topo.SentinelAddrs, ", ") + "]"
	}
	return "  addr: " + topo.Addr
}

// faultConfigOn is faultConfig with the redis block given (redisYAML).
func faultConfigOn(t *testing.T, redisBlock string, apiPort int, tenant, dsn, table string) string {
	t.Helper()
	dir := t.TempDir()
	key := filepath.Join(dir, "secret.key")
	if err := os.WriteFile(key, []byte(strings.Repeat("cd", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`listen: 127.0.0.1:%d
public_url: http://127.0.0.1:%d
redis:
%s
secrets:
  key_file: %s
worker:
  listen: "off"
  concurrency: 16
  store_timeout: 5s
  lease_ttl: 8s
sweeper:
  interval: 1s
  grace: 3s
log:
  level: warn
tenants:
  - id: %s
    name: Fault test
    store:
      kind: postgres
      dsn: %q
      users:
        table: %s
        key: id
        attributes:
          userName: login
          name.givenName: first_name
          name.familyName: last_name
        active:
          column: enabled
        on_delete: deactivate
`, apiPort, apiPort, redisBlock, key, tenant, dsn, table)
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// createKey runs `scimbridge key create --json` and returns the key.
func createKey(t *testing.T, cfg, tenant string) string {
	t.Helper()
	out, err := exec.Command(testsupport.ScimbridgeBinary(t), "key", "create", "--config", cfg, "--tenant", tenant, "--name", "fault", "--json").Output()
	if err != nil {
		t.Fatalf("key create: %v", err)
	}
	var k struct {
		APIKey string `json:"api_key"`
	}
	if err := json.Unmarshal(out, &k); err != nil || k.APIKey == "" {
		t.Fatalf("key create output %q: %v", out, err)
	}
	return k.APIKey
}

// waitHealthy waits for the API's /healthz.
func waitHealthy(t *testing.T, base string) {
	t.Helper()
	testsupport.WaitFor(t, "api /healthz", 20*time.Second, func() bool {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

// accountsTable creates a fresh accounts table in a schema of its own.
func accountsTable(t *testing.T, db *sql.DB) string {
	t.Helper()
	schema := fmt.Sprintf("fault_%d", time.Now().UnixNano())
	for _, s := range []string{
		`CREATE SCHEMA ` + schema,
		`CREATE TABLE ` + schema + `.accounts (id bigserial PRIMARY KEY, login text NOT NULL,
			first_name text, last_name text, enabled boolean NOT NULL DEFAULT true,
			plan text NOT NULL DEFAULT 'free')`,
	} {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _, _ = db.Exec(`DROP SCHEMA ` + schema + ` CASCADE`) })
	return schema + ".accounts"
}
