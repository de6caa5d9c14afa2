package api

import (
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// memberValues returns the member ids of a rendered group, checking each
// member's $ref and type.
func memberValues(t *testing.T, g map[string]any) []string {
	t.Helper()
	var ids []string
	list, _ := g["members"].([]any)
	for _, el := range list {
		m := el.(map[string]any)
		id := m["value"].(string)
		if m["$ref"] != publicURL+baseA+"/Users/"+id || m["type"] != "User" {
			t.Errorf("member %v: want $ref to the user and type User", m)
		}
		ids = append(ids, id)
	}
	return ids
}

func (e *testEnv) getGroup(id string) map[string]any {
	e.t.Helper()
	rec := e.do(http.MethodGet, baseA+"/Groups/"+id, "", nil)
	wantStatus(e.t, rec, http.StatusOK)
	return decode(e.t, rec)
}

func patchBody(ops ...string) string {
	return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` + strings.Join(ops, ",") + `]}`
}

// Okta's Push Groups sequence (docs/idp-behaviour.md, Okta 6).
func TestOktaPushGroups(t *testing.T) {
	t.Parallel()
	env := setup(t, Config{})
	u1, u2, u3 := env.createUser("jane@example.com"), env.createUser("joe@example.com"), env.createUser("ann@example.com")
	okta := map[string]string{"User-Agent": "Okta SCIM Client 1.0.0"}

	// 1. Does the group exist?
	rec := env.do(http.MethodGet, baseA+"/Groups?filter=displayName%20eq%20%22Engineering%22&startIndex=1&count=100", "", okta)
	wantStatus(t, rec, http.StatusOK)
	if !strings.Contains(rec.Body.String(), `"totalResults":0,"startIndex":1,"itemsPerPage":0,"Resources":[]`) {
		t.Fatalf("lookup: %s", rec.Body)
	}
	// 2. Create it, empty.
	rec = env.do(http.MethodPost, baseA+"/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Engineering","members":[]}`, okta)
	wantStatus(t, rec, http.StatusCreated)
	g := decode(t, rec)
	gid := g["id"].(string)
	loc := publicURL + baseA + "/Groups/" + gid
	if rec.Header().Get("Location") != loc || path(g, "meta.location") != loc || path(g, "meta.resourceType") != "Group" ||
		rec.Header().Get("ETag") != `W/"1"` || path(g, "meta.version") != `W/"1"` {
		t.Fatalf("create: headers %v body %v", rec.Header(), g)
	}
	if _, ok := g["members"]; ok || g["displayName"] != "Engineering" {
		t.Fatalf("create body %v", g)
	}
	// 3. Rename carrying the read-only id, plus additions, in one PATCH.
	rec = env.do(http.MethodPatch, baseA+"/Groups/"+gid, patchBody(
		`{"op":"replace","value":{"id":"`+gid+`","displayName":"Engineering"}}`,
		`{"op":"add","path":"members","value":[{"value":"`+u1+`","display":"jane@example.com"},{"value":"`+u2+`","display":"joe@example.com"}]}`,
	), okta)
	wantStatus(t, rec, http.StatusNoContent)
	if rec.Header().Get("ETag") != `W/"2"` || rec.Body.Len() != 0 {
		t.Fatalf("patch: ETag %q body %q", rec.Header().Get("ETag"), rec.Body)
	}
	if got := memberValues(t, env.getGroup(gid)); !reflect.DeepEqual(got, []string{u1, u2}) {
		t.Fatalf("members %v", got)
	}
	// 4. Rename, a removal by value filter and an addition.
	rec = env.do(http.MethodPatch, baseA+"/Groups/"+gid, patchBody(
		`{"op":"replace","value":{"id":"`+gid+`","displayName":"Engineering Team"}}`,
		`{"op":"remove","path":"members[value eq \"`+u1+`\"]"}`,
		`{"op":"add","path":"members","value":[{"value":"`+u3+`","display":"ann@example.com"}]}`,
	), okta)
	wantStatus(t, rec, http.StatusNoContent)
	g = env.getGroup(gid)
	if got := memberValues(t, g); g["displayName"] != "Engineering Team" || !reflect.DeepEqual(got, []string{u3, u2}) && !reflect.DeepEqual(got, []string{u2, u3}) {
		t.Fatalf("after rename: %v", g)
	}
	// Removing a missing member and re-adding a present one are fine.
	rec = env.do(http.MethodPatch, baseA+"/Groups/"+gid, patchBody(
		`{"op":"remove","path":"members[value eq \"`+u1+`\"]"}`,
		`{"op":"add","path":"members","value":[{"value":"`+u2+`"}]}`,
	), okta)
	wantStatus(t, rec, http.StatusNoContent)
	// 5. Whole replacement of the members.
	rec = env.do(http.MethodPatch, baseA+"/Groups/"+gid, patchBody(`{"op":"replace","path":"members","value":[{"value":"`+u1+`"}]}`), okta)
	wantStatus(t, rec, http.StatusNoContent)
	if got := memberValues(t, env.getGroup(gid)); !reflect.DeepEqual(got, []string{u1}) {
		t.Fatalf("after replace: %v", got)
	}
	// 6. Import Groups: list pages with members.
	rec = env.do(http.MethodGet, baseA+"/Groups?startIndex=1&count=100", "", okta)
	wantStatus(t, rec, http.StatusOK)
	list := decode(t, rec)
	if list["totalResults"] != 1.0 || len(memberValues(t, list["Resources"].([]any)[0].(map[string]any))) != 1 {
		t.Fatalf("list %v", list)
	}
	// The lookup is case-insensitive.
	rec = env.do(http.MethodGet, baseA+"/Groups?filter="+url.QueryEscape(`displayName eq "engineering team"`), "", okta)
	if decode(t, rec)["totalResults"] != 1.0 {
		t.Fatalf("lookup after rename: %s", rec.Body)
	}
	// 7. Delete.
	wantStatus(t, env.do(http.MethodDelete, baseA+"/Groups/"+gid, "", okta), http.StatusNoContent)
	wantSCIMError(t, env.do(http.MethodGet, baseA+"/Groups/"+gid, "", okta), http.StatusNotFound, "")
	// Another tenant never sees it.
	wantSCIMError(t, env.do(http.MethodGet, baseB+"/Groups/"+gid, "", map[string]string{"Authorization": "Bearer " + keyB}), http.StatusNotFound, "")
}

