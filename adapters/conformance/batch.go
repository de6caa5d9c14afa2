package conformance

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"sort"
	"testing"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/scim"
)

// RunBatchTests is the suite of adapters.BatchStore, which the harness's
// stores must implement: the whole user suite again with every ApplyUser
// routed through ApplyUsers (a batch of one), then ApplyUsers's own
// contract. A batch leaves the store as applying its users one by one in
// order would and returns the same results; a user the store refuses fails
// alone; repeated userNames in one batch reach one entry; a batch of
// anchored users (updates, deactivations, renames, an anchor whose entry
// is gone, a repeated anchor) equals one by one; users of
// different column sets (no department, a password) mix; the same batch
// again (with the anchors it returned) changes nothing; an empty batch is
// nothing; an unreachable store fails every user with ErrUnavailable. The
// batches are larger than a store's chunk of merged lookups (50) so that
// chunk boundaries are crossed.
func RunBatchTests(t *testing.T, h Harness) {
	t.Run("UserSuiteThroughApplyUsers", func(t *testing.T) {
		t.Parallel()
		RunUserTests(t, throughApplyUsers(h))
	})
	for _, tc := range batchCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, h)
		})
	}
}

var batchCases = []testCase{
	{"BatchMatchesOneByOne", func(t *testing.T, h Harness) { testBatchMatchesOneByOne(t, h, false) }},
	{"BatchWithRefusalsMatchesOneByOne", func(t *testing.T, h Harness) { testBatchMatchesOneByOne(t, h, true) }},
	{"BatchRefusedUserFailsAlone", testBatchRefusedAlone},
	{"BatchRepeatedUserNames", testBatchRepeatedUserNames},
	{"BatchColumnSets", testBatchColumnSets},
	{"BatchAnchoredMatchesOneByOne", testBatchAnchoredMatchesOneByOne},
	{"BatchTwiceIsNoop", testBatchTwice},
	{"BatchValueHandedOver", testBatchValueHandedOver},
	{"BatchEmpty", testBatchEmpty},
	{"BatchUnavailable", testBatchUnavailable},
}

// batchChunk exceeds the stores' chunk of merged userName lookups
// (sqlstore's runChunk, ldapstore's userNameChunk: 50).
const batchChunk = 65

// batchOfOne is a store whose ApplyUser is a batch of one.
type batchOfOne struct {
	adapters.Store
	batch adapters.BatchStore
}

func (b batchOfOne) ApplyUser(ctx context.Context, u adapters.User) (string, error) {
	anchors, errs := b.batch.ApplyUsers(ctx, []adapters.User{u})
	return anchors[0], errs[0]
}

func asBatch(tb testing.TB, s adapters.Store) adapters.BatchStore {
	tb.Helper()
	b, ok := s.(adapters.BatchStore)
	if !ok {
		tb.Fatalf("%T does not implement adapters.BatchStore", s)
	}
	return b
}

func throughApplyUsers(h Harness) Harness {
	inner, unreachable := h.New, h.Unreachable
	h.New = func(tb testing.TB, opts Options) (adapters.Store, Backdoor) {
		s, bd := inner(tb, opts)
		return batchOfOne{Store: s, batch: asBatch(tb, s)}, bd
	}
	h.Unreachable = func(tb testing.TB) adapters.Store {
		s := unreachable(tb)
		return batchOfOne{Store: s, batch: asBatch(tb, s)}
	}
	return h
}

func withPassword(u adapters.User, pw string) adapters.User {
	u.Password = &pw
	return u
}

// batchPasswords are the passwords the batches set.
var batchPasswords = []string{"pw-c", "pw-p", "pw-p2"}

// batchTenant is one tenant of the one-by-one comparison: the customer's
// entries, and bob, applied before the batch.
type batchTenant struct {
	s        adapters.Store
	bd       Backdoor
	customer []string // anchors of the entries made outside scimbridge
	bob      string
}

