package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/internal/testsupport"
	"github.com/scimbridge/scimbridge/tenants"
)

var _ OAuth = (*tenants.AccessTokens)(nil)

// oauthEnv is a router whose token endpoint and SCIM auth use the real
// OAuth clients and access tokens on Redis, for two tenants.
type oauthEnv struct {
	t              *testing.T
	router         *Router
	tenants        *memTenants
	clients        *tenants.OAuthClients
	tenant, other  string
	id, secret     string // a client of tenant
	otherSecret    string // a client of other
	otherID        string
	disabledTenant string
	disabledID     string
	disabledSecret string
}

func setupOAuth(t *testing.T) *oauthEnv {
	t.Helper()
	ctx := context.Background()
	rdb := testsupport.Redis(t)
	reg := tenants.NewRegistry(rdb)
	e := &oauthEnv{t: t, clients: tenants.NewOAuthClients(rdb),
		tenants: &memTenants{tenants: map[string]*tenants.Tenant{}}}
	newTenant := func(disabled bool) (string, string, string) {
		id := testsupport.Tenant(t, rdb, "oauth")
		t.Cleanup(func() { _ = reg.Delete(context.Background(), id) })
		store := adapters.Config{Kind: "sqlite", DSN: "file:/tmp/" + id + ".db", Users: adapters.UserMapping{
			Table: "users", Key: "id", Attributes: map[string]string{"userName": "login"}, OnDelete: "delete"}}
		if err := reg.Put(ctx, tenants.Tenant{ID: id, Name: id, Store: store}); err != nil {
			t.Fatal(err)
		}
		e.tenants.tenants[id] = &tenants.Tenant{ID: id, Name: id, Disabled: disabled}
		secret, c, err := e.clients.Create(ctx, id, "entra")
		if err != nil {
			t.Fatal(err)
		}
		return id, c.ID, secret
	}
	e.tenant, e.id, e.secret = newTenant(false)
	e.other, e.otherID, e.otherSecret = newTenant(false)
	e.disabledTenant, e.disabledID, e.disabledSecret = newTenant(true)
	tokens, err := tenants.NewAccessTokens(e.clients, bytes.Repeat([]byte{9}, 32), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	e.router = New(Config{PublicURL: publicURL, Logger: slog.New(slog.DiscardHandler)},
		Deps{Users: newMemUsers(), Tenants: e.tenants, Keys: &memKeys{}, OAuth: tokens})
	return e
}

// token posts form to the token endpoint; basic, when not nil, is the
// client_secret_basic user and password (form-encoded as RFC 6749 §2.3.1
// asks); peer is the client address.
func (e *oauthEnv) token(form url.Values, basic []string, peer string) *httptest.ResponseRecorder {
	e.t.Helper()
	req := httptest.NewRequest(http.MethodPost, TokenPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic != nil {
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString(
			[]byte(url.QueryEscape(basic[0])+":"+url.QueryEscape(basic[1]))))
	}
	if peer == "" {
		peer = "192.0.2.1"
	}
	req.RemoteAddr = peer + ":40000"
	rec := httptest.NewRecorder()
	e.router.ServeHTTP(rec, req)
	return rec
}

func (e *oauthEnv) scim(tenant, auth string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "/scim/"+tenant+"/v2/ServiceProviderConfig", nil)
	req.Header.Set("Authorization", auth)
	rec := httptest.NewRecorder()
	e.router.ServeHTTP(rec, req)
	return rec
}

func grant() url.Values { return url.Values{"grant_type": {"client_credentials"}} }

func wantNoStore(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Header().Get("Cache-Control") != "no-store" || rec.Header().Get("Pragma") != "no-cache" {
		t.Errorf("Cache-Control %q Pragma %q, want no-store and no-cache", rec.Header().Get("Cache-Control"), rec.Header().Get("Pragma"))
	}
}

