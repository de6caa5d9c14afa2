package api

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/testsupport"
	"github.com/scimbridge/scimbridge/scim"
	syncsvc "github.com/scimbridge/scimbridge/sync"
	"github.com/scimbridge/scimbridge/tenants"
)

func TestRequestWeight(t *testing.T) {
	for _, tc := range []struct {
		length, capacity, want int64
	}{
		{0, 32, 1},
		{weightUnitBytes - 1, 32, 1},
		{weightUnitBytes, 32, 2},
		{15 * weightUnitBytes, 32, slotsPerCore},
		{1 << 20, 32, slotsPerCore}, // a whole core at most
		{1 << 20, 8, 8},             // never more than the capacity
		{-1, 32, slotsPerCore},      // unknown length: a whole core
	} {
		if got := requestWeight(tc.length, tc.capacity); got != tc.want {
			t.Errorf("requestWeight(%d, %d) = %d, want %d", tc.length, tc.capacity, got, tc.want)
		}
	}
}

// done is a context that has ended: an acquire with it succeeds only when
// no wait is needed, which makes "does not block" a deterministic check.
func done() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// forever is a wait longer than any test.
const forever = time.Hour

func mustAcquire(t *testing.T, l *tenantLoad, ctx context.Context, tenant string, w int64) func() {
	t.Helper()
	taken, err := l.acquire(ctx, tenant, w, forever)
	if err != nil {
		t.Fatalf("acquire(%s, %d): %v", tenant, w, err)
	}
	return func() { l.release(tenant, taken) }
}

func TestTenantLoadIsolatesTenants(t *testing.T) {
	t.Parallel()
	l := newTenantLoad(16)
	// Tenant A holds all its capacity (one heavy request) ...
	releaseA := mustAcquire(t, l, context.Background(), "a", 16)
	// ... so A's next request must wait, while B's does not wait at all.
	if _, err := l.acquire(done(), "a", 1, forever); err == nil {
		t.Fatal("tenant a got more than its capacity")
	}
	for range 16 {
		defer mustAcquire(t, l, done(), "b", 1)()
	}
	if l.inFlight("a") != 16 || l.inFlight("b") != 16 {
		t.Fatalf("in flight: a %d, b %d", l.inFlight("a"), l.inFlight("b"))
	}
	releaseA()
	mustAcquire(t, l, done(), "a", 16)()
	if l.inFlight("a") != 0 || l.inFlight("b") != 16 {
		t.Errorf("after release: a %d, b %d", l.inFlight("a"), l.inFlight("b"))
	}
}

// mustAcquireAsync is mustAcquire for a goroutine (t.Error, not Fatal).
func mustAcquireAsync(t *testing.T, l *tenantLoad, tenant string, w int64) func() {
	taken, err := l.acquire(context.Background(), tenant, w, forever)
	if err != nil {
		t.Error(err)
	}
	return func() { l.release(tenant, taken) }
}

// waitQueued waits until tenant has n requests waiting for their turn.
func waitQueued(t *testing.T, l *tenantLoad, tenant string, n int) {
	t.Helper()
	for range 10000 {
		l.mu.Lock()
		got := 0
		if tt := l.tenants[tenant]; tt != nil {
			got = tt.waiting.Len()
		}
		l.mu.Unlock()
		if got == n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%d requests of %s never queued", n, tenant)
}

func TestTenantLoadQueuesInOrder(t *testing.T) {
	t.Parallel()
	l := newTenantLoad(16)
	release := mustAcquire(t, l, context.Background(), "a", 8)
	// A heavy request waits; a light one behind it does not overtake it,
	// even though it would fit.
	granted := make(chan func())
	go func() {
		granted <- mustAcquireAsync(t, l, "a", 16)
	}()
	waitQueued(t, l, "a", 1)
	if _, err := l.acquire(done(), "a", 1, forever); err == nil {
		t.Fatal("a light request overtook the heavy one waiting before it")
	}
	release()
	heavy := <-granted
	if l.inFlight("a") != 16 {
		t.Fatalf("in flight %d, want the heavy request's 16", l.inFlight("a"))
	}
	heavy()

	// A waiting request that gives up lets the smaller one behind it in.
	release = mustAcquire(t, l, context.Background(), "a", 8)
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error)
	go func() {
		_, err := l.acquire(ctx, "a", 16, forever)
		gaveUp <- err
	}()
	waitQueued(t, l, "a", 1)
	light := make(chan func())
	go func() {
		light <- mustAcquireAsync(t, l, "a", 4)
	}()
	waitQueued(t, l, "a", 2)
	cancel()
	if err := <-gaveUp; err == nil {
		t.Fatal("a canceled acquire succeeded")
	}
	(<-light)()
	release()
	if n := l.inFlight("a"); n != 0 {
		t.Errorf("in flight after all released: %d", n)
	}
	if _, err := l.acquire(context.Background(), "a", 1, time.Millisecond); err != nil {
		t.Errorf("acquire after all released: %v", err)
	}
}

