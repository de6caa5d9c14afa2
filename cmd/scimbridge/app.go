package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	gosync "sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/adapters/ldapstore"
	"github.com/scimbridge/scimbridge/adapters/sqlstore"
	"github.com/scimbridge/scimbridge/api"
	"github.com/scimbridge/scimbridge/queue"
	syncsvc "github.com/scimbridge/scimbridge/sync"
	"github.com/scimbridge/scimbridge/tenants"
)

// storeFactories is the one place that imports store implementations:
// each store kind's factory, dialling only where policy permits.
func storeFactories(policy *adapters.HostPolicy) map[string]adapters.Factory {
	sql := sqlstore.NewFactory(policy) // one pool per database, shared by the SQL kinds
	return map[string]adapters.Factory{
		adapters.KindPostgres: sql,
		adapters.KindSQLite:   sql,
		adapters.KindMySQL:    sql,
		adapters.KindLDAP:     ldapstore.NewFactory(policy),
	}
}

// app holds the wired services of one process.
type app struct {
	cfg      *Config
	log      *slog.Logger
	rdb      redis.UniversalClient
	asynqOpt asynq.RedisConnOpt
	registry *tenants.Registry
	keys     *tenants.KeyStore
	// oauth are the tenants' OAuth clients; tokens issues and verifies
	// their access tokens (nil without secrets.key_file: no token endpoint).
	oauth    *tenants.OAuthClients
	tokens   *tenants.AccessTokens
	stores   *tenants.Stores
	ledger   *syncsvc.Ledger
	enqueuer *queue.Enqueuer
	// wake tells idle workers, here and in other processes, that tasks
	// were queued (queue/wake.go).
	wake    *queue.Wake
	service *syncsvc.Service
	// webhooks are the tenants' endpoints and the deliveries of events.
	webhooks *syncsvc.Webhooks
	metrics  *appMetrics // telemetry.go
	// opsToken, when set, is the operator token guarding /metrics and
	// /monitoring (see operatorToken).
	opsToken string
	ops      operatorAuth // telemetry.go
	setup    setupState   // setup_cmd.go
	closers  []func()
}

// processID names this process in wake announcements (queue.Wake): random,
// so a process can tell its own.
func processID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newApp connects to Redis and builds the services. It does not start
// anything.
func newApp(ctx context.Context, cfg *Config, log *slog.Logger) (*app, error) {
	policy, err := adapters.ParseHostPolicy(cfg.Stores.AllowedNetworks)
	if err != nil {
		return nil, err
	}
	rdb, asynqOpt, label, err := redisConnection(cfg.Redis)
	if err != nil {
		return nil, err
	}
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pingCtx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	var sealer *syncsvc.Sealer
	oauth := tenants.NewOAuthClients(rdb)
	var tokens *tenants.AccessTokens
	if cfg.Secrets.KeyFile != "" {
		key, err := readSecretKey(cfg.Secrets.KeyFile)
		if err != nil {
			rdb.Close()
			return nil, err
		}
		if sealer, err = syncsvc.NewSealer(key); err != nil {
			rdb.Close()
			return nil, err
		}
		// The tokens' key is derived, never stored: every API process with
		// the same key file verifies every other's tokens.
		tokenKey, err := tenants.DeriveTokenKey(key)
		if err == nil {
			tokens, err = tenants.NewAccessTokens(oauth, tokenKey, cfg.OAuth.TokenTTL)
		}
		if err != nil {
			rdb.Close()
			return nil, err
		}
	} else {
		log.Warn("secrets.key_file is not set: passwords sent by IdPs are ignored (Sync Password needs a key), and there is no OAuth token endpoint")
	}
	a := &app{
		cfg: cfg, log: log, rdb: rdb,
		asynqOpt: asynqOpt,
		registry: tenants.NewRegistry(rdb),
		keys:     tenants.NewKeyStore(rdb),
		oauth:    oauth,
		tokens:   tokens,
		ledger:   syncsvc.NewLedger(rdb, sealer),
	}
	a.ledger.RequireReplicas(cfg.Redis.MinReplicas, cfg.Redis.ReplicaTimeout)
	if cfg.Events.Enabled != nil && *cfg.Events.Enabled {
		a.ledger.SetEventRetention(cfg.Events.Retention)
		a.ledger.SetPublicURL(cfg.PublicURL) // events' meta.location, as the API shows it
	}
	a.stores = tenants.NewStores(a.registry, storeFactories(policy), cfg.Stores.IdleClose)
	a.wake = queue.NewWake(rdb, processID(), log)
	wakeCtx, stopWake := context.WithCancel(context.Background())
	wakeDone := make(chan struct{})
	go func() { a.wake.Publish(wakeCtx); close(wakeDone) }()
	// The last announcement goes out before the Redis client closes.
	a.closers = append(a.closers, func() { stopWake(); <-wakeDone })
	a.enqueuer = queue.NewEnqueuer(asynq.NewClient(a.asynqOpt), cfg.Worker.MaxRetry, cfg.Worker.TaskTimeout).
		WithShards(cfg.Redis.QueueShards).WithWake(a.wake)
	a.webhooks = &syncsvc.Webhooks{Ledger: a.ledger, Sealer: sealer, Enqueuer: a.enqueuer, Policy: policy,
		Timeout: cfg.Webhooks.Timeout, DisableAfter: cfg.Webhooks.DisableAfter, TenantConcurrency: cfg.Webhooks.TenantConcurrency,
		Logger: log}
	a.service = &syncsvc.Service{Ledger: a.ledger, Enqueuer: a.enqueuer, Stores: a.stores,
		Groups: a.registry, Unique: a.registry, Logger: log, Coalesce: cfg.Worker.Coalesce != nil && *cfg.Worker.Coalesce,
		StoreTimeout: cfg.API.StoreLookupTimeout, ImportInterval: cfg.API.ImportInterval}
	if err := a.service.Check(); err != nil {
		rdb.Close()
		return nil, err
	}
	injectFaults(a) // nothing, unless built with -tags faultinject (faults_on.go)
	a.metrics = newAppMetrics(a)
	a.service.Metrics = a.metrics.sync
	a.webhooks.Metrics = a.metrics.webhooks
	if err := checkRedisSafety(ctx, rdb, log, cfg.Redis.RequireDurable, cfg.Redis.MinReplicas); err != nil {
		rdb.Close()
		return nil, err
	}
	return a, nil
}

