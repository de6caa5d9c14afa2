package main

// The one table of settings: every key of the configuration file, the
// environment variable that overrides it, its default and what it means.
// loadConfig applies the environment and the defaults from this table and
// nothing else; the README's configuration reference is this table
// rendered (TestREADMEConfigReference fails when they differ, and prints
// the rows to paste). Library structs (sync.Reconciler, sync.Service,
// sync.Sweeper, queue.Enqueuer, tenants.Stores, api.Config, ...) take their
// values from the loaded Config (app.go) and invent none of their own.

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Fixed values handed to library structs that are tuning, not settings:
// they live here, beside the settings, so no library invents its own.
const (
	// dirtyCacheFor and dirtyReadTimeout: how long one reading of the
	// dirty sets serves /metrics scrapes, and the bound on taking one.
	dirtyCacheFor    = 5 * time.Second
	dirtyReadTimeout = 3 * time.Second
	// inlineDriftLimit: a drift check of a tenant with more users than
	// this runs as a worker job instead of inside the admin request.
	inlineDriftLimit = 1000
)

// setting is one row of the table.
type setting struct {
	key     string // YAML path
	env     string // environment override, "" for none
	def     string // the default as the README shows it
	meaning string
	// fromEnv parses a value, from the environment variable env or from
	// `--set key=value`, into c (nil: neither can set it).
	fromEnv func(c *Config, v string) error
	// fill sets the default into c when the key is unset (nil: none). It
	// runs after the environment, in table order, so a derived default
	// (worker.lease_ttl from worker.store_timeout) sees its source set.
	fill func(c *Config)
}

// Typed rows. Each takes the field's address in a Config.

func stringSetting(key, env, def, meaning string, field func(*Config) *string) setting {
	s := setting{key: key, env: env, def: "`" + def + "`", meaning: meaning}
	if def == "" {
		s.def = "unset"
	} else {
		s.fill = func(c *Config) {
			if p := field(c); *p == "" {
				*p = def
			}
		}
	}
	s.fromEnv = func(c *Config, v string) error { *field(c) = v; return nil }
	return s
}

func intSetting(key, env string, def int, meaning string, field func(*Config) *int) setting {
	s := setting{key: key, env: env, def: "`" + strconv.Itoa(def) + "`", meaning: meaning}
	if def != 0 {
		s.fill = func(c *Config) {
			if p := field(c); *p <= 0 {
				*p = def
			}
		}
	}
	s.fromEnv = func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return err
		}
		*field(c) = n
		return nil
	}
	return s
}

func listSetting(key, env, meaning string, field func(*Config) *[]string) setting {
	s := setting{key: key, env: env, def: "unset", meaning: meaning}
	if env != "" {
		s.fromEnv = func(c *Config, v string) error {
			var out []string
			for _, a := range strings.Split(v, ",") {
				if a = strings.TrimSpace(a); a != "" {
					out = append(out, a)
				}
			}
			*field(c) = out
			return nil
		}
	}
	return s
}

func int64Setting(key, env string, def int64, meaning string, field func(*Config) *int64) setting {
	s := setting{key: key, env: env, def: "`" + strconv.FormatInt(def, 10) + "`", meaning: meaning}
	s.fill = func(c *Config) {
		if p := field(c); *p <= 0 {
			*p = def
		}
	}
	s.fromEnv = func(c *Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return err
		}
		*field(c) = n
		return nil
	}
	return s
}

func durationSetting(key, env string, def time.Duration, meaning string, field func(*Config) *time.Duration) setting {
	s := setting{key: key, env: env, def: "`" + shortDuration(def) + "`", meaning: meaning}
	s.fill = func(c *Config) {
		if p := field(c); *p <= 0 {
			*p = def
		}
	}
	s.fromEnv = durationFromEnv(field)
	return s
}

func durationFromEnv(field func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return err
		}
		*field(c) = d
		return nil
	}
}

