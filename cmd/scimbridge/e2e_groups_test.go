package main

// An Entra-style provisioning sequence (idp-behaviour.md, "Microsoft Entra
// ID") against a PostgreSQL tenant that maps groups, checked in the
// customer's tables. Reuses e2e_test.go's helpers (Redis db 9, not in
// parallel with the other e2e tests) and e2e_stores_test.go's.

import (
	"database/sql"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/internal/testsupport"
	"github.com/scimbridge/scimbridge/tenants"
)

// e2ePostgresGroups adds to e2ePostgres's schema a manager column on the
// accounts table and the customer's groups and group_members tables; it
// returns the tenant (groups mapped, manager mapped) and the connection.
func e2ePostgresGroups(t *testing.T, id string) (tenants.Tenant, *sql.DB, string) {
	t.Helper()
	dsn, table, db := e2ePostgres(t)
	schema := strings.TrimSuffix(table, ".accounts")
	for _, s := range []string{
		`ALTER TABLE ` + table + ` ADD COLUMN manager_id text`,
		`CREATE TABLE ` + schema + `.groups (id bigserial PRIMARY KEY, display_name text NOT NULL, external_id text,
			note text NOT NULL DEFAULT 'kept')`,
		`CREATE TABLE ` + schema + `.group_members (
			group_id bigint NOT NULL REFERENCES ` + schema + `.groups (id),
			user_id  bigint NOT NULL REFERENCES ` + table + ` (id),
			PRIMARY KEY (group_id, user_id))`,
	} {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	ten := postgresTenant(id, dsn, table)
	ten.Store.Users.Attributes[enterpriseURN+":manager.value"] = "manager_id"
	ten.Store.Groups = &adapters.GroupMapping{
		Table: schema + ".groups", Key: "id",
		Attributes: map[string]string{"displayName": "display_name", "externalId": "external_id"},
		Members:    &adapters.MembersMapping{Table: schema + ".group_members", GroupColumn: "group_id", UserColumn: "user_id"},
	}
	return ten, db, schema
}

func TestEntraProvisioningInPostgresTables(t *testing.T) {
	testEntraProvisioningInPostgresTables(t, e2eTopology(t))
}

func testEntraProvisioningInPostgresTables(t *testing.T, topo testsupport.RedisTopology) {
	const tenant = "entra"
	ten, db, schema := e2ePostgresGroups(t, tenant)
	ts := startTestServer(t, testConfigOn(t, topo, ten), serverOptions{})
	c := &scimClient{t: t, base: ts.url + "/scim/" + tenant + "/v2", auth: "Bearer " + newKey(t, ts.app, tenant)}

	type account struct {
		Login, Mail, FullName, Last, Dept, Manager, OktaID, Plan string
		Enabled                                                  bool
	}
	accountOf := func(anchor string) account {
		t.Helper()
		var a account
		var mail, full, last, dept, mgr, ext sql.NullString
		err := db.QueryRow(`SELECT login, mail, full_name, last_name, dept, manager_id, okta_id, plan, enabled FROM `+schema+`.accounts WHERE id = $1`, anchor).
			Scan(&a.Login, &mail, &full, &last, &dept, &mgr, &ext, &a.Plan, &a.Enabled)
		if err != nil {
			t.Fatalf("account %s: %v", anchor, err)
		}
		a.Mail, a.FullName, a.Last, a.Dept, a.Manager, a.OktaID = mail.String, full.String, last.String, dept.String, mgr.String, ext.String
		return a
	}

	// Entra's matching query, then its create: enterprise schema URI,
	// meta.resourceType, roles:[], active as a "True" string.
	entraUser := func(login, ext, given, family string) (id, anchor string) {
		t.Helper()
		status, list := c.do("GET", "/Users?filter="+urlq(`userName eq "`+login+`"`), nil)
		if status != 200 || list["totalResults"] != float64(0) {
			t.Fatalf("Entra matching query for %s: %d %v", login, status, list)
		}
		status, u := c.do("POST", "/Users", map[string]any{
			"schemas":    []string{"urn:ietf:params:scim:schemas:core:2.0:User", enterpriseURN},
			"externalId": ext, "userName": login, "active": "True", "displayName": given + " " + family,
			"emails":      []any{map[string]any{"primary": true, "type": "work", "value": login}},
			"meta":        map[string]any{"resourceType": "User"},
			"name":        map[string]any{"familyName": family, "givenName": given},
			"roles":       []any{},
			enterpriseURN: map[string]any{"department": "Sales"},
		})
		if status != 201 || u["active"] != true {
			t.Fatalf("Entra create %s: %d %v", login, status, u)
		}
		id = u["id"].(string)
		anchor = waitApplied(t, ts.app, tenant, id).Anchor
		if a := accountOf(anchor); a.Login != login || a.Mail != login || a.OktaID != ext || a.Dept != "Sales" || !a.Enabled || a.Plan != "free" {
			t.Fatalf("created account %s: %+v", login, a)
		}
		return id, anchor
	}
	bossID, bossAnchor := entraUser("boss@contoso.com", "e-boss", "Bo", "Ss")
	aliceID, aliceAnchor := entraUser("alice@contoso.com", "e-alice", "Alice", "A")
	carolID, carolAnchor := entraUser("carol@contoso.com", "e-carol", "Carol", "C")
	if _, err := db.Exec(`UPDATE `+schema+`.accounts SET plan = 'pro' WHERE id = $1`, aliceAnchor); err != nil {
		t.Fatal(err)
	}

	// One PATCH in Entra's shapes: capitalised ops, a value-filtered email
	// path, the manager as a bare id string, a path-less replace with
	// dotted and URN keys.
	status, body := c.do("PATCH", "/Users/"+aliceID, patchOp(
		map[string]any{"op": "Replace", "path": `emails[type eq "work"].value`, "value": "alice.anders@contoso.com"},
		map[string]any{"op": "Add", "path": enterpriseURN + ":manager", "value": bossID},
		map[string]any{"op": "Replace", "value": map[string]any{
			"displayName": "Alice Anders", "name.familyName": "Anders", enterpriseURN + ":department": "Marketing",
		}},
	))
	if status != 200 {
		t.Fatalf("Entra user PATCH: %d %v", status, body)
	}
	if m, _ := body[enterpriseURN].(map[string]any); m == nil || m["manager"] == nil {
		t.Fatalf("PATCH answer has no manager: %v", body)
	} else if mgr, _ := m["manager"].(map[string]any); mgr["value"] != bossID {
		t.Fatalf("bare-string manager not stored as {value}: %v", m["manager"])
	}
	waitApplied(t, ts.app, tenant, aliceID)
	if a := accountOf(aliceAnchor); a.Mail != "alice.anders@contoso.com" || a.Manager != bossID || a.FullName != "Alice Anders" ||
		a.Last != "Anders" || a.Dept != "Marketing" || a.Plan != "pro" || a.Login != "alice@contoso.com" {
		t.Fatalf("account after the Entra PATCH: %+v", a)
	}
	// Entra's filter on the work email finds the changed value.
	status, list := c.do("GET", "/Users?filter="+urlq(`emails[type eq "work"].value eq "alice.anders@contoso.com"`), nil)
	if status != 200 || list["totalResults"] != float64(1) {
		t.Fatalf("email filter: %d %v", status, list)
	}

	// Disable with a "False" string, enable with "True".
	for _, active := range []string{"False", "True"} {
		status, body := c.do("PATCH", "/Users/"+aliceID, patchOp(map[string]any{"op": "Replace", "path": "active", "value": active}))
		if status != 200 || body["active"] != (active == "True") {
			t.Fatalf("Entra active %s: %d %v", active, status, body)
		}
		waitApplied(t, ts.app, tenant, aliceID)
		if a := accountOf(aliceAnchor); a.Enabled != (active == "True") || a.Plan != "pro" || a.Manager != bossID {
			t.Fatalf("account after active %s: %+v", active, a)
		}
	}

	t.Run("groups", func(t *testing.T) {
		requireGroupStore(t, ts, tenant)
		c := &scimClient{t: t, base: c.base, auth: c.auth}
		members := func(gAnchor string) []string {
			t.Helper()
			return sqlMembers(t, db, `SELECT user_id FROM `+schema+`.group_members WHERE group_id = $1`, gAnchor)
		}
		groupRow := func(gAnchor string) (name, ext, note string, ok bool) {
			t.Helper()
			var e sql.NullString
			err := db.QueryRow(`SELECT display_name, external_id, note FROM `+schema+`.groups WHERE id = $1`, gAnchor).Scan(&name, &e, &note)
			if err == sql.ErrNoRows {
				return "", "", "", false
			}
			if err != nil {
				t.Fatal(err)
			}
			return name, e.String, note, true
		}
		patchGroup := func(step, gid string, ops ...map[string]any) {
			t.Helper()
			status, body := c.do("PATCH", "/Groups/"+gid, patchOp(ops...))
			if status != 200 && status != 204 {
				t.Fatalf("%s: %d %v", step, status, body)
			}
			waitGroupApplied(t, ts.app, tenant, gid)
		}

		status, list := c.do("GET", "/Groups?excludedAttributes=members&filter="+urlq(`displayName eq "Sales Team"`), nil)
		if status != 200 || list["totalResults"] != float64(0) {
			t.Fatalf("Entra group matching query: %d %v", status, list)
		}
		// Entra's group create: a Microsoft schema URI, no members.
		status, g := c.do("POST", "/Groups", map[string]any{
			"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:Group", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"},
			"externalId":  "g-sales",
			"displayName": "Sales Team",
		})
		if status != 201 {
			t.Fatalf("Entra group create: %d %v", status, g)
		}
		gid := g["id"].(string)
		gAnchor := waitGroupApplied(t, ts.app, tenant, gid).Anchor
		if name, ext, note, ok := groupRow(gAnchor); !ok || name != "Sales Team" || ext != "g-sales" || note != "kept" {
			t.Fatalf("group row: %q %q %q %v", name, ext, note, ok)
		}
		if ms := members(gAnchor); len(ms) != 0 {
			t.Fatalf("a new group without members has rows: %v", ms)
		}

		patchGroup("Entra add members", gid, map[string]any{"op": "Add", "path": "members", "value": []any{
			map[string]any{"value": aliceID, "$ref": nil}, map[string]any{"value": bossID}, map[string]any{"value": carolID},
		}})
		if got, want := members(gAnchor), sortedStrings(aliceAnchor, bossAnchor, carolAnchor); !equalStrings(got, want) {
			t.Fatalf("rows after the add: %v, want %v", got, want)
		}

		// Remove with a value list removes only those members.
		patchGroup("Entra remove with a value list", gid, map[string]any{"op": "Remove", "path": "members", "value": []any{
			map[string]any{"value": aliceID}, map[string]any{"value": carolID},
		}})
		if got := members(gAnchor); !equalStrings(got, []string{bossAnchor}) {
			t.Fatalf("rows after removing alice and carol: %v, want only boss %s", got, bossAnchor)
		}
		// Re-adding a member and removing a missing one are fine and change nothing.
		patchGroup("re-add and remove missing", gid,
			map[string]any{"op": "Add", "path": "members", "value": []any{map[string]any{"value": bossID}}},
			map[string]any{"op": "Remove", "path": "members", "value": []any{map[string]any{"value": carolID}}},
		)
		if got := members(gAnchor); !equalStrings(got, []string{bossAnchor}) {
			t.Fatalf("rows after re-add/remove-missing: %v", got)
		}

		// excludedAttributes=members on GET by id and on a filtered list.
		status, body := c.do("GET", "/Groups/"+gid+"?excludedAttributes=members", nil)
		if _, has := body["members"]; status != 200 || has || body["displayName"] != "Sales Team" {
			t.Fatalf("GET group excluding members: %d %v", status, body)
		}
		status, list = c.do("GET", "/Groups?excludedAttributes=members&filter="+urlq(`displayName eq "Sales Team"`), nil)
		if status != 200 || list["totalResults"] != float64(1) {
			t.Fatalf("filtered group list excluding members: %d %v", status, list)
		}
		if res := list["Resources"].([]any)[0].(map[string]any); res["id"] != gid || res["members"] != nil {
			t.Fatalf("filtered group list excluding members: %v", res)
		}
		status, body = c.do("GET", "/Groups/"+gid, nil)
		if ms, _ := body["members"].([]any); status != 200 || len(ms) != 1 || ms[0].(map[string]any)["value"] != bossID {
			t.Fatalf("GET group with members: %d %v", status, body)
		}

		// Rename: the row changes, externalId and the unmapped note stay.
		patchGroup("Entra rename", gid, map[string]any{"op": "Replace", "path": "displayName", "value": "Sales EMEA"})
		if name, ext, note, _ := groupRow(gAnchor); name != "Sales EMEA" || ext != "g-sales" || note != "kept" {
			t.Fatalf("group row after rename: %q %q %q", name, ext, note)
		}
		// The value-filter form of a removal (Entra with the flag).
		patchGroup("Entra remove by value filter", gid, map[string]any{"op": "Remove", "path": `members[value eq "` + bossID + `"]`})
		if got := members(gAnchor); len(got) != 0 {
			t.Fatalf("rows after removing boss: %v", got)
		}

		if status, body := c.do("DELETE", "/Groups/"+gid, nil); status != 204 {
			t.Fatalf("DELETE group: %d %v", status, body)
		}
		waitStore(t, "group row deleted", func() bool { _, _, _, ok := groupRow(gAnchor); return !ok })
		for _, a := range []string{aliceAnchor, bossAnchor, carolAnchor} {
			if acc := accountOf(a); !acc.Enabled {
				t.Fatalf("deleting the group touched user %s: %+v", a, acc)
			}
		}
	})

	// Deprovisioning: DELETE → 204, then 404; the deactivate policy keeps
	// the row disabled.
	if status, body := c.do("DELETE", "/Users/"+carolID, nil); status != 204 {
		t.Fatalf("DELETE user: %d %v", status, body)
	}
	if status, _ := c.do("GET", "/Users/"+carolID, nil); status != 404 {
		t.Fatalf("GET deleted user: %d", status)
	}
	waitDeleted(t, ts.app, tenant, carolID)
	if a := accountOf(carolAnchor); a.Enabled || a.Login != "carol@contoso.com" {
		t.Fatalf("deleted user's row: %+v", a)
	}
	if a := accountOf(aliceAnchor); !a.Enabled {
		t.Fatalf("deleting carol touched alice: %+v", a)
	}
}
