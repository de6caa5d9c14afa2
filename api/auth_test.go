package api

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/tenants"
)

func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

func TestAuthAccepts(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		target string
		auth   string
	}{
		{"bearer", baseA + "/Users", "Bearer " + keyA},
		{"bearer lower-case scheme", baseA + "/Users", "bearer " + keyA},
		{"basic with a user name", baseA + "/Users", basic("okta", keyA)},
		{"basic without a user name", baseA + "/Users", basic("", keyA)},
		{"other tenant with its own key", baseB + "/Users", "Bearer " + keyB},
		{"discovery", baseA + "/ServiceProviderConfig", "Bearer " + keyA},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := setup(t, Config{})
			rec := env.do(http.MethodGet, tc.target, "", map[string]string{"Authorization": tc.auth})
			wantStatus(t, rec, http.StatusOK)
		})
	}
}

func TestAuthRefusalsAreIdentical(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		target string
		auth   string // "" sends no Authorization header
	}{
		{"no header", baseA + "/Users", ""},
		{"okta spec test non-token", baseA + "/Users?filter=userName%20eq%20%22X%22", "non-token"},
		{"bearer without key", baseA + "/Users", "Bearer "},
		{"wrong key", baseA + "/Users", "Bearer scb_not_a_key"},
		{"raw key without scheme", baseA + "/Users", keyA},
		{"other tenant's key", baseA + "/Users", "Bearer " + keyB},
		{"other tenant's key on its user route", baseA + "/Users/u-0001", "Bearer " + keyB},
		{"unknown tenant", "/scim/nosuchtenant/v2/Users", "Bearer " + keyA},
		{"unknown tenant, no key", "/scim/nosuchtenant/v2/Users", ""},
		{"malformed tenant id", "/scim/ACME%20Corp/v2/Users", "Bearer " + keyA},
		{"disabled tenant with its key", "/scim/" + tenantOff + "/v2/Users", "Bearer " + keyOff},
		{"basic with the wrong password", baseA + "/Users", basic(keyA, "nope")},
		{"basic without colon", baseA + "/Users", "Basic " + base64.StdEncoding.EncodeToString([]byte(keyA))},
		{"basic garbage", baseA + "/Users", "Basic !!!not-base64"},
		{"unknown scheme", baseA + "/Users", "Digest " + keyA},
		{"discovery needs a key too", baseA + "/Schemas", ""},
		{"groups need a key too", baseA + "/Groups", "Bearer nope"},
	}
	var first string
	for _, tc := range cases {
		env := setup(t, Config{})
		header := map[string]string{"Authorization": tc.auth}
		rec := env.do(http.MethodGet, tc.target, "", header)
		wantSCIMError(t, rec, http.StatusUnauthorized, "")
		if got := rec.Header().Get("WWW-Authenticate"); got != `Bearer realm="scimbridge"` {
			t.Errorf("%s: WWW-Authenticate %q", tc.name, got)
		}
		if first == "" {
			first = rec.Body.String()
		} else if rec.Body.String() != first {
			t.Errorf("%s: body %s differs from %s", tc.name, rec.Body, first)
		}
		if strings.Contains(env.logs.String(), keyA) || strings.Contains(env.logs.String(), keyB) {
			t.Errorf("%s: a key appears in the log: %s", tc.name, env.logs)
		}
	}
}

func TestAuthBackendFailureIs503(t *testing.T) {
	t.Parallel()
	unavailable := fmt.Errorf("tenants: verify: %w: dial tcp: connection refused", tenants.ErrUnavailable)
	netErr := &net.OpError{Op: "dial", Net: "tcp", Err: fmt.Errorf("connection refused")}
	for name, breakIt := range map[string]func(*testEnv){
		"keys unavailable":     func(e *testEnv) { e.keys.failErr = unavailable },
		"registry unavailable": func(e *testEnv) { e.tenants.failErr = unavailable },
		"registry net error":   func(e *testEnv) { e.tenants.failErr = netErr },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := setup(t, Config{})
			breakIt(env)
			rec := env.do(http.MethodGet, baseA+"/Users", "", nil)
			body := wantSCIMError(t, rec, http.StatusServiceUnavailable, "")
			if got := rec.Header().Get("Retry-After"); got != "5" {
				t.Errorf("Retry-After %q, want 5", got)
			}
			if strings.Contains(fmt.Sprint(body["detail"]), "refused") {
				t.Errorf("detail echoes the internal error: %v", body["detail"])
			}
		})
	}
}

func TestPresentedKey(t *testing.T) {
	t.Parallel()
	cases := []struct {
		header string
		key    string
		ok     bool
	}{
		{"Bearer abc", "abc", true},
		{"BEARER   abc  ", "abc", true},
		{"Bearer", "", false},
		{"", "", false},
		{"abc", "", false},
		{basic("u", "p:with:colons"), "p:with:colons", true},
		{basic("u", ""), "", false},
		{"Basic ", "", false},
		{"Token abc", "", false},
	}
	for _, tc := range cases {
		key, ok := presentedKey(tc.header)
		if key != tc.key || ok != tc.ok {
			t.Errorf("presentedKey(%q) = %q, %v; want %q, %v", tc.header, key, ok, tc.key, tc.ok)
		}
	}
}
