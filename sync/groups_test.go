package sync

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/scimbridge/scimbridge/queue"
	"github.com/scimbridge/scimbridge/scim"
)

// ledgerOnly says no tenant maps groups to its store.
type ledgerOnly struct{}

func (ledgerOnly) GroupsMapped(context.Context, string) (bool, error) { return false, nil }

func groupBundle(t *testing.T) (*Service, *Reconciler, *recordingEnqueuer, string) {
	t.Helper()
	rdb := testRedis(t)
	tenant := testTenant(t, rdb)
	l := NewLedger(rdb, nil)
	enq := &recordingEnqueuer{}
	return &Service{Ledger: l, Enqueuer: enq, Groups: ledgerOnly{}},
		&Reconciler{Ledger: l, Groups: ledgerOnly{}, LeaseTTL: testLeaseTTL, StoreTimeout: testStoreTimeout}, enq, tenant
}

// someUsers creates n users and returns their ids.
func someUsers(t *testing.T, s *Service, tenant string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		r, err := s.Ledger.CreateUser(context.Background(), tenant, Uniqueness{}, scim.Attrs{"userName": fmt.Sprintf("u%d@x.io", i)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = r.ID
	}
	return ids
}

func pending(t *testing.T, s *Service, tenant, id string) map[string]string {
	t.Helper()
	p, err := s.Ledger.pendingMembers(context.Background(), tenant, id)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestGroupMembershipIsIncremental(t *testing.T) {
	t.Parallel()
	s, rc, enq, tenant := groupBundle(t)
	ctx := context.Background()
	u := someUsers(t, s, tenant, 4)

	g, err := s.CreateGroup(ctx, tenant, scim.Attrs{"displayName": "Engineering"}, []string{u[0], u[1]})
	if err != nil {
		t.Fatal(err)
	}
	if p := pending(t, s, tenant, g.ID); len(p) != 2 || p[u[0]][0] != '+' {
		t.Fatalf("pending after create = %v", p)
	}
	// An unknown member is left out; the rest is written.
	other, err := s.CreateGroup(ctx, tenant, scim.Attrs{"displayName": "Other"}, []string{"no-such-user", u[3]})
	if err != nil {
		t.Fatalf("unknown member: %v", err)
	}
	if m, _ := s.GroupMembers(ctx, tenant, other.ID); fmt.Sprint(m) != fmt.Sprint([]string{u[3]}) ||
		other.Dropped.Count != 1 || other.Dropped.IDs[0] != "no-such-user" || other.Dropped.Version != 1 {
		t.Fatalf("create with an unknown member: members %v, dropped %+v", m, other.Dropped)
	}
	// displayName is unique, case-insensitively.
	if _, err := s.CreateGroup(ctx, tenant, scim.Attrs{"displayName": "ENGINEERING"}, nil); !errors.Is(err, ErrUniqueness) {
		t.Fatalf("duplicate displayName: %v", err)
	}

	// Apply (ledger-only tenant): pending cleared, applied.
	for _, task := range enq.take() {
		if task.Kind != queue.KindGroup {
			continue
		}
		if err := rc.ReconcileGroup(ctx, task.Tenant, task.ID); err != nil {
			t.Fatal(err)
		}
	}
	if p := pending(t, s, tenant, g.ID); len(p) != 0 {
		t.Fatalf("pending after apply = %v", p)
	}

	// Okta's mixed PATCH: rename carrying the read-only id, one removal,
	// one addition (re-adding a present member is fine).
	body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
		{"op":"replace","value":{"id":%q,"displayName":"Eng"}},
		{"op":"remove","path":"members[value eq \"%s\"]"},
		{"op":"add","path":"members","value":[{"value":%q,"display":"x"},{"value":%q}]}]}`, g.ID, u[0], u[2], u[1])
	p, err := scim.ParsePatch([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	g2, err := s.PatchGroup(ctx, tenant, g.ID, p, 0)
	if err != nil {
		t.Fatal(err)
	}
	if g2.Attrs["displayName"] != "Eng" || g2.Version != 2 {
		t.Fatalf("after patch: %+v", g2)
	}
	pend := pending(t, s, tenant, g.ID)
	if len(pend) != 2 || pend[u[0]][0] != '-' || pend[u[2]][0] != '+' {
		t.Fatalf("pending after patch = %v, want exactly -u0 +u2", pend)
	}
	members, _ := s.GroupMembers(ctx, tenant, g.ID)
	if fmt.Sprint(members) != fmt.Sprint(sorted(u[1], u[2])) {
		t.Fatalf("members = %v", members)
	}
	// Entra's Remove with a value list removes just those.
	p, _ = scim.ParsePatch([]byte(fmt.Sprintf(`{"Operations":[{"op":"Remove","path":"members","value":[{"value":%q}]}]}`, u[2])))
	if _, err := s.PatchGroup(ctx, tenant, g.ID, p, 0); err != nil {
		t.Fatal(err)
	}
	members, _ = s.GroupMembers(ctx, tenant, g.ID)
	if fmt.Sprint(members) != fmt.Sprint([]string{u[1]}) {
		t.Fatalf("members after Entra remove = %v", members)
	}
	// PUT replaces the list: u1 goes, u3 comes.
	if _, err := s.ReplaceGroup(ctx, tenant, g.ID, scim.Attrs{"displayName": "Eng"}, []string{u[3]}, 0); err != nil {
		t.Fatal(err)
	}
	if pend := pending(t, s, tenant, g.ID); pend[u[1]][0] != '-' || pend[u[3]][0] != '+' {
		t.Fatalf("pending after replace = %v", pend)
	}
	// Lookup by displayName and delete.
	page, err := s.SearchGroups(ctx, tenant, Query{Filter: mustFilter(t, `displayName eq "eng"`), StartIndex: 1, Count: 10, WithMembers: true})
	if err != nil || page.Total != 1 || fmt.Sprint(page.Members[g.ID]) != fmt.Sprint([]string{u[3]}) {
		t.Fatalf("search: %+v %v", page, err)
	}
	if err := s.DeleteGroup(ctx, tenant, g.ID, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetGroup(ctx, tenant, g.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted group: %v", err)
	}
	if _, err := s.CreateGroup(ctx, tenant, scim.Attrs{"displayName": "Eng"}, nil); err != nil {
		t.Fatalf("name of a deleted group not reusable: %v", err)
	}
}

func TestGroupApplyClearsOnlyWhatItApplied(t *testing.T) {
	t.Parallel()
	s, _, _, tenant := groupBundle(t)
	ctx := context.Background()
	u := someUsers(t, s, tenant, 2)
	g, _ := s.CreateGroup(ctx, tenant, scim.Attrs{"displayName": "G"}, []string{u[0]})
	snapshot := pending(t, s, tenant, g.ID)
	// A removal and re-add of u0 lands while the apply of the snapshot runs.
	p, _ := scim.ParsePatch([]byte(fmt.Sprintf(`{"Operations":[{"op":"remove","path":"members[value eq \"%s\"]"}]}`, u[0])))
	if _, err := s.PatchGroup(ctx, tenant, g.ID, p, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Ledger.markGroupApplied(ctx, tenant, g.ID, g.Version, "anchor-1", snapshot); err != nil {
		t.Fatal(err)
	}
	pend := pending(t, s, tenant, g.ID)
	if len(pend) != 1 || pend[u[0]][0] != '-' {
		t.Fatalf("a newer change was lost: %v", pend)
	}
	r, _ := s.GetGroup(ctx, tenant, g.ID)
	if r.State() == StateApplied {
		t.Fatal("group marked applied with a change pending")
	}
}

func mustFilter(t *testing.T, s string) *scim.Filter {
	t.Helper()
	f, err := scim.ParseFilter(s)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func sorted(s ...string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// BenchmarkPatchOneMemberLargeGroup measures a PATCH adding one member to
// a group of `size` members: it must not depend on the size.
func BenchmarkPatchOneMemberLargeGroup(b *testing.B) {
	for _, size := range []int{10, 50000} {
		b.Run(fmt.Sprintf("members=%d", size), func(b *testing.B) {
			rdb := testRedis(b)
			tenant := testTenant(b, rdb)
			s := &Service{Ledger: NewLedger(rdb, nil)}
			ctx := context.Background()
			// Users exist as far as membership checks go (the live-users set).
			ids := make([]string, size+b.N)
			pipe := rdb.Pipeline()
			for i := range ids {
				ids[i] = newID()
				pipe.ZAdd(ctx, userKeys(tenant).all(), redis.Z{Score: float64(i), Member: ids[i]})
			}
			if _, err := pipe.Exec(ctx); err != nil {
				b.Fatal(err)
			}
			g, err := s.CreateGroup(ctx, tenant, scim.Attrs{"displayName": "Big"}, ids[:size])
			if err != nil {
				b.Fatal(err)
			}
			rdb.Del(ctx, groupKeys(tenant).pending(g.ID)) // as if applied
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p, _ := scim.ParsePatch([]byte(fmt.Sprintf(`{"Operations":[{"op":"add","path":"members","value":[{"value":%q}]}]}`, ids[size+i])))
				if _, err := s.PatchGroup(ctx, tenant, g.ID, p, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A membership-only PATCH is recorded without reading the group: the
// version moves, attributes and indexes stay, exactly the named members
// change, and the refusals are the general path's (404 for a missing group,
// 412 for a stale If-Match); an unknown member is left out.
func TestGroupMembersOnlyPatch(t *testing.T) {
	t.Parallel()
	s, _, _, tenant := groupBundle(t)
	ctx := context.Background()
	u := someUsers(t, s, tenant, 3)
	g, err := s.CreateGroup(ctx, tenant, scim.Attrs{"displayName": "Sales", "externalId": "ext-1"}, []string{u[0]})
	if err != nil {
		t.Fatal(err)
	}
	mustPatch := func(body string) *scim.Patch {
		t.Helper()
		p, err := scim.ParsePatch([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	add := mustPatch(fmt.Sprintf(`{"Operations":[{"op":"add","path":"members","value":[{"value":%q}]}]}`, u[1]))
	g2, err := s.PatchGroup(ctx, tenant, g.ID, add, 0)
	if err != nil {
		t.Fatal(err)
	}
	if g2.Version != g.Version+1 || g2.Attrs["displayName"] != "Sales" || g2.Attrs["externalId"] != "ext-1" {
		t.Fatalf("after a members-only patch: %+v", g2)
	}
	if p := pending(t, s, tenant, g.ID); len(p) != 2 || p[u[1]][0] != '+' {
		t.Fatalf("pending = %v, want u0 (create) and +u1", p)
	}
	for _, f := range []string{`displayName eq "sales"`, `externalId eq "ext-1"`} {
		page, err := s.SearchGroups(ctx, tenant, Query{Filter: mustFilter(t, f), StartIndex: 1, Count: 10})
		if err != nil || page.Total != 1 {
			t.Fatalf("%s after a members-only patch: %+v %v", f, page, err)
		}
	}
	// Okta's removal by filter, with the version it read.
	rm := mustPatch(fmt.Sprintf(`{"Operations":[{"op":"remove","path":"members[value eq \"%s\"]"}]}`, u[0]))
	if _, err := s.PatchGroup(ctx, tenant, g.ID, rm, g.Version); !errors.Is(err, ErrVersionMismatch) {
		t.Fatalf("stale If-Match: %v", err)
	}
	if _, err := s.PatchGroup(ctx, tenant, g.ID, rm, g2.Version); err != nil {
		t.Fatalf("current If-Match: %v", err)
	}
	if m, _ := s.GroupMembers(ctx, tenant, g.ID); fmt.Sprint(m) != fmt.Sprint([]string{u[1]}) {
		t.Fatalf("members = %v, want [u1]", m)
	}
	if _, err := s.PatchGroup(ctx, tenant, "no-such-group", add, 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing group: %v", err)
	}
	// An unknown member is left out, the patch is not refused.
	stale := mustPatch(`{"Operations":[{"op":"add","path":"members","value":[{"value":"no-such-user"}]}]}`)
	if r, err := s.PatchGroup(ctx, tenant, g.ID, stale, 0); err != nil || r.Dropped.Count != 1 {
		t.Fatalf("unknown member: %+v %v", r, err)
	}
	// A patch error on a missing group is still a 404 first.
	badFilter := mustPatch(`{"Operations":[{"op":"remove","path":"members[display eq \"x\"]"}]}`)
	if _, err := s.PatchGroup(ctx, tenant, "no-such-group", badFilter, 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("bad patch on a missing group: %v", err)
	}
	if cur, _ := s.GetGroup(ctx, tenant, g.ID); cur.Version != g2.Version+2 {
		t.Fatalf("refused patches changed the group: version %d", cur.Version)
	}
}

// A member id that is not a user of the tenant (deleted here, still in the
// IdP's group) does not block the rest of a group write: PATCH (members
// only, or with a rename) and PUT apply everything else, leave the id out,
// and the drop shows in the group's sync status, a warning and
// scimbridge_group_members_dropped_total. A later write naming only known
// members clears the status; a rename keeps it.
func TestGroupUnknownMembersDropped(t *testing.T) {
	t.Parallel()
	s, _, _, tenant := groupBundle(t)
	var logs bytes.Buffer
	s.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	reg := prometheus.NewRegistry()
	s.Metrics = NewMetrics(reg)
	ctx := context.Background()
	u := someUsers(t, s, tenant, 3)
	gone, err := s.Ledger.CreateUser(ctx, tenant, Uniqueness{}, scim.Attrs{"userName": "gone@x.io"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, tenant, gone.ID, 0); err != nil {
		t.Fatal(err)
	}
	g, err := s.CreateGroup(ctx, tenant, scim.Attrs{"displayName": "Eng"}, []string{u[0]})
	if err != nil {
		t.Fatal(err)
	}
	patch := func(body string) *Record {
		t.Helper()
		p, err := scim.ParsePatch([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		r, err := s.PatchGroup(ctx, tenant, g.ID, p, 0)
		if err != nil {
			t.Fatalf("patch %s: %v", body, err)
		}
		return r
	}
	status := func() *DroppedMembers {
		t.Helper()
		st, err := (&Admin{Ledger: s.Ledger}).Status(ctx, tenant, queue.KindGroup, g.ID)
		if err != nil {
			t.Fatal(err)
		}
		return st.DroppedMembers
	}
	members := func() string {
		m, _ := s.GroupMembers(ctx, tenant, g.ID)
		return fmt.Sprint(m)
	}
	if d := status(); d != nil {
		t.Fatalf("dropped before any drop: %+v", d)
	}

	// Entra's members-only PATCH: one known, one deleted, one never known.
	r := patch(fmt.Sprintf(`{"Operations":[{"op":"Add","path":"members","value":[{"value":%q},{"value":%q},{"value":"never-known"}]}]}`, u[1], gone.ID))
	if members() != fmt.Sprint(sorted(u[0], u[1])) {
		t.Fatalf("members %s", members())
	}
	want := &DroppedMembers{Count: 2, IDs: []string{gone.ID, "never-known"}, Version: r.Version}
	if d := status(); !reflect.DeepEqual(d, want) {
		t.Fatalf("status dropped %+v, want %+v", d, want)
	}
	if n := droppedCount(t, reg, tenant); n != 2 {
		t.Fatalf("counter %v", n)
	}
	var line map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(logs.Bytes()), &line); err != nil || line["level"] != "WARN" ||
		line["tenant"] != tenant || line["group"] != g.ID || line["count"] != 2.0 {
		t.Fatalf("log %s (%v)", logs.Bytes(), err)
	}

	// A rename keeps the status; the general path (rename and add) drops too.
	patch(`{"Operations":[{"op":"replace","path":"displayName","value":"Eng2"}]}`)
	if d := status(); !reflect.DeepEqual(d, want) {
		t.Fatalf("after a rename: %+v", d)
	}
	r = patch(fmt.Sprintf(`{"Operations":[{"op":"replace","value":{"displayName":"Eng3"}},{"op":"add","path":"members","value":[{"value":%q},{"value":"never-known"}]}]}`, u[2]))
	if r.Attrs["displayName"] != "Eng3" || members() != fmt.Sprint(sorted(u[0], u[1], u[2])) {
		t.Fatalf("rename and add: %v, members %s", r.Attrs, members())
	}
	if d := status(); d == nil || d.Count != 1 || d.Version != r.Version {
		t.Fatalf("after rename and add: %+v", d)
	}

	// PUT with a stale member: the rest of the member list replaces the old one.
	r, err = s.ReplaceGroup(ctx, tenant, g.ID, scim.Attrs{"displayName": "Eng4"}, []string{u[2], gone.ID}, 0)
	if err != nil || r.Attrs["displayName"] != "Eng4" || members() != fmt.Sprint([]string{u[2]}) {
		t.Fatalf("PUT: %v, members %s", err, members())
	}
	if d := status(); d == nil || d.Count != 1 || d.IDs[0] != gone.ID {
		t.Fatalf("after PUT: %+v", d)
	}
	if n := droppedCount(t, reg, tenant); n != 4 {
		t.Fatalf("counter %v", n)
	}
	// Only the first maxDroppedIDs ids are kept, the count is exact.
	many := make([]string, 0, 25)
	for i := range 25 {
		many = append(many, fmt.Sprintf("stale-%02d", i))
	}
	if _, err = s.ReplaceGroup(ctx, tenant, g.ID, scim.Attrs{"displayName": "Eng4"}, append(many, u[0]), 0); err != nil {
		t.Fatal(err)
	}
	if d := status(); d == nil || d.Count != 25 || len(d.IDs) != maxDroppedIDs || d.IDs[0] != "stale-00" {
		t.Fatalf("25 stale: %+v", d)
	}
	// A membership write with known members only clears it.
	patch(fmt.Sprintf(`{"Operations":[{"op":"add","path":"members","value":[{"value":%q}]}]}`, u[1]))
	if d := status(); d != nil {
		t.Fatalf("after a clean write: %+v", d)
	}
}

// droppedCount reads scimbridge_group_members_dropped_total{tenant} from reg.
func droppedCount(t *testing.T, reg *prometheus.Registry, tenant string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "scimbridge_group_members_dropped_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "tenant" && l.GetValue() == tenant {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
