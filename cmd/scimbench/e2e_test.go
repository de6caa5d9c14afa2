package main

// A short run against a real scimbridge: the binary built into a temp
// directory, serving on a free loopback port, on the test Redis (db 12,
// tenant ids of this test only) with a SQLite store.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scimbridge/scimbridge/internal/testsupport"
)

// testRedisDB is the Redis database of these tests (flushed by
// testsupport.RedisDB at the start of each).
const testRedisDB = testsupport.DBScimbench

// startServer starts `scimbridge serve` (built once, testsupport) on a free
// port and the test Redis's testRedisDB, and returns its URL; it is
// stopped (SIGTERM) at cleanup.
func startServer(t *testing.T, redisAddr string) string {
	t.Helper()
	bin := testsupport.ScimbridgeBinary(t)
	port := testsupport.FreePort(t)
	cfg := fmt.Sprintf("listen: \"127.0.0.1:%d\"\nredis:\n  addr: %q\n  db: %d\nlog:\n  level: warn\nsweeper:\n  interval: 1s\n  grace: 2s\n",
		port, redisAddr, testRedisDB)
	cfgPath := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	testsupport.StartProcess(t, "scimbridge serve", exec.Command(bin, "serve", "--config", cfgPath), testsupport.Terminate)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	testsupport.WaitFor(t, "scimbridge serve", 20*time.Second, func() bool {
		res, err := http.Get(url + "/scim/none/v2/ServiceProviderConfig")
		if err == nil {
			res.Body.Close()
		}
		return err == nil
	})
	return url
}

func TestShortRunAgainstRealServer(t *testing.T) {
	redisAddr := testsupport.RedisDB(t, testRedisDB)
	rdb := testsupport.Redis(t, func(o *redis.Options) { o.DB = testRedisDB })

	url := startServer(t, redisAddr)
	dir := t.TempDir()
	dsn := filepath.Join(dir, "store.db") + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)"
	targets := filepath.Join(dir, "targets.json")
	prefix := fmt.Sprintf("sbtest%d", time.Now().UnixNano()%1e9)
	t.Cleanup(func() {
		_ = deleteTenants(context.Background(), rdb, []string{prefix + "-0"})
	})
	common := []string{"--redis", redisAddr, "--redis-db", fmt.Sprint(testRedisDB), "--store-dsn", dsn}

	var out bytes.Buffer
	err := run(append([]string{"setup", "--public-url", url, "--tenant-prefix", prefix, "--schema", "sb",
		"--users", "20", "--via", "api", "--group-members", "5", "--concurrency", "4", "--wait", "30s", "--json", "--out", targets}, common...), &out, discard{})
	if err != nil {
		t.Fatalf("setup: %v", err)
	}
	var sr setupReport
	if err := json.Unmarshal(out.Bytes(), &sr); err != nil || sr.UsersPerTenant != 20 || sr.GroupID == "" {
		t.Fatalf("setup report %s: %v", out.String(), err)
	}

	runJSON := func(t *testing.T, args ...string) runReport {
		t.Helper()
		var out, errOut bytes.Buffer
		args = append(append([]string{"run", "--targets", targets, "--json", "--concurrency", "4",
			"--store-table", "sb_users", "--pool", "20", "--converge-timeout", "30s", "--store-concurrency", "2"}, common...), args...)
		if err := run(args, &out, &errOut); err != nil {
			t.Fatalf("run %v: %v\n%s", args, err, errOut.String())
		}
		var rep runReport
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatalf("run output %s: %v", out.String(), err)
		}
		return rep
	}

	t.Run("create converges in the store", func(t *testing.T) {
		rep := runJSON(t, "--scenario", "create", "--requests", "40")
		if rep.Ops != 40 || len(rep.ByOp) != 1 || rep.ByOp[0].Statuses["201"] != 40 || len(rep.Errors) != 0 {
			t.Fatalf("ops %d, by op %+v, errors %v", rep.Ops, rep.ByOp, rep.Errors)
		}
		c := rep.Converge
		if c == nil || c.Writes != 40 || c.StoreWrites != 40 || c.StorePending != 0 || c.LedgerPending != 0 {
			t.Fatalf("convergence %+v", c)
		}
		if rep.Ceiling == nil || rep.Ceiling.InsertPerSec <= 0 || rep.Ratio == nil || rep.Ratio.AppliesVsCeiling <= 0 {
			t.Fatalf("ceiling %+v ratio %+v", rep.Ceiling, rep.Ratio)
		}
		if rep.ByOp[0].P50Ms <= 0 || rep.ByOp[0].P99Ms < rep.ByOp[0].P50Ms || rep.ByOp[0].MaxMs < rep.ByOp[0].P99Ms {
			t.Fatalf("latencies %+v", rep.ByOp[0])
		}
	})
	t.Run("filter finds existing users", func(t *testing.T) {
		rep := runJSON(t, "--scenario", "filter", "--requests", "50")
		if rep.Ops != 50 || rep.ByOp[0].Statuses["200"] != 50 {
			t.Fatalf("%+v", rep.ByOp)
		}
	})
	t.Run("put and deactivate converge", func(t *testing.T) {
		for _, s := range []string{"put", "deactivate"} {
			rep := runJSON(t, "--scenario", s, "--requests", "30")
			if rep.Ops != 30 || len(rep.Errors) != 0 || rep.Converge == nil || rep.Converge.LedgerPending != 0 || rep.Converge.StorePending != 0 {
				t.Fatalf("%s: ops %d errors %v convergence %+v", s, rep.Ops, rep.Errors, rep.Converge)
			}
		}
		if rep := runJSON(t, "--scenario", "put", "--requests", "10"); rep.Requests != 20 {
			t.Fatalf("a put is a GET and a PUT: %d requests for 10 ops", rep.Requests)
		}
	})
	t.Run("group-add and mix are acknowledged", func(t *testing.T) {
		for _, s := range []string{"group-add", "mix"} {
			rep := runJSON(t, "--scenario", s, "--requests", "20", "--converge-timeout", "1s")
			if rep.Ops != 20 {
				t.Fatalf("%s: %d ops", s, rep.Ops)
			}
			for code := range rep.Errors {
				if !strings.HasPrefix(code, "2") {
					t.Fatalf("%s: errors %v", s, rep.Errors)
				}
			}
		}
	})
}
