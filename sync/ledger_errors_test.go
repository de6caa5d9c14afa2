package sync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/internal/testsupport"
	"github.com/scimbridge/scimbridge/scim"
)

// TestRedisErrorsClassifiedByType: what cannot reach Redis is
// ErrUnavailable (and so adapters' ClassUnavailable: retried); a command
// Redis refuses is not.
func TestRedisErrorsClassifiedByType(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	unavailable := func(name string, err error) {
		t.Helper()
		if !errors.Is(err, ErrUnavailable) || adapters.Classify(err) != adapters.ClassUnavailable {
			t.Errorf("%s: %v (class %q), want ErrUnavailable", name, err, adapters.Classify(err))
		}
	}

	// Nothing listens there: connection refused (a net.Error).
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second})
	defer down.Close()
	_, err := NewLedger(down, nil).CountUsers(ctx, "t")
	unavailable("refused", err)

	// A closed client.
	rdb := testRedis(t)
	closed := redis.NewClient(&redis.Options{Addr: rdb.(*redis.Client).Options().Addr})
	closed.Close()
	_, err = NewLedger(closed, nil).CountUsers(ctx, "t")
	unavailable("closed client", err)

	// A deadline.
	dctx, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel()
	_, err = NewLedger(rdb, nil).CountUsers(dctx, "t")
	unavailable("deadline", err)

	for _, e := range []error{io.EOF, io.ErrUnexpectedEOF, redis.ErrPoolTimeout,
		errors.New("LOADING Redis is loading the dataset in memory")} {
		unavailable(e.Error(), redisErr("op", e))
	}

	// The metric's class label of a ledger outage.
	if c := FailureClass(redisErr("op", io.EOF)); c != "unavailable" {
		t.Errorf("FailureClass of a ledger outage = %q", c)
	}

	// A command Redis refuses (wrong type) is not unavailability.
	tenant := testTenant(t, rdb)
	if err := rdb.Set(ctx, userKeys(tenant).all(), "not a zset", 0).Err(); err != nil {
		t.Fatal(err)
	}
	_, err = NewLedger(rdb, nil).CountUsers(ctx, tenant)
	if err == nil || errors.Is(err, ErrUnavailable) || adapters.Classify(err) != adapters.ClassOther {
		t.Fatalf("WRONGTYPE: %v (class %q), want a plain error", err, adapters.Classify(err))
	}
	// Nor is a message that merely mentions a connection problem.
	if e := redisErr("op", fmt.Errorf("user said: connection refused, EOF")); errors.Is(e, ErrUnavailable) {
		t.Fatalf("string match: %v", e)
	}
}

// slowRedis is a client of the test Redis through a proxy that can hold
// its replies back past the client's read timeout (300 ms), so go-redis
// sends a call again after Redis ran it.
func slowRedis(t *testing.T) (*testsupport.DelayProxy, *redis.Client) {
	t.Helper()
	proxy := testsupport.StartDelayProxy(t, testsupport.RedisAddr())
	o := testsupport.RedisOptions()
	o.Addr = proxy.Addr
	o.ReadTimeout = 300 * time.Millisecond
	o.DisableIdentity = true
	slow := redis.NewClient(o)
	t.Cleanup(func() { _ = slow.Close() })
	return proxy, slow
}

