package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	gosync "sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/scimbridge/scimbridge/adapters/ldapstore/ldaptest"
	"github.com/scimbridge/scimbridge/internal/testsupport"
	syncsvc "github.com/scimbridge/scimbridge/sync"
)

// hookReceiver is a real HTTP receiver on loopback. It verifies each
// delivery's signature with the Standard Webhooks reference library and
// records the events it acknowledged, in order.
type hookReceiver struct {
	t      *testing.T
	srv    *httptest.Server
	secret string
	// hold, when set, makes each request wait for it to close (or 30 s)
	// before answering; holding counts requests waiting now.
	hold chan struct{}
	// gone, when set, answers every request 410 Gone.
	gone    bool
	mu      gosync.Mutex
	holding int
	got     []syncsvc.Event
	bodies  []string
	bad     []string
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{t: t}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *hookReceiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if r.hold != nil {
		r.mu.Lock()
		r.holding++
		r.mu.Unlock()
		select {
		case <-r.hold:
		case <-time.After(30 * time.Second):
		}
		r.mu.Lock()
		r.holding--
		r.mu.Unlock()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gone {
		w.WriteHeader(http.StatusGone)
		return
	}
	wh, err := standardwebhooks.NewWebhook(r.secret)
	if err == nil {
		err = wh.Verify(body, req.Header)
	}
	if err != nil {
		r.bad = append(r.bad, err.Error())
		http.Error(w, "bad signature", http.StatusBadRequest)
		return
	}
	var e syncsvc.Event
	if err := json.Unmarshal(body, &e); err != nil {
		r.bad = append(r.bad, err.Error())
	}
	r.got = append(r.got, e)
	r.bodies = append(r.bodies, string(body))
	w.WriteHeader(http.StatusOK)
}

func (r *hookReceiver) events() []syncsvc.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func (r *hookReceiver) waiting() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.holding
}

// subscribe adds an endpoint for the receiver to the tenant.
func (r *hookReceiver) subscribe(t *testing.T, a *app, tenant string) *syncsvc.Endpoint {
	t.Helper()
	url := r.srv.URL + "/hooks/" + tenant
	secret, e, err := a.webhooks.CreateEndpoint(context.Background(), tenant, syncsvc.EndpointInput{URL: &url})
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	r.secret = secret
	r.mu.Unlock()
	return e
}

