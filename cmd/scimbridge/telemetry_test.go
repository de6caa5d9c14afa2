package main

// Telemetry tests against the real router and worker on Redis with a
// SQLite tenant store: one trace from POST /Users to the store write,
// retries included; /metrics; health; the asynq dashboard. Like
// e2e_test.go they run one after another on a Redis database of their own
// (telemetryRedisDB, used by no other test: a worker of another test run
// on the same database would take these tasks), flushed per test.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.yaml.in/yaml/v3"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/adapters/sqlstore"
	"github.com/scimbridge/scimbridge/internal/testsupport"
	"github.com/scimbridge/scimbridge/queue"
	syncsvc "github.com/scimbridge/scimbridge/sync"
	"github.com/scimbridge/scimbridge/tenants"
)

// The global tracer provider can be installed once per process (package
// tracers delegate to the first one), so every test shares one in-memory
// exporter and looks only at its own trace.
var (
	spanExporter = tracetest.NewInMemoryExporter()
	tracingOnce  gosync.Once
)

func installTestTracing() {
	tracingOnce.Do(func() {
		otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(spanExporter)))
		otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	})
}

// telemetryRedisDB is the Redis database of these tests (flushed by
// testsupport.RedisDB at the start of each).
const telemetryRedisDB = testsupport.DBScimbridgeTelemetry

// telemetryConfig is testConfig on telemetryRedisDB.
func telemetryConfig(t *testing.T, ts ...tenants.Tenant) *Config {
	t.Helper()
	cfg := testConfig(t, testsupport.RedisDB(t, telemetryRedisDB), ts...)
	cfg.Redis.DB = telemetryRedisDB
	return cfg
}

// sqliteTenant is a tenant whose store is a fresh SQLite users table.
func sqliteTenant(t *testing.T, id string) tenants.Tenant {
	t.Helper()
	path := filepath.Join(t.TempDir(), id+".db")
	if err := ensureDemoStore(path); err != nil {
		t.Fatal(err)
	}
	return tenants.Tenant{ID: id, Name: "Telemetry " + id, Store: adapters.Config{
		Kind: "sqlite", DSN: path,
		Users: adapters.UserMapping{
			Table: "users", Key: "id",
			Attributes: map[string]string{
				"userName": "username", "displayName": "display_name", `emails[type eq "work"].value`: "email",
			},
			Active:   &adapters.ActiveMapping{Column: "active", Active: "1", Inactive: "0"},
			OnDelete: "deactivate",
		},
	}}
}

// failingOnceStore answers the first ApplyUser (over every store it
// opened) with adapters.ErrUnavailable, then passes through.
type failingOnceStore struct {
	adapters.Store
	failures *atomic.Int32
}

func (s *failingOnceStore) ApplyUser(ctx context.Context, u adapters.User) (string, error) {
	if s.failures.Add(-1) >= 0 {
		return "", fmt.Errorf("test: store down once: %w", adapters.ErrUnavailable)
	}
	return s.Store.ApplyUser(ctx, u)
}

// failingOnceFactories open SQLite stores whose first apply fails.
func failingOnceFactories() map[string]adapters.Factory {
	failures := &atomic.Int32{}
	failures.Store(1)
	return map[string]adapters.Factory{"sqlite": func(ctx context.Context, tenant string, cfg adapters.Config) (adapters.Store, error) {
		st, err := sqlstore.Open(ctx, tenant, cfg)
		if err != nil {
			return nil, err
		}
		return &failingOnceStore{Store: st, failures: failures}, nil
	}}
}

