package main

// The customer's setup page over plain HTTP: the link is exchanged for a
// session and leaves the URL; expired, tampered, revoked and other-tenant
// links are refused with a page saying what to do; forms need the
// session's CSRF token; wrong links count with wrong operator tokens.

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

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
