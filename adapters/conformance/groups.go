package conformance

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"testing"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/scim"
)

// Fields of the group fixture, as a GroupBackdoor names them. A SQL harness
// uses them as column names; another store kind maps them to its own.
const (
	GroupFieldKey         = "id"
	GroupFieldDisplayName = "display_name"
	GroupFieldExternalID  = "external_id"
	// GroupFieldNote is not mapped: scimbridge must never touch it. It has
	// no default (unset on a new group).
	GroupFieldNote = "note"

	// MembersFieldGroup and MembersFieldUser are the SQL membership
	// table's columns (the group's key, the user's key).
	MembersFieldGroup = "group_id"
	MembersFieldUser  = "user_id"
)

// The group fixture also requires: display_name NOT NULL (or required);
// a membership naming a user that does not exist is refused (a foreign key
// or equivalent).

// GroupMapping is the suite's mapping of SCIM groups onto the fixture, for
// the given groups and membership tables (SQL; empty otherwise, and the
// harness adds its own membership settings).
func GroupMapping(groupsTable, membersTable string) *adapters.GroupMapping {
	m := &adapters.GroupMapping{
		Table: groupsTable,
		Key:   GroupFieldKey,
		Attributes: map[string]string{
			adapters.GroupPathDisplayName: GroupFieldDisplayName,
			adapters.GroupPathExternalID:  GroupFieldExternalID,
		},
	}
	if membersTable != "" {
		m.Members = &adapters.MembersMapping{Table: membersTable, GroupColumn: MembersFieldGroup, UserColumn: MembersFieldUser}
	}
	return m
}

// GroupStore is a store with both users and groups mapped.
type GroupStore interface {
	adapters.Store
	adapters.GroupStore
}

// GroupBackdoor reaches the group side of the store directly, bypassing
// scimbridge.
type GroupBackdoor interface {
	// Get returns the group's fields by anchor (NULL fields absent), and
	// false when there is no such group.
	Get(tb testing.TB, anchor string) (map[string]string, bool)
	// Insert creates a group outside scimbridge and returns its anchor.
	Insert(tb testing.TB, fields map[string]string) string
	// Set writes one field of the group (mapped or not).
	Set(tb testing.TB, anchor, field, value string)
	// Delete removes the group (and its memberships) outside scimbridge.
	Delete(tb testing.TB, anchor string)
	// Count returns the number of groups.
	Count(tb testing.TB) int
	// Members returns the user anchors of the group's members, sorted,
	// one per membership (a duplicated membership shows twice).
	Members(tb testing.TB, groupAnchor string) []string
	// AddMember makes the user a member outside scimbridge.
	AddMember(tb testing.TB, groupAnchor, userAnchor string)
}

// GroupHarness gives the group suite stores of one backend.
type GroupHarness struct {
	// Name is the backend ("postgres", "sqlite", "mysql", "ldap"); the
	// suite's explicit skips name it.
	Name string
	// New returns a fresh, isolated store with users (Mapping with default
	// Options) and groups (GroupMapping) mapped, holding nothing, with the
	// backdoors to its users and its groups. Removed in tb.Cleanup. Two
	// calls in one test are two tenants.
	New func(tb testing.TB) (GroupStore, Backdoor, GroupBackdoor)
	// WithoutGroups returns a store of the same backend whose tenant maps
	// no groups; nil when the backend's stores never implement
	// adapters.GroupStore without a mapping.
	WithoutGroups func(tb testing.TB) adapters.Store
	// Unreachable returns a store with groups mapped whose server cannot
	// be reached.
	Unreachable func(tb testing.TB) GroupStore
}

// RunGroupTests runs every group case against the harness's stores, in
// parallel.
func RunGroupTests(t *testing.T, h GroupHarness) {
	for _, tc := range groupCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, h)
		})
	}
}

type groupCase struct {
	name string
	run  func(t *testing.T, h GroupHarness)
}