// TestTenantAtCapacityIsRefusedOthersServed: over HTTP, a tenant whose
// capacity is all taken gets 429 with an integer Retry-After once half its
// deadline is spent waiting, while another tenant is served at once.
func TestTenantAtCapacityIsRefusedOthersServed(t *testing.T) {
	t.Parallel()
	env := setup(t, Config{})
	s, router := newServer(Config{PublicURL: publicURL, Logger: slog.New(slog.DiscardHandler),
		RequestTimeout: 200 * time.Millisecond, TenantCapacity: 4},
		Deps{Users: env.users, Tenants: env.tenants, Keys: env.keys})
	env.router = router
	release := mustAcquire(t, s.load, context.Background(), tenantA, 4)
	rec := env.do(http.MethodGet, baseA+"/Users", "", nil)
	wantSCIMError(t, rec, http.StatusTooManyRequests, "")
	if n, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || n < 1 {
		t.Errorf("Retry-After %q", rec.Header().Get("Retry-After"))
	}
	wantStatus(t, env.do(http.MethodGet, baseB+"/Users", "", map[string]string{"Authorization": "Bearer " + keyB}), http.StatusOK)
	release()
	wantStatus(t, env.do(http.MethodGet, baseA+"/Users", "", nil), http.StatusOK)
	if s.load.inFlight(tenantA) != 0 || s.load.inFlight(tenantB) != 0 {
		t.Error("a finished request kept its weight")
	}
}

// setupRedisTenants is setupRedis with two tenants on one router.
// (tb may be a benchmark: then the env cannot do, only serve through its
// router.)
func setupRedisTenants(tb testing.TB, cfg Config) (*testEnv, *syncsvc.Service, [2]string) {
	tb.Helper()
	rdb := testsupport.Redis(tb)
	ids := [2]string{testsupport.Tenant(tb, rdb, "apia"), testsupport.Tenant(tb, rdb, "apib")}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	sealer, err := syncsvc.NewSealer(key)
	if err != nil {
		tb.Fatal(err)
	}
	t, _ := tb.(*testing.T)
	svc := &syncsvc.Service{Ledger: syncsvc.NewLedger(rdb, sealer), Logger: slog.New(slog.DiscardHandler)}
	env := &testEnv{
		t: t,
		tenants: &memTenants{tenants: map[string]*tenants.Tenant{
			ids[0]: {ID: ids[0]}, ids[1]: {ID: ids[1]}}},
		keys: &memKeys{keys: map[string]string{"key-" + ids[0]: ids[0], "key-" + ids[1]: ids[1]}},
	}
	cfg.PublicURL, cfg.Logger = publicURL, slog.New(slog.DiscardHandler)
	env.router = New(cfg, Deps{Users: svc, Tenants: env.tenants, Keys: env.keys})
	return env, svc, ids
}

func emailsUser(name string, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%q,"emails":[`, name)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"value":"%s-%d@example.com","type":"work"}`, strings.TrimSuffix(name, "@example.com"), i)
	}
	b.WriteString(`]}`)
	return b.String()
}

