package tenants

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// RateLimiter limits each tenant's SCIM requests across every API process
// (the generic cell rate algorithm, one Redis key per tenant): Rate
// requests per second on average with bursts of Burst.
type RateLimiter struct {
	rdb   redis.UniversalClient
	Rate  float64
	Burst int
}

// NewRateLimiter returns a limiter; rate <= 0 disables it.
func NewRateLimiter(rdb redis.UniversalClient, rate float64, burst int) *RateLimiter {
	if burst < 1 {
		burst = 1
	}
	return &RateLimiter{rdb: rdb, Rate: rate, Burst: burst}
}

// gcraScript: KEYS 1 the tenant's theoretical arrival time (ms).
// ARGV: 1 now ms, 2 emission interval ms, 3 burst tolerance ms.
// Returns 0 when allowed, else the ms to wait.
var gcraScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local tolerance = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - tolerance
if now < allow_at then return math.ceil(allow_at - now) end
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil(new_tat - now) + 1)
return 0
`)

func rateKey(tenant string) string { return "sb:{" + tenant + "}:rate" }

// Allow takes one request of the tenant's budget. When over, it returns
// false and how long until a request would be allowed.
func (l *RateLimiter) Allow(ctx context.Context, tenant string) (bool, time.Duration, error) {
	if l == nil || l.Rate <= 0 {
		return true, 0, nil
	}
	interval := 1000 / l.Rate
	tolerance := interval * float64(l.Burst)
	wait, err := gcraScript.Run(ctx, l.rdb, []string{rateKey(tenant)},
		time.Now().UnixMilli(), interval, tolerance).Int64()
	if err != nil {
		return false, 0, fmt.Errorf("%w: rate limit: %v", ErrUnavailable, err)
	}
	if wait > 0 {
		return false, time.Duration(wait) * time.Millisecond, nil
	}
	return true, 0, nil
}
