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
		// Concurrency is how many applies one worker runs at once (default 20).
		Concurrency int `yaml:"concurrency"`
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
	} `yaml:"api"`
	// Stores tunes the per-tenant store pools.
	Stores struct {
		// IdleClose closes a tenant's store connections after this long
		// unused (default 10m).
		IdleClose time.Duration `yaml:"idle_close"`
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
		c.Worker.Concurrency = 20
	}
	if c.Worker.Listen == "" {
		c.Worker.Listen = defaultWorkerListen
	}
	if c.Worker.StoreTimeout <= 0 {
		c.Worker.StoreTimeout = 30 * time.Second
	}
	if c.Worker.LeaseTTL <= 0 {
		c.Worker.LeaseTTL = c.Worker.StoreTimeout + 15*time.Second
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "json"
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
