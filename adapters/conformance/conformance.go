package conformance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/scim"
)

// Fields of the fixture entry, as a Backdoor names them. A SQL harness uses
// them as column names; another store kind maps them to its own names.
const (
	FieldKey        = "id"
	FieldUserName   = "username"
	FieldGivenName  = "given_name"
	FieldFamilyName = "family_name"
	FieldEmail      = "email"
	FieldExternalID = "external_id"
	FieldDepartment = "department"
	FieldActive     = "is_active"
	FieldPassword   = "password_hash"
	// FieldPlan is not mapped: scimbridge must never touch it. Its
	// default for a new entry is PlanDefault.
	FieldPlan = "plan"
)

// Fixture rules every harness's store must enforce, so the suite can see
// rejections.
const (
	// PlanDefault is FieldPlan's default value.
	PlanDefault = "free"
	// RejectedDepartment is a department value the store refuses (a CHECK
	// constraint or equivalent).
	RejectedDepartment = "REJECTED-BY-STORE"
)

// The fixture also requires: username NOT NULL (or required), email unique.

// PathDepartment is the enterprise department attribute path.
const PathDepartment = scim.SchemaEnterpriseUser + ":department"

// Options shape the store a test asks for.
type Options struct {
	// OnDelete is the delete policy; empty means "deactivate".
	OnDelete string
	// NaturalKey keys the entries by the userName field instead of a
	// store-generated id (the key field is then FieldUserName).
	NaturalKey bool
	// PasswordHash is the hash algorithm; empty means argon2id.
	PasswordHash string
	// PasswordCost is bcrypt's cost; 0 means the default (12).
	PasswordCost int
}

// Mapping is the suite's mapping of SCIM onto the fixture fields, for the
// given table (SQL; empty otherwise).
func Mapping(table string, opts Options) adapters.UserMapping {
	key := FieldKey
	if opts.NaturalKey {
		key = FieldUserName
	}
	return adapters.UserMapping{
		Table: table,
		Key:   key,
		Attributes: map[string]string{
			"userName":                     FieldUserName,
			"name.givenName":               FieldGivenName,
			"name.familyName":              FieldFamilyName,
			`emails[type eq "work"].value`: FieldEmail,
			"externalId":                   FieldExternalID,
			PathDepartment:                 FieldDepartment,
		},
		Active:   &adapters.ActiveMapping{Column: FieldActive},
		Password: &adapters.PasswordMapping{Column: FieldPassword, Hash: opts.PasswordHash, Cost: opts.PasswordCost},
		OnDelete: opts.OnDelete,
	}
}

// Backdoor reaches the store directly, bypassing scimbridge, to check what
// it really holds and to play the customer's own application.
type Backdoor interface {
	// Get returns the entry's fields by anchor (NULL fields absent;
	// FieldActive as "true"/"false"), and false when there is no entry.
	Get(tb testing.TB, anchor string) (map[string]string, bool)
	// Insert creates an entry outside scimbridge and returns its anchor.
	Insert(tb testing.TB, fields map[string]string) string
	// Set writes one field of the entry (any field, mapped or not).
	Set(tb testing.TB, anchor, field, value string)
	// Delete removes the entry outside scimbridge.
	Delete(tb testing.TB, anchor string)
	// Count returns the number of entries.
	Count(tb testing.TB) int
}

// Harness gives the suite stores of one backend.
type Harness struct {
	// Name is the backend ("postgres", "sqlite", "mysql", "ldap"); the
	// suite's explicit skips name it.
	Name string
	// New returns a fresh, isolated store (its own table, schema or
	// database, removed in tb.Cleanup) holding no entry, and its backdoor.
	// Two calls in one test are two tenants.
	New func(tb testing.TB, opts Options) (adapters.Store, Backdoor)
	// Unreachable returns a store whose server cannot be reached (a closed
	// port on 127.0.0.1, a path that cannot be opened).
	Unreachable func(tb testing.TB) adapters.Store
	// AllowCaseTwins, when set, changes a fresh store's fixture so that it
	// can hold two entries whose userNames differ only in case (the
	// customer's data the ambiguous-userName cases need). nil: the fixture
	// holds them already. MySQL's harness sets it: its case-insensitive
	// collation makes the unique index on username refuse them.
	AllowCaseTwins func(tb testing.TB, bd Backdoor)
}

// testCase is one conformance case.
type testCase struct {
	name string
	run  func(t *testing.T, h Harness)
}

// RunUserTests runs every user case against the harness's stores, in
// parallel.
func RunUserTests(t *testing.T, h Harness) {
	for _, tc := range userCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, h)
		})
	}
}

