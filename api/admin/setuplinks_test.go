package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/tenants"
)

// The console and the admin API make and revoke setup links; without
// setup links (no secrets.key_file) the API says why.
func TestSetupLinksConsoleAndAPI(t *testing.T) {
	rdb := testRedis(t)
	b := setupAdmin(t, rdb)
	if w := b.do("GET", "/admin/v1/tenants/"+b.tenant+"/setup-links", ""); w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "secrets.key_file") {
		t.Fatalf("without setup links: %d %s", w.Code, w.Body)
	}
	op, err := NewOperator(rightToken)
	if err != nil {
		t.Fatal(err)
	}
	reg := tenants.NewRegistry(rdb)
	links, err := tenants.NewSetupLinks(rdb, reg, bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	b.remount(t, rdb, "https://scim.example.com", Deps{Operator: op, Tenants: reg, SetupLinks: links})
	ctx := context.Background()

	// The API: bad input is 400, a link is 201 with its URL.
	for _, body := range []string{`{"ttl":"soon"}`, `{"ttl":"1m"}`, `{"idp":"onelogin"}`, `{"name":"x"}`} {
		if w := b.do("POST", "/admin/v1/tenants/"+b.tenant+"/setup-links", body); w.Code != http.StatusBadRequest {
			t.Errorf("%s: %d %s", body, w.Code, w.Body)
		}
	}
	if w := b.do("POST", "/admin/v1/tenants/no-such-tenant-z/setup-links", ""); w.Code != http.StatusNotFound {
		t.Errorf("unknown tenant: %d", w.Code)
	}
	w := b.do("POST", "/admin/v1/tenants/"+b.tenant+"/setup-links", `{"ttl":"48h","idp":"entra"}`)
	var made NewSetupLink
	if w.Code != http.StatusCreated || json.Unmarshal(w.Body.Bytes(), &made) != nil ||
		!strings.HasPrefix(made.URL, "https://scim.example.com/setup/"+b.tenant+"/open/scbl_") || made.IdP != "entra" {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	if _, err := links.Verify(ctx, b.tenant, made.URL[strings.LastIndex(made.URL, "/")+1:]); err != nil {
		t.Fatalf("the API's link: %v", err)
	}

	// The console: create (the URL shown once), list, revoke.
	send, csrf := b.consoleSession(t, op)
	page := "/console/tenants/" + b.tenant
	if w := send("POST", page+"/setup-links", url.Values{"ttl": {"2h"}}); w.Code != http.StatusForbidden {
		t.Fatalf("without the CSRF token: %d", w.Code)
	}
	if w := send("POST", page+"/setup-links", url.Values{"ttl": {"forever"}, csrfField: {csrf}}); w.Code != http.StatusBadRequest {
		t.Fatalf("bad ttl: %d %s", w.Code, w.Body)
	}
	w = send("POST", page+"/setup-links", url.Values{"ttl": {"2h"}, "idp": {"okta"}, csrfField: {csrf}})
	m := regexp.MustCompile(`<code id="setup-link-url">([^<]+)</code>`).FindStringSubmatch(w.Body.String())
	if w.Code != http.StatusOK || m == nil {
		t.Fatalf("create in the console: %d\n%s", w.Code, w.Body)
	}
	token := m[1][strings.LastIndex(m[1], "/")+1:]
	link, err := links.Verify(ctx, b.tenant, token)
	if err != nil || link.IdP != "okta" {
		t.Fatalf("the console's link: %+v %v", link, err)
	}
	if w := send("GET", page, nil); strings.Contains(w.Body.String(), token) || !strings.Contains(w.Body.String(), link.ID) {
		t.Fatalf("the page after: the link again, or not listed:\n%s", w.Body)
	}
	if w := send("POST", page+"/setup-links/"+link.ID+"/revoke", url.Values{csrfField: {csrf}}); w.Code != http.StatusSeeOther {
		t.Fatalf("revoke: %d %s", w.Code, w.Body)
	}
	if _, err := links.Verify(ctx, b.tenant, token); !errors.Is(err, tenants.ErrLinkRevoked) {
		t.Fatalf("after revoke in the console: %v", err)
	}
	w = b.do("GET", "/admin/v1/tenants/"+b.tenant+"/setup-links", "")
	var list struct {
		Links []tenants.SetupLink `json:"setup_links"`
	}
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &list) != nil || len(list.Links) != 2 {
		t.Fatalf("list: %d %s", w.Code, w.Body)
	}
	if w := b.do("DELETE", "/admin/v1/tenants/"+b.tenant+"/setup-links/"+made.ID, ""); w.Code != http.StatusNoContent {
		t.Fatalf("revoke in the API: %d", w.Code)
	}
	if w := b.do("DELETE", "/admin/v1/tenants/"+b.tenant+"/setup-links/lnone", ""); w.Code != http.StatusNotFound {
		t.Fatalf("revoke an unknown link: %d", w.Code)
	}
}
