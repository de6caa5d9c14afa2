package admin

import (
	"sync"
	"time"
)

// Guessing the operator token: after maxFailures wrong tokens from one
// client address (the TCP peer, not X-Forwarded-For, which a client can
// write) within failureWindow, that address is refused with 429 until the
// window ends, right or wrong. The limit is per process (one Operator),
// shared by every operator surface.
const (
	maxFailures    = 10
	failureWindow  = time.Minute
	maxTrackedAddr = 10_000
)

type failures struct {
	count int
	start time.Time
}

type guessLimiter struct {
	mu  sync.Mutex
	by  map[string]*failures
	now func() time.Time
}

func newGuessLimiter() *guessLimiter {
	return &guessLimiter{by: make(map[string]*failures), now: time.Now}
}

// blocked reports whether addr has used up its failures, and for how much
// longer.
func (g *guessLimiter) blocked(addr string) (time.Duration, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f, ok := g.by[addr]
	if !ok {
		return 0, false
	}
	left := failureWindow - g.now().Sub(f.start)
	if left <= 0 {
		delete(g.by, addr)
		return 0, false
	}
	return left, f.count >= maxFailures
}

// fail records a wrong token from addr.
func (g *guessLimiter) fail(addr string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	f, ok := g.by[addr]
	if !ok || now.Sub(f.start) >= failureWindow {
		if len(g.by) >= maxTrackedAddr {
			for a, old := range g.by {
				if now.Sub(old.start) >= failureWindow {
					delete(g.by, a)
				}
			}
		}
		if len(g.by) >= maxTrackedAddr {
			return // a bound on memory; such a flood is for a firewall
		}
		f = &failures{start: now}
		g.by[addr] = f
	}
	f.count++
}
