package api

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHealthz(t *testing.T) {
	t.Parallel()
	env := setup(t, Config{})
	rec := env.do(http.MethodGet, "/healthz", "", map[string]string{"Authorization": ""})
	wantStatus(t, rec, http.StatusOK)
	if got := decode(t, rec)["status"]; got != "ok" {
		t.Errorf("status %v", got)
	}
}

func TestContentTypes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		contentType string // "-" sends none
		status      int
	}{
		{"scim+json", "application/scim+json", 201},
		{"scim+json with charset", "application/scim+json; charset=utf-8", 201},
		{"json (okta spec POST)", "application/json", 201},
		{"json with upper-case charset", "application/json;charset=UTF-8", 201},
		{"upper-case media type", "Application/SCIM+JSON", 201},
		{"no content type", "-", 201},
		{"text/plain", "text/plain", 415},
		{"form", "application/x-www-form-urlencoded", 415},
		{"xml", "application/xml", 415},
		{"malformed", "application/json; charset", 415},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := setup(t, Config{})
			header := map[string]string{"Content-Type": tc.contentType, "Accept": "application/scim+json; charset=utf-8"}
			if tc.contentType == "-" {
				header["Content-Type"] = ""
			}
			rec := env.do(http.MethodPost, baseA+"/Users", userJSON("ct@example.com", "ct"), header)
			if tc.status == 415 {
				wantSCIMError(t, rec, 415, "")
				return
			}
			wantStatus(t, rec, tc.status)
			if ct := rec.Header().Get("Content-Type"); ct != ContentType {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
	t.Run("a GET's Content-Type is not checked", func(t *testing.T) {
		t.Parallel()
		env := setup(t, Config{})
		rec := env.do(http.MethodGet, baseA+"/Users", "", map[string]string{"Content-Type": "text/plain", "Accept": "application/xml"})
		wantStatus(t, rec, http.StatusOK)
	})
	t.Run("415 on PUT and PATCH", func(t *testing.T) {
		t.Parallel()
		env := setup(t, Config{})
		id := env.createUser("c@example.com")
		for _, m := range []string{http.MethodPut, http.MethodPatch} {
			rec := env.do(m, baseA+"/Users/"+id, `{}`, map[string]string{"Content-Type": "text/xml"})
			wantSCIMError(t, rec, 415, "")
		}
	})
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	const limit = 512
	big := userJSON("big@example.com", strings.Repeat("x", 2*limit))
	cases := []struct {
		name          string
		method        string
		target        string
		unknownLength bool
	}{
		{"post with Content-Length", http.MethodPost, baseA + "/Users", false},
		{"post chunked", http.MethodPost, baseA + "/Users", true},
		{"put chunked", http.MethodPut, baseA + "/Users/u-0001", true},
		{"patch with Content-Length", http.MethodPatch, baseA + "/Users/u-0001", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := setup(t, Config{MaxBodyBytes: limit})
			env.createUser("small@example.com")
			req := httptest.NewRequest(tc.method, tc.target, strings.NewReader(big))
			if tc.unknownLength {
				req.Body = io.NopCloser(strings.NewReader(big))
				req.ContentLength = -1
			}
			req.Header.Set("Authorization", "Bearer "+keyA)
			req.Header.Set("Content-Type", "application/scim+json")
			rec := httptest.NewRecorder()
			env.router.ServeHTTP(rec, req)
			body := wantSCIMError(t, rec, http.StatusRequestEntityTooLarge, "")
			if d, _ := body["detail"].(string); !strings.Contains(d, "512") {
				t.Errorf("detail %q does not state the limit", d)
			}
		})
	}
	t.Run("a body at the limit is read", func(t *testing.T) {
		t.Parallel()
		body := userJSON("fits@example.com", "f")
		env := setup(t, Config{MaxBodyBytes: int64(len(body))})
		wantStatus(t, env.do(http.MethodPost, baseA+"/Users", body, nil), http.StatusCreated)
	})
}

