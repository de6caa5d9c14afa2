package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
)

// Scenario names.
const (
	scenarioFilter     = "filter"
	scenarioCreate     = "create"
	scenarioGet        = "get"
	scenarioPut        = "put"
	scenarioDeactivate = "deactivate"
	scenarioGroupAdd   = "group-add"
	scenarioMix        = "mix"
)

var scenarios = []string{scenarioFilter, scenarioCreate, scenarioGet, scenarioPut, scenarioDeactivate, scenarioGroupAdd, scenarioMix}

// mixWeights is the `mix` scenario: an Okta initial push (an existence
// check that misses, then a create) blended with steady state (updates as
// GET+PUT, deactivations, group pushes, more existence checks).
var mixWeights = []struct {
	op     string
	weight int
}{
	{scenarioFilter, 30}, // half of them miss (the check before a create)
	{scenarioCreate, 25},
	{scenarioGet, 15},
	{scenarioPut, 15},
	{scenarioDeactivate, 5},
	{scenarioGroupAdd, 10},
}

// pickMix draws one operation of the mix; n is uniform in [0, 100).
func pickMix(n int) string {
	for _, w := range mixWeights {
		if n < w.weight {
			return w.op
		}
		n -= w.weight
	}
	return scenarioFilter
}

// Okta's schema URNs.
const (
	schemaUser       = "urn:ietf:params:scim:schemas:core:2.0:User"
	schemaEnterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	schemaPatchOp    = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	schemaGroup      = "urn:ietf:params:scim:schemas:core:2.0:Group"
)

// oktaUser is the body Okta POSTs when a user is assigned; marker goes into
// the enterprise department (the attribute the store check compares).
func oktaUser(userName, given, family, externalID, marker string) map[string]any {
	return map[string]any{
		"schemas":  []string{schemaUser, schemaEnterprise},
		"userName": userName,
		"name":     map[string]any{"givenName": given, "familyName": family},
		"emails": []map[string]any{
			{"primary": true, "value": userName, "type": "work"},
		},
		"displayName": given + " " + family,
		"locale":      "en-US",
		"externalId":  externalID,
		"groups":      []any{},
		"password":    "1mz050nq",
		"active":      true,
		schemaEnterprise: map[string]any{
			"employeeNumber": externalID[len(externalID)-6:],
			"department":     marker,
		},
	}
}

// oktaExternalID is an Okta-looking user id (00u + 17 characters).
func oktaExternalID(rng *rand.Rand) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	var b strings.Builder
	b.WriteString("00u")
	for range 17 {
		b.WriteByte(alphabet[rng.IntN(len(alphabet))])
	}
	return b.String()
}

// filterPath is Okta's existence check for userName.
func filterPath(userName string) string {
	return "/Users?filter=" + url.PathEscape(`userName eq "`+userName+`"`) + "&startIndex=1&count=100"
}

// deactivateBody is Okta's path-less PATCH of active.
func deactivateBody(active bool) map[string]any {
	return map[string]any{
		"schemas":    []string{schemaPatchOp},
		"Operations": []map[string]any{{"op": "replace", "value": map[string]any{"active": active}}},
	}
}

// groupAddBody is Okta's PATCH adding one member.
func groupAddBody(userID, display string) map[string]any {
	return map[string]any{
		"schemas": []string{schemaPatchOp},
		"Operations": []map[string]any{{
			"op": "add", "path": "members",
			"value": []map[string]any{{"value": userID, "display": display}},
		}},
	}
}

// putBodyFrom turns a GET answer into the PUT Okta sends back: the whole
// object (id, meta and groups included) with changed names and marker.
func putBodyFrom(got []byte, given, marker string) ([]byte, error) {
	var u map[string]any
	if err := json.Unmarshal(got, &u); err != nil {
		return nil, fmt.Errorf("scimbench: decode user for put: %w", err)
	}
	name, _ := u["name"].(map[string]any)
	if name == nil {
		name = map[string]any{}
	}
	name["givenName"] = given
	u["name"] = name
	family, _ := name["familyName"].(string)
	u["displayName"] = strings.TrimSpace(given + " " + family)
	ent, _ := u[schemaEnterprise].(map[string]any)
	if ent == nil {
		ent = map[string]any{}
	}
	ent["department"] = marker
	u[schemaEnterprise] = ent
	if _, ok := u["groups"]; !ok {
		u["groups"] = []any{}
	}
	return json.Marshal(u)
}

// createGroup POSTs an empty group and returns its id.
func createGroup(ctx context.Context, c *scimClient, displayName string) (string, error) {
	r := c.do(ctx, "POST", "/Groups", map[string]any{
		"schemas": []string{schemaGroup}, "displayName": displayName, "members": []any{},
	})
	if err := r.errStatus("create group"); err != nil {
		return "", err
	}
	ref, err := decodeRef(r.body)
	return ref.ID, err
}
