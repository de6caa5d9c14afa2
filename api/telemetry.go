package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/scimbridge/scimbridge/queue"
)

// attrTenant is the span attribute of the tenant (the same key on every
// span scimbridge opens).
const attrTenant = "scimbridge.tenant"

var tracer = otel.Tracer("github.com/scimbridge/scimbridge/api")

// HTTPMetrics are the front door's Prometheus series:
//
//	scimbridge_http_requests_total{tenant,route,method,status}
//	scimbridge_http_request_duration_seconds{tenant,route,method}
//
// route is the route pattern (/scim/:tenant/v2/Users/:id), never the raw
// path; tenant is set only once the request authenticated, so an
// unauthenticated caller cannot create series by inventing tenant ids.
type HTTPMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewHTTPMetrics creates the series and registers them on reg.
func NewHTTPMetrics(reg prometheus.Registerer) *HTTPMetrics {
	m := &HTTPMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scimbridge_http_requests_total",
			Help: "HTTP requests answered, by tenant (empty before authentication), route pattern, method and status.",
		}, []string{"tenant", "route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "scimbridge_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by tenant, route pattern and method.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"tenant", "route", "method"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// routeNoMatch is the route label of a request no route matched.
const routeNoMatch = "(no route)"

// untracedRoutes are probed every few seconds: counted, not traced.
var untracedRoutes = map[string]bool{"/healthz": true, "/readyz": true}

// telemetry opens the request's server span (continuing a trace context
// the caller sent), puts the request id in the context for the log lines
// and the tasks it enqueues, and records the request's metrics. Span and
// labels use the route pattern; no query string, header or body is recorded.
func (s *server) telemetry(c *gin.Context) {
	start := time.Now()
	route := c.FullPath()
	method := metricMethod(c.Request.Method)
	ctx := queue.WithCorrelation(c.Request.Context(), queue.Correlation{RequestID: requestIDOf(c)})
	var span trace.Span
	if !untracedRoutes[route] {
		ctx = otel.GetTextMapPropagator().Extract(ctx, propagation.HeaderCarrier(c.Request.Header))
		name := method
		if route != "" {
			name += " " + route
		}
		ctx, span = tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
			attribute.String("http.request.method", method),
			attribute.String("http.route", route),
			attribute.String("scimbridge.request_id", requestIDOf(c)),
		))
	}
	c.Request = c.Request.WithContext(ctx)
	c.Next()

	status := c.Writer.Status()
	tenant := tenantOf(c)
	if span != nil {
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		if tenant != "" {
			span.SetAttributes(attribute.String(attrTenant, tenant))
		}
		if status >= http.StatusInternalServerError {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
		span.End()
	}
	if m := s.cfg.Metrics; m != nil {
		if route == "" {
			route = routeNoMatch
		}
		m.requests.WithLabelValues(tenant, route, method, strconv.Itoa(status)).Inc()
		m.duration.WithLabelValues(tenant, route, method).Observe(time.Since(start).Seconds())
	}
}

// bindTenant records the authenticated tenant in the request's context (for
// log lines and the tasks it enqueues) and on its span.
func bindTenant(c *gin.Context, tenant string) {
	ctx := c.Request.Context()
	corr := queue.CorrelationFrom(ctx)
	corr.Tenant = tenant
	if corr.RequestID == "" {
		corr.RequestID = requestIDOf(c)
	}
	trace.SpanFromContext(ctx).SetAttributes(attribute.String(attrTenant, tenant))
	c.Request = c.Request.WithContext(queue.WithCorrelation(ctx, corr))
}

// metricMethod bounds the method label to the methods the API knows.
func metricMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete,
		http.MethodHead, http.MethodOptions:
		return m
	}
	return "OTHER"
}
