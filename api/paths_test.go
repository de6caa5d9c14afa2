package api

import (
	"net/http"
	"strings"
	"testing"
)

func TestCanonicalPath(t *testing.T) { // not parallel: AllocsPerRun
	cases := []struct {
		in, want string
		changed  bool
	}{
		{"/scim/acme/v2/Users", "/scim/acme/v2/Users", false},
		{"/scim/acme/v2/users", "/scim/acme/v2/Users", true},
		{"/scim/acme/v2/USERS/abc", "/scim/acme/v2/Users/abc", true},
		{"/scim/acme/v2/users/.SEARCH", "/scim/acme/v2/Users/.search", true},
		{"/scim/acme/v2/Users/.Search", "/scim/acme/v2/Users/.search", true},
		{"/scim/acme/v2/groups/Users", "/scim/acme/v2/Groups/Users", true},
		{"/scim/acme/v2/serviceproviderconfig", "/scim/acme/v2/ServiceProviderConfig", true},
		{"/scim/acme/v2/resourcetypes/User", "/scim/acme/v2/ResourceTypes/User", true},
		{"/scim/acme/v2/schemas", "/scim/acme/v2/Schemas", true},
		{"/scim/acme/v2/bulk", "/scim/acme/v2/Bulk", true},
		{"/scim/acme/v2//users", "/scim/acme/v2//Users", true},
		{"/scim/acme/v2/Userz", "/scim/acme/v2/Userz", false},
		{"/scim/acme/v2/", "/scim/acme/v2/", false},
		{"/scim/acme/V3/users", "/scim/acme/V3/users", false},
		{"/scim/users", "/scim/users", false},
		{"/admin/v1/users", "/admin/v1/users", false},
		{"/healthz", "/healthz", false},
	}
	for _, tc := range cases {
		got, changed := canonicalPath(tc.in)
		if got != tc.want || changed != tc.changed {
			t.Errorf("canonicalPath(%q) = %q, %v; want %q, %v", tc.in, got, changed, tc.want, tc.changed)
		}
	}
	if n := testing.AllocsPerRun(100, func() { canonicalPath("/scim/acme/v2/Users/2819c223-7f76-453a-919d-413861904646") }); n != 0 {
		t.Errorf("a canonical path allocates %v times", n)
	}
}

// TestCaseInsensitiveEndpoints: every endpoint answers in any case, a POST
// keeps its body (a rewrite, not a redirect), and every location the
// server writes has the canonical spelling.
func TestCaseInsensitiveEndpoints(t *testing.T) {
	t.Parallel()
	env := setup(t, Config{})
	rec := env.do(http.MethodPost, baseA+"/users", userJSON("lower@example.com", "x"), nil)
	wantStatus(t, rec, http.StatusCreated)
	u := decode(t, rec)
	id := u["id"].(string)
	wantLoc := publicURL + baseA + "/Users/" + id
	if loc := rec.Header().Get("Location"); loc != wantLoc || path(u, "meta.location") != wantLoc {
		t.Errorf("Location %q, meta.location %v, want %q", loc, path(u, "meta.location"), wantLoc)
	}
	for _, target := range []string{"/users/" + id, "/USERS/" + id, "/uSeRs?filter=userName%20eq%20%22lower@example.com%22"} {
		rec := env.do(http.MethodGet, baseA+target, "", nil)
		wantStatus(t, rec, http.StatusOK)
		if !strings.Contains(rec.Body.String(), `"location":"`+wantLoc+`"`) {
			t.Errorf("GET %s: %s", target, rec.Body)
		}
	}
	rec = env.do(http.MethodPost, baseA+"/users/.search", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"userName eq \"lower@example.com\""}`, nil)
	wantStatus(t, rec, http.StatusOK)
	if decode(t, rec)["totalResults"] != 1.0 {
		t.Errorf(".search: %s", rec.Body)
	}
	rec = env.do(http.MethodPatch, baseA+"/Users/"+id, patchBody(`{"op":"Replace","path":"active","value":"False"}`), nil)
	wantStatus(t, rec, http.StatusOK)
	rec = env.do(http.MethodPost, baseA+"/groups", `{"displayName":"Lower"}`, nil)
	wantStatus(t, rec, http.StatusCreated)
	gid := decode(t, rec)["id"].(string)
	if loc := rec.Header().Get("Location"); loc != publicURL+baseA+"/Groups/"+gid {
		t.Errorf("group Location %q", loc)
	}
	wantStatus(t, env.do(http.MethodGet, baseA+"/GROUPS/"+gid+"?excludedAttributes=members", "", nil), http.StatusOK)
	for target, loc := range map[string]string{
		"/serviceproviderconfig": "/ServiceProviderConfig", "/SERVICEPROVIDERCONFIG": "/ServiceProviderConfig",
		"/schemas": "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User", "/resourcetypes": "/ResourceTypes/User",
		"/resourcetypes/user": "/ResourceTypes/User", "/ResourceTypes/group": "/ResourceTypes/Group",
	} {
		rec := env.do(http.MethodGet, baseA+target, "", nil)
		wantStatus(t, rec, http.StatusOK)
		if !strings.Contains(rec.Body.String(), `"location":"`+publicURL+baseA+loc+`"`) {
			t.Errorf("%s: no canonical location %s: %s", target, loc, rec.Body)
		}
	}
	rec = env.do(http.MethodPost, baseA+"/bulk", bulkHead+`"Operations":[{"method":"POST","path":"/users","bulkId":"a","data":{"userName":"bulk@example.com"}}]}`, nil)
	wantStatus(t, rec, http.StatusOK)
	if !strings.Contains(rec.Body.String(), `"location":"`+publicURL+baseA+`/Users/`) {
		t.Errorf("bulk: %s", rec.Body)
	}
	wantStatus(t, env.do(http.MethodDelete, baseA+"/users/"+id, "", nil), http.StatusNoContent)
	// Unknown endpoints stay 404; the tenant segment is not touched.
	wantSCIMError(t, env.do(http.MethodGet, baseA+"/userz", "", nil), http.StatusNotFound, "")
	wantSCIMError(t, env.do(http.MethodGet, "/scim/ACME/v2/users", "", nil), http.StatusUnauthorized, "")
}