// shortDuration writes 30s, 10m, 1m30s: time.Duration's String without
// the trailing zero units ("10m0s").
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// settings is the table, in the order the README lists it.
var settings = []setting{
	stringSetting("listen", "SCIMBRIDGE_LISTEN", ":8080", "API listen address",
		func(c *Config) *string { return &c.Listen }),
	{key: "public_url", env: "SCIMBRIDGE_PUBLIC_URL", def: "`http://127.0.0.1:<listen port>`",
		meaning: "how IdPs reach the API; Base URL = `<public_url>/scim/<tenant>/v2`",
		fromEnv: func(c *Config, v string) error { c.PublicURL = v; return nil },
		fill: func(c *Config) {
			if c.PublicURL == "" {
				c.PublicURL = "http://127.0.0.1:" + c.Listen[strings.LastIndex(c.Listen, ":")+1:]
			}
			c.PublicURL = strings.TrimRight(c.PublicURL, "/")
		}},
	stringSetting("redis.addr", "SCIMBRIDGE_REDIS_ADDR", "127.0.0.1:6379", "Redis (ledger and queues)",
		func(c *Config) *string { return &c.Redis.Addr }),
	{key: "redis.password_env", env: "SCIMBRIDGE_REDIS_PASSWORD_ENV", def: "unset (no AUTH)",
		meaning: "name of the variable holding the Redis password",
		fromEnv: func(c *Config, v string) error { c.Redis.PasswordEnv = v; return nil }},
	intSetting("redis.db", "SCIMBRIDGE_REDIS_DB", 0, "Redis database number",
		func(c *Config) *int { return &c.Redis.DB }),
	stringSetting("redis.mode", "SCIMBRIDGE_REDIS_MODE", RedisStandalone, "`standalone` (`redis.addr`), `sentinel` (a replicated primary found and followed across failovers by Sentinel) or `cluster` (Redis Cluster)",
		func(c *Config) *string { return &c.Redis.Mode }),
	stringSetting("redis.sentinel.master", "SCIMBRIDGE_REDIS_SENTINEL_MASTER", "", "sentinel mode: the master's name in the sentinels' configuration",
		func(c *Config) *string { return &c.Redis.Sentinel.Master }),
	listSetting("redis.sentinel.addrs", "SCIMBRIDGE_REDIS_SENTINEL_ADDRS", "sentinel mode: the sentinels' host:port (environment: comma-separated)",
		func(c *Config) *[]string { return &c.Redis.Sentinel.Addrs }),
	{key: "redis.sentinel.password_env", env: "SCIMBRIDGE_REDIS_SENTINEL_PASSWORD_ENV", def: "unset (no AUTH)",
		meaning: "name of the variable holding the sentinels' own password (`requirepass` of the sentinels; the data nodes use `redis.password_env`)",
		fromEnv: func(c *Config, v string) error { c.Redis.Sentinel.PasswordEnv = v; return nil }},
	{key: "redis.sentinel.password_file", env: "SCIMBRIDGE_REDIS_SENTINEL_PASSWORD_FILE", def: "unset",
		meaning: "or a file holding it (trailing newline ignored)",
		fromEnv: func(c *Config, v string) error { c.Redis.Sentinel.PasswordFile = v; return nil }},
	listSetting("redis.cluster.addrs", "SCIMBRIDGE_REDIS_CLUSTER_ADDRS", "cluster mode: seed nodes' host:port (any of them; the rest are discovered; environment: comma-separated)",
		func(c *Config) *[]string { return &c.Redis.Cluster.Addrs }),
	{key: "redis.queue_shards", env: "SCIMBRIDGE_REDIS_QUEUE_SHARDS", def: "`1` (cluster mode: `8`)",
		meaning: "provisioning and deprovisioning work is spread over this many queues of each kind by tenant hash: asynq keeps a queue in one hash slot, so on a cluster this is what puts queue load on every primary (weights kept per queue)",
		fromEnv: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			c.Redis.QueueShards = n
			return err
		},
		fill: func(c *Config) {
			if c.Redis.QueueShards == 0 {
				c.Redis.QueueShards = 1
				if c.Redis.Mode == RedisCluster {
					c.Redis.QueueShards = 8
				}
			}
		}},
	{key: "redis.min_replicas", env: "SCIMBRIDGE_REDIS_MIN_REPLICAS", def: "`0`",
		meaning: "a SCIM write is answered 2xx only once this many replicas hold it (Redis `WAIT` after the ledger write); not reached within `redis.replica_timeout`: 503 with `Retry-After`, and the IdP's retry is answered as an idempotent API would. `0`: the primary's acknowledgement (a failover can lose the last writes)",
		fromEnv: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			c.Redis.MinReplicas = n
			return err
		}},
	durationSetting("redis.replica_timeout", "SCIMBRIDGE_REDIS_REPLICA_TIMEOUT", time.Second, "how long a write waits for `redis.min_replicas`",
		func(c *Config) *time.Duration { return &c.Redis.ReplicaTimeout }),
	{key: "redis.require_durable", env: "SCIMBRIDGE_REDIS_REQUIRE_DURABLE", def: "`false`",
		meaning: "refuse to start when Redis could lose acknowledged state (`appendonly` off, an evicting `maxmemory-policy`); `false` only warns",
		fromEnv: func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			c.Redis.RequireDurable = b
			return err
		}},
	{key: "secrets.key_file", env: "SCIMBRIDGE_SECRET_KEY_FILE", def: "unset (passwords ignored, no OAuth)",
		meaning: "32-byte key sealing pending passwords; the OAuth access tokens' signing key is derived from it (HKDF-SHA256), so every API process needs the same file",
		fromEnv: func(c *Config, v string) error { c.Secrets.KeyFile = v; return nil }},
	durationSetting("oauth.token_ttl", "SCIMBRIDGE_OAUTH_TOKEN_TTL", time.Hour, "lifetime of the access tokens `POST /oauth/token` issues to OAuth clients (1m to 24h)",
		func(c *Config) *time.Duration { return &c.OAuth.TokenTTL }),
	intSetting("worker.concurrency", "SCIMBRIDGE_WORKER_CONCURRENCY", 32, "applies one worker runs at once",
		func(c *Config) *int { return &c.Worker.Concurrency }),
	{key: "worker.coalesce", env: "SCIMBRIDGE_WORKER_COALESCE", def: "`true`",
		meaning: "user writes queue a drain of the tenant's backlog, applied in batches per store transaction (`false`: one task per user version)",
		fromEnv: func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			c.Worker.Coalesce = &b
			return err
		},
		fill: func(c *Config) {
			if c.Worker.Coalesce == nil {
				on := true
				c.Worker.Coalesce = &on
			}
		}},
	durationSetting("worker.store_timeout", "SCIMBRIDGE_WORKER_STORE_TIMEOUT", 30*time.Second, "bound on one store call of an apply",
		func(c *Config) *time.Duration { return &c.Worker.StoreTimeout }),
	{key: "worker.lease_ttl", env: "SCIMBRIDGE_WORKER_LEASE_TTL", def: "`store_timeout + 15s`",
		meaning: "per-resource apply lease (and per-tenant store slot); a killed worker's resources wait this long",
		fromEnv: durationFromEnv(func(c *Config) *time.Duration { return &c.Worker.LeaseTTL }),
		fill: func(c *Config) {
			if c.Worker.LeaseTTL <= 0 {
				c.Worker.LeaseTTL = c.Worker.StoreTimeout + 15*time.Second
			}
		}},
	intSetting("worker.max_retry", "SCIMBRIDGE_WORKER_MAX_RETRY", 20, "retries of a task before asynq archives it (the sweeper still re-queues a resource that stays dirty)",
		func(c *Config) *int { return &c.Worker.MaxRetry }),
	durationSetting("worker.task_timeout", "SCIMBRIDGE_WORKER_TASK_TIMEOUT", 2*time.Minute, "bound on one task (an apply, or one run of a drain)",
		func(c *Config) *time.Duration { return &c.Worker.TaskTimeout }),
	durationSetting("worker.slot_wait", "SCIMBRIDGE_WORKER_SLOT_WAIT", 2*time.Second, "how long an apply over its tenant's `max_concurrency` waits in process for a turn before going back to the queue",
		func(c *Config) *time.Duration { return &c.Worker.SlotWait }),
	durationSetting("worker.poll_interval", "SCIMBRIDGE_WORKER_POLL_INTERVAL", 100*time.Millisecond, "how long a worker that found its queues empty sleeps (0.5-1.5 times this, asynq's TaskCheckInterval) before it looks again, or waits for a wake: a task queued meanwhile waits at most that long",
		func(c *Config) *time.Duration { return &c.Worker.PollInterval }),
	durationSetting("worker.idle_poll_interval", "SCIMBRIDGE_WORKER_IDLE_POLL_INTERVAL", 5*time.Second, "how often an idle worker looks at its queues (one script call per queue) when nothing woke it: every process that queues a task wakes the workers (pub/sub); tasks that arrive without a wake (a retry moved by another worker, a dashboard's \"run now\") wait up to this",
		func(c *Config) *time.Duration { return &c.Worker.IdlePollInterval }),
	durationSetting("worker.retry_check_interval", "SCIMBRIDGE_WORKER_RETRY_CHECK_INTERVAL", time.Second, "how often retries that are due are moved back to their queues (asynq's DelayedTaskCheckInterval: two script calls per queue each time)",
		func(c *Config) *time.Duration { return &c.Worker.RetryCheckInterval }),
	stringSetting("worker.listen", "SCIMBRIDGE_WORKER_LISTEN", defaultWorkerListen, "`scimbridge worker`'s /metrics, /healthz, /readyz; `off` for none",
		func(c *Config) *string { return &c.Worker.Listen }),
	durationSetting("sweeper.interval", "SCIMBRIDGE_SWEEPER_INTERVAL", 30*time.Second, "how often dirty resources are looked for",
		func(c *Config) *time.Duration { return &c.Sweeper.Interval }),
	durationSetting("sweeper.grace", "SCIMBRIDGE_SWEEPER_GRACE", time.Minute, "how long a resource may stay dirty before it is re-enqueued",
		func(c *Config) *time.Duration { return &c.Sweeper.Grace }),
	{key: "events.enabled", env: "SCIMBRIDGE_EVENTS_ENABLED", def: "`true`",
		meaning: "record an event for every change applied to a store (the events feed, and what webhooks deliver)",
		fromEnv: func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			c.Events.Enabled = &b
			return err
		},
		fill: func(c *Config) {
			if c.Events.Enabled == nil {
				on := true
				c.Events.Enabled = &on
			}
		}},
	durationSetting("events.retention", "SCIMBRIDGE_EVENTS_RETENTION", 168*time.Hour, "how long a tenant's events stay in its stream (the feed, replays); older ones are trimmed as events are added, and by a sweep every 10 minutes (a tenant with no new changes too)",
		func(c *Config) *time.Duration { return &c.Events.Retention }),
	intSetting("webhooks.concurrency", "SCIMBRIDGE_WEBHOOKS_CONCURRENCY", 16, "webhook deliveries one worker runs at once, on an asynq server of their own (a slow receiver never holds a provisioning worker)",
		func(c *Config) *int { return &c.Webhooks.Concurrency }),
	webhookTenantConcurrency(),
	durationSetting("webhooks.timeout", "SCIMBRIDGE_WEBHOOKS_TIMEOUT", 10*time.Second, "bound on one webhook delivery request",
		func(c *Config) *time.Duration { return &c.Webhooks.Timeout }),
	durationSetting("webhooks.disable_after", "SCIMBRIDGE_WEBHOOKS_DISABLE_AFTER", 120*time.Hour, "a webhook endpoint failing this long is disabled (log, metric, console)",
		func(c *Config) *time.Duration { return &c.Webhooks.DisableAfter }),
	stringSetting("log.level", "SCIMBRIDGE_LOG_LEVEL", "info", "debug, info, warn, error",
		func(c *Config) *string { return &c.Log.Level }),
	stringSetting("log.format", "SCIMBRIDGE_LOG_FORMAT", "json", "json or text",
		func(c *Config) *string { return &c.Log.Format }),
	int64Setting("api.max_body_bytes", "SCIMBRIDGE_API_MAX_BODY_BYTES", 1<<20, "largest request body",
		func(c *Config) *int64 { return &c.API.MaxBodyBytes }),
	intSetting("api.max_page_size", "SCIMBRIDGE_API_MAX_PAGE_SIZE", 1000, "largest list page",
		func(c *Config) *int { return &c.API.MaxPageSize }),
	intSetting("api.max_bulk_operations", "SCIMBRIDGE_API_MAX_BULK_OPERATIONS", 1000, "operations per POST /Bulk",
		func(c *Config) *int { return &c.API.MaxBulkOperations }),
	int64Setting("api.max_bulk_payload_bytes", "SCIMBRIDGE_API_MAX_BULK_PAYLOAD_BYTES", 1<<20, "largest POST /Bulk body",
		func(c *Config) *int64 { return &c.API.MaxBulkPayloadBytes }),
	durationSetting("api.store_lookup_timeout", "SCIMBRIDGE_API_STORE_LOOKUP_TIMEOUT", 10*time.Second, "bound on a store lookup made while answering a request (a filter the ledger misses, an import page)",
		func(c *Config) *time.Duration { return &c.API.StoreLookupTimeout }),
	durationSetting("api.import_interval", "SCIMBRIDGE_API_IMPORT_INTERVAL", 30*time.Second, "how often an unfiltered first list page re-reads the store for entries created outside scimbridge",
		func(c *Config) *time.Duration { return &c.API.ImportInterval }),
	durationSetting("api.request_timeout", "SCIMBRIDGE_API_REQUEST_TIMEOUT", 15*time.Second, "deadline of every SCIM request: once it has passed (or the client has gone) nothing more is written; a request still waiting for its tenant's share of the process after half of it gets 429",
		func(c *Config) *time.Duration { return &c.API.RequestTimeout }),
	{key: "api.rate_limit.per_tenant_rps", env: "SCIMBRIDGE_API_RATE_LIMIT_PER_TENANT_RPS", def: "`500` (negative: none)",
		meaning: "requests per second per tenant, all API processes together",
		fromEnv: func(c *Config, v string) error {
			f, err := strconv.ParseFloat(v, 64)
			c.API.RateLimit.PerTenantRPS = f
			return err
		},
		fill: func(c *Config) {
			if c.API.RateLimit.PerTenantRPS == 0 {
				c.API.RateLimit.PerTenantRPS = 500
			}
		}},
	{key: "api.rate_limit.burst", env: "SCIMBRIDGE_API_RATE_LIMIT_BURST", def: "`2 × rate`",
		meaning: "requests allowed at once above the rate",
		fromEnv: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			c.API.RateLimit.Burst = n
			return err
		},
		fill: func(c *Config) {
			if c.API.RateLimit.Burst <= 0 {
				c.API.RateLimit.Burst = int(2 * max(c.API.RateLimit.PerTenantRPS, 1))
			}
		}},
	{key: "api.key_cache_ttl", env: "SCIMBRIDGE_API_KEY_CACHE_TTL", def: "`1s` (negative: none)",
		meaning: "how long an API process trusts an API key it verified in Redis, or that an OAuth client is live; `key revoke` and `oauth-client revoke` reach every API process at once over Redis pub/sub (channel `sb:keys:changed`), this bounds it if that message is lost",
		fromEnv: durationFromEnv(func(c *Config) *time.Duration { return &c.API.KeyCacheTTL }),
		fill: func(c *Config) {
			if c.API.KeyCacheTTL == 0 {
				c.API.KeyCacheTTL = time.Second
			}
		}},
	stringSetting("api.tls.cert_file", "SCIMBRIDGE_API_TLS_CERT_FILE", "", "serve HTTPS with this certificate (PEM; with `api.tls.key_file`); unset: plain HTTP",
		func(c *Config) *string { return &c.API.TLS.CertFile }),
	stringSetting("api.tls.key_file", "SCIMBRIDGE_API_TLS_KEY_FILE", "", "the certificate's private key (PEM)",
		func(c *Config) *string { return &c.API.TLS.KeyFile }),
	stringSetting("api.tls.min_version", "SCIMBRIDGE_API_TLS_MIN_VERSION", "1.2", "`1.2` or `1.3`",
		func(c *Config) *string { return &c.API.TLS.MinVersion }),
	durationSetting("stores.idle_close", "SCIMBRIDGE_STORES_IDLE_CLOSE", 10*time.Minute, "close a tenant's store connections after this long unused",
		func(c *Config) *time.Duration { return &c.Stores.IdleClose }),
	{key: "stores.allowed_networks", env: "SCIMBRIDGE_STORES_ALLOWED_NETWORKS", def: "unset (all but link-local and metadata)",
		meaning: "the only networks stores and webhook receivers may be reached at (checked on the resolved address at connect time; from the environment or `--set`: comma-separated)",
		fromEnv: func(c *Config, v string) error {
			c.Stores.AllowedNetworks = nil
			for _, n := range strings.Split(v, ",") {
				if n = strings.TrimSpace(n); n != "" {
					c.Stores.AllowedNetworks = append(c.Stores.AllowedNetworks, n)
				}
			}
			return nil
		}},
	{key: "admin.token_env", env: "SCIMBRIDGE_ADMIN_TOKEN_ENV", def: "unset", meaning: "variable holding the operator token",
		fromEnv: func(c *Config, v string) error { c.Admin.TokenEnv = v; return nil }},
	{key: "admin.token_file", env: "SCIMBRIDGE_ADMIN_TOKEN_FILE", def: "unset (admin API, console, dashboard off)",
		meaning: "file holding the operator token",
		fromEnv: func(c *Config, v string) error { c.Admin.TokenFile = v; return nil }},
	{key: "tenants[]", def: "none", meaning: "tenants created or updated at start (see the examples)"},
	{key: "webhooks.endpoints[]", def: "none", meaning: "webhook endpoints created at start, and updated when their entry changed (a restart with the same entry keeps an endpoint scimbridge disabled, disabled; a new secret is a rotation, the old one signing 24 h more): `tenant`, `url`, `event_types` (unset: all), `enabled` (unset: true), `secret_file` (a `whsec_<base64>` secret the operator makes); needs `secrets.key_file`"},
}

