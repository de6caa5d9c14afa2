package sqlstore

import (
	"context"
	"fmt"
	"testing"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/adapters/conformance"
	"github.com/scimbridge/scimbridge/internal/testsupport"
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

// BenchmarkAddMember measures AddMembers of one member to a group that
// already has 10 or 50,000 members, on real databases, with a unique
// (group_id, user_id) constraint on the join table and with only a plain
// index. "new" adds a user who is not a member yet (removed again, off
// the clock, after each iteration); "present" re-adds an existing member
// (the reconciler's retry). The cost must not depend on the group's size.
func BenchmarkAddMember(b *testing.B) {
	for _, kind := range []string{adapters.KindPostgres, adapters.KindSQLite, adapters.KindMySQL} {
		for _, unique := range []bool{true, false} {
			variant := "plain"
			if unique {
				variant = "unique"
			}
			for _, size := range []int{10, 50000} {
				b.Run(fmt.Sprintf("%s/%s/members=%d", kind, variant, size), func(b *testing.B) {
					f := newGroupFixture(b, kind, unique)
					s := openStore(b, f.cfg).(conformance.GroupStore)
					ctx := context.Background()
					users := insertUsers(b, f, size+1)
					newcomer, existing := users[size], users[:size]
					group, err := s.ApplyGroup(ctx, adapters.Group{Attrs: scim.Attrs{"displayName": "Everyone"}})
					if err != nil {
						b.Fatal(err)
					}
					if err := s.AddMembers(ctx, group, existing); err != nil {
						b.Fatal(err)
					}
					if kind == adapters.KindPostgres {
						testsupport.Exec(b, f.db, "ANALYZE "+dialects[kind].ident(f.cfg.Groups.Members.Table))
					}

					b.Run("new", func(b *testing.B) {
						for i := 0; i < b.N; i++ {
							if err := s.AddMembers(ctx, group, []string{newcomer}); err != nil {
								b.Fatal(err)
							}
							b.StopTimer()
							if err := s.RemoveMembers(ctx, group, []string{newcomer}); err != nil {
								b.Fatal(err)
							}
							b.StartTimer()
						}
					})
					b.Run("present", func(b *testing.B) {
						for i := 0; i < b.N; i++ {
							if err := s.AddMembers(ctx, group, []string{existing[i%size]}); err != nil {
								b.Fatal(err)
							}
						}
					})
				})
			}
		}
	}
}
