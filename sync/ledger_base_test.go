package sync

import (
	"context"
	"errors"
	"testing"

	"github.com/scimbridge/scimbridge/scim"
)

func patchOf(t *testing.T, body string) *scim.Patch {
	t.Helper()
	p, err := scim.ParsePatch([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A PATCH starts from the state its process last read or wrote (ledger_base.go)
// only while nothing wrote the user since: two processes (two Services, each
// with its own Ledger) interleaving writes of one user never lose one, If-Match
// is judged on the stored version, and a hit costs no read.
func TestWriteBaseIsOnlyTried(t *testing.T) {
	t.Parallel()
	rdb := testRedis(t)
	tenant := testTenant(t, rdb)
	ctx := context.Background()
	a := &Service{Ledger: NewLedger(rdb, nil)}
	b := &Service{Ledger: NewLedger(rdb, nil)}
	r, err := a.CreateUser(ctx, tenant, user("base@x.io", "title", "t0"), nil)
	if err != nil {
		t.Fatal(err)
	}
	id := r.ID
	set := func(s *Service, attr, v string, ifVersion int64) (*Record, error) {
		return s.PatchUser(ctx, tenant, id, patchOf(t, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
			"Operations":[{"op":"replace","value":{"`+attr+`":"`+v+`"}}]}`), ifVersion)
	}
	// a reads and writes (its base is now version 2); b writes behind its back.
	if _, err := a.GetUser(ctx, tenant, id); err != nil {
		t.Fatal(err)
	}
	if r, err = set(a, "title", "t1", 0); err != nil || r.Version != 2 {
		t.Fatalf("a's patch: %+v %v", r, err)
	}
	if _, ok := a.Ledger.bases.get(tenant, id); !ok {
		t.Fatal("a's write is not remembered as its next base")
	}
	if r, err = set(b, "nickName", "nb", 0); err != nil || r.Version != 3 {
		t.Fatalf("b's patch: %+v %v", r, err)
	}
	// a's base (version 2) is stale: the script refuses it, a reads and
	// applies on version 3, keeping b's nickName.
	if r, err = set(a, "displayName", "da", 0); err != nil || r.Version != 4 {
		t.Fatalf("a's patch on a stale base: %+v %v", r, err)
	}
	got, err := b.GetUser(ctx, tenant, id)
	if err != nil {
		t.Fatal(err)
	}
	for attr, want := range map[string]string{"title": "t1", "nickName": "nb", "displayName": "da"} {
		if got.Attrs[attr] != want {
			t.Fatalf("%s = %v, want %q (a write was lost): %v", attr, got.Attrs[attr], want, got.Attrs)
		}
	}
	// The same version with another write behind it: the script compares the
	// writing request, not the version. a's remembered base is version 4;
	// put a record at version 4 written by another request under it.
	if err := rdb.HSet(ctx, userKeys(tenant).rec(id), "req", "someone-else").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Ledger.putUserOn(ctx, tenant, Uniqueness{}, id, modeUpdate, 4, got.Attrs, nil, "", "", got.Attrs,
		mustBase(t, a, tenant, id)); !errors.Is(err, errStaleBase) {
		t.Fatalf("a write on a base another request wrote over: %v, want errStaleBase", err)
	}
	if _, ok := a.Ledger.bases.get(tenant, id); ok {
		t.Fatal("a refused base is still remembered")
	}

	// If-Match: a base at another version is not taken (the stored version
	// decides), and a stale If-Match is still refused.
	if _, err := a.GetUser(ctx, tenant, id); err != nil {
		t.Fatal(err)
	}
	if _, err := set(b, "title", "t2", 0); err != nil { // version 5, behind a's back
		t.Fatal(err)
	}
	if _, err := set(a, "title", "t3", 4); !errors.Is(err, ErrVersionMismatch) {
		t.Fatalf("If-Match 4 at version 5: %v, want ErrVersionMismatch", err)
	}
	if r, err = set(a, "title", "t3", 5); err != nil || r.Version != 6 {
		t.Fatalf("If-Match 5 at version 5: %+v %v", r, err)
	}

	// The next patch starts from the remembered write (no read).
	if _, base, err := a.Ledger.userBase(ctx, tenant, id, 0); err != nil || base == "" {
		t.Fatalf("after a's write, userBase = %q, %v; want the remembered base", base, err)
	}
	if r, err = set(a, "title", "t4", 0); err != nil || r.Version != 7 {
		t.Fatalf("patch on the remembered base: %+v %v", r, err)
	}

	// A deleted user: the base does not resurrect it.
	if err := b.DeleteUser(ctx, tenant, id, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := set(a, "title", "t5", 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("patch after another process's delete: %v, want ErrNotFound", err)
	}
}

func mustBase(t *testing.T, s *Service, tenant, id string) string {
	t.Helper()
	e, ok := s.Ledger.bases.get(tenant, id)
	if !ok {
		t.Fatal("no remembered base")
	}
	return e.req
}
