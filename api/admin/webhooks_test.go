package admin

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	syncsvc "github.com/scimbridge/scimbridge/sync"
	"github.com/scimbridge/scimbridge/tenants"
)

// webhookHandler is the admin handler with the events feed and webhooks.
func webhookHandler(t *testing.T, b *adminBundle, withKey bool) *Operator {
	t.Helper()
	rdb := testRedis(t)
	op, err := NewOperator(rightToken)
	if err != nil {
		t.Fatal(err)
	}
	reg := tenants.NewRegistry(rdb)
	ledger := syncsvc.NewLedger(rdb, nil)
	ledger.SetEventRetention(time.Hour)
	w := &syncsvc.Webhooks{Ledger: ledger, Timeout: time.Second}
	if withKey {
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		if w.Sealer, err = syncsvc.NewSealer(key); err != nil {
			t.Fatal(err)
		}
	}
	b.remount(t, rdb, "", Deps{Operator: op, Tenants: reg, Admin: &syncsvc.Admin{Ledger: ledger, Tenants: reg}, Webhooks: w})
	return op
}

// The admin API manages endpoints (the secret in the creation's answer
// only), refuses bad input with 400 and nothing written, and serves the
// feed with a cursor.
func TestAdminAPIWebhooksAndFeed(t *testing.T) {
	b := setupAdmin(t, testRedis(t))
	webhookHandler(t, &b, true)
	base := "/admin/v1/tenants/" + b.tenant
	for _, body := range []string{`{"url":"http://169.254.169.254/"}`, `{"url":"gopher://x"}`, `{"url":"https://a.example/","event_types":["user.nope"]}`, `{"nope":1}`} {
		if w := b.do("POST", base+"/webhooks", body); w.Code != http.StatusBadRequest {
			t.Fatalf("%s: %d %s", body, w.Code, w.Body)
		}
	}
	if w := b.do("GET", base+"/webhooks", ""); !strings.Contains(w.Body.String(), `"webhooks":[]`) {
		t.Fatalf("refused creations wrote something: %s", w.Body)
	}
	w := b.do("POST", base+"/webhooks", `{"url":"https://app.example/hooks","event_types":["user.created"]}`)
	var created struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	if w.Code != http.StatusCreated || json.Unmarshal(w.Body.Bytes(), &created) != nil || !strings.HasPrefix(created.Secret, "whsec_") {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	if w := b.do("GET", base+"/webhooks/"+created.ID, ""); w.Code != 200 || strings.Contains(w.Body.String(), created.Secret) || strings.Contains(w.Body.String(), "sealed") {
		t.Fatalf("show: %d %s", w.Code, w.Body)
	}
	if w := b.do("PATCH", base+"/webhooks/"+created.ID, `{"enabled":false}`); w.Code != 200 || !strings.Contains(w.Body.String(), `"enabled":false`) {
		t.Fatalf("disable: %d %s", w.Code, w.Body)
	}
	w = b.do("POST", base+"/webhooks/"+created.ID+"/rotate", `{"overlap":"1h"}`)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"secrets_active":2`) || strings.Contains(w.Body.String(), created.Secret) {
		t.Fatalf("rotate: %d %s", w.Code, w.Body)
	}
	if w := b.do("GET", base+"/webhooks/"+created.ID+"/deliveries", ""); w.Code != 200 || !strings.Contains(w.Body.String(), `"deliveries":[]`) {
		t.Fatalf("deliveries: %d %s", w.Code, w.Body)
	}
	if w := b.do("GET", base+"/events?limit=5", ""); w.Code != 200 || !strings.Contains(w.Body.String(), `"events":[]`) {
		t.Fatalf("feed: %d %s", w.Code, w.Body)
	}
	for _, q := range []string{"?after=nope", "?limit=0", "?limit=5000"} {
		if w := b.do("GET", base+"/events"+q, ""); w.Code != http.StatusBadRequest {
			t.Fatalf("feed %s: %d %s", q, w.Code, w.Body)
		}
	}
	if w := b.do("POST", base+"/events/replay", `{}`); w.Code != http.StatusBadRequest {
		t.Fatalf("replay of nothing: %d %s", w.Code, w.Body)
	}
	if w := b.do("GET", "/admin/v1/tenants/nope-"+b.tenant+"/events", ""); w.Code != http.StatusNotFound {
		t.Fatalf("another tenant's feed: %d", w.Code)
	}
	if w := b.do("DELETE", base+"/webhooks/"+created.ID, ""); w.Code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", w.Code, w.Body)
	}
	if w := b.do("GET", base+"/webhooks/"+created.ID, ""); w.Code != http.StatusNotFound {
		t.Fatalf("after delete: %d", w.Code)
	}
}

// Without secrets.key_file an endpoint is refused with a 400 that says
// why.
func TestAdminAPIWebhooksNeedAKey(t *testing.T) {
	b := setupAdmin(t, testRedis(t))
	webhookHandler(t, &b, false)
	w := b.do("POST", "/admin/v1/tenants/"+b.tenant+"/webhooks", `{"url":"https://app.example/hooks"}`)
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "secrets.key_file") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

// The console adds an endpoint (its secret shown once), disables it and
// shows it disabled.
func TestConsoleWebhooks(t *testing.T) {
	b := setupAdmin(t, testRedis(t))
	op := webhookHandler(t, &b, true)
	send, csrf := b.consoleSession(t, op)
	page := "/console/tenants/" + b.tenant
	if w := send("GET", page, nil); w.Code != 200 || !strings.Contains(w.Body.String(), "No webhook endpoints yet.") {
		t.Fatalf("tenant page: %d %s", w.Code, w.Body)
	}
	if w := send("POST", page+"/webhooks", url.Values{"url": {"https://app.example/h"}}); w.Code != http.StatusForbidden {
		t.Fatalf("without the CSRF token: %d", w.Code)
	}
	if w := send("POST", page+"/webhooks", url.Values{"url": {"http://169.254.169.254/"}, csrfField: {csrf}}); w.Code != http.StatusBadRequest {
		t.Fatalf("a metadata URL: %d", w.Code)
	}
	w := send("POST", page+"/webhooks", url.Values{"url": {"https://app.example/h"}, "types": {"user.created, user.deleted"}, csrfField: {csrf}})
	secret := regexp.MustCompile(`<code id="webhook-secret">(whsec_[^<]+)</code>`).FindStringSubmatch(w.Body.String())
	ep := regexp.MustCompile(`data-id="(ep_[a-f0-9]+)"`).FindStringSubmatch(w.Body.String())
	if w.Code != 200 || secret == nil || ep == nil {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	if w := send("POST", page+"/webhooks/"+ep[1]+"/disable", url.Values{csrfField: {csrf}}); w.Code != http.StatusSeeOther {
		t.Fatalf("disable: %d", w.Code)
	}
	w = send("GET", page, nil)
	if body := w.Body.String(); strings.Contains(body, secret[1]) || !strings.Contains(body, "user.created, user.deleted") || !strings.Contains(body, ">disabled<") {
		t.Fatalf("the page after: %s", body)
	}
}

// The console's endpoint page edits the URL (through the host policy, as
// a creation) and the event types, and deletes the endpoint only with the
// confirm box ticked; every form needs the CSRF token, a refused one
// changes nothing, and another tenant's page cannot reach the endpoint.
func TestConsoleWebhookEditAndDelete(t *testing.T) {
	b := setupAdmin(t, testRedis(t))
	op := webhookHandler(t, &b, true)
	send, csrf := b.consoleSession(t, op)
	api := "/admin/v1/tenants/" + b.tenant + "/webhooks"
	w := b.do("POST", api, `{"url":"https://app.example/h","event_types":["user.created"]}`)
	var created struct {
		ID string `json:"id"`
	}
	if w.Code != http.StatusCreated || json.Unmarshal(w.Body.Bytes(), &created) != nil {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	stored := func() syncsvc.Endpoint {
		t.Helper()
		var e syncsvc.Endpoint
		w := b.do("GET", api+"/"+created.ID, "")
		if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &e) != nil {
			t.Fatalf("show: %d %s", w.Code, w.Body)
		}
		return e
	}
	page := "/console/tenants/" + b.tenant + "/webhooks/" + created.ID
	if w := send("GET", "/console/tenants/"+b.tenant, nil); !strings.Contains(w.Body.String(), `href="`+page+`"`) {
		t.Fatalf("the tenant page links no endpoint page: %s", w.Body)
	}
	w = send("GET", page, nil)
	if body := w.Body.String(); w.Code != 200 || !strings.Contains(body, `value="https://app.example/h"`) ||
		!strings.Contains(body, `value="user.created"`) || !strings.Contains(body, `name="confirm"`) {
		t.Fatalf("endpoint page: %d %s", w.Code, body)
	}

	// Refused edits: no CSRF token, a metadata or link-local address, a
	// URL with credentials, an unknown type. Nothing changes.
	if w := send("POST", page, url.Values{"url": {"https://other.example/h"}}); w.Code != http.StatusForbidden {
		t.Fatalf("edit without the CSRF token: %d", w.Code)
	}
	for _, f := range []url.Values{
		{"url": {"http://169.254.169.254/latest"}},
		{"url": {"http://[fe80::1]/h"}},
		{"url": {"https://u:p@app.example/h"}},
		{"url": {"https://app.example/h"}, "types": {"user.created, user.nope"}},
	} {
		f.Set(csrfField, csrf)
		w := send("POST", page, f)
		if body := w.Body.String(); w.Code != http.StatusBadRequest || !strings.Contains(body, `id="error"`) ||
			!strings.Contains(body, `value="`+f.Get("url")+`"`) {
			t.Fatalf("edit %v: %d %s", f, w.Code, body)
		}
	}
	if e := stored(); e.URL != "https://app.example/h" || len(e.Types) != 1 || e.Types[0] != "user.created" {
		t.Fatalf("a refused edit changed the endpoint: %+v", e)
	}

	w = send("POST", page, url.Values{"url": {" https://app2.example/hooks "}, "types": {"user.deleted, group.created"}, csrfField: {csrf}})
	if w.Code != http.StatusSeeOther || !strings.Contains(w.Header().Get("Location"), "notice=webhook-updated") {
		t.Fatalf("edit: %d %s", w.Code, w.Body)
	}
	if e := stored(); e.URL != "https://app2.example/hooks" || strings.Join(e.Types, ",") != "user.deleted,group.created" {
		t.Fatalf("after the edit: %+v", e)
	}
	if w := send("POST", page, url.Values{"url": {"https://app2.example/hooks"}, "types": {""}, csrfField: {csrf}}); w.Code != http.StatusSeeOther {
		t.Fatalf("edit to all types: %d %s", w.Code, w.Body)
	}
	if e := stored(); len(e.Types) != 0 {
		t.Fatalf("an empty types field should take every type: %+v", e.Types)
	}

	// Another tenant's console path does not reach the endpoint.
	other := "other-" + b.tenant
	if w := b.do("POST", "/admin/v1/tenants", tenantBody(other)); w.Code != http.StatusCreated {
		t.Fatalf("create tenant: %d %s", w.Code, w.Body)
	}
	t.Cleanup(func() { b.do("DELETE", "/admin/v1/tenants/"+other, "") })
	otherPage := "/console/tenants/" + other + "/webhooks/" + created.ID
	if w := send("GET", otherPage, nil); w.Code != http.StatusNotFound {
		t.Fatalf("another tenant's page: %d", w.Code)
	}
	if w := send("POST", otherPage+"/delete", url.Values{"confirm": {"yes"}, csrfField: {csrf}}); w.Code != http.StatusNotFound {
		t.Fatalf("delete through another tenant: %d", w.Code)
	}

	// Delete: the CSRF token and the confirm box are both needed.
	if w := send("POST", page+"/delete", url.Values{"confirm": {"yes"}}); w.Code != http.StatusForbidden {
		t.Fatalf("delete without the CSRF token: %d", w.Code)
	}
	w = send("POST", page+"/delete", url.Values{csrfField: {csrf}})
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "tick the box") {
		t.Fatalf("delete without confirming: %d %s", w.Code, w.Body)
	}
	stored() // still there
	w = send("POST", page+"/delete", url.Values{"confirm": {"yes"}, csrfField: {csrf}})
	if w.Code != http.StatusSeeOther || !strings.Contains(w.Header().Get("Location"), "notice=webhook-deleted") {
		t.Fatalf("delete: %d %s", w.Code, w.Body)
	}
	if w := b.do("GET", api+"/"+created.ID, ""); w.Code != http.StatusNotFound {
		t.Fatalf("after delete: %d", w.Code)
	}
	if w := send("GET", "/console/tenants/"+b.tenant+"?notice=webhook-deleted", nil); !strings.Contains(w.Body.String(), "No webhook endpoints yet.") ||
		!strings.Contains(w.Body.String(), "Webhook endpoint deleted") {
		t.Fatalf("tenant page after delete: %s", w.Body)
	}
	if w := send("GET", page, nil); w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "No such webhook endpoint.") {
		t.Fatalf("deleted endpoint's page: %d %s", w.Code, w.Body)
	}
	for _, action := range []string{"enable", "disable", "rotate"} {
		if w := send("POST", page+"/"+action, url.Values{csrfField: {csrf}}); w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "No such webhook endpoint.") {
			t.Fatalf("%s of a deleted endpoint: %d %s", action, w.Code, w.Body)
		}
	}
}

// The feed's types= and resource_id= filters: only the events asked for,
// next_cursor past the ones skipped, and an unknown type is a 400 that
// names it.
func TestAdminAPIEventsFilter(t *testing.T) {
	rdb := testRedis(t)
	b := setupAdmin(t, rdb)
	webhookHandler(t, &b, true)
	base := "/admin/v1/tenants/" + b.tenant + "/events"
	// Three events as the ledger's emit script leaves them.
	stream := "sb:{" + b.tenant + "}:events"
	t.Cleanup(func() { rdb.Del(context.Background(), stream) })
	for i, f := range [][]any{
		{"type", "user.created", "kind", "User", "rid", "u1", "v", "1", "n", "1"},
		{"type", "user.updated", "kind", "User", "rid", "u1", "v", "2", "n", "2", "changed", "displayName"},
		{"type", "user.created", "kind", "User", "rid", "u2", "v", "1", "n", "1"},
	} {
		if err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: stream, ID: fmt.Sprintf("1000-%d", i+1), Values: f}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	get := func(q string) (int, EventsPage, string) {
		w := b.do("GET", base+q, "")
		var p EventsPage
		_ = json.Unmarshal(w.Body.Bytes(), &p)
		return w.Code, p, w.Body.String()
	}
	code, p, body := get("?types=user.updated")
	if code != 200 || len(p.Events) != 1 || p.Events[0].Type != "user.updated" || p.NextCursor != "1000-3" {
		t.Fatalf("types=user.updated: %d %s", code, body)
	}
	code, p, body = get("?types=user.created&limit=1&after=1000-1")
	if code != 200 || len(p.Events) != 1 || p.Events[0].Data.ID != "u2" || p.NextCursor != "1000-3" {
		t.Fatalf("user.created after 1000-1: %d %s", code, body)
	}
	code, p, body = get("?resource_id=u1&types=user.created,%20user.updated")
	if code != 200 || len(p.Events) != 2 || p.NextCursor != "1000-3" {
		t.Fatalf("resource_id=u1: %d %s", code, body)
	}
	code, p, body = get("?types=user.deleted&after=1000-3")
	if code != 200 || len(p.Events) != 0 || p.NextCursor != "1000-3" || !strings.Contains(body, `"events":[]`) {
		t.Fatalf("nothing after the end: %d %s", code, body)
	}
	code, _, body = get("?types=user.created,user.nope")
	if code != http.StatusBadRequest || !strings.Contains(body, `user.nope`) {
		t.Fatalf("an unknown type: %d %s", code, body)
	}
}
