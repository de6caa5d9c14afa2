package admin

import (
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

// After maxFailures wrong operator tokens from one address, that address
// gets 429 with a Retry-After, even with the right token, until the window
// ends; another address is not affected; X-Forwarded-For does not help.
func TestWrongOperatorTokensAreLimitedPerAddress(t *testing.T) {
	gin.SetMode(gin.TestMode)
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h := &Handler{tokenHash: sha256.Sum256([]byte("right-token")), guesses: newGuessLimiter()}
	h.guesses.now = func() time.Time { return clock }
	r := gin.New()
	r.GET("/admin/v1/x", h.requireToken, func(c *gin.Context) { c.String(http.StatusOK, "ok") })

	call := func(addr, token, forwarded string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/admin/v1/x", nil)
		req.RemoteAddr = addr + ":40000"
		req.Header.Set("Authorization", "Bearer "+token)
		if forwarded != "" {
			req.Header.Set("X-Forwarded-For", forwarded)
		}
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		return w
	}
	for i := range maxFailures {
		if w := call("192.0.2.1", "guess", "198.51.100."+string(rune('1'+i%9))); w.Code != http.StatusUnauthorized {
			t.Fatalf("wrong token %d: %d, want 401", i, w.Code)
		}
	}
	w := call("192.0.2.1", "right-token", "")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Fatalf("after %d wrong tokens: %d (Retry-After %q), want 429 with Retry-After", maxFailures, w.Code, w.Header().Get("Retry-After"))
	}
	if w := call("192.0.2.2", "right-token", ""); w.Code != http.StatusOK {
		t.Fatalf("another address: %d, want 200", w.Code)
	}
	clock = clock.Add(failureWindow)
	if w := call("192.0.2.1", "right-token", ""); w.Code != http.StatusOK {
		t.Fatalf("after the window: %d, want 200", w.Code)
	}
}
