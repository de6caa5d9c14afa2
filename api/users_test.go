package api

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/scim"
	syncsvc "github.com/scimbridge/scimbridge/sync"
)

func TestUserLifecycle(t *testing.T) {
	t.Parallel()
	env := setup(t, Config{})

	// POST
	rec := env.do(http.MethodPost, baseA+"/Users", userJSON("jane@example.com", "00u1"), nil)
	wantStatus(t, rec, http.StatusCreated)
	if ct := rec.Header().Get("Content-Type"); ct != "application/scim+json; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	user := decode(t, rec)
	id, _ := user["id"].(string)
	if id == "" {
		t.Fatalf("no id in %v", user)
	}
	location := publicURL + baseA + "/Users/" + id
	if got := rec.Header().Get("Location"); got != location {
		t.Errorf("Location %q, want %q", got, location)
	}
	if got := rec.Header().Get("ETag"); got != `W/"1"` {
		t.Errorf("ETag %q, want W/\"1\"", got)
	}
	for p, want := range map[string]any{
		"userName":          "jane@example.com",
		"name.givenName":    "Jane",
		"active":            true,
		"meta.location":     location,
		"meta.version":      `W/"1"`,
		"meta.resourceType": "User",
		"meta.created":      "2025-03-01T12:00:01Z",
		"meta.lastModified": "2025-03-01T12:00:01Z",
	} {
		if got := path(user, p); got != want {
			t.Errorf("%s = %#v, want %#v", p, got, want)
		}
	}
	if _, ok := user["password"]; ok {
		t.Errorf("password is returned")
	}

	// GET
	rec = env.do(http.MethodGet, baseA+"/Users/"+id, "", nil)
	wantStatus(t, rec, http.StatusOK)
	if got := path(decode(t, rec), "id"); got != id {
		t.Errorf("GET id %v", got)
	}
	if got := rec.Header().Get("ETag"); got != `W/"1"` {
		t.Errorf("GET ETag %q", got)
	}

	// PUT (Okta sends the whole object back, id and meta included, and may omit active)
	put := strings.Replace(userJSON("jane@example.com", "00u1"), `"displayName":"Jane Doe","active":true`,
		`"displayName":"Jane Q. Doe","id":"`+id+`","meta":{"resourceType":"User"},"groups":[]`, 1)
	rec = env.do(http.MethodPut, baseA+"/Users/"+id, put, nil)
	wantStatus(t, rec, http.StatusOK)
	user = decode(t, rec)
	if user["displayName"] != "Jane Q. Doe" || user["active"] != true || path(user, "meta.version") != `W/"2"` {
		t.Errorf("PUT answer %v", user)
	}

	// PATCH (Okta deactivate)
	rec = env.do(http.MethodPatch, baseA+"/Users/"+id,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`, nil)
	wantStatus(t, rec, http.StatusOK)
	user = decode(t, rec)
	if user["active"] != false || path(user, "meta.version") != `W/"3"` || rec.Header().Get("ETag") != `W/"3"` {
		t.Errorf("PATCH answer %v, ETag %q", user, rec.Header().Get("ETag"))
	}

	// DELETE
	rec = env.do(http.MethodDelete, baseA+"/Users/"+id, "", nil)
	wantStatus(t, rec, http.StatusNoContent)
	if rec.Body.Len() != 0 {
		t.Errorf("DELETE body %q", rec.Body)
	}
	rec = env.do(http.MethodGet, baseA+"/Users/"+id, "", nil)
	wantSCIMError(t, rec, http.StatusNotFound, "")
	rec = env.do(http.MethodDelete, baseA+"/Users/"+id, "", nil)
	wantSCIMError(t, rec, http.StatusNotFound, "")
}

func TestUserNotFound(t *testing.T) {
	t.Parallel()
	env := setup(t, Config{})
	idA := env.createUser("a@example.com")
	patch := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}`
	cases := []struct {
		name, method, target, body, auth string
	}{
		{"okta unknown id", http.MethodGet, baseA + "/Users/010101001010101011001010101011", "", ""},
		{"okta check 404", http.MethodGet, baseA + "/Users/00919288221112222", "", ""},
		{"encoded space", http.MethodGet, baseA + "/Users/a%20b", "", ""},
		{"encoded control character", http.MethodGet, baseA + "/Users/a%00b", "", ""},
		{"very long id", http.MethodGet, baseA + "/Users/" + strings.Repeat("x", 400), "", ""},
		{"encoded slash", http.MethodGet, baseA + "/Users/a%2Fb", "", ""},
		{"another tenant's user", http.MethodGet, baseB + "/Users/" + idA, "", "Bearer " + keyB},
		{"put unknown", http.MethodPut, baseA + "/Users/nope", userJSON("x@example.com", "x"), ""},
		{"patch unknown", http.MethodPatch, baseA + "/Users/nope", patch, ""},
		{"delete unknown", http.MethodDelete, baseA + "/Users/nope", "", ""},
		{"delete another tenant's user", http.MethodDelete, baseB + "/Users/" + idA, "", "Bearer " + keyB},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			header := map[string]string{}
			if tc.auth != "" {
				header["Authorization"] = tc.auth
			}
			rec := env.do(tc.method, tc.target, tc.body, header)
			wantSCIMError(t, rec, http.StatusNotFound, "")
		})
	}
	// Tenant A's user survived tenant B's delete.
	wantStatus(t, env.do(http.MethodGet, baseA+"/Users/"+idA, "", nil), http.StatusOK)
}

