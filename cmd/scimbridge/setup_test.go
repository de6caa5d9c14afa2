package main

// The customer's setup page over plain HTTP: the link is exchanged for a
// session and leaves the URL; expired, tampered, revoked and other-tenant
// links are refused with a page saying what to do; forms need the
// session's CSRF token; wrong links count with wrong operator tokens.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/api/admin"
	"github.com/scimbridge/scimbridge/api/setup"
	"github.com/scimbridge/scimbridge/internal/testsupport"
	"github.com/scimbridge/scimbridge/tenants"
)

// browserish is an HTTP client with cookies that does not follow
// redirects (so each step's answer is seen).
func browserish(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func setupGet(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// createSetupLink makes a link through the admin API and returns its URL
// and id.
func createSetupLink(t *testing.T, ts *testServer, tenant string, body any) (string, string) {
	t.Helper()
	ac := &adminClient{t: t, base: ts.url, token: testAdminToken}
	out := ac.ok(http.StatusCreated, "POST", "/admin/v1/tenants/"+tenant+"/setup-links", body)
	u, _ := out["url"].(string)
	id, _ := out["id"].(string)
	if !strings.HasPrefix(u, ts.url+"/setup/"+tenant+"/open/scbl_") || id == "" {
		t.Fatalf("setup link answer: %v", out)
	}
	return u, id
}

func TestSetupLinksRefused(t *testing.T) {
	redisAddr := testsupport.RedisDB(t, e2eRedisDB)
	acme, _ := adminSQLiteTenant(t, "setup-acme")
	other, _ := adminSQLiteTenant(t, "setup-other")
	cfg := withAdminToken(t, testConfig(t, redisAddr, acme, other))
	ts := startTestServer(t, cfg, serverOptions{})
	ctx := context.Background()

	link, linkID := createSetupLink(t, ts, "setup-acme", map[string]any{"ttl": "1h", "idp": "okta"})
	token := link[strings.LastIndex(link, "/")+1:]

	// Opening it: a session cookie, and a redirect that drops the token.
	c := browserish(t)
	resp, _ := setupGet(t, c, link)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/setup/setup-acme/?idp=okta" {
		t.Fatalf("open: %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if rp := resp.Header.Get("Referrer-Policy"); rp != "no-referrer" {
		t.Fatalf("Referrer-Policy %q", rp)
	}
	var sessionCookie *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == setup.CookieName {
			sessionCookie = ck
		}
	}
	if sessionCookie == nil || !sessionCookie.HttpOnly || sessionCookie.Path != "/setup/setup-acme/" ||
		sessionCookie.SameSite != http.SameSiteLaxMode || strings.Contains(sessionCookie.Value, token) {
		t.Fatalf("session cookie %+v", sessionCookie)
	}
	resp, page := setupGet(t, c, ts.url+"/setup/setup-acme/?idp=okta")
	if resp.StatusCode != 200 || !strings.Contains(page, `id="okta-steps"`) || strings.Contains(page, token) {
		t.Fatalf("page: %d\n%s", resp.StatusCode, page)
	}
	// Without JavaScript it reloads itself; with it, never (the refresh
	// is in <noscript>; setup.js refreshes the status in place).
	head, _, _ := strings.Cut(page, "</head>")
	if !strings.Contains(head, `<noscript><meta http-equiv="refresh" content="5"></noscript>`) || strings.Count(page, `http-equiv="refresh"`) != 1 ||
		!strings.Contains(page, "Waiting for the first request") {
		t.Errorf("the waiting page does not refresh itself (only) without JavaScript:\n%s", page)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'", "default-src 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(page, "<script>") || strings.Contains(page, "<style") {
		t.Errorf("inline script or style: CSP %q", csp)
	}
	if resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("X-Frame-Options %q", resp.Header.Get("X-Frame-Options"))
	}

	// Forms: without the CSRF token, or from another site, refused and
	// nothing created.
	for name, req := range map[string]func() *http.Request{
		"no csrf": func() *http.Request {
			r, _ := http.NewRequest("POST", ts.url+"/setup/setup-acme/keys", strings.NewReader("name=x"))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		},
		"other origin": func() *http.Request {
			csrf := between(page, `name="csrf" value="`, `"`)
			r, _ := http.NewRequest("POST", ts.url+"/setup/setup-acme/keys", strings.NewReader(url.Values{"name": {"x"}, "csrf": {csrf}}.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set("Origin", "https://evil.example")
			return r
		},
	} {
		resp, err := c.Do(req())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, resp.StatusCode)
		}
	}
	if keys, err := ts.app.keys.List(ctx, "setup-acme"); err != nil || len(keys) != 0 {
		t.Fatalf("keys after refused forms: %v %v", keys, err)
	}
	// Without JavaScript: a plain form post creates the key, shown once on
	// a page that does not reload it away.
	csrf := between(page, `name="csrf" value="`, `"`)
	resp, err := c.PostForm(ts.url+"/setup/setup-acme/keys", url.Values{"name": {"Okta"}, "idp": {"okta"}, "csrf": {csrf}})
	if err != nil {
		t.Fatal(err)
	}
	created, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	shown := between(string(created), `id="api-key" readonly value="`, `"`)
	if resp.StatusCode != 200 || !strings.HasPrefix(shown, "scb_") || strings.Contains(string(created), `http-equiv="refresh"`) {
		t.Fatalf("create a key without JavaScript: %d key %q\n%s", resp.StatusCode, shown, created)
	}
	if _, err := ts.app.keys.Verify(ctx, "setup-acme", shown); err != nil {
		t.Fatalf("the shown key: %v", err)
	}
	if _, err := ts.app.keys.Verify(ctx, "setup-other", shown); err == nil {
		t.Fatal("the key works for another tenant")
	}
	if strings.Contains(resp.Header.Get("Set-Cookie"), shown[4:20]) || strings.Contains(resp.Request.URL.String(), shown[4:20]) {
		t.Fatal("the key is in a cookie or the URL")
	}

	refused := func(name string, c *http.Client, u string, status int, words ...string) {
		t.Helper()
		resp, body := setupGet(t, c, u)
		if resp.StatusCode != status {
			t.Errorf("%s: %d, want %d\n%s", name, resp.StatusCode, status, body)
			return
		}
		for _, w := range append(words, "What to do:") {
			if !strings.Contains(body, w) {
				t.Errorf("%s: the page lacks %q:\n%s", name, w, body)
			}
		}
		for _, ck := range resp.Cookies() {
			if ck.Name == setup.CookieName && ck.MaxAge >= 0 {
				t.Errorf("%s: a session cookie was set", name)
			}
		}
	}

	// Tampered: one character of the signature, of the payload.
	sig := strings.LastIndexByte(link, '.')
	refused("tampered signature", browserish(t), link[:sig+3]+swapChar(link[sig+3])+link[sig+4:], 404, "not valid", "ask the company that sent it")
	refused("tampered payload", browserish(t), link[:sig-3]+swapChar(link[sig-3])+link[sig-2:], 404, "not valid")
	// Another tenant's page.
	refused("other tenant", browserish(t), strings.Replace(link, "/setup/setup-acme/", "/setup/setup-other/", 1), 404, "another setup page")
	// No session at all.
	refused("no session", browserish(t), ts.url+"/setup/setup-other/", 401, "Open your setup link")
	// The acme session does not open the other tenant's page either.
	refused("acme session on other", c, ts.url+"/setup/setup-other/", 401, "Open your setup link")

	// Expired: a link made an hour and a half ago with a ttl of an hour.
	key, err := readSecretKey(cfg.Secrets.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	past, err := tenants.NewSetupLinks(ts.app.rdb, ts.app.registry, key)
	if err != nil {
		t.Fatal(err)
	}
	past.SetClock(func() time.Time { return time.Now().Add(-90 * time.Minute) })
	old, _, err := past.Create(ctx, "setup-acme", time.Hour, "")
	if err != nil {
		t.Fatal(err)
	}
	refused("expired", browserish(t), setup.LinkURL(ts.url, "setup-acme", old), 410, "expired", "new setup link")

	// Revoked: the link no longer opens, and the open session ends.
	ac := &adminClient{t: t, base: ts.url, token: testAdminToken}
	ac.ok(http.StatusNoContent, "DELETE", "/admin/v1/tenants/setup-acme/setup-links/"+linkID, nil)
	refused("revoked", browserish(t), link, 410, "withdrawn")
	refused("revoked link's session", c, ts.url+"/setup/setup-acme/", 410, "withdrawn")
	list := ac.ok(200, "GET", "/admin/v1/tenants/setup-acme/setup-links", nil)
	// Listed: the revoked one; the expired one was dropped on the way.
	links, _ := list["setup_links"].([]any)
	if len(links) != 1 || links[0].(map[string]any)["id"] != linkID || links[0].(map[string]any)["revoked"] != true {
		t.Fatalf("listed links: %v", list)
	}

	// Guessing: wrong links count with wrong operator tokens, per address.
	guesser := browserish(t)
	blocked := false
	for i := 0; i < 12 && !blocked; i++ {
		resp, _ := setupGet(t, guesser, ts.url+"/setup/setup-acme/open/scbl_guess"+string(rune('a'+i))+".x")
		blocked = resp.StatusCode == http.StatusTooManyRequests
	}
	if !blocked {
		t.Fatal("12 wrong links were not slowed down")
	}
	if status, _ := ac.do("GET", "/admin/v1/tenants", nil); status != http.StatusTooManyRequests {
		t.Fatalf("after the wrong links the right operator token got %d, want 429 (one limiter)", status)
	}
}

func swapChar(b byte) string {
	if b == 'A' {
		return "B"
	}
	return "A"
}

// between is the text of s between the first start and the next end.
func between(s, start, end string) string {
	_, rest, ok := strings.Cut(s, start)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, end)
	return v
}

