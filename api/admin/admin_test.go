package admin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/internal/testsupport"
	syncsvc "github.com/scimbridge/scimbridge/sync"
	"github.com/scimbridge/scimbridge/tenants"
)

// testRedis is the test Redis on this package's own database
// (testsupport.DBAdmin): the tenant list the tests read is theirs alone.
// Every test still uses tenant ids of its own.
func testRedis(t *testing.T) *redis.Client {
	t.Helper()
	return testsupport.Redis(t, func(o *redis.Options) { o.DB = testsupport.DBAdmin })
}

// adminBundle is an admin Handler over real services on rdb, and a tenant
// id of the test's own (its keys deleted at cleanup).
type adminBundle struct {
	router *gin.Engine
	reg    *tenants.Registry
	tenant string
}

func setupAdmin(t *testing.T, rdb redis.UniversalClient) adminBundle {
	t.Helper()
	op, err := NewOperator(rightToken)
	if err != nil {
		t.Fatal(err)
	}
	reg := tenants.NewRegistry(rdb)
	ledger := syncsvc.NewLedger(rdb, nil)
	h, err := New(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, Deps{
		Operator: op, Tenants: reg, Keys: tenants.NewKeyStore(rdb),
		Admin: &syncsvc.Admin{Ledger: ledger, Tenants: reg},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	h.Mount(r)
	var b [5]byte
	_, _ = rand.Read(b[:])
	id := "admtest-" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx := context.Background()
		_ = reg.Delete(ctx, id)
		iter := rdb.Scan(ctx, 0, "sb:{"+id+"}:*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
	})
	return adminBundle{router: r, reg: reg, tenant: id}
}

// remount replaces the bundle's router with one of a handler on d (the
// operator, the registry and what the test adds: OAuth clients, setup
// links, webhooks) plus a key store and, unless d has one, a sync.Admin
// over rdb, under publicURL, and creates the bundle's tenant through it.
func (b *adminBundle) remount(t *testing.T, rdb redis.UniversalClient, publicURL string, d Deps) {
	t.Helper()
	d.Keys = tenants.NewKeyStore(rdb)
	if d.Admin == nil {
		d.Admin = &syncsvc.Admin{Ledger: syncsvc.NewLedger(rdb, nil), Tenants: d.Tenants}
	}
	h, err := New(Config{PublicURL: publicURL, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, d)
	if err != nil {
		t.Fatal(err)
	}
	b.router = gin.New()
	h.Mount(b.router)
	if w := b.do("POST", "/admin/v1/tenants", tenantBody(b.tenant)); w.Code != http.StatusCreated {
		t.Fatalf("create tenant: %d %s", w.Code, w.Body)
	}
}

// consoleSession opens a console session of op: its sender of forms
// (consoleForm) and its CSRF token.
func (b adminBundle) consoleSession(t *testing.T, op *Operator) (func(method, path string, form url.Values) *httptest.ResponseRecorder, string) {
	t.Helper()
	cookie := op.newSession()
	s, ok := op.session(cookie)
	if !ok {
		t.Fatal("no session")
	}
	return b.consoleForm(cookie), op.csrfToken(s)
}

// consoleForm returns a sender of console requests (a form body, when
// given) in the console session cookie.
func (b adminBundle) consoleForm(cookie string) func(method, path string, form url.Values) *httptest.ResponseRecorder {
	return func(method, path string, form url.Values) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: cookie})
		w := httptest.NewRecorder()
		b.router.ServeHTTP(w, req)
		return w
	}
}

func tenantBody(id string) string {
	t := tenants.Tenant{ID: id, Name: "Admin test", Store: adapters.Config{
		Kind: adapters.KindSQLite, DSN: "/nonexistent/admin-test.db",
		Users: adapters.UserMapping{Table: "users", Key: "id", Attributes: map[string]string{"userName": "username"}, OnDelete: "delete"},
	}}
	b, _ := json.Marshal(t)
	return string(b)
}

