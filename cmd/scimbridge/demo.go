package main

// The embedded default: `scimbridge serve` with no configuration runs on an
// in-process Redis and a demo SQLite store under the data directory, with a
// demo tenant and key that survive restarts. For trying scimbridge out only.

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	_ "modernc.org/sqlite" // the demo store's driver

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/adapters/sqlstore"
	"github.com/scimbridge/scimbridge/cmd/scimbridge/internal/embeddedredis"
	"github.com/scimbridge/scimbridge/tenants"
)

const (
	demoTenant  = "demo"
	demoKeyName = "demo"
	// demoKeyFile keeps the demo key so it can be shown at every start.
	// Only the embedded default does this; real keys are never stored.
	demoKeyFile   = "demo-api-key"
	demoSecretKey = "secret.key"
	demoDB        = "demo.db"
	// demoAdminToken holds the operator token of the admin API and console.
	demoAdminToken = "admin-token"
	// demoPublicURL holds the running server's public_url, so admin
	// commands (key create, tenant setup-link) print the Base URL and
	// links of the server that is running, whatever --set or environment
	// gave it its address.
	demoPublicURL = "public-url"
)

// embedded is the running embedded default.
type embedded struct {
	dir   string
	redis *embeddedredis.Server
	cfg   *Config
}

// startEmbedded starts the embedded Redis and prepares the demo store and
// configuration; sets are `--set key=value` arguments.
func startEmbedded(dir string, sets ...string) (*embedded, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	r, err := embeddedredis.Start(abs)
	if err != nil {
		return nil, err
	}
	cfg, err := embeddedConfig(abs, r.Addr(), sets...)
	if err != nil {
		r.Close()
		return nil, err
	}
	if err := ensureDemoStore(filepath.Join(abs, demoDB)); err != nil {
		r.Close()
		return nil, err
	}
	return &embedded{dir: abs, redis: r, cfg: cfg}, nil
}

// Close saves and stops the embedded Redis.
func (e *embedded) Close() error { return e.redis.Close() }

