package main

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The README's configuration reference is the settings table: a key added
// to the table (or a default changed) without the README fails here, and
// the message carries the rows to paste.
func TestREADMEConfigReference(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const start, end = "<!-- settings table: generated from cmd/scimbridge/settings.go -->\n", "<!-- end of settings table -->"
	readme := string(b)
	i, j := strings.Index(readme, start), strings.Index(readme, end)
	if i < 0 || j < i {
		t.Fatalf("README.md has no settings table between %q and %q", start, end)
	}
	if got, want := readme[i+len(start):j], referenceTable(); got != want {
		t.Errorf("README.md's configuration reference differs from settings.go; replace it with:\n%s", want)
	}
}

// Every row names a YAML key the Config really has, so the table cannot
// describe a setting that does not exist.
func TestSettingsNameRealKeys(t *testing.T) {
	keys := yamlKeys(reflect.TypeOf(Config{}), "")
	for _, s := range settings {
		for _, k := range strings.Split(s.key, "`, `") {
			if !keys[strings.TrimSuffix(k, "[]")] {
				t.Errorf("settings row %q: no such key in Config", k)
			}
		}
	}
}

func yamlKeys(t reflect.Type, prefix string) map[string]bool {
	out := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		key := prefix + name
		out[key] = true
		ft := f.Type
		if ft.Kind() == reflect.Struct && ft != reflect.TypeOf(time.Duration(0)) {
			for k := range yamlKeys(ft, key+".") {
				out[k] = true
			}
		}
	}
	return out
}

// An empty file gets the table's defaults, and the environment wins over
// the file.
func TestSettingsDefaultsAndEnvironment(t *testing.T) {
	var c Config
	c.applyDefaults()
	if c.Listen != ":8080" || c.PublicURL != "http://127.0.0.1:8080" || c.Worker.StoreTimeout != 30*time.Second ||
		c.Worker.LeaseTTL != 45*time.Second || c.Worker.MaxRetry != 20 || c.Worker.TaskTimeout != 2*time.Minute || c.Worker.SlotWait != 2*time.Second ||
		c.Sweeper.Interval != 30*time.Second || c.Sweeper.Grace != time.Minute ||
		c.API.StoreLookupTimeout != 10*time.Second || c.API.ImportInterval != 30*time.Second ||
		c.API.RateLimit.PerTenantRPS != 500 || c.API.RateLimit.Burst != 1000 || c.Worker.Coalesce == nil || !*c.Worker.Coalesce {
		t.Errorf("defaults: %+v", c)
	}

	t.Setenv("SCIMBRIDGE_WORKER_STORE_TIMEOUT", "5s")
	t.Setenv("SCIMBRIDGE_API_RATE_LIMIT_PER_TENANT_RPS", "-1")
	t.Setenv("SCIMBRIDGE_LISTEN", "127.0.0.1:9999")
	c = Config{Listen: ":7000"}
	if err := c.applyEnv(); err != nil {
		t.Fatal(err)
	}
	c.applyDefaults()
	if c.Listen != "127.0.0.1:9999" || c.PublicURL != "http://127.0.0.1:9999" || c.Worker.StoreTimeout != 5*time.Second ||
		c.Worker.LeaseTTL != 20*time.Second || c.API.RateLimit.PerTenantRPS != -1 {
		t.Errorf("environment: %+v", c)
	}

	t.Setenv("SCIMBRIDGE_WORKER_MAX_RETRY", "many")
	if err := (&Config{}).applyEnv(); err == nil || !strings.Contains(err.Error(), "SCIMBRIDGE_WORKER_MAX_RETRY (worker.max_retry)") {
		t.Errorf("a bad value: %v, want an error naming the variable and the key", err)
	}
}

// webhooks.tenant_concurrency defaults to 4 and stays below
// webhooks.concurrency (lowered to it minus 1, at least 1), from the file
// or the environment.
func TestWebhookTenantConcurrencyBelowConcurrency(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		concurrency, tenantCap int
		env                    string
		want                   int
	}{
		{"defaults", 0, 0, "", 4},
		{"set below", 16, 8, "", 8},
		{"set equal", 16, 16, "", 15},
		{"set above", 8, 50, "", 7},
		{"default above a small concurrency", 3, 0, "", 2},
		{"concurrency 1", 1, 0, "", 1},
		{"from the environment, above", 6, 0, "9", 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("SCIMBRIDGE_WEBHOOKS_TENANT_CONCURRENCY", tc.env)
			var c Config
			c.Webhooks.Concurrency, c.Webhooks.TenantConcurrency = tc.concurrency, tc.tenantCap
			if tc.env != "" {
				if err := c.applyEnv(); err != nil {
					t.Fatal(err)
				}
			}
			c.applyDefaults()
			if c.Webhooks.TenantConcurrency != tc.want {
				t.Fatalf("webhooks.tenant_concurrency %d (webhooks.concurrency %d), want %d", c.Webhooks.TenantConcurrency, c.Webhooks.Concurrency, tc.want)
			}
		})
	}
}

