package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// budgetLimiter allows n requests per tenant, then asks to wait.
type budgetLimiter struct {
	left map[string]int
	wait time.Duration
}

func (b *budgetLimiter) Allow(_ context.Context, tenant string) (bool, time.Duration, error) {
	if b.left[tenant] > 0 {
		b.left[tenant]--
		return true, 0, nil
	}
	return false, b.wait, nil
}

func TestTenantRateLimit(t *testing.T) {
	env := setup(t, Config{})
	lim := &budgetLimiter{left: map[string]int{tenantA: 2, tenantB: 5}, wait: 1200 * time.Millisecond}
	env.router = New(Config{PublicURL: publicURL}, Deps{Users: env.users, Tenants: env.tenants, Keys: env.keys, Limiter: lim})
	for range 2 {
		wantStatus(t, env.do(http.MethodGet, baseA+"/Users", "", nil), http.StatusOK)
	}
	rec := env.do(http.MethodGet, baseA+"/Users", "", nil)
	wantSCIMError(t, rec, http.StatusTooManyRequests, "")
	if got := rec.Header().Get("Retry-After"); got != "2" {
		t.Fatalf("Retry-After = %q, want whole seconds rounded up (2)", got)
	}
	// Another tenant has its own budget.
	wantStatus(t, env.do(http.MethodGet, baseB+"/Users", "", map[string]string{"Authorization": "Bearer " + keyB}), http.StatusOK)
	// A refused key is refused before it costs the tenant anything.
	wantStatus(t, env.do(http.MethodGet, baseB+"/Users", "", map[string]string{"Authorization": "Bearer nope"}), http.StatusUnauthorized)
	if lim.left[tenantB] != 4 {
		t.Fatalf("an unauthenticated request used tenant B's budget: %d left", lim.left[tenantB])
	}
}

// A 429 of the rate limit ends with the hint the command gave: which
// setting was hit and how to raise it.
func TestTenantRateLimitNamesTheSetting(t *testing.T) {
	env := setup(t, Config{})
	lim := &budgetLimiter{left: map[string]int{}, wait: time.Second}
	hintText := "the limit is api.rate_limit.per_tenant_rps = 500 requests/s"
	env.router = New(Config{PublicURL: publicURL, RateLimitHint: hintText}, Deps{Users: env.users, Tenants: env.tenants, Keys: env.keys, Limiter: lim})
	rec := env.do(http.MethodGet, baseA+"/Users", "", nil)
	wantSCIMError(t, rec, http.StatusTooManyRequests, "")
	var body struct {
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body.Detail, "rate limit") || !strings.Contains(body.Detail, hintText) {
		t.Errorf("429 detail = %q, want it to say it is the rate limit and to end with %q", body.Detail, hintText)
	}
}
