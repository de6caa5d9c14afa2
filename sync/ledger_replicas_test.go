package sync

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scimbridge/scimbridge/internal/testsupport"
	"github.com/scimbridge/scimbridge/scim"
)

// replicatedBundle is a primary with one replica, both of the test's own,
// and a Service whose ledger reaches the primary through a DelayProxy with
// a short read timeout and requires one replica per write
// (redis.min_replicas 1). direct is a client of the primary without the
// proxy.
func replicatedBundle(t *testing.T) (s *Service, proxy *testsupport.DelayProxy, direct, replica *redis.Client) {
	t.Helper()
	primary := testsupport.StartRedisServer(t, "--repl-diskless-sync-delay", "0")
	rep := testsupport.StartRedisServer(t, "--replicaof", "127.0.0.1", strconv.Itoa(primary.Port))
	direct, replica = primary.Client(), rep.Client()
	testsupport.WaitFor(t, "replica in sync", 20*time.Second, func() bool {
		info, err := direct.Info(context.Background(), "replication").Result()
		return err == nil && strings.Contains(info, "connected_slaves:1") && strings.Contains(info, "state=online")
	})
	proxy = testsupport.StartDelayProxy(t, primary.Addr)
	slow := redis.NewClient(&redis.Options{Addr: proxy.Addr, ReadTimeout: 300 * time.Millisecond, DisableIdentity: true})
	t.Cleanup(func() { _ = slow.Close() })
	l := NewLedger(slow, nil)
	l.RequireReplicas(1, 5*time.Second)
	return &Service{Ledger: l, Enqueuer: &recordingEnqueuer{}, Groups: ledgerOnly{}}, proxy, direct, replica
}

// With redis.min_replicas the front-door write runs on a connection of its
// own, which go-redis does not re-send on after a late reply. A create
// whose reply is held back past the read timeout (after the primary ran
// it) is re-sent by the ledger on a fresh connection (the request id makes
// the resend act once) and answered with the created user, once the
// replica holds it; when every reply is lost the create is a 503, and the
// IdP's identical retry is answered 201 with the user the first request
// stored, never a 409. Either way one user is stored, and once a create is
// acknowledged another create of the user is a 409 again.
func TestReplicatedCreateWithLostReplyIsNot409(t *testing.T) {
	s, proxy, direct, replica := replicatedBundle(t)
	ctx := context.Background()
	const tenant = "lost"
	k := userKeys(tenant)
	user := func(name string) scim.Attrs {
		return scim.Attrs{"userName": name, "name": map[string]any{"givenName": "Ann", "familyName": "Lost"}, "active": true}
	}
	// Loads the script and leaves a pooled connection: the next reply held
	// back is the write's own.
	if _, err := s.CreateUser(ctx, tenant, user("warm@example.com"), nil); err != nil {
		t.Fatal(err)
	}
	stored := func(name string) *Record {
		t.Helper()
		found, err := NewLedger(direct, nil).FindUsers(ctx, tenant, "userName", name)
		if err != nil || len(found) != 1 {
			t.Fatalf("stored users named %s: %+v %v, want one", name, found, err)
		}
		return found[0]
	}
	acknowledged := func(name, id string) {
		t.Helper()
		if m, err := direct.HGet(ctx, k.rec(id), "unack").Result(); !errors.Is(err, redis.Nil) {
			t.Fatalf("%s still marked unacknowledged after its 201: %q %v", name, m, err)
		}
		if n, err := replica.Exists(ctx, k.rec(id)).Result(); err != nil || n != 1 {
			t.Fatalf("the replica does not hold %s: %d %v", name, n, err)
		}
		// What Okta's spec test requires of a second create.
		if _, err := s.CreateUser(ctx, tenant, user(name), nil); !errors.Is(err, ErrUniqueness) {
			t.Fatalf("another create of acknowledged %s: %v, want ErrUniqueness", name, err)
		}
	}

	// One lost reply: the ledger's resend answers it.
	before := proxy.SentCount(putScript.Hash())
	proxy.DelayNext(1, time.Second)
	r, err := s.CreateUser(ctx, tenant, user("once@example.com"), nil)
	if err != nil {
		t.Fatalf("create whose reply was lost once: %v, want the created user", err)
	}
	if sent := proxy.SentCount(putScript.Hash()) - before; sent < 2 {
		t.Fatalf("the create was sent %d time(s): no reply was lost, the test proves nothing", sent)
	}
	if got := stored("once@example.com"); got.ID != r.ID || got.Version != 1 {
		t.Fatalf("stored %+v, answered %s", got, r.ID)
	}
	acknowledged("once@example.com", r.ID)

	// Every reply lost: a 503, and the IdP's identical retry is a 201 with
	// the stored user.
	before = proxy.SentCount(putScript.Hash())
	proxy.DelayNext(1000, time.Second)
	_, err = s.CreateUser(ctx, tenant, user("retried@example.com"), nil)
	proxy.DelayNext(0, 0)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("create whose replies were all lost: %v, want ErrUnavailable (503)", err)
	}
	if sent := proxy.SentCount(putScript.Hash()) - before; sent < 1 {
		t.Fatalf("the create was sent %d time(s)", sent)
	}
	first := stored("retried@example.com") // the primary ran it, the client never heard
	r, err = s.CreateUser(ctx, tenant, user("retried@example.com"), nil)
	if err != nil || r.ID != first.ID {
		t.Fatalf("the IdP's retry: %+v %v, want 201 with the stored user %s", r, err, first.ID)
	}
	stored("retried@example.com")
	acknowledged("retried@example.com", r.ID)
	if n, err := NewLedger(direct, nil).CountUsers(ctx, tenant); err != nil || n != 3 {
		t.Fatalf("users: %d %v, want 3", n, err)
	}
}