var groupCases = []groupCase{
	{"CreateGroup", testCreateGroup},
	{"RenameGroup", testRenameGroup},
	{"SameGroupApplyTwice", testSameGroupApplyTwice},
	{"AbsentGroupAttributeClearsField", testGroupAbsentClears},
	{"AdoptByDisplayName", testAdoptGroup},
	{"AmbiguousDisplayName", testAmbiguousDisplayName},
	{"StaleGroupAnchor", testStaleGroupAnchor},
	{"UnmappedGroupFieldSurvives", testGroupUnmappedSurvives},
	{"RejectedGroupWithoutDisplayName", testGroupRejectedNotNull},
	{"AddMembers", testAddMembers},
	{"RemoveMembers", testRemoveMembers},
	{"RemoveLastMemberAndReAdd", testRemoveLastMember},
	{"MembershipOutsideScimbridge", testExternalMembership},
	{"MemberIsNotAUser", testMemberNotAUser},
	{"MembershipPerGroup", testMembershipPerGroup},
	{"DeleteGroupKeepsUsers", testDeleteGroupKeepsUsers},
	{"RemoveGroupWithoutAnchor", testRemoveGroupWithoutAnchor},
	{"FindGroups", testFindGroups},
	{"ListGroupsPages", testListGroups},
	{"ListMembersPages", testListMembers},
	{"ListEmpty", testGroupListEmpty},
	{"GroupTenantIsolation", testGroupTenantIsolation},
	{"GroupMetacharacters", testGroupMetacharacters},
	{"GroupsNotMapped", testGroupsNotMapped},
	{"GroupsUnavailable", testGroupsUnavailable},
}

// ---- helpers ----

// newGroup is a full desired state for displayName.
func newGroup(displayName string) adapters.Group {
	return adapters.Group{
		ID:    "scim-g-" + displayName,
		Attrs: scim.Attrs{"displayName": displayName, "externalId": "ext-" + displayName},
	}
}

// expectedGroup is what the fixture should hold for g.
func expectedGroup(g adapters.Group) map[string]string {
	want := map[string]string{}
	if s, ok := g.Attrs["displayName"].(string); ok {
		want[GroupFieldDisplayName] = s
	}
	if s, ok := g.Attrs["externalId"].(string); ok {
		want[GroupFieldExternalID] = s
	}
	return want
}

// checkGroup compares the group's mapped and unmapped fields with want.
func checkGroup(t *testing.T, gb GroupBackdoor, anchor string, want map[string]string) {
	t.Helper()
	got, ok := gb.Get(t, anchor)
	if !ok {
		t.Fatalf("group %q does not exist", anchor)
	}
	for _, f := range []string{GroupFieldDisplayName, GroupFieldExternalID, GroupFieldNote} {
		g, gok := got[f]
		w, wok := want[f]
		if gok != wok || g != w {
			t.Errorf("group %q field %s = %q (set %v), want %q (set %v)", anchor, f, g, gok, w, wok)
		}
	}
}

func mustApplyGroup(t *testing.T, s adapters.GroupStore, g adapters.Group) string {
	t.Helper()
	anchor, err := s.ApplyGroup(ctxFor(t), g)
	if err != nil {
		t.Fatalf("ApplyGroup(%v): %v", g.Attrs["displayName"], err)
	}
	if anchor == "" {
		t.Fatalf("ApplyGroup(%v) returned an empty anchor", g.Attrs["displayName"])
	}
	return anchor
}

func mustGroupCount(t *testing.T, gb GroupBackdoor, want int) {
	t.Helper()
	if got := gb.Count(t); got != want {
		t.Fatalf("store holds %d groups, want %d", got, want)
	}
}

// makeUsers applies n users named prefix00..prefixNN and returns their
// anchors in order.
func makeUsers(t *testing.T, s adapters.Store, prefix string, n int) []string {
	t.Helper()
	anchors := make([]string, n)
	for i := range anchors {
		anchors[i] = mustApply(t, s, newUser(fmt.Sprintf("%s%02d@example.com", prefix, i)))
	}
	return anchors
}

func mustAdd(t *testing.T, s adapters.GroupStore, group string, users ...string) {
	t.Helper()
	if err := s.AddMembers(ctxFor(t), group, users); err != nil {
		t.Fatalf("AddMembers(%q, %v): %v", group, users, err)
	}
}

