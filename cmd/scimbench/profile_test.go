package main

// In-process benchmarks of the server's two paths, for pprof:
//
//	go test -run '^$' -bench FrontDoor -cpuprofile api.prof ./cmd/scimbench
//	go test -run '^$' -bench WorkerApply -cpuprofile worker.prof ./cmd/scimbench
//
// They wire the real api, sync, queue, tenants and sqlstore packages the way
// `scimbridge serve` does (without package main's extras) against the test
// Redis (db 12) and PostgreSQL (a schema of their own), so the profile shows
// the server's hot paths next to the load generator's.

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/adapters/sqlstore"
	"github.com/scimbridge/scimbridge/api"
	"github.com/scimbridge/scimbridge/internal/testsupport"
	"github.com/scimbridge/scimbridge/queue"
	syncsvc "github.com/scimbridge/scimbridge/sync"
	"github.com/scimbridge/scimbridge/tenants"
)

type benchTenants struct{ reg *tenants.Registry }

func (b benchTenants) Enabled(ctx context.Context, id string) (bool, error) {
	t, err := b.reg.Get(ctx, id)
	if err != nil {
		return false, nil
	}
	return !t.Disabled, nil
}

func (b benchTenants) GroupsMapped(ctx context.Context, id string) (bool, error) {
	t, err := b.reg.Get(ctx, id)
	if err != nil {
		return false, nil
	}
	return t.Store.Groups != nil, nil
}

func (b benchTenants) TenantIDs(ctx context.Context) ([]string, error) {
	list, err := b.reg.List(ctx)
	ids := make([]string, len(list))
	for i, t := range list {
		ids[i] = t.ID
	}
	return ids, err
}

// benchServer is the wired server of one benchmark.
type benchServer struct {
	rdb     *redis.Client
	asynq   asynq.RedisClientOpt
	service *syncsvc.Service
	ledger  *syncsvc.Ledger
	reg     *tenants.Registry
	stores  *tenants.Stores
	url     string
	target  Target
	db      *sql.DB
	schema  string
}

func newBenchServer(b *testing.B) *benchServer {
	b.Helper()
	rdb := testsupport.Redis(b, func(o *redis.Options) { o.DB = testRedisDB; o.PoolSize = 64 })
	addr := rdb.Options().Addr
	dsn := testsupport.PostgresDSN()
	db := testsupport.Postgres(b)
	ctx := context.Background()
	id := fmt.Sprintf("prof%d", time.Now().UnixNano()%1e9)
	if err := createStoreTables(ctx, db, "postgres", id); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _, _ = db.Exec("DROP SCHEMA " + id + " CASCADE") })
	s := &benchServer{rdb: rdb, asynq: asynq.RedisClientOpt{Addr: addr, DB: testRedisDB}, db: db, schema: id}
	s.reg = tenants.NewRegistry(rdb)
	keys := tenants.NewKeyStore(rdb)
	keys.EnableCache(time.Second) // api.key_cache_ttl's default
	if err := s.reg.Put(ctx, benchTenant(id, "postgres", dsn, id)); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = deleteTenants(context.Background(), rdb, []string{id}) })
	plain, _, err := keys.Create(ctx, id, "bench")
	if err != nil {
		b.Fatal(err)
	}
	s.stores = tenants.NewStores(s.reg, map[string]adapters.Factory{"postgres": sqlstore.Open}, 10*time.Minute)
	b.Cleanup(func() { s.stores.Close() })
	enq := queue.NewEnqueuer(asynq.NewClient(s.asynq), 20, 2*time.Minute)
	b.Cleanup(func() { enq.Close() })
	s.ledger = syncsvc.NewLedger(rdb, nil)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	s.service = &syncsvc.Service{Ledger: s.ledger, Enqueuer: enq, Stores: s.stores, Groups: benchTenants{s.reg}, Logger: logger,
		Coalesce:       true, // worker.coalesce's default
		ImportInterval: 30 * time.Second, StoreTimeout: 10 * time.Second}
	h := api.New(api.Config{Logger: logger}, api.Deps{Users: s.service, Tenants: s.reg, Keys: keys})
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close)
	s.url = srv.URL
	s.target = Target{Tenant: id, BaseURL: srv.URL + "/scim/" + id + "/v2", APIKey: plain}
	return s
}

// startWorker runs the reconciler until the benchmark ends.
func (s *benchServer) startWorker(b *testing.B, concurrency int) {
	b.Helper()
	cfg := queue.ServerConfig(concurrency, 1)
	cfg.LogLevel = asynq.FatalLevel
	srv := asynq.NewServer(s.asynq, cfg)
	mux := asynq.NewServeMux()
	rec := &syncsvc.Reconciler{Ledger: s.ledger, Stores: s.stores, Tenants: benchTenants{s.reg},
		Groups: benchTenants{s.reg}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		LeaseTTL: 2 * time.Minute, StoreTimeout: time.Minute}
	rec.Register(mux)
	if err := srv.Start(mux); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Shutdown)
}

func BenchmarkFrontDoorCreate(b *testing.B) {
	s := newBenchServer(b)
	c := &scimClient{http: newHTTPClient(64, false), target: s.target}
	var n atomic.Int64
	b.SetParallelism(32) // 64 clients on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			un := fmt.Sprintf("p%d@bench.example", i)
			r := c.do(context.Background(), "POST", "/Users", oktaUser(un, "P", "Q", fmt.Sprintf("00u%017d", i), "m"))
			if r.status != 201 {
				b.Errorf("create: %d %s", r.status, r.body)
				return
			}
		}
	})
}

func BenchmarkFrontDoorFilter(b *testing.B) {
	s := newBenchServer(b)
	c := &scimClient{http: newHTTPClient(64, false), target: s.target}
	users, err := createUsers(context.Background(), c, 500, "f", 16)
	if err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			u := users[int(n.Add(1))%len(users)]
			r := c.do(context.Background(), "GET", filterPath(u.userName), nil)
			if r.status != 200 || !bytes.Contains(r.body, []byte(u.id)) {
				b.Errorf("filter: %d", r.status)
				return
			}
		}
	})
}

// BenchmarkWorkerApply: b.N creates acknowledged first, then the time for
// the worker (concurrency 20) to apply them all to PostgreSQL.
func BenchmarkWorkerApply(b *testing.B) {
	s := newBenchServer(b)
	c := &scimClient{http: newHTTPClient(64, false), target: s.target}
	if _, err := createUsers(context.Background(), c, b.N, "w", 32); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	s.startWorker(b, 20)
	if err := waitClean(context.Background(), s.rdb, []Target{s.target}, 10*time.Minute); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	var rows int
	_ = s.db.QueryRow("SELECT count(*) FROM " + s.schema + ".users").Scan(&rows)
	if rows != b.N {
		b.Fatalf("%d rows in the store, want %d", rows, b.N)
	}
}

var _ = http.MethodGet
