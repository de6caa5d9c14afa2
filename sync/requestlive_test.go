package sync

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/scim"
)

// TestEndedRequestWritesNothing: a write whose request is over (client
// gone, deadline passed) leaves the ledger as it was, for users, groups
// and membership changes alike.
func TestEndedRequestWritesNothing(t *testing.T) {
	t.Parallel()
	rdb := testRedis(t)
	tenant := testTenant(t, rdb)
	svc := &Service{Ledger: NewLedger(rdb, testSealer(t))}
	live := context.Background()
	u, err := svc.CreateUser(live, tenant, user("jane@example.com"), nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := svc.CreateGroup(live, tenant, scim.Attrs{"displayName": "Engineering"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	canceled, cancel := context.WithCancel(live)
	cancel()
	expired, cancel2 := context.WithDeadline(live, time.Now().Add(-time.Second))
	defer cancel2()
	addMember, err := scim.ParsePatch([]byte(`{"Operations":[{"op":"add","path":"members","value":[{"value":"` + u.ID + `"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	writes := []struct {
		name  string
		write func(ctx context.Context) error
	}{
		{"create user", func(ctx context.Context) error {
			_, err := svc.CreateUser(ctx, tenant, user("other@example.com"), nil)
			return err
		}},
		{"replace user", func(ctx context.Context) error {
			_, err := svc.Ledger.UpdateUser(ctx, tenant, Uniqueness{}, u.ID, u.Version, user("renamed@example.com"), nil)
			return err
		}},
		{"delete user", func(ctx context.Context) error {
			_, err := svc.Ledger.DeleteUser(ctx, tenant, u.ID, 0)
			return err
		}},
		{"create group", func(ctx context.Context) error {
			_, err := svc.CreateGroup(ctx, tenant, scim.Attrs{"displayName": "Other"}, nil)
			return err
		}},
		{"add a member", func(ctx context.Context) error {
			_, err := svc.PatchGroup(ctx, tenant, g.ID, addMember, 0)
			return err
		}},
	}
	for _, ctx := range []struct {
		name string
		ctx  context.Context
		want error
	}{{"client gone", canceled, context.Canceled}, {"deadline passed", expired, ErrUnavailable}} {
		for _, w := range writes {
			if err := w.write(ctx.ctx); !errors.Is(err, ctx.want) {
				t.Errorf("%s, %s: %v, want %v", ctx.name, w.name, err, ctx.want)
			}
		}
	}
	if n, err := svc.Ledger.CountUsers(live, tenant); err != nil || n != 1 {
		t.Errorf("users: %d %v, want 1", n, err)
	}
	if n, err := svc.Ledger.CountGroups(live, tenant); err != nil || n != 1 {
		t.Errorf("groups: %d %v, want 1", n, err)
	}
	cur, err := svc.Ledger.GetUser(live, tenant, u.ID)
	if err != nil || cur.Version != u.Version || cur.Attrs["userName"] != "jane@example.com" {
		t.Errorf("user after the refused writes: %+v %v", cur, err)
	}
	if ms, err := svc.GroupMembers(live, tenant, g.ID); err != nil || len(ms) != 0 {
		t.Errorf("members after the refused add: %v %v", ms, err)
	}
}
