package tenants

// OAuth 2.0 clients of a tenant (RFC 6749 §4.4, client credentials),
// beside its API keys: created with a secret shown once and stored only as
// its SHA-256, listed without it, revoked. oauthtoken.go issues and
// verifies the access tokens they obtain.

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Client id: "<tenant>.c" + 16 hex characters of crypto/rand. The tenant is
// readable in it (tenant ids have no '.'), so the one token endpoint finds
// the client's record in the tenant's hash slot without a global index.
// Client secret: "scbs_" + 40 base62 characters of crypto/rand (238 bits) +
// 6 of their CRC32, drawn like an API key (keys.go): a fast hash of so much
// entropy is safe to store, and a typo is refused without Redis.
const (
	clientSecretPrefix = "scbs_"
	clientIDRandomHex  = 16
)

// Per-tenant OAuth client bookkeeping, all in the tenant's hash slot.
func oauthClientsKey(tenant string) string     { return "sb:{" + tenant + "}:oauth:clients" }
func oauthClientNamesKey(tenant string) string { return "sb:{" + tenant + "}:oauth:clientnames" }
func oauthClientsUsedKey(tenant string) string { return "sb:{" + tenant + "}:oauth:clients:used" }

// OAuthClient is an OAuth client's public description: never its secret,
// never its hash.
type OAuthClient struct {
	ID     string `json:"client_id"`
	Tenant string `json:"tenant"`
	Name   string `json:"name"`
	// SecretPrefix is the first characters of the secret after "scbs_",
	// for display.
	SecretPrefix string    `json:"secret_prefix"`
	Created      time.Time `json:"created"`
	// LastToken is when the client last obtained an access token.
	LastToken time.Time `json:"last_token,omitzero"`
	// LastUsed is when one of its access tokens last authenticated a
	// request (recorded at most once a minute per client per process),
	// LastClient that request's User-Agent ("" when not known).
	LastUsed   time.Time `json:"last_used,omitzero"`
	LastClient string    `json:"last_client,omitempty"`
	Revoked    bool      `json:"revoked,omitempty"`
}

// oauthClientRecord is what Redis holds for a client, in the tenant's
// client hash.
type oauthClientRecord struct {
	ID           string    `json:"id"`
	Tenant       string    `json:"tenant"`
	Name         string    `json:"name"`
	SecretPrefix string    `json:"secret_prefix"`
	Created      time.Time `json:"created"`
	Revoked      bool      `json:"revoked,omitempty"`
	RevokedAt    time.Time `json:"revoked_at,omitzero"`
	// Hash is the hex SHA-256 of the secret.
	Hash string `json:"hash"`
}

func (r oauthClientRecord) client() OAuthClient {
	return OAuthClient{ID: r.ID, Tenant: r.Tenant, Name: r.Name, SecretPrefix: r.SecretPrefix,
		Created: r.Created, Revoked: r.Revoked}
}

// OAuthClients creates, lists, authenticates and revokes tenants' OAuth
// clients, and answers whether a client is live (for the access tokens it
// obtained). It is safe for concurrent use.
type OAuthClients struct {
	rdb   redis.UniversalClient
	now   func() time.Time
	cache *clientCache // nil: every liveness check asks Redis (see EnableCache)
	used  *useRecorder // LastUsed and LastClient, sampled
}

// NewOAuthClients returns the OAuth clients stored in rdb.
func NewOAuthClients(rdb redis.UniversalClient) *OAuthClients {
	return &OAuthClients{rdb: rdb, now: time.Now, used: newUseRecorder(rdb)}
}

// The fields of a client's last request in the clients:used hash, beside
// the client id's own field (its last token).
const lastRequestSuffix = "/request"

// touch records a request authenticated by one of the client's tokens, at
// most once per lastUsedEvery in this process, in the background.
func (s *OAuthClients) touch(ctx context.Context, tenant, id, client string) {
	s.used.touch(ctx, s.now(), id, oauthClientsUsedKey(tenant), id+lastRequestSuffix, id+lastClientSuffix, client)
}