// get fetches url with an optional Authorization header.
func get(t *testing.T, url, auth string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func attrOf(s tracetest.SpanStub, key string) (string, bool) {
	for _, kv := range s.Attributes {
		if string(kv.Key) == key {
			return kv.Value.String(), true
		}
	}
	return "", false
}

// traceSpans waits until the trace holds want(spans), then returns them.
func traceSpans(t *testing.T, id trace.TraceID, want func([]tracetest.SpanStub) bool) []tracetest.SpanStub {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var spans []tracetest.SpanStub
		for _, s := range spanExporter.GetSpans() {
			if s.SpanContext.TraceID() == id {
				spans = append(spans, s)
			}
		}
		if want(spans) {
			return spans
		}
		if time.Now().After(deadline) {
			var names []string
			for _, s := range spans {
				names = append(names, s.Name)
			}
			for _, s := range spanExporter.GetSpans() {
				t.Logf("span %s %s parent %s %v", s.Name, s.SpanContext.TraceID(), s.Parent.SpanID(), s.Attributes)
			}
			t.Fatalf("trace %s incomplete: %v", id, names)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func named(spans []tracetest.SpanStub, name string) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, s := range spans {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

func TestOneTraceFromPostUsersToStoreWriteWithRetry(t *testing.T) {
	installTestTracing()
	ts := startTestServer(t, telemetryConfig(t, sqliteTenant(t, "traced")), serverOptions{full: true, factories: failingOnceFactories()})
	c := &scimClient{t: t, base: ts.url + "/scim/traced/v2", auth: "Bearer " + newKey(t, ts.app, "traced")}

	userName := "grace.hopper@example.com"
	status, body := c.do(http.MethodPost, "/Users", map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": userName, "displayName": "Grace Hopper", "active": true,
		"emails": []map[string]any{{"value": userName, "type": "work", "primary": true}},
	})
	if status != http.StatusCreated {
		t.Fatalf("POST /Users: %d %v", status, body)
	}
	id := body["id"].(string)
	waitApplied(t, ts.app, "traced", id)

	var httpSpan tracetest.SpanStub
	for _, s := range spanExporter.GetSpans() {
		if s.Name == "POST /scim/:tenant/v2/Users" && s.SpanKind == trace.SpanKindServer {
			if v, _ := attrOf(s, "scimbridge.tenant"); v == "traced" {
				httpSpan = s
			}
		}
	}
	if !httpSpan.SpanContext.IsValid() {
		t.Fatal("no server span for POST /Users")
	}
	if v, _ := attrOf(httpSpan, "http.response.status_code"); v != "201" {
		t.Errorf("server span status code = %q", v)
	}
	spans := traceSpans(t, httpSpan.SpanContext.TraceID(), func(s []tracetest.SpanStub) bool {
		return len(named(s, "sync.reconcile")) >= 2 && len(named(s, "sqlstore.ApplyUser")) >= 1
	})

	parentIs := func(s, parent tracetest.SpanStub) bool { return s.Parent.SpanID() == parent.SpanContext.SpanID() }
	puts := named(spans, "sync.ledger.put_user")
	if len(puts) != 1 || !parentIs(puts[0], httpSpan) {
		t.Fatalf("ledger put_user spans %d, want one child of the server span", len(puts))
	}
	enq := named(spans, "queue.enqueue")
	if len(enq) != 1 || !parentIs(enq[0], httpSpan) || enq[0].SpanKind != trace.SpanKindProducer {
		t.Fatalf("enqueue spans %d, want one producer child of the server span", len(enq))
	}
	jobs := named(spans, "sync.reconcile")
	if len(jobs) != 2 {
		t.Fatalf("reconcile spans %d, want 2 (the failed attempt and the retry)", len(jobs))
	}
	byRetry := map[string]tracetest.SpanStub{}
	for _, j := range jobs {
		if j.SpanKind != trace.SpanKindConsumer || !parentIs(j, enq[0]) {
			t.Errorf("reconcile span kind %v parent %s: want a consumer child of the enqueue span", j.SpanKind, j.Parent.SpanID())
		}
		n, _ := attrOf(j, "asynq.retry_count")
		byRetry[n] = j
	}
	first, retry := byRetry["0"], byRetry["1"]
	if !first.SpanContext.IsValid() || !retry.SpanContext.IsValid() {
		t.Fatalf("want attempts with asynq.retry_count 0 and 1, got %v", byRetry)
	}
	if first.Status.Code.String() != "Error" || len(first.Events) == 0 {
		t.Errorf("the failed attempt's span has status %v and %d events; want the error recorded", first.Status, len(first.Events))
	}
	if retry.Status.Code.String() == "Error" {
		t.Errorf("the retry failed: %v", retry.Status)
	}
	applies := named(spans, "sqlstore.ApplyUser")
	if len(applies) != 1 || !parentIs(applies[0], retry) {
		t.Fatalf("sqlstore.ApplyUser spans %d, want one child of the retry's span", len(applies))
	}
	marks := named(spans, "sync.ledger.mark_applied")
	if len(marks) != 1 || !parentIs(marks[0], retry) {
		t.Fatalf("mark_applied spans %d, want one child of the retry's span", len(marks))
	}

	for _, s := range spans {
		if v, _ := attrOf(s, "scimbridge.tenant"); v != "traced" {
			t.Errorf("span %s: scimbridge.tenant = %q", s.Name, v)
		}
		for _, kv := range s.Attributes {
			if v := strings.ToLower(kv.Value.String()); strings.Contains(v, "grace") || strings.Contains(v, "bearer") {
				t.Errorf("span %s attribute %s carries personal data or a secret: %q", s.Name, kv.Key, v)
			}
		}
	}
}

// scrape reads /metrics and returns its lines.
func scrape(t *testing.T, url, auth string) []string {
	t.Helper()
	status, _, body := get(t, url+"/metrics", auth)
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", status, body)
	}
	return strings.Split(body, "\n")
}

// series returns the value of the series whose line starts with name and
// holds every label (k="v") given, and whether there is one.
func series(lines []string, name string, labels ...string) (string, bool) {
next:
	for _, l := range lines {
		if !strings.HasPrefix(l, name+"{") && !strings.HasPrefix(l, name+" ") {
			continue
		}
		for _, lb := range labels {
			if !strings.Contains(l, lb) {
				continue next
			}
		}
		return l[strings.LastIndexByte(l, ' ')+1:], true
	}
	return "", false
}

func TestMetricsAfterRequestsAndApplies(t *testing.T) {
	installTestTracing()
	cfg := telemetryConfig(t, sqliteTenant(t, "metered"), sqliteTenant(t, "idle"))
	ts := startTestServer(t, cfg, serverOptions{full: true, factories: failingOnceFactories()})
	c := &scimClient{t: t, base: ts.url + "/scim/metered/v2", auth: "Bearer " + newKey(t, ts.app, "metered")}

	status, body := c.do(http.MethodPost, "/Users", map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": "alan.turing@example.com", "active": true,
	})
	if status != http.StatusCreated {
		t.Fatalf("POST /Users: %d %v", status, body)
	}
	id := body["id"].(string)
	waitApplied(t, ts.app, "metered", id)
	// A group naming a member the tenant does not know: created without it,
	// and counted.
	status, body = c.do(http.MethodPost, "/groups", map[string]any{"displayName": "Metered",
		"members": []any{map[string]any{"value": id}, map[string]any{"value": "no-such-user"}}})
	if status != http.StatusCreated {
		t.Fatalf("POST /groups: %d %v", status, body)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		g, err := ts.app.ledger.GetGroup(context.Background(), "metered", body["id"].(string))
		if err != nil {
			t.Fatal(err)
		}
		if g.State() == syncsvc.StateApplied {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("group not applied: %+v", g)
		}
	}
	if status, _ := c.do(http.MethodGet, "/Users/"+id, nil); status != http.StatusOK {
		t.Fatalf("GET /Users/%s: %d", id, status)
	}
	bad := &scimClient{t: t, base: ts.url + "/scim/invented-tenant/v2", auth: "Bearer nope"}
	if status, _ := bad.do(http.MethodGet, "/Users", nil); status != http.StatusUnauthorized {
		t.Fatalf("unauthenticated GET: %d", status)
	}
	// A write acknowledged for "idle" but never enqueued stays dirty.
	if _, err := ts.app.ledger.CreateUser(context.Background(), "idle", syncsvc.Uniqueness{}, map[string]any{"userName": "waiting@example.com"}, nil); err != nil {
		t.Fatal(err)
	}

	// The apply's series are recorded right after the ledger write that
	// waitApplied saw: scrape until they are there.
	var lines []string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		lines = scrape(t, ts.url, "")
		if _, ok := series(lines, "scimbridge_apply_latency_seconds_count", `tenant="metered"`); ok || time.Now().After(deadline) {
			break
		}
	}
	for _, want := range []struct {
		name   string
		labels []string
		value  string // "" accepts any value
	}{
		{"scimbridge_http_requests_total", []string{`tenant="metered"`, `route="/scim/:tenant/v2/Users"`, `method="POST"`, `status="201"`}, "1"},
		{"scimbridge_http_requests_total", []string{`tenant="metered"`, `route="/scim/:tenant/v2/Users/:id"`, `method="GET"`, `status="200"`}, "1"},
		{"scimbridge_http_requests_total", []string{`tenant=""`, `route="/scim/:tenant/v2/Users"`, `status="401"`}, "1"},
		{"scimbridge_http_request_duration_seconds_count", []string{`tenant="metered"`, `route="/scim/:tenant/v2/Users"`, `method="POST"`}, "1"},
		{"scimbridge_apply_latency_seconds_count", []string{`tenant="metered"`, `kind="User"`}, "1"},
		{"scimbridge_apply_failures_total", []string{`tenant="metered"`, `kind="User"`, `class="unavailable"`}, "1"},
		{"scimbridge_group_members_dropped_total", []string{`tenant="metered"`}, "1"},
		{"scimbridge_dirty_resources", []string{`tenant="metered"`, `kind="User"`}, "0"},
		{"scimbridge_oldest_dirty_age_seconds", []string{`tenant="metered"`, `kind="User"`}, "0"},
		{"scimbridge_dirty_resources", []string{`tenant="idle"`, `kind="User"`}, "1"},
		{"scimbridge_oldest_dirty_age_seconds", []string{`tenant="idle"`, `kind="User"`}, ""},
		{"scimbridge_dirty_scrape_error", nil, "0"},
		{"scimbridge_queue_tasks", []string{`queue="provision"`, `state="pending"`}, "0"},
		{"scimbridge_queue_tasks", []string{`queue="deprovision"`, `state="archived"`}, "0"},
		{"scimbridge_queue_latency_seconds", []string{`queue="provision"`}, ""},
		{"scimbridge_queue_scrape_error", nil, "0"},
	} {
		got, ok := series(lines, want.name, want.labels...)
		if !ok {
			t.Errorf("no series %s%v", want.name, want.labels)
			continue
		}
		if want.value != "" && got != want.value {
			t.Errorf("%s%v = %s, want %s", want.name, want.labels, got, want.value)
		}
	}
	if _, ok := series(lines, "scimbridge_http_requests_total", `tenant="invented-tenant"`); ok {
		t.Error("an unauthenticated tenant id became a label value")
	}
	for _, l := range lines {
		if strings.Contains(l, "alan.turing") {
			t.Errorf("personal data in /metrics: %s", l)
		}
	}
}

