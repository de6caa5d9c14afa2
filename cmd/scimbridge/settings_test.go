package main

import (
	"fmt"
	"os"
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
