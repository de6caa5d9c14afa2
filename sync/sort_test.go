package sync

import (
	"context"
	"testing"

	"github.com/scimbridge/scimbridge/scim"
)

// Sorted searches order by the attribute's schema type, as scim's one
// comparator says: a multi-valued attribute by its primary element (not
// its first), and missing values last, in both directions.
func TestSearchUsersSortsByTheSchemaComparator(t *testing.T) {
	t.Parallel()
	s, _, _, tenant := groupBundle(t)
	ctx := context.Background()
	mk := func(userName string, emails ...map[string]any) string {
		a := scim.Attrs{"userName": userName}
		if len(emails) > 0 {
			list := make([]any, len(emails))
			for i, e := range emails {
				list[i] = e
			}
			a["emails"] = list
		}
		r, err := s.Ledger.CreateUser(ctx, tenant, Uniqueness{}, a, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	// b's first email sorts first, but its primary one sorts last.
	a := mk("a@x.io", map[string]any{"value": "m@x.io", "primary": true})
	b := mk("b@x.io", map[string]any{"value": "a@x.io"}, map[string]any{"value": "z@x.io", "primary": true})
	none := mk("c@x.io")

	for _, tc := range []struct {
		descending bool
		want       []string
	}{
		{false, []string{a, b, none}},
		{true, []string{none, b, a}},
	} {
		recs, total, err := s.SearchUsers(ctx, tenant, Query{SortBy: "emails.value", Descending: tc.descending, StartIndex: 1, Count: 10})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range recs {
			got = append(got, r.ID)
		}
		if total != 3 || len(got) != 3 || got[0] != tc.want[0] || got[1] != tc.want[1] || got[2] != tc.want[2] {
			t.Errorf("descending=%v: order %v (total %d), want %v", tc.descending, got, total, tc.want)
		}
	}
}