func TestHealthAndReadiness(t *testing.T) {
	ts := startTestServer(t, telemetryConfig(t), serverOptions{full: true})
	for _, path := range []string{"/healthz", "/readyz"} {
		if status, _, body := get(t, ts.url+path, ""); status != http.StatusOK {
			t.Errorf("API %s: %d %s", path, status, body)
		}
	}
	worker := httptest.NewServer(ts.app.workerHandler())
	defer worker.Close()
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if status, _, body := get(t, worker.URL+path, ""); status != http.StatusOK {
			t.Errorf("worker %s: %d %s", path, status, body)
		}
	}
}

func TestReadinessFailsWhenRedisIsDown(t *testing.T) {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		t.Fatal(err)
	}
	var cfg Config
	cfg.Redis.Addr = mr.Addr()
	cfg.applyDefaults()
	a, err := newApp(context.Background(), &cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	apiSrv := httptest.NewServer(a.handler())
	defer apiSrv.Close()
	workerSrv := httptest.NewServer(a.workerHandler())
	defer workerSrv.Close()
	for _, u := range []string{apiSrv.URL, workerSrv.URL} {
		if status, _, body := get(t, u+"/readyz", ""); status != http.StatusOK {
			t.Fatalf("%s/readyz with Redis up: %d %s", u, status, body)
		}
	}
	mr.Close()
	for _, u := range []string{apiSrv.URL, workerSrv.URL} {
		status, h, _ := get(t, u+"/readyz", "")
		if status != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
			t.Errorf("%s/readyz with Redis down: %d, Retry-After %q; want 503 with Retry-After", u, status, h.Get("Retry-After"))
		}
		if status, _, _ := get(t, u+"/healthz", ""); status != http.StatusOK {
			t.Errorf("%s/healthz with Redis down: %d; the process is alive", u, status)
		}
	}
}

