package setup

import (
	"regexp"
	"sort"
	"strings"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/queue"
	syncsvc "github.com/scimbridge/scimbridge/sync"
	"github.com/scimbridge/scimbridge/tenants"
)

// The attributes the page talks about: the SCIM path a tenant's mapping
// names, a label for people, and the attribute of each identity provider's
// default mapping that fills it (Okta's app profile, Entra ID's source
// attribute), "" where the provider has no default.
type knownAttribute struct {
	path, label, okta, entra string
}

const enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:"

var knownAttributes = []knownAttribute{
	{"userName", "Username", "Username (login)", "userPrincipalName"},
	{"externalId", "External ID", "set by Okta (its user id)", "mailNickname (objectId is better: it is unique)"},
	{"active", "Active", "set by Okta (assigned and not deactivated)", "Switch([IsSoftDeleted], , \"False\", \"True\", \"True\", \"False\")"},
	{"displayName", "Display name", "Display name", "displayName"},
	{"name.givenName", "First name", "First name (firstName)", "givenName"},
	{"name.familyName", "Last name", "Last name (lastName)", "surname"},
	{"name.formatted", "Full name", "", "Join(\" \", [givenName], [surname])"},
	{`emails[type eq "work"].value`, "Work email", "Primary email (email)", "mail"},
	{"emails.value", "Email", "Primary email (email)", "mail"},
	{`phoneNumbers[type eq "work"].value`, "Work phone", "Primary phone (primaryPhone)", "telephoneNumber"},
	{`phoneNumbers[type eq "mobile"].value`, "Mobile phone", "Mobile phone (mobilePhone)", "mobile"},
	{"title", "Job title", "Title (title)", "jobTitle"},
	{"preferredLanguage", "Preferred language", "Preferred language", "preferredLanguage"},
	{"locale", "Locale", "Locale (locale)", ""},
	{"timezone", "Time zone", "Time zone (timezone)", ""},
	{"userType", "User type", "User type (userType)", ""},
	{`addresses[type eq "work"].country`, "Country", "Country code (countryCode)", "country"},
	{`addresses[type eq "work"].locality`, "City", "City (city)", "city"},
	{enterprise + "department", "Department", "Department (department)", "department"},
	{enterprise + "employeeNumber", "Employee number", "Employee number (employeeNumber)", "employeeId"},
	{enterprise + "organization", "Organization", "Organization (organization)", ""},
	{enterprise + "division", "Division", "Division (division)", ""},
	{enterprise + "costCenter", "Cost center", "Cost center (costCenter)", ""},
	{enterprise + "manager", "Manager", "Manager (managerId)", "manager"},
}

func knownAttr(path string) (knownAttribute, bool) {
	for _, a := range knownAttributes {
		if strings.EqualFold(a.path, path) {
			return a, true
		}
	}
	return knownAttribute{}, false
}

// label is a SCIM path's name for people.
func label(path string) string {
	if a, ok := knownAttr(path); ok {
		return a.label
	}
	if i := strings.LastIndexByte(path, ':'); i >= 0 {
		return path[i+1:]
	}
	return path
}

// attributeRow is one attribute the tenant's store uses, as the page
// lists it for the chosen provider.
type attributeRow struct {
	SCIM, Label, Source string
}

// attributesOf lists the attributes the tenant's mapping uses (plus
// active when it maps deactivation), in the order of knownAttributes,
// then the others by path; Source is the provider's attribute.
func attributesOf(t *tenants.Tenant, idp string) []attributeRow {
	used := map[string]bool{}
	for p := range t.Store.Users.Attributes {
		used[p] = true
	}
	if t.Store.Users.Active != nil {
		used["active"] = true
	}
	var rows []attributeRow
	for _, a := range knownAttributes {
		for p := range used {
			if strings.EqualFold(p, a.path) {
				src := a.okta
				if idp == tenants.IdPEntra {
					src = a.entra
				} else if idp == tenants.IdPOther {
					src = ""
				}
				rows = append(rows, attributeRow{SCIM: p, Label: a.label, Source: src})
				delete(used, p)
			}
		}
	}
	var rest []string
	for p := range used {
		rest = append(rest, p)
	}
	sort.Strings(rest)
	for _, p := range rest {
		rows = append(rows, attributeRow{SCIM: p, Label: label(p)})
	}
	return rows
}

