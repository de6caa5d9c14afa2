package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/tenants"
)

// Config is the whole configuration file (configs/scimbridge.example.yaml
// documents every field). The zero value of a field means its default.
type Config struct {
	// Listen is the API's listen address (default ":8080").
	Listen string `yaml:"listen"`
	// PublicURL is how IdPs reach the API (default "http://127.0.0.1:8080");
	// a tenant's Base URL is PublicURL + "/scim/<tenant>/v2".
	PublicURL string      `yaml:"public_url"`
	Redis     RedisConfig `yaml:"redis"`
	Secrets   struct {
		// KeyFile holds the 32-byte key (raw, hex or base64) that seals
		// passwords waiting in the ledger, and from which the OAuth access
		// tokens' signing key is derived. Unset: passwords are refused and
		// there is no token endpoint.
		KeyFile string `yaml:"key_file"`
	} `yaml:"secrets"`
	OAuth struct {
		// TokenTTL is the lifetime of the access tokens POST /oauth/token
		// issues (default 1h).
		TokenTTL time.Duration `yaml:"token_ttl"`
	} `yaml:"oauth"`
	Worker struct {
		// Concurrency is how many applies one worker runs at once (default 32).
		Concurrency int `yaml:"concurrency"`
		// Coalesce: a user write queues the drain of its tenant's backlog,
		// applied in batches (many users per store transaction), instead of
		// one task per user version. Read by the API (what it queues).
		// Default true; false keeps one task per user version.
		Coalesce *bool `yaml:"coalesce"`
		// StoreTimeout bounds one store call (default 30s).
		StoreTimeout time.Duration `yaml:"store_timeout"`
		// LeaseTTL is how long one apply holds its resource; a killed
		// worker's resources wait this long (default store_timeout + 15s).
		LeaseTTL time.Duration `yaml:"lease_ttl"`
		// MaxRetry is how many times a task is retried before asynq
		// archives it (default 20; the sweeper still re-queues a resource
		// that stays dirty).
		MaxRetry int `yaml:"max_retry"`
		// TaskTimeout bounds one task: an apply, or one run of a drain
		// (default 2m).
		TaskTimeout time.Duration `yaml:"task_timeout"`
		// SlotWait bounds how long an apply over its tenant's
		// max_concurrency waits in process for a turn before it goes back
		// to the queue (default 2s).
		SlotWait time.Duration `yaml:"slot_wait"`
		// PollInterval is how long a worker that found its queues empty
		// sleeps before it looks again, or waits for a wake (asynq's
		// TaskCheckInterval; default 100ms).
		PollInterval time.Duration `yaml:"poll_interval"`
		// IdlePollInterval is how often a worker that nothing woke looks
		// at its queues anyway (queue/wake.go; default 5s).
		IdlePollInterval time.Duration `yaml:"idle_poll_interval"`
		// RetryCheckInterval is how often retries and scheduled tasks
		// are moved to their queues (asynq's DelayedTaskCheckInterval;
		// default 1s).
		RetryCheckInterval time.Duration `yaml:"retry_check_interval"`
		// Listen is the address of `scimbridge worker`'s operations
		// listener (/metrics, /healthz, /readyz); "off" starts none
		// (default ":9091"). Unused by serve, whose API listener serves them.
		Listen string `yaml:"listen"`
	} `yaml:"worker"`
	Sweeper struct {
		Interval time.Duration `yaml:"interval"` // default 30s
		Grace    time.Duration `yaml:"grace"`    // default 1m
	} `yaml:"sweeper"`
	Events struct {
		// Enabled records events (the feed and the webhooks' source).
		// Default true.
		Enabled *bool `yaml:"enabled"`
		// Retention is how long a tenant's events stay in its stream
		// (default 168h).
		Retention time.Duration `yaml:"retention"`
	} `yaml:"events"`
	Webhooks struct {
		// Concurrency is how many deliveries one worker runs at once, on
		// a server of their own (default 16).
		Concurrency int `yaml:"concurrency"`
		// TenantConcurrency bounds one tenant's delivery runs at once,
		// across every worker (default 4; kept below Concurrency).
		TenantConcurrency int `yaml:"tenant_concurrency"`
		// Timeout bounds one delivery request (default 10s).
		Timeout time.Duration `yaml:"timeout"`
		// DisableAfter: an endpoint failing this long is disabled
		// (default 120h).
		DisableAfter time.Duration `yaml:"disable_after"`
		// Endpoints are made at start (seedWebhooks), like tenants[], and
		// an entry is applied again only when it changed (a digest of it
		// is kept with the endpoint); endpoints added through the API or
		// CLI are kept.
		Endpoints []WebhookEndpointConfig `yaml:"endpoints"`
	} `yaml:"webhooks"`
	Log struct {
		Level  string `yaml:"level"`  // debug, info (default), warn, error
		Format string `yaml:"format"` // json (default) or text
	} `yaml:"log"`
	API struct {
		MaxBodyBytes int64 `yaml:"max_body_bytes"` // default 1 MiB
		MaxPageSize  int   `yaml:"max_page_size"`  // default 1000
		// MaxBulkOperations and MaxBulkPayloadBytes bound POST /Bulk
		// (defaults 1000 and 1 MiB).
		MaxBulkOperations   int   `yaml:"max_bulk_operations"`
		MaxBulkPayloadBytes int64 `yaml:"max_bulk_payload_bytes"`
		// StoreLookupTimeout bounds a store lookup made while answering
		// a request (default 10s).
		StoreLookupTimeout time.Duration `yaml:"store_lookup_timeout"`
		// ImportInterval: how often an unfiltered first list page re-reads
		// the store for entries created outside scimbridge (default 30s).
		ImportInterval time.Duration `yaml:"import_interval"`
		// RequestTimeout is the deadline of every SCIM request (default
		// 15s, above StoreLookupTimeout).
		RequestTimeout time.Duration `yaml:"request_timeout"`
		// RateLimit bounds each tenant's requests across all API processes.
		RateLimit struct {
			// PerTenantRPS: requests per second on average (default 500;
			// negative: no limit).
			PerTenantRPS float64 `yaml:"per_tenant_rps"`
			// Burst: requests allowed at once above the rate (default 2×rate).
			Burst int `yaml:"burst"`
		} `yaml:"rate_limit"`
		// KeyCacheTTL is how long an API process trusts a key it has
		// verified in Redis (default 1s; negative: ask Redis on every
		// request). A revocation reaches every API process at once over
		// Redis pub/sub; this bounds it if that announcement is lost.
		KeyCacheTTL time.Duration `yaml:"key_cache_ttl"`
		// TLS serves HTTPS when cert_file and key_file are set.
		TLS struct {
			CertFile string `yaml:"cert_file"`
			KeyFile  string `yaml:"key_file"`
			// MinVersion is "1.2" (default) or "1.3".
			MinVersion string `yaml:"min_version"`
		} `yaml:"tls"`
	} `yaml:"api"`
	// Stores tunes the per-tenant store pools.
	Stores struct {
		// IdleClose closes a tenant's store connections after this long
		// unused (default 10m).
		IdleClose time.Duration `yaml:"idle_close"`
		// AllowedNetworks, when set, are the only networks (CIDRs or
		// addresses) tenant stores may be reached at. Unset: anything but
		// link-local and cloud metadata addresses, which are always denied
		// unless listed here.
		AllowedNetworks []string `yaml:"allowed_networks"`
	} `yaml:"stores"`
	// Admin holds the operator token of the admin API and console (unset: off).
	Admin AdminConfig `yaml:"admin"`
	// Tenants are created or updated in the registry at start.
	Tenants []tenants.Tenant `yaml:"tenants"`
}