// A reply that comes back after the client's read timeout makes go-redis
// send the same write script again, on another connection, after Redis ran
// it once. The request id recorded on the record (Replays, ledger_lua.go)
// makes the second run return the first run's answer: one user, created once, and the caller is told 201's
// record, not a uniqueness conflict with itself.
func TestWriteScriptResentAfterTimeoutActsOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	direct := testRedis(t)
	proxy, slow := slowRedis(t)
	tenant := testTenant(t, direct)
	l := NewLedger(slow, nil)

	// The hazard is real in this set-up: a plain INCR script, its reply
	// held back past the timeout, is run twice by the client's resend.
	counter := "sb:{" + tenant + "}:resend-probe"
	incr := redis.NewScript(`return redis.call('INCR', KEYS[1])`)
	if err := incr.Load(ctx, slow).Err(); err != nil {
		t.Fatal(err)
	}
	proxy.DelayNext(1, time.Second)
	if _, err := incr.Run(ctx, slow, []string{counter}).Int(); err != nil {
		t.Fatalf("probe: %v", err)
	}
	if n, _ := direct.Get(ctx, counter).Int(); n != 2 {
		t.Fatalf("probe script ran %d times, want 2 (no resend happened: the test proves nothing)", n)
	}

	// A warm-up create loads the script, so the held-back reply is the
	// write's own.
	if _, err := l.CreateUser(ctx, tenant, Uniqueness{}, scim.Attrs{"userName": "warm@example.com"}, nil); err != nil {
		t.Fatal(err)
	}
	before := proxy.SentCount(putScript.Hash())
	proxy.DelayNext(1, time.Second)
	r, err := l.CreateUser(ctx, tenant, Uniqueness{}, scim.Attrs{"userName": "once@example.com"}, nil)
	if err != nil {
		t.Fatalf("create whose reply was late: %v (want the first run's answer)", err)
	}
	if sent := proxy.SentCount(putScript.Hash()) - before; sent < 2 {
		t.Fatalf("the create was sent %d time(s): the client did not resend, the test proves nothing", sent)
	}
	if r.Version != 1 {
		t.Fatalf("answer: version %d, want 1", r.Version)
	}
	found, err := NewLedger(direct, nil).FindUsers(ctx, tenant, "userName", "once@example.com")
	if err != nil || len(found) != 1 || found[0].ID != r.ID || found[0].Version != 1 {
		t.Fatalf("stored: %+v %v, want one user %s at version 1", found, err, r.ID)
	}
	if n, err := NewLedger(direct, nil).CountUsers(ctx, tenant); err != nil || n != 2 {
		t.Fatalf("users: %d %v, want 2 (warm-up and the one create)", n, err)
	}
	if seq, _ := direct.Get(ctx, userKeys(tenant).seq()).Int(); seq != 2 {
		t.Fatalf("creation counter %d, want 2: the create ran twice", seq)
	}

	// A conditional update resent the same way: applied once (version 2),
	// answered with that version, not "version mismatch".
	proxy.DelayNext(1, time.Second)
	u, err := l.UpdateUser(ctx, tenant, Uniqueness{}, r.ID, 1, scim.Attrs{"userName": "once@example.com", "displayName": "Once"}, nil)
	if err != nil || u.Version != 2 {
		t.Fatalf("update whose reply was late: %+v %v, want version 2", u, err)
	}
	if got, _ := NewLedger(direct, nil).GetUser(ctx, tenant, r.ID); got == nil || got.Version != 2 {
		t.Fatalf("stored after the update: %+v, want version 2", got)
	}

	// A PUT not read first (the script keeps the stored active), resent
	// the same way: applied once (version 4), and the resend's answer
	// still carries the kept active.
	if _, err := l.UpdateUser(ctx, tenant, Uniqueness{}, r.ID, 0, scim.Attrs{"userName": "once@example.com", "active": false}, nil); err != nil {
		t.Fatal(err)
	}
	before = proxy.SentCount(putScript.Hash())
	proxy.DelayNext(1, time.Second)
	p, err := l.ReplaceUserUnread(ctx, tenant, Uniqueness{}, r.ID, scim.Attrs{"userName": "once@example.com", "nickName": "o"}, nil)
	if err != nil || p.Version != 4 || p.Attrs["active"] != false {
		t.Fatalf("unread PUT whose reply was late: %+v %v, want version 4 with active false", p, err)
	}
	if sent := proxy.SentCount(putScript.Hash()) - before; sent < 2 {
		t.Fatalf("the unread PUT was sent %d time(s): no resend, the test proves nothing", sent)
	}
	if got, _ := NewLedger(direct, nil).GetUser(ctx, tenant, r.ID); got == nil || got.Version != 4 || got.Attrs["active"] != false || got.Attrs["nickName"] != "o" {
		t.Fatalf("stored after the unread PUT: %+v", got)
	}

	// A group create with a member, resent the same way: one group, its
	// member change counted once.
	if _, err := l.putGroup(ctx, tenant, Uniqueness{}, newID(), modeCreate, 0, scim.Attrs{"displayName": "warm"}, false, nil, nil, "", nil); err != nil {
		t.Fatal(err)
	}
	proxy.DelayNext(1, time.Second)
	g, err := l.putGroup(ctx, tenant, Uniqueness{}, newID(), modeCreate, 0, scim.Attrs{"displayName": "once"}, false, []string{r.ID}, nil, "", nil)
	if err != nil || g.Version != 1 {
		t.Fatalf("group create whose reply was late: %+v %v, want version 1", g, err)
	}
	if n, err := NewLedger(direct, nil).CountGroups(ctx, tenant); err != nil || n != 2 {
		t.Fatalf("groups: %d %v, want 2", n, err)
	}
	if seq, _ := direct.Get(ctx, groupKeys(tenant).memberSeq()).Int(); seq != 2 {
		t.Fatalf("member-change counter %d, want 2 (one per group write): the create ran twice", seq)
	}
}