func TestUserBadRequests(t *testing.T) {
	t.Parallel()
	env := setup(t, Config{})
	id := env.createUser("a@example.com")
	cases := []struct {
		name, method, target, body string
		status                     int
		scimType                   string
	}{
		{"invalid json", http.MethodPost, baseA + "/Users", `{"userName":`, 400, scim.ScimTypeInvalidSyntax},
		{"empty body", http.MethodPost, baseA + "/Users", ``, 400, scim.ScimTypeInvalidSyntax},
		{"no userName", http.MethodPost, baseA + "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"displayName":"X"}`, 400, ""},
		{"duplicate userName", http.MethodPost, baseA + "/Users", userJSON("a@example.com", "other"), 409, scim.ScimTypeUniqueness},
		{"duplicate userName other case", http.MethodPost, baseA + "/Users", userJSON("A@EXAMPLE.COM", "other"), 409, scim.ScimTypeUniqueness},
		{"patch not json", http.MethodPatch, baseA + "/Users/" + id, `nope`, 400, ""},
		{"patch unknown op", http.MethodPatch, baseA + "/Users/" + id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"frobnicate","path":"active","value":true}]}`, 400, ""},
		{"invalid filter", http.MethodGet, baseA + "/Users?filter=" + url.QueryEscape(`userName eq`), "", 400, scim.ScimTypeInvalidFilter},
		{"invalid filter operator", http.MethodGet, baseA + "/Users?filter=" + url.QueryEscape(`userName xx "a"`), "", 400, scim.ScimTypeInvalidFilter},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := env.do(tc.method, tc.target, tc.body, nil)
			if tc.scimType != "" || tc.status != 400 {
				wantSCIMError(t, rec, tc.status, tc.scimType)
				return
			}
			wantStatus(t, rec, tc.status)
			body := decode(t, rec)
			if body["status"] != "400" || body["detail"] == "" {
				t.Errorf("error body %v", body)
			}
		})
	}
	// Nothing was written by the failed requests.
	rec := env.do(http.MethodGet, baseA+"/Users", "", nil)
	if got := decode(t, rec)["totalResults"]; got != float64(1) {
		t.Errorf("totalResults %v after failed writes, want 1", got)
	}
}

func TestServiceErrorsMapping(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		err        error
		status     int
		scimType   string
		retryAfter string
	}{
		{"not found", fmt.Errorf("ledger: get: %w", syncsvc.ErrNotFound), 404, "", ""},
		{"uniqueness", fmt.Errorf("ledger: create: %w", syncsvc.ErrUniqueness), 409, scim.ScimTypeUniqueness, ""},
		{"version mismatch", fmt.Errorf("ledger: put: %w", syncsvc.ErrVersionMismatch), 412, "", ""},
		{"unavailable", fmt.Errorf("ledger: %w: dial tcp 10.0.0.1:6379: secret-internal", syncsvc.ErrUnavailable), 503, "", "5"},
		{"redis connection error", fmt.Errorf("ledger: get: %w", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("secret-internal refused")}), 503, "", "5"},
		{"scim error passes through", scim.BadRequest(scim.ScimTypeMutability, "id is readOnly"), 400, scim.ScimTypeMutability, ""},
		{"wrapped scim error", fmt.Errorf("sync: patch: %w", scim.BadRequest(scim.ScimTypeNoTarget, "no match")), 400, scim.ScimTypeNoTarget, ""},
		{"anything else", errors.New("secret-internal: lua script failed"), 500, "", ""},
	}
	requests := []struct{ method, target, body string }{
		{http.MethodGet, baseA + "/Users", ""},
		{http.MethodGet, baseA + "/Users/u-1", ""},
		{http.MethodPost, baseA + "/Users", userJSON("b@example.com", "b")},
		{http.MethodPut, baseA + "/Users/u-1", userJSON("b@example.com", "b")},
		{http.MethodPatch, baseA + "/Users/u-1", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}`},
		{http.MethodDelete, baseA + "/Users/u-1", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := setup(t, Config{})
			env.users.failErr = tc.err
			for _, r := range requests {
				rec := env.do(r.method, r.target, r.body, nil)
				body := wantSCIMError(t, rec, tc.status, tc.scimType)
				if got := rec.Header().Get("Retry-After"); got != tc.retryAfter {
					t.Errorf("%s %s: Retry-After %q, want %q", r.method, r.target, got, tc.retryAfter)
				}
				if strings.Contains(fmt.Sprint(body["detail"]), "secret-internal") {
					t.Errorf("%s %s: detail echoes internals: %v", r.method, r.target, body["detail"])
				}
			}
			if tc.status == 500 && !strings.Contains(env.logs.String(), "secret-internal") {
				t.Errorf("the internal error is not logged: %s", env.logs)
			}
		})
	}
}

