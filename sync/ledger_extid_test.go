package sync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/scimbridge/scimbridge/scim"
)

// uniqueExternalID is a tenant that makes externalId unique.
type uniqueExternalID map[string]bool

func (u uniqueExternalID) UniqueAttributes(_ context.Context, tenant string) ([]string, error) {
	if u[tenant] {
		return []string{"externalId"}, nil
	}
	return nil, nil
}

func recIDs(recs []*Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

// externalId is not unique by default: users and groups share one, an
// `externalId eq` lookup returns every holder in creation order, and the
// index follows replace, patch, delete, adopt and import.
func TestExternalIDIsNotUnique(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	s, tenant := b.svc, b.tenant
	find := func(v string) []string {
		t.Helper()
		recs, _, err := s.ListUsers(ctx, tenant, mustFilter(t, `externalId eq "`+v+`"`), 1, 100)
		if err != nil {
			t.Fatal(err)
		}
		return recIDs(recs)
	}
	var ids []string
	for i := range 3 {
		r, err := s.CreateUser(ctx, tenant, user(fmt.Sprintf("nick%d@x.io", i), "externalId", "nick"), nil)
		if err != nil {
			t.Fatalf("create %d with a shared externalId: %v", i, err)
		}
		ids = append(ids, r.ID)
	}
	if got := find("nick"); !slices.Equal(got, ids) {
		t.Fatalf("externalId eq nick = %v, want %v (creation order)", got, ids)
	}
	// PUT moves one away, PATCH moves another; delete drops the third.
	if _, err := s.ReplaceUser(ctx, tenant, ids[0], user("nick0@x.io", "externalId", "other"), nil, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PatchUser(ctx, tenant, ids[1], patch(t, `{"Operations":[{"op":"Replace","path":"externalId","value":"other"}]}`), 0); err != nil {
		t.Fatal(err)
	}
	if got := find("nick"); !slices.Equal(got, ids[2:]) {
		t.Fatalf("after PUT and PATCH: %v", got)
	}
	if got := find("other"); !slices.Equal(got, ids[:2]) {
		t.Fatalf("externalId eq other = %v", got)
	}
	if err := s.DeleteUser(ctx, tenant, ids[2], 0); err != nil {
		t.Fatal(err)
	}
	if got := find("nick"); len(got) != 0 {
		t.Fatalf("after delete: %v", got)
	}
	// A PATCH removing externalId takes the user out of the index.
	if _, err := s.PatchUser(ctx, tenant, ids[0], patch(t, `{"Operations":[{"op":"remove","path":"externalId"}]}`), 0); err != nil {
		t.Fatal(err)
	}
	if got := find("other"); !slices.Equal(got, ids[1:2]) {
		t.Fatalf("after removing externalId: %v", got)
	}

	// Groups too.
	var gids []string
	for _, name := range []string{"G1", "G2"} {
		g, err := s.CreateGroup(ctx, tenant, scim.Attrs{"displayName": name, "externalId": "team"}, nil)
		if err != nil {
			t.Fatalf("group with a shared externalId: %v", err)
		}
		gids = append(gids, g.ID)
	}
	findGroups := func(v string) []string {
		t.Helper()
		page, err := s.SearchGroups(ctx, tenant, Query{Filter: mustFilter(t, `externalId eq "`+v+`"`), StartIndex: 1, Count: 10})
		if err != nil {
			t.Fatal(err)
		}
		return recIDs(page.Groups)
	}
	if got := findGroups("team"); !slices.Equal(got, gids) {
		t.Fatalf("groups externalId eq team = %v, want %v", got, gids)
	}
	if _, err := s.ReplaceGroup(ctx, tenant, gids[0], scim.Attrs{"displayName": "G1", "externalId": "solo"}, nil, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteGroup(ctx, tenant, gids[1], 0); err != nil {
		t.Fatal(err)
	}
	if got := findGroups("team"); len(got) != 0 {
		t.Fatalf("after PUT and delete: %v", got)
	}
	if got := findGroups("solo"); !slices.Equal(got, gids[:1]) {
		t.Fatalf("externalId eq solo = %v", got)
	}
}

// A tenant may make externalId unique (tenants.Tenant.Unique): a second
// live user or group with the value is 409 uniqueness, a case variant is
// not the same value, and a deleted holder frees it.
func TestExternalIDUniqueWhereAsked(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	s, tenant := b.svc, b.tenant
	s.Unique = uniqueExternalID{tenant: true}
	a, err := s.CreateUser(ctx, tenant, user("a@x.io", "externalId", "00u1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var ue *UniquenessError
	if _, err := s.CreateUser(ctx, tenant, user("b@x.io", "externalId", "00u1"), nil); !errors.As(err, &ue) || ue.Attribute != "externalId" || ue.ExistingID != a.ID {
		t.Fatalf("second 00u1: %v", err)
	}
	other, err := s.CreateUser(ctx, tenant, user("c@x.io", "externalId", "00U1"), nil)
	if err != nil {
		t.Fatalf("externalId differing in case: %v", err)
	}
	if _, err := s.PatchUser(ctx, tenant, other.ID, patch(t, `{"Operations":[{"op":"replace","path":"externalId","value":"00u1"}]}`), 0); !errors.Is(err, ErrUniqueness) {
		t.Fatalf("PATCH onto a taken externalId: %v", err)
	}
	// Writing a user's own value again is no conflict.
	if _, err := s.ReplaceUser(ctx, tenant, a.ID, user("a@x.io", "externalId", "00u1", "displayName", "A"), nil, 0); err != nil {
		t.Fatalf("PUT keeping its own externalId: %v", err)
	}
	if err := s.DeleteUser(ctx, tenant, a.ID, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, tenant, user("b@x.io", "externalId", "00u1"), nil); err != nil {
		t.Fatalf("00u1 after its holder was deleted: %v", err)
	}
	g, err := s.CreateGroup(ctx, tenant, scim.Attrs{"displayName": "G1", "externalId": "team"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateGroup(ctx, tenant, scim.Attrs{"displayName": "G2", "externalId": "team"}, nil); !errors.As(err, &ue) || ue.ExistingID != g.ID {
		t.Fatalf("second group team: %v", err)
	}
	// Another tenant of the same service keeps the default.
	s.Unique = uniqueExternalID{}
	if _, err := s.CreateGroup(ctx, tenant, scim.Attrs{"displayName": "G2", "externalId": "team"}, nil); err != nil {
		t.Fatalf("without the option: %v", err)
	}
}

// Ledgers of earlier releases hold a hash externalId → id (idx:ext). The
// first lookup or write of a tenant and kind moves it into the sorted set
// and deletes it; entries it moved are found, kept up to date by later
// writes, and checked by the unique option; an entry naming a record whose
// externalId has changed since is ignored.
func TestExternalIDIndexMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, first := range []string{"lookup", "write"} {
		t.Run(first, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			s, tenant, rdb := b.svc, b.tenant, b.ledger.rdb
			u, g := userKeys(tenant), groupKeys(tenant)
			var ids []string
			for i := range 3 {
				r, err := s.CreateUser(ctx, tenant, user(fmt.Sprintf("old%d@x.io", i), "externalId", fmt.Sprintf("e%d", i)), nil)
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, r.ID)
			}
			grp, err := s.CreateGroup(ctx, tenant, scim.Attrs{"displayName": "Old", "externalId": "g-old"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			// Rewrite the index as the earlier release kept it, with one
			// stale entry (e9 names ids[2], whose externalId is e2).
			for _, cmd := range [][]any{
				{"DEL", u.idxExternalIDs(), g.idxExternalIDs()},
				{"HSET", u.idxExternalIDHash(), "e0", ids[0], "e1", ids[1], "e2", ids[2], "e9", ids[2]},
				{"HSET", g.idxExternalIDHash(), "g-old", grp.ID},
			} {
				if err := rdb.Do(ctx, cmd...).Err(); err != nil {
					t.Fatal(err)
				}
			}
			s.Unique = uniqueExternalID{tenant: true}
			if first == "write" {
				// The unique check sees the moved entries.
				var ue *UniquenessError
				if _, err := s.CreateUser(ctx, tenant, user("new@x.io", "externalId", "e1"), nil); !errors.As(err, &ue) || ue.ExistingID != ids[1] {
					t.Fatalf("create onto a moved e1: %v", err)
				}
				if _, err := s.CreateGroup(ctx, tenant, scim.Attrs{"displayName": "New", "externalId": "g-old"}, nil); !errors.As(err, &ue) || ue.ExistingID != grp.ID {
					t.Fatalf("group onto a moved g-old: %v", err)
				}
				// The stale entry does not hold e9.
				if _, err := s.CreateUser(ctx, tenant, user("nine@x.io", "externalId", "e9"), nil); err != nil {
					t.Fatalf("e9, held only by a stale entry: %v", err)
				}
			}
			for _, k := range []keys{u, g} {
				if n, err := rdb.Exists(ctx, k.idxExternalIDHash()).Result(); err != nil || (first == "write" && n != 0) {
					t.Fatalf("old index of %s after a write: %d %v", k.kind, n, err)
				}
			}
			for i, id := range ids {
				recs, err := b.ledger.FindUsers(ctx, tenant, "externalId", fmt.Sprintf("e%d", i))
				if err != nil || !slices.Equal(recIDs(recs), []string{id}) {
					t.Fatalf("e%d after the move: %v %v", i, recIDs(recs), err)
				}
			}
			if recs, err := b.ledger.FindUsers(ctx, tenant, "externalId", "e9"); err != nil || (first == "lookup" && len(recs) != 0) {
				t.Fatalf("e9: %v %v", recIDs(recs), err)
			}
			page, err := s.SearchGroups(ctx, tenant, Query{Filter: mustFilter(t, `externalId eq "g-old"`), StartIndex: 1, Count: 10})
			if err != nil || !slices.Equal(recIDs(page.Groups), []string{grp.ID}) {
				t.Fatalf("group g-old after the move: %+v %v", page, err)
			}
			for _, k := range []keys{u, g} {
				if err := rdb.HLen(ctx, k.idxExternalIDHash()).Err(); err != nil && !errors.Is(err, redis.Nil) {
					t.Fatal(err)
				}
				if n, _ := rdb.Exists(ctx, k.idxExternalIDHash()).Result(); n != 0 {
					t.Fatalf("old index of %s still there", k.kind)
				}
			}
			// A moved entry follows later writes.
			if _, err := s.ReplaceUser(ctx, tenant, ids[0], user("old0@x.io", "externalId", "e0-new"), nil, 0); err != nil {
				t.Fatal(err)
			}
			if recs, _ := b.ledger.FindUsers(ctx, tenant, "externalId", "e0"); len(recs) != 0 {
				t.Fatalf("e0 after a PUT moved it: %v", recIDs(recs))
			}
			if n, _ := rdb.ZCard(ctx, u.idxExternalIDs()).Result(); first == "lookup" && n != 4 {
				t.Fatalf("index members %d, want 4 (e0-new, e1, e2 and the stale e9)", n)
			}
		})
	}
}

// Matching and import with duplicates, against a real store (SQLite
// through sqlstore): a filter that matches two store entries adopts both
// and returns both, in adoption order; with a unique externalId the first
// is adopted and the second refused (logged), and the import skips it.
func TestAdoptionWithSharedExternalID(t *testing.T) {
	t.Parallel()
	for _, unique := range []bool{false, true} {
		t.Run(fmt.Sprintf("unique=%v", unique), func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			ctx := context.Background()
			if unique {
				b.svc.Unique = uniqueExternalID{b.tenant: true}
			}
			for _, name := range []string{"ann", "bea", "cat"} {
				if _, err := b.store.db.Exec(`INSERT INTO users (username, external_id) VALUES (?, ?)`, name+"@x.io", "shared"); err != nil {
					t.Fatal(err)
				}
			}
			recs, total, err := b.svc.ListUsers(ctx, b.tenant, mustFilter(t, `externalId eq "shared"`), 1, 10)
			if err != nil {
				t.Fatal(err)
			}
			want := 3
			if unique {
				want = 1
			}
			if total != want || len(recs) != want {
				t.Fatalf("externalId eq shared: %d records (total %d), want %d", len(recs), total, want)
			}
			for _, r := range recs {
				if r.Attrs["externalId"] != "shared" || r.Anchor == "" || r.State() != StateApplied {
					t.Fatalf("adopted %+v", r)
				}
			}
			// The next lookup answers from the ledger, the same records.
			again, _, err := b.svc.ListUsers(ctx, b.tenant, mustFilter(t, `externalId eq "shared"`), 1, 10)
			if err != nil || !slices.Equal(recIDs(again), recIDs(recs)) {
				t.Fatalf("second lookup %v, want %v (%v)", recIDs(again), recIDs(recs), err)
			}
			// Import: nothing new when all were adopted; with the unique
			// option the refused entries stay store-only.
			n, err := b.svc.ImportUsers(ctx, b.tenant, nil)
			if err != nil || n != 0 {
				t.Fatalf("import adopted %d (%v), want 0", n, err)
			}
			if c, _ := b.ledger.CountUsers(ctx, b.tenant); c != want {
				t.Fatalf("ledger holds %d users, want %d", c, want)
			}
		})
	}
}

// A large old index is moved a batch per script call: until it is empty,
// lookups, the unique check and writes read and update both, and the move
// finishes after a few touches.
func TestExternalIDIndexMigrationInBatches(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	s, tenant, rdb := b.svc, b.tenant, b.ledger.rdb
	u := userKeys(tenant)
	var ids []string
	for i := range 3 {
		r, err := s.CreateUser(ctx, tenant, user(fmt.Sprintf("big%d@x.io", i), "externalId", fmt.Sprintf("e%d", i)), nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	const junk = 4500 // entries naming records that are gone
	args := []any{"HSET", u.idxExternalIDHash(), "e0", ids[0], "e1", ids[1], "e2", ids[2]}
	for i := range junk {
		args = append(args, fmt.Sprintf("gone-%d", i), fmt.Sprintf("gone-id-%d", i))
	}
	if err := rdb.Del(ctx, u.idxExternalIDs()).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Do(ctx, args...).Err(); err != nil {
		t.Fatal(err)
	}
	s.Unique = uniqueExternalID{tenant: true}
	left := func() int64 {
		n, err := rdb.HLen(ctx, u.idxExternalIDHash()).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	// One lookup moves a batch, not everything, and still finds e1.
	if recs, err := b.ledger.FindUsers(ctx, tenant, "externalId", "e1"); err != nil || !slices.Equal(recIDs(recs), ids[1:2]) {
		t.Fatalf("e1 during the move: %v %v", recIDs(recs), err)
	}
	if n := left(); n == 0 || n > junk+3-1000 {
		t.Fatalf("after one touch %d entries left of %d", n, junk+3)
	}
	// Mid-move: the unique check and a write see entries still in the hash.
	var ue *UniquenessError
	for i, id := range ids[1:] {
		if _, err := s.CreateUser(ctx, tenant, user(fmt.Sprintf("dup%d@x.io", i), "externalId", fmt.Sprintf("e%d", i+1)), nil); !errors.As(err, &ue) || ue.ExistingID != id {
			t.Fatalf("e%d mid-move: %v", i+1, err)
		}
	}
	if _, err := s.ReplaceUser(ctx, tenant, ids[0], user("big0@x.io", "externalId", "e0-new"), nil, 0); err != nil {
		t.Fatal(err)
	}
	for touches := 0; left() > 0; touches++ {
		if touches > 10 {
			t.Fatalf("%d entries left after %d touches", left(), touches)
		}
		if _, err := b.ledger.FindUsers(ctx, tenant, "externalId", "x"); err != nil {
			t.Fatal(err)
		}
	}
	for v, want := range map[string][]string{"e0": nil, "e0-new": ids[:1], "e1": ids[1:2], "e2": ids[2:3]} {
		if recs, err := b.ledger.FindUsers(ctx, tenant, "externalId", v); err != nil || !slices.Equal(recIDs(recs), want) {
			t.Fatalf("%s after the move: %v %v, want %v", v, recIDs(recs), err, want)
		}
	}
	if n, _ := rdb.ZCard(ctx, u.idxExternalIDs()).Result(); n != junk+3 {
		t.Fatalf("index members %d, want %d", n, junk+3)
	}
}
