package tenants

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"
)

// Key format: "scb_" + 40 base62 characters of crypto/rand (238 bits) + 6
// base62 characters of the CRC32 (IEEE) of those 40, left-padded with '0'.
// The fixed prefix lets secret scanners recognise a leaked key; the
// checksum lets Verify reject a typo or garbage without asking Redis.
const (
	keyPrefix      = "scb_"
	keyRandomLen   = 40
	keyChecksumLen = 6
	// displayPrefixLen is how many characters after "scb_" are kept, in
	// clear, to tell keys apart in listings.
	displayPrefixLen = 8
	// MaxKeyNameLen is the longest key name Create accepts (in characters).
	MaxKeyNameLen = 100
	// lastUsedEvery is how often, at most, one process records a key's use.
	lastUsedEvery = time.Minute
	// maxLastUsedWrites bounds the LastUsed writes in flight; beyond it an
	// update is skipped (the next use after it records it).
	maxLastUsedWrites = 16
)

const base62Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// keyIndexKey is the global key that maps a key's SHA-256 to its record.
func keyIndexKey(hashHex string) string { return "sb:key:" + hashHex }

// Per-tenant key bookkeeping, all in the tenant's hash slot.
func keysKey(tenant string) string     { return "sb:{" + tenant + "}:keys" }
func keyNamesKey(tenant string) string { return "sb:{" + tenant + "}:keynames" }
func keysUsedKey(tenant string) string { return "sb:{" + tenant + "}:keys:used" }

// Key is a SCIM credential's public description: never its secret, never
// its hash.
type Key struct {
	ID     string `json:"id"`
	Tenant string `json:"tenant"`
	Name   string `json:"name"`
	// Prefix is the first characters after "scb_", for display.
	Prefix   string    `json:"prefix"`
	Created  time.Time `json:"created"`
	LastUsed time.Time `json:"last_used,omitzero"`
	// LastClient is the User-Agent of that use ("Okta SCIM Client 1.0.0"),
	// as recorded with LastUsed; "" when not known.
	LastClient string `json:"last_client,omitempty"`
	Revoked    bool   `json:"revoked,omitempty"`
}

// keyRecord is what Redis holds for a key, in the tenant's key hash and (while
// the key is live) in the global hash index.
type keyRecord struct {
	ID      string    `json:"id"`
	Tenant  string    `json:"tenant"`
	Name    string    `json:"name"`
	Prefix  string    `json:"prefix"`
	Created time.Time `json:"created"`
	Revoked bool      `json:"revoked,omitempty"`
	// RevokedAt is when the key was revoked.
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	// Hash is the hex SHA-256 of the whole key.
	Hash string `json:"hash"`
}

func (r keyRecord) key() Key {
	return Key{ID: r.ID, Tenant: r.Tenant, Name: r.Name, Prefix: r.Prefix, Created: r.Created, Revoked: r.Revoked}
}

// KeyStore creates, lists, verifies and revokes tenants' SCIM keys. Keys
// are stored only as SHA-256 hashes. It is safe for concurrent use.
type KeyStore struct {
	rdb redis.UniversalClient
	now func() time.Time

	cache *keyCache // nil: every Verify asks Redis (see EnableCache)

	used *useRecorder // LastUsed and LastClient, sampled
}

// NewKeyStore returns a KeyStore over rdb.
func NewKeyStore(rdb redis.UniversalClient) *KeyStore {
	return &KeyStore{rdb: rdb, now: time.Now, used: newUseRecorder(rdb)}
}

// createKeyScript records a new key in the tenant's slot: it fails when the
// tenant does not exist or a live key has the name.
// KEYS: tenant record, keys hash, names hash. ARGV: id, name, record JSON.
// The id is new per call: a name that already holds it is this call's own
// write, re-sent by the client after a lost reply ('ok', not 'exists').
var createKeyScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 'notfound' end
if redis.call('HGET', KEYS[3], ARGV[2]) == ARGV[1] then return 'ok' end
if redis.call('HEXISTS', KEYS[3], ARGV[2]) == 1 then return 'exists' end
redis.call('HSET', KEYS[3], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 'ok'
`)

// revokeKeyScript marks a key revoked and frees its name.
// KEYS: keys hash, names hash. ARGV: id, name, revoked record JSON.
var revokeKeyScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
if redis.call('HGET', KEYS[2], ARGV[2]) == ARGV[1] then
  redis.call('HDEL', KEYS[2], ARGV[2])
end
return 1
`)