var userCases = []testCase{
	{"Create", testCreate},
	{"Update", testUpdate},
	{"AbsentAttributeClearsField", testAbsentClears},
	{"Rename", testRename},
	{"DeactivateByApply", testDeactivateByApply},
	{"RemoveDeactivates", testRemoveDeactivates},
	{"Reactivate", testReactivate},
	{"DeactivateTwice", testDeactivateTwice},
	{"RemoveWithoutAnchor", testRemoveWithoutAnchor},
	{"DeletePolicy", testDeletePolicy},
	{"PasswordArgon2id", func(t *testing.T, h Harness) { testPassword(t, h, adapters.HashArgon2id) }},
	{"PasswordBcrypt", func(t *testing.T, h Harness) { testPassword(t, h, adapters.HashBcrypt) }},
	{"PasswordIgnoredWhenNil", testPasswordNil},
	{"SameApplyTwice", testSameApplyTwice},
	{"AdoptAfterCrash", testAdoptAfterCrash},
	{"AmbiguousUserName", testAmbiguousUserName},
	{"StaleAnchor", testStaleAnchor},
	{"StaleAnchorAdoptsUserName", testStaleAnchorAdopts},
	{"UnmappedFieldsSurvive", testUnmappedSurvive},
	{"ExternalEntryFoundAndAdopted", testExternalEntry},
	{"FindUsers", testFindUsers},
	{"ListUsersPages", testListUsers},
	{"ListUsersEmpty", testListEmpty},
	{"TenantIsolation", testTenantIsolation},
	{"Metacharacters", testMetacharacters},
	{"UnicodeCaseInsensitive", testUnicodeCase},
	{"RejectedNotNull", testRejectedNotNull},
	{"RejectedCheck", testRejectedCheck},
	{"RejectedUnique", testRejectedUnique},
	{"NaturalKey", testNaturalKey},
	{"Unavailable", testUnavailable},
	{"CanceledContext", testCanceledContext},
	{"Ping", testPing},
}

// ---- helpers ----

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newUser is a full desired state for userName.
func newUser(userName string) adapters.User {
	local := strings.SplitN(userName, "@", 2)[0]
	return adapters.User{
		ID: "scim-" + local,
		Attrs: scim.Attrs{
			"userName": userName,
			"name":     map[string]any{"givenName": "Given " + local, "familyName": "Family " + local},
			"emails": []any{
				map[string]any{"type": "work", "value": "mail." + userName, "primary": true},
			},
			"externalId":              "ext-" + local,
			scim.SchemaEnterpriseUser: map[string]any{"department": "Dept " + local},
			"active":                  true,
		},
		Active: true,
	}
}

// expected is what the fixture should hold for u.
func expected(u adapters.User) map[string]string {
	want := map[string]string{FieldPlan: PlanDefault, FieldActive: fmt.Sprint(u.Active)}
	set := func(field string, v any) {
		if s, ok := v.(string); ok {
			want[field] = s
		}
	}
	set(FieldUserName, u.Attrs["userName"])
	if n, ok := u.Attrs["name"].(map[string]any); ok {
		set(FieldGivenName, n["givenName"])
		set(FieldFamilyName, n["familyName"])
	}
	if es, ok := u.Attrs["emails"].([]any); ok {
		for _, e := range es {
			if m, ok := e.(map[string]any); ok && m["type"] == "work" {
				set(FieldEmail, m["value"])
			}
		}
	}
	set(FieldExternalID, u.Attrs["externalId"])
	if ent, ok := u.Attrs[scim.SchemaEnterpriseUser].(map[string]any); ok {
		set(FieldDepartment, ent["department"])
	}
	return want
}

// checkEntry compares the entry's fields with want (ignoring the key and
// password fields, which tests check on their own).
func checkEntry(t *testing.T, bd Backdoor, anchor string, want map[string]string) {
	t.Helper()
	got, ok := bd.Get(t, anchor)
	if !ok {
		t.Fatalf("entry %q does not exist", anchor)
	}
	for _, f := range []string{FieldUserName, FieldGivenName, FieldFamilyName, FieldEmail, FieldExternalID, FieldDepartment, FieldActive, FieldPlan} {
		g, gok := got[f]
		w, wok := want[f]
		if gok != wok || g != w {
			t.Errorf("entry %q field %s = %q (set %v), want %q (set %v)", anchor, f, g, gok, w, wok)
		}
	}
}

func mustApply(t *testing.T, s adapters.Store, u adapters.User) string {
	t.Helper()
	anchor, err := s.ApplyUser(ctxFor(t), u)
	if err != nil {
		t.Fatalf("ApplyUser(%v): %v", u.Attrs["userName"], err)
	}
	if anchor == "" {
		t.Fatalf("ApplyUser(%v) returned an empty anchor", u.Attrs["userName"])
	}
	return anchor
}

func mustCount(t *testing.T, bd Backdoor, want int) {
	t.Helper()
	if got := bd.Count(t); got != want {
		t.Fatalf("store holds %d entries, want %d", got, want)
	}
}

func setGiven(u *adapters.User, given string) {
	n := u.Attrs["name"].(map[string]any)
	n["givenName"] = given
}

func withActive(u adapters.User, active bool) adapters.User {
	u.Attrs = u.Attrs.Clone()
	u.Attrs["active"] = active
	u.Active = active
	return u
}

// ---- cases ----

func testCreate(t *testing.T, h Harness) {
	s, bd := h.New(t, Options{})
	u := newUser("jane@example.com")
	anchor := mustApply(t, s, u)
	mustCount(t, bd, 1)
	checkEntry(t, bd, anchor, expected(u))
	got, _ := bd.Get(t, anchor)
	if _, set := got[FieldPassword]; set {
		t.Errorf("password field set without a password: %q", got[FieldPassword])
	}
}