func TestPanicRecovery(t *testing.T) {
	t.Parallel()
	env := setup(t, Config{})
	env.users.panics = true
	rec := env.do(http.MethodGet, baseA+"/Users/u-1", "", nil)
	wantSCIMError(t, rec, http.StatusInternalServerError, "")
	if !strings.Contains(env.logs.String(), "panic") {
		t.Errorf("the panic is not logged: %s", env.logs)
	}
	// The server keeps serving.
	env.users.panics = false
	wantStatus(t, env.do(http.MethodGet, baseA+"/Users", "", nil), http.StatusOK)
}

func TestETags(t *testing.T) {
	t.Parallel()
	patch := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"displayName","value":"X"}]}`
	cases := []struct {
		name    string
		method  string
		header  string
		value   string
		status  int
		version string // ETag expected afterwards ("" to skip)
	}{
		{"put if-match current weak", http.MethodPut, "If-Match", `W/"1"`, 200, `W/"2"`},
		{"put if-match current strong form", http.MethodPut, "If-Match", `"1"`, 200, `W/"2"`},
		{"put if-match star", http.MethodPut, "If-Match", `*`, 200, `W/"2"`},
		{"put if-match stale", http.MethodPut, "If-Match", `W/"7"`, 412, ""},
		{"put if-match garbage", http.MethodPut, "If-Match", `W/"abc"`, 412, ""},
		{"put if-match list with current", http.MethodPut, "If-Match", `W/"5", W/"1"`, 200, `W/"2"`},
		{"put if-match list without current", http.MethodPut, "If-Match", `W/"5", W/"6"`, 412, ""},
		{"patch if-match current", http.MethodPatch, "If-Match", `W/"1"`, 200, `W/"2"`},
		{"patch if-match stale", http.MethodPatch, "If-Match", `W/"2"`, 412, ""},
		{"delete if-match current", http.MethodDelete, "If-Match", `W/"1"`, 204, ""},
		{"delete if-match stale", http.MethodDelete, "If-Match", `W/"9"`, 412, ""},
		{"get if-none-match current", http.MethodGet, "If-None-Match", `W/"1"`, 304, `W/"1"`},
		{"get if-none-match star", http.MethodGet, "If-None-Match", `*`, 304, `W/"1"`},
		{"get if-none-match stale", http.MethodGet, "If-None-Match", `W/"0"`, 200, `W/"1"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := setup(t, Config{})
			id := env.createUser("e@example.com")
			body := ""
			switch tc.method {
			case http.MethodPut:
				body = userJSON("e@example.com", "ext-e")
			case http.MethodPatch:
				body = patch
			}
			rec := env.do(tc.method, baseA+"/Users/"+id, body, map[string]string{tc.header: tc.value})
			if tc.status == 412 {
				wantSCIMError(t, rec, 412, "")
				// Nothing changed.
				if got := env.do(http.MethodGet, baseA+"/Users/"+id, "", nil).Header().Get("ETag"); got != `W/"1"` {
					t.Errorf("version after a failed precondition: %s", got)
				}
				return
			}
			wantStatus(t, rec, tc.status)
			if tc.status == 304 && rec.Body.Len() != 0 {
				t.Errorf("304 with a body: %q", rec.Body)
			}
			if tc.version != "" {
				if got := rec.Header().Get("ETag"); got != tc.version {
					t.Errorf("ETag %q, want %q", got, tc.version)
				}
			}
		})
	}
}

func TestEntityTags(t *testing.T) {
	t.Parallel()
	cases := []struct {
		header  string
		tags    []string
		version int64
		single  bool
	}{
		{`W/"3"`, []string{"3"}, 3, true},
		{`"3"`, []string{"3"}, 3, true},
		{`3`, []string{"3"}, 3, true},
		{`*`, []string{"*"}, 0, true},
		{`W/"1", *`, []string{"1", "*"}, 0, true},
		{`W/"1", W/"2"`, []string{"1", "2"}, 0, false},
		{`W/"x"`, []string{"x"}, 0, false},
		{`W/"0"`, []string{"0"}, 0, false},
		{`W/"-1"`, []string{"-1"}, 0, false},
		{`W/"01"`, []string{"01"}, 0, false},
		{`"+1"`, []string{"+1"}, 0, false},
		{` , `, nil, 0, true},
	}
	for _, tc := range cases {
		tags := entityTags(tc.header)
		if fmt.Sprint(tags) != fmt.Sprint(tc.tags) {
			t.Errorf("entityTags(%q) = %q, want %q", tc.header, tags, tc.tags)
		}
		v, single := singleVersion(tags)
		if v != tc.version || single != tc.single {
			t.Errorf("singleVersion(%q) = %d, %v; want %d, %v", tags, v, single, tc.version, tc.single)
		}
	}
}
