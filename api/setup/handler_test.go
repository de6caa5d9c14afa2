package setup

// The page's handler on a real Redis, over HTTP with a cookie jar: the
// session ends server-side at logout, the page without its trailing
// slash leads to the one the cookie is sent to, an OAuth client's request
// counts as the IdP's first request, and a blocked address costs no
// Redis round trip.

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/api"
	"github.com/scimbridge/scimbridge/internal/testsupport"
	syncsvc "github.com/scimbridge/scimbridge/sync"
	"github.com/scimbridge/scimbridge/tenants"
)

type fakeStatus struct{}

func (fakeStatus) Summary(_ context.Context, tenant string) (*syncsvc.Summary, error) {
	return &syncsvc.Summary{Tenant: tenant}, nil
}

func (fakeStatus) Statuses(context.Context, string, string, string, int, int) (*syncsvc.StatusPage, error) {
	return &syncsvc.StatusPage{}, nil
}

// commands counts the commands a Redis client sends.
type commands struct {
	mu sync.Mutex
	n  int
}

func (c *commands) count() int                                  { c.mu.Lock(); defer c.mu.Unlock(); return c.n }
func (c *commands) reset()                                      { c.mu.Lock(); c.n = 0; c.mu.Unlock() }
func (c *commands) add(k int)                                   { c.mu.Lock(); c.n += k; c.mu.Unlock() }
func (c *commands) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *commands) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { c.add(1); return next(ctx, cmd) }
}
func (c *commands) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { c.add(len(cmds)); return next(ctx, cmds) }
}

type pageEnv struct {
	t       *testing.T
	srv     *httptest.Server
	tenant  string
	links   *tenants.SetupLinks
	oauth   *tenants.OAuthClients
	tokens  *tenants.AccessTokens
	guesses *api.GuessLimiter
	redis   *commands
}

func newPageEnv(t *testing.T) *pageEnv {
	t.Helper()
	ctx := context.Background()
	rdb := testsupport.Redis(t)
	cmds := &commands{}
	rdb.AddHook(cmds)
	reg := tenants.NewRegistry(rdb)
	id := testsupport.Tenant(t, rdb, "page")
	t.Cleanup(func() { _ = reg.Delete(context.Background(), id) })
	store := adapters.Config{Kind: "sqlite", DSN: "file:/tmp/" + id + ".db", Users: adapters.UserMapping{
		Table: "users", Key: "id", Attributes: map[string]string{"userName": "login"}, OnDelete: "delete"}}
	if err := reg.Put(ctx, tenants.Tenant{ID: id, Name: "Acme", Store: store}); err != nil {
		t.Fatal(err)
	}
	key := bytes.Repeat([]byte{7}, 32)
	links, err := tenants.NewSetupLinks(rdb, reg, key)
	if err != nil {
		t.Fatal(err)
	}
	oauth := tenants.NewOAuthClients(rdb)
	tokens, err := tenants.NewAccessTokens(oauth, bytes.Repeat([]byte{8}, 32), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	guesses := api.NewGuessLimiter(3, time.Minute, nil)
	h, err := New(Config{Logger: slog.New(slog.DiscardHandler)}, Deps{Links: links, Tenants: reg,
		Keys: tenants.NewKeyStore(rdb), Status: fakeStatus{}, Guesses: guesses, OAuth: oauth})
	if err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.TestMode)
	r := gin.New()
	h.Mount(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return &pageEnv{t: t, srv: srv, tenant: id, links: links, oauth: oauth, tokens: tokens, guesses: guesses, redis: cmds}
}

// client is a browser-like client: cookies, redirects not followed.
func (e *pageEnv) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (e *pageEnv) do(c *http.Client, req *http.Request) (*http.Response, string) {
	e.t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (e *pageEnv) get(c *http.Client, path string) (*http.Response, string) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	return e.do(c, req)
}

// open opens a new link in c and returns the session cookie set.
func (e *pageEnv) open(c *http.Client) *http.Cookie {
	e.t.Helper()
	token, _, err := e.links.Create(context.Background(), e.tenant, time.Hour, "")
	if err != nil {
		e.t.Fatal(err)
	}
	resp, _ := e.get(c, PagePath(e.tenant)+"open/"+token)
	if resp.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("open: %d", resp.StatusCode)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == CookieName && ck.MaxAge > 0 {
			return ck
		}
	}
	e.t.Fatal("open set no session cookie")
	return nil
}

func cookieHeader(ck *http.Cookie) string { return ck.Name + "=" + ck.Value }

