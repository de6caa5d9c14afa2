package api

import (
	"container/list"
	"context"
	"errors"
	"math"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/scimbridge/scimbridge/scim"
)

// How much of this process one tenant's requests may use at once: each
// request takes a weight for as long as it runs, and a tenant's requests
// together hold at most its capacity; beyond it a request waits for its
// turn behind the tenant's own earlier ones (first come, first served),
// never behind another tenant's. In process, no Redis round trip.
//
// A request with a small body (a GET, a PATCH of a few attributes) weighs
// 1: it mostly waits on Redis. A body weighs one more per weightUnitBytes
// up to slotsPerCore, a whole core, which a request parsing 60 KiB or more
// of JSON keeps busy for its duration. A tenant's capacity is slotsPerCore
// per core of half the process's cores (at least one core's worth): many
// light requests run at once, and one tenant's heavy ones never hold more
// than half the cores (one at a time on two cores).
const (
	weightUnitBytes = 4 << 10
	slotsPerCore    = 16
)

// defaultTenantCapacity is the capacity sized from GOMAXPROCS.
func defaultTenantCapacity() int64 {
	return slotsPerCore * int64(max(1, runtime.GOMAXPROCS(0)/2))
}

// requestWeight is the weight of a request with this body length (-1:
// unknown, as with a chunked body: a whole core), at most capacity.
func requestWeight(contentLength, capacity int64) int64 {
	w := int64(1)
	switch {
	case contentLength < 0:
		w = slotsPerCore
	case contentLength > 0:
		w = min(slotsPerCore, 1+contentLength/weightUnitBytes)
	}
	return min(w, capacity)
}

// tenantLoad holds each tenant's weight in flight and its waiting requests.
type tenantLoad struct {
	capacity int64
	mu       sync.Mutex
	// tenants holds an entry per tenant seen (authenticated tenants only,
	// so as many as the registry holds): kept when idle, so a request
	// that does not wait allocates nothing here.
	tenants map[string]*tenantTurns
}

type tenantTurns struct {
	used    int64
	waiting list.List // of *turn, oldest first
}

type turn struct {
	weight int64
	ready  chan struct{} // closed when the turn is granted
}

func newTenantLoad(capacity int64) *tenantLoad {
	return &tenantLoad{capacity: capacity, tenants: map[string]*tenantTurns{}}
}

// acquire takes weight (clamped to 1..capacity; the weight taken is
// returned, to be given back with release) of tenant's capacity, waiting
// behind the tenant's earlier requests for at most wait or until ctx is
// done. Taking a turn that is free costs no allocation.
func (l *tenantLoad) acquire(ctx context.Context, tenant string, weight int64, wait time.Duration) (int64, error) {
	weight = min(max(weight, 1), l.capacity)
	l.mu.Lock()
	t := l.tenants[tenant]
	if t == nil {
		t = &tenantTurns{}
		l.tenants[tenant] = t
	}
	if t.waiting.Len() == 0 && t.used+weight <= l.capacity {
		t.used += weight
		l.mu.Unlock()
		return weight, nil
	}
	w := &turn{weight: weight, ready: make(chan struct{})}
	elem := t.waiting.PushBack(w)
	l.mu.Unlock()

	timer := time.NewTimer(wait)
	defer timer.Stop()
	err := errTurnWait
	select {
	case <-w.ready:
		return weight, nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-timer.C:
	}
	l.mu.Lock()
	select {
	case <-w.ready:
		// Granted as the wait ended: give it back (which lets the next in).
		l.mu.Unlock()
		l.release(tenant, weight)
	default:
		front := t.waiting.Front() == elem
		t.waiting.Remove(elem)
		if front {
			l.grant(t) // a smaller request behind this one may fit now
		}
		l.mu.Unlock()
	}
	return 0, err
}

// errTurnWait: the request waited as long as it may for its turn.
var errTurnWait = errors.New("api: no turn within the wait")

func (l *tenantLoad) release(tenant string, weight int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.tenants[tenant]
	if t == nil {
		return // cannot happen: entries are kept
	}
	t.used -= weight
	l.grant(t)
}

// grant gives turns to the waiting requests in order while they fit (the
// oldest first: a heavy request is not overtaken by lighter ones behind
// it). Called with l.mu held.
func (l *tenantLoad) grant(t *tenantTurns) {
	for e := t.waiting.Front(); e != nil; e = t.waiting.Front() {
		w := e.Value.(*turn)
		if t.used+w.weight > l.capacity {
			return
		}
		t.used += w.weight
		t.waiting.Remove(e)
		close(w.ready)
	}
}

// inFlight is the weight tenant holds now (tests).
func (l *tenantLoad) inFlight(tenant string) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t := l.tenants[tenant]; t != nil {
		return t.used
	}
	return 0
}

// withDeadline gives every SCIM request its deadline (Config.RequestTimeout):
// the ledger writes nothing once it has passed or the client has gone.
func (s *server) withDeadline(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.cfg.RequestTimeout)
	defer cancel()
	c.Request = c.Request.WithContext(ctx)
	c.Next()
}

// takeTurn waits for the request's turn in its tenant's capacity, for at
// most half the request timeout (so a request let in still has time to
// run). A request that does not get it is answered 429 with an integer
// Retry-After; ok is false then. When ok, the caller gives weight back
// with s.load.release.
func (s *server) takeTurn(c *gin.Context, tenantID string) (weight int64, ok bool) {
	weight = 1
	if c.Request.Body != nil && c.Request.Body != http.NoBody {
		weight = requestWeight(c.Request.ContentLength, s.load.capacity)
	}
	wait := s.cfg.RequestTimeout / 2
	weight, err := s.load.acquire(c.Request.Context(), tenantID, weight, wait)
	if err == nil {
		return weight, true
	}
	if !errors.Is(err, errTurnWait) {
		s.writeError(c, err) // the client went away: 499
		return 0, false
	}
	secs := max(1, int(math.Ceil(wait.Seconds())))
	c.Header("Retry-After", strconv.Itoa(secs))
	s.writeError(c, scim.Errorf(http.StatusTooManyRequests, "",
		"this tenant's requests already use all the capacity it may use at once; retry in %d s%s", secs, hint(s.cfg.CapacityHint)))
	return 0, false
}

// DefaultRequestTimeout is Config.RequestTimeout's default: above the
// default store lookup bound (10 s), well below the 60 s after which Okta
// and Entra give up.
const DefaultRequestTimeout = 15 * time.Second
