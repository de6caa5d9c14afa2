package adapters

import (
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// ErrorClassAttribute is the span attribute that carries a failed store
// call's Class.
const ErrorClassAttribute = "scimbridge.error_class"

// EndStoreSpan ends the span of one store call. A failure is recorded by its
// Class only (attribute scimbridge.error_class and the span status): a
// backend's message can echo a value (MySQL's duplicate-entry error, an LDAP
// diagnostic), and spans carry no personal data. Every store ends its spans
// here, so a span's error class is decided by Classify and nowhere else.
func EndStoreSpan(span trace.Span, err error) {
	if c := Classify(err); c != ClassNone {
		span.SetAttributes(attribute.String(ErrorClassAttribute, string(c)))
		span.SetStatus(codes.Error, string(c))
	}
	span.End()
}