func testUpdate(t *testing.T, h Harness) {
	s, bd := h.New(t, Options{})
	u := newUser("jane@example.com")
	anchor := mustApply(t, s, u)

	u.Anchor = anchor
	u.Attrs = u.Attrs.Clone()
	setGiven(&u, "Janet")
	u.Attrs["emails"] = []any{map[string]any{"type": "work", "value": "janet@example.com"}}
	u.Attrs[scim.SchemaEnterpriseUser] = map[string]any{"department": "Legal"}
	got := mustApply(t, s, u)
	if got != anchor {
		t.Fatalf("update changed the anchor: %q -> %q", anchor, got)
	}
	mustCount(t, bd, 1)
	checkEntry(t, bd, anchor, expected(u))
}

func testAbsentClears(t *testing.T, h Harness) {
	s, bd := h.New(t, Options{})
	u := newUser("jane@example.com")
	u.Anchor = mustApply(t, s, u)
	// A PUT without department and externalId: the desired state has no
	// value, so the fields are cleared.
	u.Attrs = u.Attrs.Clone()
	delete(u.Attrs, scim.SchemaEnterpriseUser)
	delete(u.Attrs, "externalId")
	mustApply(t, s, u)
	checkEntry(t, bd, u.Anchor, expected(u))
	got, _ := bd.Get(t, u.Anchor)
	if _, set := got[FieldDepartment]; set {
		t.Errorf("department still set: %q", got[FieldDepartment])
	}
}

func testRename(t *testing.T, h Harness) {
	s, bd := h.New(t, Options{})
	u := newUser("jane@example.com")
	anchor := mustApply(t, s, u)
	u.Anchor = anchor
	u.Attrs = u.Attrs.Clone()
	u.Attrs["userName"] = "jane.doe@example.com"
	if got := mustApply(t, s, u); got != anchor {
		t.Fatalf("rename changed the anchor: %q -> %q", anchor, got)
	}
	mustCount(t, bd, 1)
	checkEntry(t, bd, anchor, expected(u))
}

func testDeactivateByApply(t *testing.T, h Harness) {
	s, bd := h.New(t, Options{})
	u := newUser("jane@example.com")
	u.Anchor = mustApply(t, s, u)
	off := withActive(u, false)
	mustApply(t, s, off)
	checkEntry(t, bd, u.Anchor, expected(off))
}

func testRemoveDeactivates(t *testing.T, h Harness) {
	s, bd := h.New(t, Options{})
	u := newUser("jane@example.com")
	u.Anchor = mustApply(t, s, u)
	if err := s.RemoveUser(ctxFor(t), u); err != nil {
		t.Fatalf("RemoveUser: %v", err)
	}
	mustCount(t, bd, 1)
	// Only the flag changes: the other fields stay as they were.
	checkEntry(t, bd, u.Anchor, expected(withActive(u, false)))
}

func testReactivate(t *testing.T, h Harness) {
	s, bd := h.New(t, Options{})
	u := newUser("jane@example.com")
	u.Anchor = mustApply(t, s, u)
	mustApply(t, s, withActive(u, false))
	if err := s.RemoveUser(ctxFor(t), u); err != nil {
		t.Fatalf("RemoveUser: %v", err)
	}
	on := withActive(u, true)
	mustApply(t, s, on)
	checkEntry(t, bd, u.Anchor, expected(on))
}

func testDeactivateTwice(t *testing.T, h Harness) {
	s, bd := h.New(t, Options{})
	u := newUser("jane@example.com")
	u.Anchor = mustApply(t, s, u)
	for i := 0; i < 2; i++ {
		if err := s.RemoveUser(ctxFor(t), u); err != nil {
			t.Fatalf("RemoveUser #%d: %v", i+1, err)
		}
	}
	off := withActive(u, false)
	mustApply(t, s, off)
	mustApply(t, s, off)
	checkEntry(t, bd, u.Anchor, expected(off))
	// A missing entry is success.
	bd.Delete(t, u.Anchor)
	if err := s.RemoveUser(ctxFor(t), u); err != nil {
		t.Fatalf("RemoveUser of a missing entry: %v", err)
	}
	mustCount(t, bd, 0)
}

func testRemoveWithoutAnchor(t *testing.T, h Harness) {
	// A crash after the insert but before the anchor was recorded: the
	// remove still reaches the entry the apply would adopt.
	s, bd := h.New(t, Options{})
	u := newUser("jane@example.com")
	anchor := mustApply(t, s, u)
	other := mustApply(t, s, newUser("other@example.com"))
	if err := s.RemoveUser(ctxFor(t), u); err != nil {
		t.Fatalf("RemoveUser without anchor: %v", err)
	}
	checkEntry(t, bd, anchor, expected(withActive(u, false)))
	checkEntry(t, bd, other, expected(newUser("other@example.com")))
	// Never applied and nothing matches: success, nothing touched.
	if err := s.RemoveUser(ctxFor(t), newUser("nobody@example.com")); err != nil {
		t.Fatalf("RemoveUser of an unknown user: %v", err)
	}
	mustCount(t, bd, 2)
}

