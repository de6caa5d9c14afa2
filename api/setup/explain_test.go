package setup

import (
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/queue"
	syncsvc "github.com/scimbridge/scimbridge/sync"
	"github.com/scimbridge/scimbridge/tenants"
)

func explainTenant() *tenants.Tenant {
	return &tenants.Tenant{ID: "acme", Store: adapters.Config{Kind: "postgres", Users: adapters.UserMapping{
		Table: "app.accounts", Key: "id",
		Attributes: map[string]string{
			"userName": "login", "name.givenName": "first_name", "name.familyName": "last_name",
			enterprise + "department": "dept", `emails[type eq "work"].value`: "mail", "title": "job",
		},
		Active: &adapters.ActiveMapping{Column: "enabled"},
	}}}
}

// Store messages (as the SQL and LDAP stores record them) become plain
// words naming the SCIM attribute behind the column, and what to change.
func TestExplainStoreReasons(t *testing.T) {
	tn := explainTenant()
	for _, tc := range []struct {
		reason     string
		plain, fix []string
	}{
		{`sqlstore: insert user: rejected by store: new row for relation "accounts" violates check constraint "accounts_dept_check" (SQLSTATE 23514)`,
			[]string{"refused the Department", "not one it allows"}, []string{"In Okta, change the Department"}},
		{`sqlstore: update user: rejected by store: Check constraint 'accounts_job_chk' is violated. (error 4025)`,
			[]string{"refused the Job title"}, []string{"change the Job title"}},
		{`sqlstore: insert user: rejected by store: null value in column "first_name" of relation "accounts" violates not-null constraint (SQLSTATE 23502)`,
			[]string{"needs the First name", "empty"}, []string{"give this user a value for the First name"}},
		{`sqlstore: insert user: rejected by store: NOT NULL constraint failed: accounts.last_name`,
			[]string{"needs the Last name"}, nil},
		{`sqlstore: insert user: rejected by store: value too long for type character varying(20) (SQLSTATE 22001)`,
			[]string{"longer than the application can store"}, []string{"shorten it"}},
		{`sqlstore: update user: rejected by store: Data too long for column 'mail' at row 1 (error 1406)`,
			[]string{"Work email of this user is longer"}, nil},
		{`sqlstore: insert user: rejected by store: already exists in store: duplicate key value violates unique constraint "accounts_mail_key" (SQLSTATE 23505)`,
			[]string{"Another account", "Work email"}, []string{"Make it unique"}},
		{`sqlstore: insert user: rejected by store: permission denied for table accounts (SQLSTATE 42501)`,
			[]string{"does not allow"}, []string{"Nothing to change on your side"}},
		{`sqlstore: insert user: invalid store configuration: column "nickname" of relation "accounts" does not exist (SQLSTATE 42703)`,
			[]string{"not set up"}, []string{"Nothing to change on your side"}},
		{`ldapstore: add user: rejected by store: LDAP Result Code 65 "Object Class Violation": object class 'inetOrgPerson' requires attribute 'sn'`,
			[]string{"directory refused"}, nil},
		{`something nobody foresaw`, []string{"refused this change"}, []string{"store's own words"}},
	} {
		f := explain(tn, tenants.IdPOkta, syncsvc.ResourceStatus{Kind: queue.KindUser, Name: "jane@example.com", Failure: tc.reason})
		if f.Name != "jane@example.com" || f.Reason != tc.reason || f.Kind != "User" {
			t.Errorf("%s: %+v", tc.reason, f)
		}
		for _, w := range tc.plain {
			if !strings.Contains(f.Plain, w) {
				t.Errorf("%s:\n plain %q lacks %q", tc.reason, f.Plain, w)
			}
		}
		for _, w := range tc.fix {
			if !strings.Contains(f.Fix, w) {
				t.Errorf("%s:\n fix %q lacks %q", tc.reason, f.Fix, w)
			}
		}
	}
	// The provider named is the chosen one.
	f := explain(tn, tenants.IdPEntra, syncsvc.ResourceStatus{Kind: queue.KindGroup, Name: "Sales", Failure: `new row violates check constraint "accounts_dept_check"`})
	if f.Kind != "Group" || !strings.Contains(f.Fix, "In Microsoft Entra ID") {
		t.Errorf("entra group: %+v", f)
	}
}

