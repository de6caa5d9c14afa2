package tenants

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

var keyShape = regexp.MustCompile(`^scb_[0-9A-Za-z]{46}$`)

func TestKeyFormat(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 200 {
		k, err := newKeyPlaintext()
		if err != nil {
			t.Fatal(err)
		}
		if !keyShape.MatchString(k) {
			t.Fatalf("key %q does not have the scb_ + 46 base62 shape", k)
		}
		if !wellFormedKey(k) {
			t.Fatalf("fresh key fails its own checksum")
		}
		if seen[k] {
			t.Fatal("duplicate key drawn")
		}
		seen[k] = true
	}
}

// Every single-character typo anywhere in a key is caught by the format
// or checksum check.
func TestKeyChecksumCatchesTypos(t *testing.T) {
	t.Parallel()
	k, err := newKeyPlaintext()
	if err != nil {
		t.Fatal(err)
	}
	for i := range len(k) {
		for _, c := range []byte("0aZ_") {
			if k[i] == c {
				continue
			}
			typo := k[:i] + string(c) + k[i+1:]
			if wellFormedKey(typo) {
				t.Errorf("typo at %d (%q) passes the checksum", i, c)
			}
		}
	}
	// Swapping two adjacent different characters of the random part.
	for i := len(keyPrefix); i < len(keyPrefix)+keyRandomLen-1; i++ {
		if k[i] == k[i+1] {
			continue
		}
		b := []byte(k)
		b[i], b[i+1] = b[i+1], b[i]
		if wellFormedKey(string(b)) {
			t.Errorf("transposition at %d passes the checksum", i)
		}
	}
}

// A malformed key is refused without asking Redis: a KeyStore whose Redis
// cannot be reached still says ErrUnauthorized, not ErrUnavailable.
func TestVerifyMalformedNeedsNoRedis(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = rdb.Close() })
	ks := NewKeyStore(rdb)
	k, err := newKeyPlaintext()
	if err != nil {
		t.Fatal(err)
	}
	typo := k[:10] + flip(k[10]) + k[11:]
	if _, err := ks.Verify(context.Background(), "acme", typo); err != ErrUnauthorized {
		t.Errorf("Verify(typo) err = %v, want exactly ErrUnauthorized", err)
	}
	// A well-formed key does go to Redis, which is down: not "unauthorized".
	if _, err := ks.Verify(context.Background(), "acme", k); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Verify(well-formed) with Redis down err = %v, want ErrUnavailable", err)
	}
}

func flip(c byte) string {
	if c == 'a' {
		return "b"
	}
	return "a"
}

func TestKeyLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testRedis(t)
	reg := NewRegistry(rdb)
	ks := NewKeyStore(rdb)
	tenant := newTenantID(t, rdb)
	putTenant(t, reg, tenant)

	okta, oktaKey, err := ks.Create(ctx, tenant, "okta")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if !keyShape.MatchString(okta) {
		t.Errorf("plaintext %q has the wrong shape", okta)
	}
	if oktaKey.Tenant != tenant || oktaKey.Name != "okta" || oktaKey.ID == "" || oktaKey.Revoked ||
		oktaKey.Prefix != okta[4:12] || oktaKey.Created.IsZero() {
		t.Errorf("Create key = %+v", oktaKey)
	}

	got, err := ks.Verify(ctx, tenant, okta)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got.ID != oktaKey.ID || got.Tenant != tenant || got.Name != "okta" {
		t.Errorf("Verify = %+v, want key %+v", got, oktaKey)
	}

	// Names are unique among live keys.
	if _, _, err := ks.Create(ctx, tenant, "okta"); !errors.Is(err, ErrExists) {
		t.Errorf("Create duplicate name err = %v, want ErrExists", err)
	}
	for _, bad := range []string{"", strings.Repeat("n", MaxKeyNameLen+1), "tab\there"} {
		if _, _, err := ks.Create(ctx, tenant, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("Create(name %q) err = %v, want ErrInvalid", bad, err)
		}
	}
	if _, _, err := ks.Create(ctx, "t-no-such-tenant-"+tenant, "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Create for unknown tenant err = %v, want ErrNotFound", err)
	}

	entra, entraKey, err := ks.Create(ctx, tenant, "entra")
	if err != nil {
		t.Fatalf("Create second: %v", err)
	}

	list, err := ks.List(ctx, tenant)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(list) != 2 || list[0].ID != oktaKey.ID || list[1].ID != entraKey.ID {
		t.Fatalf("List = %+v, want okta then entra", list)
	}
	raw, _ := json.Marshal(list)
	if strings.Contains(string(raw), okta) || strings.Contains(string(raw), entra) ||
		strings.Contains(string(raw), hashKey(okta)) {
		t.Error("List output holds a key or its hash")
	}

	// Revoke by name: the next Verify fails; the other key still works.
	if err := ks.Revoke(ctx, tenant, "okta"); err != nil {
		t.Fatalf("Revoke by name: %v", err)
	}
	if _, err := ks.Verify(ctx, tenant, okta); err != ErrUnauthorized {
		t.Errorf("Verify after revoke err = %v, want ErrUnauthorized", err)
	}
	if _, err := ks.Verify(ctx, tenant, entra); err != nil {
		t.Errorf("Verify other key after revoke: %v", err)
	}
	// Revoking again is fine; an unknown key is not found.
	if err := ks.Revoke(ctx, tenant, oktaKey.ID); err != nil {
		t.Errorf("Revoke again by id: %v", err)
	}
	if err := ks.Revoke(ctx, tenant, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Revoke unknown err = %v, want ErrNotFound", err)
	}
	// The name is free again; the revoked key is still listed as revoked.
	okta2, okta2Key, err := ks.Create(ctx, tenant, "okta")
	if err != nil {
		t.Fatalf("Create with a revoked key's name: %v", err)
	}
	list, _ = ks.List(ctx, tenant)
	revoked := map[string]bool{}
	for _, k := range list {
		revoked[k.ID] = k.Revoked
	}
	if len(list) != 3 || !revoked[oktaKey.ID] || revoked[entraKey.ID] || revoked[okta2Key.ID] {
		t.Errorf("List after revoke = %+v", list)
	}

	// Revoke by id.
	if err := ks.Revoke(ctx, tenant, okta2Key.ID); err != nil {
		t.Fatalf("Revoke by id: %v", err)
	}
	if _, err := ks.Verify(ctx, tenant, okta2); err != ErrUnauthorized {
		t.Errorf("Verify after revoke by id err = %v, want ErrUnauthorized", err)
	}

	// Error messages never carry the key.
	if err := ks.Revoke(ctx, tenant, entra); err == nil || strings.Contains(err.Error(), entra) {
		t.Errorf("Revoke(plaintext) err = %v, want not found without the key in it", err)
	}

	// Deleting the tenant kills its keys.
	if err := reg.Delete(ctx, tenant); err != nil {
		t.Fatal(err)
	}
	if _, err := ks.Verify(ctx, tenant, entra); err != ErrUnauthorized {
		t.Errorf("Verify after tenant delete err = %v, want ErrUnauthorized", err)
	}
	if n, _ := rdb.Exists(ctx, keyIndexKey(hashKey(entra))).Result(); n != 0 {
		t.Error("tenant delete left a key's index entry")
	}
}

// Every rejection looks the same: the same error value, the same message.
func TestVerifyRejectsUniformly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testRedis(t)
	reg := NewRegistry(rdb)
	ks := NewKeyStore(rdb)
	tenant, other := newTenantID(t, rdb), newTenantID(t, rdb)
	putTenant(t, reg, tenant)
	putTenant(t, reg, other)

	live, _, err := ks.Create(ctx, tenant, "live")
	if err != nil {
		t.Fatal(err)
	}
	revoked, _, err := ks.Create(ctx, tenant, "revoked")
	if err != nil {
		t.Fatal(err)
	}
	if err := ks.Revoke(ctx, tenant, "revoked"); err != nil {
		t.Fatal(err)
	}
	othersKey, _, err := ks.Create(ctx, other, "theirs")
	if err != nil {
		t.Fatal(err)
	}
	unknown, err := newKeyPlaintext()
	if err != nil {
		t.Fatal(err)
	}

	cases := map[string]string{
		"unknown":          unknown,
		"revoked":          revoked,
		"other tenant's":   othersKey,
		"empty":            "",
		"no prefix":        live[4:],
		"wrong prefix":     "ghp_" + live[4:],
		"truncated":        live[:len(live)-1],
		"extended":         live + "0",
		"checksum typo":    live[:len(live)-1] + flip(live[len(live)-1]),
		"random-part typo": live[:8] + flip(live[8]) + live[9:],
		"not base62":       live[:20] + "-" + live[21:],
		"bearer prefixed":  "Bearer " + live,
	}
	for name, presented := range cases {
		k, err := ks.Verify(ctx, tenant, presented)
		if err != ErrUnauthorized || k != nil {
			t.Errorf("%s: Verify = %v, %v; want nil, exactly ErrUnauthorized", name, k, err)
		}
		if err != nil && err.Error() != ErrUnauthorized.Error() {
			t.Errorf("%s: message %q differs", name, err)
		}
	}
	// The live key is accepted, and only for its tenant.
	if _, err := ks.Verify(ctx, tenant, live); err != nil {
		t.Errorf("live key: %v", err)
	}
	if _, err := ks.Verify(ctx, other, live); err != ErrUnauthorized {
		t.Errorf("live key presented to another tenant err = %v, want ErrUnauthorized", err)
	}
}