func testDeletePolicy(t *testing.T, h Harness) {
	s, bd := h.New(t, Options{OnDelete: adapters.OnDeleteDelete})
	u := newUser("jane@example.com")
	u.Anchor = mustApply(t, s, u)
	keep := mustApply(t, s, newUser("keep@example.com"))
	if err := s.RemoveUser(ctxFor(t), u); err != nil {
		t.Fatalf("RemoveUser: %v", err)
	}
	if _, ok := bd.Get(t, u.Anchor); ok {
		t.Fatal("entry still exists after a delete-policy remove")
	}
	if _, ok := bd.Get(t, keep); !ok {
		t.Fatal("remove deleted another entry")
	}
	if err := s.RemoveUser(ctxFor(t), u); err != nil {
		t.Fatalf("second RemoveUser: %v", err)
	}
	mustCount(t, bd, 1)
}

// passwordTestCost is the bcrypt cost of the password cases: the default
// (12) costs ~10 s an operation under the race detector and the cases run
// six; adapters' own tests check the default.
const passwordTestCost = 5

func testPassword(t *testing.T, h Harness, algorithm string) {
	opts := Options{PasswordHash: algorithm}
	if algorithm == adapters.HashBcrypt {
		opts.PasswordCost = passwordTestCost
	}
	s, bd := h.New(t, opts)
	u := newUser("jane@example.com")
	pw := "s3cret 'pass'; word"
	u.Password = &pw
	u.Anchor = mustApply(t, s, u)

	got, _ := bd.Get(t, u.Anchor)
	hash := got[FieldPassword]
	if hash == "" {
		t.Fatal("password not stored")
	}
	if strings.Contains(hash, pw) {
		t.Fatal("password stored in clear")
	}
	wantPrefix := map[string]string{adapters.HashArgon2id: "$argon2id$", adapters.HashBcrypt: "$2a$05$"}[algorithm]
	if !strings.HasPrefix(hash, wantPrefix) {
		t.Errorf("hash %q is not %s", hash, algorithm)
	}
	if !adapters.VerifyPassword(hash, pw) {
		t.Fatal("stored hash does not verify the password")
	}

	// The same password again: the hash already verifies, nothing changes.
	mustApply(t, s, u)
	if again, _ := bd.Get(t, u.Anchor); again[FieldPassword] != hash {
		t.Error("re-applying the same password rewrote the hash")
	}

	// A new password replaces the hash.
	pw2 := "another-one"
	u.Password = &pw2
	mustApply(t, s, u)
	got, _ = bd.Get(t, u.Anchor)
	if !adapters.VerifyPassword(got[FieldPassword], pw2) || adapters.VerifyPassword(got[FieldPassword], pw) {
		t.Fatal("new password not stored")
	}
	checkEntry(t, bd, u.Anchor, expected(u))
}

func testPasswordNil(t *testing.T, h Harness) {
	s, bd := h.New(t, Options{})
	u := newUser("jane@example.com")
	pw := "first"
	u.Password = &pw
	u.Anchor = mustApply(t, s, u)
	before, _ := bd.Get(t, u.Anchor)
	u.Password = nil
	setGiven(&u, "Changed")
	mustApply(t, s, u)
	after, _ := bd.Get(t, u.Anchor)
	if after[FieldPassword] != before[FieldPassword] {
		t.Fatal("an apply without a password changed the password field")
	}
}

func testSameApplyTwice(t *testing.T, h Harness) {
	s, bd := h.New(t, Options{})
	u := newUser("jane@example.com")
	anchor := mustApply(t, s, u)
	before, _ := bd.Get(t, anchor)
	u.Anchor = anchor
	for i := 0; i < 2; i++ {
		if got := mustApply(t, s, u); got != anchor {
			t.Fatalf("apply #%d returned anchor %q, want %q", i+2, got, anchor)
		}
	}
	mustCount(t, bd, 1)
	after, _ := bd.Get(t, anchor)
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatalf("entry changed by a repeated apply:\nbefore %v\nafter  %v", before, after)
	}
}

func testAdoptAfterCrash(t *testing.T, h Harness) {
	s, bd := h.New(t, Options{})
	u := newUser("jane@example.com")
	anchor := mustApply(t, s, u)
	// The worker died before recording the anchor: the retry has none, and
	// the IdP may have changed the case of the userName meanwhile.
	retry := newUser("jane@example.com")
	retry.Attrs["userName"] = "JANE@Example.COM"
	if got := mustApply(t, s, retry); got != anchor {
		t.Fatalf("apply without anchor returned %q, want the existing %q", got, anchor)
	}
	mustCount(t, bd, 1)
	checkEntry(t, bd, anchor, expected(retry))
}

func testAmbiguousUserName(t *testing.T, h Harness) {
	s, bd := h.New(t, Options{})
	allowCaseTwins(t, h, bd)
	bd.Insert(t, map[string]string{FieldUserName: "jane@example.com"})
	bd.Insert(t, map[string]string{FieldUserName: "JANE@example.com"})
	_, err := s.ApplyUser(ctxFor(t), newUser("Jane@Example.com"))
	if !errors.Is(err, adapters.ErrAlreadyExists) || !adapters.IsPermanent(err) {
		t.Fatalf("apply matching two entries: err = %v, want a permanent ErrAlreadyExists", err)
	}
	mustCount(t, bd, 2)
}

