package tenants

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// keysChangedChannel is the Redis pub/sub channel on which a revocation
// (or a tenant's deletion) names the tenant whose keys changed, so every
// API process drops what it has cached for that tenant.
const keysChangedChannel = "sb:keys:changed"

// maxCachedKeys bounds the verified-key cache; beyond it a verification is
// not cached (the next request asks Redis again).
const maxCachedKeys = 50_000

// keyCache remembers, for a short time, keys Verify has found live in
// Redis, by their SHA-256 (never the plaintext), so a busy IdP's requests
// do not each cost a Redis round trip for the same key. An entry lives at
// most ttl; a revocation drops the tenant's entries at once in the
// process that revoked and, through keysChangedChannel, in every process
// that watches it.
type keyCache struct {
	ttl time.Duration

	mu      sync.RWMutex
	entries map[string]cachedKey // by hex SHA-256
	gen     uint64               // bumped by every invalidation
}

type cachedKey struct {
	rec     keyRecord
	expires time.Time
}

func newKeyCache(ttl time.Duration) *keyCache {
	return &keyCache{ttl: ttl, entries: make(map[string]cachedKey)}
}

// get returns the live record cached under sum, if fresh.
func (c *keyCache) get(sum string, now time.Time) (keyRecord, bool) {
	c.mu.RLock()
	e, ok := c.entries[sum]
	c.mu.RUnlock()
	if !ok || !now.Before(e.expires) {
		return keyRecord{}, false
	}
	return e.rec, true
}

// generation is read before the Redis lookup whose result put stores.
func (c *keyCache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// put caches rec unless an invalidation happened since gen was read (the
// record may then describe a key revoked in between).
func (c *keyCache) put(sum string, rec keyRecord, gen uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if len(c.entries) >= maxCachedKeys {
		for k, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= maxCachedKeys {
			return
		}
	}
	c.entries[sum] = cachedKey{rec: rec, expires: now.Add(c.ttl)}
}

// invalidate drops the tenant's entries ("" drops all).
func (c *keyCache) invalidate(tenant string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.entries {
		if tenant == "" || e.rec.Tenant == tenant {
			delete(c.entries, k)
		}
	}
}

// EnableCache makes Verify remember live keys for up to ttl (0 or less:
// every Verify asks Redis, the default). Call it before the KeyStore is
// used, and run Watch so that revocations made by other processes reach
// this one at once rather than after ttl.
func (s *KeyStore) EnableCache(ttl time.Duration) {
	if ttl > 0 {
		s.cache = newKeyCache(ttl)
	}
}

// Watch listens for key changes announced by any process (Revoke, a
// tenant's deletion) and drops the affected cached keys, until ctx ends.
// Whenever the subscription is (re)established the whole cache is
// dropped, since announcements may have been missed while it was down.
// Without a cache it returns at once.
func (s *KeyStore) Watch(ctx context.Context, log *slog.Logger) {
	if s.cache == nil {
		return
	}
	watchCredentialChanges(ctx, s.rdb, log, "key", s.cache.invalidate)
}

// watchCredentialChanges subscribes to keysChangedChannel until ctx ends
// and calls drop with the tenant of every announcement, and with "" (all
// tenants) whenever the subscription is (re)established, since
// announcements may have been missed while it was down. what names the
// watcher in the log ("key", "oauth client").
func watchCredentialChanges(ctx context.Context, rdb redis.UniversalClient, log *slog.Logger, what string, drop func(tenant string)) {
	ps := rdb.Subscribe(ctx, keysChangedChannel)
	defer ps.Close()
	// go-redis pings the connection, reconnects and resubscribes by
	// itself; every (re)subscription arrives here as a *redis.Subscription.
	ch := ps.ChannelWithSubscriptions(redis.WithChannelHealthCheckInterval(5 * time.Second))
	for {
		select {
		case <-ctx.Done():
			return
		case msg, ok := <-ch:
			if !ok {
				return
			}
			switch m := msg.(type) {
			case *redis.Subscription:
				drop("")
				if log != nil && m.Kind == "subscribe" {
					log.Debug("tenants: watching " + what + " changes")
				}
			case *redis.Message:
				drop(m.Payload)
			}
		}
	}
}

// announceKeysChanged tells every watching process that the tenant's keys
// changed, and drops them from this process's cache.
func announceKeysChanged(ctx context.Context, rdb redis.UniversalClient, c *keyCache, tenant string) error {
	if c != nil {
		c.invalidate(tenant)
	}
	return rdb.Publish(ctx, keysChangedChannel, tenant).Err()
}