// "Leave this page" ends the session on the server: the cookie, replayed
// (copied before the logout), opens nothing, and is cleared again.
func TestLogoutEndsTheSession(t *testing.T) {
	t.Parallel()
	e := newPageEnv(t)
	c := e.client()
	ck := e.open(c)
	resp, page := e.get(c, PagePath(e.tenant))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("page: %d", resp.StatusCode)
	}
	csrf := between(page, `name="csrf" value="`, `"`)
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+PagePath(e.tenant)+"logout", strings.NewReader(url.Values{"csrf": {csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, body := e.do(c, req)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "You have left the setup page") {
		t.Fatalf("logout: %d\n%s", resp.StatusCode, body)
	}
	for _, path := range []string{PagePath(e.tenant), PagePath(e.tenant) + "status"} {
		replay, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
		replay.Header.Set("Cookie", cookieHeader(ck))
		resp, body := e.do(http.DefaultClient, replay)
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "You have left the setup page") {
			t.Fatalf("%s with the cookie replayed after logout: %d\n%s", path, resp.StatusCode, body)
		}
		cleared := false
		for _, k := range resp.Cookies() {
			cleared = cleared || (k.Name == CookieName && k.MaxAge < 0)
		}
		if !cleared {
			t.Errorf("%s: the ended session's cookie was not cleared", path)
		}
	}
	// A replayed logout is no guess: the address is not slowed down.
	if _, blocked := e.guesses.Blocked("127.0.0.1"); blocked {
		t.Error("replaying an ended session counted as guessing")
	}
	// The link still opens a new session.
	c2 := e.client()
	e.open(c2)
	if resp, _ := e.get(c2, PagePath(e.tenant)); resp.StatusCode != http.StatusOK {
		t.Fatalf("a new session of the link: %d", resp.StatusCode)
	}
}

// /setup/<tenant> (no slash) would never get the cookie, whose path is
// /setup/<tenant>/: it redirects there, query kept, and the page opens.
func TestPageWithoutSlashRedirects(t *testing.T) {
	t.Parallel()
	e := newPageEnv(t)
	c := e.client()
	ck := e.open(c)
	if ck.Path != PagePath(e.tenant) {
		t.Fatalf("cookie path %q", ck.Path)
	}
	noSlash := strings.TrimSuffix(PagePath(e.tenant), "/")
	resp, _ := e.get(c, noSlash+"?idp=okta")
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != PagePath(e.tenant)+"?idp=okta" {
		t.Fatalf("%s: %d, Location %q", noSlash, resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, page := e.get(c, resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `id="okta-steps"`) {
		t.Fatalf("after the redirect: %d", resp.StatusCode)
	}
}

// An IdP authenticating with OAuth (Entra's client credentials) is the
// first request too: the page stops waiting and names the OAuth client.
func TestOAuthRequestShownOnThePage(t *testing.T) {
	t.Parallel()
	e := newPageEnv(t)
	ctx := context.Background()
	c := e.client()
	e.open(c)
	if _, page := e.get(c, PagePath(e.tenant)+"?idp=entra"); !strings.Contains(page, "Waiting for the first request") {
		t.Fatalf("before any request the page is not waiting:\n%s", page)
	}
	secret, oc, err := e.oauth.Create(ctx, e.tenant, "Entra provisioning")
	if err != nil {
		t.Fatal(err)
	}
	token := e.accessToken(ctx, oc.ID, secret)
	if _, page := e.get(c, PagePath(e.tenant)+"status?idp=entra"); !strings.Contains(page, "Waiting for the first request") {
		t.Fatal("obtaining a token counted as a SCIM request")
	}
	if _, err := e.tokens.VerifyFrom(ctx, e.tenant, token, "Microsoft.Azure.ActiveDirectory.Provisioning/1.0"); err != nil {
		t.Fatal(err)
	}
	e.oauth.Wait()
	for _, path := range []string{"?idp=entra", "status?idp=entra"} {
		resp, page := e.get(c, PagePath(e.tenant)+path)
		if resp.StatusCode != http.StatusOK || strings.Contains(page, "Waiting for the first request") {
			t.Fatalf("%s: still waiting (%d):\n%s", path, resp.StatusCode, page)
		}
		if got := between(page, `<span id="last-client">`, `</span>`); got != "Microsoft Entra ID" {
			t.Errorf("%s: last client %q", path, got)
		}
		if got := between(page, `<span id="last-credential">`, `</span>`); got != "OAuth client “Entra provisioning”" {
			t.Errorf("%s: credential %q", path, got)
		}
	}
}

// An address that used up its wrong guesses is refused before anything
// is read: no Redis command, whatever tenant it names.
func TestBlockedAddressCostsNoRedis(t *testing.T) {
	t.Parallel()
	e := newPageEnv(t)
	c := e.client()
	for i := range 3 {
		if resp, _ := e.get(c, PagePath(e.tenant)+"open/scbl_guess"+string(rune('a'+i))+".x"); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("wrong link %d: %d", i, resp.StatusCode)
		}
	}
	e.redis.reset()
	for _, path := range []string{
		PagePath(e.tenant) + "open/scbl_guessz.x",
		PagePath("never-seen-tenant") + "open/scbl_guessz.x",
		PagePath("never-seen-tenant"),
		PagePath(e.tenant) + "status",
	} {
		resp, body := e.get(c, path)
		if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "Too many invalid links") {
			t.Errorf("%s: %d, want 429", path, resp.StatusCode)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s: CSP %q, Retry-After %q", path, csp, resp.Header.Get("Retry-After"))
		}
	}
	if n := e.redis.count(); n != 0 {
		t.Fatalf("a blocked address's requests sent %d Redis commands, want none", n)
	}
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
