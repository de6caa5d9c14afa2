package tenants

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// useRecorder records when a credential (an API key, an OAuth client) was
// last used, and by which client, sampled: at most once per credential
// per lastUsedEvery in this process, in the background, at most
// maxLastUsedWrites writes in flight, so tracking costs no Redis write per
// request. Its zero value is not usable: newUseRecorder.
type useRecorder struct {
	rdb redis.UniversalClient

	mu      sync.Mutex
	last    map[string]time.Time // credential id -> last recorded use
	writes  chan struct{}        // semaphore for the writes
	pending sync.WaitGroup       // writes in flight
}

func newUseRecorder(rdb redis.UniversalClient) *useRecorder {
	return &useRecorder{rdb: rdb, last: make(map[string]time.Time), writes: make(chan struct{}, maxLastUsedWrites)}
}

// touch records a use of credential id at now in the hash key: field
// whenField = unix seconds, clientField = the client (cleanClient).
func (u *useRecorder) touch(ctx context.Context, now time.Time, id, key, whenField, clientField, client string) {
	u.mu.Lock()
	if last, ok := u.last[id]; ok && now.Sub(last) < lastUsedEvery {
		u.mu.Unlock()
		return
	}
	select {
	case u.writes <- struct{}{}:
	default:
		u.mu.Unlock()
		return // too many writes in flight: a later use records it
	}
	u.last[id] = now
	u.pending.Add(1)
	u.mu.Unlock()
	go func() {
		defer u.pending.Done()
		defer func() { <-u.writes }()
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if err := u.rdb.HSet(wctx, key, whenField, now.Unix(), clientField, cleanClient(client)).Err(); err != nil {
			// Try again on the next use.
			u.mu.Lock()
			if u.last[id].Equal(now) {
				delete(u.last, id)
			}
			u.mu.Unlock()
		}
	}()
}

// forget drops a credential's sampling state (revoked).
func (u *useRecorder) forget(id string) {
	u.mu.Lock()
	delete(u.last, id)
	u.mu.Unlock()
}

// wait blocks until the writes started so far are done.
func (u *useRecorder) wait() { u.pending.Wait() }