func mustRemove(t *testing.T, s adapters.GroupStore, group string, users ...string) {
	t.Helper()
	if err := s.RemoveMembers(ctxFor(t), group, users); err != nil {
		t.Fatalf("RemoveMembers(%q, %v): %v", group, users, err)
	}
}

// checkMembers compares the group's memberships (as the backdoor sees
// them, duplicates included) with want.
func checkMembers(t *testing.T, gb GroupBackdoor, group string, want ...string) {
	t.Helper()
	got := gb.Members(t, group)
	want = slices.Clone(want)
	sort.Strings(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("group %q members = %v, want %v", group, got, want)
	}
}

// allMembers pages through ListMembers with limit and returns every
// member, in the store's order.
func allMembers(t *testing.T, s adapters.GroupStore, group string, limit int) []string {
	t.Helper()
	var out []string
	cursor := ""
	for page := 0; ; page++ {
		if page > 1000 {
			t.Fatal("ListMembers never ends")
		}
		members, next, err := s.ListMembers(ctxFor(t), group, cursor, limit)
		if err != nil {
			t.Fatalf("ListMembers page %d: %v", page, err)
		}
		if len(members) > limit {
			t.Fatalf("ListMembers page %d has %d members, limit %d", page, len(members), limit)
		}
		out = append(out, members...)
		if next == "" {
			return out
		}
		cursor = next
	}
}

// ---- cases ----

func testCreateGroup(t *testing.T, h GroupHarness) {
	s, _, gb := h.New(t)
	g := newGroup("Engineering")
	anchor := mustApplyGroup(t, s, g)
	mustGroupCount(t, gb, 1)
	checkGroup(t, gb, anchor, expectedGroup(g))
	checkMembers(t, gb, anchor)
	if members, next, err := s.ListMembers(ctxFor(t), anchor, "", 10); err != nil || len(members) != 0 || next != "" {
		t.Fatalf("ListMembers of a new group = %v, %q, %v", members, next, err)
	}
}

func testRenameGroup(t *testing.T, h GroupHarness) {
	s, _, gb := h.New(t)
	users := makeUsers(t, s, "member", 2)
	g := newGroup("Engineering")
	g.Anchor = mustApplyGroup(t, s, g)
	mustAdd(t, s, g.Anchor, users...)

	g.Attrs = g.Attrs.Clone()
	g.Attrs["displayName"] = "Platform Engineering"
	g.Attrs["externalId"] = "okta-00g1"
	if got := mustApplyGroup(t, s, g); got != g.Anchor {
		t.Fatalf("rename changed the anchor: %q -> %q", g.Anchor, got)
	}
	mustGroupCount(t, gb, 1)
	checkGroup(t, gb, g.Anchor, expectedGroup(g))
	// Members are not part of an apply: the rename keeps them.
	checkMembers(t, gb, g.Anchor, users...)
}

func testSameGroupApplyTwice(t *testing.T, h GroupHarness) {
	s, _, gb := h.New(t)
	users := makeUsers(t, s, "member", 1)
	g := newGroup("Engineering")
	anchor := mustApplyGroup(t, s, g)
	mustAdd(t, s, anchor, users...)
	before, _ := gb.Get(t, anchor)
	g.Anchor = anchor
	for i := 0; i < 2; i++ {
		if got := mustApplyGroup(t, s, g); got != anchor {
			t.Fatalf("apply #%d returned anchor %q, want %q", i+2, got, anchor)
		}
	}
	mustGroupCount(t, gb, 1)
	after, _ := gb.Get(t, anchor)
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatalf("group changed by a repeated apply:\nbefore %v\nafter  %v", before, after)
	}
	checkMembers(t, gb, anchor, users...)
	// The same membership change twice is a no-op as well.
	mustAdd(t, s, anchor, users...)
	checkMembers(t, gb, anchor, users...)
}

func testGroupAbsentClears(t *testing.T, h GroupHarness) {
	s, _, gb := h.New(t)
	g := newGroup("Engineering")
	g.Anchor = mustApplyGroup(t, s, g)
	g.Attrs = g.Attrs.Clone()
	delete(g.Attrs, "externalId")
	mustApplyGroup(t, s, g)
	checkGroup(t, gb, g.Anchor, expectedGroup(g))
}

