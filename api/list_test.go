package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestListUsers(t *testing.T) {
	t.Parallel()
	env := setup(t, Config{MaxPageSize: 50})
	for i := 1; i <= 5; i++ {
		env.createUser(fmt.Sprintf("user%d@example.com", i))
	}
	cases := []struct {
		name       string
		query      string
		total      float64
		start      float64
		items      int
		firstUser  string
		wantStart  int // start/count the service was asked for
		wantCount  int
		wantFilter bool
	}{
		{"okta connection test", "startIndex=1&count=2", 5, 1, 2, "user1@example.com", 1, 2, false},
		{"okta spec first step", "count=1&startIndex=1", 5, 1, 1, "user1@example.com", 1, 1, false},
		{"second page", "startIndex=3&count=2", 5, 3, 2, "user3@example.com", 3, 2, false},
		{"past the end", "startIndex=10&count=2", 5, 10, 0, "", 10, 2, false},
		{"no parameters: default page", "", 5, 1, 5, "user1@example.com", 1, 50, false},
		{"count above the maximum is capped", "count=5000", 5, 1, 5, "user1@example.com", 1, 50, false},
		{"count zero: total only", "count=0", 5, 1, 0, "", 1, 0, false},
		{"negative count is zero", "count=-3", 5, 1, 0, "", 1, 0, false},
		{"startIndex below 1 is 1", "startIndex=0&count=1", 5, 1, 1, "user1@example.com", 1, 1, false},
		{"okta existence check, encoded", "filter=userName%20eq%20%22user2%40example.com%22&startIndex=1&count=100", 1, 1, 1, "user2@example.com", 1, 50, true},
		{"okta existence check, plus for space", "filter=userName+eq+%22user2%40example.com%22", 1, 1, 1, "user2@example.com", 1, 50, true},
		{"case-insensitive userName", "filter=" + url.QueryEscape(`userName eq "USER4@EXAMPLE.COM"`), 1, 1, 1, "user4@example.com", 1, 50, true},
		{"no match is an empty 200", "filter=" + url.QueryEscape(`userName eq "abcdefgh@atko.com"`), 0, 1, 0, "", 1, 50, true},
		{"entra externalId and", "filter=" + url.QueryEscape(`externalId eq "ext-user3@example.com" and userName eq "user3@example.com"`), 1, 1, 1, "user3@example.com", 1, 50, true},
		{"entra email value path", "filter=" + url.QueryEscape(`emails[type eq "work"].value eq "user5@example.com"`), 1, 1, 1, "user5@example.com", 1, 50, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			target := baseA + "/Users"
			if tc.query != "" {
				target += "?" + tc.query
			}
			rec := env.do(http.MethodGet, target, "", nil)
			wantStatus(t, rec, http.StatusOK)
			if ct := rec.Header().Get("Content-Type"); ct != ContentType {
				t.Errorf("Content-Type %q", ct)
			}
			// totalResults, startIndex, itemsPerPage are JSON integers.
			raw := rec.Body.String()
			for _, field := range []string{
				fmt.Sprintf(`"totalResults":%d,`, int(tc.total)),
				fmt.Sprintf(`"startIndex":%d,`, int(tc.start)),
				fmt.Sprintf(`"itemsPerPage":%d,`, tc.items),
				`"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"]`,
			} {
				if !strings.Contains(raw, field) {
					t.Errorf("body lacks %s: %s", field, raw)
				}
			}
			body := decode(t, rec)
			resources, ok := body["Resources"].([]any)
			if !ok || len(resources) != tc.items {
				t.Fatalf("Resources %v, want %d items", body["Resources"], tc.items)
			}
			if tc.items > 0 {
				first := resources[0].(map[string]any)
				if first["userName"] != tc.firstUser {
					t.Errorf("first userName %v, want %s", first["userName"], tc.firstUser)
				}
				if loc, _ := path(first, "meta.location").(string); !strings.HasPrefix(loc, publicURL+baseA+"/Users/") {
					t.Errorf("meta.location %q", loc)
				}
			}
			env.users.mu.Lock()
			got := env.users.lastList
			env.users.mu.Unlock()
			if got.start != tc.wantStart || got.count != tc.wantCount || (got.filter != nil) != tc.wantFilter {
				t.Errorf("service asked for start %d count %d filter %v; want %d %d %v",
					got.start, got.count, got.filter != nil, tc.wantStart, tc.wantCount, tc.wantFilter)
			}
		})
	}
}

func TestListDefaultPageSize(t *testing.T) {
	t.Parallel()
	env := setup(t, Config{})
	wantStatus(t, env.do(http.MethodGet, baseA+"/Users", "", nil), http.StatusOK)
	if got := env.users.lastList.count; got != DefaultDefaultPageSize {
		t.Errorf("default count %d, want %d", got, DefaultDefaultPageSize)
	}
	wantStatus(t, env.do(http.MethodGet, baseA+"/Users?count=100000", "", nil), http.StatusOK)
	if got := env.users.lastList.count; got != DefaultMaxPageSize {
		t.Errorf("capped count %d, want %d", got, DefaultMaxPageSize)
	}
}

func TestListTenantIsolation(t *testing.T) {
	t.Parallel()
	env := setup(t, Config{})
	env.createUser("only-in-a@example.com")
	rec := env.do(http.MethodGet, baseB+"/Users?filter="+url.QueryEscape(`userName eq "only-in-a@example.com"`), "",
		map[string]string{"Authorization": "Bearer " + keyB})
	wantStatus(t, rec, http.StatusOK)
	if got := decode(t, rec)["totalResults"]; got != float64(0) {
		t.Errorf("tenant B sees %v of tenant A's users", got)
	}
}

func TestProjection(t *testing.T) {
	t.Parallel()
	env := setup(t, Config{})
	id := env.createUser("p@example.com")
	cases := []struct {
		name, target string
		present      []string
		absent       []string
	}{
		{"attributes on get", baseA + "/Users/" + id + "?attributes=userName", []string{"id", "userName", "schemas"}, []string{"name", "emails", "displayName"}},
		{"excludedAttributes on get", baseA + "/Users/" + id + "?excludedAttributes=emails,name", []string{"id", "userName", "displayName"}, []string{"emails", "name"}},
		{"attributes on list", baseA + "/Users?attributes=userName,displayName", []string{"id", "userName", "displayName"}, []string{"emails", "name"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := env.do(http.MethodGet, tc.target, "", nil)
			wantStatus(t, rec, http.StatusOK)
			obj := decode(t, rec)
			if rs, ok := obj["Resources"].([]any); ok {
				if len(rs) != 1 {
					t.Fatalf("Resources %v", rs)
				}
				obj = rs[0].(map[string]any)
			}
			for _, k := range tc.present {
				if _, ok := obj[k]; !ok {
					t.Errorf("%s missing from %v", k, obj)
				}
			}
			for _, k := range tc.absent {
				if _, ok := obj[k]; ok {
					t.Errorf("%s present in %v", k, obj)
				}
			}
		})
	}
}