// Both client authentication methods of RFC 6749 §2.3.1 obtain a token
// (§4.4.3, §5.1) that opens the client's tenant and no other.
func TestTokenEndpointIssuesTenantTokens(t *testing.T) {
	t.Parallel()
	e := setupOAuth(t)
	post := grant()
	post.Set("client_id", e.id)
	post.Set("client_secret", e.secret)
	post.Set("scope", "anything")
	for name, rec := range map[string]*httptest.ResponseRecorder{
		"client_secret_basic": e.token(grant(), []string{e.id, e.secret}, ""),
		"client_secret_post":  e.token(post, nil, ""),
		// Entra's "How credentials are sent: Both".
		"both, agreeing": e.token(post, []string{e.id, e.secret}, ""),
	} {
		wantStatus(t, rec, http.StatusOK)
		wantNoStore(t, rec)
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s: Content-Type %q", name, ct)
		}
		body := decode(t, rec)
		tok, _ := body["access_token"].(string)
		if !strings.EqualFold(body["token_type"].(string), "bearer") || body["scope"] != OAuthScope ||
			body["expires_in"].(float64) < 3590 || body["expires_in"].(float64) > 3600 || tok == "" {
			t.Fatalf("%s: %v", name, body)
		}
		if rec := e.scim(e.tenant, "Bearer "+tok); rec.Code != http.StatusOK {
			t.Fatalf("%s: the token on its tenant: %d %s", name, rec.Code, rec.Body)
		} else if !strings.Contains(rec.Body.String(), `"oauth2"`) || !strings.Contains(rec.Body.String(), publicURL+TokenPath) {
			t.Errorf("discovery does not announce the token endpoint: %s", rec.Body)
		}
		wantSCIMError(t, e.scim(e.other, "Bearer "+tok), http.StatusUnauthorized, "")
	}
	// Tampered: one character of the signature changed.
	tok := decode(t, e.token(grant(), []string{e.id, e.secret}, ""))["access_token"].(string)
	bad := tok[:len(tok)-3] + string(rune(tok[len(tok)-3]^1)) + tok[len(tok)-2:]
	wantSCIMError(t, e.scim(e.tenant, "Bearer "+bad), http.StatusUnauthorized, "")
	// Revoked: refused at once.
	if err := e.clients.Revoke(context.Background(), e.tenant, e.id); err != nil {
		t.Fatal(err)
	}
	wantSCIMError(t, e.scim(e.tenant, "Bearer "+tok), http.StatusUnauthorized, "")
	if rec := e.token(grant(), []string{e.id, e.secret}, ""); rec.Code != http.StatusUnauthorized {
		t.Fatalf("a revoked client got a token: %d %s", rec.Code, rec.Body)
	}
}

// Token errors per RFC 6749 §5.2: the code, and 401 with a Basic challenge
// when the client used (or should use) HTTP Basic.
func TestTokenEndpointErrors(t *testing.T) {
	t.Parallel()
	e := setupOAuth(t)
	with := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v
	}
	good := []string{e.id, e.secret}
	cases := []struct {
		name   string
		form   url.Values
		basic  []string
		status int
		code   string
	}{
		{"no grant_type", with(), good, 400, "invalid_request"},
		{"password grant", with("grant_type", "password", "username", "u", "password", "p"), good, 400, "unsupported_grant_type"},
		{"authorization_code grant", with("grant_type", "authorization_code", "code", "x"), good, 400, "unsupported_grant_type"},
		{"grant_type twice", with("grant_type", "client_credentials", "grant_type", "client_credentials"), good, 400, "invalid_request"},
		{"both methods, different secrets", with("grant_type", "client_credentials", "client_id", e.id, "client_secret", e.otherSecret), good, 400, "invalid_request"},
		{"body id differs from Basic", with("grant_type", "client_credentials", "client_id", e.otherID), good, 400, "invalid_request"},
		{"no client authentication", grant(), nil, 401, "invalid_client"},
		{"wrong secret, Basic", grant(), []string{e.id, e.otherSecret}, 401, "invalid_client"},
		{"unknown client, Basic", grant(), []string{"nobody.c0123456789abcdef", e.secret}, 401, "invalid_client"},
		{"wrong secret, post", with("grant_type", "client_credentials", "client_id", e.id, "client_secret", e.otherSecret), nil, 400, "invalid_client"},
		{"client id only, post", with("grant_type", "client_credentials", "client_id", e.id), nil, 401, "invalid_client"},
		{"disabled tenant", grant(), []string{e.disabledID, e.disabledSecret}, 400, "unauthorized_client"},
	}
	for i, tc := range cases {
		rec := e.token(tc.form, tc.basic, "198.51.100."+strconv.Itoa(i+1))
		wantStatus(t, rec, tc.status)
		wantNoStore(t, rec)
		if got := decode(t, rec)["error"]; got != tc.code {
			t.Errorf("%s: error %v, want %s", tc.name, got, tc.code)
		}
		challenge := rec.Header().Get("WWW-Authenticate")
		if (tc.status == 401) != strings.HasPrefix(challenge, "Basic ") {
			t.Errorf("%s: WWW-Authenticate %q with status %d", tc.name, challenge, tc.status)
		}
	}
	for name, req := range map[string]func() *http.Request{
		"JSON body": func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, TokenPath, strings.NewReader(`{"grant_type":"client_credentials"}`))
			r.Header.Set("Content-Type", "application/json")
			return r
		},
		"secret in the URI": func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, TokenPath+"?client_secret="+e.secret, strings.NewReader(grant().Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		},
	} {
		rec := httptest.NewRecorder()
		e.router.ServeHTTP(rec, req())
		wantStatus(t, rec, http.StatusBadRequest)
		if got := decode(t, rec)["error"]; got != "invalid_request" {
			t.Errorf("%s: error %v", name, got)
		}
	}
	// A Bearer header at the token endpoint is not client authentication.
	req := httptest.NewRequest(http.MethodPost, TokenPath, strings.NewReader(grant().Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+e.secret)
	rec := httptest.NewRecorder()
	e.router.ServeHTTP(rec, req)
	wantStatus(t, rec, http.StatusUnauthorized)
	if rec.Body.String() == "" || strings.Contains(rec.Body.String(), e.secret) {
		t.Errorf("body %s", rec.Body)
	}
}