func testAdoptGroup(t *testing.T, h GroupHarness) {
	s, _, gb := h.New(t)
	// The customer's application made the group; Okta pushes a group of
	// the same name in another case.
	outside := gb.Insert(t, map[string]string{GroupFieldDisplayName: "engineering", GroupFieldNote: "made by hand"})
	g := newGroup("Engineering")
	if got := mustApplyGroup(t, s, g); got != outside {
		t.Fatalf("apply adopted %q, want the existing group %q", got, outside)
	}
	mustGroupCount(t, gb, 1)
	want := expectedGroup(g)
	want[GroupFieldNote] = "made by hand"
	checkGroup(t, gb, outside, want)
}

func testAmbiguousDisplayName(t *testing.T, h GroupHarness) {
	if h.Name == adapters.KindLDAP {
		// LDAP group names are RDN values, compared case-insensitively by
		// the directory: two groups differing only in case cannot exist.
		t.Skip("ldap: the directory refuses two group names differing in case")
	}
	s, _, gb := h.New(t)
	gb.Insert(t, map[string]string{GroupFieldDisplayName: "engineering"})
	gb.Insert(t, map[string]string{GroupFieldDisplayName: "ENGINEERING"})
	_, err := s.ApplyGroup(ctxFor(t), newGroup("Engineering"))
	if !errors.Is(err, adapters.ErrAlreadyExists) || !adapters.IsPermanent(err) {
		t.Fatalf("apply matching two groups: err = %v, want a permanent ErrAlreadyExists", err)
	}
	mustGroupCount(t, gb, 2)
}

func testStaleGroupAnchor(t *testing.T, h GroupHarness) {
	s, _, gb := h.New(t)
	g := newGroup("Engineering")
	g.Anchor = mustApplyGroup(t, s, g)
	gb.Delete(t, g.Anchor)
	anchor := mustApplyGroup(t, s, g)
	mustGroupCount(t, gb, 1)
	checkGroup(t, gb, anchor, expectedGroup(g))
}

func testGroupUnmappedSurvives(t *testing.T, h GroupHarness) {
	s, _, gb := h.New(t)
	g := newGroup("Engineering")
	g.Anchor = mustApplyGroup(t, s, g)
	gb.Set(t, g.Anchor, GroupFieldNote, "cost centre 42")
	g.Attrs = g.Attrs.Clone()
	g.Attrs["displayName"] = "Eng"
	mustApplyGroup(t, s, g)
	want := expectedGroup(g)
	want[GroupFieldNote] = "cost centre 42"
	checkGroup(t, gb, g.Anchor, want)
}

func testGroupRejectedNotNull(t *testing.T, h GroupHarness) {
	s, _, gb := h.New(t)
	g := adapters.Group{ID: "g1", Attrs: scim.Attrs{"externalId": "no-name"}}
	if _, err := s.ApplyGroup(ctxFor(t), g); !errors.Is(err, adapters.ErrRejected) || !adapters.IsPermanent(err) {
		t.Fatalf("group without displayName: err = %v, want ErrRejected", err)
	}
	mustGroupCount(t, gb, 0)
}

func testAddMembers(t *testing.T, h GroupHarness) {
	s, bd, gb := h.New(t)
	u := makeUsers(t, s, "member", 4)
	group := mustApplyGroup(t, s, newGroup("Engineering"))

	mustAdd(t, s, group, u[0], u[1])
	checkMembers(t, gb, group, u[0], u[1])
	// Some already present: fine, no duplicate.
	mustAdd(t, s, group, u[1], u[2], u[2])
	checkMembers(t, gb, group, u[0], u[1], u[2])
	// Nothing to add: fine.
	mustAdd(t, s, group)
	checkMembers(t, gb, group, u[0], u[1], u[2])
	// Members are users, untouched by membership.
	mustCount(t, bd, 4)
	checkEntry(t, bd, u[3], expected(newUser("member03@example.com")))
}

