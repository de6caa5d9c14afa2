package tenants

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func testTokenKey(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func newTestTokens(t *testing.T, clients *OAuthClients, key []byte) *AccessTokens {
	t.Helper()
	tokens, err := NewAccessTokens(clients, key, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tokens
}

// A client's secret is shown once: Redis holds only its SHA-256, List
// shows neither, and the id names the tenant.
func TestOAuthClientSecretIsStoredOnlyHashed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testRedis(t)
	reg := NewRegistry(rdb)
	tenant := newTenantID(t, rdb)
	putTenant(t, reg, tenant)
	clients := NewOAuthClients(rdb)

	secret, c, err := clients.Create(ctx, tenant, "entra")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, clientSecretPrefix) || !wellFormedSecret(clientSecretPrefix, secret) {
		t.Fatalf("secret %q", secret)
	}
	if ClientTenant(c.ID) != tenant || c.Name != "entra" || c.Tenant != tenant {
		t.Fatalf("client %+v", c)
	}
	if _, _, err := clients.Create(ctx, tenant, "entra"); !errors.Is(err, ErrExists) {
		t.Fatalf("second client named entra: %v, want ErrExists", err)
	}
	if _, _, err := clients.Create(ctx, "no-such-tenant-x", "entra"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("client of an unknown tenant: %v, want ErrNotFound", err)
	}

	keys, err := rdb.Keys(ctx, "sb:{"+tenant+"}:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		dump, err := rdb.Dump(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(dump, secret) || strings.Contains(dump, secret[len(clientSecretPrefix):]) {
			t.Fatalf("the secret is in Redis in clear text under %s", k)
		}
	}
	raw, err := rdb.HGet(ctx, oauthClientsKey(tenant), c.ID).Result()
	if err != nil || !strings.Contains(raw, hashKey(secret)) {
		t.Fatalf("record %s (%v): want the secret's SHA-256", raw, err)
	}

	list, err := clients.List(ctx, tenant)
	if err != nil || len(list) != 1 || list[0].ID != c.ID {
		t.Fatalf("list: %+v %v", list, err)
	}
	js, _ := json.Marshal(list)
	if bytes.Contains(js, []byte(secret)) || bytes.Contains(js, []byte(hashKey(secret))) || bytes.Contains(js, []byte(`"hash"`)) {
		t.Fatalf("list JSON shows the secret or its hash: %s", js)
	}
}

// Authenticate accepts the id and secret, nothing else: every failure is
// ErrUnauthorized, and a revoked client is refused.
func TestOAuthClientAuthenticate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testRedis(t)
	reg := NewRegistry(rdb)
	tenant, other := newTenantID(t, rdb), newTenantID(t, rdb)
	putTenant(t, reg, tenant)
	putTenant(t, reg, other)
	clients := NewOAuthClients(rdb)
	secret, c, err := clients.Create(ctx, tenant, "entra")
	if err != nil {
		t.Fatal(err)
	}
	otherSecret, _, err := clients.Create(ctx, other, "entra")
	if err != nil {
		t.Fatal(err)
	}
	got, err := clients.Authenticate(ctx, c.ID, secret)
	if err != nil || got.ID != c.ID || got.Tenant != tenant {
		t.Fatalf("authenticate: %+v %v", got, err)
	}
	forged := other + c.ID[strings.IndexByte(c.ID, '.'):] // the same random part, another tenant
	typo := secret[:len(secret)-1] + string(rune(secret[len(secret)-1]^1))
	for name, try := range map[string][2]string{
		"another client's secret":  {c.ID, otherSecret},
		"a typo":                   {c.ID, typo},
		"no secret":                {c.ID, ""},
		"the id in another tenant": {forged, secret},
		"a malformed id":           {"entra", secret},
		"an API key as the secret": {c.ID, "scb_" + secret[len(clientSecretPrefix):]},
	} {
		if _, err := clients.Authenticate(ctx, try[0], try[1]); !errors.Is(err, ErrUnauthorized) || err != ErrUnauthorized { //nolint:errorlint // exactly ErrUnauthorized
			t.Errorf("%s: %v, want exactly ErrUnauthorized", name, err)
		}
	}
	if err := clients.Revoke(ctx, tenant, "entra"); err != nil {
		t.Fatal(err)
	}
	if _, err := clients.Authenticate(ctx, c.ID, secret); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("revoked client: %v", err)
	}
	if err := clients.Revoke(ctx, tenant, c.ID); err != nil {
		t.Fatalf("revoking again: %v", err)
	}
	if err := clients.Revoke(ctx, tenant, "entra"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoke by a name no live client has: %v", err)
	}
	if err := clients.Revoke(ctx, tenant, secret); err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("revoke with the secret as the id: %v (the message must not show it)", err)
	}
	list, _ := clients.List(ctx, tenant)
	if len(list) != 1 || !list[0].Revoked {
		t.Fatalf("list after revoke: %+v", list)
	}
	// The name is free again.
	if _, _, err := clients.Create(ctx, tenant, "entra"); err != nil {
		t.Fatal(err)
	}
}

