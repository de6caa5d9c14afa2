package admin

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func basic(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
}

func TestNewOperatorNeedsAToken(t *testing.T) {
	t.Parallel()
	if op, err := NewOperator(""); !errors.Is(err, ErrNoToken) || op != nil {
		t.Fatalf("NewOperator(\"\") = %v, %v; want nil, ErrNoToken", op, err)
	}
}

// The admin API takes the token as a Bearer token only; /metrics and
// /monitoring (Guard) take Bearer or the Basic password, and challenge with
// Basic so a browser asks for it.
func TestOperatorTokenPerSurface(t *testing.T) {
	t.Parallel()
	op, _ := testOperator(t)
	s := newSurfaces(op)
	for i, tc := range []struct {
		name      string
		auth      string
		api, ops  int
		challenge bool // a 401 carries the surface's challenge
	}{
		{"no token", "", 401, 401, true},
		{"right bearer", "Bearer " + rightToken, 200, 200, false},
		{"bearer, any case, spaces", "  bearer   " + rightToken + " ", 200, 200, false},
		{"wrong bearer", "Bearer " + rightToken + "x", 401, 401, true},
		{"right basic password", "Basic " + basic("operator", rightToken), 401, 200, true},
		{"basic, empty user", "Basic " + basic("", rightToken), 401, 200, true},
		{"wrong basic password", "Basic " + basic(rightToken, "x"), 401, 401, true},
		{"basic, not base64", "Basic !!!", 401, 401, true},
		{"other scheme", "Token " + rightToken, 401, 401, true},
	} {
		// Each case from its own address: wrong tokens add up per address.
		addr := "198.51.100." + strconv.Itoa(i+1)
		w := call(s.api, addr, tc.auth, "")
		if w.Code != tc.api {
			t.Errorf("%s: admin API %d, want %d", tc.name, w.Code, tc.api)
		}
		if w.Code == 401 {
			if got := w.Header().Get("WWW-Authenticate"); got != `Bearer realm="scimbridge admin"` {
				t.Errorf("%s: admin API challenge %q", tc.name, got)
			}
			if !strings.Contains(w.Body.String(), `"error":"operator token required"`) {
				t.Errorf("%s: admin API 401 body %s", tc.name, w.Body)
			}
		}
		if got := w.Header().Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s: admin API Cache-Control %q, want no-store", tc.name, got)
		}
		w = call(s.guard, addr, tc.auth, "")
		if w.Code != tc.ops {
			t.Errorf("%s: guard %d, want %d", tc.name, w.Code, tc.ops)
		}
		if w.Code == 401 {
			if got := w.Header().Get("WWW-Authenticate"); got != `Basic realm="scimbridge operator", charset="UTF-8"` {
				t.Errorf("%s: guard challenge %q", tc.name, got)
			}
			if strings.TrimSpace(w.Body.String()) != "operator token required" {
				t.Errorf("%s: guard 401 body %q", tc.name, w.Body)
			}
		}
		if w.Code == 200 && w.Body.String() != "ok" {
			t.Errorf("%s: guard did not call the next handler: %q", tc.name, w.Body)
		}
	}
}

// Guard's 429 is text with Retry-After (like its 401), not the admin API's JSON.
func TestGuardRefusesAGuessingAddress(t *testing.T) {
	t.Parallel()
	op, _ := testOperator(t)
	s := newSurfaces(op)
	for range maxFailures {
		call(s.guard, "192.0.2.20", "Bearer nope", "")
	}
	w := call(s.guard, "192.0.2.20", "Basic "+basic("operator", rightToken), "")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "61" {
		t.Fatalf("guard after %d wrong tokens: %d Retry-After %q, want 429 and 61", maxFailures, w.Code, w.Header().Get("Retry-After"))
	}
	if !strings.Contains(w.Body.String(), "too many wrong operator tokens") || w.Body.String() == "ok" {
		t.Errorf("guard 429 body %q", w.Body)
	}
}

// A console session is signed with a key derived from the token: it
// expires, cannot be altered, and does not survive a change of token.
func TestConsoleSessions(t *testing.T) {
	t.Parallel()
	op, clock := testOperator(t)
	v := op.newSession()
	if strings.Contains(v, rightToken) {
		t.Fatal("the session cookie holds the token")
	}
	s, ok := op.session(v)
	if !ok || s.id == "" || !s.expires.Equal(clock.Add(sessionLifetime).Truncate(time.Second)) {
		t.Fatalf("fresh session: %+v %v, want valid until %v", s, ok, clock.Add(sessionLifetime))
	}
	if op.csrfToken(s) == "" || op.csrfToken(s) == s.id {
		t.Errorf("csrf token %q", op.csrfToken(s))
	}
	i := strings.LastIndexByte(v, '.')
	for name, bad := range map[string]string{
		"empty":            "",
		"no signature":     v[:i],
		"altered expiry":   strings.Replace(v, "v1.", "v1.x", 1),
		"wrong signature":  v[:i+1] + strings.Repeat("A", len(v)-i-1),
		"another version":  "v2" + v[2:],
		"signature only":   v[i:],
		"dots":             "...",
		"other token's":    otherOperator(t).newSession(),
		"not a session at": "v1.id.notanumber." + op.sign("v1.id.notanumber"),
	} {
		if _, ok := op.session(bad); ok {
			t.Errorf("%s session %q accepted", name, bad)
		}
	}
	*clock = clock.Add(sessionLifetime)
	if _, ok := op.session(v); ok {
		t.Error("an expired session is accepted")
	}
}

func otherOperator(t *testing.T) *Operator {
	t.Helper()
	op, err := NewOperator("another-token")
	if err != nil {
		t.Fatal(err)
	}
	return op
}