// embeddedConfig is the configuration of the embedded default: the
// settings table's defaults, except where noted, then the environment and
// the `--set` arguments (the redis.* settings do not apply: its Redis is
// the embedded one).
func embeddedConfig(dir, redisAddr string, sets ...string) (*Config, error) {
	var c Config
	c.Listen = "127.0.0.1:8080"
	c.Log.Format = "text"
	if err := c.applyEnv(); err != nil {
		return nil, err
	}
	if err := c.applySets(sets); err != nil {
		return nil, err
	}
	if c.API.RateLimit.PerTenantRPS == 0 {
		// No per-tenant rate limit unless one is set: it shares a
		// deployment between tenants, and here one tenant on loopback is
		// all there is (a newcomer's own load test would only be
		// throttled). The per-tenant share of the process still applies.
		c.API.RateLimit.PerTenantRPS = -1
	}
	c.Redis.Addr = redisAddr
	c.Redis.DB = 0
	keyFile := filepath.Join(dir, demoSecretKey)
	if _, err := os.Stat(keyFile); errors.Is(err, os.ErrNotExist) {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := os.WriteFile(keyFile, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("embedded: %w", err)
		}
	}
	c.Secrets.KeyFile = keyFile
	tokenFile := filepath.Join(dir, demoAdminToken)
	if _, err := os.Stat(tokenFile); errors.Is(err, os.ErrNotExist) {
		tok := make([]byte, 24)
		if _, err := rand.Read(tok); err != nil {
			return nil, err
		}
		if err := os.WriteFile(tokenFile, []byte(hex.EncodeToString(tok)+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("embedded: %w", err)
		}
	}
	c.Admin.TokenFile = tokenFile
	c.Sweeper.Interval = 0
	c.Tenants = []tenants.Tenant{{
		ID:   demoTenant,
		Name: "Demo workspace (embedded default)",
		Store: adapters.Config{
			Kind: "sqlite",
			DSN:  filepath.Join(dir, demoDB),
			Users: adapters.UserMapping{
				Table: "users",
				Key:   "id",
				Attributes: map[string]string{
					"userName":                     "username",
					"name.givenName":               "given_name",
					"name.familyName":              "family_name",
					"displayName":                  "display_name",
					`emails[type eq "work"].value`: "email",
					"externalId":                   "external_id",
					"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "department",
				},
				Active:   &adapters.ActiveMapping{Column: "active", Active: "1", Inactive: "0"},
				Password: &adapters.PasswordMapping{Column: "password_hash", Hash: "argon2id"},
				OnDelete: "deactivate",
			},
		},
	}}
	c.applyDefaults()
	if errs := c.validate(); len(errs) > 0 {
		return nil, fmt.Errorf("embedded config: %w", joinIndented(errs))
	}
	return &c, nil
}

// ensureDemoStore creates the demo "existing" users table with one user
// who was there before scimbridge (to show adoption), if it is new.
func ensureDemoStore(path string) error {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return fmt.Errorf("demo store: %w", err)
	}
	defer db.Close()
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS users (
			id            INTEGER PRIMARY KEY AUTOINCREMENT,
			username      TEXT NOT NULL,
			given_name    TEXT,
			family_name   TEXT,
			display_name  TEXT,
			email         TEXT,
			external_id   TEXT,
			department    TEXT,
			active        INTEGER NOT NULL DEFAULT 1,
			password_hash TEXT,
			plan          TEXT NOT NULL DEFAULT 'free',
			created_at    TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
		)`,
		// Every apply of a new user, and every userName or email filter
		// that misses the ledger, looks the row up case-insensitively
		// through the SQLite dialect's Unicode fold (the deterministic
		// sqlstore.SQLiteLowerFunc). An index on that exact expression
		// serves it; without one each lookup scanned the whole table, so
		// a push slowed as the table grew. SQLite's own lower() and
		// NOCASE fold ASCII only ("Ä" stays "Ä"), so an index on them
		// could not serve the lookup without missing non-ASCII case
		// variants. IF NOT EXISTS: a demo store made by an older version
		// gets them at the next start.
		`CREATE INDEX IF NOT EXISTS users_username_fold ON users (` + sqlstore.SQLiteLowerFunc + `(username))`,
		`CREATE INDEX IF NOT EXISTS users_email_fold ON users (` + sqlstore.SQLiteLowerFunc + `(email))`,
		`CREATE INDEX IF NOT EXISTS users_external_id ON users (external_id)`,
		`INSERT INTO users (username, given_name, family_name, display_name, email, department, plan)
		 SELECT 'ada.lovelace@example.com', 'Ada', 'Lovelace', 'Ada Lovelace', 'ada.lovelace@example.com', 'Engineering', 'enterprise'
		 WHERE NOT EXISTS (SELECT 1 FROM users)`,
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			return fmt.Errorf("demo store: %w", err)
		}
	}
	return nil
}

// announce makes sure the demo key exists and prints the lines an Okta
// admin pastes into "Configure API Integration".
func (e *embedded) announce(ctx context.Context, a *app, w io.Writer) error {
	keyPath := filepath.Join(e.dir, demoKeyFile)
	key := ""
	if b, err := os.ReadFile(keyPath); err == nil {
		key = strings.TrimSpace(string(b))
		if _, err := a.keys.Verify(ctx, demoTenant, key); err != nil {
			key = "" // revoked or from another data directory: make a new one
		}
	}
	if key == "" {
		_ = a.keys.Revoke(ctx, demoTenant, demoKeyName) // a stale demo key, if any
		plain, _, err := a.keys.Create(ctx, demoTenant, demoKeyName)
		if err != nil {
			return fmt.Errorf("demo key: %w", err)
		}
		if err := embeddedredis.WriteFileAtomic(keyPath, []byte(plain+"\n")); err != nil {
			return fmt.Errorf("demo key: %w", err)
		}
		key = plain
	}
	if err := embeddedredis.WriteFileAtomic(filepath.Join(e.dir, demoPublicURL), []byte(a.cfg.PublicURL+"\n")); err != nil {
		return fmt.Errorf("embedded default: %w", err)
	}
	slog.Warn("EMBEDDED DEFAULT: in-process Redis and a demo SQLite store under " + e.dir +
		"; for trying scimbridge out only, not for production (run with --config)")
	fmt.Fprintf(w, "\nscimbridge is running with the embedded default (data in %s).\n", e.dir)
	fmt.Fprintf(w, "Base URL: %s\n", baseURL(a.cfg.PublicURL, demoTenant))
	fmt.Fprintf(w, "API key: %s\n", key)
	if tok, err := a.cfg.Admin.token(); err == nil && tok != "" {
		fmt.Fprintf(w, "Console: %s/console (operator token: %s, kept in %s)\n", a.cfg.PublicURL, tok, filepath.Join(e.dir, demoAdminToken))
	}
	fmt.Fprintf(w, "Try: curl -H 'Authorization: Bearer %s' '%s/Users?startIndex=1&count=10'\n\n", key, baseURL(a.cfg.PublicURL, demoTenant))
	return nil
}

// embeddedAdminConfig connects an admin subcommand to the embedded default:
// the running server's Redis if there is one, else the snapshot.
func embeddedAdminConfig(dir string) (*Config, func(), error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, nil, err
	}
	if addr, err := embeddedredis.ReadAddr(abs); err == nil && embeddedredis.Answers(addr) {
		cfg, err := embeddedConfig(abs, addr)
		servedURL(abs, cfg)
		return cfg, func() {}, err
	}
	if _, err := os.Stat(filepath.Join(abs, embeddedredis.SnapshotFile)); err != nil {
		return nil, nil, fmt.Errorf("no configuration and no embedded data in %s: run `scimbridge serve` first, or pass --config", abs)
	}
	r, err := embeddedredis.Start(abs)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := embeddedConfig(abs, r.Addr())
	if err != nil {
		r.Close()
		return nil, nil, err
	}
	servedURL(abs, cfg)
	return cfg, func() { r.Close() }, nil
}

// servedURL gives an admin command the public_url the embedded server
// last served with (demoPublicURL), unless this command's own environment
// sets one.
func servedURL(dir string, cfg *Config) {
	if cfg == nil || os.Getenv("SCIMBRIDGE_PUBLIC_URL") != "" {
		return
	}
	if b, err := os.ReadFile(filepath.Join(dir, demoPublicURL)); err == nil {
		if u := strings.TrimSpace(string(b)); strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") {
			cfg.PublicURL = u
		}
	}
}
