package main

// Telemetry of a scimbridge process: the OpenTelemetry tracer provider
// (exporter chosen by the standard OTEL_* variables), the Prometheus
// registry behind /metrics, the log handler that adds request id, tenant
// and trace ids to every line, the health endpoints, the asynq dashboard
// at /monitoring and the worker's small operations listener.

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/scimbridge/scimbridge/api"
	"github.com/scimbridge/scimbridge/api/admin"
	"github.com/scimbridge/scimbridge/queue"
	syncsvc "github.com/scimbridge/scimbridge/sync"
)

// tracingConfigured reports whether the environment asks for a trace
// exporter: OTEL_TRACES_EXPORTER, or an OTLP endpoint. Nothing set means
// no exporter (autoexport alone would default to OTLP on localhost).
func tracingConfigured() bool {
	for _, v := range []string{"OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"} {
		if os.Getenv(v) != "" {
			return true
		}
	}
	return false
}

// setupTracing installs the global tracer provider and the W3C
// tracecontext + baggage propagator. The exporter follows the standard
// variables (autoexport): OTEL_TRACES_EXPORTER=otlp|console|none,
// OTEL_EXPORTER_OTLP_PROTOCOL=grpc|http/protobuf, OTEL_EXPORTER_OTLP_ENDPOINT
// (or OTEL_EXPORTER_OTLP_TRACES_*), OTEL_SERVICE_NAME,
// OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER. Without an exporter spans
// are still created (so log lines carry trace ids and tasks carry the
// context) but not recorded. The returned function flushes and stops it.
func setupTracing(ctx context.Context, role string) (shutdown func(context.Context) error, err error) {
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	tp, err := newTracerProvider(ctx, role)
	if err != nil {
		return nil, err
	}
	otel.SetTracerProvider(tp)
	return tp.Shutdown, nil
}

// newTracerProvider is setupTracing's provider (not installed).
func newTracerProvider(ctx context.Context, role string) (*sdktrace.TracerProvider, error) {
	res, err := resource.New(ctx,
		resource.WithAttributes(
			attribute.String("service.name", "scimbridge"),
			attribute.String("scimbridge.role", role),
		),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win
		resource.WithHost(),
		resource.WithProcessPID(),
	)
	if err != nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	exporting := false
	if tracingConfigured() {
		exp, err := autoexport.NewSpanExporter(ctx)
		if err != nil {
			return nil, fmt.Errorf("tracing: exporter from OTEL_* environment: %w", err)
		}
		if !autoexport.IsNoneSpanExporter(exp) {
			opts = append(opts, sdktrace.WithBatcher(exp))
			exporting = true
		}
	}
	if !exporting {
		// Nothing would receive the spans: create them unrecorded (they
		// still carry trace and span ids to log lines and tasks) unless
		// the caller's trace context asks for sampling. Recording spans
		// only to drop them was ~8% of the API's CPU per request.
		opts = append(opts, sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())))
	}
	return sdktrace.NewTracerProvider(opts...), nil
}

// correlatingHandler adds to every log record the request id and tenant
// the context carries (queue.Correlation) and the trace and span ids of
// its span, unless the record or the logger already has those keys.
type correlatingHandler struct {
	slog.Handler
	has map[string]bool // top-level keys added with WithAttrs
}

func newCorrelatingHandler(h slog.Handler) *correlatingHandler {
	return &correlatingHandler{Handler: h, has: map[string]bool{}}
}

// Handle implements slog.Handler.
func (h *correlatingHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx == nil {
		return h.Handler.Handle(ctx, r)
	}
	present := map[string]bool{}
	r.Attrs(func(a slog.Attr) bool {
		present[a.Key] = true
		return true
	})
	add := func(key, value string) {
		if value != "" && !present[key] && !h.has[key] {
			r.AddAttrs(slog.String(key, value))
		}
	}
	corr := queue.CorrelationFrom(ctx)
	add("request_id", corr.RequestID)
	add("tenant", corr.Tenant)
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		add("trace_id", sc.TraceID().String())
		add("span_id", sc.SpanID().String())
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h *correlatingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	has := make(map[string]bool, len(h.has)+len(attrs))
	for k := range h.has {
		has[k] = true
	}
	for _, a := range attrs {
		has[a.Key] = true
	}
	return &correlatingHandler{Handler: h.Handler.WithAttrs(attrs), has: has}
}

