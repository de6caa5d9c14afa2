package admin

import (
	"time"

	"github.com/scimbridge/scimbridge/api"
)

// Guessing the operator token: after maxFailures wrong tokens from one
// client address (the TCP peer, not X-Forwarded-For, which a client can
// write) within failureWindow, that address is refused with 429 until the
// window ends, right or wrong. The limit is per process (one Operator),
// shared by every operator surface. The limiter is api.GuessLimiter, the
// one the token endpoint uses for client secrets.
const (
	maxFailures   = 10
	failureWindow = time.Minute
)

// newGuessLimiter returns the operator's limiter, on the clock now.
func newGuessLimiter(now func() time.Time) *api.GuessLimiter {
	return api.NewGuessLimiter(maxFailures, failureWindow, now)
}