func TestGroupsEmpty(t *testing.T) {
	t.Parallel()
	env := setup(t, Config{})
	for _, target := range []string{
		baseA + "/Groups",
		baseA + "/Groups?startIndex=1&count=100",
		baseA + "/Groups?filter=displayName%20eq%20%22Engineering%22&startIndex=1&count=100",
		baseA + "/Groups?excludedAttributes=members&filter=displayName%20eq%20%22X%22",
	} {
		rec := env.do(http.MethodGet, target, "", nil)
		wantStatus(t, rec, http.StatusOK)
		if !strings.Contains(rec.Body.String(), `"totalResults":0,"startIndex":1,"itemsPerPage":0,"Resources":[]`) {
			t.Errorf("%s: body %s", target, rec.Body)
		}
	}
	wantSCIMError(t, env.do(http.MethodGet, baseA+"/Groups?filter=displayName%20zz", "", nil), 400, "invalidFilter")
	wantSCIMError(t, env.do(http.MethodGet, baseA+"/Groups/g1", "", nil), 404, "")
	group := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Engineering","members":[]}`
	wantSCIMError(t, env.do(http.MethodPut, baseA+"/Groups/g1", group, nil), 404, "")
	wantSCIMError(t, env.do(http.MethodPatch, baseA+"/Groups/g1", `{"Operations":[{"op":"remove","path":"members"}]}`, nil), 404, "")
	wantSCIMError(t, env.do(http.MethodDelete, baseA+"/Groups/g1", "", nil), 404, "")
}

func TestRoutingErrors(t *testing.T) {
	t.Parallel()
	env := setup(t, Config{})
	wantSCIMError(t, env.do(http.MethodGet, baseA+"/Nope", "", nil), 404, "")
	wantSCIMError(t, env.do(http.MethodGet, "/nope", "", nil), 404, "")
	wantSCIMError(t, env.do(http.MethodDelete, baseA+"/Users", "", nil), 405, "")
	// A trailing or doubled slash in a configured Base URL still routes.
	wantStatus(t, env.do(http.MethodGet, "/scim/"+tenantA+"/v2//Users", "", nil), http.StatusOK)
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	env := setup(t, Config{})
	rec := env.do(http.MethodGet, baseA+"/Users", "", map[string]string{HeaderRequestID: "okta-req-42"})
	if got := rec.Header().Get(HeaderRequestID); got != "okta-req-42" {
		t.Errorf("echoed id %q", got)
	}
	rec = env.do(http.MethodGet, baseA+"/Users", "", nil)
	generated := rec.Header().Get(HeaderRequestID)
	if len(generated) != 32 {
		t.Errorf("generated id %q", generated)
	}
	rec = env.do(http.MethodGet, baseA+"/Users", "", map[string]string{HeaderRequestID: "bad id\twith spaces"})
	if got := rec.Header().Get(HeaderRequestID); got == "bad id\twith spaces" || len(got) != 32 {
		t.Errorf("unsafe id echoed or not replaced: %q", got)
	}
}