func newBatchTenant(t *testing.T, h Harness, refusals bool) *batchTenant {
	t.Helper()
	s, bd := h.New(t, Options{})
	bt := &batchTenant{s: s, bd: bd}
	// One entry to adopt (another case); with refusals, two that make a
	// userName ambiguous.
	bt.customer = append(bt.customer, bd.Insert(t, map[string]string{FieldUserName: "Carol@Example.com", FieldDepartment: "old"}))
	if refusals {
		allowCaseTwins(t, h, bd)
		bt.customer = append(bt.customer,
			bd.Insert(t, map[string]string{FieldUserName: "dup@example.com"}),
			bd.Insert(t, map[string]string{FieldUserName: "DUP@example.com"}))
	}
	bt.bob = mustApply(t, s, FullUser("bob@example.com", "d-bob"))
	return bt
}

// allowCaseTwins lets the fixture hold two userNames that differ only in
// case (Harness.AllowCaseTwins; nothing to do when it is nil).
func allowCaseTwins(t *testing.T, h Harness, bd Backdoor) {
	t.Helper()
	if h.AllowCaseTwins != nil {
		h.AllowCaseTwins(t, bd)
	}
}

// users is the mixed batch for this tenant (the rename carries its bob's
// anchor). The positions of the named users are the batch* constants.
func (bt *batchTenant) users(refusals bool) []adapters.User {
	robert := FullUser("robert@example.com", "d-robert")
	robert.ID, robert.Anchor = "scim-bob", bt.bob
	alice2 := FullUser("ALICE@example.com", "d-alice2")
	alice2.ID = "scim-alice2"
	users := []adapters.User{
		batchAlice:  FullUser("alice@example.com", "d-alice"),                       // new
		batchCarol:  withPassword(FullUser("carol@example.com", "d-carol"), "pw-c"), // adopts Carol, sets a password
		batchPat:    withPassword(FullUser("pat@example.com", "d-pat"), "pw-p"),     // new, with a password
		batchAlice2: alice2,                                                         // alice's userName in another case: adopts her entry
		batchBob:    FullUser("bob@example.com", "d-bob2"),                          // adopts bob's entry (still named bob)
		batchRobert: robert,                                                         // renames that entry to robert
		batchNewBob: FullUser("Bob@Example.com", "d-bob3"),                          // bob is gone by now: a new entry
		batchPat2:   withPassword(FullUser("PAT@example.com", "d-pat2"), "pw-p2"),   // adopts pat's entry, new password
		batchZed:    FullUser("zed@example.com", "d-zed"),                           // new
		batchNoDept: withoutDepartment(FullUser("nodept@example.com", "")),          // another column set
	}
	if refusals {
		users = append(users,
			FullUser("Dup@Example.com", "d-dup"),            // batchAmbiguous: matches two entries
			FullUser("rej@example.com", RejectedDepartment), // batchRejected: refused by the store
			FullUser("after-rej@example.com", "d-after"))    // applied although its neighbour was refused
	}
	// Enough new users to fill more than one chunk of merged lookups,
	// every fifth without a department.
	for i := range batchChunk {
		u := FullUser(fmt.Sprintf("u%03d@example.com", i), "d-many")
		if i%5 == 1 {
			u = withoutDepartment(u)
		}
		users = append(users, u)
	}
	return users
}

func withoutDepartment(u adapters.User) adapters.User {
	u.Attrs = u.Attrs.Clone()
	delete(u.Attrs, scim.SchemaEnterpriseUser)
	return u
}

const (
	batchAlice = iota
	batchCarol
	batchPat
	batchAlice2
	batchBob
	batchRobert
	batchNewBob
	batchPat2
	batchZed
	batchNoDept
	batchAmbiguous // with refusals
	batchRejected  // with refusals
)

