package api

import (
	"fmt"
	"math"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/scimbridge/scimbridge/scim"
)

// withinRate applies the tenant's request rate limit: over it, the answer
// is 429 with an integer Retry-After (Okta waits that many seconds).
func (s *server) withinRate(c *gin.Context, tenantID string) bool {
	if s.deps.Limiter == nil {
		return true
	}
	ok, wait, err := s.deps.Limiter.Allow(c.Request.Context(), tenantID)
	if err != nil {
		s.writeError(c, fmt.Errorf("api: rate limit: %w", err))
		return false
	}
	if ok {
		return true
	}
	secs := max(1, int(math.Ceil(wait.Seconds())))
	c.Header("Retry-After", strconv.Itoa(secs))
	s.writeError(c, scim.Errorf(http.StatusTooManyRequests, "", "too many requests for this tenant: over its request rate limit; retry in %d s%s", secs, hint(s.cfg.RateLimitHint)))
	return false
}

// hint is a Config hint as the end of an error detail.
func hint(h string) string {
	if h == "" {
		return ""
	}
	return " (" + h + ")"
}