func testStaleAnchor(t *testing.T, h Harness) {
	s, bd := h.New(t, Options{})
	u := newUser("jane@example.com")
	u.Anchor = mustApply(t, s, u)
	bd.Delete(t, u.Anchor)
	anchor := mustApply(t, s, u)
	mustCount(t, bd, 1)
	checkEntry(t, bd, anchor, expected(u))
}

func testStaleAnchorAdopts(t *testing.T, h Harness) {
	s, bd := h.New(t, Options{})
	u := newUser("jane@example.com")
	u.Anchor = mustApply(t, s, u)
	bd.Delete(t, u.Anchor)
	// The customer re-created the account by hand.
	outside := bd.Insert(t, map[string]string{FieldUserName: "Jane@Example.com", FieldGivenName: "Hand made"})
	if got := mustApply(t, s, u); got != outside {
		t.Fatalf("apply with a stale anchor returned %q, want the matching entry %q", got, outside)
	}
	mustCount(t, bd, 1)
	checkEntry(t, bd, outside, expected(u))
}

func testUnmappedSurvive(t *testing.T, h Harness) {
	s, bd := h.New(t, Options{})
	u := newUser("jane@example.com")
	u.Anchor = mustApply(t, s, u)
	bd.Set(t, u.Anchor, FieldPlan, "gold")
	want := expected(u)
	want[FieldPlan] = "gold"

	setGiven(&u, "Janet")
	mustApply(t, s, u)
	want[FieldGivenName] = "Janet"
	checkEntry(t, bd, u.Anchor, want)

	if err := s.RemoveUser(ctxFor(t), u); err != nil {
		t.Fatal(err)
	}
	want[FieldActive] = "false"
	checkEntry(t, bd, u.Anchor, want)

	mustApply(t, s, u)
	want[FieldActive] = "true"
	checkEntry(t, bd, u.Anchor, want)
}

func testExternalEntry(t *testing.T, h Harness) {
	s, bd := h.New(t, Options{})
	anchor := bd.Insert(t, map[string]string{
		FieldUserName:   "Legacy.User@Example.com",
		FieldGivenName:  "Legacy",
		FieldFamilyName: "User",
		FieldEmail:      "Legacy.Mail@Example.com",
		FieldPlan:       "enterprise",
	})
	ctx := ctxFor(t)

	for _, q := range []struct {
		attr  adapters.Match
		value string
	}{
		{adapters.MatchUserName, "legacy.user@example.com"},
		{adapters.MatchUserName, "LEGACY.USER@EXAMPLE.COM"},
		{adapters.MatchEmail, "legacy.mail@EXAMPLE.com"},
	} {
		found, err := s.FindUsers(ctx, q.attr, q.value)
		if err != nil {
			t.Fatalf("FindUsers(%s, %q): %v", q.attr, q.value, err)
		}
		if len(found) != 1 || found[0].Anchor != anchor {
			t.Fatalf("FindUsers(%s, %q) = %+v, want the entry %q", q.attr, q.value, found, anchor)
		}
		a := found[0].Attrs
		if a["userName"] != "Legacy.User@Example.com" {
			t.Errorf("found userName = %v", a["userName"])
		}
		if n, _ := a["name"].(map[string]any); n == nil || n["givenName"] != "Legacy" || n["familyName"] != "User" {
			t.Errorf("found name = %v", a["name"])
		}
		if a["active"] != true {
			t.Errorf("found active = %v, want true (the field's default)", a["active"])
		}
		if !hasWorkEmail(a, "Legacy.Mail@Example.com") {
			t.Errorf("found emails = %v", a["emails"])
		}
	}

	// Okta links its user: the apply has no anchor and adopts the entry.
	u := newUser("legacy.user@example.com")
	if got := mustApply(t, s, u); got != anchor {
		t.Fatalf("apply adopted %q, want %q", got, anchor)
	}
	mustCount(t, bd, 1)
	want := expected(u)
	want[FieldPlan] = "enterprise"
	checkEntry(t, bd, anchor, want)
}

func hasWorkEmail(a scim.Attrs, value string) bool {
	es, _ := a["emails"].([]any)
	for _, e := range es {
		if m, ok := e.(map[string]any); ok && m["value"] == value && m["type"] == "work" {
			return true
		}
	}
	return false
}

