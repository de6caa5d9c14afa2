package main

// Admin API tests against a real server (real Redis db 9, a real SQLite
// store); like the other e2e tests they run one after another.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/api/admin"
	"github.com/scimbridge/scimbridge/internal/testsupport"
	syncsvc "github.com/scimbridge/scimbridge/sync"
	"github.com/scimbridge/scimbridge/tenants"
)

const testAdminToken = "operator-token-for-tests-0123456789"

// adminSQLiteTenant creates a customer's SQLite users table and returns the
// tenant and a connection for checks.
func adminSQLiteTenant(t testing.TB, id string) (tenants.Tenant, *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), id+".db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, s := range []string{
		`PRAGMA journal_mode = WAL`,
		`CREATE TABLE users (
			id INTEGER PRIMARY KEY AUTOINCREMENT,
			username TEXT NOT NULL,
			given_name TEXT, family_name TEXT, email TEXT,
			active INTEGER NOT NULL DEFAULT 1,
			plan TEXT NOT NULL DEFAULT 'free')`,
	} {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	return tenants.Tenant{ID: id, Name: "Admin " + id, Store: adapters.Config{Kind: "sqlite", DSN: path,
		Users: adapters.UserMapping{Table: "users", Key: "id",
			Attributes: map[string]string{"userName": "username", "name.givenName": "given_name",
				"name.familyName": "family_name", `emails[type eq "work"].value`: "email"},
			Active:   &adapters.ActiveMapping{Column: "active", Active: "1", Inactive: "0"},
			OnDelete: "deactivate",
		}}}, db
}

