package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/scimbridge/scimbridge/internal/testsupport"
	"github.com/scimbridge/scimbridge/tenants"
)

// scimGet sends GET with an Authorization header and returns the status
// and the body.
func scimGet(t *testing.T, url, auth string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", auth)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// wantSCIM401 fails unless the credential is refused with a SCIM Error 401.
func wantSCIM401(t *testing.T, what, url, auth string) {
	t.Helper()
	status, body := scimGet(t, url, auth)
	var e struct {
		Schemas []string `json:"schemas"`
		Status  string   `json:"status"`
	}
	if status != http.StatusUnauthorized || json.Unmarshal(body, &e) != nil ||
		len(e.Schemas) != 1 || !strings.HasSuffix(e.Schemas[0], ":Error") || e.Status != "401" {
		t.Errorf("%s: %d %s, want a 401 SCIM error", what, status, body)
	}
}

// An OAuth client made with the CLI obtains tokens with RFC 6749's client
// credentials grant (golang.org/x/oauth2 as the client, both of §2.3.1's
// methods), Okta's spec test passes with such a token, and a token that is
// expired, another tenant's, tampered with or its revoked client's is
// refused; the secret is never in Redis, the logs or a listing.
func TestOAuthClientCredentialsFlow(t *testing.T) {
	redisAddr := testsupport.RedisDB(t, e2eRedisDB)
	acme, _ := adminSQLiteTenant(t, "oauth-acme")
	globex, _ := adminSQLiteTenant(t, "oauth-globex")
	cfg := testConfig(t, redisAddr, acme, globex)
	cfgPath := writeAdminConfig(t, redisAddr, cfg)
	// A cached live client is trusted this long: only the announcement of
	// a revocation can end its tokens within the test.
	cfg.API.KeyCacheTTL = time.Hour
	logs := &testsupport.LockedBuffer{}
	ts := startTestServer(t, cfg, serverOptions{logs: logs, caches: true})
	ctx := context.Background()
	cli := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := run(append(args, "--config", cfgPath), &out, &errOut); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, errOut.String())
		}
		return out.String()
	}

	var created struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
		TokenURL     string `json:"token_url"`
		BaseURL      string `json:"base_url"`
	}
	out := cli("oauth-client", "create", "--tenant", "oauth-acme", "--name", "entra", "--json")
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.ClientSecret == "" ||
		!strings.HasSuffix(created.TokenURL, "/oauth/token") || !strings.HasSuffix(created.BaseURL, "/scim/oauth-acme/v2") {
		t.Fatalf("oauth-client create --json: %v\n%s", err, out)
	}
	base := ts.url + "/scim/oauth-acme/v2"

	var token *oauth2.Token
	for name, style := range map[string]oauth2.AuthStyle{
		"client_secret_basic": oauth2.AuthStyleInHeader,
		"client_secret_post":  oauth2.AuthStyleInParams,
	} {
		conf := clientcredentials.Config{ClientID: created.ClientID, ClientSecret: created.ClientSecret,
			TokenURL: ts.url + "/oauth/token", Scopes: []string{"scim"}, AuthStyle: style}
		tok, err := conf.Token(ctx)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !strings.EqualFold(tok.TokenType, "bearer") || time.Until(tok.Expiry) < 59*time.Minute || time.Until(tok.Expiry) > time.Hour {
			t.Fatalf("%s: token type %q, expiry in %v", name, tok.TokenType, time.Until(tok.Expiry))
		}
		resp, err := conf.Client(ctx).Get(base + "/Users?count=1")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: GET /Users with the token: %d", name, resp.StatusCode)
		}
		token = tok
	}
	// A wrong secret is the client's error (RFC 6749 §5.2), seen by the client library.
	// The last character changed to another one (appending a fixed "x" was no
	// change at all whenever the secret already ended in x).
	last := created.ClientSecret[len(created.ClientSecret)-1]
	wrong := created.ClientSecret[:len(created.ClientSecret)-1] + string(rune(last^1))
	bad := clientcredentials.Config{ClientID: created.ClientID, ClientSecret: wrong,
		TokenURL: ts.url + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader}
	var re *oauth2.RetrieveError
	if _, err := bad.Token(ctx); err == nil || !asRetrieveError(err, &re) || re.ErrorCode != "invalid_client" || re.Response.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong secret: %v", err)
	}

	// Okta's spec test, authenticated with the access token, on a tenant
	// with one complete user (written with the token too).
	sc := &scimClient{t: t, base: base, auth: "Bearer " + token.AccessToken}
	if status, body := sc.do(http.MethodPost, "/Users", map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": "first.user@example.com", "active": true,
		"name":   map[string]any{"givenName": "First", "familyName": "User"},
		"emails": []any{map[string]any{"value": "first.user@example.com", "type": "work", "primary": true}},
	}); status != http.StatusCreated {
		t.Fatalf("create a user with the token: %d %v", status, body)
	}
	runOktaSpec(t, oktaSpecPath(oktaSpecCurrent), base, "Bearer "+token.AccessToken)

	// Discovery names the token endpoint.
	if status, body := scimGet(t, base+"/ServiceProviderConfig", "Bearer "+token.AccessToken); status != http.StatusOK ||
		!bytes.Contains(body, []byte(`"oauth2"`)) || !bytes.Contains(body, []byte(ts.url+"/oauth/token")) {
		t.Errorf("ServiceProviderConfig: %d %s", status, body)
	}

	// Refused: another tenant, tampered, expired.
	wantSCIM401(t, "another tenant", ts.url+"/scim/oauth-globex/v2/Users", "Bearer "+token.AccessToken)
	tampered := []byte(token.AccessToken)
	tampered[len(tampered)-5] ^= 1
	wantSCIM401(t, "tampered", base+"/Users", "Bearer "+string(tampered))
	key, err := readSecretKey(cfg.Secrets.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	tokenKey, _ := tenants.DeriveTokenKey(key)
	short, err := tenants.NewAccessTokens(ts.app.oauth, tokenKey, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	client, err := ts.app.oauth.Authenticate(ctx, created.ClientID, created.ClientSecret)
	if err != nil {
		t.Fatal(err)
	}
	brief, _, err := short.Issue(ctx, client)
	if err != nil {
		t.Fatal(err)
	}
	if status, body := scimGet(t, base+"/Users?count=1", "Bearer "+brief); status != http.StatusOK {
		t.Fatalf("a short-lived token before it expires: %d %s", status, body)
	}
	time.Sleep(2 * time.Second)
	wantSCIM401(t, "expired", base+"/Users", "Bearer "+brief)

	// The secret is nowhere in clear text: not in Redis (every key of the
	// database), not in a listing, not in the logs.
	iter := ts.app.rdb.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		dump, err := ts.app.rdb.Dump(ctx, iter.Val()).Result()
		if err == nil && strings.Contains(dump, created.ClientSecret[len("scbs_"):]) {
			t.Errorf("the client secret is in Redis under %s", iter.Val())
		}
	}
	for _, args := range [][]string{{"oauth-client", "list", "--tenant", "oauth-acme", "--json"}, {"oauth-client", "list", "--tenant", "oauth-acme"}} {
		if out := cli(args...); !strings.Contains(out, created.ClientID) || strings.Contains(out, created.ClientSecret) {
			t.Errorf("%v:\n%s", args, out)
		}
	}

	// Revoked with the CLI (another process): the token stops working on
	// the server at once (its cache would trust the live client for an
	// hour; the pub/sub announcement ends that), and no new token.
	cli("oauth-client", "revoke", "--tenant", "oauth-acme", "--client", "entra")
	deadline := time.Now().Add(5 * time.Second)
	for {
		status, _ := scimGet(t, base+"/Users?count=1", "Bearer "+token.AccessToken)
		if status == http.StatusUnauthorized {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the revoked client's token still works: %d", status)
		}
		time.Sleep(10 * time.Millisecond)
	}
	wantSCIM401(t, "revoked client", base+"/Users", "Bearer "+token.AccessToken)
	conf := clientcredentials.Config{ClientID: created.ClientID, ClientSecret: created.ClientSecret, TokenURL: ts.url + "/oauth/token"}
	if _, err := conf.Token(ctx); err == nil {
		t.Fatal("a revoked client obtained a token")
	}

	if strings.Contains(logs.String(), created.ClientSecret) || strings.Contains(logs.String(), token.AccessToken) {
		t.Error("the logs hold the client secret or an access token")
	}
	if !strings.Contains(logs.String(), "oauth: access token issued") {
		t.Error("no log line for an issued token")
	}
}

func asRetrieveError(err error, re **oauth2.RetrieveError) bool {
	e, ok := err.(*oauth2.RetrieveError) //nolint:errorlint // the library returns it unwrapped
	if ok {
		*re = e
	}
	return ok
}