// do sends method path with body as the operator.
func (b adminBundle) do(method, path, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.RemoteAddr = "192.0.2.50:1234"
	req.Header.Set("Authorization", "Bearer "+rightToken)
	w := httptest.NewRecorder()
	b.router.ServeHTTP(w, req)
	return w
}

// The admin API answers each error with api.ErrorFor's status, the message
// of expected errors in {"error": ...}, and hides unexpected ones.
func TestAdminAPIErrorStatuses(t *testing.T) {
	rdb := testRedis(t)
	b := setupAdmin(t, rdb)
	if w := b.do("POST", "/admin/v1/tenants", tenantBody(b.tenant)); w.Code != http.StatusCreated {
		t.Fatalf("create tenant: %d %s", w.Code, w.Body)
	}
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		errorHas                 string
	}{
		{"unknown tenant", "GET", "/admin/v1/tenants/admtest-none", "", 404, "not found"},
		{"tenant id that cannot exist", "GET", "/admin/v1/tenants/UPPER", "", 404, "not found"},
		{"create twice", "POST", "/admin/v1/tenants", tenantBody(b.tenant), 409, "already exists"},
		{"invalid tenant", "POST", "/admin/v1/tenants", tenantBody("-bad"), 400, "tenant id"},
		{"store config without a kind", "POST", "/admin/v1/tenants", `{"id":"` + b.tenant + `x","store":{"dsn":"x"}}`, 400, "kind is missing"},
		{"unknown field", "POST", "/admin/v1/tenants", `{"id":"x","colour":"blue"}`, 400, "colour"},
		{"body id differs", "PUT", "/admin/v1/tenants/" + b.tenant, tenantBody(b.tenant + "-other"), 400, "is not the tenant's"},
		{"bad page count", "GET", "/admin/v1/tenants/" + b.tenant + "/users?count=zero", "", 400, "count"},
		{"bad state filter", "GET", "/admin/v1/tenants/" + b.tenant + "/users?state=sideways", "", 400, "state"},
		{"bad repair flag", "POST", "/admin/v1/tenants/" + b.tenant + "/drift?repair=perhaps", "", 400, "repair"},
		{"malformed job id", "GET", "/admin/v1/jobs/nonsense", "", 404, "not found"},
		{"unknown job", "GET", "/admin/v1/jobs/" + b.tenant + ".0123456789abcdef", "", 404, "not found"},
		{"unknown key", "DELETE", "/admin/v1/tenants/" + b.tenant + "/keys/nokey", "", 404, "not found"},
	} {
		w := b.do(tc.method, tc.path, tc.body)
		var out struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(w.Body.Bytes(), &out)
		if w.Code != tc.status || !strings.Contains(out.Error, tc.errorHas) {
			t.Errorf("%s: %s %s: %d %s, want %d with an error naming %q", tc.name, tc.method, tc.path, w.Code, w.Body, tc.status, tc.errorHas)
		}
	}
}

// With Redis down the admin API answers 503 with Retry-After (the outage
// is the operator's to see), not 500.
func TestAdminAPIRedisDownIs503(t *testing.T) {
	t.Parallel()
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { down.Close() })
	b := setupAdmin(t, down)
	for _, path := range []string{"/admin/v1/tenants", "/admin/v1/tenants/" + b.tenant, "/admin/v1/jobs/" + b.tenant + ".0123456789abcdef"} {
		w := b.do("GET", path, "")
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "5" {
			t.Errorf("GET %s with Redis down: %d (Retry-After %q) %s, want 503 with Retry-After 5", path, w.Code, w.Header().Get("Retry-After"), w.Body)
		}
	}
}

