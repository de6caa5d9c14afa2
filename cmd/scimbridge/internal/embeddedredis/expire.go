package embeddedredis

import (
	"context"
	"time"
)

// Expiry. miniredis's ClockTTL walks and sorts every key of every database
// on each command to age the TTLs, which makes each command O(keys log keys)
// (the embedded default slowed from ~100 to ~13 creates/s over its first
// 3,000 users, and burned a core idle at 2,000). Instead TTLs are aged here,
// by FastForward (still a walk of every key, but not per command):
//
//   - at most every expireEvery, and never more often than expireCostFactor
//     times the last walk took, so the walk costs at most ~1/expireCostFactor
//     of a core however large the data;
//   - only when a command ran since the last walk: with nobody asking, no key
//     needs to be seen expired, and the time passed is applied at the next
//     walk (the clock of each walk is kept, so no time is lost).
//
// A key therefore disappears up to expireEvery (or one walk's
// expireCostFactor multiple) after its deadline. What scimbridge keeps with a
// TTL are leases, locks and rate-limit state, for which that lateness is
// harmless: a lease a killed worker held is taken over a little later.
const (
	expireEvery      = 250 * time.Millisecond
	expireCostFactor = 50
)

// expireLoop ages TTLs until ctx ends.
func (e *Server) expireLoop(ctx context.Context) {
	defer close(e.expireDone)
	last := time.Now()
	lastCount := e.server.CommandCount()
	wait := expireEvery
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		if n := e.server.CommandCount(); n != lastCount {
			lastCount = n
			now := time.Now()
			e.server.FastForward(now.Sub(last))
			last = now
			cost := time.Since(now)
			wait = max(expireEvery, expireCostFactor*cost)
		}
		timer.Reset(wait)
	}
}
