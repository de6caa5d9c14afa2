package testsupport

// Redis topologies started by a test: standalone servers, a three-primary
// Redis Cluster, a primary with a replica behind a Sentinel. Each server
// is a redis-server process (Debian's redis-server package; redis-cli from
// redis-tools) on a free loopback port, in a directory of the test's own,
// stopped at cleanup. A missing binary is handled by Require.

import (
	"context"
	"fmt"
	"net"
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

// The Redis topologies (the values of scimbridge's redis.mode).
const (
	TopologyStandalone = "standalone"
	TopologySentinel   = "sentinel"
	TopologyCluster    = "cluster"
)

// RedisTopology says where a test's Redis is, in each mode's terms.
type RedisTopology struct {
	Mode string
	// Addr and DB: standalone.
	Addr string
	DB   int
	// Master and SentinelAddrs: sentinel; SentinelPassword: the
	// sentinels' requirepass ("" none).
	Master           string
	SentinelAddrs    []string
	SentinelPassword string
	// ClusterAddrs: cluster seeds.
	ClusterAddrs []string
	// MinReplicas is how many replicas a write must reach before it is
	// acknowledged (scimbridge's redis.min_replicas; 0: none).
	MinReplicas int
}

// StandaloneTopology is the test Redis's database db, flushed (RedisDB).
func StandaloneTopology(tb testing.TB, db int) RedisTopology {
	tb.Helper()
	return RedisTopology{Mode: TopologyStandalone, Addr: RedisDB(tb, db), DB: db}
}

// Client returns a go-redis client of the topology, closed at cleanup.
func (t RedisTopology) Client(tb testing.TB) redis.UniversalClient {
	tb.Helper()
	var c redis.UniversalClient
	switch t.Mode {
	case TopologySentinel:
		c = redis.NewFailoverClient(&redis.FailoverOptions{MasterName: t.Master, SentinelAddrs: t.SentinelAddrs,
			SentinelPassword: t.SentinelPassword, DB: t.DB})
	case TopologyCluster:
		c = redis.NewClusterClient(&redis.ClusterOptions{Addrs: t.ClusterAddrs})
	default:
		c = redis.NewClient(&redis.Options{Addr: t.Addr, DB: t.DB})
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// Flush empties the topology's database on every primary.
func (t RedisTopology) Flush(tb testing.TB) {
	tb.Helper()
	c := t.Client(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var err error
	if cc, ok := c.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return n.FlushDB(ctx).Err() })
	} else {
		err = c.FlushDB(ctx).Err()
	}
	if err != nil {
		tb.Fatalf("flush %s redis: %v", t.Mode, err)
	}
}

// RedisServer is one redis-server process of a test.
type RedisServer struct {
	Port int
	Addr string
	Dir  string
	args []string
	proc *Process
	tb   testing.TB
}

// redisBinaries finds redis-server and redis-cli (Require when missing).
func redisBinaries(tb testing.TB) (server, cli string) {
	tb.Helper()
	server, err := exec.LookPath("redis-server")
	if err == nil {
		cli, err = exec.LookPath("redis-cli")
	}
	Require(tb, "redis-server and redis-cli (Debian packages redis-server, redis-tools)", err)
	return server, cli
}

// StartRedisServer starts a redis-server on a free loopback port with no
// persistence, plus args (more redis-server options, "--name value").
func StartRedisServer(tb testing.TB, args ...string) *RedisServer {
	tb.Helper()
	bin, _ := redisBinaries(tb)
	dir, err := os.MkdirTemp("", "scimbridge-redis-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(dir) })
	s := &RedisServer{Port: FreePort(tb), Dir: dir, tb: tb}
	s.Addr = "127.0.0.1:" + strconv.Itoa(s.Port)
	s.args = append([]string{"--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--protected-mode", "no"}, args...)
	s.start(bin)
	return s
}

func (s *RedisServer) start(bin string) {
	s.tb.Helper()
	s.proc = StartProcess(s.tb, "redis-server "+s.Addr, exec.Command(bin, s.args...), Kill)
	c := redis.NewClient(&redis.Options{Addr: s.Addr, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	WaitFor(s.tb, "redis-server "+s.Addr, 10*time.Second, func() bool {
		return c.Ping(context.Background()).Err() == nil
	})
}

// Kill SIGKILLs the server (as a crash would) and waits for it to exit.
func (s *RedisServer) Kill() {
	s.proc.Signal(syscall.SIGKILL)
	_ = s.proc.Wait(10 * time.Second)
}

// Restart starts the server again with its options on its port (after
// Kill: as a supervisor restarts a crashed process; with no persistence it
// comes back empty).
func (s *RedisServer) Restart() {
	s.tb.Helper()
	bin, _ := redisBinaries(s.tb)
	s.start(bin)
}

// RestartReplicaOf starts the server again (after Kill) as a replica of
// primary: a crashed primary brought back into a Sentinel set after the
// failover (with no persistence it has nothing of its own to offer). Until
// its first sync it refuses reads (replica-serve-stale-data no), as a
// production replica should: a client still dialling the old primary's
// address gets an error and retries, not an empty dataset (which would
// make every API key unknown: 401s). It is never a candidate for
// promotion (replica-priority 0): it comes back empty, and a sentinel that
// saw the new primary miss its pings for a second under load promoted it
// before its first sync (a CI run: every key gone, 401s, 64 acknowledged
// writes lost). A production replica restarts with its own data; one that
// does not must be kept out of elections the same way until it has synced.
func (s *RedisServer) RestartReplicaOf(primary string) {
	s.tb.Helper()
	host, port, _ := net.SplitHostPort(primary)
	s.args = append(s.args, "--replicaof", host, port, "--replica-serve-stale-data", "no", "--replica-priority", "0")
	s.Restart()
}

// Client is a client of this one server, closed at cleanup.
func (s *RedisServer) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	s.tb.Cleanup(func() { _ = c.Close() })
	return c
}

// RedisClusterServers is a Redis Cluster started by a test.
type RedisClusterServers struct {
	Primaries []*RedisServer
}

// StartRedisCluster starts primaries redis-servers with cluster mode on,
// makes them one cluster (redis-cli --cluster create, the slots split
// evenly, no replicas) and waits until every node says the cluster is ok.
func StartRedisCluster(tb testing.TB, primaries int) *RedisClusterServers {
	tb.Helper()
	_, cli := redisBinaries(tb)
	rc := &RedisClusterServers{}
	addrs := make([]string, primaries)
	for i := range primaries {
		s := StartRedisServer(tb, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000")
		rc.Primaries = append(rc.Primaries, s)
		addrs[i] = s.Addr
	}
	out, err := exec.Command(cli, append(append([]string{"--cluster", "create"}, addrs...), "--cluster-yes")...).CombinedOutput()
	if err != nil {
		tb.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, s := range rc.Primaries {
		c := redis.NewClient(&redis.Options{Addr: s.Addr})
		WaitFor(tb, "cluster state ok at "+s.Addr, 20*time.Second, func() bool {
			info, err := c.ClusterInfo(context.Background()).Result()
			return err == nil && strings.Contains(info, "cluster_state:ok")
		})
		_ = c.Close()
	}
	// Every node must also know every other's slots before a client's
	// first CLUSTER SLOTS is trusted.
	for _, s := range rc.Primaries {
		c := redis.NewClient(&redis.Options{Addr: s.Addr})
		WaitFor(tb, "cluster slots known at "+s.Addr, 20*time.Second, func() bool {
			shards, err := c.ClusterShards(context.Background()).Result()
			return err == nil && len(shards) == primaries
		})
		_ = c.Close()
	}
	return rc
}

// Topology is the cluster as a RedisTopology (every primary a seed).
func (rc *RedisClusterServers) Topology() RedisTopology {
	t := RedisTopology{Mode: TopologyCluster}
	for _, s := range rc.Primaries {
		t.ClusterAddrs = append(t.ClusterAddrs, s.Addr)
	}
	return t
}

// RedisSentinelServers is a primary, its replica and one sentinel watching
// them, started by a test.
type RedisSentinelServers struct {
	Master string
	// Password is the sentinel's requirepass ("" none: SentinelPassword).
	Password string
	Primary  *RedisServer
	Replica  *RedisServer
	Sentinel *RedisServer
	// Link carries the replication stream from the primary to the replica
	// (the replica's replicaof points at it): Link.Cut() partitions them.
	Link *DelayProxy
}

// SentinelOption changes how StartRedisSentinel starts its set.
type SentinelOption func(*RedisSentinelServers)

// SentinelPassword makes the sentinel require password (its requirepass;
// the data nodes stay without one).
func SentinelPassword(password string) SentinelOption {
	return func(rs *RedisSentinelServers) { rs.Password = password }
}

// StartRedisSentinel starts a primary, a replica of it (through Link) and
// a sentinel (quorum 1) that declares the primary down after 1 s without
// an answer and then promotes the replica.
func StartRedisSentinel(tb testing.TB, opts ...SentinelOption) *RedisSentinelServers {
	tb.Helper()
	bin, _ := redisBinaries(tb)
	rs := &RedisSentinelServers{Master: "scimbridge-test"}
	for _, o := range opts {
		o(rs)
	}
	rs.Primary = StartRedisServer(tb)
	rs.Link = StartDelayProxy(tb, rs.Primary.Addr)
	_, linkPort, _ := net.SplitHostPort(rs.Link.Addr)
	rs.Replica = StartRedisServer(tb, "--replicaof", "127.0.0.1", linkPort)
	rc := rs.Replica.Client()
	WaitFor(tb, "replica in sync", 20*time.Second, func() bool {
		info, err := rc.Info(context.Background(), "replication").Result()
		return err == nil && strings.Contains(info, "master_link_status:up")
	})
	dir, err := os.MkdirTemp("", "scimbridge-sentinel-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(dir) })
	port := FreePort(tb)
	conf := filepath.Join(dir, "sentinel.conf")
	body := fmt.Sprintf(`port %d
bind 127.0.0.1
protected-mode no
dir %s
sentinel monitor %s 127.0.0.1 %d 1
sentinel down-after-milliseconds %s 1000
sentinel failover-timeout %s 10000
sentinel parallel-syncs %s 1
`, port, dir, rs.Master, rs.Primary.Port, rs.Master, rs.Master, rs.Master)
	if rs.Password != "" {
		body += "requirepass " + rs.Password + "\n"
	}
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		tb.Fatal(err)
	}
	s := &RedisServer{Port: port, Addr: "127.0.0.1:" + strconv.Itoa(port), Dir: dir, tb: tb,
		args: []string{conf, "--sentinel"}}
	s.proc = StartProcess(tb, "redis-sentinel "+s.Addr, exec.Command(bin, s.args...), Kill)
	sc := redis.NewSentinelClient(&redis.Options{Addr: s.Addr, Password: rs.Password, DialTimeout: 200 * time.Millisecond})
	defer sc.Close()
	WaitFor(tb, "sentinel knows the replica", 20*time.Second, func() bool {
		reps, err := sc.Replicas(context.Background(), rs.Master).Result()
		return err == nil && len(reps) == 1
	})
	rs.Sentinel = s
	return rs
}

// Topology is the set as a RedisTopology.
func (rs *RedisSentinelServers) Topology() RedisTopology {
	return RedisTopology{Mode: TopologySentinel, Master: rs.Master, SentinelAddrs: []string{rs.Sentinel.Addr}, SentinelPassword: rs.Password}
}

// WaitFailover waits until the sentinel has finished a failover away from
// old (the primary it names is another, it has no failover in progress,
// and that server says it is a master) and returns the new primary.
func (rs *RedisSentinelServers) WaitFailover(tb testing.TB, old string) string {
	tb.Helper()
	sc := redis.NewSentinelClient(&redis.Options{Addr: rs.Sentinel.Addr, Password: rs.Password})
	defer sc.Close()
	var addr string
	WaitFor(tb, "sentinel failover", 30*time.Second, func() bool {
		ctx := context.Background()
		if addr = rs.MasterAddr(tb); addr == "" || addr == old {
			return false
		}
		m, err := sc.Master(ctx, rs.Master).Result()
		if err != nil || strings.Contains(m["flags"], "failover_in_progress") {
			return false
		}
		c := redis.NewClient(&redis.Options{Addr: addr})
		defer c.Close()
		info, err := c.Info(ctx, "replication").Result()
		return err == nil && strings.Contains(info, "role:master")
	})
	return addr
}

// MasterAddr asks the sentinel which server is the primary now.
func (rs *RedisSentinelServers) MasterAddr(tb testing.TB) string {
	tb.Helper()
	sc := redis.NewSentinelClient(&redis.Options{Addr: rs.Sentinel.Addr, Password: rs.Password})
	defer sc.Close()
	a, err := sc.GetMasterAddrByName(context.Background(), rs.Master).Result()
	if err != nil || len(a) != 2 {
		return ""
	}
	return a[0] + ":" + a[1]
}