// Create makes a new key for the tenant and returns its plaintext, which
// is shown once and never stored. The name must be unique among the
// tenant's live keys (ErrExists); the tenant must exist (ErrNotFound).
func (s *KeyStore) Create(ctx context.Context, tenant, name string) (string, Key, error) {
	op := fmt.Sprintf("tenants: create key for %q", truncate(tenant, 70))
	var problems []error
	if !ValidID(tenant) {
		problems = append(problems, errors.New("tenant id: malformed"))
	}
	problems = append(problems, keyNameProblems(name)...)
	if err := validationError(op, problems); err != nil {
		return "", Key{}, err
	}
	plaintext, err := newKeyPlaintext()
	if err != nil {
		return "", Key{}, fmt.Errorf("%s: %w", op, err)
	}
	id, err := newKeyID()
	if err != nil {
		return "", Key{}, fmt.Errorf("%s: %w", op, err)
	}
	rec := keyRecord{
		ID:      id,
		Tenant:  tenant,
		Name:    name,
		Prefix:  plaintext[len(keyPrefix) : len(keyPrefix)+displayPrefixLen],
		Created: s.now().UTC(),
		Hash:    hashKey(plaintext),
	}
	raw, err := json.Marshal(rec)
	if err != nil {
		return "", Key{}, fmt.Errorf("%s: %w", op, err)
	}
	res, err := createKeyScript.Run(ctx, s.rdb,
		[]string{tenantKey(tenant), keysKey(tenant), keyNamesKey(tenant)},
		id, name, raw).Text()
	if err != nil {
		return "", Key{}, unavailable(fmt.Sprintf("create key for %q", tenant), err)
	}
	switch res {
	case "notfound":
		return "", Key{}, fmt.Errorf("%s: tenant: %w", op, ErrNotFound)
	case "exists":
		return "", Key{}, fmt.Errorf("%s: key name %q: %w", op, name, ErrExists)
	}
	// The index is a global key (another hash slot): written last, so a key
	// works only once it is fully recorded.
	if err := s.rdb.Set(ctx, keyIndexKey(rec.Hash), raw, 0).Err(); err != nil {
		// Undo the bookkeeping so the name is free again.
		_, _ = revokeKeyScript.Run(context.WithoutCancel(ctx), s.rdb,
			[]string{keysKey(tenant), keyNamesKey(tenant)}, id, name, revokedJSON(rec, s.now())).Result()
		return "", Key{}, unavailable(fmt.Sprintf("create key for %q", tenant), err)
	}
	return plaintext, rec.key(), nil
}

func revokedJSON(rec keyRecord, now time.Time) []byte {
	rec.Revoked = true
	rec.RevokedAt = now.UTC()
	raw, _ := json.Marshal(rec) // plain struct: cannot fail
	return raw
}

func keyNameProblems(name string) []error { return nameProblems("key name", name) }

// nameProblems checks the name of a credential (a key, an OAuth client);
// what ("key name") starts each message.
func nameProblems(what, name string) []error {
	var problems []error
	n := utf8.RuneCountInString(name)
	switch {
	case name == "":
		problems = append(problems, errors.New(what+": required"))
	case n > MaxKeyNameLen:
		problems = append(problems, fmt.Errorf("%s: %d characters, at most %d", what, n, MaxKeyNameLen))
	}
	if !utf8.ValidString(name) {
		problems = append(problems, errors.New(what+": not valid UTF-8"))
	} else {
		for _, r := range name {
			if !unicode.IsPrint(r) {
				problems = append(problems, errors.New(what+": control or non-printable characters"))
				break
			}
		}
	}
	return problems
}

