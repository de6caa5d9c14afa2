package sqlstore

import (
	"context"
	"fmt"
	"testing"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/adapters/conformance"
	"github.com/scimbridge/scimbridge/scim"
)

// BenchmarkApplyUser measures ApplyUser against real databases: "create"
// inserts a new user each iteration; "unchanged" re-applies one user (the
// reconciler's idempotent retry: a locked read, no write). No password: the
// hash would dominate.
func BenchmarkApplyUser(b *testing.B) {
	for _, h := range []conformance.Harness{postgresHarness(), sqliteHarness(), mysqlHarness()} {
		b.Run(h.Name+"/create", func(b *testing.B) {
			s, _ := h.New(b, conformance.Options{})
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := s.ApplyUser(ctx, benchUser(fmt.Sprintf("user%d@example.com", i))); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
		b.Run(h.Name+"/unchanged", func(b *testing.B) {
			s, _ := h.New(b, conformance.Options{})
			ctx := context.Background()
			u := benchUser("jane@example.com")
			anchor, err := s.ApplyUser(ctx, u)
			if err != nil {
				b.Fatal(err)
			}
			u.Anchor = anchor
			b.ResetTimer()
			for b.Loop() {
				if _, err := s.ApplyUser(ctx, u); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}

func benchUser(userName string) adapters.User {
	return adapters.User{
		Attrs: scim.Attrs{
			"userName":   userName,
			"name":       map[string]any{"givenName": "Given", "familyName": "Family"},
			"emails":     []any{map[string]any{"type": "work", "value": "mail." + userName}},
			"externalId": "ext-" + userName,
		},
		Active: true,
	}
}