// RedisConfig says where the ledger and the queues live.
type RedisConfig struct {
	// Mode is standalone (default: Addr), sentinel (a primary found by
	// Sentinel, followed across failovers) or cluster (Redis Cluster).
	Mode string `yaml:"mode"`
	Addr string `yaml:"addr"` // standalone; default 127.0.0.1:6379
	// PasswordEnv names an environment variable holding the password.
	PasswordEnv string `yaml:"password_env"`
	DB          int    `yaml:"db"`
	// Sentinel: the master's name and the sentinels' addresses; the
	// sentinels' own password (when they have one) from a variable or a file.
	Sentinel struct {
		Master       string   `yaml:"master"`
		Addrs        []string `yaml:"addrs"`
		PasswordEnv  string   `yaml:"password_env"`
		PasswordFile string   `yaml:"password_file"`
	} `yaml:"sentinel"`
	// Cluster: seed addresses (any of the nodes; the rest are discovered).
	Cluster struct {
		Addrs []string `yaml:"addrs"`
	} `yaml:"cluster"`
	// QueueShards spreads the provisioning queues over this many queues by
	// tenant (default 1; cluster mode: 8), so a cluster's primaries share them.
	QueueShards int `yaml:"queue_shards"`
	// MinReplicas: a write is acknowledged only once this many replicas
	// hold it (WAIT), within ReplicaTimeout; otherwise 503 (default 0).
	MinReplicas    int           `yaml:"min_replicas"`
	ReplicaTimeout time.Duration `yaml:"replica_timeout"`
	// RequireDurable refuses to start when Redis could lose acknowledged
	// state (appendonly off, or an evicting maxmemory-policy); false only
	// warns.
	RequireDurable bool `yaml:"require_durable"`
}