// The attribute list is the tenant's mapping, in a stable order, with the
// provider's attribute names.
func TestAttributesOfTheMapping(t *testing.T) {
	tn := explainTenant()
	tn.Store.Users.Attributes["urn:ietf:params:scim:schemas:extension:acme:2.0:User:costCode"] = "cost"
	rows := attributesOf(tn, tenants.IdPEntra)
	var got []string
	for _, r := range rows {
		got = append(got, r.Label+"="+r.Source)
	}
	want := []string{"Username=userPrincipalName", "Active=" + knownAttributes[2].entra, "First name=givenName", "Last name=surname",
		"Work email=mail", "Job title=jobTitle", "Department=department", "costCode="}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("rows:\n got %v\nwant %v", got, want)
	}
	for _, r := range attributesOf(tn, tenants.IdPOther) {
		if r.Source != "" {
			t.Errorf("other client: %+v has a source", r)
		}
	}
}

// The store's own words are shown without the personal data a directory's
// message may carry.
func TestReasonIsScrubbed(t *testing.T) {
	got := scrub(`ldapstore: modify "uid=jane.doe,ou=people,dc=example,dc=com": LDAP Result Code 19 "Constraint Violation": mail jane@example.com in use; cn=Jane Doe+sn=Doe`)
	for _, leak := range []string{"jane.doe", "jane@example.com", "Jane Doe"} {
		if strings.Contains(got, leak) {
			t.Errorf("%q shown: %s", leak, got)
		}
	}
	if !strings.Contains(got, "Constraint Violation") || !strings.Contains(got, "ou=people") {
		t.Errorf("too much cut: %s", got)
	}
}

// The group attributes listed are the tenant's group mapping's, and
// members; none for a tenant that maps no groups.
func TestGroupAttributesOfTheMapping(t *testing.T) {
	tn := explainTenant()
	if rows := groupAttributesOf(tn, tenants.IdPEntra); len(rows) != 0 {
		t.Fatalf("a tenant without groups lists group attributes: %v", rows)
	}
	tn.Store.Groups = &adapters.GroupMapping{Table: "app.teams", Key: "id",
		Attributes: map[string]string{"urn:ietf:params:scim:schemas:core:2.0:Group:displayName": "title"},
		Members:    &adapters.MembersMapping{Table: "app.team_members", GroupColumn: "team_id", UserColumn: "account_id"}}
	rowsOf := func(idp string) string {
		var got []string
		for _, r := range groupAttributesOf(tn, idp) {
			got = append(got, r.SCIM+"="+r.Source)
		}
		return strings.Join(got, "|")
	}
	if got, want := rowsOf(tenants.IdPEntra), "displayName=displayName|members=members"; got != want {
		t.Fatalf("Entra, displayName only:\n got %s\nwant %s", got, want)
	}
	tn.Store.Groups.Attributes["externalId"] = "ext"
	if got, want := rowsOf(tenants.IdPEntra), "displayName=displayName|externalId=objectId|members=members"; got != want {
		t.Fatalf("Entra, with externalId:\n got %s\nwant %s", got, want)
	}
	if got := rowsOf(tenants.IdPOkta); !strings.Contains(got, "externalId=not sent by Okta") || !strings.Contains(got, "members=the pushed group's members") {
		t.Fatalf("Okta: %s", got)
	}
	if got, want := rowsOf(tenants.IdPOther), "displayName=|externalId=|members="; got != want {
		t.Fatalf("other client:\n got %s\nwant %s", got, want)
	}
}

// The page shows the group list for a tenant that keeps groups, and says
// that it keeps none otherwise (rendered as the fixtures of the contrast
// test: Okta with groups, Entra and another client without).
func TestGroupAttributesOnThePage(t *testing.T) {
	pages := pageFixtures(t)
	okta := between(pages["okta-full"], `<table id="group-attributes">`, `</table>`)
	for _, want := range []string{"Okta (Push Groups)", "<td>Group name</td><td><code>displayName</code></td><td>Group name (the pushed group&#39;s name)</td>",
		"<code>externalId</code></td><td>not sent by Okta", "<code>members</code></td><td>the pushed group&#39;s members"} {
		if !strings.Contains(okta, want) {
			t.Errorf("Okta's group attributes lack %q:\n%s", want, okta)
		}
	}
	if strings.Contains(pages["okta-full"], `id="no-groups"`) {
		t.Error("a tenant with groups is told it keeps none")
	}
	for page, want := range map[string]string{"entra-waiting": "disable group provisioning", "other": "accepted but not kept"} {
		got := between(pages[page], `<p id="no-groups">`, `</p>`)
		if !strings.Contains(got, "does not keep groups") || !strings.Contains(got, want) || strings.Contains(pages[page], `id="group-attributes"`) {
			t.Errorf("%s: %q", page, got)
		}
	}
}