func memberIDList(prefix string, n int) string {
	var b strings.Builder
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"value":"%s%08d-0000-4000-8000-000000000000"}`, prefix, i)
	}
	b.WriteByte(']')
	return b.String()
}

// TestRedisIssue17Inputs sends issue 17's probes to the real service: each
// is refused (400 tooMany, or 413 past the body limit) before anything is
// written, the bounds themselves are accepted, and the other tenant is
// served meanwhile.
func TestRedisIssue17Inputs(t *testing.T) {
	t.Parallel()
	env, svc, ids := setupRedisTenants(t, Config{})
	ctx := context.Background()
	a, b := ids[0], ids[1]
	baseA, baseB := "/scim/"+a+"/v2", "/scim/"+b+"/v2"
	authA := map[string]string{"Authorization": "Bearer key-" + a}
	authB := map[string]string{"Authorization": "Bearer key-" + b}
	rec := env.do(http.MethodPost, baseA+"/Users", userJSON("owner@example.com", "x-owner"), authA)
	wantStatus(t, rec, http.StatusCreated)
	uid := decode(t, rec)["id"].(string)
	rec = env.do(http.MethodPost, baseA+"/Groups", `{"displayName":"Engineering","members":[{"value":"`+uid+`"}]}`, authA)
	wantStatus(t, rec, http.StatusCreated)
	gid := decode(t, rec)["id"].(string)

	unchanged := func(t *testing.T) {
		t.Helper()
		if n, err := svc.Ledger.CountUsers(ctx, a); err != nil || n != 1 {
			t.Errorf("users of %s: %d %v, want 1", a, n, err)
		}
		ms, err := svc.GroupMembers(ctx, a, gid)
		if err != nil || len(ms) != 1 || ms[0] != uid {
			t.Errorf("members: %v %v, want [%s]", ms, err, uid)
		}
		g, err := svc.GetGroup(ctx, a, gid)
		if err != nil || g.Version != 1 {
			t.Errorf("group: %+v %v, want version 1", g, err)
		}
	}
	refused := []struct {
		name, method, path, body string
		status                   int
	}{
		{"PATCH adding 20000 member ids", http.MethodPatch, "/Groups/" + gid,
			patchBody(`{"op":"add","path":"members","value":` + memberIDList("a", 20000) + `}`), http.StatusBadRequest},
		{"PATCH adding MaxMemberChanges+1 member ids", http.MethodPatch, "/Groups/" + gid,
			patchBody(`{"op":"add","path":"members","value":` + memberIDList("a", scim.MaxMemberChanges+1) + `}`), http.StatusBadRequest},
		{"PUT with MaxGroupMembers+1 members", http.MethodPut, "/Groups/" + gid,
			`{"displayName":"Engineering","members":` + memberIDList("a", scim.MaxGroupMembers+1) + `}`, http.StatusBadRequest},
		{"POST /Users with 1000 emails", http.MethodPost, "/Users", emailsUser("e1000@example.com", 1000), http.StatusBadRequest},
		{"POST /Users with 2000 emails", http.MethodPost, "/Users", emailsUser("e2000@example.com", 2000), http.StatusBadRequest},
		{"POST /Users with 4000 emails", http.MethodPost, "/Users", emailsUser("e4000@example.com", 4000), http.StatusBadRequest},
		{"POST /Users with 40000 emails (over the body limit)", http.MethodPost, "/Users", emailsUser("e40k@example.com", 40000), http.StatusRequestEntityTooLarge},
	}
	for _, tc := range refused {
		rec := env.do(tc.method, baseA+tc.path, tc.body, authA)
		scimType := ""
		if tc.status == http.StatusBadRequest {
			scimType = scim.ScimTypeTooMany
		}
		wantSCIMError(t, rec, tc.status, scimType)
	}
	unchanged(t)

	// Four 8000-email creates at once, while tenant B reads: each create
	// is refused, B is answered, nothing of A's is written.
	var wg gosync.WaitGroup
	var refusedCreates, servedReads atomic.Int32
	for i := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			body := emailsUser(fmt.Sprintf("e8000-%d@example.com", i), 8000)
			req := httptest.NewRequest(http.MethodPost, baseA+"/Users", strings.NewReader(body))
			req.Header.Set("Authorization", authA["Authorization"])
			rec := httptest.NewRecorder()
			env.router.ServeHTTP(rec, req)
			if rec.Code == http.StatusBadRequest && strings.Contains(rec.Body.String(), scim.ScimTypeTooMany) {
				refusedCreates.Add(1)
			}
		}()
		go func() {
			defer wg.Done()
			req := httptest.NewRequest(http.MethodGet, baseB+"/Users?startIndex=1&count=2", nil)
			req.Header.Set("Authorization", authB["Authorization"])
			rec := httptest.NewRecorder()
			env.router.ServeHTTP(rec, req)
			if rec.Code == http.StatusOK {
				servedReads.Add(1)
			}
		}()
	}
	wg.Wait()
	if refusedCreates.Load() != 4 || servedReads.Load() != 4 {
		t.Errorf("refused creates %d, served reads of the other tenant %d; want 4 and 4", refusedCreates.Load(), servedReads.Load())
	}
	unchanged(t)

	// The bounds themselves are accepted.
	rec = env.do(http.MethodPost, baseA+"/Users", emailsUser("e100@example.com", scim.MaxAttributeValues), authA)
	wantStatus(t, rec, http.StatusCreated)
	if n, err := svc.Ledger.CountUsers(ctx, a); err != nil || n != 2 {
		t.Errorf("users after the create at the bound: %d %v", n, err)
	}
}

// TestRedisDeadlinePassedWritesNothing: a request whose deadline passes
// before its write is answered 503 and leaves the ledger as it was.
func TestRedisDeadlinePassedWritesNothing(t *testing.T) {
	t.Parallel()
	env, svc, ids := setupRedisTenants(t, Config{})
	env.router = New(Config{PublicURL: publicURL, Logger: slog.New(slog.DiscardHandler),
		RequestTimeout: time.Nanosecond}, Deps{Users: svc, Tenants: env.tenants, Keys: env.keys})
	base := "/scim/" + ids[0] + "/v2"
	rec := env.do(http.MethodPost, base+"/Users", userJSON("late@example.com", "x-late"), map[string]string{"Authorization": "Bearer key-" + ids[0]})
	wantSCIMError(t, rec, http.StatusServiceUnavailable, "")
	if rec.Header().Get("Retry-After") == "" {
		t.Error("a 503 without Retry-After")
	}
	if n, err := svc.Ledger.CountUsers(context.Background(), ids[0]); err != nil || n != 0 {
		t.Errorf("users: %d %v, want 0", n, err)
	}
}

// outlastUsers is memUsers whose first CreateUser returns only once the
// request's context has ended (its deadline passed).
type outlastUsers struct {
	*memUsers
	calls atomic.Int32
}

func (u *outlastUsers) CreateUser(ctx context.Context, tenant string, a scim.Attrs, password *string) (*syncsvc.Record, error) {
	if u.calls.Add(1) == 1 {
		<-ctx.Done()
	}
	return u.memUsers.CreateUser(ctx, tenant, a, password)
}

// TestBulkStopsAtTheDeadline: once the deadline has passed, POST /Bulk runs
// no further operation (and answers those run).
func TestBulkStopsAtTheDeadline(t *testing.T) {
	t.Parallel()
	env := setup(t, Config{})
	users := &outlastUsers{memUsers: env.users}
	env.router = New(Config{PublicURL: publicURL, Logger: slog.New(slog.DiscardHandler), RequestTimeout: 50 * time.Millisecond},
		Deps{Users: users, Groups: env.users, Tenants: env.tenants, Keys: env.keys})
	ops := make([]string, 5)
	for i := range ops {
		ops[i] = fmt.Sprintf(`{"method":"POST","path":"/Users","bulkId":"u%d","data":{"userName":"u%d@example.com"}}`, i, i)
	}
	res := bulkResults(t, env, bulkHead+`"Operations":[`+strings.Join(ops, ",")+`]}`)
	if len(res) != 1 || users.calls.Load() != 1 {
		t.Errorf("%d results, %d creates; want the one that outlasted the deadline only", len(res), users.calls.Load())
	}
}
