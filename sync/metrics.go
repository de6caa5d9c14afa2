package sync

import (
	"context"
	"errors"
	gosync "sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/queue"
	"github.com/scimbridge/scimbridge/scim"
)

// Tracing. Every span carries the tenant (AttrTenant) and never a user's
// attributes: ids and versions only.

// AttrTenant is the span attribute holding the tenant id, on every span
// scimbridge opens (stores use the same key).
const AttrTenant = "scimbridge.tenant"

var tracer = otel.Tracer("github.com/scimbridge/scimbridge/sync")

// startSpan opens an internal span of the sync package.
func startSpan(ctx context.Context, name, tenant string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	attrs = append(attrs, attribute.String(AttrTenant, tenant))
	return tracer.Start(ctx, name, trace.WithAttributes(attrs...))
}

// endSpan ends span, recording *err as the span's error unless it is an
// expected answer to the client (not found, uniqueness, version mismatch,
// a SCIM error): those are outcomes, not failures of the service.
func endSpan(span trace.Span, err *error) {
	if e := *err; e != nil {
		var se *scim.Error
		switch {
		case errors.Is(e, ErrNotFound), errors.Is(e, ErrUniqueness), errors.Is(e, ErrVersionMismatch), errors.As(e, &se):
			span.SetAttributes(attribute.String("scimbridge.outcome", outcomeOf(e)))
		default:
			span.RecordError(e)
			span.SetStatus(codes.Error, e.Error())
		}
	}
	span.End()
}

func outcomeOf(err error) string {
	switch {
	case errors.Is(err, ErrNotFound):
		return "not_found"
	case errors.Is(err, ErrUniqueness):
		return "uniqueness"
	case errors.Is(err, ErrVersionMismatch):
		return "version_mismatch"
	}
	return "invalid"
}

// FailureClass is the class label of scimbridge_apply_failures_total for
// an apply error: adapters.Classify's class (a ledger outage is
// unavailable: sync.ErrUnavailable wraps adapters.ErrUnavailable).
func FailureClass(err error) string { return string(adapters.Classify(err)) }

// Metrics are the reconciler's Prometheus series. A nil *Metrics records
// nothing.
type Metrics struct {
	applyLatency   *prometheus.HistogramVec
	applyFailures  *prometheus.CounterVec
	membersDropped *prometheus.CounterVec
}

// NewMetrics creates the reconciler's series and registers them on reg:
//
//	scimbridge_apply_latency_seconds{tenant,kind}         acknowledgement (the ledger write) to applied in the store
//	scimbridge_apply_failures_total{tenant,kind,class}    failed apply attempts, class: adapters.Class (config|rejected|not_found|unavailable|other)
//	scimbridge_group_members_dropped_total{tenant}        member ids left out of group writes (not users of the tenant)
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		applyLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "scimbridge_apply_latency_seconds",
			Help:    "Time from the acknowledged SCIM write (the ledger record's modification) to its apply in the tenant's store.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600},
		}, []string{"tenant", "kind"}),
		applyFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scimbridge_apply_failures_total",
			Help: "Failed apply attempts by class: rejected and config (permanent, recorded on the resource), not_found, unavailable and other (retried).",
		}, []string{"tenant", "kind", "class"}),
		membersDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scimbridge_group_members_dropped_total",
			Help: "Member ids that group writes (POST, PUT, PATCH) named but left out because they are not users of the tenant.",
		}, []string{"tenant"}),
	}
	reg.MustRegister(m.applyLatency, m.applyFailures, m.membersDropped)
	return m
}

// applied records the apply of a version acknowledged at acknowledged.
func (m *Metrics) applied(tenant, kind string, acknowledged time.Time) {
	if m == nil || acknowledged.IsZero() {
		return
	}
	m.applyLatency.WithLabelValues(tenant, kind).Observe(max(time.Since(acknowledged).Seconds(), 0))
}

// dropped counts member ids a group write left out.
func (m *Metrics) dropped(tenant string, n int) {
	if m == nil {
		return
	}
	m.membersDropped.WithLabelValues(tenant).Add(float64(n))
}

// failed counts a failed apply attempt.
func (m *Metrics) failed(tenant, kind string, err error) {
	if m == nil {
		return
	}
	m.applyFailures.WithLabelValues(tenant, kind, FailureClass(err)).Inc()
}

// DirtyCollector reports, when scraped, the dirty resources of every
// tenant and the age of the oldest one:
//
//	scimbridge_dirty_resources{tenant,kind}
//	scimbridge_oldest_dirty_age_seconds{tenant,kind}   0 when nothing is dirty
//
// The work per scrape is two Redis commands per tenant and kind in one
// pipeline, bounded by Timeout, and repeated at most once per CacheFor.
//
// Required: Ledger, Tenants, CacheFor and Timeout (there are no defaults:
// see required.go), passed to NewDirtyCollector, which panics when one is
// missing. (A collector built otherwise with one missing reports every
// scrape as failed, with Check's error.)
type DirtyCollector struct {
	Ledger  *Ledger
	Tenants TenantLister
	// CacheFor is how long one reading is served again (required).
	CacheFor time.Duration
	// Timeout bounds one reading (required).
	Timeout time.Duration

	mu       gosync.Mutex
	readAt   time.Time
	readings []dirtyReading
}