// testBatchMatchesOneByOne: on two identical tenants, ApplyUsers and
// ApplyUser in order return the same results (errors of the same class,
// the same users sharing an entry) and leave the same entries; and the
// batch's own expectations hold (adoptions, the rename in order, the
// refusals).
func testBatchMatchesOneByOne(t *testing.T, h Harness, refusals bool) {
	ctx := ctxFor(t)
	seq, bat := newBatchTenant(t, h, refusals), newBatchTenant(t, h, refusals)

	seqUsers := seq.users(refusals)
	seqAnchors := make([]string, len(seqUsers))
	seqErrs := make([]error, len(seqUsers))
	for i, u := range seqUsers {
		seqAnchors[i], seqErrs[i] = seq.s.ApplyUser(ctx, u)
	}
	users := bat.users(refusals)
	anchors, errs := asBatch(t, bat.s).ApplyUsers(ctx, users)
	if len(anchors) != len(users) || len(errs) != len(users) {
		t.Fatalf("ApplyUsers of %d users returned %d anchors and %d errors", len(users), len(anchors), len(errs))
	}

	for i := range users {
		if !sameFailure(errs[i], seqErrs[i]) {
			t.Fatalf("user %d (%v): err %v, one by one %v", i, users[i].Attrs["userName"], errs[i], seqErrs[i])
		}
		if (anchors[i] == "") != (seqAnchors[i] == "") || (anchors[i] == "") != (errs[i] != nil) {
			t.Fatalf("user %d (%v): anchor %q (err %v), one by one %q", i, users[i].Attrs["userName"], anchors[i], errs[i], seqAnchors[i])
		}
	}
	if g, w := sharing(anchors), sharing(seqAnchors); !reflect.DeepEqual(g, w) {
		t.Fatalf("users sharing an entry: %v, one by one %v", g, w)
	}
	for i := range users {
		if anchors[i] != "" {
			sameEntry(t, fmt.Sprintf("user %d", i), bat.bd, anchors[i], seq.bd, seqAnchors[i])
		}
	}
	for k := range bat.customer {
		sameEntry(t, fmt.Sprintf("customer entry %d", k), bat.bd, bat.customer[k], seq.bd, seq.customer[k])
	}
	if g, w := bat.bd.Count(t), seq.bd.Count(t); g != w {
		t.Fatalf("%d entries, one by one %d", g, w)
	}

	// What one by one means here, spelled out.
	for i, err := range errs {
		switch {
		case refusals && i == batchAmbiguous:
			if !errors.Is(err, adapters.ErrAlreadyExists) || !adapters.IsPermanent(err) {
				t.Fatalf("ambiguous userName: err %v, want a permanent ErrAlreadyExists", err)
			}
		case refusals && i == batchRejected:
			if !errors.Is(err, adapters.ErrRejected) {
				t.Fatalf("refused user: err %v, want ErrRejected", err)
			}
		case err != nil:
			t.Fatalf("user %d (%v): %v", i, users[i].Attrs["userName"], err)
		}
	}
	if anchors[batchCarol] != bat.customer[0] {
		t.Fatalf("carol: anchor %q, want the customer's entry %q", anchors[batchCarol], bat.customer[0])
	}
	if anchors[batchAlice2] != anchors[batchAlice] || anchors[batchPat2] != anchors[batchPat] {
		t.Fatalf("a userName again in another case: alice %q/%q, pat %q/%q", anchors[batchAlice], anchors[batchAlice2], anchors[batchPat], anchors[batchPat2])
	}
	if anchors[batchBob] != bat.bob || anchors[batchRobert] != bat.bob || anchors[batchNewBob] == bat.bob {
		t.Fatalf("bob: anchors %q, %q, %q; want %q, %q and another", anchors[batchBob], anchors[batchRobert], anchors[batchNewBob], bat.bob, bat.bob)
	}
	if got, _ := bat.bd.Get(t, bat.bob); got[FieldUserName] != "robert@example.com" || got[FieldDepartment] != "d-robert" {
		t.Fatalf("bob's entry after the rename: %v", got)
	}
	if got, _ := bat.bd.Get(t, anchors[batchPat]); !adapters.VerifyPassword(got[FieldPassword], "pw-p2") {
		t.Fatal("pat's entry does not hold the batch's last password")
	}
	// The customer's entries, robert, alice, pat, the new bob, zed, nodept,
	// after-rej (with refusals) and the many.
	want := len(bat.customer) + 6 + batchChunk
	if refusals {
		want++
	}
	mustCount(t, bat.bd, want)
}

