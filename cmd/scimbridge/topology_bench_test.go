package main

// Measurements on topologies the benchmark starts itself (numbers in
// BENCHMARKS.md):
//
//	go test -run '^$' -bench 'BenchmarkClusterSpread' -benchtime 1x ./cmd/scimbridge
//	go test -run '^$' -bench 'BenchmarkMinReplicas' -benchtime 1x ./cmd/scimbridge

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scimbridge/scimbridge/internal/testsupport"
	"github.com/scimbridge/scimbridge/queue"
	"github.com/scimbridge/scimbridge/tenants"
)

// pushUsers creates n users spread round-robin over the tenants' base
// URLs with conc clients; it returns the creates answered 201 and the
// latency of each.
func pushUsers(b *testing.B, bases, auths []string, n, conc int) (created int64, lat []time.Duration) {
	var next atomic.Int64
	var mu gosync.Mutex
	var wg gosync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc}}
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					break
				}
				t := i % len(bases)
				body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"push%06d@example.com","name":{"givenName":"P","familyName":"U"},"active":true}`, i)
				req, _ := http.NewRequest("POST", bases[t]+"/Users", strings.NewReader(body))
				req.Header.Set("Authorization", auths[t])
				req.Header.Set("Content-Type", "application/scim+json")
				start := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				resp.Body.Close()
				mine = append(mine, time.Since(start))
				if resp.StatusCode == 201 {
					atomic.AddInt64(&created, 1)
				} else {
					b.Errorf("create %d: %d", i, resp.StatusCode)
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return created, lat
}

func percentile(lat []time.Duration, p float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), lat...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(float64(len(s)-1)*p)]
}

// commandsProcessed is a server's total_commands_processed.
func commandsProcessed(b *testing.B, c *redis.Client) int {
	info, err := c.Info(context.Background(), "stats").Result()
	if err != nil {
		b.Fatal(err)
	}
	return infoInt(info, "total_commands_processed")
}

// BenchmarkClusterSpread pushes 10,000 users over 100 tenants (SQLite
// stores) into a three-primary cluster, waits until every user is applied,
// and reports each primary's keys, commands and asynq queues: the ledger
// (by the tenants' hash tags) and the queues (redis.queue_shards) both
// spread over every primary.
func BenchmarkClusterSpread(b *testing.B) {
	const tenantCount, users, conc = 100, 10000, 32
	cluster := testsupport.StartRedisCluster(b, 3)
	topo := cluster.Topology()
	var ts []tenants.Tenant
	for i := range tenantCount {
		ten, _ := adminSQLiteTenant(b, fmt.Sprintf("spread%03d", i))
		ts = append(ts, ten)
	}
	cfg := testConfigOn(b, topo, ts...)
	cfg.API.RateLimit.PerTenantRPS = -1
	srv := startTestServer(b, cfg, serverOptions{})
	var bases, auths []string
	for _, ten := range ts {
		bases = append(bases, srv.url+"/scim/"+ten.ID+"/v2")
		auths = append(auths, "Bearer "+newKey(b, srv.app, ten.ID))
	}
	nodes := make([]*redis.Client, len(cluster.Primaries))
	before := make([]int, len(nodes))
	for i, p := range cluster.Primaries {
		nodes[i] = p.Client()
		before[i] = commandsProcessed(b, nodes[i])
	}
	b.ResetTimer()
	start := time.Now()
	created, lat := pushUsers(b, bases, auths, users, conc)
	took := time.Since(start)
	testsupport.WaitFor(b, "every user applied", 5*time.Minute, func() bool {
		for _, ten := range ts {
			n, _, err := srv.app.ledger.OldestDirty(context.Background(), ten.ID)
			if err != nil || n > 0 {
				return false
			}
		}
		return true
	})
	b.StopTimer()
	b.ReportMetric(float64(created)/took.Seconds(), "creates/s")
	b.Logf("%d creates over %d tenants at %d clients in %s (%.0f/s), p50 %s p99 %s", created, tenantCount, conc,
		took.Round(time.Millisecond), float64(created)/took.Seconds(), percentile(lat, 0.5), percentile(lat, 0.99))
	var totalKeys, totalOps int
	keys := make([]int, len(nodes))
	ops := make([]int, len(nodes))
	queues := make([]int, len(nodes))
	for i, c := range nodes {
		n, err := c.DBSize(context.Background()).Result()
		if err != nil {
			b.Fatal(err)
		}
		keys[i] = int(n)
		ops[i] = commandsProcessed(b, c) - before[i]
		totalKeys += keys[i]
		totalOps += ops[i]
	}
	// Which primary serves each queue the worker consumes (a queue's keys
	// share its {name} hash tag).
	cc := topo.Client(b).(*redis.ClusterClient)
	for q := range queue.Queues(cfg.Redis.QueueShards) {
		owner, err := cc.MasterForKey(context.Background(), "asynq:{"+q+"}:pending")
		if err != nil {
			b.Fatal(err)
		}
		for i, p := range cluster.Primaries {
			if owner.Options().Addr == p.Addr {
				queues[i]++
			}
		}
	}
	for i := range nodes {
		b.Logf("primary %d (%s): %d keys (%.0f%%), %d commands (%.0f%%), %d of the %d asynq queues", i+1, cluster.Primaries[i].Addr,
			keys[i], 100*float64(keys[i])/float64(totalKeys), ops[i], 100*float64(ops[i])/float64(totalOps), queues[i], len(queue.Queues(cfg.Redis.QueueShards)))
	}
}

// BenchmarkMinReplicas measures creates with redis.min_replicas 0 and 1
// against the same primary and replica: throughput and latency, and their
// ratio (the cost of an acknowledgement that survives a failover).
func BenchmarkMinReplicas(b *testing.B) {
	const users, conc = 3000, 16
	primary := testsupport.StartRedisServer(b)
	_ = testsupport.StartRedisServer(b, "--replicaof", "127.0.0.1", fmt.Sprint(primary.Port))
	pc := primary.Client()
	testsupport.WaitFor(b, "replica online", 20*time.Second, func() bool {
		info, err := pc.Info(context.Background(), "replication").Result()
		return err == nil && strings.Contains(info, "state=online")
	})
	// Four runs, 0 1 1 0, so an order effect (a warming machine, a
	// neighbour's load) weighs on both settings alike; each setting's
	// numbers are the mean of its two runs.
	rates := map[int]float64{}
	p50 := map[int]time.Duration{}
	for run, min := range []int{0, 1, 1, 0} {
		id := fmt.Sprintf("repl%d", run)
		ten, _ := adminSQLiteTenant(b, id)
		cfg := testConfigOn(b, testsupport.RedisTopology{Mode: testsupport.TopologyStandalone, Addr: primary.Addr}, ten)
		cfg.Redis.MinReplicas = min
		cfg.API.RateLimit.PerTenantRPS = -1
		srv := startTestServer(b, cfg, serverOptions{})
		auth := "Bearer " + newKey(b, srv.app, id)
		start := time.Now()
		created, lat := pushUsers(b, []string{srv.url + "/scim/" + id + "/v2"}, []string{auth}, users, conc)
		took := time.Since(start)
		rate, median := float64(created)/took.Seconds(), percentile(lat, 0.5)
		rates[min] += rate / 2
		p50[min] += median / 2
		b.Logf("run %d, min_replicas %d: %d creates at %d clients: %.0f/s, p50 %s, p99 %s", run+1, min, created, conc, rate, median, percentile(lat, 0.99))
		srv.stop()
	}
	b.ReportMetric(rates[1]/rates[0], "throughput_ratio_1_to_0")
	b.ReportMetric(float64(p50[1])/float64(p50[0]), "p50_ratio_1_to_0")
	b.Logf("min_replicas 0: %.0f/s, p50 %s; 1: %.0f/s, p50 %s; 1 / 0: throughput %.2f×, p50 latency %.2f×",
		rates[0], p50[0], rates[1], p50[1], rates[1]/rates[0], float64(p50[1])/float64(p50[0]))
}
