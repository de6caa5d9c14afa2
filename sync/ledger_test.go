package sync

import (
	"context"
	"errors"
	"maps"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/scim"
)

func user(userName string, extra ...any) scim.Attrs {
	a := scim.Attrs{"userName": userName, "active": true,
		"emails": []any{map[string]any{"value": userName, "type": "work", "primary": true}}}
	for i := 0; i+1 < len(extra); i += 2 {
		a[extra[i].(string)] = extra[i+1]
	}
	return a
}

func TestLedgerCreateGetAndUniqueness(t *testing.T) {
	t.Parallel()
	rdb := testRedis(t)
	tenant := testTenant(t, rdb)
	l := NewLedger(rdb, testSealer(t))
	ctx := context.Background()

	r, err := l.CreateUser(ctx, tenant, Uniqueness{}, user("Jane@Example.com", "externalId", "00u1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Version != 1 || r.Applied != 0 || r.ID == "" || r.State() != StatePending {
		t.Fatalf("new record: %+v", r)
	}
	got, err := l.GetUser(ctx, tenant, r.ID)
	if err != nil || got.Attrs["userName"] != "Jane@Example.com" || got.Seq != r.Seq {
		t.Fatalf("get: %+v %v", got, err)
	}

	// userName is unique case-insensitively; externalId is not, unless
	// the tenant asks (TestExternalIDUniqueWhereAsked).
	_, err = l.CreateUser(ctx, tenant, Uniqueness{}, user("JANE@example.COM"), nil)
	var ue *UniquenessError
	if !errors.Is(err, ErrUniqueness) || !errors.As(err, &ue) || ue.Attribute != "userName" {
		t.Fatalf("duplicate userName: %v", err)
	}
	if _, err = l.CreateUser(ctx, tenant, Uniqueness{}, user("other@example.com", "externalId", "00u1"), nil); err != nil {
		t.Fatalf("shared externalId: %v", err)
	}
	// Another tenant is a separate namespace.
	other := testTenant(t, rdb)
	if _, err := l.CreateUser(ctx, other, Uniqueness{}, user("jane@example.com"), nil); err != nil {
		t.Fatalf("same userName in another tenant: %v", err)
	}
	if _, err := l.GetUser(ctx, other, r.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("other tenant reads the id: %v", err)
	}
}

func TestLedgerUpdateRenameAndIndexes(t *testing.T) {
	t.Parallel()
	rdb := testRedis(t)
	tenant := testTenant(t, rdb)
	l := NewLedger(rdb, testSealer(t))
	ctx := context.Background()

	r, _ := l.CreateUser(ctx, tenant, Uniqueness{}, user("a@x.io"), nil)
	if _, err := l.UpdateUser(ctx, tenant, Uniqueness{}, r.ID, 5, user("b@x.io"), nil); !errors.Is(err, ErrVersionMismatch) {
		t.Fatalf("wrong expected version: %v", err)
	}
	r2, err := l.UpdateUser(ctx, tenant, Uniqueness{}, r.ID, 1, user("b@x.io"), nil)
	if err != nil || r2.Version != 2 {
		t.Fatalf("update: %+v %v", r2, err)
	}
	if ids := findIDs(t, l, tenant, "userName", "A@X.IO"); len(ids) != 0 {
		t.Fatalf("old userName still indexed: %v", ids)
	}
	if ids := findIDs(t, l, tenant, "userName", "B@x.io"); len(ids) != 1 || ids[0] != r.ID {
		t.Fatalf("new userName lookup: %v", ids)
	}
	if ids := findIDs(t, l, tenant, "emails.value", "b@X.io"); len(ids) != 1 || ids[0] != r.ID {
		t.Fatalf("email lookup: %v", ids)
	}
	// The old name is free again.
	if _, err := l.CreateUser(ctx, tenant, Uniqueness{}, user("a@x.io"), nil); err != nil {
		t.Fatalf("reuse of a renamed userName: %v", err)
	}
	// Delete: gone from reads, lookups and counts; name free.
	if _, err := l.DeleteUser(ctx, tenant, r.ID, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := l.GetUser(ctx, tenant, r.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted user readable: %v", err)
	}
	if _, err := l.UpdateUser(ctx, tenant, Uniqueness{}, r.ID, 0, user("c@x.io"), nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update of deleted user: %v", err)
	}
	if n, _ := l.CountUsers(ctx, tenant); n != 1 {
		t.Fatalf("count after delete = %d", n)
	}
	if ids := findIDs(t, l, tenant, "emails.value", "b@x.io"); len(ids) != 0 {
		t.Fatalf("deleted user's email still indexed: %v", ids)
	}
}

func TestLedgerAppliedFailedDirty(t *testing.T) {
	t.Parallel()
	rdb := testRedis(t)
	tenant := testTenant(t, rdb)
	l := NewLedger(rdb, testSealer(t))
	ctx := context.Background()

	r, _ := l.CreateUser(ctx, tenant, Uniqueness{}, user("d@x.io"), nil)
	r2, _ := l.UpdateUser(ctx, tenant, Uniqueness{}, r.ID, 0, user("d@x.io", "displayName", "D"), nil)
	dirty, _ := l.Dirty(ctx, tenant, time.Now().Add(time.Minute), 10)
	if len(dirty) != 1 || dirty[0] != r.ID {
		t.Fatalf("dirty = %v", dirty)
	}
	// Applying version 1 leaves the user dirty: version 2 is wanted.
	if err := l.MarkApplied(ctx, tenant, r.ID, 1, "row-1", 0); err != nil {
		t.Fatal(err)
	}
	if dirty, _ := l.Dirty(ctx, tenant, time.Now().Add(time.Minute), 10); len(dirty) != 1 {
		t.Fatalf("dirty after stale apply = %v", dirty)
	}
	// A permanent failure of the latest version: recorded, no longer dirty.
	if err := l.MarkFailed(ctx, tenant, r.ID, r2.Version, "CHECK constraint failed"); err != nil {
		t.Fatal(err)
	}
	got, _ := l.GetUser(ctx, tenant, r.ID)
	if got.State() != StateFailed || got.Failure != "CHECK constraint failed" || got.Anchor != "row-1" {
		t.Fatalf("after failure: %+v", got)
	}
	if dirty, _ := l.Dirty(ctx, tenant, time.Now().Add(time.Minute), 10); len(dirty) != 0 {
		t.Fatalf("failed resource still dirty: %v", dirty)
	}
	// The next change clears the way; applying it clears the failure.
	r3, _ := l.UpdateUser(ctx, tenant, Uniqueness{}, r.ID, 0, user("d@x.io", "displayName", "E"), nil)
	if got, _ := l.GetUser(ctx, tenant, r.ID); got.State() != StatePending {
		t.Fatalf("state after a new change = %s", got.State())
	}
	if err := l.MarkApplied(ctx, tenant, r.ID, r3.Version, "row-1", 0); err != nil {
		t.Fatal(err)
	}
	got, _ = l.GetUser(ctx, tenant, r.ID)
	if got.State() != StateApplied || got.Failure != "" {
		t.Fatalf("after apply: %+v", got)
	}
	if n, _, _ := l.OldestDirty(ctx, tenant); n != 0 {
		t.Fatalf("dirty count = %d", n)
	}
	// The anchor now finds the record (adoption is idempotent per anchor).
	ad, err := l.AdoptUser(ctx, tenant, Uniqueness{}, "row-1", user("someone-else@x.io"))
	if err != nil || ad.ID != r.ID {
		t.Fatalf("adopting a known anchor: %+v %v", ad, err)
	}
}

func TestLedgerPasswordIsSealed(t *testing.T) {
	t.Parallel()
	rdb := testRedis(t)
	tenant := testTenant(t, rdb)
	l := NewLedger(rdb, testSealer(t))
	ctx := context.Background()
	secret := "Sup3r-Secret-Pa55word!"

	r, err := l.CreateUser(ctx, tenant, Uniqueness{}, user("p@x.io"), &secret)
	if err != nil {
		t.Fatal(err)
	}
	iter := rdb.Scan(ctx, 0, "sb:{"+tenant+"}:*", 100).Iterator()
	for iter.Next(ctx) {
		if strings.Contains(redisValues(ctx, t, rdb, iter.Val()), secret) {
			t.Fatalf("password in clear text in %s", iter.Val())
		}
	}
	got, _ := l.GetUser(ctx, tenant, r.ID)
	pw, err := l.Password(got)
	if err != nil || pw == nil || *pw != secret {
		t.Fatalf("password round trip: %v %v", pw, err)
	}
	// A sealed value cannot be opened for another resource.
	other := *got
	other.ID = "someone-else"
	if _, err := l.Password(&other); err == nil {
		t.Fatal("sealed password opened under another id")
	}
	// Once applied, the sealed password is dropped.
	if err := l.MarkApplied(ctx, tenant, r.ID, r.Version, "k", got.passwordVersion); err != nil {
		t.Fatal(err)
	}
	got, _ = l.GetUser(ctx, tenant, r.ID)
	if got.HasPendingPassword() {
		t.Fatal("password kept after it was applied")
	}
	// Without a sealer a password is dropped, never stored.
	plain := NewLedger(rdb, nil)
	q, err := plain.CreateUser(ctx, tenant, Uniqueness{}, user("q@x.io"), &secret)
	if err != nil || q.HasPendingPassword() {
		t.Fatalf("no sealer: %+v %v", q, err)
	}
}

func TestLedgerLease(t *testing.T) {
	t.Parallel()
	rdb := testRedis(t)
	tenant := testTenant(t, rdb)
	l := NewLedger(rdb, nil)
	ctx := context.Background()
	release, ok, err := l.Lease(ctx, tenant, "u1", time.Minute)
	if err != nil || !ok {
		t.Fatalf("first lease: %v %v", ok, err)
	}
	if _, ok, _ := l.Lease(ctx, tenant, "u1", time.Minute); ok {
		t.Fatal("second lease granted while the first is held")
	}
	release()
	release2, ok, _ := l.Lease(ctx, tenant, "u1", time.Minute)
	if !ok {
		t.Fatal("lease not granted after release")
	}
	release() // a stale release must not drop the new holder's lease
	if _, ok, _ := l.Lease(ctx, tenant, "u1", time.Minute); ok {
		t.Fatal("stale release freed someone else's lease")
	}
	release2()
}

func TestUserFilterWithoutAUserIndexScans(t *testing.T) {
	t.Parallel()
	rdb := testRedis(t)
	tenant := testTenant(t, rdb)
	s := &Service{Ledger: NewLedger(rdb, nil)}
	ctx := context.Background()
	if _, err := s.CreateUser(ctx, tenant, user("bob@x.io", "displayName", "Bob B"), nil); err != nil {
		t.Fatal(err)
	}
	f, err := scim.ParseFilter(`displayName eq "Bob B"`)
	if err != nil {
		t.Fatal(err)
	}
	recs, total, err := s.ListUsers(ctx, tenant, f, 1, 10)
	if err != nil || total != 1 || recs[0].Attrs["userName"] != "bob@x.io" {
		t.Fatalf("displayName filter on users: %v %d %v", recs, total, err)
	}
}

// findIDs is the ids FindUsers returns.
func findIDs(t *testing.T, l *Ledger, tenant, attr, value string) []string {
	t.Helper()
	recs, err := l.FindUsers(context.Background(), tenant, attr, value)
	if err != nil {
		t.Fatalf("find %s eq %q: %v", attr, value, err)
	}
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	return ids
}

// FindUsers answers exact matches only: a value that is a prefix of
// another user's email, or differs in case for externalId, finds nothing.
func TestLedgerFindUsersExact(t *testing.T) {
	t.Parallel()
	rdb := testRedis(t)
	tenant := testTenant(t, rdb)
	l := NewLedger(rdb, testSealer(t))
	ctx := context.Background()

	a, err := l.CreateUser(ctx, tenant, Uniqueness{}, user("b@x.iox", "externalId", "00uA"), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.CreateUser(ctx, tenant, Uniqueness{}, user("c@x.io", "emails", []any{
		map[string]any{"value": "shared@x.io", "type": "work"}}), nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := l.CreateUser(ctx, tenant, Uniqueness{}, user("d@x.io", "emails", []any{
		map[string]any{"value": "SHARED@x.io", "type": "home"}}), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		attr, value string
		want        []string
	}{
		{"emails.value", "b@x.io", nil},
		{"emails.value", "B@X.IOX", []string{a.ID}},
		{"emails.value", "shared@X.io", []string{b.ID, c.ID}},
		{"userName", "B@x.iox", []string{a.ID}},
		{"userName", "b@x.io", nil},
		{"externalId", "00uA", []string{a.ID}},
		{"externalId", "00ua", nil},
		{"id", c.ID, []string{c.ID}},
		{"id", "nope", nil},
	} {
		got := findIDs(t, l, tenant, tc.attr, tc.value)
		sort.Strings(got)
		want := append([]string(nil), tc.want...)
		sort.Strings(want)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s eq %q = %v, want %v", tc.attr, tc.value, got, want)
		}
	}
	if _, err := l.FindUsers(ctx, tenant, "title", "x"); err == nil {
		t.Error("a lookup on an unindexed attribute succeeded")
	}
}

// TestWriteReturnsWhatAGetReads: a write's record is built from the put
// script's short reply and the attributes it wrote (the stored document is
// not sent back or decoded again); it must be the record a later read
// decodes, for create, replace (with a password), adopt and delete, and for
// every JSON type ParseUser produces.
func TestWriteReturnsWhatAGetReads(t *testing.T) {
	t.Parallel()
	rdb := testRedis(t)
	tenant := testTenant(t, rdb)
	l := NewLedger(rdb, testSealer(t))
	ctx := context.Background()
	same := func(what string, wrote *Record) {
		t.Helper()
		got, err := l.getUserAny(ctx, tenant, wrote.ID)
		if err != nil {
			t.Fatalf("%s: read: %v", what, err)
		}
		w := *wrote
		w.drainGen = ""
		if !reflect.DeepEqual(&w, got) {
			t.Fatalf("%s returned\n%#v\na read decodes\n%#v", what, &w, got)
		}
	}
	body := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"josé@example.com",
		"name":{"givenName":"José","familyName":"Ünïcode <&>","middleName":null},"active":"True",
		"emails":[{"value":"josé@example.com","type":"work","primary":true}],"x509Certificates":[],
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"7","manager":{"value":"m1"}},
		"nickName":"line\nbreak \u2028","title":"1.50"}`
	a, _, err := scim.ParseUser([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	created, err := l.CreateUser(ctx, tenant, Uniqueness{}, a, nil)
	if err != nil {
		t.Fatal(err)
	}
	if created.drainGen == "" {
		t.Fatal("create did not return the drain generation")
	}
	same("create", created)
	a2 := maps.Clone(created.Attrs)
	a2["displayName"] = "Changed"
	pw := "s3cret"
	replaced, err := l.UpdateUser(ctx, tenant, Uniqueness{}, created.ID, created.Version, a2, &pw)
	if err != nil {
		t.Fatal(err)
	}
	if replaced.Version != 2 || replaced.sealedPassword == "" || replaced.passwordVersion != 2 {
		t.Fatalf("replace: %+v", replaced)
	}
	same("replace", replaced)
	adopted, err := l.AdoptUser(ctx, tenant, Uniqueness{}, "row-7", user("adopted@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	if adopted.Anchor != "row-7" || adopted.Applied != adopted.Version {
		t.Fatalf("adopt: %+v", adopted)
	}
	same("adopt", adopted)
	deleted, err := l.DeleteUser(ctx, tenant, created.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !deleted.Deleted || deleted.Attrs["userName"] != "josé@example.com" {
		t.Fatalf("delete: %+v", deleted)
	}
	same("delete", deleted)
}
