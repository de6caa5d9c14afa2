package api

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/internal/testsupport"
	syncsvc "github.com/scimbridge/scimbridge/sync"
	"github.com/scimbridge/scimbridge/tenants"
)

// These tests run the router against the real sync.Service on Redis
// (testsupport.Redis): the Okta Push Groups and Entra
// sequences, sorted search and bulk, checked in the ledger.

// setupRedis builds a router over a sync.Service on Redis with a fresh
// tenant (its keys deleted afterwards); the returned env's users field is
// unused.
func setupRedis(t *testing.T) (*testEnv, *syncsvc.Service, string) {
	t.Helper()
	rdb := testsupport.Redis(t)
	tenant := testsupport.Tenant(t, rdb, "api")
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	sealer, err := syncsvc.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	svc := &syncsvc.Service{Ledger: syncsvc.NewLedger(rdb, sealer), Logger: slog.New(slog.DiscardHandler)}
	env := &testEnv{
		t:       t,
		tenants: &memTenants{tenants: map[string]*tenants.Tenant{tenant: {ID: tenant}}},
		keys:    &memKeys{keys: map[string]string{"key-" + tenant: tenant}},
	}
	env.router = New(Config{PublicURL: publicURL, Logger: slog.New(slog.DiscardHandler)},
		Deps{Users: svc, Tenants: env.tenants, Keys: env.keys})
	return env, svc, tenant
}