// `tenant setup-link` prints a link that opens the tenant's page;
// `tenant setup-link-revoke` closes it; without secrets.key_file the
// command says why there are no links.
func TestSetupLinkCommands(t *testing.T) {
	redisAddr := testsupport.RedisDB(t, e2eRedisDB)
	cfgPath := writeConfig(t, redisAddr)
	run1 := func(args ...string) (string, error) {
		t.Helper()
		var out, errOut bytes.Buffer
		err := run(args, &out, &errOut)
		return out.String() + errOut.String(), err
	}
	if out, err := run1("tenant", "setup-link", "--config", cfgPath, "--tenant", "cli-tenant"); err == nil || !strings.Contains(err.Error(), "secrets.key_file") {
		t.Fatalf("without a key file: %v\n%s", err, out)
	}
	keyFile := filepath.Join(t.TempDir(), "secret.key")
	if err := os.WriteFile(keyFile, []byte(strings.Repeat("ab", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SCIMBRIDGE_SECRET_KEY_FILE", keyFile)
	var created admin.NewSetupLink
	out, err := run1("tenant", "setup-link", "--config", cfgPath, "--tenant", "cli-tenant", "--ttl", "2h", "--idp", "entra", "--json")
	if err != nil || json.Unmarshal([]byte(out), &created) != nil {
		t.Fatalf("setup-link --json: %v\n%s", err, out)
	}
	if !strings.HasPrefix(created.URL, "https://scim.example.com/setup/cli-tenant/open/scbl_") || created.IdP != "entra" ||
		created.Expires.Sub(created.Created) != 2*time.Hour {
		t.Fatalf("created %+v", created)
	}
	human, err := run1("tenant", "setup-link", "--config", cfgPath, "--tenant", "cli-tenant")
	if err != nil || !strings.Contains(human, "https://scim.example.com/setup/cli-tenant/open/scbl_") || !strings.Contains(human, "setup-link-revoke") {
		t.Fatalf("setup-link: %v\n%s", err, human)
	}
	for _, bad := range [][]string{
		{"--ttl", "1m"}, {"--ttl", "soon"}, {"--idp", "onelogin"},
	} {
		args := append([]string{"tenant", "setup-link", "--config", cfgPath, "--tenant", "cli-tenant"}, bad...)
		if out, err := run1(args...); err == nil {
			t.Errorf("%v accepted:\n%s", bad, out)
		}
	}

	// The link opens the page, until it is revoked.
	a := appOfConfig(t, cfgPath)
	defer a.close()
	token := created.URL[strings.LastIndex(created.URL, "/")+1:]
	if _, err := a.setupLinks().Verify(context.Background(), "cli-tenant", token); err != nil {
		t.Fatalf("the printed link: %v", err)
	}
	if out, err := run1("tenant", "setup-link-revoke", "--config", cfgPath, "--tenant", "cli-tenant", "--link", created.ID); err != nil {
		t.Fatalf("revoke: %v\n%s", err, out)
	}
	if _, err := a.setupLinks().Verify(context.Background(), "cli-tenant", token); !errors.Is(err, tenants.ErrLinkRevoked) {
		t.Fatalf("after revoke: %v", err)
	}
	if _, err := run1("tenant", "setup-link-revoke", "--config", cfgPath, "--tenant", "cli-tenant", "--link", "lnope"); err == nil {
		t.Fatal("revoking an unknown link succeeded")
	}
}

// Entra's steps name Entra's screens; a tenant's frame_ancestors are the
// only origins that may frame its page (and not another tenant's).
func TestSetupPageEntraAndFraming(t *testing.T) {
	redisAddr := testsupport.RedisDB(t, e2eRedisDB)
	framed, _ := adminSQLiteTenant(t, "setup-framed")
	framed.Setup = &tenants.SetupOptions{FrameAncestors: []string{"https://app.example.com", "https://*.example.org"}}
	plain, _ := adminSQLiteTenant(t, "setup-plain")
	ts := startTestServer(t, withAdminToken(t, testConfig(t, redisAddr, framed, plain)), serverOptions{})

	link, _ := createSetupLink(t, ts, "setup-framed", map[string]any{"idp": "entra"})
	c := browserish(t)
	if resp, _ := setupGet(t, c, link); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("open: %d", resp.StatusCode)
	}
	resp, page := setupGet(t, c, ts.url+"/setup/setup-framed/?idp=entra")
	if resp.StatusCode != 200 {
		t.Fatalf("page: %d\n%s", resp.StatusCode, page)
	}
	for _, want := range []string{`id="entra-steps"`, "Enterprise applications", "Tenant URL", "Secret Token", "Test Connection", "Mappings", "Scope", "Provision Microsoft Entra ID Groups", "surname", "userPrincipalName",
		"OAuth2 Client Credentials Grant", `<code id="token-url">` + ts.url + `/oauth/token</code>`} {
		if !strings.Contains(page, want) {
			t.Errorf("Entra's page lacks %q", want)
		}
	}
	// The token endpoint the steps name is served.
	tok, err := http.Post(ts.url+"/oauth/token", "application/x-www-form-urlencoded", strings.NewReader("grant_type=client_credentials"))
	if err != nil {
		t.Fatal(err)
	}
	tok.Body.Close()
	if tok.StatusCode == http.StatusNotFound {
		t.Error("the page names a token endpoint the server does not serve")
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "frame-ancestors https://app.example.com https://*.example.org;") || resp.Header.Get("X-Frame-Options") != "" {
		t.Errorf("framed tenant: CSP %q, X-Frame-Options %q", csp, resp.Header.Get("X-Frame-Options"))
	}
	resp, _ = setupGet(t, browserish(t), ts.url+"/setup/setup-plain/")
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("other tenant: CSP %q, X-Frame-Options %q", csp, resp.Header.Get("X-Frame-Options"))
	}
	// The assets are the page's only script and style.
	for _, a := range []string{"/setup-assets/setup.js", "/setup-assets/setup.css"} {
		if resp, body := setupGet(t, c, ts.url+a); resp.StatusCode != 200 || len(body) < 100 {
			t.Errorf("%s: %d", a, resp.StatusCode)
		}
	}
	if resp, _ := setupGet(t, c, ts.url+"/setup-assets/../main.go"); resp.StatusCode == 200 {
		t.Error("an asset path outside the two files answered 200")
	}
}

// An IdP using OAuth (Entra's client credentials) is seen on the setup
// page: its first SCIM request with an access token ends the waiting, and
// the page names the OAuth client as the credential used.
func TestSetupPageShowsOAuthRequest(t *testing.T) {
	redisAddr := testsupport.RedisDB(t, e2eRedisDB)
	ten, _ := adminSQLiteTenant(t, "setup-oauth")
	ts := startTestServer(t, withAdminToken(t, testConfig(t, redisAddr, ten)), serverOptions{})
	ctx := context.Background()
	link, _ := createSetupLink(t, ts, "setup-oauth", map[string]any{"idp": "entra"})
	c := browserish(t)
	if resp, _ := setupGet(t, c, link); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("open: %d", resp.StatusCode)
	}
	if _, page := setupGet(t, c, ts.url+"/setup/setup-oauth/?idp=entra"); !strings.Contains(page, "Waiting for the first request") {
		t.Fatalf("not waiting before any request:\n%s", page)
	}
	secret, client, err := ts.app.oauth.Create(ctx, "setup-oauth", "Entra provisioning")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.PostForm(ts.url+"/oauth/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {client.ID}, "client_secret": {secret}})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
		t.Fatalf("token: %d %v", resp.StatusCode, err)
	}
	req, _ := http.NewRequest(http.MethodGet, ts.url+"/scim/setup-oauth/v2/Users?count=1", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("User-Agent", "Microsoft.Azure.ActiveDirectory.Provisioning/1.0")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("SCIM request with the token: %d", resp.StatusCode)
	}
	ts.app.oauth.Wait() // the sampled last-use write
	_, page := setupGet(t, c, ts.url+"/setup/setup-oauth/status?idp=entra")
	if strings.Contains(page, "Waiting for the first request") ||
		between(page, `<span id="last-client">`, `</span>`) != "Microsoft Entra ID" ||
		between(page, `<span id="last-credential">`, `</span>`) != "OAuth client “Entra provisioning”" {
		t.Fatalf("after the OAuth client's request the status is:\n%s", page)
	}
}
