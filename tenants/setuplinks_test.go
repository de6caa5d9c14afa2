package tenants

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func newTestSetupLinks(t *testing.T, reg *Registry, key []byte) *SetupLinks {
	t.Helper()
	l, err := NewSetupLinks(reg.rdb, reg, key)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// A link opens its own tenant's page only, until it expires or is
// revoked; a changed byte, another deployment's key or another tenant's
// page refuse it, each with its own error; a revocation also ends the
// sessions the link opened.
func TestSetupLinkRefusals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testRedis(t)
	reg := NewRegistry(rdb)
	a, b := newTenantID(t, rdb), newTenantID(t, rdb)
	putTenant(t, reg, a)
	putTenant(t, reg, b)
	links := newTestSetupLinks(t, reg, testTokenKey(1))
	clk := &fakeClock{t: time.Now()}
	links.SetClock(clk.now)

	token, link, err := links.Create(ctx, a, time.Hour, IdPOkta)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(token, setupLinkPrefix) || link.Tenant != a || link.IdP != IdPOkta || !link.Expires.Equal(link.Created.Add(time.Hour)) {
		t.Fatalf("link %+v, token %q", link, token)
	}
	got, err := links.Verify(ctx, a, token)
	if err != nil || got.ID != link.ID || got.IdP != IdPOkta {
		t.Fatalf("verify: %+v %v", got, err)
	}
	cookie, sess, err := links.NewSession(ctx, got)
	if err != nil || sess.Tenant != a || !sess.Expires.Equal(link.Expires) {
		t.Fatalf("session: %+v %v", sess, err)
	}
	if s, err := links.Session(ctx, a, cookie); err != nil || s.ID != sess.ID || !links.CheckCSRF(s, links.CSRF(sess)) {
		t.Fatalf("session check: %+v %v", s, err)
	}

	// Tampered: any changed character of the payload or the signature.
	i := strings.LastIndexByte(token, '.')
	payload, _ := base64.RawURLEncoding.DecodeString(token[len(setupLinkPrefix):i])
	forged := strings.Replace(string(payload), a, b, 1)
	for name, bad := range map[string]string{
		"signature changed":  token[:len(token)-2] + flipAll(token[len(token)-2:]),
		"payload changed":    token[:len(setupLinkPrefix)+3] + flipAll(token[len(setupLinkPrefix)+3:len(setupLinkPrefix)+4]) + token[len(setupLinkPrefix)+4:],
		"tenant rewritten":   setupLinkPrefix + base64.RawURLEncoding.EncodeToString([]byte(forged)) + token[i:],
		"truncated":          token[:len(token)-10],
		"empty":              "",
		"an API key instead": "scb_" + strings.Repeat("a", 46),
	} {
		if _, err := links.Verify(ctx, a, bad); !errors.Is(err, ErrLinkInvalid) {
			t.Errorf("%s: %v, want ErrLinkInvalid", name, err)
		}
		if _, err := links.Verify(ctx, b, bad); !errors.Is(err, ErrLinkInvalid) {
			t.Errorf("%s on tenant b: %v, want ErrLinkInvalid", name, err)
		}
	}
	other := newTestSetupLinks(t, reg, testTokenKey(2))
	if _, err := other.Verify(ctx, a, token); !errors.Is(err, ErrLinkInvalid) {
		t.Errorf("another key's deployment: %v, want ErrLinkInvalid", err)
	}
	if _, err := other.Session(ctx, a, cookie); !errors.Is(err, ErrLinkInvalid) {
		t.Errorf("another key's session: %v, want ErrLinkInvalid", err)
	}

	// Another tenant's page.
	if _, err := links.Verify(ctx, b, token); !errors.Is(err, ErrLinkOtherTenant) {
		t.Errorf("a's link on b: %v, want ErrLinkOtherTenant", err)
	}
	if _, err := links.Session(ctx, b, cookie); !errors.Is(err, ErrLinkOtherTenant) {
		t.Errorf("a's session on b: %v, want ErrLinkOtherTenant", err)
	}

	// Expired.
	clk.add(time.Hour)
	if _, err := links.Verify(ctx, a, token); !errors.Is(err, ErrLinkExpired) {
		t.Errorf("after an hour: %v, want ErrLinkExpired", err)
	}
	if _, err := links.Session(ctx, a, cookie); !errors.Is(err, ErrLinkExpired) {
		t.Errorf("session after an hour: %v, want ErrLinkExpired", err)
	}
	clk.add(-time.Hour + time.Second) // the second link is a second younger

	// Revoked: the link and its sessions, and only them.
	token2, link2, err := links.Create(ctx, a, 0, "")
	if err != nil || !link2.Expires.Equal(link2.Created.Add(DefaultSetupLinkTTL)) {
		t.Fatalf("second link: %+v %v", link2, err)
	}
	if err := links.Revoke(ctx, a, link.ID); err != nil {
		t.Fatal(err)
	}
	if err := links.Revoke(ctx, a, link.ID); err != nil {
		t.Fatalf("revoking twice: %v", err)
	}
	if _, err := links.Verify(ctx, a, token); !errors.Is(err, ErrLinkRevoked) {
		t.Errorf("revoked link: %v, want ErrLinkRevoked", err)
	}
	if _, err := links.Session(ctx, a, cookie); !errors.Is(err, ErrLinkRevoked) {
		t.Errorf("revoked link's session: %v, want ErrLinkRevoked", err)
	}
	if _, err := links.Verify(ctx, a, token2); err != nil {
		t.Errorf("the other link: %v", err)
	}
	if err := links.Revoke(ctx, b, link2.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoking a's link as b: %v, want ErrNotFound", err)
	}
	list, err := links.List(ctx, a)
	if err != nil || len(list) != 2 || list[0].ID != link2.ID || list[1].ID != link.ID || !list[1].Revoked || list[0].Revoked {
		t.Fatalf("list: %+v %v", list, err)
	}

	// A tenant deleted and created again under the same id: old links do
	// not open the new one.
	if err := reg.Delete(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, err := links.Verify(ctx, a, token2); !errors.Is(err, ErrLinkRevoked) {
		t.Errorf("deleted tenant: %v, want ErrLinkRevoked", err)
	}
	clk.add(2 * time.Second)
	if err := reg.Put(ctx, Tenant{ID: a, Store: validStore("file:/tmp/" + a + ".db"), Created: clk.now().Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if _, err := links.Verify(ctx, a, token2); !errors.Is(err, ErrLinkRevoked) {
		t.Errorf("re-created tenant: %v, want ErrLinkRevoked", err)
	}
}

func flipAll(s string) string {
	b := []byte(s)
	for i := range b {
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
	}
	return string(b)
}

// Bad requests for a link are refused with every problem, nothing stored.
func TestSetupLinkCreateRefusesBadInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testRedis(t)
	reg := NewRegistry(rdb)
	a := newTenantID(t, rdb)
	putTenant(t, reg, a)
	links := newTestSetupLinks(t, reg, testTokenKey(3))
	for _, tc := range []struct {
		ttl time.Duration
		idp string
	}{{time.Minute, ""}, {31 * 24 * time.Hour, ""}, {time.Hour, "onelogin"}} {
		if _, _, err := links.Create(ctx, a, tc.ttl, tc.idp); !errors.Is(err, ErrInvalid) {
			t.Errorf("ttl %s idp %q: %v, want ErrInvalid", tc.ttl, tc.idp, err)
		}
	}
	if _, _, err := links.Create(ctx, "no-such-tenant-q", time.Hour, ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown tenant: %v", err)
	}
	if list, err := links.List(ctx, a); err != nil || len(list) != 0 {
		t.Errorf("stored: %+v %v", list, err)
	}
	if _, err := NewSetupLinks(rdb, reg, make([]byte, 16)); err == nil {
		t.Error("a 16-byte key was accepted")
	}
}

// A key's last use records its client, sampled: a second use within the
// minute writes nothing.
func TestKeyLastClientIsSampled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testRedis(t)
	reg := NewRegistry(rdb)
	a := newTenantID(t, rdb)
	putTenant(t, reg, a)
	counted, hook := countedRedis(t)
	ks := NewKeyStore(counted)
	at := time.Now()
	ks.now = func() time.Time { return at }
	plain, k, err := ks.Create(ctx, a, "okta")
	if err != nil {
		t.Fatal(err)
	}
	hook.reset()
	if _, err := ks.VerifyFrom(ctx, a, plain, "Okta SCIM Client 1.0.0\x1b[2J"); err != nil {
		t.Fatal(err)
	}
	ks.Wait()
	for range 200 {
		if _, err := ks.VerifyFrom(ctx, a, plain, "curl/8"); err != nil {
			t.Fatal(err)
		}
	}
	ks.Wait()
	if got := hook.get("hset"); got != 1 {
		t.Fatalf("201 uses within a minute wrote the last use %d times, want once", got)
	}
	if got := hook.get("get"); got != 201 {
		t.Fatalf("201 uses read %d key records (no cache here), want 201", got)
	}
	// A minute later the next use is recorded, with its client.
	at = at.Add(lastUsedEvery)
	if _, err := ks.VerifyFrom(ctx, a, plain, "Okta SCIM Client 1.0.0"); err != nil {
		t.Fatal(err)
	}
	ks.Wait()
	if got := hook.get("hset"); got != 2 {
		t.Fatalf("after a minute: %d writes, want 2", got)
	}
	list, err := ks.List(ctx, a)
	if err != nil || len(list) != 1 || list[0].ID != k.ID {
		t.Fatalf("list: %+v %v", list, err)
	}
	if list[0].LastClient != "Okta SCIM Client 1.0.0" || !list[0].LastUsed.Equal(at.Truncate(time.Second)) {
		t.Fatalf("last use %v by %q, want %v by the last recorded client", list[0].LastUsed, list[0].LastClient, at)
	}
	if got := cleanClient("Okta\x1b[2J SCIM\n" + strings.Repeat("x", 200)); got != "Okta[2J SCIM"+strings.Repeat("x", maxClientLen-len("Okta[2J SCIM")) {
		t.Fatalf("cleaned client %q", got)
	}
}

func TestFrameAncestorsValidation(t *testing.T) {
	t.Parallel()
	for a, ok := range map[string]bool{
		"https://app.example.com":        true,
		"https://*.example.com":          true,
		"https://app.example.com:8443":   true,
		"http://localhost:3000":          true,
		"http://app.example.com":         false,
		"https://app.example.com/path":   false,
		"https://a.com; script-src *":    false,
		"*":                              false,
		"'self'":                         false,
		"https://":                       false,
		"https://app.example.com:":       false,
		"https://app.example.com:80a":    false,
		"javascript:alert(1)":            false,
		"https://app.example.com 'self'": false,
	} {
		if got := validFrameAncestor(a); got != ok {
			t.Errorf("%q: %v, want %v", a, got, ok)
		}
	}
	tn := Tenant{ID: "x", Store: validStore("file:/tmp/x.db"), Setup: &SetupOptions{FrameAncestors: []string{"https://ok.example.com", "nope"}}}
	errs := tn.Validate()
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "frame_ancestors") {
		t.Fatalf("validate: %v", errs)
	}
}

// countedRedis is a client of the test Redis whose commands hook counts.
func countedRedis(t *testing.T) (redis.UniversalClient, *commandCounter) {
	t.Helper()
	rdb := testRedis(t)
	hook := &commandCounter{n: map[string]int{}}
	rdb.AddHook(hook)
	return rdb, hook
}

// commandCounter counts the commands a client sends, by name.
type commandCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *commandCounter) add(name string) { c.mu.Lock(); c.n[name]++; c.mu.Unlock() }
func (c *commandCounter) get(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[name]
}
func (c *commandCounter) reset() { c.mu.Lock(); c.n = map[string]int{}; c.mu.Unlock() }

func (c *commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.add(cmd.Name())
		return next(ctx, cmd)
	}
}
func (c *commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			c.add(cmd.Name())
		}
		return next(ctx, cmds)
	}
}
