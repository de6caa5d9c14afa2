package api

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// GuessLimiter limits guessing a secret: after max wrong ones from one
// client address within window, that address is refused until the window
// ends, right or wrong. The address is the TCP peer (Peer), never
// X-Forwarded-For, which a client can write. It is per process and safe for
// concurrent use; its memory is bounded (MaxGuessAddrs addresses tracked at
// once: a flood beyond that is for a firewall). The token endpoint uses one
// for client secrets.
type GuessLimiter struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu sync.Mutex
	by map[string]*guessFailures
}

// MaxGuessAddrs bounds the addresses one GuessLimiter tracks.
const MaxGuessAddrs = 10_000

type guessFailures struct {
	count int
	start time.Time
}

// NewGuessLimiter allows max wrong guesses per address per window; now is
// its clock (nil: time.Now).
func NewGuessLimiter(max int, window time.Duration, now func() time.Time) *GuessLimiter {
	if now == nil {
		now = time.Now
	}
	return &GuessLimiter{max: max, window: window, now: now, by: make(map[string]*guessFailures)}
}

// Blocked reports whether addr has used up its wrong guesses, and for how
// much longer.
func (g *GuessLimiter) Blocked(addr string) (time.Duration, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f, ok := g.by[addr]
	if !ok {
		return 0, false
	}
	left := g.window - g.now().Sub(f.start)
	if left <= 0 {
		delete(g.by, addr)
		return 0, false
	}
	return left, f.count >= g.max
}

// Fail records a wrong guess from addr.
func (g *GuessLimiter) Fail(addr string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	f, ok := g.by[addr]
	if !ok || now.Sub(f.start) >= g.window {
		if len(g.by) >= MaxGuessAddrs {
			for a, old := range g.by {
				if now.Sub(old.start) >= g.window {
					delete(g.by, a)
				}
			}
		}
		if len(g.by) >= MaxGuessAddrs {
			return
		}
		f = &guessFailures{start: now}
		g.by[addr] = f
	}
	f.count++
}

// tracked is how many addresses are tracked (for tests).
func (g *GuessLimiter) tracked() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.by)
}

// Peer is the client address a guess counts against: the TCP peer's host.
func Peer(r *http.Request) string {
	host, _, err := net.SplitHostPort(strings.TrimSpace(r.RemoteAddr))
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