// The group attributes a tenant's mapping may name (adapters.GroupPath*),
// then members, which every group mapping keeps (a SQL membership table,
// an LDAP member attribute), with each provider's default: Okta's Push
// Groups sends the group's name and its members (no externalId: groups
// are matched by name); Entra ID's default group mappings send
// displayName, objectId as externalId, and members.
var knownGroupAttributes = []knownAttribute{
	{adapters.GroupPathDisplayName, "Group name", "Group name (the pushed group's name)", "displayName"},
	{adapters.GroupPathExternalID, "External ID", "not sent by Okta (groups are matched by name)", "objectId"},
	{adapters.GroupPathID, "SCIM id", "set by the application", "set by the application"},
	{"members", "Members", "the pushed group's members (people assigned to the app)", "members"},
}

// groupAttributesOf lists the group attributes the tenant's group mapping
// uses, and members; none when the tenant maps no groups (the page then
// says groups are not kept).
func groupAttributesOf(t *tenants.Tenant, idp string) []attributeRow {
	g := t.Store.Groups
	if g == nil {
		return nil
	}
	var rows []attributeRow
	for _, a := range knownGroupAttributes {
		mapped := a.path == "members"
		for p := range g.Attributes {
			mapped = mapped || strings.EqualFold(strings.TrimPrefix(strings.ToLower(p), "urn:ietf:params:scim:schemas:core:2.0:group:"), strings.ToLower(a.path))
		}
		if !mapped {
			continue
		}
		src := a.okta
		switch idp {
		case tenants.IdPEntra:
			src = a.entra
		case tenants.IdPOther:
			src = ""
		}
		rows = append(rows, attributeRow{SCIM: a.path, Label: a.label, Source: src})
	}
	return rows
}

// failure is one refused resource as the page shows it: whose, what the
// store said in plain words, what to change, and the store's own words.
type failure struct {
	Kind, Name string
	Plain, Fix string
	Reason     string
}

// Database and directory messages the page explains. The SQL stores put
// the database's own message (values redacted) in the reason; the column
// or constraint named in it leads back to the SCIM attribute through the
// tenant's mapping.
var (
	reCheck = regexp.MustCompile(`(?i)check constraint ['"]?([A-Za-z0-9_.$]+)`)
	// reNamed finds the constraint or key a message names.
	reNamed    = regexp.MustCompile(`(?i)(?:constraint|for key) ['"]?([A-Za-z0-9_.$]+)`)
	reNotNull  = regexp.MustCompile(`(?i)null value in column "([^"]+)"|column '([^']+)' cannot be null|NOT NULL constraint failed: [A-Za-z0-9_]+\.([A-Za-z0-9_]+)`)
	reTooLong  = regexp.MustCompile(`(?i)value too long|data too long for column '([^']+)'|string data, right truncation`)
	reUnique   = regexp.MustCompile(`(?i)SQLSTATE 23505|duplicate entry|UNIQUE constraint failed|already exists`)
	reFK       = regexp.MustCompile(`(?i)foreign key`)
	reSyntax   = regexp.MustCompile(`(?i)invalid input (?:syntax|value)|incorrect (?:integer|string|date|datetime) value|invalid attribute syntax|invalidAttributeSyntax`)
	rePerm     = regexp.MustCompile(`(?i)permission denied|SQLSTATE 42501|insufficient access|access denied`)
	reConfig   = regexp.MustCompile(`(?i)invalid store configuration|no such (?:table|column)|has no column named|undefined column|does not exist \(SQLSTATE 42`)
	reLDAPObj  = regexp.MustCompile(`(?i)object class violation|constraint violation`)
	rePassword = regexp.MustCompile(`(?i)password`)
)