func testFindUsers(t *testing.T, h Harness) {
	s, bd := h.New(t, Options{})
	ctx := ctxFor(t)
	jane := mustApply(t, s, newUser("jane@example.com"))
	mustApply(t, s, newUser("janet@example.com"))

	found, err := s.FindUsers(ctx, adapters.MatchExternalID, "ext-jane")
	if err != nil || len(found) != 1 || found[0].Anchor != jane {
		t.Fatalf("FindUsers(externalId) = %+v, %v", found, err)
	}
	if found[0].Attrs["externalId"] != "ext-jane" {
		t.Errorf("externalId = %v", found[0].Attrs["externalId"])
	}
	ent, _ := found[0].Attrs[scim.SchemaEnterpriseUser].(map[string]any)
	if ent["department"] != "Dept jane" {
		t.Errorf("department = %v", found[0].Attrs[scim.SchemaEnterpriseUser])
	}
	// externalId is not unique (RFC 7643 §3.1; Entra fills it from
	// mailNickname): every entry holding it is found, one made outside
	// scimbridge too, so the ledger can adopt them all.
	twin := newUser("jane.twin@example.com")
	twin.Attrs["externalId"] = "ext-jane"
	twinAnchor := mustApply(t, s, twin)
	outside := bd.Insert(t, map[string]string{FieldUserName: "jane.outside@example.com", FieldExternalID: "ext-jane"})
	found, err = s.FindUsers(ctx, adapters.MatchExternalID, "ext-jane")
	var anchors []string
	for _, e := range found {
		anchors = append(anchors, e.Anchor)
	}
	slices.Sort(anchors)
	want := []string{jane, twinAnchor, outside}
	slices.Sort(want)
	if err != nil || !slices.Equal(anchors, want) {
		t.Fatalf("FindUsers(externalId shared by three) = %v, %v; want %v", anchors, err, want)
	}
	// externalId is case-sensitive.
	if found, err := s.FindUsers(ctx, adapters.MatchExternalID, "EXT-JANE"); err != nil || len(found) != 0 {
		t.Errorf("FindUsers(externalId, upper case) = %+v, %v; want nothing", found, err)
	}
	// No prefix or pattern matching.
	for _, v := range []string{"jane", "jane@example.co", "%", "_ane@example.com", "jane@example.com "} {
		if found, err := s.FindUsers(ctx, adapters.MatchUserName, v); err != nil || len(found) != 0 {
			t.Errorf("FindUsers(userName, %q) = %+v, %v; want nothing", v, found, err)
		}
	}
	// An attribute the mapping does not answer returns nothing.
	if found, err := s.FindUsers(ctx, adapters.Match("displayName"), "x"); err != nil || found != nil {
		t.Errorf("FindUsers(unmapped) = %+v, %v; want nil, nil", found, err)
	}
}

func testListUsers(t *testing.T, h Harness) {
	s, bd := h.New(t, Options{})
	want := map[string]string{}
	for i := 0; i < 25; i++ {
		name := fmt.Sprintf("user%02d@example.com", i)
		want[mustApply(t, s, newUser(name))] = name
	}
	// One entry the customer made outside scimbridge is listed too.
	outside := bd.Insert(t, map[string]string{FieldUserName: "outside@example.com"})
	want[outside] = "outside@example.com"

	checkPagedListing(t, "ListUsers", want, s.ListUsers, func(e adapters.Entry) (string, any) {
		return e.Anchor, e.Attrs["userName"]
	})
}

// checkPagedListing pages through list (ListUsers or ListGroups, named
// what) 10 at a time, twice, and checks that each page is full but the
// last, that every anchor of want comes back once with the name want gives
// it (nameOf returns an entry's anchor and name), that the order is the
// same both times, and that a malformed cursor is refused.
func checkPagedListing[E any](t *testing.T, what string, want map[string]string, list func(ctx context.Context, cursor string, limit int) ([]E, string, error), nameOf func(E) (anchor string, name any)) {
	t.Helper()
	ctx := ctxFor(t)
	listAll := func() []string {
		var anchors []string
		cursor := ""
		for page := 0; ; page++ {
			if page > 10 {
				t.Fatalf("%s never ends", what)
			}
			entries, next, err := list(ctx, cursor, 10)
			if err != nil {
				t.Fatalf("%s page %d: %v", what, page, err)
			}
			if wantLen := min(10, len(want)-10*page); len(entries) != wantLen {
				t.Fatalf("%s page %d has %d entries, want %d", what, page, len(entries), wantLen)
			}
			for _, e := range entries {
				anchor, name := nameOf(e)
				if name != want[anchor] {
					t.Errorf("%s entry %q name = %v, want %q", what, anchor, name, want[anchor])
				}
				anchors = append(anchors, anchor)
			}
			if next == "" {
				return anchors
			}
			cursor = next
		}
	}
	first := listAll()
	seen := map[string]bool{}
	for _, a := range first {
		if seen[a] {
			t.Errorf("%s: anchor %q listed twice", what, a)
		}
		seen[a] = true
	}
	if len(seen) != len(want) {
		t.Errorf("%s listed %d distinct entries, want %d", what, len(seen), len(want))
	}
	if second := listAll(); fmt.Sprint(second) != fmt.Sprint(first) {
		t.Errorf("%s order not stable:\n%v\n%v", what, first, second)
	}
	if _, _, err := list(ctx, "not a cursor!", 10); err == nil {
		t.Errorf("%s accepted a malformed cursor", what)
	}
}

func testListEmpty(t *testing.T, h Harness) {
	s, _ := h.New(t, Options{})
	entries, next, err := s.ListUsers(ctxFor(t), "", 10)
	if err != nil || len(entries) != 0 || next != "" {
		t.Fatalf("ListUsers on an empty store = %v, %q, %v", entries, next, err)
	}
}