// Group creates as user creates above: a lost reply is re-sent and
// answered; with every reply lost, a 503 and the IdP's identical retry
// (same members) is 201 with the stored group, its membership changed once.
func TestReplicatedGroupCreateWithLostReplyIsNot409(t *testing.T) {
	s, proxy, direct, replica := replicatedBundle(t)
	ctx := context.Background()
	const tenant = "lostg"
	k := groupKeys(tenant)
	member, err := s.CreateUser(ctx, tenant, scim.Attrs{"userName": "m@example.com"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateGroup(ctx, tenant, scim.Attrs{"displayName": "warm"}, nil); err != nil {
		t.Fatal(err)
	}
	group := func(name string) scim.Attrs { return scim.Attrs{"displayName": name, "externalId": "okta-" + name} }
	acknowledged := func(name, id string) {
		t.Helper()
		if m, err := direct.HGet(ctx, k.rec(id), "unack").Result(); !errors.Is(err, redis.Nil) {
			t.Fatalf("group %s still marked unacknowledged after its 201: %q %v", name, m, err)
		}
		if n, err := replica.Exists(ctx, k.rec(id)).Result(); err != nil || n != 1 {
			t.Fatalf("the replica does not hold group %s: %d %v", name, n, err)
		}
		if _, err := s.CreateGroup(ctx, tenant, group(name), []string{member.ID}); !errors.Is(err, ErrUniqueness) {
			t.Fatalf("another create of acknowledged group %s: %v, want ErrUniqueness", name, err)
		}
	}
	changes := func() int {
		n, _ := direct.Get(ctx, k.memberSeq()).Int()
		return n
	}

	before, seq := proxy.SentCount(putGroupScript.Hash()), changes()
	proxy.DelayNext(1, time.Second)
	g, err := s.CreateGroup(ctx, tenant, group("once"), []string{member.ID})
	if err != nil {
		t.Fatalf("group create whose reply was lost once: %v, want the created group", err)
	}
	if sent := proxy.SentCount(putGroupScript.Hash()) - before; sent < 2 {
		t.Fatalf("the group create was sent %d time(s): no reply was lost, the test proves nothing", sent)
	}
	if got := changes() - seq; got != 1 {
		t.Fatalf("%d member changes, want 1: the create acted twice", got)
	}
	acknowledged("once", g.ID)

	before, seq = proxy.SentCount(putGroupScript.Hash()), changes()
	proxy.DelayNext(1000, time.Second)
	_, err = s.CreateGroup(ctx, tenant, group("retried"), []string{member.ID})
	proxy.DelayNext(0, 0)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("group create whose replies were all lost: %v, want ErrUnavailable (503)", err)
	}
	if sent := proxy.SentCount(putGroupScript.Hash()) - before; sent < 1 {
		t.Fatalf("the group create was sent %d time(s)", sent)
	}
	if n, err := NewLedger(direct, nil).CountGroups(ctx, tenant); err != nil || n != 3 {
		t.Fatalf("groups: %d %v, want 3: the primary ran the create, the client never heard", n, err)
	}
	g, err = s.CreateGroup(ctx, tenant, group("retried"), []string{member.ID})
	if err != nil {
		t.Fatalf("the IdP's retry: %v, want 201 with the stored group", err)
	}
	if got := changes() - seq; got != 1 {
		t.Fatalf("%d member changes, want 1: one create stored once", got)
	}
	if m, err := s.GroupMembers(ctx, tenant, g.ID); err != nil || len(m) != 1 || m[0] != member.ID {
		t.Fatalf("members of %s: %v %v", g.ID, m, err)
	}
	acknowledged("retried", g.ID)
	if n, err := NewLedger(direct, nil).CountGroups(ctx, tenant); err != nil || n != 3 {
		t.Fatalf("groups: %d %v, want 3 (warm, once, retried)", n, err)
	}
}