// sameFailure reports whether two results of an apply agree: both nil, or
// errors of the same class (adapters.Classify) and ErrAlreadyExists alike.
func sameFailure(a, b error) bool {
	if (a == nil) != (b == nil) {
		return false
	}
	return adapters.Classify(a) == adapters.Classify(b) &&
		errors.Is(a, adapters.ErrAlreadyExists) == errors.Is(b, adapters.ErrAlreadyExists)
}

// sharing groups the positions of the users that got the same entry.
func sharing(anchors []string) [][]int {
	groups := map[string][]int{}
	for i, a := range anchors {
		if a != "" {
			groups[a] = append(groups[a], i)
		}
	}
	var out [][]int
	for _, g := range groups {
		out = append(out, g)
	}
	sort.Slice(out, func(a, b int) bool { return out[a][0] < out[b][0] })
	return out
}

// sameEntry compares two entries' fields (the password as which of
// batchPasswords it verifies).
func sameEntry(t *testing.T, what string, abd Backdoor, a string, bbd Backdoor, b string) {
	t.Helper()
	ga, aok := abd.Get(t, a)
	gb, bok := bbd.Get(t, b)
	if !aok || !bok {
		t.Fatalf("%s: entry %q exists %v, one by one %q exists %v", what, a, aok, b, bok)
	}
	if g, w := comparableFields(ga), comparableFields(gb); !reflect.DeepEqual(g, w) {
		t.Fatalf("%s: entry\n%v\none by one\n%v", what, g, w)
	}
}

func comparableFields(e map[string]string) map[string]string {
	out := map[string]string{}
	for _, f := range []string{FieldUserName, FieldGivenName, FieldFamilyName, FieldEmail, FieldExternalID, FieldDepartment, FieldActive, FieldPlan} {
		if v, ok := e[f]; ok {
			out[f] = v
		}
	}
	if h, ok := e[FieldPassword]; ok {
		out[FieldPassword] = "unverified"
		for _, pw := range batchPasswords {
			if adapters.VerifyPassword(h, pw) {
				out[FieldPassword] = pw
			}
		}
	}
	return out
}

// testBatchRefusedUserFailsAlone: users the store refuses (a CHECK-like
// rule, a unique email taken by a user earlier in the same batch) fail;
// the others, before and after them, are applied.
func testBatchRefusedAlone(t *testing.T, h Harness) {
	s, bd := h.New(t, Options{})
	dupA, dupB := FullUser("dupa@example.com", "x"), FullUser("dupb@example.com", "y")
	dupB.Attrs["emails"] = dupA.Attrs["emails"]
	users := []adapters.User{
		dupA,
		FullUser("fine@example.com", "z"),
		dupB,
		FullUser("rej@example.com", RejectedDepartment),
		FullUser("last@example.com", "z"),
	}
	anchors, errs := asBatch(t, s).ApplyUsers(ctxFor(t), users)
	for _, i := range []int{0, 1, 4} {
		if errs[i] != nil || anchors[i] == "" {
			t.Fatalf("user %d: anchor %q, err %v", i, anchors[i], errs[i])
		}
		checkEntry(t, bd, anchors[i], expected(users[i]))
	}
	if !errors.Is(errs[2], adapters.ErrRejected) || !errors.Is(errs[2], adapters.ErrAlreadyExists) || anchors[2] != "" {
		t.Fatalf("duplicate email: anchor %q, err %v; want ErrRejected and ErrAlreadyExists", anchors[2], errs[2])
	}
	if !errors.Is(errs[3], adapters.ErrRejected) || !adapters.IsPermanent(errs[3]) || anchors[3] != "" {
		t.Fatalf("refused department: anchor %q, err %v; want a permanent ErrRejected", anchors[3], errs[3])
	}
	mustCount(t, bd, 3)
}