// List returns the tenant's keys, live and revoked, oldest first.
func (s *KeyStore) List(ctx context.Context, tenant string) ([]Key, error) {
	if !ValidID(tenant) {
		return nil, fmt.Errorf("tenants: list keys of %q: %w", truncate(tenant, 70), ErrNotFound)
	}
	var recs, used *redis.MapStringStringCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		recs = p.HGetAll(ctx, keysKey(tenant))
		used = p.HGetAll(ctx, keysUsedKey(tenant))
		return nil
	})
	if err != nil {
		return nil, unavailable(fmt.Sprintf("list keys of %q", tenant), err)
	}
	lastUsed := used.Val()
	out := make([]Key, 0, len(recs.Val()))
	for id, raw := range recs.Val() {
		var rec keyRecord
		if err := json.Unmarshal([]byte(raw), &rec); err != nil {
			return nil, fmt.Errorf("tenants: list keys of %q: decode key %q: %w", tenant, id, err)
		}
		k := rec.key()
		if sec, err := strconv.ParseInt(lastUsed[id], 10, 64); err == nil {
			k.LastUsed = time.Unix(sec, 0).UTC()
			k.LastClient = lastUsed[id+lastClientSuffix]
		}
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// Revoke revokes the tenant's key with that id or (live) name; it stops
// working at once (in processes with a key cache: at once where the
// announcement reaches them, within the cache's ttl in any case). ErrNotFound when the tenant has no such key; revoking a
// revoked key again is not an error.
func (s *KeyStore) Revoke(ctx context.Context, tenant, idOrName string) error {
	shown := truncate(idOrName, 110)
	if strings.HasPrefix(idOrName, keyPrefix) {
		shown = "[redacted]" // a key's plaintext passed by mistake
	}
	op := fmt.Sprintf("revoke key %q of %q", shown, truncate(tenant, 70))
	if !ValidID(tenant) || idOrName == "" {
		return fmt.Errorf("tenants: %s: %w", op, ErrNotFound)
	}
	rec, err := s.find(ctx, tenant, idOrName)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return fmt.Errorf("tenants: %s: %w", op, err)
		}
		return unavailable(op, err)
	}
	// The index entry is what Verify reads: deleting it is the revocation.
	// Done even for a key already marked revoked, in case an earlier
	// attempt failed between the steps.
	if err := s.rdb.Del(ctx, keyIndexKey(rec.Hash)).Err(); err != nil {
		return unavailable(op, err)
	}
	if rec.Revoked {
		s.announce(ctx, tenant)
		return nil
	}
	if err := revokeKeyScript.Run(ctx, s.rdb, []string{keysKey(tenant), keyNamesKey(tenant)},
		rec.ID, rec.Name, revokedJSON(*rec, s.now())).Err(); err != nil {
		return unavailable(op, err)
	}
	s.used.forget(rec.ID)
	s.announce(ctx, tenant)
	return nil
}

// announce drops the tenant's cached keys here and in every watching
// process. A failed announcement is not an error: the revocation is in
// Redis, and other processes' cache entries expire within their ttl.
func (s *KeyStore) announce(ctx context.Context, tenant string) {
	_ = announceKeysChanged(ctx, s.rdb, s.cache, tenant)
}

// find loads a key record by id, else by live name.
func (s *KeyStore) find(ctx context.Context, tenant, idOrName string) (*keyRecord, error) {
	raw, err := s.rdb.HGet(ctx, keysKey(tenant), idOrName).Result()
	if errors.Is(err, redis.Nil) {
		id, err2 := s.rdb.HGet(ctx, keyNamesKey(tenant), idOrName).Result()
		if errors.Is(err2, redis.Nil) {
			return nil, ErrNotFound
		}
		if err2 != nil {
			return nil, err2
		}
		raw, err = s.rdb.HGet(ctx, keysKey(tenant), id).Result()
		if errors.Is(err, redis.Nil) {
			return nil, ErrNotFound
		}
	}
	if err != nil {
		return nil, err
	}
	var rec keyRecord
	if err := json.Unmarshal([]byte(raw), &rec); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return &rec, nil
}

// Verify checks a presented key against the tenant's live keys. Every
// rejection (malformed, bad checksum, unknown, revoked, another tenant's)
// returns exactly ErrUnauthorized; only a Redis failure returns something
// else (wrapping ErrUnavailable). A malformed key costs no Redis round trip.
func (s *KeyStore) Verify(ctx context.Context, tenant, presented string) (*Key, error) {
	return s.VerifyFrom(ctx, tenant, presented, "")
}

// VerifyFrom is Verify for a request from client (its User-Agent, "" when
// none), which is recorded with the key's last use (LastClient): at most
// once per key per minute in this process, like the time of use, so
// tracking costs no Redis write per request.
func (s *KeyStore) VerifyFrom(ctx context.Context, tenant, presented, client string) (*Key, error) {
	if !wellFormedKey(presented) || !ValidID(tenant) {
		return nil, ErrUnauthorized
	}
	rec, err := s.liveKey(ctx, tenant, hashKey(presented))
	if err != nil {
		return nil, err
	}
	if rec.Tenant != tenant {
		return nil, ErrUnauthorized
	}
	k := rec.key()
	k.LastUsed = s.touch(ctx, tenant, rec.ID, client)
	return &k, nil
}

// liveKey returns the live key whose hash is sum, from the cache or from
// Redis (then cached): ErrUnauthorized when there is none.
func (s *KeyStore) liveKey(ctx context.Context, tenant, sum string) (keyRecord, error) {
	if s.cache != nil {
		if rec, ok := s.cache.get(sum, s.now()); ok {
			return rec, nil
		}
	}
	var gen uint64
	if s.cache != nil {
		gen = s.cache.generation()
	}
	raw, err := s.rdb.Get(ctx, keyIndexKey(sum)).Bytes()
	if errors.Is(err, redis.Nil) {
		return keyRecord{}, ErrUnauthorized
	}
	if err != nil {
		return keyRecord{}, unavailable(fmt.Sprintf("verify key for %q", tenant), err)
	}
	var rec keyRecord
	if err := json.Unmarshal(raw, &rec); err != nil ||
		rec.Revoked || subtle.ConstantTimeCompare([]byte(rec.Hash), []byte(sum)) != 1 {
		return keyRecord{}, ErrUnauthorized
	}
	if s.cache != nil {
		s.cache.put(sum, rec, gen, s.now())
	}
	return rec, nil
}