// A token opens its tenant only, until it expires; a changed byte, another
// key or another tenant is refused.
func TestAccessTokenVerify(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testRedis(t)
	reg := NewRegistry(rdb)
	tenant, other := newTenantID(t, rdb), newTenantID(t, rdb)
	putTenant(t, reg, tenant)
	putTenant(t, reg, other)
	clients := NewOAuthClients(rdb)
	secret, created, err := clients.Create(ctx, tenant, "entra")
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Now()}
	tokens := newTestTokens(t, clients, testTokenKey(1))
	tokens.now = clock.now
	c, err := tokens.Authenticate(ctx, created.ID, secret)
	if err != nil {
		t.Fatal(err)
	}
	tok, exp, err := tokens.Issue(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if !IsAccessToken(tok) || exp.Sub(clock.now()) > time.Hour || exp.Sub(clock.now()) < time.Hour-time.Second {
		t.Fatalf("token %q expires %v", tok, exp)
	}
	at, err := tokens.Verify(ctx, tenant, tok)
	if err != nil || at.Tenant != tenant || at.ClientID != c.ID {
		t.Fatalf("verify: %+v %v", at, err)
	}
	if list, _ := clients.List(ctx, tenant); list[0].LastToken.IsZero() {
		t.Errorf("list does not show the last token: %+v", list[0])
	}

	i := strings.LastIndexByte(tok, '.')
	payload, _ := base64.RawURLEncoding.DecodeString(tok[len(accessTokenPrefix):i])
	reTenant := bytes.Replace(payload, []byte(`"t":"`+tenant+`"`), []byte(`"t":"`+other+`"`), 1)
	tampered := map[string]string{
		"a flipped signature byte": tok[:len(tok)-2] + string(rune(tok[len(tok)-2]^1)) + tok[len(tok)-1:],
		"another tenant's claims":  accessTokenPrefix + base64.RawURLEncoding.EncodeToString(reTenant) + tok[i:],
		"no signature":             tok[:i],
		"empty":                    accessTokenPrefix,
	}
	for name, bad := range tampered {
		if _, err := tokens.Verify(ctx, tenant, bad); err != ErrUnauthorized { //nolint:errorlint // exactly
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := tokens.Verify(ctx, other, tok); err != ErrUnauthorized { //nolint:errorlint // exactly
		t.Errorf("another tenant: %v", err)
	}
	otherKey := newTestTokens(t, clients, testTokenKey(2))
	if _, err := otherKey.Verify(ctx, tenant, tok); err != ErrUnauthorized { //nolint:errorlint // exactly
		t.Errorf("another signing key: %v", err)
	}
	clock.add(time.Hour)
	if _, err := tokens.Verify(ctx, tenant, tok); err != ErrUnauthorized { //nolint:errorlint // exactly
		t.Errorf("expired: %v", err)
	}
}

// Revoking a client ends its tokens: at once in the revoking process and
// in a watching one, within the cache's ttl in one that missed the
// announcement; a deleted tenant's tokens end too.
func TestAccessTokenRevocation(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rdb := testRedis(t)
	reg := NewRegistry(rdb)
	tenant := newTenantID(t, rdb)
	putTenant(t, reg, tenant)

	key := testTokenKey(3)
	process := func(ttl time.Duration, watch bool) (*OAuthClients, *AccessTokens) {
		c := NewOAuthClients(rdb)
		c.EnableCache(ttl)
		if watch {
			subscribed := make(chan struct{})
			go watchCredentialChanges(ctx, rdb, nil, "test", func(tenant string) {
				c.cache.invalidate(tenant)
				if tenant == "" {
					select {
					case <-subscribed:
					default:
						close(subscribed)
					}
				}
			})
			<-subscribed
		}
		return c, newTestTokens(t, c, key)
	}
	revoker, revokerTokens := process(time.Hour, false)
	_, watched := process(time.Hour, true)
	clock := &fakeClock{t: time.Now()}
	unwatchedClients, unwatched := process(time.Second, false)
	unwatchedClients.now = clock.now
	unwatched.now = clock.now

	secret, c, err := revoker.Create(ctx, tenant, "entra")
	if err != nil {
		t.Fatal(err)
	}
	auth, err := revoker.Authenticate(ctx, c.ID, secret)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := revokerTokens.Issue(ctx, auth)
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]*AccessTokens{"revoker": revokerTokens, "watched": watched, "unwatched": unwatched} {
		if _, err := p.Verify(ctx, tenant, tok); err != nil {
			t.Fatalf("%s before the revocation: %v", name, err)
		}
	}
	if err := revoker.Revoke(ctx, tenant, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := revokerTokens.Verify(ctx, tenant, tok); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("revoking process still accepts the token: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := watched.Verify(ctx, tenant, tok)
		if errors.Is(err, ErrUnauthorized) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a watching process still accepts the revoked client's token: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The process that missed the announcement trusts its cache for at
	// most the ttl.
	if _, err := unwatched.Verify(ctx, tenant, tok); err != nil {
		t.Fatalf("within the ttl: %v", err)
	}
	clock.add(time.Second)
	if _, err := unwatched.Verify(ctx, tenant, tok); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("after the ttl: %v", err)
	}

	// A new client, then the tenant is deleted: its tokens end.
	secret, c, err = revoker.Create(ctx, tenant, "entra")
	if err != nil {
		t.Fatal(err)
	}
	auth, _ = revoker.Authenticate(ctx, c.ID, secret)
	tok, _, _ = revokerTokens.Issue(ctx, auth)
	if _, err := watched.Verify(ctx, tenant, tok); err != nil {
		t.Fatal(err)
	}
	if err := reg.Delete(ctx, tenant); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		_, err := watched.Verify(ctx, tenant, tok)
		if errors.Is(err, ErrUnauthorized) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a deleted tenant's token still works: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDeriveTokenKey(t *testing.T) {
	a, err := DeriveTokenKey(testTokenKey(7))
	if err != nil || len(a) != 32 {
		t.Fatalf("%x %v", a, err)
	}
	if bytes.Equal(a, testTokenKey(7)) {
		t.Fatal("the token key is the sealing key")
	}
	b, _ := DeriveTokenKey(testTokenKey(8))
	if bytes.Equal(a, b) {
		t.Fatal("two secret keys, one token key")
	}
	if _, err := DeriveTokenKey([]byte("short")); err == nil {
		t.Fatal("a short secret key was accepted")
	}
}
