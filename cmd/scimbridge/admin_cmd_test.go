package main

import (
	"github.com/scimbridge/scimbridge/internal/testsupport"

	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// writeAdminConfig writes a CLI configuration holding the tenant.
func writeAdminConfig(t *testing.T, redisAddr string, cfg *Config) string {
	t.Helper()
	type file struct {
		Redis   RedisConfig `yaml:"redis"`
		Log     any         `yaml:"log"`
		Tenants any         `yaml:"tenants"`
	}
	return writeConfigFile(t, file{Redis: RedisConfig{Addr: redisAddr, DB: e2eRedisDB},
		Log: map[string]string{"level": "warn"}, Tenants: cfg.Tenants})
}

// writeConfigFile writes v as a scimbridge.yaml of the test's own and
// returns its path.
func writeConfigFile(t *testing.T, v any) string {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "scimbridge.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestAdminCommands(t *testing.T) {
	redisAddr := testsupport.RedisDB(t, e2eRedisDB)
	ten, db := adminSQLiteTenant(t, "cli-acme")
	cfg := testConfig(t, redisAddr, ten)
	cfgPath := writeAdminConfig(t, redisAddr, cfg)
	ts := startTestServer(t, cfg, serverOptions{}) // the worker that runs import jobs

	run2 := func(args ...string) (string, string, error) {
		var out, errOut bytes.Buffer
		err := run(append(args, "--config", cfgPath), &out, &errOut)
		return out.String(), errOut.String(), err
	}
	runOK := func(args ...string) string {
		t.Helper()
		out, errOut, err := run2(args...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, errOut)
		}
		return out
	}
	runJSON := func(v any, args ...string) {
		t.Helper()
		out := runOK(append(args, "--json")...)
		if err := json.Unmarshal([]byte(out), v); err != nil {
			t.Fatalf("%v --json: %v\n%s", args, err, out)
		}
	}

	// Tenants.
	if out := runOK("tenant", "list"); !strings.Contains(out, "cli-acme") || !strings.Contains(out, "sqlite") {
		t.Fatalf("tenant list:\n%s", out)
	}
	other, _ := adminSQLiteTenant(t, "cli-globex")
	raw, _ := yaml.Marshal(other)
	tenantFile := filepath.Join(t.TempDir(), "tenant.yaml")
	if err := os.WriteFile(tenantFile, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if out := runOK("tenant", "create", "--file", tenantFile); !strings.Contains(out, "created tenant cli-globex") {
		t.Fatalf("tenant create: %s", out)
	}
	if _, _, err := run2("tenant", "create", "--file", tenantFile); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second create: %v", err)
	}
	runOK("tenant", "disable", "--tenant", "cli-globex")
	var shown struct {
		ID       string `json:"id"`
		Disabled bool   `json:"disabled"`
	}
	runJSON(&shown, "tenant", "show", "--tenant", "cli-globex")
	if shown.ID != "cli-globex" || !shown.Disabled {
		t.Fatalf("tenant show: %+v", shown)
	}
	runOK("tenant", "enable", "--tenant", "cli-globex")
	if out := runOK("tenant", "show", "--tenant", "cli-globex"); !strings.Contains(out, "disabled: false") {
		t.Fatalf("tenant show after enable:\n%s", out)
	}
	if _, _, err := run2("tenant", "show", "--tenant", "nope"); err == nil {
		t.Fatal("show of an unknown tenant succeeded")
	}
	if _, _, err := run2("status"); err == nil || !strings.Contains(err.Error(), "--tenant") {
		t.Fatalf("status without --tenant: %v", err)
	}

	// Preview.
	userFile := filepath.Join(t.TempDir(), "user.json")
	_ = os.WriteFile(userFile, []byte(`{"userName":"jane@example.com","name":{"givenName":"Jane"},"nickName":"JJ"}`), 0o600)
	out := runOK("preview", "--tenant", "cli-acme", "--file", userFile)
	if !strings.Contains(out, "username") || !strings.Contains(out, "jane@example.com") || !strings.Contains(out, "nickName") {
		t.Fatalf("preview:\n%s", out)
	}

	// Import with progress, then status.
	for _, un := range []string{"a@example.com", "b@example.com"} {
		if _, err := db.Exec(`INSERT INTO users (username, family_name) VALUES (?, 'Pre')`, un); err != nil {
			t.Fatal(err)
		}
	}
	out, progress, err := run2("import", "--tenant", "cli-acme")
	if err != nil || !strings.Contains(out, "done; 2 store entries seen, 2 users adopted") || !strings.Contains(progress, "import job") {
		t.Fatalf("import: %v\nstdout:\n%s\nstderr:\n%s", err, out, progress)
	}
	if out := runOK("status", "--tenant", "cli-acme"); !strings.Contains(out, "users:  2 (0 pending, 0 failed)") {
		t.Fatalf("status:\n%s", out)
	}
	var page struct {
		Total     int `json:"total"`
		Resources []struct {
			ID, Name, State string
		} `json:"resources"`
	}
	runJSON(&page, "status", "--tenant", "cli-acme", "--state", "all")
	if page.Total != 2 || page.Resources[0].State != "applied" || page.Resources[0].Name != "a@example.com" {
		t.Fatalf("status --state all: %+v", page)
	}

	// Drift: an edited row, reported then repaired.
	if _, err := db.Exec(`UPDATE users SET family_name = 'Edited' WHERE username = 'b@example.com'`); err != nil {
		t.Fatal(err)
	}
	out = runOK("drift", "--tenant", "cli-acme")
	if !strings.Contains(out, "1 differing, 0 missing") || !strings.Contains(out, `family_name: "Pre" → "Edited"`) {
		t.Fatalf("drift:\n%s", out)
	}
	var job struct {
		State  string `json:"state"`
		Report struct {
			Repaired int `json:"repaired"`
		} `json:"report"`
	}
	runJSON(&job, "drift", "--tenant", "cli-acme", "--repair")
	if job.State != "done" || job.Report.Repaired != 1 {
		t.Fatalf("drift --repair: %+v", job)
	}
	waitApplied(t, ts.app, "cli-acme", page.Resources[1].ID)
	var family string
	if err := db.QueryRow(`SELECT family_name FROM users WHERE username = 'b@example.com'`).Scan(&family); err != nil || family != "Pre" {
		t.Fatalf("repaired row: %q %v", family, err)
	}

	// Replay with nothing failed.
	if out := runOK("replay", "--tenant", "cli-acme"); !strings.Contains(out, "0 failed user(s)") {
		t.Fatalf("replay: %s", out)
	}
	if _, _, err := run2("job", "--id", "cli-acme.0123456789abcdef"); err == nil {
		t.Fatal("job with an unknown id succeeded")
	}
}