// An Entra ID provisioning cycle (docs/idp-behaviour.md, Microsoft Entra ID).
func TestEntraProvisioning(t *testing.T) {
	t.Parallel()
	env := setup(t, Config{})
	entra := map[string]string{"Content-Type": "application/scim+json"}
	const ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

	rec := env.do(http.MethodGet, baseA+"/Users?filter="+url.QueryEscape(`userName eq "alex@contoso.com"`), "", entra)
	if decode(t, rec)["totalResults"] != 0.0 {
		t.Fatalf("lookup %s", rec.Body)
	}
	rec = env.do(http.MethodPost, baseA+"/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","`+ent+`"],
	 "externalId":"alex","userName":"alex@contoso.com","active":"True","displayName":"Alex",
	 "emails":[{"primary":true,"type":"work","value":"alex@contoso.com"}],
	 "meta":{"resourceType":"User"},"roles":[],"name":{"formatted":"Alex W","familyName":"W","givenName":"Alex"},
	 "`+ent+`":{"Department":"Sales"}}`, entra)
	wantStatus(t, rec, http.StatusCreated)
	u := decode(t, rec)
	uid := u["id"].(string)
	if u["active"] != true || !reflect.DeepEqual(u[ent], map[string]any{"department": "Sales"}) {
		t.Fatalf("created %v", u)
	}
	mgr := env.createUser("boss@contoso.com")
	rec = env.do(http.MethodPatch, baseA+"/Users/"+uid, patchBody(
		`{"op":"Replace","path":"emails[type eq \"work\"].Value","value":"alex.w@contoso.com"}`,
		`{"op":"Add","path":"phoneNumbers[type eq \"mobile\"].value","value":"+1 555"}`,
		`{"op":"Replace","path":"`+ent+`:manager","value":"`+mgr+`"}`,
		`{"op":"Replace","value":{"displayName":"Alex W","name.givenName":"Al","`+ent+`:employeeNumber":"7"}}`,
	), entra)
	wantStatus(t, rec, http.StatusOK)
	u = decode(t, rec)
	email := u["emails"].([]any)[0].(map[string]any)
	phone := u["phoneNumbers"].([]any)[0].(map[string]any)
	if email["value"] != "alex.w@contoso.com" || phone["value"] != "+1 555" || phone["type"] != "mobile" ||
		!reflect.DeepEqual(u[ent], map[string]any{"department": "Sales", "manager": map[string]any{"value": mgr}, "employeeNumber": "7"}) ||
		path(u, "name.givenName") != "Al" || u["displayName"] != "Alex W" {
		t.Fatalf("patched %v", u)
	}
	// Disable with a string boolean; the user is still returned by GET.
	rec = env.do(http.MethodPatch, baseA+"/Users/"+uid, patchBody(`{"op":"Replace","path":"active","value":"False"}`), entra)
	wantStatus(t, rec, http.StatusOK)
	if decode(t, rec)["active"] != false {
		t.Fatal("not deactivated")
	}
	wantStatus(t, env.do(http.MethodGet, baseA+"/Users/"+uid, "", entra), http.StatusOK)

	// Groups: Microsoft's schema URI, no members.
	rec = env.do(http.MethodPost, baseA+"/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group","http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],"externalId":"g-ext","displayName":"Sales"}`, entra)
	wantStatus(t, rec, http.StatusCreated)
	gid := decode(t, rec)["id"].(string)
	loads := env.users.groupState().memberLoads
	rec = env.do(http.MethodGet, baseA+"/Groups?excludedAttributes=members&filter="+url.QueryEscape(`displayName eq "Sales"`), "", entra)
	wantStatus(t, rec, http.StatusOK)
	if l := decode(t, rec); l["totalResults"] != 1.0 || strings.Contains(rec.Body.String(), `"members"`) {
		t.Fatalf("list %s", rec.Body)
	}
	if env.users.groupState().lastQuery.WithMembers || env.users.groupState().memberLoads != loads {
		t.Fatal("members were loaded for excludedAttributes=members")
	}
	rec = env.do(http.MethodPatch, baseA+"/Groups/"+gid, patchBody(
		`{"op":"Add","path":"members","value":[{"value":"`+uid+`","$ref":null},{"value":"`+mgr+`"}]}`), entra)
	wantStatus(t, rec, http.StatusNoContent)
	// Remove with a value list removes just those members.
	rec = env.do(http.MethodPatch, baseA+"/Groups/"+gid, patchBody(`{"op":"Remove","path":"members","value":[{"value":"`+uid+`"}]}`), entra)
	wantStatus(t, rec, http.StatusNoContent)
	if got := memberValues(t, env.getGroup(gid)); !reflect.DeepEqual(got, []string{mgr}) {
		t.Fatalf("members %v", got)
	}
	loads = env.users.groupState().memberLoads
	rec = env.do(http.MethodGet, baseA+"/Groups/"+gid+"?excludedAttributes=members", "", entra)
	wantStatus(t, rec, http.StatusOK)
	if strings.Contains(rec.Body.String(), `"members"`) || env.users.groupState().memberLoads != loads {
		t.Fatalf("excludedAttributes=members loaded or returned members: %s", rec.Body)
	}
	// The flag form of removal.
	rec = env.do(http.MethodPatch, baseA+"/Groups/"+gid, patchBody(`{"op":"Remove","path":"members[value eq \"`+mgr+`\"]"}`), entra)
	wantStatus(t, rec, http.StatusNoContent)
	if got := memberValues(t, env.getGroup(gid)); len(got) != 0 {
		t.Fatalf("members %v", got)
	}
	wantStatus(t, env.do(http.MethodDelete, baseA+"/Users/"+uid, "", entra), http.StatusNoContent)
}