// touch records the key's use at most once per lastUsedEvery in this
// process, in the background, and returns the time of use.
func (s *KeyStore) touch(ctx context.Context, tenant, id, client string) time.Time {
	now := s.now()
	s.used.touch(ctx, now, id, keysUsedKey(tenant), id, id+lastClientSuffix, client)
	return now.UTC()
}

// lastClientSuffix names the field of a key's last client in the
// keys:used hash, beside the key id's own field (its last use).
const lastClientSuffix = "/client"

// maxClientLen bounds a recorded User-Agent (in bytes).
const maxClientLen = 120

// cleanClient is a User-Agent as recorded: printable characters only, at
// most maxClientLen bytes.
func cleanClient(ua string) string {
	var b strings.Builder
	for _, r := range ua {
		if b.Len()+utf8.RuneLen(r) > maxClientLen {
			break
		}
		if unicode.IsPrint(r) {
			b.WriteRune(r)
		}
	}
	return strings.TrimSpace(b.String())
}

// Wait blocks until the background LastUsed writes started so far are done
// (for a graceful shutdown).
func (s *KeyStore) Wait() {
	s.used.wait()
}

// deleteTenantKeys removes all of a tenant's keys and OAuth clients: the
// keys' global index entries first (so they stop working), then the
// clients, then the tenant's key bookkeeping.
func deleteTenantKeys(ctx context.Context, rdb redis.UniversalClient, tenant string) error {
	recs, err := rdb.HGetAll(ctx, keysKey(tenant)).Result()
	if err != nil {
		return err
	}
	for _, raw := range recs {
		var rec keyRecord
		if err := json.Unmarshal([]byte(raw), &rec); err != nil || rec.Hash == "" {
			continue
		}
		if err := rdb.Del(ctx, keyIndexKey(rec.Hash)).Err(); err != nil {
			return err
		}
	}
	if err := deleteTenantOAuthClients(ctx, rdb, tenant); err != nil {
		return err
	}
	_ = announceKeysChanged(ctx, rdb, nil, tenant) // see KeyStore.announce
	return rdb.Del(ctx, keysKey(tenant), keyNamesKey(tenant), keysUsedKey(tenant)).Err()
}

// hashKey is the hex SHA-256 of a key's plaintext.
func hashKey(plaintext string) string {
	sum := sha256.Sum256([]byte(plaintext))
	return hex.EncodeToString(sum[:])
}

// newKeyPlaintext draws a new key.
func newKeyPlaintext() (string, error) { return newSecret(keyPrefix) }

// newSecret draws a new secret in the key format with another prefix (an
// OAuth client's secret).
func newSecret(prefix string) (string, error) {
	random := make([]byte, 0, keyRandomLen)
	var buf [64]byte
	for len(random) < keyRandomLen {
		if _, err := rand.Read(buf[:]); err != nil {
			return "", fmt.Errorf("random: %w", err)
		}
		for _, b := range buf {
			// 248 = 4*62: rejecting the rest keeps every character equally likely.
			if b < 248 && len(random) < keyRandomLen {
				random = append(random, base62Alphabet[b%62])
			}
		}
	}
	return prefix + string(random) + keyChecksum(random), nil
}

// keyChecksum is the CRC32 of the random part in keyChecksumLen base62
// characters (62^6 > 2^32).
func keyChecksum(random []byte) string {
	n := crc32.ChecksumIEEE(random)
	var out [keyChecksumLen]byte
	for i := keyChecksumLen - 1; i >= 0; i-- {
		out[i] = base62Alphabet[n%62]
		n /= 62
	}
	return string(out[:])
}

// wellFormedKey checks a presented key's shape and checksum.
func wellFormedKey(k string) bool { return wellFormedSecret(keyPrefix, k) }

// wellFormedSecret checks the shape and checksum of a secret drawn by
// newSecret(prefix).
func wellFormedSecret(prefix, k string) bool {
	if len(k) != len(prefix)+keyRandomLen+keyChecksumLen || k[:len(prefix)] != prefix {
		return false
	}
	body := k[len(prefix):]
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	random := []byte(body[:keyRandomLen])
	return subtle.ConstantTimeCompare([]byte(keyChecksum(random)), []byte(body[keyRandomLen:])) == 1
}

// newKeyID returns a random key id ("k" + 16 hex characters).
func newKeyID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return "k" + hex.EncodeToString(b[:]), nil
}