func TestMonitoringDashboardBehindOperatorToken(t *testing.T) {
	const token = "op-token-for-tests-0123456789"
	ts := startTestServer(t, telemetryConfig(t, sqliteTenant(t, "watched")), serverOptions{full: true, opsToken: token})
	// Something in a queue no worker serves.
	if err := ts.app.enqueuer.Enqueue(context.Background(), "unserved",
		queue.Reconcile{Tenant: "watched", Kind: queue.KindUser, ID: "00000000-0000-4000-8000-000000000001", Version: 1}, ""); err != nil {
		t.Fatal(err)
	}

	if status, h, _ := get(t, ts.url+"/monitoring/api/queues", ""); status != http.StatusUnauthorized || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic") {
		t.Fatalf("dashboard without the token: %d %q", status, h.Get("WWW-Authenticate"))
	}
	if status, _, _ := get(t, ts.url+"/monitoring/api/queues", "Bearer wrong"); status != http.StatusUnauthorized {
		t.Fatalf("dashboard with a wrong token: %d", status)
	}
	status, _, body := get(t, ts.url+"/monitoring/api/queues", "Bearer "+token)
	if status != http.StatusOK {
		t.Fatalf("GET /monitoring/api/queues: %d %s", status, body)
	}
	var queues struct {
		Queues []struct {
			Queue string `json:"queue"`
			Size  int    `json:"size"`
		} `json:"queues"`
	}
	if err := json.Unmarshal([]byte(body), &queues); err != nil {
		t.Fatalf("queues answer: %v: %s", err, body)
	}
	found := false
	for _, q := range queues.Queues {
		found = found || (q.Queue == "unserved" && q.Size >= 1)
	}
	if !found {
		t.Errorf("the unserved queue with its task is not listed: %s", body)
	}
	// The browser way: HTTP Basic with the token as password; the payload
	// is shown as it is (identifiers only).
	basic := "Basic " + b64("operator:"+token)
	status, _, body = get(t, ts.url+"/monitoring/api/queues/unserved/pending_tasks", basic)
	if status != http.StatusOK || !strings.Contains(body, `00000000-0000-4000-8000-000000000001`) {
		t.Errorf("pending tasks via Basic auth: %d %s", status, body)
	}
	if status, _, body := get(t, ts.url+"/monitoring/", basic); status != http.StatusOK || !strings.Contains(strings.ToLower(body), "<html") {
		t.Errorf("dashboard page: %d", status)
	}
	// /metrics is behind the same token when one is configured.
	if status, _, _ := get(t, ts.url+"/metrics", ""); status != http.StatusUnauthorized {
		t.Errorf("/metrics without the token: %d", status)
	}
	scrape(t, ts.url, "Bearer "+token)
}

