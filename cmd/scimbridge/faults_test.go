package main

// Fault tests: the promises of design.md under killed workers, SIGTERM,
// a Redis crash, a lost enqueue and an unreachable Redis, with the real
// binary as separate api and worker processes. Each converges and then
// compares every row of the customer's table with the ledger and with
// what the client was told.

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scimbridge/scimbridge/internal/testsupport"
	syncsvc "github.com/scimbridge/scimbridge/sync"
)

// faultRig is a running deployment for one fault test.
type faultRig struct {
	t      *testing.T
	redis  *redisServer // standalone (nil on another topology)
	topo   testsupport.RedisTopology
	cfg    string
	base   string
	key    string
	tenant string
	db     *sql.DB
	table  string
	api    *testsupport.Process
}

func newFaultRig(t *testing.T, aof bool, apiEnv ...string) *faultRig {
	t.Helper()
	return newFaultRigOn(t, nil, aof, apiEnv...)
}

// newFaultRigOn is newFaultRig on a topology (nil: a standalone
// redis-server of the rig's own, append-only with aof).
func newFaultRigOn(t *testing.T, topo *testsupport.RedisTopology, aof bool, apiEnv ...string) *faultRig {
	t.Helper()
	if testing.Short() {
		t.Skip("fault tests run the real binary for a while; skipped with -short")
	}
	dsn, _, db := e2ePostgres(t)
	r := &faultRig{t: t, db: db, tenant: "faults"}
	if topo == nil {
		r.redis = startRedisServer(t, aof)
		r.topo = testsupport.RedisTopology{Mode: testsupport.TopologyStandalone, Addr: r.redis.addr()}
	} else {
		r.topo = *topo
	}
	r.table = accountsTable(t, db)
	port := testsupport.FreePort(t)
	r.cfg = faultConfigOn(t, redisYAML(r.topo), port, r.tenant, dsn, r.table)
	r.base = fmt.Sprintf("http://127.0.0.1:%d/scim/%s/v2", port, r.tenant)
	r.api = startRole(t, "api", r.cfg, apiEnv...)
	waitHealthy(t, fmt.Sprintf("http://127.0.0.1:%d", port))
	r.key = createKey(t, r.cfg, r.tenant)
	return r
}

// redisClient is a client of the rig's Redis: its topology, or its own
// redis-server when the rig was built without one.
func (r *faultRig) redisClient() redis.UniversalClient {
	if r.topo.Mode == "" {
		return testsupport.RedisTopology{Mode: testsupport.TopologyStandalone, Addr: r.redis.addr()}.Client(r.t)
	}
	return r.topo.Client(r.t)
}

// send makes one SCIM request; status 0 means the request itself failed.
func (r *faultRig) send(method, path string, body any) (int, map[string]any, http.Header) {
	return sendSCIM(r.base, r.key, method, path, body)
}

// expected is what the client was told: the last acknowledged state.
type expected struct {
	mu    gosync.Mutex
	users map[string]expectedUser // by SCIM id
}

type expectedUser struct {
	login, first string
	active       bool
}

func (e *expected) set(id string, u expectedUser) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.users[id] = u
}

