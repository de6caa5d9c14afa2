package sync

import (
	stdsync "sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// WebhookMetrics are the webhook deliveries' Prometheus series. A nil
// *WebhookMetrics records nothing.
type WebhookMetrics struct {
	deliveries *prometheus.CounterVec
	lagSeconds *prometheus.HistogramVec
	oldestAge  *prometheus.GaugeVec
	disables   *prometheus.CounterVec
	throttled  *prometheus.CounterVec

	mu    stdsync.Mutex
	shown map[[2]string]bool // {tenant, endpoint} of the oldestAge series this process set
}

// NewWebhookMetrics creates the series and registers them on reg:
//
//	scimbridge_webhook_deliveries_total{tenant,endpoint,outcome}   outcome: success|failed|gone|refused (host policy)
//	scimbridge_webhook_delivery_lag_seconds{tenant}                event (store applied) to the receiver's 2xx; replays are not lag
//	scimbridge_webhook_oldest_undelivered_seconds{tenant,endpoint} age of the enabled endpoint's oldest event not yet acknowledged (0: caught up), set by runs and sweeps
//	scimbridge_webhook_endpoints_disabled_total{tenant,endpoint}   endpoints scimbridge disabled (410, failing too long)
//	scimbridge_webhook_tenant_throttled_total{tenant}              delivery runs put back: the tenant had webhooks.tenant_concurrency going
func NewWebhookMetrics(reg prometheus.Registerer) *WebhookMetrics {
	m := &WebhookMetrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scimbridge_webhook_deliveries_total",
			Help: "Webhook delivery attempts by outcome: success (2xx), failed (retried), gone (410: the endpoint is disabled), refused (the host policy refused the address).",
		}, []string{"tenant", "endpoint", "outcome"}),
		lagSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "scimbridge_webhook_delivery_lag_seconds",
			Help:    "Time from an event (the store reflecting a change) to its acknowledged delivery (replays are not counted).",
			Buckets: []float64{.01, .05, .1, .5, 1, 5, 30, 60, 300, 3600, 21600, 86400},
		}, []string{"tenant"}),
		oldestAge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "scimbridge_webhook_oldest_undelivered_seconds",
			Help: "Age of the oldest event an enabled endpoint has not acknowledged yet, as of its last delivery run or sweep (0: caught up).",
		}, []string{"tenant", "endpoint"}),
		disables: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scimbridge_webhook_endpoints_disabled_total",
			Help: "Webhook endpoints scimbridge disabled: a 410 Gone, or failing longer than webhooks.disable_after.",
		}, []string{"tenant", "endpoint"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scimbridge_webhook_tenant_throttled_total",
			Help: "Webhook delivery runs not started because their tenant had webhooks.tenant_concurrency runs going (retried shortly, not a failure).",
		}, []string{"tenant"}),
	}
	reg.MustRegister(m.deliveries, m.lagSeconds, m.oldestAge, m.disables, m.throttled)
	return m
}

func (m *WebhookMetrics) delivered(tenant, endpoint, outcome string) {
	if m != nil {
		m.deliveries.WithLabelValues(tenant, endpoint, outcome).Inc()
	}
}

func (m *WebhookMetrics) lag(tenant string, event time.Time) {
	if m != nil && !event.IsZero() {
		m.lagSeconds.WithLabelValues(tenant).Observe(max(time.Since(event).Seconds(), 0))
	}
}

func (m *WebhookMetrics) oldest(tenant, endpoint string, age float64) {
	if m != nil {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.shown == nil {
			m.shown = map[[2]string]bool{}
		}
		m.shown[[2]string{tenant, endpoint}] = true
		m.oldestAge.WithLabelValues(tenant, endpoint).Set(age)
	}
}

func (m *WebhookMetrics) disabled(tenant, endpoint string) {
	if m != nil {
		m.disables.WithLabelValues(tenant, endpoint).Inc()
	}
}

// retain removes the gauges of tenant's endpoints that are not in live
// (deleted, or disabled, since this process set them): a sweep read the
// tenant's endpoints, and live holds its enabled ones.
func (m *WebhookMetrics) retain(tenant string, live map[string]bool) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.shown {
		if k[0] == tenant && !live[k[1]] {
			delete(m.shown, k)
			m.oldestAge.DeleteLabelValues(k[0], k[1])
		}
	}
}

func (m *WebhookMetrics) throttle(tenant string) {
	if m != nil {
		m.throttled.WithLabelValues(tenant).Inc()
	}
}