// Wait blocks until the background LastUsed writes started so far are done
// (for a graceful shutdown).
func (s *OAuthClients) Wait() { s.used.wait() }

// ClientTenant is the tenant a client id belongs to ("" when the id is not
// one Create makes).
func ClientTenant(clientID string) string {
	tenant, rest, ok := strings.Cut(clientID, ".")
	if !ok || !ValidID(tenant) || len(rest) != 1+clientIDRandomHex || rest[0] != 'c' {
		return ""
	}
	for i := 1; i < len(rest); i++ {
		if c := rest[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return ""
		}
	}
	return tenant
}

func newClientID(tenant string) (string, error) {
	var b [clientIDRandomHex / 2]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return tenant + ".c" + hex.EncodeToString(b[:]), nil
}

// Create makes a new OAuth client for the tenant and returns its secret,
// which is shown once and never stored. The name must be unique among the
// tenant's live clients (ErrExists); the tenant must exist (ErrNotFound).
func (s *OAuthClients) Create(ctx context.Context, tenant, name string) (string, OAuthClient, error) {
	op := fmt.Sprintf("tenants: create OAuth client for %q", truncate(tenant, 70))
	var problems []error
	if !ValidID(tenant) {
		problems = append(problems, errors.New("tenant id: malformed"))
	}
	problems = append(problems, nameProblems("client name", name)...)
	if err := validationError(op, problems); err != nil {
		return "", OAuthClient{}, err
	}
	secret, err := newSecret(clientSecretPrefix)
	if err != nil {
		return "", OAuthClient{}, fmt.Errorf("%s: %w", op, err)
	}
	id, err := newClientID(tenant)
	if err != nil {
		return "", OAuthClient{}, fmt.Errorf("%s: %w", op, err)
	}
	rec := oauthClientRecord{
		ID:           id,
		Tenant:       tenant,
		Name:         name,
		SecretPrefix: secret[len(clientSecretPrefix) : len(clientSecretPrefix)+displayPrefixLen],
		Created:      s.now().UTC(),
		Hash:         hashKey(secret),
	}
	raw, err := json.Marshal(rec)
	if err != nil {
		return "", OAuthClient{}, fmt.Errorf("%s: %w", op, err)
	}
	// The key script fits as it is: tenant must exist, name must be free.
	res, err := createKeyScript.Run(ctx, s.rdb,
		[]string{tenantKey(tenant), oauthClientsKey(tenant), oauthClientNamesKey(tenant)},
		id, name, raw).Text()
	if err != nil {
		return "", OAuthClient{}, unavailable(fmt.Sprintf("create OAuth client for %q", tenant), err)
	}
	switch res {
	case "notfound":
		return "", OAuthClient{}, fmt.Errorf("%s: tenant: %w", op, ErrNotFound)
	case "exists":
		return "", OAuthClient{}, fmt.Errorf("%s: client name %q: %w", op, name, ErrExists)
	}
	return secret, rec.client(), nil
}