// loadConfig reads a YAML file (unknown keys are errors), applies the
// environment overrides, the `--set key=value` arguments and the defaults
// of the settings table (settings.go), and validates, reporting every
// problem at once.
func loadConfig(path string, sets ...string) (*Config, error) {
	var c Config
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := c.applyEnv(); err != nil {
		return nil, err
	}
	if err := c.applySets(sets); err != nil {
		return nil, err
	}
	c.applyDefaults()
	if errs := c.validate(); len(errs) > 0 {
		return nil, fmt.Errorf("config: %d problem(s):\n  %w", len(errs), joinIndented(errs))
	}
	return &c, nil
}

func joinIndented(errs []error) error {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return errors.New(strings.Join(msgs, "\n  "))
}

// WebhookEndpointConfig is one webhooks.endpoints[] entry.
type WebhookEndpointConfig struct {
	Tenant string `yaml:"tenant"`
	URL    string `yaml:"url"`
	// EventTypes are the types sent (empty: all).
	EventTypes []string `yaml:"event_types"`
	// Enabled defaults to true.
	Enabled *bool `yaml:"enabled"`
	// SecretFile holds the signing secret, whsec_<base64> (the operator
	// makes it; the receiver needs it too).
	SecretFile string `yaml:"secret_file"`
}

