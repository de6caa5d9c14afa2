package adapters_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/scimbridge/scimbridge/adapters"
)

func TestEndStoreSpan(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		err       error
		wantClass string // "" = no attribute, status unset
	}{
		{"ok", nil, ""},
		{"rejected", fmt.Errorf("sqlstore: insert user %q: %w", "u1", adapters.ErrRejected), "rejected"},
		{"already exists", fmt.Errorf("x: %w", adapters.ErrAlreadyExists), "rejected"},
		{"unavailable", fmt.Errorf("x: %w", adapters.ErrUnavailable), "unavailable"},
		{"deadline", context.DeadlineExceeded, "unavailable"},
		{"config", fmt.Errorf("x: %w", adapters.ErrConfig), "config"},
		{"not found", fmt.Errorf("x: %w", adapters.ErrNotFound), "not_found"},
		{"other", errors.New("secret value alice@example.com"), "other"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
			_, span := tp.Tracer("test").Start(context.Background(), "store.Call")
			adapters.EndStoreSpan(span, tc.err)
			ended := rec.Ended()
			if len(ended) != 1 {
				t.Fatalf("ended spans = %d, want 1", len(ended))
			}
			s := ended[0]
			var got string
			var found bool
			for _, kv := range s.Attributes() {
				if kv.Key == attribute.Key(adapters.ErrorClassAttribute) {
					got, found = kv.Value.AsString(), true
				}
			}
			if tc.wantClass == "" {
				if found || s.Status().Code != codes.Unset {
					t.Fatalf("success span: attribute %q present=%v, status %v", got, found, s.Status())
				}
				return
			}
			if got != tc.wantClass {
				t.Errorf("error_class = %q (present %v), want %q", got, found, tc.wantClass)
			}
			if s.Status().Code != codes.Error || s.Status().Description != tc.wantClass {
				t.Errorf("status = %+v, want Error %q", s.Status(), tc.wantClass)
			}
			if len(s.Events()) != 0 {
				t.Errorf("span recorded events %v: the error message must not reach the span", s.Events())
			}
		})
	}
}
