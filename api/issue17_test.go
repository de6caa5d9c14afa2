package api

import (
	"net/http"
	"strings"
	"testing"
)

// The probes of issue 17, points 3 and 4, through the front door: an
// ambiguous body (two keys naming one attribute, an unpaired surrogate) is
// 400 invalidSyntax, a name holding control characters or too long is 400
// invalidValue (the attribute named, the value not echoed), and nothing
// is written.
func TestIssue17BodyProbes(t *testing.T) {
	t.Parallel()
	env := setup(t, Config{})
	id := env.createUser("probe@example.com")
	long := strings.Repeat("x", 257)
	for _, tc := range []struct {
		name, method, path, body, scimType string
	}{
		{"userName twice, case", "POST", "/Users", `{"userName":"a","USERNAME":"b"}`, "invalidSyntax"},
		{"userName twice, exact", "POST", "/Users", `{"userName":"a","userName":"b"}`, "invalidSyntax"},
		{"inside name", "POST", "/Users", `{"userName":"a","name":{"givenName":"x","givenname":"y"}}`, "invalidSyntax"},
		{"inside an email", "POST", "/Users", `{"userName":"a","emails":[{"value":"a@x","Value":"b@x"}]}`, "invalidSyntax"},
		{"inside the enterprise extension", "POST", "/Users", `{"userName":"a","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"x","DEPARTMENT":"y"}}`, "invalidSyntax"},
		{"PUT", "PUT", "/Users/" + id, `{"userName":"probe@example.com","active":true,"Active":false}`, "invalidSyntax"},
		{"PATCH value", "PATCH", "/Users/" + id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false,"ACTIVE":true}}]}`, "invalidSyntax"},
		{"search", "POST", "/Users/.search", `{"filter":"userName pr","Filter":"userName eq \"x\""}`, "invalidSyntax"},
		{"lone surrogate", "POST", "/Users", `{"userName":"\ud800"}`, "invalidSyntax"},
		{"lone surrogate elsewhere", "POST", "/Users", `{"userName":"ok2","title":"x\udfffy"}`, "invalidSyntax"},
		{"ESC in userName", "POST", "/Users", `{"userName":"a\u001b[2Jb"}`, "invalidValue"},
		{"BEL in displayName", "POST", "/Users", `{"userName":"ok3","displayName":"\u0007"}`, "invalidValue"},
		{"CR LF in externalId", "POST", "/Users", `{"userName":"ok4","externalId":"a\r\nb"}`, "invalidValue"},
		{"userName of 257 characters", "POST", "/Users", `{"userName":"` + long + `"}`, "invalidValue"},
		{"PATCH userName with ESC", "PATCH", "/Users/" + id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"userName","value":"x\u001b"}]}`, "invalidValue"},
	} {
		rec := env.do(tc.method, baseA+tc.path, tc.body, nil)
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"scimType":"`+tc.scimType+`"`) {
			t.Errorf("%s: %d %s, want 400 %s", tc.name, rec.Code, rec.Body, tc.scimType)
			continue
		}
		body := wantSCIMError(t, rec, http.StatusBadRequest, tc.scimType)
		if detail, _ := body["detail"].(string); strings.ContainsAny(detail, "\x1b\x07\r\n") || strings.Contains(detail, long) {
			t.Errorf("%s: the detail echoes the value: %q", tc.name, detail)
		}
	}
	// Nothing was written: the one user is the one created above, unchanged.
	rec := env.do(http.MethodGet, baseA+"/Users", "", nil)
	wantStatus(t, rec, http.StatusOK)
	if got := decode(t, rec)["totalResults"]; got != float64(1) {
		t.Fatalf("after the refused bodies: %v users", got)
	}
	u := decode(t, env.do(http.MethodGet, baseA+"/Users/"+id, "", nil))
	if u["userName"] != "probe@example.com" || u["active"] != true {
		t.Fatalf("the user changed: %v", u)
	}
}
