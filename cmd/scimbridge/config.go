package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
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
		// passwords waiting in the ledger. Unset: passwords are refused.
		KeyFile string `yaml:"key_file"`
	} `yaml:"secrets"`
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
		// Listen is the address of `scimbridge worker`'s operations
		// listener (/metrics, /healthz, /readyz); "off" starts none
		// (default ":9091"). Unused by serve, whose API listener serves them.
		Listen string `yaml:"listen"`
	} `yaml:"worker"`
	Sweeper struct {
		Interval time.Duration `yaml:"interval"` // default 30s
		Grace    time.Duration `yaml:"grace"`    // default 1m
	} `yaml:"sweeper"`
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
	Addr string `yaml:"addr"` // default 127.0.0.1:6379
	// PasswordEnv names an environment variable holding the password.
	PasswordEnv string `yaml:"password_env"`
	DB          int    `yaml:"db"`
	// RequireDurable refuses to start when Redis could lose acknowledged
	// state (appendonly off, or an evicting maxmemory-policy); false only
	// warns.
	RequireDurable bool `yaml:"require_durable"`
}

// loadConfig reads a YAML file (unknown keys are errors), applies
// SCIMBRIDGE_* environment overrides and defaults, and validates,
// reporting every problem at once.
func loadConfig(path string) (*Config, error) {
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

// applyEnv applies the documented environment overrides.
func (c *Config) applyEnv() error {
	str := func(name string, dst *string) {
		if v, ok := os.LookupEnv(name); ok {
			*dst = v
		}
	}
	str("SCIMBRIDGE_LISTEN", &c.Listen)
	str("SCIMBRIDGE_PUBLIC_URL", &c.PublicURL)
	str("SCIMBRIDGE_REDIS_ADDR", &c.Redis.Addr)
	str("SCIMBRIDGE_REDIS_PASSWORD_ENV", &c.Redis.PasswordEnv)
	str("SCIMBRIDGE_SECRET_KEY_FILE", &c.Secrets.KeyFile)
	str("SCIMBRIDGE_ADMIN_TOKEN_FILE", &c.Admin.TokenFile)
	str("SCIMBRIDGE_LOG_LEVEL", &c.Log.Level)
	str("SCIMBRIDGE_LOG_FORMAT", &c.Log.Format)
	str("SCIMBRIDGE_WORKER_LISTEN", &c.Worker.Listen)
	if v, ok := os.LookupEnv("SCIMBRIDGE_REDIS_DB"); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("config: SCIMBRIDGE_REDIS_DB: %w", err)
		}
		c.Redis.DB = n
	}
	if v, ok := os.LookupEnv("SCIMBRIDGE_WORKER_COALESCE"); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("config: SCIMBRIDGE_WORKER_COALESCE: %w", err)
		}
		c.Worker.Coalesce = &b
	}
	if v, ok := os.LookupEnv("SCIMBRIDGE_WORKER_CONCURRENCY"); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("config: SCIMBRIDGE_WORKER_CONCURRENCY: %w", err)
		}
		c.Worker.Concurrency = n
	}
	return nil
}

func (c *Config) applyDefaults() {
	if c.Listen == "" {
		c.Listen = ":8080"
	}
	if c.PublicURL == "" {
		port := c.Listen[strings.LastIndex(c.Listen, ":")+1:]
		c.PublicURL = "http://127.0.0.1:" + port
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if c.Redis.Addr == "" {
		c.Redis.Addr = "127.0.0.1:6379"
	}
	if c.Worker.Concurrency <= 0 {
		c.Worker.Concurrency = 32
	}
	if c.Worker.Listen == "" {
		c.Worker.Listen = defaultWorkerListen
	}
	if c.Worker.Coalesce == nil {
		on := true
		c.Worker.Coalesce = &on
	}
	if c.Worker.StoreTimeout <= 0 {
		c.Worker.StoreTimeout = 30 * time.Second
	}
	if c.Worker.LeaseTTL <= 0 {
		c.Worker.LeaseTTL = c.Worker.StoreTimeout + 15*time.Second
	}
	// Were sync.Sweeper's own defaults (it has none now).
	if c.Sweeper.Interval <= 0 {
		c.Sweeper.Interval = 30 * time.Second
	}
	if c.Sweeper.Grace <= 0 {
		c.Sweeper.Grace = time.Minute
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "json"
	}
	if c.API.RateLimit.PerTenantRPS == 0 {
		c.API.RateLimit.PerTenantRPS = 500
	}
	if c.API.RateLimit.Burst <= 0 {
		c.API.RateLimit.Burst = int(2 * max(c.API.RateLimit.PerTenantRPS, 1))
	}
	if c.API.KeyCacheTTL == 0 {
		c.API.KeyCacheTTL = time.Second
	}
	if c.API.TLS.MinVersion == "" {
		c.API.TLS.MinVersion = "1.2"
	}
	if c.Stores.IdleClose <= 0 {
		c.Stores.IdleClose = 10 * time.Minute
	}
}

func (c *Config) validate() []error {
	var errs []error
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
	if c.Redis.PasswordEnv != "" && os.Getenv(c.Redis.PasswordEnv) == "" {
		errs = append(errs, fmt.Errorf("redis.password_env: environment variable %s is empty", c.Redis.PasswordEnv))
	}
	if c.Secrets.KeyFile != "" {
		if _, err := readSecretKey(c.Secrets.KeyFile); err != nil {
			errs = append(errs, fmt.Errorf("secrets.key_file: %w", err))
		}
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