// testBatchRepeatedUserNames: a batch of creates repeating userNames (in
// other cases too) makes one entry per userName, as one by one does on
// another tenant.
func testBatchRepeatedUserNames(t *testing.T, h Harness) {
	ctx := ctxFor(t)
	var users []adapters.User
	for k, n := range []string{"a1", "a2", "A1", "a3", "a2", "a4", "A3"} {
		u := FullUser(n+"@example.com", "d-"+n)
		u.ID = fmt.Sprintf("scim-%s-%d", n, k)
		users = append(users, u)
	}
	bs, bbd := h.New(t, Options{})
	ss, sbd := h.New(t, Options{})
	anchors, errs := asBatch(t, bs).ApplyUsers(ctx, users)
	seqAnchors := make([]string, len(users))
	for i, u := range users {
		if errs[i] != nil {
			t.Fatalf("batch user %d: %v", i, errs[i])
		}
		seqAnchors[i] = mustApply(t, ss, u)
	}
	mustCount(t, bbd, 4)
	mustCount(t, sbd, 4)
	if g, w := sharing(anchors), sharing(seqAnchors); !reflect.DeepEqual(g, w) {
		t.Fatalf("users sharing an entry: %v, one by one %v", g, w)
	}
	for i := range users {
		sameEntry(t, fmt.Sprintf("user %d", i), bbd, anchors[i], sbd, seqAnchors[i])
	}
}

// testBatchColumnSets: new users of different column sets (no
// department, a password) in one batch each get their own entry, holding
// their own values.
func testBatchColumnSets(t *testing.T, h Harness) {
	s, bd := h.New(t, Options{PasswordHash: adapters.HashBcrypt, PasswordCost: passwordTestCost})
	var users []adapters.User
	for i := range 2 * batchChunk {
		u := FullUser(fmt.Sprintf("User%03d@Example.com", i), fmt.Sprintf("d%d", i))
		switch i % 5 {
		case 1:
			u = withoutDepartment(u)
		case 2:
			u = withPassword(u, fmt.Sprintf("pw-%d", i))
		}
		users = append(users, u)
	}
	anchors, errs := asBatch(t, s).ApplyUsers(ctxFor(t), users)
	seen := map[string]int{}
	for i, u := range users {
		if errs[i] != nil || anchors[i] == "" {
			t.Fatalf("user %d: anchor %q, err %v", i, anchors[i], errs[i])
		}
		if j, ok := seen[anchors[i]]; ok {
			t.Fatalf("users %d and %d got one entry %q", j, i, anchors[i])
		}
		seen[anchors[i]] = i
		checkEntry(t, bd, anchors[i], expected(u))
		if u.Password != nil && i < 20 { // a few: each check costs a hash
			if got, _ := bd.Get(t, anchors[i]); !adapters.VerifyPassword(got[FieldPassword], *u.Password) {
				t.Fatalf("user %d: the stored hash does not verify its password", i)
			}
		}
	}
	mustCount(t, bd, len(users))
}

// testBatchTwice: the same batch again, with the anchors the ledger would
// now hold, returns the same anchors and changes no entry.
func testBatchTwice(t *testing.T, h Harness) {
	s, bd := h.New(t, Options{})
	ctx := ctxFor(t)
	carol := bd.Insert(t, map[string]string{FieldUserName: "Carol@Example.com"})
	users := []adapters.User{FullUser("carol@example.com", "d-carol")}
	for i := range batchChunk {
		users = append(users, FullUser(fmt.Sprintf("u%03d@example.com", i), "d-many"))
	}
	anchors := mustApplyAll(t, s, users)
	if anchors[0] != carol {
		t.Fatalf("carol: anchor %q, want the customer's entry %q", anchors[0], carol)
	}
	before := map[string]map[string]string{}
	for _, a := range anchors {
		before[a], _ = bd.Get(t, a)
	}
	again, errs := asBatch(t, s).ApplyUsers(ctx, users)
	for i := range users {
		if errs[i] != nil || again[i] != anchors[i] {
			t.Fatalf("again, user %d: anchor %q (was %q), err %v", i, again[i], anchors[i], errs[i])
		}
		if after, _ := bd.Get(t, anchors[i]); !reflect.DeepEqual(after, before[anchors[i]]) {
			t.Fatalf("user %d: entry changed by the same batch again:\nbefore %v\nafter  %v", i, before[anchors[i]], after)
		}
	}
	mustCount(t, bd, len(users))
}

