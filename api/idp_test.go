package api

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// oktaHeaders are the headers of the Okta SPEC test's GET steps.
func oktaHeaders(auth string) map[string]string {
	return map[string]string{
		"Accept-Charset": "utf-8",
		"Content-Type":   "application/scim+json; charset=utf-8",
		"Accept":         "application/scim+json",
		"Authorization":  auth,
		"User-Agent":     "OKTA SCIM Integration",
	}
}

// TestOktaSpecTest replays the request steps of
// /work/shared/okta/Okta-SCIM-20-SPEC-Test.json in order, with their
// headers and bodies, and checks their assertions.
func TestOktaSpecTest(t *testing.T) {
	t.Parallel()
	env := setup(t, Config{})
	auth := "Bearer " + keyA
	get := func(target string) map[string]any {
		t.Helper()
		rec := env.do(http.MethodGet, baseA+target, "", oktaHeaders(auth))
		wantStatus(t, rec, http.StatusOK)
		if ct := rec.Header().Get("Content-Type"); ct != ContentType {
			t.Errorf("Content-Type %q", ct)
		}
		return decode(t, rec)
	}
	filterURL := func(userName string) string {
		// Runscope sends the raw spaces and quotes percent-encoded.
		return "/Users?filter=" + strings.ReplaceAll(url.PathEscape(`userName eq "`+userName+`"`), "@", "%40")
	}
	// The first step expects one complete user to exist.
	env.createUser("existing@atko.com")

	const (
		givenName  = "Runscope123"
		familyName = "Abcdefgh456"
		email      = givenName + familyName + "@atko.com"
	)

	// Test Users endpoint.
	list := get("/Users?count=1&startIndex=1")
	rs, _ := list["Resources"].([]any)
	if len(rs) != 1 {
		t.Fatalf("Resources %v", list["Resources"])
	}
	first := rs[0].(map[string]any)
	for _, p := range []string{"id", "name.familyName", "name.givenName", "userName", "active"} {
		if v := path(first, p); v == nil || v == "" {
			t.Errorf("Resources[0].%s is empty", p)
		}
	}
	if emails, _ := first["emails"].([]any); len(emails) == 0 || emails[0].(map[string]any)["value"] == "" {
		t.Errorf("Resources[0].emails[0].value is empty")
	}
	isvUserID := first["id"].(string)

	// Get Users/{{id}}.
	if got := get("/Users/" + isvUserID)["id"]; got != isvUserID {
		t.Errorf("id %v", got)
	}

	// Test invalid User by username; make sure random user doesn't exist.
	for _, userName := range []string{"abcdefgh@atko.com", email} {
		if got := get(filterURL(userName))["totalResults"]; got != float64(0) {
			t.Errorf("totalResults %v for %s", got, userName)
		}
	}

	// Test invalid User by ID.
	rec := env.do(http.MethodGet, baseA+"/Users/010101001010101011001010101011", "", oktaHeaders(auth))
	wantSCIMError(t, rec, http.StatusNotFound, "")

	// Create Okta user with realistic values (POSTed as application/json).
	createBody := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"` + email +
		`","name":{"givenName":"` + givenName + `","familyName":"` + familyName +
		`"},"emails":[{"primary":true,"value":"` + email + `","type":"work"}],"displayName":"` +
		givenName + ` ` + familyName + `","active":true}`
	postHeaders := map[string]string{"Content-Type": "application/json", "Authorization": auth, "Accept": "application/scim+json; charset=utf-8"}
	rec = env.do(http.MethodPost, baseA+"/Users", createBody, postHeaders)
	wantStatus(t, rec, http.StatusCreated)
	created := decode(t, rec)
	if created["active"] != true || created["userName"] != email ||
		path(created, "name.familyName") != familyName || path(created, "name.givenName") != givenName {
		t.Errorf("created %v", created)
	}
	if schemas, _ := created["schemas"].([]any); !containsAny(schemas, "urn:ietf:params:scim:schemas:core:2.0:User") {
		t.Errorf("schemas %v", created["schemas"])
	}
	idUserOne, _ := created["id"].(string)

	// Verify that user was created.
	got := get("/Users/" + idUserOne)
	if got["userName"] != email || path(got, "name.familyName") != familyName || path(got, "name.givenName") != givenName {
		t.Errorf("read back %v", got)
	}

	// Expect failure when recreating user with same values.
	rec = env.do(http.MethodPost, baseA+"/Users", createBody, postHeaders)
	wantSCIMError(t, rec, http.StatusConflict, "uniqueness")

	// Username Case Sensitivity Check.
	if got := get(filterURL(strings.ToUpper(email)))["totalResults"]; got != float64(1) {
		t.Errorf("upper-cased userName: totalResults %v", got)
	}

	// Verify Groups endpoint.
	groups := get("/Groups")
	if groups["totalResults"] != float64(0) {
		t.Errorf("groups %v", groups)
	}

	// Check status 401.
	rec = env.do(http.MethodGet, baseA+filterURL(strings.ToUpper(email)), "", oktaHeaders("non-token"))
	wantSCIMError(t, rec, http.StatusUnauthorized, "")

	// Check status 404.
	rec = env.do(http.MethodGet, baseA+"/Users/00919288221112222", "", oktaHeaders(auth))
	wantSCIMError(t, rec, http.StatusNotFound, "")
}

func containsAny(list []any, want string) bool {
	for _, v := range list {
		if v == want {
			return true
		}
	}
	return false
}