// checkRedisSafety warns, or with require refuses, when Redis may lose
// acknowledged state; on a cluster, every primary is asked.
func checkRedisSafety(ctx context.Context, rdb redis.UniversalClient, log *slog.Logger, require bool, minReplicas int) error {
	var (
		mu       gosync.Mutex
		problems []string
	)
	_ = forEachPrimary(ctx, rdb, func(ctx context.Context, c redis.UniversalClient) error {
		var found []string
		if vals, err := c.ConfigGet(ctx, "appendonly").Result(); err == nil && vals["appendonly"] != "yes" {
			found = append(found, "appendonly is off: a Redis restart loses acknowledged provisioning state (use appendonly yes)")
		}
		if vals, err := c.ConfigGet(ctx, "maxmemory-policy").Result(); err == nil &&
			vals["maxmemory-policy"] != "" && vals["maxmemory-policy"] != "noeviction" {
			found = append(found, "maxmemory-policy "+vals["maxmemory-policy"]+" evicts keys: acknowledged state can vanish (use noeviction)")
		}
		if want := minReplicas; want > 0 {
			if info, err := c.Info(ctx, "replication").Result(); err == nil {
				if n := infoInt(info, "connected_slaves"); n < want {
					found = append(found, fmt.Sprintf("redis.min_replicas is %d but a primary has %d replica(s) connected: every SCIM write will be answered 503 until enough replicas are", want, n))
				}
			}
		}
		mu.Lock()
		defer mu.Unlock()
		for _, p := range found {
			if !slices.Contains(problems, p) {
				problems = append(problems, p)
			}
		}
		return nil
	})
	for _, p := range problems {
		log.Warn("UNSAFE REDIS: " + p)
	}
	if require && len(problems) > 0 {
		return fmt.Errorf("redis is not durable (redis.require_durable is set): %s", strings.Join(problems, "; "))
	}
	return nil
}

