package api

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/scimbridge/scimbridge/tenants"
)

func init() { gin.SetMode(gin.TestMode) }

const (
	publicURL = "https://scim.example.test"

	tenantA = "acme"
	keyA    = "scb_acme_live_key_0001"
	tenantB = "globex"
	keyB    = "scb_globex_live_key_0002"
	// tenantOff is disabled; keyOff is its (otherwise valid) key.
	tenantOff = "initech"
	keyOff    = "scb_initech_live_key_0003"

	baseA = "/scim/" + tenantA + "/v2"
	baseB = "/scim/" + tenantB + "/v2"
)

// testEnv is a router over in-memory services, with its log captured.
type testEnv struct {
	t       *testing.T
	router  *Router
	users   *memUsers
	tenants *memTenants
	keys    *memKeys
	logs    *bytes.Buffer
}

func setup(t *testing.T, cfg Config) *testEnv {
	t.Helper()
	env := &testEnv{
		t:     t,
		users: newMemUsers(),
		tenants: &memTenants{tenants: map[string]*tenants.Tenant{
			tenantA:   {ID: tenantA, Name: "Acme"},
			tenantB:   {ID: tenantB, Name: "Globex"},
			tenantOff: {ID: tenantOff, Name: "Initech", Disabled: true},
		}},
		keys: &memKeys{keys: map[string]string{keyA: tenantA, keyB: tenantB, keyOff: tenantOff}},
		logs: &bytes.Buffer{},
	}
	if cfg.PublicURL == "" {
		cfg.PublicURL = publicURL
	}
	cfg.Logger = slog.New(slog.NewJSONHandler(env.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	env.router = New(cfg, Deps{Users: env.users, Tenants: env.tenants, Keys: env.keys})
	return env
}

// do sends a request. header holds extra headers; unless it sets
// Authorization, the request carries tenant A's key as a Bearer token (an
// empty Authorization value sends none).
func (e *testEnv) do(method, target, body string, header map[string]string) *httptest.ResponseRecorder {
	e.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	req.Header.Set("Authorization", "Bearer "+keyA)
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	e.router.ServeHTTP(rec, req)
	return rec
}

// createUser POSTs a user to tenant A and returns its id.
func (e *testEnv) createUser(userName string) string {
	e.t.Helper()
	rec := e.do(http.MethodPost, baseA+"/Users", userJSON(userName, "ext-"+userName), nil)
	if rec.Code != http.StatusCreated {
		e.t.Fatalf("create %q: status %d, body %s", userName, rec.Code, rec.Body)
	}
	return decode(e.t, rec)["id"].(string)
}

func userJSON(userName, externalID string) string {
	return `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"` + userName + `",` +
		`"externalId":"` + externalID + `","name":{"givenName":"Jane","familyName":"Doe"},` +
		`"emails":[{"primary":true,"value":"` + userName + `","type":"work"}],"displayName":"Jane Doe","active":true}`
}

func decode(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("response is not a JSON object: %v: %q", err, rec.Body.String())
	}
	return m
}

// wantStatus fails unless rec has the status.
func wantStatus(t *testing.T, rec *httptest.ResponseRecorder, status int) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d; body %s", rec.Code, status, rec.Body)
	}
}

// wantSCIMError checks a SCIM Error answer: status, media type, schemas,
// status as a string, scimType and a non-empty detail.
func wantSCIMError(t *testing.T, rec *httptest.ResponseRecorder, status int, scimType string) map[string]any {
	t.Helper()
	wantStatus(t, rec, status)
	if ct := rec.Header().Get("Content-Type"); ct != ContentType {
		t.Errorf("Content-Type %q, want %q", ct, ContentType)
	}
	body := decode(t, rec)
	schemas, _ := body["schemas"].([]any)
	if len(schemas) != 1 || schemas[0] != "urn:ietf:params:scim:api:messages:2.0:Error" {
		t.Errorf("schemas %v, want the Error URN", body["schemas"])
	}
	if got, ok := body["status"].(string); !ok || got != itoa(status) {
		t.Errorf("status %#v, want the string %q", body["status"], itoa(status))
	}
	got, _ := body["scimType"].(string)
	if got != scimType {
		t.Errorf("scimType %q, want %q", got, scimType)
	}
	if d, _ := body["detail"].(string); d == "" {
		t.Errorf("detail is empty")
	}
	return body
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// path returns the value at a dotted path in a decoded JSON object.
func path(m map[string]any, dotted string) any {
	var cur any = m
	for _, p := range strings.Split(dotted, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = obj[p]
	}
	return cur
}