// applyEnv applies the table's environment overrides.
func (c *Config) applyEnv() error {
	for _, s := range settings {
		if s.fromEnv == nil || s.env == "" {
			continue
		}
		v, ok := os.LookupEnv(s.env)
		if !ok {
			continue
		}
		if err := s.fromEnv(c, v); err != nil {
			return fmt.Errorf("config: %s (%s): %w", s.env, s.key, err)
		}
	}
	return nil
}

// defaultWebhookTenantConcurrency is webhooks.tenant_concurrency's default.
const defaultWebhookTenantConcurrency = 4

// webhookTenantConcurrency is the row of webhooks.tenant_concurrency: kept
// below webhooks.concurrency (the row before it), so a tenant whose
// receivers all hang leaves delivery workers to the others.
func webhookTenantConcurrency() setting {
	s := intSetting("webhooks.tenant_concurrency", "SCIMBRIDGE_WEBHOOKS_TENANT_CONCURRENCY", defaultWebhookTenantConcurrency,
		"delivery runs of one tenant going at once, across every worker: a run over it waits (retried in 1-2 s, not a failure), so one tenant's hanging receivers hold at most this many delivery workers; below `webhooks.concurrency` (a larger value is lowered to it minus 1, at least 1)",
		func(c *Config) *int { return &c.Webhooks.TenantConcurrency })
	s.fill = func(c *Config) {
		w := &c.Webhooks
		if w.TenantConcurrency <= 0 {
			w.TenantConcurrency = defaultWebhookTenantConcurrency
		}
		if w.TenantConcurrency >= w.Concurrency {
			w.TenantConcurrency = max(w.Concurrency-1, 1)
		}
	}
	return s
}