type dirtyReading struct {
	tenant, kind string
	count        int64
	oldest       time.Time
}

var (
	dirtyDesc = prometheus.NewDesc("scimbridge_dirty_resources",
		"Resources whose latest acknowledged state is not yet applied to the store.", []string{"tenant", "kind"}, nil)
	oldestDirtyDesc = prometheus.NewDesc("scimbridge_oldest_dirty_age_seconds",
		"Age of the oldest resource not yet applied to the store (0 when none): the provisioning and deprovisioning delay.",
		[]string{"tenant", "kind"}, nil)
	dirtyErrDesc = prometheus.NewDesc("scimbridge_dirty_scrape_error",
		"1 when the last reading of the dirty sets failed (Redis unreachable).", nil, nil)
)

// NewDirtyCollector returns a collector of the dirty sets of the tenants'
// resources. It panics when an argument is missing (nil, or a duration <= 0).
func NewDirtyCollector(ledger *Ledger, tenants TenantLister, cacheFor, timeout time.Duration) *DirtyCollector {
	d := &DirtyCollector{Ledger: ledger, Tenants: tenants, CacheFor: cacheFor, Timeout: timeout}
	mustCheck(d.Check())
	return d
}

// Check reports the required settings that are unset.
func (d *DirtyCollector) Check() error {
	return checkRequired("DirtyCollector",
		setting{"Ledger", d.Ledger != nil},
		setting{"Tenants", d.Tenants != nil},
		setting{"CacheFor", d.CacheFor > 0},
		setting{"Timeout", d.Timeout > 0})
}

// Describe implements prometheus.Collector.
func (d *DirtyCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- dirtyDesc
	ch <- oldestDirtyDesc
	ch <- dirtyErrDesc
}

// Collect implements prometheus.Collector.
func (d *DirtyCollector) Collect(ch chan<- prometheus.Metric) {
	readings, err := d.read()
	failed := 0.0
	if err != nil {
		failed = 1
	}
	ch <- prometheus.MustNewConstMetric(dirtyErrDesc, prometheus.GaugeValue, failed)
	now := time.Now()
	for _, r := range readings {
		age := 0.0
		if r.count > 0 && !r.oldest.IsZero() {
			age = max(now.Sub(r.oldest).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(dirtyDesc, prometheus.GaugeValue, float64(r.count), r.tenant, r.kind)
		ch <- prometheus.MustNewConstMetric(oldestDirtyDesc, prometheus.GaugeValue, age, r.tenant, r.kind)
	}
}

// read returns the cached reading or takes a new one.
func (d *DirtyCollector) read() ([]dirtyReading, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.Check(); err != nil {
		return nil, err
	}
	if !d.readAt.IsZero() && time.Since(d.readAt) < d.CacheFor {
		return d.readings, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), d.Timeout)
	defer cancel()
	readings, err := d.Ledger.dirtyReadings(ctx, d.Tenants)
	if err != nil {
		return nil, err
	}
	d.readings, d.readAt = readings, time.Now()
	return readings, nil
}

// startConsumerSpan opens the span of one attempt of a reconcile task: a
// child of the producer span whose context the task's headers carried.
// The attempt number (asynq's retry count) is an attribute.
func startConsumerSpan(ctx context.Context, p queue.Reconcile) (context.Context, trace.Span) {
	attrs := []attribute.KeyValue{
		attribute.String(AttrTenant, p.Tenant),
		attribute.String("scimbridge.kind", p.Kind),
		attribute.String("scimbridge.resource_id", p.ID),
		attribute.Int64("scimbridge.version", p.Version),
		attribute.String("messaging.system", "asynq"),
		attribute.String("messaging.operation.type", "process"),
	}
	if n, ok := asynq.GetRetryCount(ctx); ok {
		attrs = append(attrs, attribute.Int("asynq.retry_count", n))
	}
	if n, ok := asynq.GetMaxRetry(ctx); ok {
		attrs = append(attrs, attribute.Int("asynq.max_retry", n))
	}
	if q, ok := asynq.GetQueueName(ctx); ok {
		attrs = append(attrs, attribute.String("messaging.destination.name", q))
	}
	if id, ok := asynq.GetTaskID(ctx); ok {
		attrs = append(attrs, attribute.String("messaging.message.id", id))
	}
	return tracer.Start(ctx, "sync.reconcile", trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attrs...))
}

// kindName is the resource kind ("User", "Group") of k.
func kindName(k keys) string {
	if k.kind == "g" {
		return queue.KindGroup
	}
	return queue.KindUser
}