func testRemoveMembers(t *testing.T, h GroupHarness) {
	s, bd, gb := h.New(t)
	u := makeUsers(t, s, "member", 4)
	group := mustApplyGroup(t, s, newGroup("Engineering"))
	mustAdd(t, s, group, u[0], u[1], u[2])

	// u[3] is not a member: fine.
	mustRemove(t, s, group, u[0], u[3])
	checkMembers(t, gb, group, u[1], u[2])
	// All absent: fine.
	mustRemove(t, s, group, u[0], u[3])
	checkMembers(t, gb, group, u[1], u[2])
	mustRemove(t, s, group)
	checkMembers(t, gb, group, u[1], u[2])
	mustCount(t, bd, 4)
}

func testRemoveLastMember(t *testing.T, h GroupHarness) {
	s, _, gb := h.New(t)
	u := makeUsers(t, s, "member", 1)
	g := newGroup("Engineering")
	group := mustApplyGroup(t, s, g)
	mustAdd(t, s, group, u[0])
	mustRemove(t, s, group, u[0])
	checkMembers(t, gb, group)
	if members, _, err := s.ListMembers(ctxFor(t), group, "", 10); err != nil || len(members) != 0 {
		t.Fatalf("ListMembers after removing the last member = %v, %v", members, err)
	}
	// The group itself stays.
	mustGroupCount(t, gb, 1)
	checkGroup(t, gb, group, expectedGroup(g))
	// Removing it again is fine; re-adding works.
	mustRemove(t, s, group, u[0])
	mustAdd(t, s, group, u[0])
	checkMembers(t, gb, group, u[0])
}

func testExternalMembership(t *testing.T, h GroupHarness) {
	s, bd, gb := h.New(t)
	// The customer's application made the user, the group and the
	// membership.
	user := bd.Insert(t, map[string]string{FieldUserName: "legacy@example.com"})
	group := gb.Insert(t, map[string]string{GroupFieldDisplayName: "Legacy"})
	gb.AddMember(t, group, user)

	if members := allMembers(t, s, group, 10); fmt.Sprint(members) != fmt.Sprint([]string{user}) {
		t.Fatalf("ListMembers = %v, want [%s]", members, user)
	}
	// Adding it again does not duplicate it.
	mustAdd(t, s, group, user)
	checkMembers(t, gb, group, user)
	mustRemove(t, s, group, user)
	checkMembers(t, gb, group)
}

func testMemberNotAUser(t *testing.T, h GroupHarness) {
	s, bd, gb := h.New(t)
	u := makeUsers(t, s, "member", 2)
	group := mustApplyGroup(t, s, newGroup("Engineering"))
	mustAdd(t, s, group, u[0])
	// A user deleted outside scimbridge (its anchor is stale).
	bd.Delete(t, u[1])
	err := s.AddMembers(ctxFor(t), group, []string{u[1]})
	if !errors.Is(err, adapters.ErrRejected) || !adapters.IsPermanent(err) {
		t.Fatalf("AddMembers of a missing user: err = %v, want ErrRejected", err)
	}
	checkMembers(t, gb, group, u[0])
}

func testMembershipPerGroup(t *testing.T, h GroupHarness) {
	s, _, gb := h.New(t)
	u := makeUsers(t, s, "member", 2)
	eng := mustApplyGroup(t, s, newGroup("Engineering"))
	ops := mustApplyGroup(t, s, newGroup("Operations"))
	mustAdd(t, s, eng, u[0], u[1])
	mustAdd(t, s, ops, u[0])
	mustRemove(t, s, eng, u[0])
	checkMembers(t, gb, eng, u[1])
	checkMembers(t, gb, ops, u[0])
}

func testDeleteGroupKeepsUsers(t *testing.T, h GroupHarness) {
	s, bd, gb := h.New(t)
	u := makeUsers(t, s, "member", 2)
	g := newGroup("Engineering")
	g.Anchor = mustApplyGroup(t, s, g)
	other := mustApplyGroup(t, s, newGroup("Operations"))
	mustAdd(t, s, g.Anchor, u...)
	mustAdd(t, s, other, u[0])

	if err := s.RemoveGroup(ctxFor(t), g); err != nil {
		t.Fatalf("RemoveGroup: %v", err)
	}
	if _, ok := gb.Get(t, g.Anchor); ok {
		t.Fatal("group still exists after RemoveGroup")
	}
	mustGroupCount(t, gb, 1)
	checkMembers(t, gb, g.Anchor)
	checkMembers(t, gb, other, u[0])
	// The member users stay as they were.
	mustCount(t, bd, 2)
	checkEntry(t, bd, u[0], expected(newUser("member00@example.com")))
	checkEntry(t, bd, u[1], expected(newUser("member01@example.com")))
	// A missing group is success.
	if err := s.RemoveGroup(ctxFor(t), g); err != nil {
		t.Fatalf("second RemoveGroup: %v", err)
	}
	mustGroupCount(t, gb, 1)
}

