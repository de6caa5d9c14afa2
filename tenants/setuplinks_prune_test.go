package tenants

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// Expired links do not pile up: every Create drops a bounded batch of
// those past their expiry (found in the expiry index), Revoke too, and
// List neither shows nor keeps them, even one made before the index.
func TestSetupLinksPruned(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testRedis(t)
	reg := NewRegistry(rdb)
	a := newTenantID(t, rdb)
	putTenant(t, reg, a)
	links := newTestSetupLinks(t, reg, testTokenKey(4))
	clk := &fakeClock{t: time.Now()}
	links.SetClock(clk.now)

	stored := func() int64 {
		t.Helper()
		n, err := rdb.HLen(ctx, setupLinksKey(a)).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	// More expired links than one batch, one of them revoked.
	var revoked string
	for i := range pruneBatch + 20 {
		_, l, err := links.Create(ctx, a, MinSetupLinkTTL, "")
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			revoked = l.ID
			if err := links.Revoke(ctx, a, l.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := stored(); n != pruneBatch+20 {
		t.Fatalf("%d links stored, want %d (none expired yet)", n, pruneBatch+20)
	}
	clk.add(MinSetupLinkTTL + pruneGrace)
	_, fresh, err := links.Create(ctx, a, time.Hour, "")
	if err != nil {
		t.Fatal(err)
	}
	if n := stored(); n != 20+1 {
		t.Fatalf("after a Create, %d links stored, want %d: one batch of %d dropped", n, 21, pruneBatch)
	}
	if _, _, err := links.Create(ctx, a, time.Hour, ""); err != nil {
		t.Fatal(err)
	}
	if n := stored(); n != 2 {
		t.Fatalf("after a second Create, %d links stored, want the 2 live ones", n)
	}
	if ok, _ := rdb.HExists(ctx, setupRevokedKey(a), revoked).Result(); ok {
		t.Error("the expired link's revocation was kept")
	}
	if n, _ := rdb.ZCard(ctx, setupExpiryKey(a)).Result(); n != 2 {
		t.Errorf("expiry index holds %d links, want 2", n)
	}

	// A link stored before the expiry index (no entry there), expired:
	// List leaves it out and drops it.
	old := SetupLink{ID: "l0123456789abcdef", Tenant: a, Created: clk.now().Add(-48 * time.Hour), Expires: clk.now().Add(-24 * time.Hour)}
	raw, _ := json.Marshal(old)
	if err := rdb.HSet(ctx, setupLinksKey(a), old.ID, raw).Err(); err != nil {
		t.Fatal(err)
	}
	list, err := links.List(ctx, a)
	if err != nil || len(list) != 2 {
		t.Fatalf("list: %+v %v, want the 2 live links", list, err)
	}
	for _, l := range list {
		if l.ID == old.ID {
			t.Fatal("an expired link is listed")
		}
	}
	if ok, _ := rdb.HExists(ctx, setupLinksKey(a), old.ID).Result(); ok {
		t.Error("List kept the expired link")
	}
	// Within the grace minute an expired link is still listed (as such).
	clk.add(time.Hour)
	if list, err := links.List(ctx, a); err != nil || len(list) != 2 || (list[0].ID != fresh.ID && list[1].ID != fresh.ID) {
		t.Fatalf("just expired: %+v %v", list, err)
	}
	clk.add(pruneGrace)
	if list, err := links.List(ctx, a); err != nil || len(list) != 0 {
		t.Fatalf("a minute later: %+v %v", list, err)
	}
	if n := stored(); n != 0 {
		t.Fatalf("%d links stored after they all expired and were listed", n)
	}
}

// A logout ends the session on the server: its cookie, replayed, is
// refused (ErrSessionEnded), the link's other sessions go on, and the
// mark lives as long as the session would have.
func TestSetupSessionEnded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testRedis(t)
	reg := NewRegistry(rdb)
	a := newTenantID(t, rdb)
	putTenant(t, reg, a)
	links := newTestSetupLinks(t, reg, testTokenKey(5))
	token, _, err := links.Create(ctx, a, 2*time.Hour, "")
	if err != nil {
		t.Fatal(err)
	}
	link, err := links.Verify(ctx, a, token)
	if err != nil {
		t.Fatal(err)
	}
	cookie, sess, err := links.NewSession(ctx, link)
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := links.NewSession(ctx, link)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := links.Session(ctx, a, cookie); err != nil {
		t.Fatalf("before logout: %v", err)
	}
	if err := links.EndSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if _, err := links.Session(ctx, a, cookie); !errors.Is(err, ErrSessionEnded) {
		t.Fatalf("the ended session's cookie: %v, want ErrSessionEnded", err)
	}
	if _, err := links.Session(ctx, a, other); err != nil {
		t.Fatalf("another session of the link: %v", err)
	}
	if _, err := links.Verify(ctx, a, token); err != nil {
		t.Fatalf("the link after a logout: %v", err)
	}
	ttl, err := rdb.PTTL(ctx, setupEndedKey(a, sess.ID)).Result()
	left := time.Until(sess.Expires)
	if err != nil || ttl < left-2*time.Second || ttl > left+time.Second {
		t.Fatalf("the mark lives %v, the session %v (%v)", ttl, left, err)
	}
}

// A request with an OAuth access token records the client's last request
// and its User-Agent, sampled like a key's: 200 requests within a minute
// write once, the next minute's again.
func TestOAuthLastRequestIsSampled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testRedis(t)
	reg := NewRegistry(rdb)
	a := newTenantID(t, rdb)
	putTenant(t, reg, a)
	counted, hook := countedRedis(t)
	clients := NewOAuthClients(counted)
	at := time.Now()
	clients.now = func() time.Time { return at }
	secret, c, err := clients.Create(ctx, a, "Entra")
	if err != nil {
		t.Fatal(err)
	}
	tokens := newTestTokens(t, clients, testTokenKey(6))
	authed, err := tokens.Authenticate(ctx, c.ID, secret)
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := tokens.Issue(ctx, authed)
	if err != nil {
		t.Fatal(err)
	}
	if list, err := clients.List(ctx, a); err != nil || len(list) != 1 || !list[0].LastUsed.IsZero() {
		t.Fatalf("before any request: %+v %v", list, err)
	}
	hook.reset()
	for i := range 200 {
		ua := "Microsoft.Azure.ActiveDirectory.Provisioning"
		if i > 0 {
			ua = "curl/8"
		}
		if _, err := tokens.VerifyFrom(ctx, a, token, ua); err != nil {
			t.Fatal(err)
		}
	}
	clients.Wait()
	if got := hook.get("hset"); got != 1 {
		t.Fatalf("200 requests within a minute wrote the last request %d times, want once", got)
	}
	list, err := clients.List(ctx, a)
	if err != nil || len(list) != 1 {
		t.Fatalf("list: %+v %v", list, err)
	}
	if !list[0].LastUsed.Equal(at.Truncate(time.Second)) || list[0].LastClient != "Microsoft.Azure.ActiveDirectory.Provisioning" || list[0].LastToken.IsZero() {
		t.Fatalf("recorded %+v, want the first request's time and client", list[0])
	}
	at = at.Add(lastUsedEvery)
	if _, err := tokens.VerifyFrom(ctx, a, token, "Microsoft.Azure.ActiveDirectory.Provisioning/2"); err != nil {
		t.Fatal(err)
	}
	clients.Wait()
	if got := hook.get("hset"); got != 2 {
		t.Fatalf("a minute later: %d writes, want 2", got)
	}
	if list, _ := clients.List(ctx, a); list[0].LastClient != "Microsoft.Azure.ActiveDirectory.Provisioning/2" {
		t.Fatalf("after a minute the client is %q", list[0].LastClient)
	}
}