// withAdminToken writes the operator token to a file the config names.
func withAdminToken(t *testing.T, cfg *Config) *Config {
	t.Helper()
	cfg.Admin.TokenFile = filepath.Join(t.TempDir(), "admin-token")
	if err := os.WriteFile(cfg.Admin.TokenFile, []byte(testAdminToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// adminClient speaks JSON to the admin API.
type adminClient struct {
	t     *testing.T
	base  string
	token string
}

func (c *adminClient) do(method, path string, body any) (int, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &out); err != nil {
			c.t.Fatalf("%s %s: %d, not JSON: %s", method, path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, out
}

// ok does the request and fails the test unless the status is want.
func (c *adminClient) ok(want int, method, path string, body any) map[string]any {
	c.t.Helper()
	status, out := c.do(method, path, body)
	if status != want {
		c.t.Fatalf("%s %s: %d %v, want %d", method, path, status, out, want)
	}
	return out
}

// waitJob polls a job until it is done.
func (c *adminClient) waitJob(id string) map[string]any {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		j := c.ok(200, "GET", "/admin/v1/jobs/"+id, nil)
		if j["done"] == true {
			return j
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("job %s not done: %v", id, j)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitState polls a user's sync state until it is want.
func waitState(t *testing.T, a *app, tenant, id, want string) *syncsvc.ResourceStatus {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := a.operator().Status(context.Background(), tenant, "User", id)
		if err == nil && st.State == want {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("user %s not %s: %+v %v", id, want, st, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAdminAPI(t *testing.T) { testAdminAPI(t, e2eTopology(t)) }

func testAdminAPI(t *testing.T, topo testsupport.RedisTopology) {
	ten, db := adminSQLiteTenant(t, "adm-acme")
	ts := startTestServer(t, withAdminToken(t, testConfigOn(t, topo, ten)), serverOptions{})
	c := &adminClient{t: t, base: ts.url, token: testAdminToken}

	// Operator auth: no token, a wrong token.
	for _, tok := range []string{"", "wrong-token-wrong-token-wrong"} {
		anon := &adminClient{t: t, base: ts.url, token: tok}
		if status, _ := anon.do("GET", "/admin/v1/tenants", nil); status != 401 {
			t.Fatalf("token %q: %d, want 401", tok, status)
		}
	}

	// Tenants: list, create, duplicate, invalid, show, update, disable, enable.
	list := c.ok(200, "GET", "/admin/v1/tenants", nil)
	if ts := list["tenants"].([]any); len(ts) != 1 || ts[0].(map[string]any)["id"] != "adm-acme" {
		t.Fatalf("tenants: %v", list)
	}
	other, _ := adminSQLiteTenant(t, "adm-globex")
	created := c.ok(201, "POST", "/admin/v1/tenants", other)
	if created["id"] != "adm-globex" || created["created"] == nil {
		t.Fatalf("created: %v", created)
	}
	c.ok(409, "POST", "/admin/v1/tenants", other)
	bad := c.ok(400, "POST", "/admin/v1/tenants", map[string]any{"id": "Bad Id!", "store": map[string]any{"kind": "oracle"}})
	if msg := bad["error"].(string); !strings.Contains(msg, "tenant id") || !strings.Contains(msg, "oracle") {
		t.Fatalf("invalid tenant: %v", bad)
	}
	c.ok(404, "GET", "/admin/v1/tenants/nope", nil)
	other.Name = "Globex Corporation"
	other.ID = ""
	if got := c.ok(200, "PUT", "/admin/v1/tenants/adm-globex", other); got["name"] != "Globex Corporation" {
		t.Fatalf("updated: %v", got)
	}
	if got := c.ok(200, "POST", "/admin/v1/tenants/adm-globex/disable", nil); got["disabled"] != true {
		t.Fatalf("disabled: %v", got)
	}
	if got := c.ok(200, "GET", "/admin/v1/tenants/adm-globex", nil); got["disabled"] != true || got["name"] != "Globex Corporation" {
		t.Fatalf("show: %v", got)
	}
	c.ok(200, "POST", "/admin/v1/tenants/adm-globex/enable", nil)

	// Keys: created (shown once, with the Base URL), listed without the
	// secret, usable at once, revoked at once.
	key := c.ok(201, "POST", "/admin/v1/tenants/adm-acme/keys", map[string]any{"name": "okta"})
	plain, _ := key["api_key"].(string)
	if !strings.HasPrefix(plain, "scb_") || key["base_url"] != ts.url+"/scim/adm-acme/v2" || key["name"] != "okta" {
		t.Fatalf("new key: %v", key)
	}
	scimc := &scimClient{t: t, base: ts.url + "/scim/adm-acme/v2", auth: "Bearer " + plain}
	if status, _ := scimc.do("GET", "/Users?count=1", nil); status != 200 {
		t.Fatalf("the new key does not work: %d", status)
	}
	keys := c.ok(200, "GET", "/admin/v1/tenants/adm-acme/keys", nil)
	if raw, _ := json.Marshal(keys); len(keys["keys"].([]any)) != 1 || strings.Contains(string(raw), plain) {
		t.Fatalf("keys: %s", raw)
	}
	c.ok(404, "DELETE", "/admin/v1/tenants/adm-globex/keys/"+key["id"].(string), nil) // another tenant's key
	c.ok(204, "DELETE", "/admin/v1/tenants/adm-acme/keys/"+key["id"].(string), nil)
	if status, _ := scimc.do("GET", "/Users?count=1", nil); status != 401 {
		t.Fatalf("revoked key: %d, want 401", status)
	}
	scimc.auth = "Bearer " + newKey(t, ts.app, "adm-acme")

	// Sync state of each user.
	status, u := scimc.do("POST", "/Users", map[string]any{"userName": "jane@example.com",
		"name": map[string]any{"givenName": "Jane", "familyName": "Doe"}})
	if status != 201 {
		t.Fatalf("create: %d %v", status, u)
	}
	jane := u["id"].(string)
	waitApplied(t, ts.app, "adm-acme", jane)
	all := c.ok(200, "GET", "/admin/v1/tenants/adm-acme/users?state=all", nil)
	if all["total"].(float64) < 1 {
		t.Fatalf("users: %v", all)
	}
	one := c.ok(200, "GET", "/admin/v1/tenants/adm-acme/users/"+jane, nil)
	if one["state"] != "applied" || one["name"] != "jane@example.com" || one["version"].(float64) != 1 || one["applied_version"].(float64) != 1 {
		t.Fatalf("user state: %v", one)
	}
	c.ok(404, "GET", "/admin/v1/tenants/adm-globex/users/"+jane, nil) // isolation
	c.ok(400, "GET", "/admin/v1/tenants/adm-acme/users?state=weird", nil)

	// A user the store rejects: failed with the store's reason, replayed
	// once the customer fixed the table.
	if _, err := db.Exec(`CREATE TRIGGER refuse_bob BEFORE INSERT ON users WHEN NEW.username = 'bob@example.com'
		BEGIN SELECT RAISE(ABORT, 'bob is not welcome'); END`); err != nil {
		t.Fatal(err)
	}
	_, u = scimc.do("POST", "/Users", map[string]any{"userName": "bob@example.com"})
	bob := u["id"].(string)
	waitState(t, ts.app, "adm-acme", bob, syncsvc.StateFailed)
	failed := c.ok(200, "GET", "/admin/v1/tenants/adm-acme/users?state=failed", nil)
	rows := failed["resources"].([]any)
	if failed["total"].(float64) != 1 || rows[0].(map[string]any)["id"] != bob ||
		!strings.Contains(rows[0].(map[string]any)["failure"].(string), "bob is not welcome") {
		t.Fatalf("failed users: %v", failed)
	}
	if _, err := db.Exec(`DROP TRIGGER refuse_bob`); err != nil {
		t.Fatal(err)
	}
	if got := c.ok(200, "POST", "/admin/v1/tenants/adm-acme/replay", nil); got["users"].(float64) != 1 {
		t.Fatalf("replay: %v", got)
	}
	waitState(t, ts.app, "adm-acme", bob, syncsvc.StateApplied)
	if got := c.ok(200, "GET", "/admin/v1/tenants/adm-acme/users?state=failed", nil); got["total"].(float64) != 0 {
		t.Fatalf("failed after replay: %v", got)
	}

	// Preview: the row a SCIM user would become; nothing written.
	var before int
	_ = db.QueryRow(`SELECT count(*) FROM users`).Scan(&before)
	p := c.ok(200, "POST", "/admin/v1/tenants/adm-acme/preview", `{"userName":"new@example.com","name":{"givenName":"New"},"nickName":"N"}`)
	fields := p["fields"].(map[string]any)
	if fields["username"] != "new@example.com" || fields["given_name"] != "New" || fields["active"] != "1" || p["table"] != "users" {
		t.Fatalf("preview: %v", p)
	}
	c.ok(400, "POST", "/admin/v1/tenants/adm-acme/preview", `{"name":{}}`)
	var after int
	_ = db.QueryRow(`SELECT count(*) FROM users`).Scan(&after)
	if after != before {
		t.Fatal("a preview wrote to the store")
	}

	// Full import: a background job with progress.
	for _, un := range []string{"pre1@example.com", "pre2@example.com"} {
		if _, err := db.Exec(`INSERT INTO users (username) VALUES (?)`, un); err != nil {
			t.Fatal(err)
		}
	}
	status, job := c.do("POST", "/admin/v1/tenants/adm-acme/import", nil)
	if status != 202 || job["state"] != "queued" || job["kind"] != "import" {
		t.Fatalf("import: %d %v", status, job)
	}
	job = c.waitJob(job["id"].(string))
	if job["state"] != "done" || job["adopted"].(float64) != 2 || job["seen"].(float64) != 4 {
		t.Fatalf("import job: %v", job)
	}
	c.ok(404, "GET", "/admin/v1/jobs/adm-acme.0000000000000000", nil)

	// Drift: an edited row is reported, then repaired.
	r, _ := ts.app.ledger.GetUser(context.Background(), "adm-acme", jane)
	if _, err := db.Exec(`UPDATE users SET family_name = 'Edited' WHERE id = ?`, r.Anchor); err != nil {
		t.Fatal(err)
	}
	drift := c.ok(200, "POST", "/admin/v1/tenants/adm-acme/drift", nil)
	rep := drift["report"].(map[string]any)
	if drift["state"] != "done" || rep["field_drifts"].(float64) != 1 || rep["missing"].(float64) != 0 || rep["unknown"].(float64) != 0 {
		t.Fatalf("drift: %v", drift)
	}
	drift = c.ok(200, "POST", "/admin/v1/tenants/adm-acme/drift?repair=true", nil)
	if drift["report"].(map[string]any)["repaired"].(float64) != 1 {
		t.Fatalf("repair: %v", drift)
	}
	waitApplied(t, ts.app, "adm-acme", jane)
	var family string
	if err := db.QueryRow(`SELECT family_name FROM users WHERE id = ?`, r.Anchor).Scan(&family); err != nil || family != "Doe" {
		t.Fatalf("repaired row: %q %v", family, err)
	}
	c.ok(400, "POST", "/admin/v1/tenants/adm-acme/drift?repair=maybe", nil)

	sum := c.ok(200, "GET", "/admin/v1/tenants/adm-acme/summary", nil)
	if sum["users"].(float64) != 4 || sum["failed_users"].(float64) != 0 {
		t.Fatalf("summary: %v", sum)
	}
}

func TestAdminOffWithoutToken(t *testing.T) {
	redisAddr := testsupport.RedisDB(t, e2eRedisDB)
	ten, _ := adminSQLiteTenant(t, "adm-acme")
	ts := startTestServer(t, testConfig(t, redisAddr, ten), serverOptions{})
	c := &adminClient{t: t, base: ts.url, token: testAdminToken}
	for _, p := range []string{"/admin/v1/tenants", "/console", "/console/login"} {
		if status, _ := c.do("GET", p, nil); status != 404 {
			t.Errorf("GET %s without an admin token configured: %d, want 404", p, status)
		}
	}
}

func TestAdminTokenConfig(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	_ = os.WriteFile(short, []byte("abc\n"), 0o600)
	good := filepath.Join(dir, "good")
	_ = os.WriteFile(good, []byte(testAdminToken+"\n"), 0o600)
	t.Setenv("SCIMBRIDGE_TEST_ADMIN_TOKEN", testAdminToken)
	for _, tc := range []struct {
		name    string
		cfg     AdminConfig
		want    string
		problem string
	}{
		{"none", AdminConfig{}, "", ""},
		{"file", AdminConfig{TokenFile: good}, testAdminToken, ""},
		{"env", AdminConfig{TokenEnv: "SCIMBRIDGE_TEST_ADMIN_TOKEN"}, testAdminToken, ""},
		{"both", AdminConfig{TokenEnv: "SCIMBRIDGE_TEST_ADMIN_TOKEN", TokenFile: good}, "", "not both"},
		{"empty env", AdminConfig{TokenEnv: "SCIMBRIDGE_TEST_UNSET_VARIABLE"}, "", "is empty"},
		{"missing file", AdminConfig{TokenFile: filepath.Join(dir, "nope")}, "", "token_file"},
		{"short", AdminConfig{TokenFile: short}, "", "at least 20"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := tc.cfg.token()
			if tc.problem != "" {
				if err == nil || !strings.Contains(err.Error(), tc.problem) || len(tc.cfg.validate()) != 1 {
					t.Fatalf("err = %v, want one mentioning %q", err, tc.problem)
				}
				if strings.Contains(err.Error(), "abc") {
					t.Fatalf("the error repeats the token: %v", err)
				}
				return
			}
			if err != nil || tok != tc.want {
				t.Fatalf("token() = %q, %v", tok, err)
			}
		})
	}
}

// TestConsoleSession checks the console's cookie and CSRF protection
// with plain HTTP (the browser flow is TestConsoleInChromium).
func TestConsoleSession(t *testing.T) {
	redisAddr := testsupport.RedisDB(t, e2eRedisDB)
	ten, _ := adminSQLiteTenant(t, "adm-acme")
	ts := startTestServer(t, withAdminToken(t, testConfig(t, redisAddr, ten)), serverOptions{})
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	resp, err := noRedirect.Get(ts.url + "/console")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/console/login" {
		t.Fatalf("console without a session: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	// The login form's own CSRF token (a cookie and a hidden field).
	resp, err = noRedirect.Get(ts.url + "/console/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var loginCk *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == admin.LoginCookieName {
			loginCk = ck
		}
	}
	if loginCk == nil || !strings.Contains(string(page), `value="`+loginCk.Value+`"`) {
		t.Fatalf("login form: %v\n%s", resp.Cookies(), page)
	}
	login := func(token, csrf string) *http.Response {
		req, _ := http.NewRequest("POST", ts.url+"/console/login", strings.NewReader(url.Values{"token": {token}, "csrf": {csrf}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(loginCk)
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := login(testAdminToken, "forged"); resp.StatusCode != 403 {
		t.Fatalf("login with a forged CSRF token: %d", resp.StatusCode)
	}
	if resp := login("not-the-token-not-the-token", loginCk.Value); resp.StatusCode != 401 {
		t.Fatalf("login with a wrong token: %d", resp.StatusCode)
	}
	resp = login(testAdminToken, loginCk.Value)
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == admin.SessionCookieName && ck.MaxAge > 0 {
			session = ck
		}
	}
	if resp.StatusCode != 303 || session == nil {
		t.Fatalf("login: %d %v", resp.StatusCode, resp.Cookies())
	}
	if !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Secure ||
		strings.Contains(session.Value, testAdminToken) {
		t.Fatalf("session cookie: %+v", session)
	}

	// Forms need the session's CSRF token.
	post := func(path string, form url.Values, ck *http.Cookie) int {
		req, _ := http.NewRequest("POST", ts.url+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if ck != nil {
			req.AddCookie(ck)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := post("/console/tenants/adm-acme/keys", url.Values{"name": {"x"}}, session); s != 403 {
		t.Fatalf("key form without CSRF token: %d", s)
	}
	if s := post("/console/tenants/adm-acme/keys", url.Values{"name": {"x"}, "csrf": {"forged"}}, session); s != 403 {
		t.Fatalf("key form with a forged CSRF token: %d", s)
	}
	tampered := *session
	tampered.Value = strings.Replace(session.Value, "v1.", "v1.0", 1)
	if s := post("/console/tenants/adm-acme/keys", url.Values{"name": {"x"}}, &tampered); s != 403 {
		t.Fatalf("tampered session: %d", s)
	}
	keys, err := ts.app.keys.List(context.Background(), "adm-acme")
	if err != nil || len(keys) != 0 {
		t.Fatalf("a rejected form created a key: %v %v", keys, err)
	}
}