func testRemoveGroupWithoutAnchor(t *testing.T, h GroupHarness) {
	// A crash after the insert but before the anchor was recorded: the
	// remove still reaches the group the apply would adopt.
	s, _, gb := h.New(t)
	g := newGroup("Engineering")
	anchor := mustApplyGroup(t, s, g)
	keep := mustApplyGroup(t, s, newGroup("Operations"))
	if err := s.RemoveGroup(ctxFor(t), newGroup("ENGINEERING")); err != nil {
		t.Fatalf("RemoveGroup without anchor: %v", err)
	}
	if _, ok := gb.Get(t, anchor); ok {
		t.Fatal("group still exists")
	}
	checkGroup(t, gb, keep, expectedGroup(newGroup("Operations")))
	if err := s.RemoveGroup(ctxFor(t), newGroup("Nobody")); err != nil {
		t.Fatalf("RemoveGroup of an unknown group: %v", err)
	}
	mustGroupCount(t, gb, 1)
}

func testFindGroups(t *testing.T, h GroupHarness) {
	s, _, _ := h.New(t)
	ctx := ctxFor(t)
	eng := mustApplyGroup(t, s, newGroup("Engineering"))
	mustApplyGroup(t, s, newGroup("Engineering Leads"))

	for _, v := range []string{"Engineering", "engineering", "ENGINEERING"} {
		found, err := s.FindGroups(ctx, adapters.MatchDisplayName, v)
		if err != nil || len(found) != 1 || found[0].Anchor != eng {
			t.Fatalf("FindGroups(displayName, %q) = %+v, %v", v, found, err)
		}
		if found[0].Attrs["displayName"] != "Engineering" || found[0].Attrs["externalId"] != "ext-Engineering" {
			t.Errorf("found attrs = %v", found[0].Attrs)
		}
		if _, ok := found[0].Attrs["members"]; ok {
			t.Errorf("FindGroups returned members: %v", found[0].Attrs)
		}
	}
	found, err := s.FindGroups(ctx, adapters.MatchExternalID, "ext-Engineering")
	if err != nil || len(found) != 1 || found[0].Anchor != eng {
		t.Fatalf("FindGroups(externalId) = %+v, %v", found, err)
	}
	// externalId is case-sensitive.
	if found, err := s.FindGroups(ctx, adapters.MatchExternalID, "EXT-ENGINEERING"); err != nil || len(found) != 0 {
		t.Errorf("FindGroups(externalId, upper case) = %+v, %v; want nothing", found, err)
	}
	// No prefix or pattern matching.
	for _, v := range []string{"Engineer", "Engineering%", "_ngineering", "%", "Engineering "} {
		if found, err := s.FindGroups(ctx, adapters.MatchDisplayName, v); err != nil || len(found) != 0 {
			t.Errorf("FindGroups(displayName, %q) = %+v, %v; want nothing", v, found, err)
		}
	}
	// An attribute groups do not answer returns nothing.
	if found, err := s.FindGroups(ctx, adapters.MatchUserName, "Engineering"); err != nil || len(found) != 0 {
		t.Errorf("FindGroups(userName) = %+v, %v; want nothing", found, err)
	}
}

func testListGroups(t *testing.T, h GroupHarness) {
	s, _, gb := h.New(t)
	want := map[string]string{}
	for i := 0; i < 24; i++ {
		name := fmt.Sprintf("Group %02d", i)
		want[mustApplyGroup(t, s, newGroup(name))] = name
	}
	// A group the customer made outside scimbridge is listed too.
	outside := gb.Insert(t, map[string]string{GroupFieldDisplayName: "Outside"})
	want[outside] = "Outside"

	checkPagedListing(t, "ListGroups", want, s.ListGroups, func(e adapters.GroupEntry) (string, any) {
		return e.Anchor, e.Attrs["displayName"]
	})
}