// List returns the tenant's OAuth clients, live and revoked, oldest first.
func (s *OAuthClients) List(ctx context.Context, tenant string) ([]OAuthClient, error) {
	if !ValidID(tenant) {
		return nil, fmt.Errorf("tenants: list OAuth clients of %q: %w", truncate(tenant, 70), ErrNotFound)
	}
	var recs, used *redis.MapStringStringCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		recs = p.HGetAll(ctx, oauthClientsKey(tenant))
		used = p.HGetAll(ctx, oauthClientsUsedKey(tenant))
		return nil
	})
	if err != nil {
		return nil, unavailable(fmt.Sprintf("list OAuth clients of %q", tenant), err)
	}
	out := make([]OAuthClient, 0, len(recs.Val()))
	for id, raw := range recs.Val() {
		var rec oauthClientRecord
		if err := json.Unmarshal([]byte(raw), &rec); err != nil {
			return nil, fmt.Errorf("tenants: list OAuth clients of %q: decode client %q: %w", tenant, id, err)
		}
		c := rec.client()
		if sec, err := strconv.ParseInt(used.Val()[id], 10, 64); err == nil {
			c.LastToken = time.Unix(sec, 0).UTC()
		}
		if sec, err := strconv.ParseInt(used.Val()[id+lastRequestSuffix], 10, 64); err == nil {
			c.LastUsed = time.Unix(sec, 0).UTC()
			c.LastClient = used.Val()[id+lastClientSuffix]
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// Revoke revokes the tenant's client with that id or (live) name: it gets
// no more tokens, and the tokens it has stop working at once in this
// process and, through the key-change announcement, in every watching one
// (within the liveness cache's ttl in any case). ErrNotFound when the
// tenant has no such client; revoking a revoked client again is not an
// error.
func (s *OAuthClients) Revoke(ctx context.Context, tenant, idOrName string) error {
	shown := truncate(idOrName, 110)
	if strings.HasPrefix(idOrName, clientSecretPrefix) {
		shown = "[redacted]" // a secret passed by mistake
	}
	op := fmt.Sprintf("revoke OAuth client %q of %q", shown, truncate(tenant, 70))
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
	if !rec.Revoked {
		rec.Revoked, rec.RevokedAt = true, s.now().UTC()
		raw, _ := json.Marshal(rec) // plain struct: cannot fail
		if err := revokeKeyScript.Run(ctx, s.rdb, []string{oauthClientsKey(tenant), oauthClientNamesKey(tenant)},
			rec.ID, rec.Name, raw).Err(); err != nil {
			return unavailable(op, err)
		}
	}
	s.used.forget(rec.ID)
	s.announce(ctx, tenant)
	return nil
}

// announce drops the tenant's cached client liveness here and, over
// keysChangedChannel, in every watching process (key caches too, which
// costs them one Redis read). A failed announcement is not an error: the
// revocation is in Redis, and other processes' entries expire within
// their ttl.
func (s *OAuthClients) announce(ctx context.Context, tenant string) {
	if s.cache != nil {
		s.cache.invalidate(tenant)
	}
	_ = announceKeysChanged(ctx, s.rdb, nil, tenant)
}

// find loads a client record by id, else by live name.
func (s *OAuthClients) find(ctx context.Context, tenant, idOrName string) (*oauthClientRecord, error) {
	raw, err := s.rdb.HGet(ctx, oauthClientsKey(tenant), idOrName).Result()
	if errors.Is(err, redis.Nil) {
		id, err2 := s.rdb.HGet(ctx, oauthClientNamesKey(tenant), idOrName).Result()
		if errors.Is(err2, redis.Nil) {
			return nil, ErrNotFound
		}
		if err2 != nil {
			return nil, err2
		}
		raw, err = s.rdb.HGet(ctx, oauthClientsKey(tenant), id).Result()
		if errors.Is(err, redis.Nil) {
			return nil, ErrNotFound
		}
	}
	if err != nil {
		return nil, err
	}
	var rec oauthClientRecord
	if err := json.Unmarshal([]byte(raw), &rec); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return &rec, nil
}

// Authenticate checks a client id and secret (RFC 6749 §2.3.1). Every
// rejection (malformed, unknown, revoked, wrong secret) returns exactly
// ErrUnauthorized; only a Redis failure returns something else (wrapping
// ErrUnavailable). A malformed id or secret costs no Redis round trip; the
// secret's hash is compared in constant time.
func (s *OAuthClients) Authenticate(ctx context.Context, clientID, secret string) (*OAuthClient, error) {
	tenant := ClientTenant(clientID)
	if tenant == "" || !wellFormedSecret(clientSecretPrefix, secret) {
		return nil, ErrUnauthorized
	}
	raw, err := s.rdb.HGet(ctx, oauthClientsKey(tenant), clientID).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrUnauthorized
	}
	if err != nil {
		return nil, unavailable(fmt.Sprintf("authenticate OAuth client of %q", tenant), err)
	}
	var rec oauthClientRecord
	if err := json.Unmarshal(raw, &rec); err != nil || rec.Revoked || rec.Tenant != tenant ||
		subtle.ConstantTimeCompare([]byte(rec.Hash), []byte(hashKey(secret))) != 1 {
		return nil, ErrUnauthorized
	}
	c := rec.client()
	return &c, nil
}

// recordToken notes that the client obtained a token (for List); a failure
// only loses the note.
func (s *OAuthClients) recordToken(ctx context.Context, c *OAuthClient) {
	now := s.now()
	c.LastToken = now.UTC()
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	_ = s.rdb.HSet(wctx, oauthClientsUsedKey(c.Tenant), c.ID, now.Unix()).Err()
}

// live reports whether the tenant's client exists and is not revoked: from
// the cache, or from Redis (then cached). Only a Redis failure is an error.
func (s *OAuthClients) live(ctx context.Context, tenant, clientID string) (bool, error) {
	var gen uint64
	if s.cache != nil {
		if live, ok := s.cache.get(clientID, s.now()); ok {
			return live, nil
		}
		gen = s.cache.generation()
	}
	raw, err := s.rdb.HGet(ctx, oauthClientsKey(tenant), clientID).Bytes()
	live := false
	switch {
	case errors.Is(err, redis.Nil):
	case err != nil:
		return false, unavailable(fmt.Sprintf("check OAuth client of %q", tenant), err)
	default:
		var rec oauthClientRecord
		live = json.Unmarshal(raw, &rec) == nil && !rec.Revoked && rec.Tenant == tenant
	}
	if s.cache != nil {
		s.cache.put(tenant, clientID, live, gen, s.now())
	}
	return live, nil
}

// EnableCache makes liveness checks remember a client's state: a live
// client for up to ttl, a revoked or deleted one (which cannot come back)
// until the next announcement for its tenant. 0 or less: every check asks
// Redis, the default. Call it before use, and run Watch so that
// revocations made by other processes reach this one at once.
func (s *OAuthClients) EnableCache(ttl time.Duration) {
	if ttl > 0 {
		s.cache = &clientCache{ttl: ttl, entries: make(map[string]cachedClient)}
	}
}

// Watch listens for credential changes announced by any process (a
// client's or a key's revocation, a tenant's deletion) and drops the
// affected cached liveness, until ctx ends. Without a cache it returns at
// once.
func (s *OAuthClients) Watch(ctx context.Context, log *slog.Logger) {
	if s.cache == nil {
		return
	}
	watchCredentialChanges(ctx, s.rdb, log, "OAuth client", s.cache.invalidate)
}

// clientCache remembers whether clients are live, by client id, so that
// verifying an access token costs at most one Redis read per client per
// ttl in a process, as a key costs with the key cache.
type clientCache struct {
	ttl time.Duration

	mu      sync.RWMutex
	entries map[string]cachedClient
	gen     uint64 // bumped by every invalidation
}

type cachedClient struct {
	tenant  string
	live    bool
	expires time.Time // zero: until invalidated (a dead client)
}

func (c *clientCache) get(clientID string, now time.Time) (live, ok bool) {
	c.mu.RLock()
	e, found := c.entries[clientID]
	c.mu.RUnlock()
	if !found || (!e.expires.IsZero() && !now.Before(e.expires)) {
		return false, false
	}
	return e.live, true
}

func (c *clientCache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// put caches the state read after gen was, unless an invalidation came in
// between (the state may then be stale).
func (c *clientCache) put(tenant, clientID string, live bool, gen uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if len(c.entries) >= maxCachedKeys {
		for k, e := range c.entries {
			if e.live && !now.Before(e.expires) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= maxCachedKeys {
			return
		}
	}
	e := cachedClient{tenant: tenant, live: live}
	if live {
		e.expires = now.Add(c.ttl)
	}
	c.entries[clientID] = e
}

// invalidate drops the tenant's entries ("" drops all).
func (c *clientCache) invalidate(tenant string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.entries {
		if tenant == "" || e.tenant == tenant {
			delete(c.entries, k)
		}
	}
}

// deleteTenantOAuthClients removes all of a tenant's clients (their tokens
// then fail the liveness check).
func deleteTenantOAuthClients(ctx context.Context, rdb redis.UniversalClient, tenant string) error {
	return rdb.Del(ctx, oauthClientsKey(tenant), oauthClientNamesKey(tenant), oauthClientsUsedKey(tenant)).Err()
}