// testBatchValueHandedOver: in one batch of updates, each of many users
// gives up its email (which the store keeps unique) to the user after it:
// as one by one, the giver's write lands first and every user is applied
// (a store that writes a batch's users concurrently must keep each taker
// behind its giver).
func testBatchValueHandedOver(t *testing.T, h Harness) {
	s, bd := h.New(t, Options{})
	ctx := ctxFor(t)
	const pairs = 30
	var users []adapters.User
	for i := range 2 * pairs {
		users = append(users, FullUser(fmt.Sprintf("h%03d@example.com", i), "d-hand"))
	}
	mustApplyAll(t, s, users)
	// User 2k moves to a new email; user 2k+1, later in the batch, takes
	// the one 2k gave up.
	mail := func(u adapters.User) any { return u.Attrs["emails"] }
	for k := range pairs {
		giver, taker := users[2*k], users[2*k+1]
		taker.Attrs = maps.Clone(taker.Attrs)
		taker.Attrs["emails"] = mail(giver)
		giver.Attrs = maps.Clone(giver.Attrs)
		giver.Attrs["emails"] = []any{map[string]any{"type": "work", "value": fmt.Sprintf("moved.%d@example.com", k), "primary": true}}
		users[2*k], users[2*k+1] = giver, taker
	}
	anchors, errs := asBatch(t, s).ApplyUsers(ctx, users)
	for i := range users {
		if errs[i] != nil || anchors[i] != users[i].Anchor {
			t.Fatalf("user %d: anchor %q (was %q), err %v; want the email handed over as one by one", i, anchors[i], users[i].Anchor, errs[i])
		}
		checkEntry(t, bd, anchors[i], expected(users[i]))
	}
	mustCount(t, bd, len(users))
}

// mustApplyAll applies users as one batch, fails the test on any user's
// error, and sets each user's Anchor to the one returned (also returned).
func mustApplyAll(t *testing.T, s adapters.Store, users []adapters.User) []string {
	t.Helper()
	anchors, errs := asBatch(t, s).ApplyUsers(ctxFor(t), users)
	for i := range users {
		if errs[i] != nil {
			t.Fatalf("user %d: %v", i, errs[i])
		}
		users[i].Anchor = anchors[i]
	}
	return anchors
}

func testBatchEmpty(t *testing.T, h Harness) {
	s, bd := h.New(t, Options{})
	anchors, errs := asBatch(t, s).ApplyUsers(ctxFor(t), nil)
	if len(anchors) != 0 || len(errs) != 0 {
		t.Fatalf("empty batch: %v, %v", anchors, errs)
	}
	mustCount(t, bd, 0)
}

func testBatchUnavailable(t *testing.T, h Harness) {
	s := h.Unreachable(t)
	t.Cleanup(func() { _ = s.Close() })
	users := []adapters.User{newUser("jane@example.com"), newUser("joe@example.com")}
	anchors, errs := asBatch(t, s).ApplyUsers(ctxFor(t), users)
	for i := range users {
		if !errors.Is(errs[i], adapters.ErrUnavailable) || adapters.IsPermanent(errs[i]) || anchors[i] != "" {
			t.Errorf("user %d: anchor %q, err %v; want ErrUnavailable", i, anchors[i], errs[i])
		}
	}
}

