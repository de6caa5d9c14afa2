package queue

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// HeaderRequestID is the task header carrying the id of the HTTP request
// that enqueued the task, so the worker's log lines name it too.
const HeaderRequestID = "scimbridge-request-id"

// Correlation ties the log lines of one provisioning change together, in
// the API and in the worker: the request id and the tenant. Neither is
// personal data.
type Correlation struct {
	RequestID string
	Tenant    string
}

type correlationKey struct{}

// WithCorrelation returns ctx carrying c.
func WithCorrelation(ctx context.Context, c Correlation) context.Context {
	return context.WithValue(ctx, correlationKey{}, c)
}

// CorrelationFrom returns the correlation ctx carries (zero when none).
func CorrelationFrom(ctx context.Context) Correlation {
	c, _ := ctx.Value(correlationKey{}).(Correlation)
	return c
}

var tracer = otel.Tracer("github.com/scimbridge/scimbridge/queue")

// startProducerSpan opens the span of one enqueue; the task's headers
// carry its context, so the consumer spans of every attempt are its
// children.
func startProducerSpan(ctx context.Context, queueName string, p Reconcile) (context.Context, trace.Span) {
	return tracer.Start(ctx, "queue.enqueue", trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(
		attribute.String("scimbridge.tenant", p.Tenant),
		attribute.String("scimbridge.kind", p.Kind),
		attribute.String("scimbridge.resource_id", p.ID),
		attribute.Int64("scimbridge.version", p.Version),
		attribute.String("messaging.system", "asynq"),
		attribute.String("messaging.operation.type", "send"),
		attribute.String("messaging.destination.name", queueName),
	))
}

func endProducerSpan(span trace.Span, err *error) {
	if *err != nil {
		span.RecordError(*err)
		span.SetStatus(codes.Error, (*err).Error())
	}
	span.End()
}
