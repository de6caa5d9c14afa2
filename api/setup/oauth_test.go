package setup

// The tenant's OAuth clients on the page (real Redis): listed beside the
// keys with their name, id, creation and last use (time and client),
// never their secret; the Entra steps name the token endpoint; revoking
// one is a CSRF-protected POST like a key's, and only for the page's own
// tenant.

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/tenants"
)

// post sends a form to the page's path (a same-origin browser post).
func (e *pageEnv) post(c *http.Client, path string, form url.Values) (*http.Response, string) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", e.srv.URL)
	return e.do(c, req)
}

// accessToken is an access token of the OAuth client id, issued for its
// secret as /oauth/token would.
func (e *pageEnv) accessToken(ctx context.Context, id, secret string) string {
	e.t.Helper()
	authed, err := e.tokens.Authenticate(ctx, id, secret)
	if err != nil {
		e.t.Fatal(err)
	}
	token, _, err := e.tokens.Issue(ctx, authed)
	if err != nil {
		e.t.Fatal(err)
	}
	return token
}

func TestOAuthClientsListedAndRevoked(t *testing.T) {
	t.Parallel()
	e := newPageEnv(t)
	ctx := context.Background()
	c := e.client()
	e.open(c)
	page := PagePath(e.tenant)

	// No clients: no table, but the Entra steps say how to use one.
	_, body := e.get(c, page+"?idp=entra")
	if strings.Contains(body, `id="oauth-clients"`) {
		t.Fatal("an OAuth client table without clients")
	}
	tokenURL := e.srv.URL + "/oauth/token"
	entra := between(body, `id="entra-steps"`, `</ol>`)
	for _, want := range []string{"OAuth2 Client Credentials Grant", `<code id="token-url">` + tokenURL + `</code>`, "Client Identifier", "can create one for you"} {
		if !strings.Contains(entra, want) {
			t.Errorf("the Entra steps lack %q:\n%s", want, entra)
		}
	}

	secret, oc, err := e.oauth.Create(ctx, e.tenant, "Entra provisioning")
	if err != nil {
		t.Fatal(err)
	}
	_, body = e.get(c, page+"?idp=entra")
	row := between(body, `<tr class="oauth-client" data-name="Entra provisioning">`, `</tr>`)
	if row == "" {
		t.Fatalf("the client is not listed:\n%s", body)
	}
	if !strings.Contains(row, "<code>"+oc.ID+"</code>") || !strings.Contains(row, `<td class="client-used">never</td>`) ||
		!strings.Contains(row, `<td class="client-status">active</td>`) || !strings.Contains(row, `oauth-clients/`+oc.ID+`/revoke`) {
		t.Errorf("the new client's row:\n%s", row)
	}
	if !strings.Contains(between(body, `id="entra-steps"`, `</ol>`), "(listed in step 2)") {
		t.Error("the Entra steps do not point at the listed client")
	}
	if strings.Contains(body, secret) || strings.Contains(body, secret[:12]) {
		t.Fatal("the page shows the client's secret")
	}

	// Its token's request: last used, with the client.
	token := e.accessToken(ctx, oc.ID, secret)
	if _, err := e.tokens.VerifyFrom(ctx, e.tenant, token, "Microsoft.Azure.ActiveDirectory.Provisioning/1.0"); err != nil {
		t.Fatal(err)
	}
	e.oauth.Wait()
	_, body = e.get(c, page+"?idp=entra")
	used := between(between(body, `data-name="Entra provisioning">`, `</tr>`), `<td class="client-used">`, `</td>`)
	if !strings.Contains(used, " UTC") || !strings.Contains(used, `<span class="muted">Microsoft.Azure.ActiveDirectory.Provisioning/1.0</span>`) {
		t.Errorf("last used %q, want a time and the client", used)
	}

	csrf := between(body, `name="csrf" value="`, `"`)
	revoke := page + "oauth-clients/" + oc.ID + "/revoke"
	// Without the CSRF token, or from another origin: refused, still live.
	if resp, _ := e.post(c, revoke, url.Values{"idp": {"entra"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("revoke without the CSRF token: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+revoke, strings.NewReader(url.Values{"csrf": {csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if resp, _ := e.do(c, req); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("revoke from another origin: %d", resp.StatusCode)
	}
	// Another tenant's client id, and a name instead of an id: not found.
	for _, id := range []string{"other-tenant.c0123456789abcdef", "Entra provisioning"} {
		if resp, _ := e.post(c, page+"oauth-clients/"+url.PathEscape(id)+"/revoke", url.Values{"csrf": {csrf}}); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("revoke %q: %d, want 404", id, resp.StatusCode)
		}
	}
	if _, err := e.tokens.Verify(ctx, e.tenant, token); err != nil {
		t.Fatalf("a refused revoke revoked the client: %v", err)
	}

	resp, _ := e.post(c, revoke, url.Values{"csrf": {csrf}, "idp": {"entra"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != page+"?idp=entra&notice=oauth-revoked" {
		t.Fatalf("revoke: %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, err := e.tokens.Verify(ctx, e.tenant, token); !errors.Is(err, tenants.ErrUnauthorized) {
		t.Fatalf("the revoked client's token: %v, want ErrUnauthorized", err)
	}
	if _, err := e.tokens.Authenticate(ctx, oc.ID, secret); !errors.Is(err, tenants.ErrUnauthorized) {
		t.Fatalf("the revoked client authenticates: %v", err)
	}
	_, body = e.get(c, resp.Header.Get("Location"))
	row = between(body, `data-name="Entra provisioning">`, `</tr>`)
	if !strings.Contains(row, `<td class="client-status">revoked</td>`) || strings.Contains(row, "/revoke") {
		t.Errorf("the revoked client's row:\n%s", row)
	}
	if !strings.Contains(body, "OAuth client revoked") {
		t.Error("no notice after revoking")
	}
}