// runLoad creates n users, then renames every one and deactivates every
// third, with conc concurrent clients. Only acknowledged writes (2xx) are
// recorded; onAck runs after each acknowledgement.
func (r *faultRig) runLoad(n, conc int, exp *expected, onAck func(total int64)) {
	var acks atomic.Int64
	ids := make([]string, n)
	work := func(f func(i int)) {
		var wg gosync.WaitGroup
		next := atomic.Int64{}
		for range conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1) - 1)
					if i >= n {
						return
					}
					f(i)
				}
			}()
		}
		wg.Wait()
	}
	ack := func() {
		if onAck != nil {
			onAck(acks.Add(1))
		}
	}
	work(func(i int) {
		login := fmt.Sprintf("user%05d@faults.example", i)
		for attempt := 0; attempt < 50; attempt++ {
			status, body, _ := r.send("POST", "/Users", map[string]any{
				"userName": login, "name": map[string]any{"givenName": "G0", "familyName": "F"}, "active": true})
			if status == 201 {
				ids[i] = body["id"].(string)
				exp.set(ids[i], expectedUser{login: login, first: "G0", active: true})
				ack()
				return
			}
			if status == 409 { // an earlier attempt was acknowledged but its answer lost
				_, list, _ := r.send("GET", "/Users?filter="+urlq(`userName eq "`+login+`"`), nil)
				if res, _ := list["Resources"].([]any); len(res) == 1 {
					ids[i] = res[0].(map[string]any)["id"].(string)
					exp.set(ids[i], expectedUser{login: login, first: "G0", active: true})
					return
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	work(func(i int) {
		if ids[i] == "" {
			return
		}
		active := i%3 != 0
		ops := []any{map[string]any{"op": "replace", "path": "name.givenName", "value": "G1"}}
		if !active {
			ops = append(ops, map[string]any{"op": "replace", "value": map[string]any{"active": false}})
		}
		for attempt := 0; attempt < 50; attempt++ {
			status, _, _ := r.send("PATCH", "/Users/"+ids[i], map[string]any{
				"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": ops})
			if status == 200 {
				exp.set(ids[i], expectedUser{login: fmt.Sprintf("user%05d@faults.example", i), first: "G1", active: active})
				ack()
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

// converge waits until the ledger has nothing dirty for the tenant.
func (r *faultRig) converge(d time.Duration) {
	r.t.Helper()
	l := syncsvc.NewLedger(r.redisClient(), nil)
	testsupport.WaitFor(r.t, "convergence", d, func() bool {
		n, _, err := l.OldestDirty(context.Background(), r.tenant)
		return err == nil && n == 0
	})
}

// verify checks the table against what the client was told and the ledger.
func (r *faultRig) verify(exp *expected) {
	r.t.Helper()
	rows, err := r.db.Query(`SELECT id, login, COALESCE(first_name,''), enabled FROM ` + r.table)
	if err != nil {
		r.t.Fatal(err)
	}
	defer rows.Close()
	byLogin := map[string]expectedUser{}
	anchors := map[string]string{}
	for rows.Next() {
		var id int64
		var u expectedUser
		if err := rows.Scan(&id, &u.login, &u.first, &u.active); err != nil {
			r.t.Fatal(err)
		}
		if _, dup := byLogin[u.login]; dup {
			r.t.Errorf("duplicate row for %s", u.login)
		}
		byLogin[u.login] = u
		anchors[u.login] = strconv.FormatInt(id, 10)
	}
	l := syncsvc.NewLedger(r.redisClient(), nil)
	exp.mu.Lock()
	defer exp.mu.Unlock()
	if len(byLogin) != len(exp.users) {
		r.t.Errorf("table has %d rows, the client was acknowledged %d users", len(byLogin), len(exp.users))
	}
	bad := 0
	for id, want := range exp.users {
		got, ok := byLogin[want.login]
		rec, err := l.GetUser(context.Background(), r.tenant, id)
		switch {
		case !ok:
			r.t.Errorf("acknowledged user %s has no row", want.login)
		case got != want:
			r.t.Errorf("row %+v, last acknowledged %+v", got, want)
		case err != nil || rec.State() != syncsvc.StateApplied || rec.Anchor != anchors[want.login]:
			r.t.Errorf("ledger for %s: %+v %v", want.login, rec, err)
		default:
			continue
		}
		if bad++; bad > 10 {
			r.t.Fatal("too many differences")
		}
	}
}

func TestFaultWorkerKilledMidFlight(t *testing.T) {
	rig := newFaultRig(t, false)
	w1 := startRole(t, "worker", rig.cfg)
	exp := &expected{users: map[string]expectedUser{}}
	var once gosync.Once
	// 5,000 writes: 2,500 creates and 2,500 updates (a third of them
	// deactivations); the worker dies by SIGKILL a third of the way
	// through, applies in flight.
	rig.runLoad(2500, 16, exp, func(total int64) {
		if total == 1700 {
			once.Do(func() { w1.Signal(syscall.SIGKILL) })
		}
	})
	if err := w1.Wait(10 * time.Second); err == nil {
		t.Fatal("the first worker was not killed")
	}
	startRole(t, "worker", rig.cfg)
	rig.converge(3 * time.Minute)
	rig.verify(exp)
}

// TestFaultWorkerKilledOnRedisCluster: the same on a three-primary Redis
// Cluster, whose queues are spread over the primaries (redis.queue_shards).
func TestFaultWorkerKilledOnRedisCluster(t *testing.T) {
	cluster := testsupport.StartRedisCluster(t, 3)
	topo := cluster.Topology()
	rig := newFaultRigOn(t, &topo, false)
	w1 := startRole(t, "worker", rig.cfg)
	exp := &expected{users: map[string]expectedUser{}}
	var once gosync.Once
	rig.runLoad(800, 16, exp, func(total int64) {
		if total == 500 {
			once.Do(func() { w1.Signal(syscall.SIGKILL) })
		}
	})
	if err := w1.Wait(10 * time.Second); err == nil {
		t.Fatal("the first worker was not killed")
	}
	startRole(t, "worker", rig.cfg)
	rig.converge(2 * time.Minute)
	rig.verify(exp)
}

func TestFaultWorkerSIGTERMUnderLoad(t *testing.T) {
	rig := newFaultRig(t, false)
	w1 := startRole(t, "worker", rig.cfg)
	exp := &expected{users: map[string]expectedUser{}}
	var once gosync.Once
	rig.runLoad(1000, 16, exp, func(total int64) {
		if total == 600 {
			once.Do(func() { w1.Signal(syscall.SIGTERM) })
		}
	})
	// A graceful stop: in-flight applies finish or go back to the queue,
	// and the process exits cleanly.
	if err := w1.Wait(40 * time.Second); err != nil {
		t.Fatalf("worker after SIGTERM: %v", err)
	}
	startRole(t, "worker", rig.cfg)
	rig.converge(2 * time.Minute)
	rig.verify(exp)
}

func TestFaultRedisCrashKeepsAcknowledgedWrites(t *testing.T) {
	rig := newFaultRig(t, true)
	startRole(t, "worker", rig.cfg)
	exp := &expected{users: map[string]expectedUser{}}
	var once gosync.Once
	done := make(chan struct{})
	// Redis dies by SIGKILL mid-load and comes back a second later from its
	// append-only file. Requests during the outage fail (and are retried by
	// the client, as Okta does); none that was acknowledged may be lost.
	rig.runLoad(1000, 16, exp, func(total int64) {
		if total == 700 {
			once.Do(func() {
				go func() {
					rig.redis.kill()
					time.Sleep(time.Second)
					rig.redis.start()
					close(done)
				}()
			})
		}
	})
	<-done
	rig.converge(2 * time.Minute)
	rig.verify(exp)
}

func TestFaultLostEnqueueConvergesBySweeper(t *testing.T) {
	// The API process drops every enqueue (the crash between the ledger
	// write and the enqueue, injected): only the sweeper can converge it.
	rig := newFaultRig(t, false, "SCIMBRIDGE_FAULT_DROP_ENQUEUE=1")
	startRole(t, "worker", rig.cfg)
	exp := &expected{users: map[string]expectedUser{}}
	rig.runLoad(200, 8, exp, nil)
	rig.converge(time.Minute)
	rig.verify(exp)
}

func TestFaultRedisDownAtTheFrontDoor(t *testing.T) {
	rig := newFaultRig(t, true)
	rig.redis.kill()
	status, body, h := rig.send("POST", "/Users", map[string]any{"userName": "during-outage@faults.example"})
	if status != 503 {
		t.Fatalf("POST with Redis down: %d %v", status, body)
	}
	if s := h.Get("Retry-After"); s == "" {
		t.Fatal("503 without Retry-After")
	} else if n, err := strconv.Atoi(s); err != nil || n <= 0 {
		t.Fatalf("Retry-After %q is not an integer number of seconds", s)
	}
	if body["status"] != "503" || body["detail"] == "" {
		t.Fatalf("503 body: %v", body)
	}
	rig.redis.start()
	// Nothing was half-written: the user does not exist.
	testsupport.WaitFor(t, "api back", 10*time.Second, func() bool {
		s, _, _ := rig.send("GET", "/Users?count=1", nil)
		return s == 200
	})
	_, list, _ := rig.send("GET", "/Users?filter="+urlq(`userName eq "during-outage@faults.example"`), nil)
	if list["totalResults"].(float64) != 0 {
		t.Fatalf("a refused write left something behind: %v", list)
	}
}

func TestRedisDurabilityCheck(t *testing.T) {
	for _, aof := range []bool{false, true} {
		r := startRedisServer(t, aof)
		cfg := testConfig(t, r.addr())
		cfg.Redis.DB = 0
		cfg.Redis.RequireDurable = true
		a, err := newApp(context.Background(), cfg, newLogger("error", "text"))
		if aof {
			if err != nil {
				t.Fatalf("durable Redis refused: %v", err)
			}
			a.close()
		} else if err == nil || !strings.Contains(err.Error(), "appendonly") {
			a.close()
			t.Fatalf("Redis without appendonly accepted with require_durable: %v", err)
		}
	}
}
