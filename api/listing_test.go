package api

import (
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/tenants"
)

func userNames(t *testing.T, list map[string]any) []string {
	t.Helper()
	var out []string
	for _, r := range list["Resources"].([]any) {
		out = append(out, r.(map[string]any)["userName"].(string))
	}
	return out
}

func TestSortAndSearch(t *testing.T) {
	t.Parallel()
	env := setup(t, Config{})
	for _, n := range []string{"carol@example.com", "Alice@example.com", "bob@example.com"} {
		env.createUser(n)
	}
	cases := []struct {
		name, method, target, body string
		want                       []string
		total                      float64
	}{
		{"sortBy ascending, case-insensitive", "GET", "/Users?sortBy=userName", "", []string{"Alice@example.com", "bob@example.com", "carol@example.com"}, 3},
		{"sortOrder descending", "GET", "/Users?sortBy=userName&sortOrder=descending", "", []string{"carol@example.com", "bob@example.com", "Alice@example.com"}, 3},
		{"sorted page", "GET", "/Users?sortBy=userName&startIndex=2&count=1", "", []string{"bob@example.com"}, 3},
		{".search with everything", "POST", "/Users/.search", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
		  "attributes":["userName"],"filter":"userName ne \"bob@example.com\"","sortBy":"userName","sortOrder":"descending","startIndex":1,"count":10}`,
			[]string{"carol@example.com", "Alice@example.com"}, 2},
		{".search without sort", "POST", "/Users/.search", `{"filter":"userName sw \"b\""}`, []string{"bob@example.com"}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := env.do(tc.method, baseA+tc.target, tc.body, nil)
			wantStatus(t, rec, http.StatusOK)
			list := decode(t, rec)
			if got := userNames(t, list); !reflect.DeepEqual(got, tc.want) || list["totalResults"] != tc.total {
				t.Fatalf("got %v (total %v), want %v (%v)", got, list["totalResults"], tc.want, tc.total)
			}
		})
	}
	// The search's attributes applied: only id, schemas, userName.
	rec := env.do(http.MethodPost, baseA+"/Users/.search", `{"attributes":["userName"],"sortBy":"userName","count":1}`, nil)
	r := decode(t, rec)["Resources"].([]any)[0].(map[string]any)
	if len(r) != 3 || r["userName"] == nil || r["id"] == nil || r["schemas"] == nil {
		t.Fatalf("projected %v", r)
	}
	if q := env.users.lastSort; q.SortBy != "userName" || q.Descending || q.Count != 1 {
		t.Fatalf("service asked %+v", q)
	}
	// Search errors.
	wantSCIMError(t, env.do(http.MethodPost, baseA+"/Users/.search", `{"count":"x"}`, nil), 400, "invalidValue")
	wantSCIMError(t, env.do(http.MethodPost, baseA+"/Users/.search", `{"filter":"userName zz 1"}`, nil), 400, "invalidFilter")
	wantSCIMError(t, env.do(http.MethodPost, baseA+"/Users/.search", `[`, nil), 400, "invalidSyntax")
	// Groups .search passes sort and the member decision on.
	wantStatus(t, env.do(http.MethodPost, baseA+"/Groups", `{"displayName":"B"}`, nil), http.StatusCreated)
	wantStatus(t, env.do(http.MethodPost, baseA+"/Groups", `{"displayName":"a"}`, nil), http.StatusCreated)
	rec = env.do(http.MethodPost, baseA+"/Groups/.search", `{"sortBy":"displayName","attributes":["displayName"]}`, nil)
	wantStatus(t, rec, http.StatusOK)
	res := decode(t, rec)["Resources"].([]any)
	if res[0].(map[string]any)["displayName"] != "a" || env.users.groupState().lastQuery.WithMembers {
		t.Fatalf("groups search %v, query %+v", res, env.users.groupState().lastQuery)
	}
}

func TestAttributesOnWrites(t *testing.T) {
	t.Parallel()
	env := setup(t, Config{})
	rec := env.do(http.MethodPost, baseA+"/Users?attributes=userName", userJSON("w@example.com", "w"), nil)
	wantStatus(t, rec, http.StatusCreated)
	u := decode(t, rec)
	if len(u) != 3 || u["userName"] != "w@example.com" {
		t.Fatalf("POST projected %v", u)
	}
	id := u["id"].(string)
	rec = env.do(http.MethodPut, baseA+"/Users/"+id+"?excludedAttributes=emails,name", userJSON("w@example.com", "w"), nil)
	wantStatus(t, rec, http.StatusOK)
	if u = decode(t, rec); u["emails"] != nil || u["name"] != nil || u["displayName"] == nil {
		t.Fatalf("PUT projected %v", u)
	}
	rec = env.do(http.MethodPatch, baseA+"/Users/"+id+"?attributes=active", patchBody(`{"op":"replace","value":{"active":false}}`), nil)
	wantStatus(t, rec, http.StatusOK)
	if u = decode(t, rec); len(u) != 3 || u["active"] != false {
		t.Fatalf("PATCH projected %v", u)
	}
	rec = env.do(http.MethodGet, baseA+"/Users?attributes=userName&excludedAttributes=userName", "", nil)
	if r := decode(t, rec)["Resources"].([]any)[0].(map[string]any); r["userName"] == nil {
		t.Fatalf("attributes wins over excludedAttributes: %v", r)
	}
}

func TestUserLimits(t *testing.T) {
	t.Parallel()
	env := setup(t, Config{})
	id := env.createUser("l@example.com")
	ops := strings.TrimSuffix(strings.Repeat(`{"op":"replace","path":"title","value":"x"},`, 1001), ",")
	wantSCIMError(t, env.do(http.MethodPatch, baseA+"/Users/"+id, patchBody(ops), nil), 400, "tooMany")
	wantSCIMError(t, env.do(http.MethodPatch, baseA+"/Users/"+id, patchBody(`{"op":"replace","path":"id","value":"x"}`), nil), 400, "mutability")
	wantSCIMError(t, env.do(http.MethodPost, baseA+"/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"userName":"x"}`, nil), 400, "invalidValue")
	wantSCIMError(t, env.do(http.MethodPost, baseA+"/Users", `{"userName":["x"]}`, nil), 400, "invalidValue")
	wantSCIMError(t, env.do(http.MethodPost, baseA+"/Users", `{"displayName":"x"}`, nil), 400, "invalidValue")
	wantSCIMError(t, env.do(http.MethodPost, baseA+"/Users", `{"userName":"x","active":"maybe"}`, nil), 400, "invalidValue")
	wantSCIMError(t, env.do(http.MethodGet, baseA+"/Users?filter="+url.QueryEscape(strings.Repeat(`userName eq "x" or `, 300)+`userName eq "y"`), "", nil), 400, "invalidFilter")
	rec := env.do(http.MethodGet, baseA+"/Users/"+id, "", nil)
	if u := decode(t, rec); path(u, "meta.version") != `W/"1"` || u["title"] != nil {
		t.Fatalf("user changed: %v", u)
	}
	// The Entra and enterprise URNs are accepted in schemas.
	wantStatus(t, env.do(http.MethodPost, baseA+"/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],"userName":"e@example.com"}`, nil), http.StatusCreated)
}

const (
	acmeURN   = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"
	globexURN = "urn:ietf:params:scim:schemas:extension:globex:2.0:User"
)

// Two tenants with different custom extensions see different /Schemas and
// /ResourceTypes, and each accepts only its own attributes.
func TestCustomSchemaPerTenant(t *testing.T) {
	t.Parallel()
	env := setup(t, Config{})
	env.tenants.tenants[tenantA].Schema = &tenants.CustomSchema{URN: acmeURN, Attributes: []tenants.CustomAttribute{
		{Name: "costCenter"}, {Name: "level", Type: "integer"}}}
	env.tenants.tenants[tenantB].Schema = &tenants.CustomSchema{URN: globexURN, Attributes: []tenants.CustomAttribute{
		{Name: "contractor", Type: "boolean"}}}
	asB := map[string]string{"Authorization": "Bearer " + keyB}

	ids := func(header map[string]string, base string) []any {
		rec := env.do(http.MethodGet, base+"/Schemas", "", header)
		wantStatus(t, rec, http.StatusOK)
		var out []any
		for _, r := range decode(t, rec)["Resources"].([]any) {
			out = append(out, r.(map[string]any)["id"])
		}
		return out
	}
	if got := ids(nil, baseA); !reflect.DeepEqual(got, []any{"urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", acmeURN, "urn:ietf:params:scim:schemas:core:2.0:Group"}) {
		t.Fatalf("tenant A schemas %v", got)
	}
	if got := ids(asB, baseB); len(got) != 4 || got[2] != globexURN {
		t.Fatalf("tenant B schemas %v", got)
	}
	rec := env.do(http.MethodGet, baseA+"/Schemas/"+acmeURN, "", nil)
	wantStatus(t, rec, http.StatusOK)
	if attrs := decode(t, rec)["attributes"].([]any); len(attrs) != 2 || attrs[1].(map[string]any)["type"] != "integer" {
		t.Fatalf("acme schema attributes %v", attrs)
	}
	wantSCIMError(t, env.do(http.MethodGet, baseB+"/Schemas/"+acmeURN, "", asB), 404, "")
	rec = env.do(http.MethodGet, baseB+"/ResourceTypes/User", "", asB)
	if exts := decode(t, rec)["schemaExtensions"].([]any); len(exts) != 2 || exts[1].(map[string]any)["schema"] != globexURN {
		t.Fatalf("tenant B resource type %v", exts)
	}

	// Tenant A: custom attributes validated, stored, rendered, patched by URN path, filtered.
	body := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","` + acmeURN + `"],"userName":"c@acme.com","` + acmeURN + `":{"costCenter":"CC-1","level":2}}`
	rec = env.do(http.MethodPost, baseA+"/Users", body, nil)
	wantStatus(t, rec, http.StatusCreated)
	u := decode(t, rec)
	if !reflect.DeepEqual(u[acmeURN], map[string]any{"costCenter": "CC-1", "level": 2.0}) {
		t.Fatalf("rendered %v", u)
	}
	id := u["id"].(string)
	rec = env.do(http.MethodPatch, baseA+"/Users/"+id, patchBody(`{"op":"replace","path":"`+acmeURN+`:costCenter","value":"CC-2"}`), nil)
	wantStatus(t, rec, http.StatusOK)
	if got := decode(t, rec)[acmeURN].(map[string]any)["costCenter"]; got != "CC-2" {
		t.Fatalf("patched %v", got)
	}
	wantSCIMError(t, env.do(http.MethodPatch, baseA+"/Users/"+id, patchBody(`{"op":"replace","path":"`+acmeURN+`:level","value":"high"}`), nil), 400, "invalidValue")
	rec = env.do(http.MethodGet, baseA+"/Users?filter="+url.QueryEscape(acmeURN+`:level ge 2`), "", nil)
	if decode(t, rec)["totalResults"] != 1.0 {
		t.Fatalf("filter on custom attribute: %s", rec.Body)
	}
	// Tenant B does not accept A's extension.
	wantSCIMError(t, env.do(http.MethodPost, baseB+"/Users", strings.Replace(body, "c@acme.com", "c@globex.com", 1), asB), 400, "invalidValue")
	rec = env.do(http.MethodPost, baseB+"/Users", `{"userName":"d@globex.com","`+acmeURN+`":{"costCenter":"x"},"`+globexURN+`":{"contractor":"True"}}`, asB)
	wantStatus(t, rec, http.StatusCreated)
	u = decode(t, rec)
	if u[acmeURN] != nil || !reflect.DeepEqual(u[globexURN], map[string]any{"contractor": true}) {
		t.Fatalf("tenant B stored %v", u)
	}
}

func TestServiceProviderConfigAdvertisesLimits(t *testing.T) {
	t.Parallel()
	env := setup(t, Config{MaxPageSize: 50, MaxBulkOperations: 10, MaxBulkPayloadBytes: 2048})
	rec := env.do(http.MethodGet, baseA+"/ServiceProviderConfig", "", nil)
	wantStatus(t, rec, http.StatusOK)
	spc := decode(t, rec)
	for k, want := range map[string]any{
		"sort.supported": true, "etag.supported": true, "patch.supported": true, "filter.supported": true,
		"filter.maxResults": 50.0, "bulk.supported": true, "bulk.maxOperations": 10.0, "bulk.maxPayloadSize": 2048.0,
	} {
		if got := path(spc, k); got != want {
			t.Errorf("%s = %v, want %v", k, got, want)
		}
	}
	for i := 0; i < 3; i++ {
		env.createUser("p" + itoa(i) + "@example.com")
	}
	wantStatus(t, env.do(http.MethodGet, baseA+"/Users?count=5000&sortBy=userName", "", nil), http.StatusOK)
	if q := env.users.lastSort; q.Count != 50 {
		t.Fatalf("count not capped: %+v", q)
	}
}
