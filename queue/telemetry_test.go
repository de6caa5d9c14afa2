package queue

import (
	"context"
	"testing"
)

func TestRequestIDTravelsInTaskHeaders(t *testing.T) {
	for _, tc := range []struct {
		name string
		corr Correlation
		want string
	}{
		{"request id carried", Correlation{RequestID: "req-42", Tenant: "acme"}, "req-42"},
		{"none", Correlation{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := WithCorrelation(context.Background(), tc.corr)
			task, err := NewReconcileTask(ctx, Reconcile{Tenant: "acme", Kind: KindUser, ID: "u1", Version: 1})
			if err != nil {
				t.Fatal(err)
			}
			got := CorrelationFrom(ContextFromTask(context.Background(), task))
			if got.RequestID != tc.want {
				t.Errorf("request id after the task = %q, want %q", got.RequestID, tc.want)
			}
			if got.Tenant != "" {
				t.Errorf("tenant %q travelled in headers; the payload carries it", got.Tenant)
			}
		})
	}
}