func testListMembers(t *testing.T, h GroupHarness) {
	s, _, gb := h.New(t)
	ctx := ctxFor(t)
	users := makeUsers(t, s, "member", 25)
	group := mustApplyGroup(t, s, newGroup("Engineering"))
	other := mustApplyGroup(t, s, newGroup("Operations"))
	// Added in two calls, in an order unlike the store's.
	mustAdd(t, s, group, users[13:]...)
	mustAdd(t, s, group, users[:13]...)
	mustAdd(t, s, other, users[0])

	list := func() []string {
		var members []string
		cursor := ""
		for page := 0; ; page++ {
			if page > 10 {
				t.Fatal("ListMembers never ends")
			}
			got, next, err := s.ListMembers(ctx, group, cursor, 10)
			if err != nil {
				t.Fatalf("ListMembers page %d: %v", page, err)
			}
			if wantLen := min(10, 25-10*page); len(got) != wantLen {
				t.Fatalf("page %d has %d members, want %d", page, len(got), wantLen)
			}
			members = append(members, got...)
			if next == "" {
				return members
			}
			cursor = next
		}
	}
	first := list()
	got := slices.Clone(first)
	sort.Strings(got)
	want := slices.Clone(users)
	sort.Strings(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ListMembers listed %v, want %v", got, want)
	}
	if second := list(); fmt.Sprint(second) != fmt.Sprint(first) {
		t.Errorf("order not stable:\n%v\n%v", first, second)
	}
	if _, _, err := s.ListMembers(ctx, group, "not a cursor!", 10); err == nil {
		t.Error("a malformed cursor was accepted")
	}
	checkMembers(t, gb, other, users[0])
}

func testGroupListEmpty(t *testing.T, h GroupHarness) {
	s, _, _ := h.New(t)
	ctx := ctxFor(t)
	entries, next, err := s.ListGroups(ctx, "", 10)
	if err != nil || len(entries) != 0 || next != "" {
		t.Fatalf("ListGroups on an empty store = %v, %q, %v", entries, next, err)
	}
	group := mustApplyGroup(t, s, newGroup("Empty"))
	members, next, err := s.ListMembers(ctx, group, "", 10)
	if err != nil || len(members) != 0 || next != "" {
		t.Fatalf("ListMembers of an empty group = %v, %q, %v", members, next, err)
	}
}

func testGroupTenantIsolation(t *testing.T, h GroupHarness) {
	a, _, gbA := h.New(t)
	b, _, gbB := h.New(t)
	ctx := ctxFor(t)
	usersA := makeUsers(t, a, "member", 2)
	g := newGroup("Engineering")
	anchorA := mustApplyGroup(t, a, g)
	mustAdd(t, a, anchorA, usersA...)

	if found, err := b.FindGroups(ctx, adapters.MatchDisplayName, "Engineering"); err != nil || len(found) != 0 {
		t.Fatalf("tenant B finds tenant A's group: %+v, %v", found, err)
	}
	if found, err := b.FindGroups(ctx, adapters.MatchExternalID, "ext-Engineering"); err != nil || len(found) != 0 {
		t.Fatalf("tenant B finds tenant A's group by externalId: %+v, %v", found, err)
	}
	if entries, _, err := b.ListGroups(ctx, "", 10); err != nil || len(entries) != 0 {
		t.Fatalf("tenant B lists tenant A's groups: %+v, %v", entries, err)
	}
	if members, _, err := b.ListMembers(ctx, anchorA, "", 10); err != nil || len(members) != 0 {
		t.Fatalf("tenant B lists tenant A's members: %v, %v", members, err)
	}
	// B's removals with A's anchors do not reach A.
	_ = b.RemoveMembers(ctx, anchorA, usersA)
	g.Anchor = anchorA
	if err := b.RemoveGroup(ctx, g); err != nil {
		t.Fatalf("tenant B RemoveGroup: %v", err)
	}
	checkGroup(t, gbA, anchorA, expectedGroup(newGroup("Engineering")))
	checkMembers(t, gbA, anchorA, usersA...)
	// B applying the same group (even with A's anchor) makes B's own.
	mustApplyGroup(t, b, g)
	mustGroupCount(t, gbA, 1)
	mustGroupCount(t, gbB, 1)
}

