package sync

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkLedgerCreate: one create (the put script and its reply) after
// another, with an Okta-sized user; the test Redis.
//
//	go test -run '^$' -bench LedgerCreate -benchmem ./sync
func BenchmarkLedgerCreate(b *testing.B) {
	rdb := testRedis(b)
	tenant := testTenant(b, rdb)
	l := NewLedger(rdb, nil)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		a := user(fmt.Sprintf("bench%d@example.com", i), "externalId", fmt.Sprintf("00u%d", i),
			"name", map[string]any{"givenName": "Given", "familyName": "Family", "formatted": "Given Family"},
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", map[string]any{"department": "Engineering", "employeeNumber": "1234"},
			"displayName", "Given Family", "locale", "en-US", "title", "Engineer")
		if _, err := l.CreateUser(ctx, tenant, Uniqueness{}, a, nil); err != nil {
			b.Fatal(err)
		}
	}
}