// The console: the login form exchanges the token for a session cookie
// (HttpOnly, SameSite=Strict, Path=/console) that opens the pages; a wrong
// token counts as a guess, and after the limit even the right one is 429.
func TestConsoleLoginAndSession(t *testing.T) {
	rdb := testRedis(t)
	b := setupAdmin(t, rdb)
	if w := b.do("POST", "/admin/v1/tenants", tenantBody(b.tenant)); w.Code != http.StatusCreated {
		t.Fatalf("create tenant: %d %s", w.Code, w.Body)
	}
	send := func(method, path string, form url.Values, cookies ...*http.Cookie) *httptest.ResponseRecorder {
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req := httptest.NewRequest(method, path, body)
		req.RemoteAddr = "192.0.2.60:5555"
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		for _, c := range cookies {
			req.AddCookie(c)
		}
		w := httptest.NewRecorder()
		b.router.ServeHTTP(w, req)
		return w
	}
	cookie := func(w *httptest.ResponseRecorder, name string) *http.Cookie {
		for _, c := range w.Result().Cookies() {
			if c.Name == name && c.MaxAge >= 0 && c.Value != "" {
				return c
			}
		}
		return nil
	}

	if w := send("GET", "/console/", nil); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/login" {
		t.Fatalf("console without a session: %d %q, want a redirect to the login", w.Code, w.Header().Get("Location"))
	}
	page := send("GET", "/console/login", nil)
	login := cookie(page, LoginCookieName)
	if page.Code != http.StatusOK || login == nil {
		t.Fatalf("login page: %d, login cookie %v", page.Code, login)
	}
	form := func(token string) url.Values { return url.Values{"csrf": {login.Value}, "token": {token}} }
	if w := send("POST", "/console/login", form(rightToken)); w.Code != http.StatusForbidden {
		t.Errorf("login without the form's cookie: %d, want 403", w.Code)
	}
	w := send("POST", "/console/login", form(rightToken), login)
	sess := cookie(w, SessionCookieName)
	if w.Code != http.StatusSeeOther || sess == nil {
		t.Fatalf("login with the token: %d, session cookie %v", w.Code, sess)
	}
	if !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode || sess.Path != "/console" || strings.Contains(sess.Value, rightToken) {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/console, no token", sess)
	}
	if w := send("GET", "/console/", nil, sess); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), b.tenant) {
		t.Errorf("console with the session: %d, tenant listed %v", w.Code, strings.Contains(w.Body.String(), b.tenant))
	}
	if w := send("GET", "/console/tenants/admtest-none", nil, sess); w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "No such tenant.") {
		t.Errorf("console, unknown tenant: %d, want 404 and No such tenant.", w.Code)
	}
	if w := send("POST", "/console/tenants/"+b.tenant+"/replay", url.Values{"csrf": {"forged"}}, sess); w.Code != http.StatusForbidden {
		t.Errorf("console post without the CSRF token: %d, want 403", w.Code)
	}
	// The session is not an admin API credential.
	req := httptest.NewRequest("GET", "/admin/v1/tenants", nil)
	req.AddCookie(sess)
	rec := httptest.NewRecorder()
	b.router.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("admin API with only a console session: %d, want 401", rec.Code)
	}

	for i := range maxFailures {
		if w := send("POST", "/console/login", form("guess"), login); w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), "not the operator token") {
			t.Fatalf("wrong token %d at the login: %d, want 401 and the form again", i, w.Code)
		}
	}
	w = send("POST", "/console/login", form(rightToken), login)
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" || cookie(w, SessionCookieName) != nil {
		t.Errorf("login after %d wrong tokens: %d (Retry-After %q), want 429 and no session", maxFailures, w.Code, w.Header().Get("Retry-After"))
	}
	// The same address is refused at the admin API too: one limiter.
	if w := b.do("GET", "/admin/v1/tenants", ""); w.Code != http.StatusOK {
		t.Errorf("admin API from another address: %d, want 200", w.Code)
	}
	req = httptest.NewRequest("GET", "/admin/v1/tenants", nil)
	req.RemoteAddr = "192.0.2.60:6666"
	req.Header.Set("Authorization", "Bearer "+rightToken)
	rec = httptest.NewRecorder()
	b.router.ServeHTTP(rec, req)
	if rec.Code != http.StatusTooManyRequests {
		t.Errorf("admin API from the guessing address: %d, want 429", rec.Code)
	}
}