func testTenantIsolation(t *testing.T, h Harness) {
	a, bdA := h.New(t, Options{})
	b, bdB := h.New(t, Options{})
	ctx := ctxFor(t)
	u := newUser("jane@example.com")
	anchorA := mustApply(t, a, u)

	if found, err := b.FindUsers(ctx, adapters.MatchUserName, "jane@example.com"); err != nil || len(found) != 0 {
		t.Fatalf("tenant B finds tenant A's user: %+v, %v", found, err)
	}
	if found, err := b.FindUsers(ctx, adapters.MatchEmail, "mail.jane@example.com"); err != nil || len(found) != 0 {
		t.Fatalf("tenant B finds tenant A's email: %+v, %v", found, err)
	}
	if entries, _, err := b.ListUsers(ctx, "", 10); err != nil || len(entries) != 0 {
		t.Fatalf("tenant B lists tenant A's users: %+v, %v", entries, err)
	}
	// B applying the same user (even with A's anchor) creates B's own entry.
	u.Anchor = anchorA
	mustApply(t, b, u)
	mustCount(t, bdA, 1)
	mustCount(t, bdB, 1)
	// B's removal does not reach A.
	bOnly := newUser("jane@example.com")
	bOnly.Anchor = anchorA
	if err := b.RemoveUser(ctx, bOnly); err != nil {
		t.Fatal(err)
	}
	checkEntry(t, bdA, anchorA, expected(newUser("jane@example.com")))
}

func testMetacharacters(t *testing.T, h Harness) {
	s, bd := h.New(t, Options{})
	ctx := ctxFor(t)
	values := []string{
		`o'brien@example.com`,
		`robert"); DROP TABLE users; --@example.com`,
		`back\slash\\n@example.com`,
		"percent%_under@example.com",
		"zoë.日本語.🙂@example.com",
		"tab\tand\nnewline@example.com",
		"`backtick`@example.com",
	}
	for _, v := range values {
		u := newUser(v)
		setGiven(&u, v)
		u.Attrs[scim.SchemaEnterpriseUser] = map[string]any{"department": "$1 ? :name ; -- " + v}
		anchor := mustApply(t, s, u)
		checkEntry(t, bd, anchor, expected(u))
		found, err := s.FindUsers(ctx, adapters.MatchUserName, v)
		if err != nil || len(found) != 1 || found[0].Anchor != anchor {
			t.Fatalf("FindUsers(%q) = %+v, %v", v, found, err)
		}
		if found[0].Attrs["userName"] != v {
			t.Errorf("userName read back as %q, want %q", found[0].Attrs["userName"], v)
		}
		// Idempotent too.
		u.Anchor = anchor
		if again := mustApply(t, s, u); again != anchor {
			t.Errorf("re-apply of %q gave anchor %q, want %q", v, again, anchor)
		}
	}
	mustCount(t, bd, len(values))
}

func testUnicodeCase(t *testing.T, h Harness) {
	s, bd := h.New(t, Options{})
	ctx := ctxFor(t)
	anchor := mustApply(t, s, newUser("ÅSA.ÖBERG@example.com"))
	found, err := s.FindUsers(ctx, adapters.MatchUserName, "åsa.öberg@EXAMPLE.com")
	if err != nil || len(found) != 1 || found[0].Anchor != anchor {
		t.Fatalf("FindUsers(unicode, other case) = %+v, %v", found, err)
	}
	if got := mustApply(t, s, newUser("åsa.öberg@example.com")); got != anchor {
		t.Fatalf("apply with other unicode case created %q, want adoption of %q", got, anchor)
	}
	mustCount(t, bd, 1)
}

func testRejectedNotNull(t *testing.T, h Harness) {
	s, bd := h.New(t, Options{})
	u := newUser("jane@example.com")
	delete(u.Attrs, "userName")
	_, err := s.ApplyUser(ctxFor(t), u)
	if !errors.Is(err, adapters.ErrRejected) || !adapters.IsPermanent(err) {
		t.Fatalf("insert without userName: err = %v, want ErrRejected", err)
	}
	mustCount(t, bd, 0)

	// An update clearing the required field is rejected too, and leaves
	// the entry as it was.
	ok := newUser("jane@example.com")
	ok.Anchor = mustApply(t, s, ok)
	u.Anchor = ok.Anchor
	if _, err := s.ApplyUser(ctxFor(t), u); !errors.Is(err, adapters.ErrRejected) {
		t.Fatalf("update clearing userName: err = %v, want ErrRejected", err)
	}
	checkEntry(t, bd, ok.Anchor, expected(ok))
}

func testRejectedCheck(t *testing.T, h Harness) {
	s, bd := h.New(t, Options{})
	u := newUser("jane@example.com")
	pw := "pw-must-not-leak"
	u.Password = &pw
	u.Attrs[scim.SchemaEnterpriseUser] = map[string]any{"department": RejectedDepartment}
	_, err := s.ApplyUser(ctxFor(t), u)
	if !errors.Is(err, adapters.ErrRejected) {
		t.Fatalf("CHECK violation: err = %v, want ErrRejected", err)
	}
	if strings.Contains(err.Error(), pw) || strings.Contains(err.Error(), "$argon2id$") {
		t.Fatalf("error leaks the password or its hash: %v", err)
	}
	mustCount(t, bd, 0)
}