// testBatchAnchoredMatchesOneByOne: on two identical tenants of users the
// store already holds, a batch of their next states (department changes,
// deactivations, renames, one unchanged, one whose entry was deleted
// outside scimbridge, one whose userName takes a renamed user's old name,
// one anchor twice) leaves the same entries as applying them one by one.
func testBatchAnchoredMatchesOneByOne(t *testing.T, h Harness) {
	ctx := ctxFor(t)
	n := batchChunk + 10
	type tenant struct {
		s       adapters.Store
		bd      Backdoor
		anchors []string
	}
	mk := func() *tenant {
		s, bd := h.New(t, Options{})
		tn := &tenant{s: s, bd: bd}
		for i := range n {
			tn.anchors = append(tn.anchors, mustApply(t, s, FullUser(fmt.Sprintf("a%03d@example.com", i), "d-1")))
		}
		bd.Delete(t, tn.anchors[7]) // gone outside scimbridge: found by userName or created again
		return tn
	}
	next := func(tn *tenant) []adapters.User {
		var users []adapters.User
		for i := range n {
			u := FullUser(fmt.Sprintf("a%03d@example.com", i), "d-1")
			switch i % 4 {
			case 0:
				u = FullUser(fmt.Sprintf("a%03d@example.com", i), "d-2")
			case 1:
				u.Attrs = u.Attrs.Clone()
				u.Attrs["active"], u.Active = false, false
			case 2:
				u = FullUser(fmt.Sprintf("r%03d@example.com", i), "d-3")
				u.ID = fmt.Sprintf("scim-a%03d", i)
			}
			u.Anchor = tn.anchors[i]
			users = append(users, u)
		}
		// An anchor again (its latest state wins), and a new user taking
		// the userName a rename of this batch gave up.
		again := FullUser("a000@example.com", "d-4")
		again.Anchor = tn.anchors[0]
		taker := FullUser("a002@example.com", "d-5")
		taker.ID = "scim-taker"
		users = append(users, again, taker)
		return users
	}
	seq, bat := mk(), mk()
	seqUsers := next(seq)
	seqAnchors := make([]string, len(seqUsers))
	seqErrs := make([]error, len(seqUsers))
	for i, u := range seqUsers {
		seqAnchors[i], seqErrs[i] = seq.s.ApplyUser(ctx, u)
	}
	users := next(bat)
	anchors, errs := asBatch(t, bat.s).ApplyUsers(ctx, users)
	if len(anchors) != len(users) || len(errs) != len(users) {
		t.Fatalf("ApplyUsers of %d users returned %d anchors and %d errors", len(users), len(anchors), len(errs))
	}
	for i := range users {
		if errs[i] != nil || seqErrs[i] != nil {
			t.Fatalf("user %d (%v): err %v, one by one %v", i, users[i].Attrs["userName"], errs[i], seqErrs[i])
		}
		if (anchors[i] == bat.anchors[min(i, n-1)]) != (seqAnchors[i] == seq.anchors[min(i, n-1)]) {
			t.Fatalf("user %d: anchor kept %v, one by one %v", i, anchors[i] == bat.anchors[min(i, n-1)], seqAnchors[i] == seq.anchors[min(i, n-1)])
		}
		sameEntry(t, fmt.Sprintf("user %d", i), bat.bd, anchors[i], seq.bd, seqAnchors[i])
	}
	if g, w := sharing(anchors), sharing(seqAnchors); !reflect.DeepEqual(g, w) {
		t.Fatalf("users sharing an entry: %v, one by one %v", g, w)
	}
	if g, w := bat.bd.Count(t), seq.bd.Count(t); g != w || g != n+1 {
		t.Fatalf("%d entries, one by one %d, want %d", g, w, n+1)
	}
	for _, i := range []int{4, 5, 6} {
		got, _ := bat.bd.Get(t, anchors[i])
		want := map[int][2]string{4: {"a004@example.com", "true"}, 5: {"a005@example.com", "false"}, 6: {"r006@example.com", "true"}}[i]
		if got[FieldUserName] != want[0] || (got[FieldActive] != "" && got[FieldActive] != want[1]) {
			t.Fatalf("user %d after the batch: %v, want userName %s active %s", i, got, want[0], want[1])
		}
	}
	if got, _ := bat.bd.Get(t, anchors[0]); got[FieldDepartment] != "d-4" {
		t.Fatalf("a000 after the batch: %v, want the later department d-4", got)
	}
}