// TestOktaProvisioningShapes covers the requests of Okta's provisioning
// (idp-behaviour.md, Okta 3-5).
func TestOktaProvisioningShapes(t *testing.T) {
	t.Parallel()
	env := setup(t, Config{})
	create := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"jane@example.com",
	 "name":{"givenName":"Jane","familyName":"Doe"},
	 "emails":[{"primary":true,"value":"jane@example.com","type":"work"}],
	 "displayName":"Jane Doe","locale":"en-US","externalId":"00ujl29u0le5T6Aj10h7",
	 "groups":[],"password":"1mz050nq","active":true,
	 "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"42","department":"Legal"}}`
	rec := env.do(http.MethodPost, baseA+"/Users", create, map[string]string{"User-Agent": "Okta SCIM Client 1.0.0"})
	wantStatus(t, rec, http.StatusCreated)
	user := decode(t, rec)
	id := user["id"].(string)
	if _, ok := user["password"]; ok {
		t.Errorf("password returned")
	}
	if p := env.users.passwords[id]; p == nil || *p != "1mz050nq" {
		t.Errorf("password not handed to the service")
	}
	if got, _ := user["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"].(map[string]any); got["department"] != "Legal" {
		t.Errorf("enterprise extension lost: %v", user)
	}

	// Update: GET then PUT of the whole object (id, meta, groups), without active.
	rec = env.do(http.MethodGet, baseA+"/Users/"+id, "", nil)
	wantStatus(t, rec, http.StatusOK)
	whole := rec.Body.String()
	whole = strings.Replace(whole, `"displayName":"Jane Doe"`, `"displayName":"Jane D."`, 1)
	whole = strings.Replace(whole, `"active":true,`, ``, 1)
	whole = strings.Replace(whole, `,"active":true`, ``, 1)
	rec = env.do(http.MethodPut, baseA+"/Users/"+id, whole, nil)
	wantStatus(t, rec, http.StatusOK)
	user = decode(t, rec)
	if user["displayName"] != "Jane D." || user["active"] != true {
		t.Errorf("after PUT: %v", user)
	}

	// Deactivate, reactivate, password sync: path-less replace.
	for _, step := range []struct {
		value string
		check func(map[string]any) bool
	}{
		{`{"active":false}`, func(u map[string]any) bool { return u["active"] == false }},
		{`{"active":true}`, func(u map[string]any) bool { return u["active"] == true }},
		{`{"password":"n3wPassw0rd"}`, func(u map[string]any) bool { _, ok := u["password"]; return !ok }},
	} {
		body := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":` + step.value + `}]}`
		rec = env.do(http.MethodPatch, baseA+"/Users/"+id, body, nil)
		wantStatus(t, rec, http.StatusOK)
		if u := decode(t, rec); !step.check(u) {
			t.Errorf("PATCH %s: %v", step.value, u)
		}
	}
	if p := env.users.passwords[id]; p == nil || *p != "n3wPassw0rd" {
		t.Errorf("PATCHed password not handed to the service")
	}
}

// TestEntraPatchShapes covers the PATCH bodies Entra ID sends
// (idp-behaviour.md, Microsoft Entra ID).
func TestEntraPatchShapes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		ops   string
		check map[string]any // dotted path -> expected value
	}{
		{"disable with a string", `[{"op":"Replace","path":"active","value":"False"}]`, map[string]any{"active": false}},
		{"enable with a string", `[{"op":"Replace","path":"active","value":"True"}]`, map[string]any{"active": true}},
		{"disable with a boolean", `[{"op":"replace","path":"active","value":false}]`, map[string]any{"active": false}},
		{"path-less replace with dotted and URN keys",
			`[{"op":"replace","value":{"displayName":"X","name.givenName":"Y","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":"7"}}]`,
			map[string]any{"displayName": "X", "name.givenName": "Y"}},
		{"add to a filtered path creates the element",
			`[{"op":"Add","path":"phoneNumbers[type eq \"mobile\"].value","value":"+1 555 0100"}]`, nil},
		{"replace filtered email value with odd case",
			`[{"op":"Replace","path":"emails[type eq \"work\"].Value","value":"new@example.com"}]`, nil},
		{"manager as a bare id",
			`[{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"123"}]`, nil},
		{"remove an attribute", `[{"op":"Remove","path":"displayName"}]`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := setup(t, Config{})
			id := env.createUser("entra@example.com")
			body := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":` + tc.ops + `}`
			rec := env.do(http.MethodPatch, baseA+"/Users/"+id, body, map[string]string{"Content-Type": "application/json"})
			wantStatus(t, rec, http.StatusOK)
			user := decode(t, rec)
			for p, want := range tc.check {
				if got := path(user, p); got != want {
					t.Errorf("%s = %#v, want %#v", p, got, want)
				}
			}
			if path(user, "meta.version") != `W/"2"` {
				t.Errorf("meta.version %v", path(user, "meta.version"))
			}
		})
	}
}

// TestEntraCreateShape: Entra's POST carries the enterprise schema URI,
// meta.resourceType, roles:[] and "True" as a string.
func TestEntraCreateShape(t *testing.T) {
	t.Parallel()
	env := setup(t, Config{})
	body := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
	 "externalId":"e-1","userName":"Test_User_1@contoso.com","active":"True","displayName":"Test User",
	 "emails":[{"primary":true,"type":"work","value":"Test_User_1@contoso.com"}],
	 "meta":{"resourceType":"User"},"name":{"formatted":"Test User","familyName":"User","givenName":"Test"},"roles":[],
	 "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"Department":"Sales","manager":"123"}}`
	rec := env.do(http.MethodPost, baseA+"/Users", body, nil)
	wantStatus(t, rec, http.StatusCreated)
	if got := decode(t, rec)["active"]; got != true {
		t.Errorf("active %#v", got)
	}
	// Entra retries a create whose response it lost: the second POST meets 409.
	wantSCIMError(t, env.do(http.MethodPost, baseA+"/Users", body, nil), http.StatusConflict, "uniqueness")
}