func TestRedisOktaPushGroupsAndEntra(t *testing.T) {
	t.Parallel()
	env, svc, tenant := setupRedis(t)
	base := "/scim/" + tenant + "/v2"
	auth := map[string]string{"Authorization": "Bearer key-" + tenant}
	ctx := context.Background()
	create := func(name string) string {
		rec := env.do(http.MethodPost, base+"/Users", userJSON(name, "x-"+name), auth)
		wantStatus(t, rec, http.StatusCreated)
		return decode(t, rec)["id"].(string)
	}
	u1, u2, u3 := create("carol@example.com"), create("Alice@example.com"), create("bob@example.com")

	rec := env.do(http.MethodGet, base+"/Groups?filter=displayName%20eq%20%22Engineering%22&startIndex=1&count=100", "", auth)
	wantStatus(t, rec, http.StatusOK)
	if decode(t, rec)["totalResults"] != 0.0 {
		t.Fatalf("lookup %s", rec.Body)
	}
	rec = env.do(http.MethodPost, base+"/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Engineering","members":[]}`, auth)
	wantStatus(t, rec, http.StatusCreated)
	gid := decode(t, rec)["id"].(string)
	rec = env.do(http.MethodPatch, base+"/Groups/"+gid, patchBody(
		`{"op":"replace","value":{"id":"`+gid+`","displayName":"Engineering"}}`,
		`{"op":"add","path":"members","value":[{"value":"`+u1+`","display":"carol"},{"value":"`+u2+`"}]}`), auth)
	wantStatus(t, rec, http.StatusNoContent)
	rec = env.do(http.MethodPatch, base+"/Groups/"+gid, patchBody(
		`{"op":"replace","value":{"id":"`+gid+`","displayName":"Engineering Team"}}`,
		`{"op":"remove","path":"members[value eq \"`+u1+`\"]"}`,
		`{"op":"add","path":"members","value":[{"value":"`+u3+`"}]}`), auth)
	wantStatus(t, rec, http.StatusNoContent)
	members, err := svc.GroupMembers(ctx, tenant, gid)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{u2, u3}
	if u3 < u2 {
		want = []string{u3, u2}
	}
	if !reflect.DeepEqual(members, want) {
		t.Fatalf("ledger members %v, want %v", members, want)
	}
	// Entra: Remove with a value list, then excludedAttributes=members.
	rec = env.do(http.MethodPatch, base+"/Groups/"+gid, patchBody(`{"op":"Remove","path":"members","value":[{"value":"`+u2+`"}]}`), auth)
	wantStatus(t, rec, http.StatusNoContent)
	if members, _ = svc.GroupMembers(ctx, tenant, gid); !reflect.DeepEqual(members, []string{u3}) {
		t.Fatalf("after Remove: %v", members)
	}
	rec = env.do(http.MethodGet, base+"/Groups?excludedAttributes=members&filter="+url.QueryEscape(`displayName eq "engineering team"`), "", auth)
	wantStatus(t, rec, http.StatusOK)
	if l := decode(t, rec); l["totalResults"] != 1.0 || strings.Contains(rec.Body.String(), `"members"`) {
		t.Fatalf("list %s", rec.Body)
	}
	rec = env.do(http.MethodGet, base+"/Groups/"+gid, "", auth)
	wantStatus(t, rec, http.StatusOK)
	g := decode(t, rec)
	if g["displayName"] != "Engineering Team" || len(g["members"].([]any)) != 1 || rec.Header().Get("ETag") != `W/"4"` {
		t.Fatalf("group %v (ETag %s)", g, rec.Header().Get("ETag"))
	}
	// Sorted listing through SearchUsers.
	rec = env.do(http.MethodGet, base+"/Users?sortBy=userName&sortOrder=descending&attributes=userName", "", auth)
	wantStatus(t, rec, http.StatusOK)
	var names []string
	for _, r := range decode(t, rec)["Resources"].([]any) {
		names = append(names, r.(map[string]any)["userName"].(string))
	}
	if !reflect.DeepEqual(names, []string{"carol@example.com", "bob@example.com", "Alice@example.com"}) {
		t.Fatalf("sorted %v", names)
	}
	wantStatus(t, env.do(http.MethodDelete, base+"/Groups/"+gid, "", auth), http.StatusNoContent)
	if _, err := svc.GetGroup(ctx, tenant, gid); err == nil {
		t.Fatal("group still in the ledger")
	}
}

func TestRedisBulk(t *testing.T) {
	t.Parallel()
	env, svc, tenant := setupRedis(t)
	base := "/scim/" + tenant + "/v2"
	rec := env.do(http.MethodPost, base+"/Bulk", bulkHead+`"failOnErrors":2,"Operations":[
	 {"method":"POST","path":"/Users","bulkId":"a","data":{"userName":"a@example.com"}},
	 {"method":"POST","path":"/Users","bulkId":"b","data":{"userName":"b@example.com"}},
	 {"method":"POST","path":"/Groups","bulkId":"g","data":{"displayName":"G","members":[{"value":"bulkId:a"}]}},
	 {"method":"PATCH","path":"/Groups/bulkId:g","data":{"Operations":[{"op":"add","path":"members","value":[{"value":"bulkId:b"}]}]}},
	 {"method":"POST","path":"/Users","bulkId":"dup","data":{"userName":"A@example.com"}},
	 {"method":"POST","path":"/Groups","bulkId":"bad","data":{"displayName":"g"}},
	 {"method":"POST","path":"/Users","bulkId":"never","data":{"userName":"never@example.com"}}]}`,
		map[string]string{"Authorization": "Bearer key-" + tenant})
	wantStatus(t, rec, http.StatusOK)
	var statuses []string
	var gid string
	for _, op := range decode(t, rec)["Operations"].([]any) {
		m := op.(map[string]any)
		statuses = append(statuses, m["status"].(string))
		if m["bulkId"] == "g" {
			loc := m["location"].(string)
			gid = loc[strings.LastIndex(loc, "/")+1:]
		}
	}
	if !reflect.DeepEqual(statuses, []string{"201", "201", "201", "200", "409", "409"}) {
		t.Fatalf("statuses %v: %s", statuses, rec.Body)
	}
	members, err := svc.GroupMembers(context.Background(), tenant, gid)
	if err != nil || len(members) != 2 {
		t.Fatalf("members %v %v", members, err)
	}
	if _, total, err := svc.ListUsers(context.Background(), tenant, nil, 1, 10); err != nil || total != 2 {
		t.Fatalf("users %d %v", total, err)
	}
}

// TestRedisGroupUnknownMember: a PATCH or PUT naming a member that is not a
// user of the tenant (deleted here, still in the IdP's group) answers as
// any successful one, applies the rest and leaves the id out; the group's
// sync status shows what was dropped.
func TestRedisGroupUnknownMember(t *testing.T) {
	t.Parallel()
	env, svc, tenant := setupRedis(t)
	base := "/scim/" + tenant + "/v2"
	auth := map[string]string{"Authorization": "Bearer key-" + tenant}
	ctx := context.Background()
	newUser := func(name string) string {
		rec := env.do(http.MethodPost, base+"/Users", userJSON(name, "x-"+name), auth)
		wantStatus(t, rec, http.StatusCreated)
		return decode(t, rec)["id"].(string)
	}
	u1, u2, gone := newUser("u1@example.com"), newUser("u2@example.com"), newUser("gone@example.com")
	wantStatus(t, env.do(http.MethodDelete, base+"/Users/"+gone, "", auth), http.StatusNoContent)
	rec := env.do(http.MethodPost, base+"/Groups", `{"displayName":"Eng","members":[{"value":"`+u1+`"}]}`, auth)
	wantStatus(t, rec, http.StatusCreated)
	gid := decode(t, rec)["id"].(string)
	members := func() []string {
		m, err := svc.GroupMembers(ctx, tenant, gid)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	dropped := func() *syncsvc.DroppedMembers {
		st, err := (&syncsvc.Admin{Ledger: svc.Ledger}).Status(ctx, tenant, "Group", gid)
		if err != nil {
			t.Fatal(err)
		}
		return st.DroppedMembers
	}
	// Okta's mixed PATCH: a rename, a known member and a deleted one.
	rec = env.do(http.MethodPatch, base+"/Groups/"+gid, patchBody(
		`{"op":"replace","value":{"id":"`+gid+`","displayName":"Engineering"}}`,
		`{"op":"add","path":"members","value":[{"value":"`+u2+`"},{"value":"`+gone+`"}]}`), auth)
	wantStatus(t, rec, http.StatusNoContent)
	if m := members(); len(m) != 2 || slices.Contains(m, gone) {
		t.Fatalf("members %v", m)
	}
	if d := dropped(); d == nil || d.Count != 1 || d.IDs[0] != gone {
		t.Fatalf("dropped %+v", d)
	}
	// Entra's members-only PATCH, answered with the group when asked.
	rec = env.do(http.MethodPatch, base+"/Groups/"+gid+"?attributes=displayName", patchBody(
		`{"op":"Add","path":"members","value":[{"value":"no-such-user"}]}`), auth)
	wantStatus(t, rec, http.StatusOK)
	if g := decode(t, rec); g["displayName"] != "Engineering" {
		t.Fatalf("answer %v", g)
	}
	if d := dropped(); d == nil || d.Count != 1 || d.IDs[0] != "no-such-user" {
		t.Fatalf("dropped %+v", d)
	}
	// PUT: the member list without the unknown id replaces the old one.
	rec = env.do(http.MethodPut, base+"/Groups/"+gid, `{"displayName":"Eng","members":[{"value":"`+u2+`"},{"value":"`+gone+`"}]}`, auth)
	wantStatus(t, rec, http.StatusOK)
	g := decode(t, rec)
	if ms, _ := g["members"].([]any); g["displayName"] != "Eng" || len(ms) != 1 || ms[0].(map[string]any)["value"] != u2 {
		t.Fatalf("PUT answer %v", g)
	}
	if m := members(); !reflect.DeepEqual(m, []string{u2}) {
		t.Fatalf("members after PUT %v", m)
	}
}

// uniqueExternalID makes externalId unique in every tenant.
type uniqueExternalID struct{}

func (uniqueExternalID) UniqueAttributes(context.Context, string) ([]string, error) {
	return []string{"externalId"}, nil
}

// TestRedisSharedExternalID: Entra fills externalId from mailNickname,
// which it does not keep unique; two users (and two groups) with one
// externalId are both created, and an externalId filter lists both in
// creation order. A tenant that makes externalId unique answers 409.
func TestRedisSharedExternalID(t *testing.T) {
	t.Parallel()
	env, svc, tenant := setupRedis(t)
	base := "/scim/" + tenant + "/v2"
	auth := map[string]string{"Authorization": "Bearer key-" + tenant}
	var ids []string
	for _, name := range []string{"alex@contoso.com", "alex.w@contoso.com"} {
		rec := env.do(http.MethodPost, base+"/users", userJSON(name, "alex"), auth)
		wantStatus(t, rec, http.StatusCreated)
		ids = append(ids, decode(t, rec)["id"].(string))
	}
	rec := env.do(http.MethodGet, base+"/Users?filter="+url.QueryEscape(`externalId eq "alex"`), "", auth)
	wantStatus(t, rec, http.StatusOK)
	list := decode(t, rec)
	var got []string
	for _, r := range list["Resources"].([]any) {
		got = append(got, r.(map[string]any)["id"].(string))
	}
	if list["totalResults"] != 2.0 || !reflect.DeepEqual(got, ids) {
		t.Fatalf("externalId eq alex: %s", rec.Body)
	}
	for _, name := range []string{"Sales", "Sales EMEA"} {
		wantStatus(t, env.do(http.MethodPost, base+"/Groups", `{"displayName":"`+name+`","externalId":"sales"}`, auth), http.StatusCreated)
	}
	rec = env.do(http.MethodGet, base+"/Groups?excludedAttributes=members&filter="+url.QueryEscape(`externalId eq "sales"`), "", auth)
	wantStatus(t, rec, http.StatusOK)
	if decode(t, rec)["totalResults"] != 2.0 {
		t.Fatalf("groups externalId eq sales: %s", rec.Body)
	}
	// userName stays unique, case-insensitively.
	wantSCIMError(t, env.do(http.MethodPost, base+"/Users", userJSON("ALEX@contoso.com", "other"), auth), http.StatusConflict, "uniqueness")

	svc.Unique = uniqueExternalID{}
	wantSCIMError(t, env.do(http.MethodPost, base+"/Users", userJSON("third@contoso.com", "alex"), auth), http.StatusConflict, "uniqueness")
	wantSCIMError(t, env.do(http.MethodPost, base+"/Groups", `{"displayName":"Sales APAC","externalId":"sales"}`, auth), http.StatusConflict, "uniqueness")
	wantStatus(t, env.do(http.MethodPost, base+"/Users", userJSON("third@contoso.com", "alex3"), auth), http.StatusCreated)
}

// TestRedisEntraDocumentedShapes walks the requests of Microsoft's
// "Understand the Microsoft Entra SCIM implementation" (user and group
// operations, in its order) through the router and the real service:
// the test-connection query with a random userName, create with
// meta/roles and the enterprise schema, queries by userName and by
// emails[type eq "work"].value, multi-valued and single-valued PATCHes
// with capitalised ops, disable with a boolean and with "False", DELETE,
// and the group requests (ADSCIM schema, excludedAttributes=members,
// members Add with "$ref":null and Remove by value list), some on
// lowercase endpoints.
func TestRedisEntraDocumentedShapes(t *testing.T) {
	t.Parallel()
	env, svc, tenant := setupRedis(t)
	base := "/scim/" + tenant + "/v2"
	auth := map[string]string{"Authorization": "Bearer key-" + tenant, "Content-Type": "application/scim+json"}
	ctx := context.Background()
	const (
		userName = "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee"
		email    = "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com"
	)
	q := func(filter string) string { return "?filter=" + url.QueryEscape(filter) }
	var uid, gid string
	steps := []struct {
		name, method, target, body string
		status                     int
		check                      func(t *testing.T, body map[string]any)
	}{
		{"test connection: a random userName", "GET", "/users" + q(`userName eq "5a0b41a1-4e41-4c6d-9a73-0d6e6f5d5c0e"`), "", 200,
			func(t *testing.T, b map[string]any) {
				if b["totalResults"] != 0.0 || len(b["Resources"].([]any)) != 0 {
					t.Errorf("list %v", b)
				}
			}},
		{"create user", "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
			"externalId":"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef","userName":"` + userName + `","active":true,
			"emails":[{"primary":true,"type":"work","value":"` + email + `"}],"meta":{"resourceType":"User"},
			"name":{"formatted":"givenName familyName","familyName":"familyName","givenName":"givenName"},"roles":[]}`, 201,
			func(t *testing.T, b map[string]any) {
				uid, _ = b["id"].(string)
				if b["externalId"] != "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef" || b["userName"] != userName || b["active"] != true || path(b, "meta.resourceType") != "User" {
					t.Errorf("created %v", b)
				}
			}},
		{"get user", "GET", "/Users/{uid}", "", 200, func(t *testing.T, b map[string]any) {
			if b["id"] != uid || path(b, "name.givenName") != "givenName" {
				t.Errorf("got %v", b)
			}
		}},
		{"get user by query", "GET", "/Users" + q(`userName eq "`+userName+`"`), "", 200, total(1)},
		{"get user by work email", "GET", "/Users" + q(`emails[type eq "work"].value eq "`+email+`"`), "", 200, total(1)},
		{"get user by query, zero results", "GET", "/Users" + q(`userName eq "non-existent user"`), "", 200, total(0)},
		{"update multi-valued properties", "PATCH", "/Users/{uid}", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
			{"op":"Replace","path":"emails[type eq \"work\"].value","value":"updatedEmail@microsoft.com"},
			{"op":"Replace","path":"name.familyName","value":"updatedFamilyName"}]}`, 200,
			func(t *testing.T, b map[string]any) {
				ems, _ := b["emails"].([]any)
				if len(ems) != 1 || ems[0].(map[string]any)["value"] != "updatedEmail@microsoft.com" || path(b, "name.familyName") != "updatedFamilyName" {
					t.Errorf("patched %v", b)
				}
			}},
		{"update single-valued property", "PATCH", "/users/{uid}", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
			{"op":"Replace","path":"userName","value":"5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"}]}`, 200,
			func(t *testing.T, b map[string]any) {
				if b["userName"] != "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com" {
					t.Errorf("patched %v", b)
				}
			}},
		{"disable user (boolean)", "PATCH", "/Users/{uid}", `{"Operations":[{"op":"Replace","path":"active","value":false}],"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}`, 200,
			func(t *testing.T, b map[string]any) {
				if b["active"] != false {
					t.Errorf("active %v", b["active"])
				}
			}},
		{"enable user (string)", "PATCH", "/Users/{uid}", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"True"}]}`, 200,
			func(t *testing.T, b map[string]any) {
				if b["active"] != true {
					t.Errorf("active %v", b["active"])
				}
			}},
		{"soft delete (string)", "PATCH", "/Users/{uid}", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"}]}`, 200,
			func(t *testing.T, b map[string]any) {
				if b["active"] != false {
					t.Errorf("active %v", b["active"])
				}
			}},
		{"an inactive user is still returned", "GET", "/Users/{uid}", "", 200, func(t *testing.T, b map[string]any) {
			if b["active"] != false {
				t.Errorf("active %v", b["active"])
			}
		}},
		{"create group", "POST", "/groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group","http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
			"externalId":"8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159","displayName":"displayName","meta":{"resourceType":"Group"}}`, 201,
			func(t *testing.T, b map[string]any) {
				gid, _ = b["id"].(string)
				if b["displayName"] != "displayName" || b["externalId"] != "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159" {
					t.Errorf("created %v", b)
				}
			}},
		{"get group without members", "GET", "/Groups/{gid}?excludedAttributes=members", "", 200, func(t *testing.T, b map[string]any) {
			if _, ok := b["members"]; ok || b["id"] != gid {
				t.Errorf("group %v", b)
			}
		}},
		{"get group by displayName", "GET", "/Groups?excludedAttributes=members&filter=" + url.QueryEscape(`displayName eq "displayName"`), "", 200, total(1)},
		{"update group, non-member attributes", "PATCH", "/Groups/{gid}", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
			{"op":"Replace","path":"displayName","value":"1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"}]}`, 204, nil},
		{"update group, add members", "PATCH", "/Groups/{gid}", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
			{"op":"Add","path":"members","value":[{"$ref":null,"value":"{uid}"}]}]}`, 204, nil},
		{"group lists the member", "GET", "/Groups/{gid}", "", 200, func(t *testing.T, b map[string]any) {
			ms, _ := b["members"].([]any)
			if b["displayName"] != "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName" || len(ms) != 1 || ms[0].(map[string]any)["value"] != uid {
				t.Errorf("group %v", b)
			}
		}},
		{"update group, remove members", "PATCH", "/Groups/{gid}", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
			{"op":"Remove","path":"members","value":[{"$ref":null,"value":"{uid}"}]}]}`, 204, nil},
		{"delete group", "DELETE", "/Groups/{gid}", "", 204, nil},
		{"delete user", "DELETE", "/Users/{uid}", "", 204, nil},
		{"deleted user is gone", "GET", "/Users/{uid}", "", 404, nil},
	}
	for _, st := range steps {
		target := strings.NewReplacer("{uid}", uid, "{gid}", gid).Replace(st.target)
		body := strings.ReplaceAll(st.body, "{uid}", uid)
		rec := env.do(st.method, base+target, body, auth)
		if rec.Code != st.status {
			t.Fatalf("%s: %s %s: status %d, want %d: %s", st.name, st.method, target, rec.Code, st.status, rec.Body)
		}
		if st.check != nil {
			t.Run(st.name, func(t *testing.T) { st.check(t, decode(t, rec)) })
		}
		if st.name == "update group, add members" {
			if m, err := svc.GroupMembers(ctx, tenant, gid); err != nil || !reflect.DeepEqual(m, []string{uid}) {
				t.Fatalf("ledger members %v %v", m, err)
			}
		}
		if st.name == "update group, remove members" {
			if m, err := svc.GroupMembers(ctx, tenant, gid); err != nil || len(m) != 0 {
				t.Fatalf("ledger members after Remove %v %v", m, err)
			}
		}
	}
}

// total checks a ListResponse's totalResults.
func total(n int) func(t *testing.T, b map[string]any) {
	return func(t *testing.T, b map[string]any) {
		if b["totalResults"] != float64(n) || len(b["Resources"].([]any)) != n {
			t.Errorf("totalResults %v, Resources %v, want %d", b["totalResults"], b["Resources"], n)
		}
	}
}