// applySets applies `--set key=value` arguments (after the file and the
// environment, before the defaults): any key of the table that has a
// parser, named as in the configuration file.
func (c *Config) applySets(sets []string) error {
	for _, kv := range sets {
		key, value, ok := strings.Cut(kv, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			return fmt.Errorf("config: --set %q: want key=value (a key of the configuration reference, e.g. api.rate_limit.per_tenant_rps=1000)", kv)
		}
		s, found := settingByKey(key)
		switch {
		case !found:
			return fmt.Errorf("config: --set %s: unknown setting (the keys are those of the README's configuration reference)", key)
		case s.fromEnv == nil:
			return fmt.Errorf("config: --set %s: not settable on the command line; use the configuration file", key)
		}
		if err := s.fromEnv(c, value); err != nil {
			return fmt.Errorf("config: --set %s: %w", key, err)
		}
	}
	return nil
}

func settingByKey(key string) (setting, bool) {
	for _, s := range settings {
		if s.key == key {
			return s, true
		}
	}
	return setting{}, false
}

// applyDefaults fills every unset key with the table's default.
func (c *Config) applyDefaults() {
	for _, s := range settings {
		if s.fill != nil {
			s.fill(c)
		}
	}
}

// rateLimitHint ends the detail of the tenant rate limit's 429: the
// setting that was hit and how to raise it.
func rateLimitHint(c *Config) string {
	rl := c.API.RateLimit
	return fmt.Sprintf("the limit is api.rate_limit.per_tenant_rps = %g requests/s, api.rate_limit.burst = %d; "+
		"raise it in the configuration file, with --set api.rate_limit.per_tenant_rps=N or with "+
		"SCIMBRIDGE_API_RATE_LIMIT_PER_TENANT_RPS=N (negative: no limit)", rl.PerTenantRPS, rl.Burst)
}

// capacityHint ends the detail of the tenant capacity's 429.
func capacityHint(c *Config) string {
	return fmt.Sprintf("a tenant may use a share of each API process at once and waits at most half of "+
		"api.request_timeout (%s) for its turn; run more API processes, or raise api.request_timeout "+
		"(--set api.request_timeout=30s, or SCIMBRIDGE_API_REQUEST_TIMEOUT)", shortDuration(c.API.RequestTimeout))
}