func TestAccessLog(t *testing.T) {
	t.Parallel()
	env := setup(t, Config{})
	env.do(http.MethodPost, baseA+"/Users", userJSON("secret-user@example.com", "e"), map[string]string{HeaderRequestID: "rid-1"})
	env.do(http.MethodGet, baseA+"/Users?filter=userName%20eq%20%22secret-user%40example.com%22", "", nil)
	env.do(http.MethodGet, baseA+"/Users", "", map[string]string{"Authorization": basic("admin", keyB)})
	logs := env.logs.String()
	for _, want := range []string{`"tenant":"acme"`, `"method":"POST"`, `"route":"/scim/:tenant/v2/Users"`, `"status":201`, `"status":401`, `"latency"`, `"request_id":"rid-1"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
	for _, secret := range []string{keyA, keyB, "secret-user", "Bearer", "Basic"} {
		if strings.Contains(logs, secret) {
			t.Errorf("log contains %q:\n%s", secret, logs)
		}
	}
}

func TestDiscovery(t *testing.T) {
	t.Parallel()
	env := setup(t, Config{})
	rec := env.do(http.MethodGet, baseA+"/ServiceProviderConfig", "", nil)
	wantStatus(t, rec, http.StatusOK)
	spc := decode(t, rec)
	if path(spc, "patch.supported") != true || path(spc, "filter.supported") != true {
		t.Errorf("ServiceProviderConfig %v", spc)
	}
	if got, _ := path(spc, "filter.maxResults").(float64); got != DefaultMaxPageSize {
		t.Errorf("filter.maxResults %v, want %d", path(spc, "filter.maxResults"), DefaultMaxPageSize)
	}

	rec = env.do(http.MethodGet, baseA+"/ResourceTypes", "", nil)
	wantStatus(t, rec, http.StatusOK)
	list := decode(t, rec)
	if n, _ := list["totalResults"].(float64); n < 1 {
		t.Errorf("ResourceTypes %v", list)
	}
	rec = env.do(http.MethodGet, baseA+"/ResourceTypes/User", "", nil)
	wantStatus(t, rec, http.StatusOK)
	if got := decode(t, rec)["endpoint"]; got != "/Users" {
		t.Errorf("User resource type endpoint %v", got)
	}
	wantSCIMError(t, env.do(http.MethodGet, baseA+"/ResourceTypes/Widget", "", nil), 404, "")

	rec = env.do(http.MethodGet, baseA+"/Schemas", "", nil)
	wantStatus(t, rec, http.StatusOK)
	if n, _ := decode(t, rec)["totalResults"].(float64); n < 2 {
		t.Errorf("Schemas: %s", rec.Body)
	}
	rec = env.do(http.MethodGet, baseA+"/Schemas/urn:ietf:params:scim:schemas:core:2.0:User", "", nil)
	wantStatus(t, rec, http.StatusOK)
	if got := decode(t, rec)["id"]; got != "urn:ietf:params:scim:schemas:core:2.0:User" {
		t.Errorf("schema id %v", got)
	}
	wantSCIMError(t, env.do(http.MethodGet, baseA+"/Schemas/urn:nope", "", nil), 404, "")
}

func TestPublicURLFromHost(t *testing.T) {
	t.Parallel()
	env := setup(t, Config{})
	router := New(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
		Deps{Users: env.users, Tenants: env.tenants, Keys: env.keys})
	req := httptest.NewRequest(http.MethodPost, baseA+"/Users", strings.NewReader(userJSON("h@example.com", "h")))
	req.Host = "scim.internal:8080"
	req.Header.Set("Authorization", "Bearer "+keyA)
	req.Header.Set("Content-Type", "application/scim+json")
	rec := httptest.NewRecorder()
	router.ServeHTTP(rec, req)
	wantStatus(t, rec, http.StatusCreated)
	id := decode(t, rec)["id"].(string)
	want := "http://scim.internal:8080" + baseA + "/Users/" + id
	if got := rec.Header().Get("Location"); got != want {
		t.Errorf("Location %q, want %q", got, want)
	}
	if got := path(decode(t, rec), "meta.location"); got != want {
		t.Errorf("meta.location %v, want %q", got, want)
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	c := Config{PublicURL: "https://x.test/"}.withDefaults()
	if c.PublicURL != "https://x.test" || c.MaxBodyBytes != 1<<20 || c.MaxPageSize != 1000 || c.DefaultPageSize != 100 || c.Logger == nil {
		t.Errorf("defaults %+v", c)
	}
	c = Config{MaxPageSize: 10}.withDefaults()
	if c.DefaultPageSize != 10 {
		t.Errorf("default page size %d above the maximum 10", c.DefaultPageSize)
	}
}

func TestBadListParameters(t *testing.T) {
	t.Parallel()
	env := setup(t, Config{})
	for _, target := range []string{
		baseA + "/Users?startIndex=abc",
		baseA + "/Users?count=ten",
		baseA + "/Groups?count=1.5",
	} {
		wantSCIMError(t, env.do(http.MethodGet, target, "", nil), 400, "invalidValue")
	}
}

func TestIfMatchListOnUnknownUser(t *testing.T) {
	t.Parallel()
	env := setup(t, Config{})
	for _, m := range []string{http.MethodDelete, http.MethodPatch} {
		body := ""
		if m == http.MethodPatch {
			body = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}`
		}
		rec := env.do(m, baseA+"/Users/nope", body, map[string]string{"If-Match": `W/"1", W/"2"`})
		wantSCIMError(t, rec, http.StatusNotFound, "")
	}
}
