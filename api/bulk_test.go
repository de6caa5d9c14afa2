package api

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func bulkResults(t *testing.T, env *testEnv, body string) []map[string]any {
	t.Helper()
	rec := env.do(http.MethodPost, baseA+"/Bulk", body, nil)
	wantStatus(t, rec, http.StatusOK)
	resp := decode(t, rec)
	if !reflect.DeepEqual(resp["schemas"], []any{"urn:ietf:params:scim:api:messages:2.0:BulkResponse"}) {
		t.Fatalf("schemas %v", resp["schemas"])
	}
	var out []map[string]any
	for _, op := range resp["Operations"].([]any) {
		out = append(out, op.(map[string]any))
	}
	return out
}

const bulkHead = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],`

func TestBulk(t *testing.T) {
	t.Parallel()
	env := setup(t, Config{})
	// Users and a group that references them by bulkId, then a PATCH and
	// a DELETE addressed by bulkId too.
	res := bulkResults(t, env, bulkHead+`"Operations":[
	 {"method":"POST","path":"/Users","bulkId":"boss","data":{"userName":"boss@example.com"}},
	 {"method":"POST","path":"/Users","bulkId":"jane","data":{"userName":"jane@example.com",
	   "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"bulkId:boss"}}}},
	 {"method":"POST","path":"/Groups","bulkId":"eng","data":{"displayName":"Eng","members":[{"value":"bulkId:jane"},{"value":"bulkId:boss"}]}},
	 {"method":"PATCH","path":"/Groups/bulkId:eng","version":"W/\"1\"","data":{"Operations":[{"op":"remove","path":"members[value eq \"bulkId:boss\"]"}]}},
	 {"method":"PUT","path":"/Users/bulkId:boss","data":{"userName":"boss@example.com","title":"Boss"}},
	 {"method":"DELETE","path":"/Users/bulkId:boss","version":"W/\"2\""}]}`)
	statuses := []string{}
	for _, r := range res {
		statuses = append(statuses, r["status"].(string))
	}
	if !reflect.DeepEqual(statuses, []string{"201", "201", "201", "200", "200", "204"}) {
		t.Fatalf("statuses %v: %v", statuses, res)
	}
	bossLoc, janeLoc, engLoc := res[0]["location"].(string), res[1]["location"].(string), res[2]["location"].(string)
	if res[0]["bulkId"] != "boss" || res[0]["version"] != `W/"1"` || !strings.HasPrefix(bossLoc, publicURL+baseA+"/Users/") {
		t.Fatalf("first result %v", res[0])
	}
	bossID := bossLoc[strings.LastIndex(bossLoc, "/")+1:]
	janeID := janeLoc[strings.LastIndex(janeLoc, "/")+1:]
	engID := engLoc[strings.LastIndex(engLoc, "/")+1:]
	rec := env.do(http.MethodGet, baseA+"/Users/"+janeID, "", nil)
	jane := decode(t, rec)
	if got := jane["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"].(map[string]any)["manager"]; !reflect.DeepEqual(got, map[string]any{"value": bossID}) {
		t.Fatalf("manager %v", got)
	}
	if got := memberValues(t, env.getGroup(engID)); !reflect.DeepEqual(got, []string{janeID}) {
		t.Fatalf("members %v", got)
	}
	wantSCIMError(t, env.do(http.MethodGet, baseA+"/Users/"+bossID, "", nil), 404, "")
}

func TestBulkFailures(t *testing.T) {
	t.Parallel()
	env := setup(t, Config{MaxBulkOperations: 4, MaxBulkPayloadBytes: 2048})
	// Without failOnErrors every operation runs; errors carry the SCIM Error.
	res := bulkResults(t, env, bulkHead+`"Operations":[
	 {"method":"POST","path":"/Users","bulkId":"a","data":{"displayName":"no userName"}},
	 {"method":"POST","path":"/Groups","bulkId":"g","data":{"displayName":"G","members":[{"value":"bulkId:a"}]}},
	 {"method":"POST","path":"/Users","bulkId":"b","data":{"userName":"b@example.com"}},
	 {"method":"PATCH","path":"/Widgets/1","data":{"Operations":[]}}]}`)
	var got []string
	for _, r := range res {
		got = append(got, r["status"].(string))
	}
	if !reflect.DeepEqual(got, []string{"400", "409", "201", "400"}) {
		t.Fatalf("statuses %v: %v", got, res)
	}
	if e := res[0]["response"].(map[string]any); e["scimType"] != "invalidValue" || e["status"] != "400" {
		t.Fatalf("error response %v", e)
	}
	if e := res[1]["response"].(map[string]any); e["scimType"] != "invalidValue" || !strings.Contains(e["detail"].(string), `"a"`) {
		t.Fatalf("unresolved bulkId response %v", e)
	}
	// failOnErrors 1: the first failure stops the rest.
	res = bulkResults(t, env, bulkHead+`"failOnErrors":1,"Operations":[
	 {"method":"POST","path":"/Users","bulkId":"c","data":{"userName":"b@example.com"}},
	 {"method":"POST","path":"/Users","bulkId":"d","data":{"userName":"d@example.com"}}]}`)
	if len(res) != 1 || res[0]["status"] != "409" || res[0]["response"].(map[string]any)["scimType"] != "uniqueness" {
		t.Fatalf("failOnErrors: %v", res)
	}
	rec := env.do(http.MethodGet, baseA+"/Users?filter=userName%20eq%20%22d@example.com%22", "", nil)
	if decode(t, rec)["totalResults"] != 0.0 {
		t.Fatal("an operation after failOnErrors ran")
	}
	// Limits: 413 and nothing done.
	five := strings.TrimSuffix(strings.Repeat(`{"method":"POST","path":"/Users","bulkId":"x","data":{"userName":"x@example.com"}},`, 5), ",")
	wantSCIMError(t, env.do(http.MethodPost, baseA+"/Bulk", bulkHead+`"Operations":[`+five+`]}`, nil), 413, "tooMany")
	big := bulkHead + `"Operations":[{"method":"POST","path":"/Users","bulkId":"x","data":{"userName":"` + strings.Repeat("x", 3000) + `"}}]}`
	wantSCIMError(t, env.do(http.MethodPost, baseA+"/Bulk", big, nil), 413, "")
	wantSCIMError(t, env.do(http.MethodPost, baseA+"/Bulk", `{"Operations":`, nil), 400, "invalidSyntax")
	rec = env.do(http.MethodGet, baseA+"/Users", "", nil)
	if decode(t, rec)["totalResults"] != 1.0 {
		t.Fatalf("users after the refused requests: %s", rec.Body)
	}
}