func TestGroupPatchAnswer(t *testing.T) {
	t.Parallel()
	env := setup(t, Config{})
	u1 := env.createUser("a@example.com")
	rec := env.do(http.MethodPost, baseA+"/Groups", `{"displayName":"G","members":[{"value":"`+u1+`"}]}`, nil)
	wantStatus(t, rec, http.StatusCreated)
	gid := decode(t, rec)["id"].(string)
	if got := memberValues(t, decode(t, rec)); !reflect.DeepEqual(got, []string{u1}) {
		t.Fatalf("create members %v", got)
	}
	loads := env.users.groupState().memberLoads
	rec = env.do(http.MethodPatch, baseA+"/Groups/"+gid+"?excludedAttributes=members", patchBody(`{"op":"replace","path":"displayName","value":"H"}`), nil)
	wantStatus(t, rec, http.StatusOK)
	g := decode(t, rec)
	if g["displayName"] != "H" || g["members"] != nil || env.users.groupState().memberLoads != loads || rec.Header().Get("ETag") != `W/"2"` {
		t.Fatalf("patch with excludedAttributes: %v", g)
	}
	rec = env.do(http.MethodPatch, baseA+"/Groups/"+gid+"?attributes=members", patchBody(`{"op":"replace","path":"displayName","value":"I"}`), nil)
	wantStatus(t, rec, http.StatusOK)
	g = decode(t, rec)
	if g["displayName"] != nil || len(memberValues(t, g)) != 1 {
		t.Fatalf("patch with attributes=members: %v", g)
	}
	// PUT replaces the whole member list and answers with it.
	rec = env.do(http.MethodPut, baseA+"/Groups/"+gid, `{"id":"`+gid+`","displayName":"J","members":[]}`, map[string]string{"If-Match": `W/"3"`})
	wantStatus(t, rec, http.StatusOK)
	if g = decode(t, rec); g["displayName"] != "J" || g["members"] != nil {
		t.Fatalf("put %v", g)
	}
	rec = env.do(http.MethodGet, baseA+"/Groups/"+gid, "", map[string]string{"If-None-Match": `W/"4"`})
	wantStatus(t, rec, http.StatusNotModified)
}