func (c *Config) validate() []error {
	var errs []error
	for i, e := range c.Webhooks.Endpoints {
		if e.Tenant == "" || e.URL == "" || e.SecretFile == "" {
			errs = append(errs, fmt.Errorf("webhooks.endpoints[%d]: tenant, url and secret_file are required", i))
		}
	}
	if len(c.Webhooks.Endpoints) > 0 && c.Secrets.KeyFile == "" {
		errs = append(errs, fmt.Errorf("webhooks.endpoints: secrets.key_file is required (the signing secrets are sealed with it)"))
	}
	if !strings.Contains(c.Listen, ":") {
		errs = append(errs, fmt.Errorf("listen %q: want host:port or :port", c.Listen))
	}
	if !strings.HasPrefix(c.PublicURL, "http://") && !strings.HasPrefix(c.PublicURL, "https://") {
		errs = append(errs, fmt.Errorf("public_url %q: want an http:// or https:// URL", c.PublicURL))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level %q: want debug, info, warn or error", c.Log.Level))
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		errs = append(errs, fmt.Errorf("log.format %q: want json or text", c.Log.Format))
	}
	if c.Worker.LeaseTTL <= c.Worker.StoreTimeout {
		errs = append(errs, fmt.Errorf("worker.lease_ttl (%s) must exceed worker.store_timeout (%s)", c.Worker.LeaseTTL, c.Worker.StoreTimeout))
	}
	errs = append(errs, c.Redis.validate()...)
	if c.Redis.PasswordEnv != "" && os.Getenv(c.Redis.PasswordEnv) == "" {
		errs = append(errs, fmt.Errorf("redis.password_env: environment variable %s is empty", c.Redis.PasswordEnv))
	}
	if c.Secrets.KeyFile != "" {
		if _, err := readSecretKey(c.Secrets.KeyFile); err != nil {
			errs = append(errs, fmt.Errorf("secrets.key_file: %w", err))
		}
	}
	if c.OAuth.TokenTTL < time.Minute || c.OAuth.TokenTTL > 24*time.Hour {
		errs = append(errs, fmt.Errorf("oauth.token_ttl (%s): want 1m to 24h", c.OAuth.TokenTTL))
	}
	if err := validWorkerListen(c.Worker.Listen); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, c.Admin.validate()...)
	if _, err := adapters.ParseHostPolicy(c.Stores.AllowedNetworks); err != nil {
		errs = append(errs, fmt.Errorf("stores.allowed_networks: %w", err))
	}
	if (c.API.TLS.CertFile == "") != (c.API.TLS.KeyFile == "") {
		errs = append(errs, errors.New("api.tls: set both cert_file and key_file, or neither"))
	}
	if v := c.API.TLS.MinVersion; v != "1.2" && v != "1.3" {
		errs = append(errs, fmt.Errorf("api.tls.min_version %q: want 1.2 or 1.3", v))
	}
	seen := map[string]bool{}
	for i, t := range c.Tenants {
		if seen[t.ID] {
			errs = append(errs, fmt.Errorf("tenants[%d]: duplicate id %q", i, t.ID))
		}
		seen[t.ID] = true
		for _, e := range t.Validate() {
			errs = append(errs, fmt.Errorf("tenants[%d] (%s): %w", i, t.ID, e))
		}
	}
	return errs
}

// validate checks the topology's settings.
func (r *RedisConfig) validate() []error {
	var errs []error
	switch r.Mode {
	case RedisStandalone:
	case RedisSentinel:
		if r.Sentinel.Master == "" {
			errs = append(errs, errors.New("redis.sentinel.master: required in sentinel mode"))
		}
		if len(r.Sentinel.Addrs) == 0 {
			errs = append(errs, errors.New("redis.sentinel.addrs: required in sentinel mode"))
		}
		if r.Sentinel.PasswordEnv != "" && r.Sentinel.PasswordFile != "" {
			errs = append(errs, errors.New("redis.sentinel: set password_env or password_file, not both"))
		}
		if r.Sentinel.PasswordEnv != "" && os.Getenv(r.Sentinel.PasswordEnv) == "" {
			errs = append(errs, fmt.Errorf("redis.sentinel.password_env: environment variable %s is empty", r.Sentinel.PasswordEnv))
		}
		if r.Sentinel.PasswordFile != "" {
			if _, err := os.ReadFile(r.Sentinel.PasswordFile); err != nil {
				errs = append(errs, fmt.Errorf("redis.sentinel.password_file: %w", err))
			}
		}
	case RedisCluster:
		if len(r.Cluster.Addrs) == 0 {
			errs = append(errs, errors.New("redis.cluster.addrs: required in cluster mode"))
		}
		if r.DB != 0 {
			errs = append(errs, errors.New("redis.db: Redis Cluster has database 0 only"))
		}
	default:
		errs = append(errs, fmt.Errorf("redis.mode %q: want standalone, sentinel or cluster", r.Mode))
	}
	if r.MinReplicas < 0 {
		errs = append(errs, fmt.Errorf("redis.min_replicas %d: want 0 or more", r.MinReplicas))
	}
	if r.QueueShards < 1 || r.QueueShards > 256 {
		errs = append(errs, fmt.Errorf("redis.queue_shards %d: want 1 to 256", r.QueueShards))
	}
	return errs
}
