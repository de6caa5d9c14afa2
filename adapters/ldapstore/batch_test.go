package ldapstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/adapters/conformance"
)

// oneByBatch routes ApplyUser through ApplyUsers (a batch of one), so the
// whole conformance suite runs against the batch path.
type oneByBatch struct{ *Store }

func (b oneByBatch) ApplyUser(ctx context.Context, u adapters.User) (string, error) {
	anchors, errs := b.Store.ApplyUsers(ctx, []adapters.User{u})
	return anchors[0], errs[0]
}

func TestConformanceThroughApplyUsers(t *testing.T) {
	needServer(t)
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			if v.strategy == adapters.LDAPDeactivatePPolicy && !server.HasPPolicy {
				t.Skip("slapd has no ppolicy module")
			}
			h := v.harness()
			inner := h.New
			h.New = func(tb testing.TB, opts conformance.Options) (adapters.Store, conformance.Backdoor) {
				st, bd := inner(tb, opts)
				return oneByBatch{st.(*Store)}, bd
			}
			conformance.RunUserTests(t, h)
		})
	}
}

// TestApplyUsersBatchMatchesOneByOne: a batch creates, adopts, rejects and
// updates exactly as applying its users one by one in order would.
func TestApplyUsersBatchMatchesOneByOne(t *testing.T) {
	for _, v := range []variant{variants[0], variants[2]} {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			s := needServer(t)
			ou := s.TenantOU(t)
			st := openTest(t, v.config(s, ou, conformance.Options{}))
			bd := &backdoor{v: v, s: s, ou: ou, conn: s.Admin(t)}
			ctx := context.Background()

			// The customer's entries: one to adopt (another case, another
			// RDN), two that make a userName ambiguous.
			carol := bd.Insert(t, map[string]string{conformance.FieldUserName: "Carol@Example.com"})
			bd.Insert(t, map[string]string{conformance.FieldUserName: "dup@example.com"})
			bd.Insert(t, map[string]string{conformance.FieldUserName: "DUP@example.com"})
			// bob, applied before the batch; the batch renames him to
			// robert and then creates a new bob.
			bobAnchor, err := st.ApplyUser(ctx, conformance.FullUser("bob@example.com", "d-bob"))
			if err != nil {
				t.Fatal(err)
			}
			robert := conformance.FullUser("robert@example.com", "d-robert")
			robert.ID, robert.Anchor = "scim-bob", bobAnchor

			users := []adapters.User{
				conformance.FullUser("alice@example.com", "d-alice"),                    // 0 new
				conformance.FullUser("carol@example.com", "d-carol"),                    // 1 adopts carol
				conformance.FullUser("dup@example.com", "d-dup"),                        // 2 ambiguous
				conformance.FullUser("rej@example.com", conformance.RejectedDepartment), // 3 rejected by the directory
				conformance.FullUser("ALICE@example.com", "d-alice2"),                   // 4 same userName as 0: adopts alice's entry
				conformance.FullUser("bob@example.com", "d-bob2"),                       // 5 adopts bob's entry (still named bob)
				robert, // 6 renames that entry to robert
				conformance.FullUser("Bob@Example.com", "d-bob3"), // 7 bob is gone by now: a new entry
				conformance.FullUser("zed@example.com", "d-zed"),  // 8 new
			}
			users[4].ID = "scim-alice2"
			anchors, errs := st.ApplyUsers(ctx, users)
			for _, i := range []int{0, 1, 4, 5, 6, 7, 8} {
				if errs[i] != nil || anchors[i] == "" {
					t.Fatalf("user %d: anchor %q, err %v", i, anchors[i], errs[i])
				}
			}
			if !errors.Is(errs[2], adapters.ErrAlreadyExists) || anchors[2] != "" {
				t.Fatalf("ambiguous userName: anchor %q err %v", anchors[2], errs[2])
			}
			if !errors.Is(errs[3], adapters.ErrRejected) || anchors[3] != "" {
				t.Fatalf("rejected user: anchor %q err %v", anchors[3], errs[3])
			}
			if anchors[1] != carol {
				t.Fatalf("carol: anchor %q, want the customer's entry %q", anchors[1], carol)
			}
			if anchors[4] != anchors[0] {
				t.Fatalf("repeated userName: %q and %q", anchors[0], anchors[4])
			}
			// In order, as one by one: 5 adopted bob's entry, 6 renamed it
			// to robert, so 7 found no bob and made a new entry.
			if anchors[5] != bobAnchor || anchors[6] != bobAnchor || anchors[7] == bobAnchor {
				t.Fatalf("bob: anchors %q (5) %q (6) %q (7), want %q, %q, another", anchors[5], anchors[6], anchors[7], bobAnchor, bobAnchor)
			}
			if got, ok := bd.Get(t, bobAnchor); !ok || got[conformance.FieldUserName] != "robert@example.com" || got[conformance.FieldDepartment] != "d-robert" {
				t.Fatalf("bob's entry: %v", got)
			}
			if got, ok := bd.Get(t, anchors[7]); !ok || got[conformance.FieldUserName] != "Bob@Example.com" || got[conformance.FieldDepartment] != "d-bob3" {
				t.Fatalf("the new bob: %v", got)
			}
			if got, _ := bd.Get(t, anchors[0]); got[conformance.FieldUserName] != "ALICE@example.com" || got[conformance.FieldDepartment] != "d-alice2" {
				t.Fatalf("alice's entry: %v", got)
			}
			if got, _ := bd.Get(t, carol); got[conformance.FieldDepartment] != "d-carol" {
				t.Fatalf("carol's entry: %v", got)
			}
			// 3 customer entries + robert (was bob) + alice + the new bob + zed.
			if n := bd.Count(t); n != 7 {
				t.Fatalf("%d entries, want 7", n)
			}

			// The same batch again, with the anchors the ledger would now
			// hold: same anchors, nothing new.
			for i := range users {
				users[i].Anchor = anchors[i]
			}
			again, errs2 := st.ApplyUsers(ctx, users)
			for _, i := range []int{0, 1, 4, 6, 7, 8} {
				if errs2[i] != nil || again[i] != anchors[i] {
					t.Fatalf("again, user %d: anchor %q (was %q), err %v", i, again[i], anchors[i], errs2[i])
				}
			}
			if n := bd.Count(t); n != 7 {
				t.Fatalf("after the second batch: %d entries, want 7", n)
			}
		})
	}
}