// The operator's replay of a failed resource (RetryFailed), its reply held
// back past the read timeout and so re-sent by the client after it ran:
// the resend answers the desired version as the first run did, not "not
// failed", so the replay still enqueues the apply; and the call acts once.
func TestRetryFailedResentAfterTimeoutAnswersOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	direct := testRedis(t)
	proxy, slow := slowRedis(t)
	tenant := testTenant(t, direct)
	l, d := NewLedger(slow, nil), NewLedger(direct, nil)
	k := userKeys(tenant)

	r, err := d.CreateUser(ctx, tenant, Uniqueness{}, scim.Attrs{"userName": "failed@example.com"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.markFailed(ctx, k, r.ID, r.Version, "store refused"); err != nil {
		t.Fatal(err)
	}
	if err := retryFailedScript.Load(ctx, slow).Err(); err != nil {
		t.Fatal(err)
	}
	l.touchSweep(ctx, tenant) // recorded now, so the delay below falls on the replay
	before := proxy.SentCount(retryFailedScript.Hash())
	proxy.DelayNext(1, time.Second)
	v, err := l.RetryFailed(ctx, tenant, "User", r.ID)
	if err != nil || v != r.Version {
		t.Fatalf("replay whose reply was late: version %d %v, want %d (the first run's answer)", v, err, r.Version)
	}
	if sent := proxy.SentCount(retryFailedScript.Hash()) - before; sent < 2 {
		t.Fatalf("the replay was sent %d time(s): no resend, the test proves nothing", sent)
	}
	if n, err := direct.ZCard(ctx, k.failed()).Result(); err != nil || n != 0 {
		t.Fatalf("failed index: %d %v, want empty", n, err)
	}
	if _, err := direct.ZScore(ctx, k.dirty(), r.ID).Result(); err != nil {
		t.Fatalf("not dirty after the replay: %v", err)
	}
	// Another replay (another call) of a resource no longer failed: 0.
	if v, err := l.RetryFailed(ctx, tenant, "User", r.ID); err != nil || v != 0 {
		t.Fatalf("second replay: %d %v, want 0 (not failed)", v, err)
	}
}

// The sweeper's lock, the SET's reply held back past the read timeout and
// so re-sent by the client after the first SET took the lock: the resend
// finds this call's own token, and the call won (before, it read the
// lock as another worker's and skipped its sweep).
func TestSweepLockResentAfterTimeoutIsWon(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	server := testsupport.StartRedisServer(t) // the lock's key is global: a server of the test's own
	proxy := testsupport.StartDelayProxy(t, server.Addr)
	slow := redis.NewClient(&redis.Options{Addr: proxy.Addr, ReadTimeout: 300 * time.Millisecond, DisableIdentity: true})
	t.Cleanup(func() { _ = slow.Close() })
	l := NewLedger(slow, nil)
	if err := slow.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	before := proxy.SentCount(sweepLockKey)
	proxy.DelayNext(1, time.Second)
	ok, err := l.AcquireSweepLock(ctx, time.Minute)
	if err != nil || !ok {
		t.Fatalf("lock whose reply was late: %v %v, want won", ok, err)
	}
	if sent := proxy.SentCount(sweepLockKey) - before; sent < 3 { // two SETs and the GET
		t.Fatalf("the lock's key was sent %d time(s): no resend, the test proves nothing", sent)
	}
	if ok, err := l.AcquireSweepLock(ctx, time.Minute); err != nil || ok {
		t.Fatalf("a second worker's call: %v %v, want the lock held", ok, err)
	}
}