// WithGroup implements slog.Handler: inside a group the correlation keys
// would be nested, so they are added only at the top level (before it).
func (h *correlatingHandler) WithGroup(name string) slog.Handler {
	return &correlatingHandler{Handler: h.Handler.WithGroup(name), has: h.has}
}

// appMetrics is the Prometheus registry of one process and the series the
// services record into.
type appMetrics struct {
	registry  *prometheus.Registry
	http      *api.HTTPMetrics
	sync      *syncsvc.Metrics
	webhooks  *syncsvc.WebhookMetrics
	inspector *asynq.Inspector
}

// newAppMetrics registers every scimbridge series, the Go runtime and
// process series on a registry of the app's own.
func newAppMetrics(a *app) *appMetrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &appMetrics{
		registry:  reg,
		http:      api.NewHTTPMetrics(reg),
		sync:      syncsvc.NewMetrics(reg),
		webhooks:  syncsvc.NewWebhookMetrics(reg),
		inspector: asynq.NewInspector(a.asynqOpt),
	}
	reg.MustRegister(
		&queue.DepthCollector{Inspector: m.inspector, Shards: a.cfg.Redis.QueueShards},
		syncsvc.NewDirtyCollector(a.ledger, a.registry, dirtyCacheFor, dirtyReadTimeout),
	)
	return m
}

func (m *appMetrics) close() { _ = m.inspector.Close() }

// metricsHandler serves the registry in the Prometheus text format.
func (m *appMetrics) metricsHandler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// healthz answers 200 while the process runs; it checks no dependency.
func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
}