// infoInt reads one "name:value" integer line of an INFO reply (0 when absent).
func infoInt(info, name string) int {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// seedTenants writes the configured tenants into the registry.
func (a *app) seedTenants(ctx context.Context) error {
	for _, t := range a.cfg.Tenants {
		if err := a.registry.Put(ctx, t); err != nil {
			return fmt.Errorf("tenant %s: %w", t.ID, err)
		}
	}
	return a.seedWebhooks(ctx)
}

// seedWebhooks makes the configuration's webhook endpoints, and applies
// an entry that changed since it was last applied (EnsureEndpoint: an
// unchanged entry leaves the endpoint as scimbridge or an operator set
// it; a new secret_file content is a rotation with the usual overlap).
func (a *app) seedWebhooks(ctx context.Context) error {
	for i, e := range a.cfg.Webhooks.Endpoints {
		b, err := os.ReadFile(e.SecretFile)
		if err != nil {
			return fmt.Errorf("webhooks.endpoints[%d]: secret_file: %w", i, err)
		}
		if _, err := a.registry.Get(ctx, e.Tenant); err != nil {
			return fmt.Errorf("webhooks.endpoints[%d]: tenant %q: %w", i, e.Tenant, err)
		}
		in := syncsvc.EndpointInput{URL: &e.URL, Enabled: e.Enabled}
		if len(e.EventTypes) > 0 {
			in.Types = &e.EventTypes
		}
		if _, err := a.webhooks.EnsureEndpoint(ctx, e.Tenant, in, strings.TrimSpace(string(b))); err != nil {
			return fmt.Errorf("webhooks.endpoints[%d]: %w", i, err)
		}
	}
	return nil
}

func (a *app) close() {
	for _, c := range a.closers {
		c()
	}
	a.metrics.close()
	a.stores.Close()
	a.enqueuer.Close()
	a.keys.Wait()
	a.oauth.Wait()
	a.rdb.Close()
}

// router builds the SCIM front door.
func (a *app) router() http.Handler {
	if os.Getenv(gin.EnvGinMode) == "" {
		gin.SetMode(gin.ReleaseMode)
	}
	var limiter api.RateLimiter
	if rl := a.cfg.API.RateLimit; rl.PerTenantRPS > 0 {
		limiter = tenants.NewRateLimiter(a.rdb, rl.PerTenantRPS, rl.Burst)
	}
	var oauth api.OAuth // a nil *AccessTokens must stay a nil interface
	if a.tokens != nil {
		oauth = a.tokens
	}
	r := api.New(api.Config{
		PublicURL:           a.cfg.PublicURL,
		MaxBodyBytes:        a.cfg.API.MaxBodyBytes,
		MaxPageSize:         a.cfg.API.MaxPageSize,
		MaxBulkOperations:   a.cfg.API.MaxBulkOperations,
		MaxBulkPayloadBytes: a.cfg.API.MaxBulkPayloadBytes,
		RequestTimeout:      a.cfg.API.RequestTimeout,
		RateLimitHint:       rateLimitHint(a.cfg),
		CapacityHint:        capacityHint(a.cfg),
		Logger:              a.log,
		Metrics:             a.metrics.http,
	}, api.Deps{Users: a.service, Tenants: a.registry, Keys: a.keys, Limiter: limiter, OAuth: oauth})
	a.mountAdmin(r.Engine)
	a.mountSetup(r.Engine)
	return r
}

// runAPI serves HTTP until ctx ends, then drains in-flight requests.
func (a *app) runAPI(ctx context.Context) error {
	srv := &http.Server{
		Addr:              a.cfg.Listen,
		Handler:           a.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", a.cfg.Listen, err)
	}
	errc := make(chan error, 1)
	if tc := a.cfg.API.TLS; tc.CertFile != "" {
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		if tc.MinVersion == "1.3" {
			srv.TLSConfig.MinVersion = tls.VersionTLS13
		}
		a.log.Info("SCIM API listening (TLS)", "addr", ln.Addr().String(), "public_url", a.cfg.PublicURL, "min_tls", tc.MinVersion)
		go func() { errc <- srv.ServeTLS(ln, tc.CertFile, tc.KeyFile) }()
	} else {
		a.log.Info("SCIM API listening", "addr", ln.Addr().String(), "public_url", a.cfg.PublicURL)
		go func() { errc <- srv.Serve(ln) }()
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	return nil
}

// runWorker processes reconcile tasks and sweeps until ctx ends; in-flight
// applies finish (or are handed back to the queue) before it returns.
func (a *app) runWorker(ctx context.Context) error {
	srv := a.asynqServer(queue.ServerConfig(a.cfg.Worker.Concurrency, a.cfg.Redis.QueueShards))
	mux := asynq.NewServeMux()
	rec := &syncsvc.Reconciler{Ledger: a.ledger, Stores: a.stores, Tenants: a.registry,
		Groups: a.registry, Logger: a.log, Metrics: a.metrics.sync,
		LeaseTTL: a.cfg.Worker.LeaseTTL, StoreTimeout: a.cfg.Worker.StoreTimeout,
		Limiter: a.tenantLimiter(), Drains: a.enqueuer,
		// On SIGTERM drains stop between batches and cut the one in
		// flight, so Shutdown does not wait out a long backlog.
		Stopping: ctx.Done()}
	rec.Register(mux)
	a.operator().Register(mux)
	// Events applied here queue their webhook deliveries, which run on a
	// server of their own: a slow receiver holds none of the applies.
	a.ledger.OnEvents(a.webhooks.Kick)
	a.webhooks.Stopping = ctx.Done() // SIGTERM cuts a delivery in flight (the event stays undelivered)
	// Deliveries poll at the worker's pace: an idle poll is a script call
	// per queue, and a delivery waits for the event's apply anyway.
	whSrv := a.asynqServer(queue.WebhookServerConfig(a.cfg.Webhooks.Concurrency))
	whMux := asynq.NewServeMux()
	a.webhooks.Register(whMux)
	if err := srv.Start(mux); err != nil {
		srv.stop()
		whSrv.stop()
		return fmt.Errorf("worker: %w", err)
	}
	if err := whSrv.Start(whMux); err != nil {
		srv.stop()
		whSrv.stop()
		return fmt.Errorf("worker: webhook deliveries: %w", err)
	}
	a.log.Info("worker started", "concurrency", a.cfg.Worker.Concurrency, "webhook_concurrency", a.cfg.Webhooks.Concurrency,
		"webhook_tenant_concurrency", a.cfg.Webhooks.TenantConcurrency)
	sw := &syncsvc.Sweeper{Ledger: a.ledger, Enqueuer: a.enqueuer, Tenants: a.registry,
		Logger: a.log, Interval: a.cfg.Sweeper.Interval, Grace: a.cfg.Sweeper.Grace}
	swCtx, stopSweeper := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { sw.Run(swCtx); close(done) }()
	go a.sweepWebhooks(swCtx)
	go a.wake.Listen(swCtx)
	<-ctx.Done()
	stopSweeper()
	<-done
	whSrv.stop()
	srv.stop()
	a.log.Info("worker stopped")
	return nil
}

// asynqServer is an asynq server of cfg polling at the process's
// worker.poll_interval and worker.retry_check_interval, waiting for the
// process's wakes when idle (queue/wake.go), logging its warnings through
// the process's logger.
func (a *app) asynqServer(cfg asynq.Config) workerServer {
	cfg.TaskCheckInterval = a.cfg.Worker.PollInterval
	cfg.DelayedTaskCheckInterval = a.cfg.Worker.RetryCheckInterval
	cfg.Logger = asynqLogger{a.log}
	cfg.LogLevel = asynq.WarnLevel
	client := a.asynqOpt.MakeRedisClient().(redis.UniversalClient)
	hook := a.wake.IdleHook(len(cfg.Queues), a.cfg.Worker.IdlePollInterval)
	client.AddHook(hook)
	return workerServer{Server: asynq.NewServerFromRedisClient(client, cfg), hook: hook, client: client}
}

// workerServer is an asynq server on a Redis client of its own, whose idle
// polling waits for wakes.
type workerServer struct {
	*asynq.Server
	hook   *queue.IdleHook
	client redis.UniversalClient
}

// stop ends the server: no dequeue waits for a wake any more, in-flight
// tasks finish or go back (asynq's Shutdown), the client closes. Safe on a
// server that never started.
func (s workerServer) stop() {
	s.hook.Release()
	s.Server.Shutdown()
	s.client.Close()
}

// sweepWebhooks kicks, every sweeper.interval, the webhook endpoints
// behind their tenant's stream (a delivery run lost with a killed worker).
func (a *app) sweepWebhooks(ctx context.Context) {
	tick := time.NewTicker(a.cfg.Sweeper.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if ids, err := a.registry.TenantIDs(ctx); err == nil {
				a.webhooks.Sweep(ctx, ids)
			}
		}
	}
}

// asynqLogger routes asynq's log lines to slog.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Fatal(args ...any) {
	a.l.Error(fmt.Sprint(args...), "component", "asynq")
	os.Exit(1)
}

// readSecretKey reads a 32-byte key stored raw, hex or base64.
func readSecretKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	if len(b) == 32 {
		return b, nil
	}
	s := strings.TrimSpace(string(b))
	if k, err := hex.DecodeString(s); err == nil && len(k) == 32 {
		return k, nil
	}
	if k, err := base64.StdEncoding.DecodeString(s); err == nil && len(k) == 32 {
		return k, nil
	}
	return nil, fmt.Errorf("secret key %s: want 32 bytes (raw, hex or base64)", path)
}

// newLogger builds the process logger.
func newLogger(level, format string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "text" {
		return slog.New(newCorrelatingHandler(slog.NewTextHandler(os.Stderr, opts)))
	}
	return slog.New(newCorrelatingHandler(slog.NewJSONHandler(os.Stderr, opts)))
}