// feed is the tenant's whole events feed.
func feed(t *testing.T, a *app, tenant string) []syncsvc.Event {
	t.Helper()
	evs, err := a.webhooks.Events(context.Background(), tenant, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// waitDelivered waits until the receiver acknowledged the tenant's whole
// feed (at least min events), and returns it.
func waitDelivered(t *testing.T, a *app, tenant string, r *hookReceiver, min int) []syncsvc.Event {
	t.Helper()
	var evs []syncsvc.Event
	deadline := time.Now().Add(60 * time.Second)
	for {
		evs = feed(t, a, tenant)
		if n := len(r.events()); len(evs) >= min && n >= len(evs) {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d events delivered", tenant, len(r.events()), len(evs))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// An Okta lifecycle and Push Groups on an LDAP and a SQL tenant: every
// user and group event type reaches each tenant's receiver, signed (the
// reference library verifies), each event once, in the feed's order, and
// no event holds the password Okta sent.
func TestWebhooksOktaLifecycleOnLDAPAndSQL(t *testing.T) {
	redisAddr := testsupport.RedisDB(t, e2eRedisDB)
	srv := ldaptest.New(t)
	lf := newLDAPFixture(t, srv)
	mf := newMariaFixture(t)
	ts := startTestServer(t, testConfig(t, redisAddr, lf.tenant("dir-co"), mf.tenant(t, "sql-co")), serverOptions{})
	type run struct {
		tenant string
		view   storeView
		rcv    *hookReceiver
	}
	runs := []*run{{tenant: "dir-co", view: lf}, {tenant: "sql-co", view: mf}}
	keys := map[string]string{}
	for _, r := range runs {
		keys[r.tenant] = "Bearer " + newKey(t, ts.app, r.tenant)
		r.rcv = newHookReceiver(t)
		r.rcv.subscribe(t, ts.app, r.tenant)
	}
	t.Run("tenants", func(t *testing.T) {
		for _, r := range runs {
			t.Run(r.tenant, func(t *testing.T) {
				t.Parallel()
				c := &scimClient{t: t, base: ts.url + "/scim/" + r.tenant + "/v2", auth: keys[r.tenant]}
				us := runOktaLifecycle(t, ts, r.tenant, c, r.view)
				runOktaPushGroups(t, ts, r.tenant, c, r.view, us)
				runDeleteUser(t, ts, r.tenant, c, r.view, us)
			})
		}
	})
	if t.Failed() {
		return
	}
	want := []string{
		syncsvc.EventUserCreated, syncsvc.EventUserUpdated, syncsvc.EventUserDeactivated, syncsvc.EventUserReactivated,
		syncsvc.EventUserDeleted, syncsvc.EventGroupCreated, syncsvc.EventGroupUpdated, syncsvc.EventGroupDeleted,
		syncsvc.EventGroupMembersAdded, syncsvc.EventGroupMembersRemoved,
	}
	for _, r := range runs {
		evs := waitDelivered(t, ts.app, r.tenant, r.rcv, len(want))
		got := r.rcv.events()
		r.rcv.mu.Lock()
		bad, bodies := r.rcv.bad, strings.Join(r.rcv.bodies, "\n")
		r.rcv.mu.Unlock()
		if len(bad) > 0 {
			t.Fatalf("%s: signatures: %v", r.tenant, bad)
		}
		if len(got) != len(evs) {
			t.Fatalf("%s: %d deliveries for %d events", r.tenant, len(got), len(evs))
		}
		seen := map[string]bool{}
		perResource := map[string]int64{}
		for i := range got {
			if got[i].ID != evs[i].ID || got[i].Type != evs[i].Type || got[i].Tenant != r.tenant {
				t.Fatalf("%s: delivery %d is %s %s, the feed's is %s %s", r.tenant, i, got[i].Type, got[i].ID, evs[i].Type, evs[i].ID)
			}
			seen[got[i].Type] = true
			key := got[i].Data.ResourceType + "/" + got[i].Data.ID
			if got[i].Data.Sequence != perResource[key]+1 {
				t.Fatalf("%s: %s sequence %d after %d", r.tenant, key, got[i].Data.Sequence, perResource[key])
			}
			perResource[key] = got[i].Data.Sequence
		}
		for _, typ := range want {
			if !seen[typ] {
				t.Errorf("%s: no %s event (saw %v)", r.tenant, typ, seen)
			}
		}
		t.Logf("%s: %d events delivered in order: %v", r.tenant, len(got), seen)
		if strings.Contains(bodies, "1mz050nq-Secret") || strings.Contains(bodies, `"password"`) {
			t.Fatalf("%s: a password in an event", r.tenant)
		}
	}
}

// A receiver of one tenant that hangs (30 s) delays neither another
// tenant's deliveries nor anyone's provisioning: the other tenant's users
// are applied and all its events acknowledged while the hang is still in
// progress.
func TestWebhookHangingReceiverDelaysNoOtherTenant(t *testing.T) {
	redisAddr := testsupport.RedisDB(t, e2eRedisDB)
	dsnA, tableA, _ := e2ePostgres(t)
	dsnB, tableB, _ := e2ePostgres(t)
	cfg := testConfig(t, redisAddr, postgresTenant("slow-co", dsnA, tableA), postgresTenant("fast-co", dsnB, tableB))
	cfg.Webhooks.Timeout = time.Minute // the hang is not cut short
	cfg.Webhooks.Concurrency = 4
	ts := startTestServer(t, cfg, serverOptions{})
	slow, fast := newHookReceiver(t), newHookReceiver(t)
	slow.hold = make(chan struct{})
	released := false
	release := func() {
		if !released {
			released = true
			close(slow.hold)
		}
	}
	t.Cleanup(release)
	slow.subscribe(t, ts.app, "slow-co")
	fast.subscribe(t, ts.app, "fast-co")
	cs := map[string]*scimClient{}
	for _, tn := range []string{"slow-co", "fast-co"} {
		cs[tn] = &scimClient{t: t, base: ts.url + "/scim/" + tn + "/v2", auth: "Bearer " + newKey(t, ts.app, tn)}
	}
	for i := range 3 {
		if status, body := cs["slow-co"].do("POST", "/Users", map[string]any{"userName": fmt.Sprintf("slow%d@example.com", i)}); status != 201 {
			t.Fatalf("POST: %d %v", status, body)
		}
	}
	waitStore(t, "the slow receiver holding a delivery", func() bool { return slow.waiting() == 1 })

	const n = 20
	var ids []string
	for i := range n {
		status, body := cs["fast-co"].do("POST", "/Users", map[string]any{"userName": fmt.Sprintf("fast%d@example.com", i)})
		if status != 201 {
			t.Fatalf("POST: %d %v", status, body)
		}
		ids = append(ids, body["id"].(string))
	}
	for _, id := range ids[:5] {
		if status, body := cs["fast-co"].do("PATCH", "/Users/"+id, patchOp(map[string]any{"op": "replace", "value": map[string]any{"active": false}})); status != 200 {
			t.Fatalf("PATCH: %d %v", status, body)
		}
	}
	for _, id := range ids {
		waitApplied(t, ts.app, "fast-co", id)
	}
	evs := waitDelivered(t, ts.app, "fast-co", fast, n+5)
	if got := fast.events(); len(got) != n+5 || len(evs) != n+5 {
		t.Fatalf("fast-co: %d delivered, %d in the feed, want %d", len(got), len(evs), n+5)
	}
	if slow.waiting() != 1 || len(slow.events()) != 0 {
		t.Fatalf("the slow receiver's hang ended before the other tenant was done (%d waiting, %d acknowledged)", slow.waiting(), len(slow.events()))
	}
	release()
	if evs := waitDelivered(t, ts.app, "slow-co", slow, 3); len(slow.events()) != len(evs) {
		t.Fatalf("slow-co: %d of %d delivered after the hang", len(slow.events()), len(evs))
	}
}

// A worker killed by SIGKILL while a delivery is in flight loses nothing:
// the next worker re-sends from the endpoint's cursor, and the receiver
// acknowledges every event once, in the feed's order (the request cut by
// the kill is answered 503, so it counts as not acknowledged).
func TestWebhookWorkerKilledMidDelivery(t *testing.T) {
	rig := newFaultRig(t, false)
	rcv := newHookReceiver(t)
	arrived := make(chan struct{})
	var first atomic.Bool
	inner := rcv.srv.Config.Handler
	rcv.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if first.CompareAndSwap(false, true) {
			_, _ = io.Copy(io.Discard, req.Body) // then the server notices the client going away
			close(arrived)
			select { // the worker dies with the request open
			case <-req.Context().Done():
				t.Logf("%s: the held request's client went away", time.Now().Format(time.StampMilli))
			case <-time.After(30 * time.Second):
				t.Logf("held request timed out")
			}
			http.Error(w, "cut", http.StatusServiceUnavailable)
			return
		}
		inner.ServeHTTP(w, req)
	})
	out, err := exec.Command(testsupport.ScimbridgeBinary(t), "webhook", "create", "--config", rig.cfg, "--tenant", rig.tenant,
		"--url", rcv.srv.URL+"/hook", "--json").Output()
	if err != nil {
		t.Fatalf("webhook create: %v", err)
	}
	var created struct {
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal(out, &created); err != nil || !strings.HasPrefix(created.Secret, "whsec_") {
		t.Fatalf("webhook create output %q: %v", out, err)
	}
	rcv.secret = created.Secret
	env := []string{"SCIMBRIDGE_WEBHOOKS_TIMEOUT=1s"}
	var ids []string
	for i := range 5 {
		status, body, _ := rig.send("POST", "/Users", map[string]any{"userName": fmt.Sprintf("kill%d@example.com", i)})
		if status != 201 {
			t.Fatalf("POST: %d %v", status, body)
		}
		ids = append(ids, body["id"].(string))
	}
	for _, id := range ids {
		if status, body, _ := rig.send("PATCH", "/Users/"+id, patchOp(map[string]any{"op": "replace", "value": map[string]any{"active": false}})); status != 200 {
			t.Fatalf("PATCH: %d %v", status, body)
		}
	}
	w1 := startRole(t, "worker", rig.cfg, env...)
	select {
	case <-arrived:
	case <-time.After(60 * time.Second):
		t.Fatal("no delivery reached the receiver")
	}
	t.Logf("%s: SIGKILL", time.Now().Format(time.StampMilli))
	w1.Signal(syscall.SIGKILL)
	if err := w1.Wait(10 * time.Second); err == nil {
		t.Fatal("the worker was not killed")
	}
	startRole(t, "worker", rig.cfg, env...)
	for i := range 3 {
		if status, body, _ := rig.send("POST", "/Users", map[string]any{"userName": fmt.Sprintf("after%d@example.com", i)}); status != 201 {
			t.Fatalf("POST: %d %v", status, body)
		}
	}
	const want = 5*2 + 3
	testsupport.WaitFor(t, "every event acknowledged", 90*time.Second, func() bool { return len(rcv.events()) >= want })
	t.Logf("%s: all acknowledged", time.Now().Format(time.StampMilli))
	out, err = exec.Command(testsupport.ScimbridgeBinary(t), "events", "list", "--config", rig.cfg, "--tenant", rig.tenant, "--json").Output()
	if err != nil {
		t.Fatalf("events list: %v", err)
	}
	var page struct {
		Events     []syncsvc.Event `json:"events"`
		NextCursor string          `json:"next_cursor"`
	}
	if err := json.Unmarshal(out, &page); err != nil {
		t.Fatal(err)
	}
	evs := page.Events
	if len(evs) > 0 && page.NextCursor != evs[len(evs)-1].Cursor {
		t.Fatalf("next_cursor %q, want the last event's %q", page.NextCursor, evs[len(evs)-1].Cursor)
	}
	got := rcv.events()
	rcv.mu.Lock()
	bad := rcv.bad
	rcv.mu.Unlock()
	if len(bad) > 0 || len(evs) != want || len(got) != want {
		t.Fatalf("%d acknowledged, %d in the feed, want %d (signatures: %v)", len(got), len(evs), want, bad)
	}
	for i := range got {
		if got[i].ID != evs[i].ID {
			t.Fatalf("delivery %d is %s %s, the feed's is %s %s", i, got[i].Type, got[i].ID, evs[i].Type, evs[i].ID)
		}
	}
}

// webhooks.endpoints[] in the configuration file makes the endpoint at
// start with the operator's secret; a restart with another secret and
// other types updates it (no second endpoint), the new secret a rotation:
// the old one keeps signing during the overlap (a receiver still on it
// verifies), then the new one does. An endpoint scimbridge disabled (the
// receiver answered 410) stays disabled across a restart with the same
// entry, and is enabled again by a restart with a changed one.
func TestWebhookEndpointsFromConfig(t *testing.T) {
	redisAddr := testsupport.RedisDB(t, e2eRedisDB)
	dsn, table, _ := e2ePostgres(t)
	rcv := newHookReceiver(t)
	dir := t.TempDir()
	secretFile := dir + "/hook.secret"
	write := func(s string) {
		if err := os.WriteFile(secretFile, []byte(s+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	setReceiver := func(secret string, gone bool) {
		rcv.mu.Lock()
		rcv.secret, rcv.gone = secret, gone
		rcv.mu.Unlock()
	}
	endpoint := func(a *app) *syncsvc.Endpoint {
		t.Helper()
		eps, err := a.webhooks.Endpoints(context.Background(), "yaml-co")
		if err != nil || len(eps) != 1 {
			t.Fatalf("endpoints: %+v %v", eps, err)
		}
		return eps[0]
	}
	first := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	write(first)
	cfg := testConfig(t, redisAddr, postgresTenant("yaml-co", dsn, table))
	cfg.Webhooks.Endpoints = []WebhookEndpointConfig{{Tenant: "yaml-co", URL: rcv.srv.URL + "/h", SecretFile: secretFile,
		EventTypes: []string{"user.created"}}}
	ts := startTestServer(t, cfg, serverOptions{})
	setReceiver(first, false)
	c := &scimClient{t: t, base: ts.url + "/scim/yaml-co/v2", auth: "Bearer " + newKey(t, ts.app, "yaml-co")}
	post := func(user string) {
		t.Helper()
		if status, body := c.do("POST", "/Users", map[string]any{"userName": user}); status != 201 {
			t.Fatalf("POST: %d %v", status, body)
		}
	}
	post("yaml@example.com")
	waitDelivered(t, ts.app, "yaml-co", rcv, 1)
	ts.stop()

	second := "whsec_" + strings.Repeat("QUJD", 8)
	write(second)
	cfg.Webhooks.Endpoints[0].EventTypes = nil
	ts = startTestServer(t, cfg, serverOptions{})
	if e := endpoint(ts.app); len(e.Types) != 0 || e.SecretsActive != 2 {
		t.Fatalf("after the restart: %+v, want every type and two secrets signing (the rotation's overlap)", e)
	}
	c.base = ts.url + "/scim/yaml-co/v2"
	post("yaml2@example.com") // the receiver still has the old secret
	waitDelivered(t, ts.app, "yaml-co", rcv, 2)
	setReceiver(second, false) // and now the new one
	post("yaml3@example.com")
	waitDelivered(t, ts.app, "yaml-co", rcv, 3)

	// The receiver answers 410: scimbridge disables the endpoint; the
	// same entry at the next start leaves it disabled.
	setReceiver(second, true)
	post("gone@example.com")
	waitStore(t, "the endpoint disabled by the 410", func() bool { return !endpoint(ts.app).Enabled })
	ts.stop()
	ts = startTestServer(t, cfg, serverOptions{})
	if e := endpoint(ts.app); e.Enabled || !strings.Contains(e.DisabledReason, "410") {
		t.Fatalf("a restart with the same entry: %+v, want it still disabled by the 410", e)
	}
	ts.stop()
	// A changed entry is applied: enabled again, and the event the 410
	// refused is delivered.
	cfg.Webhooks.Endpoints[0].EventTypes = []string{"user.created", "user.deleted"}
	setReceiver(second, false)
	ts = startTestServer(t, cfg, serverOptions{})
	if e := endpoint(ts.app); !e.Enabled || e.DisabledReason != "" || e.SecretsActive != 2 {
		t.Fatalf("a restart with a changed entry: %+v, want it enabled, its secrets as they were", e)
	}
	c.base = ts.url + "/scim/yaml-co/v2"
	post("back@example.com")
	waitDelivered(t, ts.app, "yaml-co", rcv, 5)
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if len(rcv.bad) > 0 || len(rcv.got) != 5 {
		t.Fatalf("%d delivered, signatures: %v", len(rcv.got), rcv.bad)
	}
}

// The resource a webhook delivers is the document the SCIM API answers
// to GET /Users/{id} and GET /Groups/{id}: the same attributes, meta
// (location under public_url, version, times) and a group's members
// (value, $ref, type). The feed's types= filter returns only the group's
// events.
func TestWebhookResourceIsWhatTheAPIShows(t *testing.T) {
	redisAddr := testsupport.RedisDB(t, e2eRedisDB)
	const tenant = "res-co"
	cfg := testConfig(t, redisAddr, sqliteTenant(t, tenant))
	ts := startTestServer(t, cfg, serverOptions{publicURL: true})
	rcv := newHookReceiver(t)
	rcv.subscribe(t, ts.app, tenant)
	c := &scimClient{t: t, base: ts.url + "/scim/" + tenant + "/v2", auth: "Bearer " + newKey(t, ts.app, tenant)}
	status, u := c.do("POST", "/Users", map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": "res@example.com", "displayName": "Res Ource",
		"emails": []map[string]any{{"type": "work", "value": "res@example.com", "primary": true}},
	})
	if status != http.StatusCreated {
		t.Fatalf("POST /Users: %d %v", status, u)
	}
	uid, _ := u["id"].(string)
	status, g := c.do("POST", "/Groups", map[string]any{
		"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
		"displayName": "Resourceful", "members": []map[string]any{{"value": uid}},
	})
	if status != http.StatusCreated {
		t.Fatalf("POST /Groups: %d %v", status, g)
	}
	gid, _ := g["id"].(string)
	waitDelivered(t, ts.app, tenant, rcv, 3)
	delivered := map[string]map[string]any{}
	for _, e := range rcv.events() {
		if e.Data.Resource == nil {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(e.Data.Resource, &m); err != nil {
			t.Fatal(err)
		}
		delivered[e.Type] = m
	}
	for _, x := range []struct{ typ, path string }{
		{syncsvc.EventUserCreated, "/Users/" + uid},
		{syncsvc.EventGroupCreated, "/Groups/" + gid},
	} {
		status, got := c.do("GET", x.path, nil)
		if status != http.StatusOK {
			t.Fatalf("GET %s: %d %v", x.path, status, got)
		}
		ev, ok := delivered[x.typ]
		if !ok {
			t.Fatalf("no %s delivered with a resource", x.typ)
		}
		a, _ := json.Marshal(ev)
		b, _ := json.Marshal(got)
		if string(a) != string(b) {
			t.Fatalf("%s delivered\n%s\nGET %s answers\n%s", x.typ, a, x.path, b)
		}
		meta, _ := got["meta"].(map[string]any)
		if meta["location"] != c.base+x.path {
			t.Fatalf("GET %s: meta.location %v", x.path, meta["location"])
		}
	}
	if ms, _ := delivered[syncsvc.EventGroupCreated]["members"].([]any); len(ms) != 1 {
		t.Fatalf("group.created members: %v", ms)
	}
	evs, next, err := ts.app.webhooks.EventPage(context.Background(), tenant, "", 10,
		syncsvc.EventFilter{Types: []string{syncsvc.EventGroupCreated, syncsvc.EventGroupMembersAdded}})
	all := feed(t, ts.app, tenant)
	if err != nil || len(evs) != 2 || evs[0].Type != syncsvc.EventGroupCreated || evs[1].Data.ID != gid || next != all[len(all)-1].Cursor {
		t.Fatalf("the feed filtered to group events: %d events, next %q (the feed ends at %q) %v", len(evs), next, all[len(all)-1].Cursor, err)
	}
	// The CLI's events list takes the same filter.
	cfgPath := writeAdminConfig(t, redisAddr, cfg)
	var out, errOut strings.Builder
	if err := run([]string{"events", "list", "--tenant", tenant, "--types", "group.created", "--json", "--config", cfgPath}, &out, &errOut); err != nil {
		t.Fatalf("events list --types: %v\n%s", err, errOut.String())
	}
	var page struct {
		Events     []syncsvc.Event `json:"events"`
		NextCursor string          `json:"next_cursor"`
	}
	if err := json.Unmarshal([]byte(out.String()), &page); err != nil || len(page.Events) != 1 || page.Events[0].Type != syncsvc.EventGroupCreated ||
		page.NextCursor != all[len(all)-1].Cursor {
		t.Fatalf("events list --types group.created: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := run([]string{"events", "list", "--tenant", tenant, "--types", "group.created,user.nope", "--config", cfgPath}, &out, &errOut); err == nil || !strings.Contains(err.Error(), "user.nope") {
		t.Fatalf("events list with an unknown type: %v", err)
	}
}