// explain turns a failed resource into what the admin reads.
func explain(t *tenants.Tenant, idp string, r syncsvc.ResourceStatus) failure {
	f := failure{Kind: "User", Name: r.Name, Reason: scrub(r.Failure)}
	if r.Kind == queue.KindGroup {
		f.Kind = "Group"
	}
	who := "this user"
	if f.Kind == "Group" {
		who = "this group"
	}
	where := "your identity provider"
	switch idp {
	case tenants.IdPOkta:
		where = "Okta"
	case tenants.IdPEntra:
		where = "Microsoft Entra ID"
	}
	attr := attributeIn(t, r.Failure)
	attrWords := "one of its attributes"
	if attr != "" {
		attrWords = "the " + label(attr)
	}
	msg := r.Failure
	switch {
	case reConfig.MatchString(msg):
		f.Plain = "The application's user store is not set up to take this change."
		f.Fix = "Nothing to change on your side: tell the company that sent you this link; they fix it on theirs, then the change goes through."
	case rePerm.MatchString(msg):
		f.Plain = "The application's user store does not allow this change to be made."
		f.Fix = "Nothing to change on your side: tell the company that sent you this link."
	case reCheck.MatchString(msg):
		f.Plain = "The application refused " + attrWords + " of " + who + ": the value is not one it allows."
		f.Fix = "In " + where + ", change " + attrWords + " of " + who + " to a value the application accepts (ask the company that sent you this link which values are allowed), or stop sending it; the next update of " + who + " tries again."
	case reNotNull.MatchString(msg):
		f.Plain = "The application needs " + attrWords + " for every " + strings.ToLower(f.Kind) + ", and it was empty."
		f.Fix = "In " + where + ", give " + who + " a value for " + attrWords + ", or map it in the provisioning attribute mappings."
	case reTooLong.MatchString(msg):
		f.Plain = "The " + strings.TrimPrefix(attrWords, "the ") + " of " + who + " is longer than the application can store."
		f.Fix = "In " + where + ", shorten it, or map a shorter attribute to it."
	case reUnique.MatchString(msg):
		f.Plain = "Another account in the application already has " + orDefault(attr != "", attrWords, "this user name or e-mail address") + "."
		f.Fix = "Make it unique in " + where + ", or ask the company that sent you this link to remove or merge the other account."
	case reFK.MatchString(msg):
		f.Plain = "The change refers to something the application does not have (" + attrWords + ")."
		f.Fix = "In " + where + ", use a value that exists in the application, or stop sending it."
	case reSyntax.MatchString(msg):
		f.Plain = "The " + strings.TrimPrefix(attrWords, "the ") + " of " + who + " is not in the format the application expects."
		f.Fix = "In " + where + ", correct the value (or its mapping's expression)."
	case reLDAPObj.MatchString(msg):
		f.Plain = "The directory refused " + who + ": an attribute it requires is missing or a value breaks one of its rules."
		f.Fix = "Check that " + who + " has every attribute listed under “Attributes the application uses” in " + where + "."
	case rePassword.MatchString(msg):
		f.Plain = "The application refused the password of " + who + "."
		f.Fix = "Set a password that meets the application's rules, or turn password sync off in " + where + "."
	default:
		f.Plain = "The application's user store refused this change."
		f.Fix = "Check " + who + "'s attributes in " + where + " against the list above; the store's own words are below. If it is not clear, send them to the company that sent you this link."
	}
	return f
}

// Personal data a store's message might still carry (the SQL stores cut
// the values out already): directory names' attribute values and e-mail
// addresses. The page shows no personal data beyond the failing
// resource's name.
var (
	reDNValue = regexp.MustCompile(`(?i)\b(uid|cn|sn|givenName|mail|displayName|samAccountName|userPrincipalName)=[^,"+]+`)
	reEmail   = regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}`)
)

// scrub is the store's reason as the page shows it.
func scrub(reason string) string {
	reason = reDNValue.ReplaceAllString(reason, "$1=…")
	return reEmail.ReplaceAllString(reason, "…")
}

func orDefault(cond bool, a, b string) string {
	if cond {
		return a
	}
	return b
}

// attributeIn finds the SCIM attribute whose column (or LDAP attribute)
// the store's message names: quoted, or as a part of a constraint's name
// (PostgreSQL names a column's CHECK "<table>_<column>_check", its
// UNIQUE "<table>_<column>_key"; MySQL's key "<table>.<column>"). The
// longest column name found wins.
func attributeIn(t *tenants.Tenant, msg string) string {
	lower := strings.ToLower(msg)
	constraint := ""
	if m := reNamed.FindStringSubmatch(msg); m != nil {
		constraint = strings.ToLower(strings.ReplaceAll(m[1], ".", "_"))
	}
	best, bestLen := "", 0
	for path, col := range t.Store.Users.Attributes {
		c := strings.ToLower(col)
		if i := strings.LastIndexByte(c, '.'); i >= 0 {
			c = c[i+1:]
		}
		if c == "" || len(c) <= bestLen {
			continue
		}
		hit := strings.Contains(lower, `"`+c+`"`) || strings.Contains(lower, `'`+c+`'`) ||
			strings.Contains(lower, "."+c+" ") || strings.HasSuffix(lower, "."+c) ||
			(constraint != "" && (strings.Contains("_"+constraint+"_", "_"+c+"_") || constraint == c))
		if hit {
			best, bestLen = path, len(c)
		}
	}
	return best
}