func testGroupMetacharacters(t *testing.T, h GroupHarness) {
	s, _, gb := h.New(t)
	ctx := ctxFor(t)
	values := []string{
		`O'Brien's team`,
		`Robert"); DROP TABLE groups; --`,
		`back\slash\\n`,
		"percent%_under",
		"zoë 日本語 🙂",
		"*)(cn=*",
		"a,ou=admins",
		"`backtick` $1 ? :name",
	}
	for _, v := range values {
		g := newGroup(v)
		anchor := mustApplyGroup(t, s, g)
		checkGroup(t, gb, anchor, expectedGroup(g))
		found, err := s.FindGroups(ctx, adapters.MatchDisplayName, v)
		if err != nil || len(found) != 1 || found[0].Anchor != anchor {
			t.Fatalf("FindGroups(%q) = %+v, %v", v, found, err)
		}
		if found[0].Attrs["displayName"] != v {
			t.Errorf("displayName read back as %q, want %q", found[0].Attrs["displayName"], v)
		}
		g.Anchor = anchor
		if again := mustApplyGroup(t, s, g); again != anchor {
			t.Errorf("re-apply of %q gave anchor %q, want %q", v, again, anchor)
		}
	}
	mustGroupCount(t, gb, len(values))
}

func testGroupsNotMapped(t *testing.T, h GroupHarness) {
	if h.WithoutGroups == nil {
		t.Skip(h.Name + ": the harness has no store without a group mapping")
	}
	s := h.WithoutGroups(t)
	gs, ok := s.(adapters.GroupStore)
	if !ok {
		return // not implementing GroupStore is the other correct answer
	}
	ctx := ctxFor(t)
	checks := map[string]error{}
	_, checks["ApplyGroup"] = gs.ApplyGroup(ctx, newGroup("Engineering"))
	checks["RemoveGroup"] = gs.RemoveGroup(ctx, adapters.Group{Anchor: "1"})
	checks["AddMembers"] = gs.AddMembers(ctx, "1", []string{"1"})
	checks["RemoveMembers"] = gs.RemoveMembers(ctx, "1", []string{"1"})
	_, checks["FindGroups"] = gs.FindGroups(ctx, adapters.MatchDisplayName, "x")
	_, _, checks["ListGroups"] = gs.ListGroups(ctx, "", 10)
	_, _, checks["ListMembers"] = gs.ListMembers(ctx, "1", "", 10)
	for name, err := range checks {
		if !errors.Is(err, adapters.ErrConfig) {
			t.Errorf("%s without a group mapping: err = %v, want ErrConfig", name, err)
		}
	}
}

func testGroupsUnavailable(t *testing.T, h GroupHarness) {
	s := h.Unreachable(t)
	t.Cleanup(func() { _ = s.Close() })
	ctx := ctxFor(t)
	checks := map[string]error{}
	_, checks["ApplyGroup"] = s.ApplyGroup(ctx, newGroup("Engineering"))
	checks["RemoveGroup"] = s.RemoveGroup(ctx, adapters.Group{Anchor: "1"})
	checks["AddMembers"] = s.AddMembers(ctx, "1", []string{"1"})
	checks["RemoveMembers"] = s.RemoveMembers(ctx, "1", []string{"1"})
	_, checks["FindGroups"] = s.FindGroups(ctx, adapters.MatchDisplayName, "x")
	_, _, checks["ListGroups"] = s.ListGroups(ctx, "", 10)
	_, _, checks["ListMembers"] = s.ListMembers(ctx, "1", "", 10)
	for name, err := range checks {
		if !errors.Is(err, adapters.ErrUnavailable) || adapters.IsPermanent(err) {
			t.Errorf("%s on an unreachable store: err = %v, want ErrUnavailable", name, err)
		}
	}
}