// TestApplyUsersRunsMatchOneByOne compares a batch of creates with the
// same users applied one by one on another tenant: same entries.
func TestApplyUsersRunsMatchOneByOne(t *testing.T) {
	s := needServer(t)
	v := variants[0]
	ctx := context.Background()
	var users []adapters.User
	for _, n := range []string{"a1", "a2", "A1", "a3", "a2", "a4"} {
		u := conformance.FullUser(n+"@example.com", "d-"+n)
		u.ID = "scim-" + n + "-" + randomHex(2)
		users = append(users, u)
	}
	ouB, ouS := s.TenantOU(t), s.TenantOU(t)
	batch := openTest(t, v.config(s, ouB, conformance.Options{}))
	seq := openTest(t, v.config(s, ouS, conformance.Options{}))
	anchors, errs := batch.ApplyUsers(ctx, users)
	bdB := &backdoor{v: v, s: s, ou: ouB, conn: s.Admin(t)}
	bdS := &backdoor{v: v, s: s, ou: ouS, conn: s.Admin(t)}
	seqAnchors := make([]string, len(users))
	for i, u := range users {
		var err error
		if seqAnchors[i], err = seq.ApplyUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if errs[i] != nil {
			t.Fatalf("batch user %d: %v", i, errs[i])
		}
	}
	if bdB.Count(t) != bdS.Count(t) || bdB.Count(t) != 4 {
		t.Fatalf("batch made %d entries, one by one %d (want 4)", bdB.Count(t), bdS.Count(t))
	}
	for i := range users {
		for j := range users {
			if (anchors[i] == anchors[j]) != (seqAnchors[i] == seqAnchors[j]) {
				t.Fatalf("users %d and %d: same entry in the batch %v, one by one %v", i, j, anchors[i] == anchors[j], seqAnchors[i] == seqAnchors[j])
			}
		}
		b, _ := bdB.Get(t, anchors[i])
		q, _ := bdS.Get(t, seqAnchors[i])
		if b[conformance.FieldUserName] != q[conformance.FieldUserName] || b[conformance.FieldDepartment] != q[conformance.FieldDepartment] {
			t.Fatalf("user %d: batch %v, one by one %v", i, b, q)
		}
	}
}

func TestFoldKeyIsEqualFold(t *testing.T) {
	words := []string{"k", "K", "\u212a", "s", "S", "\u017f", "σ", "ς", "Σ", "ǅ", "ǆ", "Ǆ", "ß", "ẞ", "i", "I", "İ", "ı", "a\u0301", "á", "x"}
	for _, a := range words {
		for _, b := range words {
			if (foldKey(a) == foldKey(b)) != strings.EqualFold(a, b) {
				t.Errorf("%q %q: foldKey equal %v, EqualFold %v", a, b, foldKey(a) == foldKey(b), strings.EqualFold(a, b))
			}
		}
	}
	// Every rune of the BMP against its fold orbit.
	for r := rune(0); r < 0x10000; r++ {
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if foldKey(string(r)) != foldKey(string(f)) {
				t.Fatalf("%U and %U fold together but have different keys", r, f)
			}
		}
	}
}
