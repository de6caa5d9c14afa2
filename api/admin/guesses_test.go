package admin

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

func init() { gin.SetMode(gin.TestMode) }

const rightToken = "right-token-0123456789"

// testOperator is an Operator for rightToken whose clock the test moves.
func testOperator(t *testing.T) (*Operator, *time.Time) {
	t.Helper()
	op, err := NewOperator(rightToken)
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	op.now = func() time.Time { return clock } // the guess limiter's clock too
	return op, &clock
}

// surfaces are the operator surfaces of one process, built on one
// Operator: the admin API's gin middleware and the net/http Guard of
// /metrics and /monitoring.
type surfaces struct {
	api, guard http.Handler
}

func newSurfaces(op *Operator) surfaces {
	r := gin.New()
	r.GET("/admin/v1/x", op.requireToken, func(c *gin.Context) { c.String(http.StatusOK, "ok") })
	return surfaces{
		api:   r,
		guard: op.Guard(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })),
	}
}

// call sends GET with auth (an Authorization header value, "" for none)
// from addr.
func call(h http.Handler, addr, auth, forwarded string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "/admin/v1/x", nil)
	req.RemoteAddr = addr + ":40000"
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if forwarded != "" {
		req.Header.Set("X-Forwarded-For", forwarded)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// After maxFailures wrong operator tokens from one address, that address
// gets 429 with a Retry-After, even with the right token, until the window
// ends; another address is not affected; X-Forwarded-For does not help.
func TestWrongOperatorTokensAreLimitedPerAddress(t *testing.T) {
	t.Parallel()
	op, clock := testOperator(t)
	s := newSurfaces(op)
	for i := range maxFailures {
		if w := call(s.api, "192.0.2.1", "Bearer guess", "198.51.100."+strconv.Itoa(i+1)); w.Code != http.StatusUnauthorized {
			t.Fatalf("wrong token %d: %d, want 401", i, w.Code)
		}
	}
	w := call(s.api, "192.0.2.1", "Bearer "+rightToken, "")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "61" {
		t.Fatalf("after %d wrong tokens: %d (Retry-After %q), want 429 with Retry-After 61", maxFailures, w.Code, w.Header().Get("Retry-After"))
	}
	if w := call(s.api, "192.0.2.2", "Bearer "+rightToken, ""); w.Code != http.StatusOK {
		t.Fatalf("another address: %d, want 200", w.Code)
	}
	*clock = clock.Add(45 * time.Second)
	if w := call(s.api, "192.0.2.1", "Bearer "+rightToken, ""); w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "16" {
		t.Fatalf("45 s later: %d (Retry-After %q), want 429 with Retry-After 16", w.Code, w.Header().Get("Retry-After"))
	}
	*clock = clock.Add(failureWindow - 45*time.Second)
	if w := call(s.api, "192.0.2.1", "Bearer "+rightToken, ""); w.Code != http.StatusOK {
		t.Fatalf("after the window: %d, want 200", w.Code)
	}
	// The count started again: one wrong token is not enough to block.
	call(s.api, "192.0.2.1", "Bearer guess", "")
	if w := call(s.api, "192.0.2.1", "Bearer "+rightToken, ""); w.Code != http.StatusOK {
		t.Fatalf("one wrong token after the reset: %d, want 200", w.Code)
	}
}

// One limiter for every surface: wrong tokens sent to /metrics or
// /monitoring (Guard) block the admin API, and the other way round.
func TestGuessLimitIsSharedByEverySurface(t *testing.T) {
	t.Parallel()
	op, _ := testOperator(t)
	s := newSurfaces(op)
	for i := range maxFailures / 2 {
		call(s.guard, "192.0.2.7", "Basic "+basic("operator", "guess"+strconv.Itoa(i)), "")
		call(s.api, "192.0.2.7", "Bearer guess", "")
	}
	for name, h := range map[string]http.Handler{"admin API": s.api, "guard": s.guard} {
		w := call(h, "192.0.2.7", "Bearer "+rightToken, "")
		if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
			t.Errorf("%s after %d wrong tokens spread over both surfaces: %d (Retry-After %q), want 429",
				name, maxFailures, w.Code, w.Header().Get("Retry-After"))
		}
	}
}

// Requests without a token are refused but do not count as guesses: a
// browser's first, unauthenticated request must not lock the operator out.
func TestMissingTokensAreNotGuesses(t *testing.T) {
	t.Parallel()
	op, _ := testOperator(t)
	s := newSurfaces(op)
	for range 3 * maxFailures {
		if w := call(s.guard, "192.0.2.9", "", ""); w.Code != http.StatusUnauthorized {
			t.Fatalf("no token: %d, want 401", w.Code)
		}
		call(s.api, "192.0.2.9", "Basic "+basic("u", ""), "") // Basic with no password: nothing presented
		call(s.api, "192.0.2.9", "Bearer", "")
	}
	if w := call(s.api, "192.0.2.9", "Bearer "+rightToken, ""); w.Code != http.StatusOK {
		t.Fatalf("after many requests without a token: %d, want 200", w.Code)
	}
}