func TestMonitoringOffWithoutOperatorToken(t *testing.T) {
	ts := startTestServer(t, telemetryConfig(t), serverOptions{full: true})
	if status, _, _ := get(t, ts.url+"/monitoring/api/queues", ""); status != http.StatusNotFound {
		t.Errorf("dashboard without an operator token configured: %d, want 404", status)
	}
}

func b64(s string) string {
	return base64.StdEncoding.EncodeToString([]byte(s))
}

func TestCorrelatingHandlerAddsIDs(t *testing.T) {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	spanCtx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled,
	}))
	withCorr := queue.WithCorrelation(spanCtx, queue.Correlation{RequestID: "req-1", Tenant: "acme"})
	for _, tc := range []struct {
		name string
		ctx  context.Context
		log  func(l *slog.Logger, ctx context.Context)
		want map[string]any // key -> value; nil value: absent
	}{
		{"everything from the context", withCorr, func(l *slog.Logger, ctx context.Context) { l.InfoContext(ctx, "m") },
			map[string]any{"request_id": "req-1", "tenant": "acme", "trace_id": tid.String(), "span_id": sid.String()}},
		{"no context values", context.Background(), func(l *slog.Logger, ctx context.Context) { l.InfoContext(ctx, "m") },
			map[string]any{"request_id": nil, "tenant": nil, "trace_id": nil}},
		{"the record's own tenant wins", withCorr, func(l *slog.Logger, ctx context.Context) { l.InfoContext(ctx, "m", "tenant", "own") },
			map[string]any{"tenant": "own", "request_id": "req-1"}},
		{"the logger's own request id wins", withCorr, func(l *slog.Logger, ctx context.Context) { l.With("request_id", "mine").InfoContext(ctx, "m") },
			map[string]any{"request_id": "mine", "tenant": "acme"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := slog.New(newCorrelatingHandler(slog.NewJSONHandler(&buf, nil)))
			tc.log(l, tc.ctx)
			var line map[string]any
			if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
				t.Fatalf("%v: %s", err, buf.String())
			}
			if n := strings.Count(buf.String(), `"tenant"`); n > 1 {
				t.Errorf("tenant appears %d times: %s", n, buf.String())
			}
			for k, v := range tc.want {
				if got, ok := line[k]; v == nil && ok || v != nil && got != v {
					t.Errorf("%s = %v, want %v (%s)", k, got, v, buf.String())
				}
			}
		})
	}
}