// Redis holds no key in clear and nothing that reveals one: only its hash
// and the 8-character display prefix.
func TestRedisHoldsNoPlaintextKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testRedis(t)
	reg := NewRegistry(rdb)
	ks := NewKeyStore(rdb)
	tenant := newTenantID(t, rdb)
	putTenant(t, reg, tenant)

	var plaintexts []string
	for _, name := range []string{"a", "b", "c"} {
		p, _, err := ks.Create(ctx, tenant, name)
		if err != nil {
			t.Fatal(err)
		}
		plaintexts = append(plaintexts, p)
		if _, err := ks.Verify(ctx, tenant, p); err != nil {
			t.Fatal(err)
		}
	}
	ks.Wait() // LastUsed writes
	if err := ks.Revoke(ctx, tenant, "b"); err != nil {
		t.Fatal(err)
	}

	// Everything this test wrote: the tenant's keys and the live index entries.
	var keys []string
	iter := rdb.Scan(ctx, 0, "sb:{"+tenant+"}:*", 100).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	for _, p := range plaintexts {
		keys = append(keys, keyIndexKey(hashKey(p)))
	}
	if len(keys) < 5 {
		t.Fatalf("found only %v", keys)
	}
	var stored []string
	for _, key := range keys {
		stored = append(stored, key)
		typ, err := rdb.Type(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		switch typ {
		case "string":
			stored = append(stored, rdb.Get(ctx, key).Val())
		case "hash":
			for f, v := range rdb.HGetAll(ctx, key).Val() {
				stored = append(stored, f, v)
			}
		case "set":
			stored = append(stored, rdb.SMembers(ctx, key).Val()...)
		case "none": // the revoked key's index entry
		default:
			t.Errorf("unexpected type %s of %s", typ, key)
		}
	}
	all := strings.Join(stored, "\n")
	for _, p := range plaintexts {
		secret := p[len(keyPrefix)+displayPrefixLen : len(keyPrefix)+keyRandomLen]
		if strings.Contains(all, p) || strings.Contains(all, p[len(keyPrefix):]) || strings.Contains(all, secret) {
			t.Errorf("Redis holds key material of %s...", p[:12])
		}
		// Not even a long piece of the secret part.
		for i := 0; i+12 <= len(secret); i++ {
			if strings.Contains(all, secret[i:i+12]) {
				t.Errorf("Redis holds a 12-character piece of a key's secret part")
				break
			}
		}
	}
}

func TestKeyLastUsed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testRedis(t)
	reg := NewRegistry(rdb)
	ks := NewKeyStore(rdb)
	clock := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	ks.now = func() time.Time { return clock }
	tenant := newTenantID(t, rdb)
	putTenant(t, reg, tenant)
	p, _, err := ks.Create(ctx, tenant, "okta")
	if err != nil {
		t.Fatal(err)
	}
	lastUsed := func() time.Time {
		t.Helper()
		ks.Wait()
		list, err := ks.List(ctx, tenant)
		if err != nil || len(list) != 1 {
			t.Fatalf("List = %v, %v", list, err)
		}
		return list[0].LastUsed
	}
	if !lastUsed().IsZero() {
		t.Error("LastUsed set before any use")
	}
	if _, err := ks.Verify(ctx, tenant, p); err != nil {
		t.Fatal(err)
	}
	first := clock
	if got := lastUsed(); !got.Equal(first) {
		t.Errorf("LastUsed = %v, want %v", got, first)
	}
	// Within the minute: not written again.
	clock = clock.Add(30 * time.Second)
	if _, err := ks.Verify(ctx, tenant, p); err != nil {
		t.Fatal(err)
	}
	if got := lastUsed(); !got.Equal(first) {
		t.Errorf("LastUsed within a minute = %v, want still %v", got, first)
	}
	// After it: written.
	clock = clock.Add(31 * time.Second)
	if _, err := ks.Verify(ctx, tenant, p); err != nil {
		t.Fatal(err)
	}
	if got := lastUsed(); !got.Equal(clock) {
		t.Errorf("LastUsed after a minute = %v, want %v", got, clock)
	}
}

func BenchmarkVerify(b *testing.B) {
	ctx := context.Background()
	rdb := testRedis(b)
	reg := NewRegistry(rdb)
	ks := NewKeyStore(rdb)
	tenant := newTenantID(b, rdb)
	putTenant(b, reg, tenant)
	p, _, err := ks.Create(ctx, tenant, "bench")
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := ks.Verify(ctx, tenant, p); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	ks.Wait()
}