func testRejectedUnique(t *testing.T, h Harness) {
	s, bd := h.New(t, Options{})
	mustApply(t, s, newUser("jane@example.com"))
	// Another user whose email collides with jane's.
	u := newUser("other@example.com")
	u.Attrs["emails"] = []any{map[string]any{"type": "work", "value": "mail.jane@example.com"}}
	_, err := s.ApplyUser(ctxFor(t), u)
	if !errors.Is(err, adapters.ErrRejected) || !errors.Is(err, adapters.ErrAlreadyExists) {
		t.Fatalf("unique violation: err = %v, want ErrRejected and ErrAlreadyExists", err)
	}
	mustCount(t, bd, 1)
}

func testNaturalKey(t *testing.T, h Harness) {
	if h.Name == adapters.KindLDAP {
		// LDAP entries are anchored by entryUUID/objectGUID, never by a
		// natural key (a renamed entry keeps its anchor).
		t.Skip("ldap: the anchor is entryUUID/objectGUID, never a natural key")
	}
	s, bd := h.New(t, Options{NaturalKey: true})
	ctx := ctxFor(t)
	u := newUser("jane@example.com")
	anchor := mustApply(t, s, u)
	if anchor != "jane@example.com" {
		t.Fatalf("natural key anchor = %q, want the userName", anchor)
	}
	u.Anchor = anchor
	if again := mustApply(t, s, u); again != anchor {
		t.Fatalf("re-apply anchor = %q", again)
	}
	found, err := s.FindUsers(ctx, adapters.MatchUserName, "JANE@example.com")
	if err != nil || len(found) != 1 || found[0].Anchor != anchor {
		t.Fatalf("FindUsers = %+v, %v", found, err)
	}
	// A rename moves the natural key: the anchor follows it.
	u.Attrs = u.Attrs.Clone()
	u.Attrs["userName"] = "jane.doe@example.com"
	renamed := mustApply(t, s, u)
	if renamed != "jane.doe@example.com" {
		t.Fatalf("renamed anchor = %q, want the new userName", renamed)
	}
	mustCount(t, bd, 1)
	checkEntry(t, bd, renamed, expected(u))
	if err := s.RemoveUser(ctx, adapters.User{Anchor: renamed, Attrs: u.Attrs}); err != nil {
		t.Fatal(err)
	}
	checkEntry(t, bd, renamed, expected(withActive(u, false)))
}

func testUnavailable(t *testing.T, h Harness) {
	s := h.Unreachable(t)
	t.Cleanup(func() { _ = s.Close() })
	ctx := ctxFor(t)
	if err := s.Ping(ctx); !errors.Is(err, adapters.ErrUnavailable) {
		t.Errorf("Ping: err = %v, want ErrUnavailable", err)
	}
	if _, err := s.ApplyUser(ctx, newUser("jane@example.com")); !errors.Is(err, adapters.ErrUnavailable) || adapters.IsPermanent(err) {
		t.Errorf("ApplyUser: err = %v, want ErrUnavailable", err)
	}
	if _, err := s.FindUsers(ctx, adapters.MatchUserName, "jane@example.com"); !errors.Is(err, adapters.ErrUnavailable) {
		t.Errorf("FindUsers: err = %v, want ErrUnavailable", err)
	}
	if _, _, err := s.ListUsers(ctx, "", 10); !errors.Is(err, adapters.ErrUnavailable) {
		t.Errorf("ListUsers: err = %v, want ErrUnavailable", err)
	}
	if err := s.RemoveUser(ctx, adapters.User{Anchor: "1"}); !errors.Is(err, adapters.ErrUnavailable) {
		t.Errorf("RemoveUser: err = %v, want ErrUnavailable", err)
	}
}

func testCanceledContext(t *testing.T, h Harness) {
	s, bd := h.New(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.ApplyUser(ctx, newUser("jane@example.com")); !errors.Is(err, adapters.ErrUnavailable) {
		t.Errorf("ApplyUser with a canceled context: err = %v, want ErrUnavailable", err)
	}
	mustCount(t, bd, 0)
}

func testPing(t *testing.T, h Harness) {
	s, _ := h.New(t, Options{})
	if err := s.Ping(ctxFor(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

// SortedKeys is a small helper for harnesses: the keys of m in order.
func SortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// FullUser is a complete desired state for userName, with the enterprise
// department dept: what an IdP's create carries. Batch tests of the stores
// build their users with it.
func FullUser(userName, dept string) adapters.User {
	local, _, _ := strings.Cut(userName, "@")
	return adapters.User{
		ID: "scim-" + local,
		Attrs: scim.Attrs{
			"userName":                userName,
			"name":                    map[string]any{"givenName": "Given " + local, "familyName": "Family " + local},
			"emails":                  []any{map[string]any{"type": "work", "value": "mail." + userName, "primary": true}},
			"externalId":              "ext-" + local,
			scim.SchemaEnterpriseUser: map[string]any{"department": dept},
			"active":                  true,
		},
		Active: true,
	}
}