func TestGroupErrors(t *testing.T) {
	t.Parallel()
	env := setup(t, Config{MaxBodyBytes: 4096})
	u1 := env.createUser("a@example.com")
	rec := env.do(http.MethodPost, baseA+"/Groups", `{"displayName":"G"}`, nil)
	wantStatus(t, rec, http.StatusCreated)
	gid := decode(t, rec)["id"].(string)
	cases := []struct {
		name, method, target, body string
		header                     map[string]string
		status                     int
		scimType                   string
	}{
		{"missing displayName", "POST", "/Groups", `{"members":[]}`, nil, 400, "invalidValue"},
		{"displayName wrong type", "POST", "/Groups", `{"displayName":7}`, nil, 400, "invalidValue"},
		{"malformed JSON", "POST", "/Groups", `{"displayName":`, nil, 400, "invalidSyntax"},
		{"unknown schema", "POST", "/Groups", `{"schemas":["urn:example:nope"],"displayName":"X"}`, nil, 400, "invalidValue"},
		{"member without value", "POST", "/Groups", `{"displayName":"X","members":[{"display":"a"}]}`, nil, 400, "invalidValue"},
		{"duplicate displayName", "POST", "/Groups", `{"displayName":"g"}`, nil, 409, "uniqueness"},
		{"body too large", "POST", "/Groups", `{"displayName":"` + strings.Repeat("x", 5000) + `"}`, nil, 413, ""},
		{"explicit id path", "PATCH", "/Groups/" + gid, patchBody(`{"op":"replace","path":"id","value":"x"}`), nil, 400, "mutability"},
		{"meta path", "PATCH", "/Groups/" + gid, patchBody(`{"op":"replace","path":"meta.created","value":"2020-01-01T00:00:00Z"}`), nil, 400, "mutability"},
		{"members filter not on value", "PATCH", "/Groups/" + gid, patchBody(`{"op":"remove","path":"members[display eq \"x\"]"}`), nil, 400, "invalidPath"},
		{"remove everything of displayName", "PATCH", "/Groups/" + gid, patchBody(`{"op":"remove","path":"displayName"}`), nil, 400, "invalidValue"},
		{"bad op", "PATCH", "/Groups/" + gid, patchBody(`{"op":"move","path":"displayName"}`), nil, 400, "invalidValue"},
		{"stale If-Match", "PATCH", "/Groups/" + gid, patchBody(`{"op":"add","path":"members","value":[{"value":"` + u1 + `"}]}`), map[string]string{"If-Match": `W/"9"`}, 412, ""},
		{"stale If-Match delete", "DELETE", "/Groups/" + gid, "", map[string]string{"If-Match": `W/"9"`}, 412, ""},
		{"unknown group", "PATCH", "/Groups/nope", patchBody(`{"op":"remove","path":"members"}`), nil, 404, ""},
		{"bad filter", "GET", "/Groups?filter=displayName%20zz%20%22x%22", "", nil, 400, "invalidFilter"},
		{"filter too long", "GET", "/Groups?filter=" + url.QueryEscape(`displayName eq "`+strings.Repeat("x", 4100)+`"`), "", nil, 400, "invalidFilter"},
		{"bad sortOrder", "GET", "/Groups?sortBy=displayName&sortOrder=sideways", "", nil, 400, "invalidValue"},
		{"bad sortBy", "GET", "/Groups?sortBy=" + url.QueryEscape(`members[value eq "x"]`), "", nil, 400, "invalidPath"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantSCIMError(t, env.do(tc.method, baseA+tc.target, tc.body, tc.header), tc.status, tc.scimType)
		})
	}
	// Nothing was written by any of them.
	g := env.getGroup(gid)
	if path(g, "meta.version") != `W/"1"` || g["displayName"] != "G" || g["members"] != nil {
		t.Fatalf("group changed: %v", g)
	}
	if n := len(env.users.groupState().groups[tenantA]); n != 1 {
		t.Fatalf("%d groups", n)
	}
}
