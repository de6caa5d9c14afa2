package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/tenants"
)

// The admin API creates a tenant's OAuth client (its secret in that answer
// only, with the token URL), lists it without the secret and revokes it.
func TestAdminAPIOAuthClients(t *testing.T) {
	rdb := testRedis(t)
	b := setupAdmin(t, rdb)
	op, err := NewOperator(rightToken)
	if err != nil {
		t.Fatal(err)
	}
	reg := tenants.NewRegistry(rdb)
	clients := tenants.NewOAuthClients(rdb)
	b.remount(t, rdb, "https://scim.example.test/", Deps{Operator: op, Tenants: reg, OAuth: clients})
	path := "/admin/v1/tenants/" + b.tenant + "/oauth-clients"
	w := b.do("POST", path, `{"name":"entra"}`)
	if w.Code != http.StatusCreated {
		t.Fatalf("create client: %d %s", w.Code, w.Body)
	}
	var created NewOAuthClient
	if err := json.Unmarshal(w.Body.Bytes(), &created); err != nil {
		t.Fatal(err)
	}
	if created.ClientSecret == "" || tenants.ClientTenant(created.ID) != b.tenant ||
		created.TokenURL != "https://scim.example.test/oauth/token" ||
		created.BaseURL != "https://scim.example.test/scim/"+b.tenant+"/v2" {
		t.Fatalf("created: %s", w.Body)
	}
	if _, err := clients.Authenticate(context.Background(), created.ID, created.ClientSecret); err != nil {
		t.Fatalf("the secret shown does not authenticate: %v", err)
	}
	if w := b.do("POST", path, `{"name":"entra"}`); w.Code != http.StatusConflict {
		t.Errorf("second client named entra: %d %s", w.Code, w.Body)
	}
	w = b.do("GET", path, "")
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), created.ID) ||
		strings.Contains(w.Body.String(), created.ClientSecret) || strings.Contains(w.Body.String(), `"hash"`) {
		t.Fatalf("list: %d %s", w.Code, w.Body)
	}
	if w := b.do("DELETE", path+"/"+created.ID, ""); w.Code != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", w.Code, w.Body)
	}
	if _, err := clients.Authenticate(context.Background(), created.ID, created.ClientSecret); err == nil {
		t.Fatal("a revoked client authenticates")
	}
	if w := b.do("DELETE", path+"/nosuchclient", ""); w.Code != http.StatusNotFound {
		t.Errorf("revoke unknown: %d %s", w.Code, w.Body)
	}
}

// The console's tenant page lists OAuth clients, creates one (the secret
// shown once, with the four values Entra asks for) and revokes it.
func TestConsoleOAuthClients(t *testing.T) {
	rdb := testRedis(t)
	b := setupAdmin(t, rdb)
	op, err := NewOperator(rightToken)
	if err != nil {
		t.Fatal(err)
	}
	reg := tenants.NewRegistry(rdb)
	clients := tenants.NewOAuthClients(rdb)
	b.remount(t, rdb, "", Deps{Operator: op, Tenants: reg, OAuth: clients})
	send, csrf := b.consoleSession(t, op)
	page := "/console/tenants/" + b.tenant
	if w := send("GET", page, nil); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "No OAuth clients yet.") {
		t.Fatalf("tenant page: %d %s", w.Code, w.Body)
	}
	if w := send("POST", page+"/oauth-clients", url.Values{"name": {"entra"}}); w.Code != http.StatusForbidden {
		t.Fatalf("create without the CSRF token: %d", w.Code)
	}
	w := send("POST", page+"/oauth-clients", url.Values{"name": {"entra"}, csrfField: {csrf}})
	if w.Code != http.StatusOK {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	m := regexp.MustCompile(`<code id="client-secret">([^<]+)</code>`).FindStringSubmatch(w.Body.String())
	id := regexp.MustCompile(`<code id="client-id">([^<]+)</code>`).FindStringSubmatch(w.Body.String())
	if m == nil || id == nil || !strings.Contains(w.Body.String(), "/oauth/token</code>") {
		t.Fatalf("the new client's values are not shown:\n%s", w.Body)
	}
	if _, err := clients.Authenticate(context.Background(), id[1], m[1]); err != nil {
		t.Fatalf("the secret shown does not authenticate: %v", err)
	}
	if w := send("GET", page, nil); strings.Contains(w.Body.String(), m[1]) || !strings.Contains(w.Body.String(), id[1]) {
		t.Fatalf("the page after: the secret again, or no client:\n%s", w.Body)
	}
	w = send("POST", page+"/oauth-clients/"+id[1]+"/revoke", url.Values{csrfField: {csrf}})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("revoke: %d %s", w.Code, w.Body)
	}
	if _, err := clients.Authenticate(context.Background(), id[1], m[1]); err == nil {
		t.Fatal("a revoked client authenticates")
	}
}