// readyz answers 200 when Redis answers a PING within a second, 503 with
// Retry-After otherwise: a process without Redis can neither acknowledge
// nor apply anything.
func (a *app) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err := a.rdb.Ping(ctx).Err(); err != nil {
		a.log.WarnContext(r.Context(), "not ready: redis does not answer", "err", err)
		w.Header().Set("Retry-After", "5")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"status":"unavailable","redis":"unreachable"}` + "\n"))
		return
	}
	_, _ = w.Write([]byte(`{"status":"ready"}` + "\n"))
}

// MonitoringPath is where the API process serves the asynq dashboard.
const MonitoringPath = "/monitoring"

// handler is the API process's HTTP handler: the SCIM router, plus
// /metrics (behind the operator token when one is configured), /readyz and,
// when an operator token is configured, the asynq dashboard at
// /monitoring. /healthz is the router's. /metrics and /monitoring are
// guarded by the app's admin.Operator, the one the admin API uses.
func (a *app) handler() http.Handler {
	mux := http.NewServeMux()
	op := a.operatorGuard()
	metrics := a.metrics.metricsHandler()
	if op != nil {
		metrics = op.Guard(metrics)
	}
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("GET /readyz", a.readyz)
	if op != nil {
		mon := asynqmon.New(asynqmon.Options{
			RootPath:     MonitoringPath,
			RedisConnOpt: a.asynqOpt,
			// Payloads are identifiers only (tenant, kind, id, version):
			// shown as they are.
			PayloadFormatter: asynqmon.PayloadFormatterFunc(func(_ string, payload []byte) string { return string(payload) }),
		})
		a.closers = append(a.closers, func() { _ = mon.Close() })
		mux.Handle(MonitoringPath+"/", op.GuardPage(dashboardCSP(mon), mon))
		mux.Handle(MonitoringPath, http.RedirectHandler(MonitoringPath+"/", http.StatusMovedPermanently))
	}
	mux.Handle("/", a.router())
	return mux
}

// dashboardCSP is the content security policy of the asynq dashboard, a
// React app served from asynqmon's embedded files, as little as it needs
// to load and work (checked in Chromium by TestDashboardInChromium):
//
//   - script-src: its own files, and its page's two inline scripts (the
//     settings asynqmon writes into the page, the webpack loader) by their
//     SHA-256, computed here from the page the handler serves, so an
//     asynqmon upgrade cannot silently break the page or widen the policy;
//   - style-src 'unsafe-inline': Material-UI (JSS) writes its styles into
//     <style> elements at run time and the page offers it no nonce (without
//     it Chromium blocks ~70 of them and the page is unstyled); scripts
//     stay locked down, so injected styles cannot run code;
//   - img-src, connect-src, manifest-src: its own origin (icons, the
//     /monitoring/api calls, the web manifest).
//
// The page also links Roboto from fonts.googleapis.com: not allowed, the
// operator's browser does not call Google from the dashboard; the browser's
// sans-serif font is used instead.
func dashboardCSP(mon http.Handler) string {
	rec := httptest.NewRecorder()
	mon.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, MonitoringPath+"/", nil))
	hashes := ""
	for _, m := range inlineScript.FindAllStringSubmatch(rec.Body.String(), -1) {
		sum := sha256.Sum256([]byte(m[1]))
		hashes += " 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	}
	return "default-src 'none'; script-src 'self'" + hashes +
		"; style-src 'self' 'unsafe-inline'; img-src 'self'; connect-src 'self'; manifest-src 'self'"
}

// inlineScript matches an inline <script> element (no src) and its text.
var inlineScript = regexp.MustCompile(`(?s)<script>(.*?)</script>`)

// workerHandler is the worker's operations listener: /metrics, /healthz,
// /readyz.
func (a *app) workerHandler() http.Handler {
	mux := http.NewServeMux()
	metrics := a.metrics.metricsHandler()
	if op := a.operatorGuard(); op != nil {
		metrics = op.Guard(metrics)
	}
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("GET /healthz", healthz)
	mux.HandleFunc("GET /readyz", a.readyz)
	return mux
}

// runWorkerListener serves workerHandler on worker.listen until ctx ends.
func (a *app) runWorkerListener(ctx context.Context) error {
	if a.cfg.Worker.Listen == WorkerListenOff {
		return nil
	}
	ln, err := net.Listen("tcp", a.cfg.Worker.Listen)
	if err != nil {
		return fmt.Errorf("worker listen %s: %w", a.cfg.Worker.Listen, err)
	}
	srv := &http.Server{
		Handler:           a.workerHandler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
	}
	a.log.Info("worker operations listener (metrics, health)", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// WorkerListenOff as worker.listen starts no operations listener.
const WorkerListenOff = "off"

// defaultWorkerListen is the worker's operations listener by default.
const defaultWorkerListen = ":9091"

// validWorkerListen checks worker.listen.
func validWorkerListen(addr string) error {
	if addr == WorkerListenOff {
		return nil
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("worker.listen %q: want host:port, :port or %q", addr, WorkerListenOff)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("worker.listen %q: bad port", addr)
	}
	return nil
}

// operatorAuth is the app's one operator authentication, built on first
// use: every operator surface of the process (admin API, console, /metrics
// of the API and of the worker's listener, /monitoring) shares it and its
// limit on wrong tokens.
type operatorAuth struct {
	once sync.Once
	op   *admin.Operator
}

// operatorGuard is the process's operator authentication (admin.Operator),
// nil when no operator token is configured: /metrics is then open, and the
// admin API, the console and /monitoring are off.
func (a *app) operatorGuard() *admin.Operator {
	a.ops.once.Do(func() {
		if token := a.operatorToken(); token != "" {
			op, _ := admin.NewOperator(token) // only error: an empty token
			a.ops.op = op.WithPublicURL(a.cfg.PublicURL)
		}
	})
	return a.ops.op
}

// operatorToken is the operator token (admin.token_env or
// admin.token_file); "" when none is configured. a.opsToken, when set
// (tests), wins.
func (a *app) operatorToken() string {
	if a.opsToken != "" {
		return a.opsToken
	}
	token, err := a.cfg.Admin.token()
	if err != nil {
		return "" // loadConfig reported it already
	}
	return token
}