func TestWorkerListenConfig(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{{":9091", true}, {"127.0.0.1:0", true}, {"off", true}, {"9091", false}, {"host:port", false}} {
		if err := validWorkerListen(tc.addr); (err == nil) != tc.ok {
			t.Errorf("validWorkerListen(%q) = %v", tc.addr, err)
		}
	}
	t.Setenv("SCIMBRIDGE_WORKER_LISTEN", "127.0.0.1:19091")
	cfg, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Worker.Listen != "127.0.0.1:19091" {
		t.Errorf("worker.listen from the environment = %q", cfg.Worker.Listen)
	}
}

// TestComposeFiles keeps docker-compose.yml and its mounted configuration
// consistent (no Docker engine runs the file in CI).
func TestComposeFiles(t *testing.T) {
	dir := t.TempDir()
	key, token := filepath.Join(dir, "secret.key"), filepath.Join(dir, "admin.token")
	if err := os.WriteFile(key, []byte(strings.Repeat("ab", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(token, []byte(strings.Repeat("cd", 24)), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SCIMBRIDGE_SECRET_KEY_FILE", key)
	t.Setenv("SCIMBRIDGE_ADMIN_TOKEN_FILE", token)
	t.Setenv("ACME_USERS_DSN", "postgres://scimbridge:pw@postgres:5432/app?sslmode=disable")
	cfg, err := loadConfig(filepath.Join("..", "..", "configs", "compose", "scimbridge.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Worker.Listen != ":9091" || cfg.Listen != ":8080" {
		t.Errorf("listeners %q %q", cfg.Listen, cfg.Worker.Listen)
	}
	if cfg.Redis.MinReplicas != 1 {
		t.Errorf("redis.min_replicas %d: compose runs a replica, and acknowledges once it holds a write", cfg.Redis.MinReplicas)
	}
	raw, err := os.ReadFile(filepath.Join("..", "..", "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Command []string `yaml:"command"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"redis", "redis-replica", "postgres", "openldap", "api", "worker"} {
		if _, ok := compose.Services[s]; !ok {
			t.Errorf("service %s missing", s)
		}
	}
	redisCmd := strings.Join(compose.Services["redis"].Command, " ")
	if !strings.Contains(redisCmd, "--appendonly yes") || !strings.Contains(redisCmd, "--maxmemory-policy noeviction") {
		t.Errorf("redis runs without AOF or with eviction: %s", redisCmd)
	}
	if c := strings.Join(compose.Services["redis-replica"].Command, " "); !strings.Contains(c, "--replicaof redis 6379") {
		t.Errorf("redis-replica does not replicate redis: %s", c)
	}
	if c := compose.Services["api"].Command; len(c) == 0 || c[0] != "api" {
		t.Errorf("api command %v", c)
	}
	if c := compose.Services["worker"].Command; len(c) == 0 || c[0] != "worker" {
		t.Errorf("worker command %v", c)
	}
}

// TestTracingWithoutExporter: with no exporter configured spans are not
// recorded, but still carry valid ids (for log lines and tasks), and a
// caller's sampled trace context is still honoured.
func TestTracingWithoutExporter(t *testing.T) {
	for _, v := range []string{"OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"} {
		t.Setenv(v, "")
	}
	ctx := context.Background()
	tp, err := newTracerProvider(ctx, "api")
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Shutdown(ctx)
	tr := tp.Tracer("test")
	_, span := tr.Start(ctx, "root")
	if !span.SpanContext().IsValid() || span.IsRecording() {
		t.Fatalf("root span: valid %v, recording %v; want valid and not recording", span.SpanContext().IsValid(), span.IsRecording())
	}
	span.End()
	parent := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled, Remote: true,
	})
	_, child := tr.Start(trace.ContextWithRemoteSpanContext(ctx, parent), "child")
	if !child.IsRecording() || child.SpanContext().TraceID() != parent.TraceID() {
		t.Fatalf("child of a sampled caller: recording %v, trace %v", child.IsRecording(), child.SpanContext().TraceID())
	}
	child.End()
}
