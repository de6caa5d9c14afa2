package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/internal/testsupport"
	"github.com/scimbridge/scimbridge/tenants"
)

// writeConfig writes a configuration file for the CLI with one SQLite tenant.
func writeConfig(t *testing.T, redisAddr string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "scimbridge.yaml")
	cfg := `listen: 127.0.0.1:0
public_url: https://scim.example.com
redis:
  addr: ` + redisAddr + `
  db: 9
log:
  level: warn
tenants:
  - id: cli-tenant
    name: CLI tenant
    store:
      kind: sqlite
      dsn: ` + filepath.Join(dir, "store.db") + `
      users:
        table: users
        key: id
        attributes:
          userName: username
        on_delete: delete
`
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestKeyCommands(t *testing.T) {
	cfgPath := writeConfig(t, testsupport.RedisDB(t, e2eRedisDB))
	runOK := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := run(args, &out, &errOut); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, errOut.String())
		}
		return out.String()
	}

	// Human output: the Base URL and the key, once.
	human := runOK("key", "create", "--config", cfgPath, "--tenant", "cli-tenant", "--name", "okta-prod")
	if !strings.Contains(human, "Base URL: https://scim.example.com/scim/cli-tenant/v2\n") || !strings.Contains(human, "API key:  scb_") {
		t.Fatalf("key create output:\n%s", human)
	}
	// JSON for scripts.
	var created struct {
		ID, Name, Prefix, BaseURL, APIKey string
	}
	raw := runOK("key", "create", "--config", cfgPath, "--tenant", "cli-tenant", "--name", "entra", "--json")
	if err := json.Unmarshal([]byte(strings.ReplaceAll(strings.ReplaceAll(raw, "base_url", "baseurl"), "api_key", "apikey")), &created); err != nil {
		t.Fatalf("key create --json: %v: %s", err, raw)
	}
	if !strings.HasPrefix(created.APIKey, "scb_") || created.BaseURL != "https://scim.example.com/scim/cli-tenant/v2" || created.Name != "entra" {
		t.Fatalf("key create --json: %+v", created)
	}

	// The key works, and list shows both keys without their secrets.
	a := appOfConfig(t, cfgPath)
	defer a.close()
	if _, err := a.keys.Verify(context.Background(), "cli-tenant", created.APIKey); err != nil {
		t.Fatalf("created key does not verify: %v", err)
	}
	list := runOK("key", "list", "--config", cfgPath, "--tenant", "cli-tenant")
	if !strings.Contains(list, "okta-prod") || !strings.Contains(list, "entra") || strings.Contains(list, created.APIKey) {
		t.Fatalf("key list:\n%s", list)
	}
	var listed []tenants.Key
	if err := json.Unmarshal([]byte(runOK("key", "list", "--config", cfgPath, "--tenant", "cli-tenant", "--json")), &listed); err != nil || len(listed) != 2 {
		t.Fatalf("key list --json: %v %+v", err, listed)
	}

	// Revocation takes effect at once.
	runOK("key", "revoke", "--config", cfgPath, "--tenant", "cli-tenant", "--key", "entra")
	if _, err := a.keys.Verify(context.Background(), "cli-tenant", created.APIKey); !errors.Is(err, tenants.ErrUnauthorized) {
		t.Fatalf("revoked key: %v", err)
	}

	// Mistakes are reported, not ignored.
	var out, errOut bytes.Buffer
	if err := run([]string{"key", "create", "--config", cfgPath, "--tenant", "nope", "--name", "x"}, &out, &errOut); err == nil {
		t.Fatal("key create for an unknown tenant succeeded")
	}
	if err := run([]string{"key", "create", "--config", cfgPath, "--tenant", "cli-tenant"}, &out, &errOut); err == nil {
		t.Fatal("key create without --name succeeded")
	}
}

func TestConfigReportsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yaml")
	bad := `listen: nowhere
public_url: ftp://x
log:
  level: loud
tenants:
  - id: "Bad Tenant!"
    store:
      kind: postgres
      dsn: "postgres://u:hunter2@db/x"
      users:
        table: "users; drop table x"
        attributes: {}
  - id: other
    store:
      kind: oracle
      dsn: "x"
      users:
        attributes: {userName: login}
`
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := loadConfig(path)
	if err == nil {
		t.Fatal("bad configuration accepted")
	}
	msg := err.Error()
	for _, want := range []string{"listen", "public_url", "log.level", "tenants[0]", "tenants[1]", "oracle", "users; drop table x"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the error does not mention %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "hunter2") {
		t.Errorf("the error repeats the DSN password:\n%s", msg)
	}
	// Unknown keys are typos, not silently ignored.
	if err := os.WriteFile(path, []byte("listn: :8080\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadConfig(path); err == nil || !strings.Contains(err.Error(), "listn") {
		t.Fatalf("unknown key: %v", err)
	}
}

// TestExampleConfigsLoad keeps the documented examples valid.
func TestExampleConfigsLoad(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "configs", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no example configs: %v", err)
	}
	key := filepath.Join(t.TempDir(), "secret.key")
	if err := os.WriteFile(key, []byte(strings.Repeat("ab", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SCIMBRIDGE_SECRET_KEY_FILE", key)
	t.Setenv("SCIMBRIDGE_REDIS_PASSWORD", "example")
	for _, f := range files {
		cfg, err := loadConfig(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if len(cfg.Tenants) == 0 {
			t.Errorf("%s: no tenant", f)
		}
	}
}

// appOfConfig is the app of the configuration file at path, as the CLI
// commands the test ran see it (the caller closes it).
func appOfConfig(t *testing.T, path string) *app {
	t.Helper()
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	a, err := newApp(context.Background(), cfg, newLogger("error", "text"))
	if err != nil {
		t.Fatal(err)
	}
	return a
}