// Guessing client secrets: after tokenGuesses wrong ones from an address,
// it is refused (429) for the window, even with the right secret; other
// addresses are not.
func TestTokenEndpointLimitsGuesses(t *testing.T) {
	t.Parallel()
	e := setupOAuth(t)
	for range tokenGuesses {
		wantStatus(t, e.token(grant(), []string{e.id, e.otherSecret}, "203.0.113.5"), http.StatusUnauthorized)
	}
	rec := e.token(grant(), []string{e.id, e.secret}, "203.0.113.5")
	wantStatus(t, rec, http.StatusTooManyRequests)
	if n, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || n < 1 || n > 61 {
		t.Errorf("Retry-After %q", rec.Header().Get("Retry-After"))
	}
	wantStatus(t, e.token(grant(), []string{e.id, e.secret}, "203.0.113.6"), http.StatusOK)
}

// Without OAuth there is no token endpoint, and a token-shaped bearer is
// refused like any wrong key.
func TestNoOAuthNoTokenEndpoint(t *testing.T) {
	t.Parallel()
	env := setup(t, Config{})
	req := httptest.NewRequest(http.MethodPost, TokenPath, strings.NewReader(grant().Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	env.router.ServeHTTP(rec, req)
	wantStatus(t, rec, http.StatusNotFound)
	wantSCIMError(t, env.do(http.MethodGet, baseA+"/Users", "", map[string]string{"Authorization": "Bearer scbt_e30.x"}), http.StatusUnauthorized, "")
	if body := env.do(http.MethodGet, baseA+"/ServiceProviderConfig", "", nil).Body.String(); strings.Contains(body, `"oauth2"`) {
		t.Errorf("discovery announces OAuth without a token endpoint: %s", body)
	}
}

func TestGuessLimiterIsBounded(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	g := NewGuessLimiter(3, time.Minute, func() time.Time { return now })
	for i := range MaxGuessAddrs + 5 {
		g.Fail("10.0." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256))
	}
	if g.tracked() != MaxGuessAddrs {
		t.Fatalf("tracked %d addresses, want the bound %d", g.tracked(), MaxGuessAddrs)
	}
	now = now.Add(time.Minute)
	g.Fail("203.0.113.1")
	if g.tracked() != 1 {
		t.Fatalf("after the window: %d addresses tracked, want only the new one", g.tracked())
	}
	for range 2 {
		g.Fail("203.0.113.1")
	}
	if _, blocked := g.Blocked("203.0.113.1"); !blocked {
		t.Fatal("not blocked after 3 failures")
	}
}

// A SCIM request authenticated with an access token is recorded as the
// OAuth client's last request, with the request's User-Agent (what the
// setup page shows), as an API key's is.
func TestOAuthRequestRecordsLastUse(t *testing.T) {
	t.Parallel()
	e := setupOAuth(t)
	tok := decode(t, e.token(grant(), []string{e.id, e.secret}, ""))["access_token"].(string)
	list, err := e.clients.List(context.Background(), e.tenant)
	if err != nil || len(list) != 1 || !list[0].LastUsed.IsZero() {
		t.Fatalf("before a SCIM request: %+v %v", list, err)
	}
	req := httptest.NewRequest(http.MethodGet, "/scim/"+e.tenant+"/v2/ServiceProviderConfig", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("User-Agent", "Microsoft.Azure.ActiveDirectory.Provisioning/1.0")
	rec := httptest.NewRecorder()
	e.router.ServeHTTP(rec, req)
	wantStatus(t, rec, http.StatusOK)
	e.clients.Wait()
	list, err = e.clients.List(context.Background(), e.tenant)
	if err != nil || len(list) != 1 {
		t.Fatalf("list: %+v %v", list, err)
	}
	if time.Since(list[0].LastUsed) > time.Minute || list[0].LastClient != "Microsoft.Azure.ActiveDirectory.Provisioning/1.0" {
		t.Fatalf("the request was recorded as %v by %q", list[0].LastUsed, list[0].LastClient)
	}
}