// referenceTable renders the table as the README's configuration
// reference (Markdown).
func referenceTable() string {
	var b strings.Builder
	b.WriteString("| key | environment override | default | meaning |\n|---|---|---|---|\n")
	for _, s := range settings {
		env := "-"
		if s.env != "" {
			env = "`" + s.env + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", s.key, env, s.def, s.meaning)
	}
	return b.String()
}

// --set sets any key of the table over the file and the environment,
// before the defaults (so a derived default follows it); a key that is not
// in the table, or a value that does not parse, is refused by name.
func TestSettingsSetOnTheCommandLine(t *testing.T) {
	t.Setenv("SCIMBRIDGE_API_RATE_LIMIT_PER_TENANT_RPS", "50")
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(path, []byte("listen: \"127.0.0.1:7001\"\nworker: {concurrency: 4}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig(path, "api.rate_limit.per_tenant_rps=2000", "worker.store_timeout=5s", "listen=127.0.0.1:7002",
		"stores.allowed_networks=10.0.0.0/8, 127.0.0.1", "api.tls.min_version=1.3")
	if err != nil {
		t.Fatal(err)
	}
	if c.API.RateLimit.PerTenantRPS != 2000 || c.API.RateLimit.Burst != 4000 || c.Worker.StoreTimeout != 5*time.Second ||
		c.Worker.LeaseTTL != 20*time.Second || c.Listen != "127.0.0.1:7002" || c.PublicURL != "http://127.0.0.1:7002" ||
		c.Worker.Concurrency != 4 || len(c.Stores.AllowedNetworks) != 2 || c.API.TLS.MinVersion != "1.3" {
		t.Errorf("--set over file and environment: %+v", c)
	}
	for set, want := range map[string]string{
		"nokey":                       "want key=value",
		"api.rate_limit.per_tenant=1": "api.rate_limit.per_tenant: unknown setting",
		"worker.max_retry=many":       "--set worker.max_retry",
		"tenants[]=x":                 "not settable on the command line",
	} {
		if _, err := loadConfig("", set); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--set %s: %v, want an error with %q", set, err, want)
		}
	}
}

// Every row of the table but the lists of tenants and webhook endpoints
// can be set without a file: by --set, and by an environment variable.
func TestSettingsAllSettableWithoutAFile(t *testing.T) {
	for _, s := range settings {
		if s.key == "tenants[]" || s.key == "webhooks.endpoints[]" {
			continue
		}
		if s.fromEnv == nil || s.env == "" {
			t.Errorf("%s: no parser or no environment variable (--set %v, env %q)", s.key, s.fromEnv != nil, s.env)
		}
	}
}

// The embedded default has no per-tenant rate limit unless one is set, by
// --set or by the environment; any other setting is taken as given.
func TestEmbeddedConfigRateLimitAndSets(t *testing.T) {
	dir := t.TempDir()
	c, err := embeddedConfig(dir, "127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	if c.API.RateLimit.PerTenantRPS >= 0 {
		t.Errorf("embedded default per_tenant_rps = %g, want none (negative)", c.API.RateLimit.PerTenantRPS)
	}
	c, err = embeddedConfig(dir, "127.0.0.1:1", "api.rate_limit.per_tenant_rps=250", "worker.concurrency=3", "redis.addr=10.0.0.1:6379")
	if err != nil {
		t.Fatal(err)
	}
	if c.API.RateLimit.PerTenantRPS != 250 || c.API.RateLimit.Burst != 500 || c.Worker.Concurrency != 3 || c.Redis.Addr != "127.0.0.1:1" {
		t.Errorf("embedded default with --set: rps %g burst %d concurrency %d redis %s", c.API.RateLimit.PerTenantRPS,
			c.API.RateLimit.Burst, c.Worker.Concurrency, c.Redis.Addr)
	}
	t.Setenv("SCIMBRIDGE_API_RATE_LIMIT_PER_TENANT_RPS", "40")
	if c, err = embeddedConfig(dir, "127.0.0.1:1"); err != nil || c.API.RateLimit.PerTenantRPS != 40 {
		t.Errorf("embedded default with the environment: %v, %v", c, err)
	}
	if _, err := embeddedConfig(dir, "127.0.0.1:1", "nope=1"); err == nil {
		t.Error("an unknown --set key was accepted")
	}
}
