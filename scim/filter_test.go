package scim

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func renderedJane() map[string]any {
	created := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	return RenderUser("2819c223-7f76-453a-919d-413861904646", Attrs{
		"userName":    "Jane@Example.com",
		"displayName": "Jane Doe",
		"externalId":  "00ujl29u0le5T6Aj10h7",
		"title":       "Engineer",
		"userType":    "Employee",
		"active":      true,
		"name":        map[string]any{"givenName": "Jane", "familyName": "Doe"},
		"emails": []any{
			map[string]any{"value": "jane@example.com", "type": "work", "primary": true},
			map[string]any{"value": "jd@home.example.org", "type": "home"},
		},
		"urn:okta:custom:1.0:User": map[string]any{"level": 3.0},
		entURN:                     map[string]any{"department": "Legal", "employeeNumber": "42", "manager": map[string]any{"value": "m1"}},
	}, Meta{Created: created, LastModified: created.Add(24 * time.Hour), Version: `W/"1"`})
}

func TestFilterMatch(t *testing.T) {
	tests := []struct {
		filter string
		want   bool
	}{
		{`userName eq "jane@example.com"`, true},
		{`userName eq "JANE@EXAMPLE.COM"`, true},
		{`USERNAME Eq "jane@example.com"`, true},
		{`userName eq "john@example.com"`, false},
		{`userName ne "john@example.com"`, true},
		{`externalId eq "00ujl29u0le5T6Aj10h7"`, true},
		{`externalId eq "00UJL29U0LE5T6AJ10H7"`, false}, // caseExact
		{`id eq "2819c223-7f76-453a-919d-413861904646"`, true},
		{`displayName co "doe"`, true},
		{`displayName sw "Jane"`, true},
		{`displayName ew "Doe"`, true},
		{`displayName ew "Jane"`, false},
		{`title pr`, true},
		{`nickName pr`, false},
		{`name.familyName eq "doe"`, true},
		{`active eq true`, true},
		{`active eq false`, false},
		{`active ne false`, true},
		{`emails eq "jane@example.com"`, true},
		{`emails co "example.org"`, true},
		{`emails.value eq "jd@home.example.org"`, true},
		{`emails.type eq "work"`, true},
		{`emails[type eq "work" and value co "@example.com"]`, true},
		{`emails[type eq "home" and value co "@example.com"]`, false},
		{`emails[type eq "work"].value eq "jane@example.com"`, true},
		{`emails[type eq "home"].value eq "jane@example.com"`, false},
		{`emails[type eq "work"].value pr`, true},
		{`emails[primary eq true]`, true},
		{`not (emails[type eq "other"])`, true},
		{`title pr and userType eq "Employee"`, true},
		{`title pr or userType eq "Intern"`, true},
		{`userType eq "Intern" or (title pr and not (active eq false))`, true},
		{`userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")`, true},
		{`userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")`, false},
		{`meta.lastModified gt "2024-05-01T10:00:00Z"`, true},
		{`meta.lastModified gt "2024-05-02T10:00:00Z"`, false},
		{`meta.lastModified ge "2024-05-02T10:00:00Z"`, true},
		{`meta.created lt "2024-05-01T12:00:00+02:00"`, false},
		{`meta.created le "2024-05-01T12:00:00+02:00"`, true},
		{`meta.resourceType eq "User"`, true},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "legal"`, true},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m1"`, true},
		{`urn:ietf:params:scim:schemas:core:2.0:User:userName sw "jane"`, true},
		{`urn:okta:custom:1.0:User:level gt 2`, true},
		{`urn:okta:custom:1.0:User:level lt 2.5`, false},
		{`urn:okta:custom:1.0:User:level eq 3`, true},
		{`title gt "A"`, true},
		{`title lt "A"`, false},
		{`nickName eq null`, true},
		{`title eq null`, false},
		{`userName eq "a\"b"`, false},
		{`schemas eq "urn:ietf:params:scim:schemas:core:2.0:User"`, true},
	}
	r := renderedJane()
	for _, tt := range tests {
		f, err := ParseFilter(tt.filter)
		if err != nil {
			t.Errorf("ParseFilter(%q): %v", tt.filter, err)
			continue
		}
		if got := f.Match(r); got != tt.want {
			t.Errorf("%s: Match = %v, want %v", tt.filter, got, tt.want)
		}
	}
}

func TestFilterEscapes(t *testing.T) {
	f, err := ParseFilter(`displayName eq "say \"hi\" \\ \u0041"`)
	if err != nil {
		t.Fatal(err)
	}
	if !f.Match(map[string]any{"displayName": `say "hi" \ A`}) {
		t.Error("escaped string did not match")
	}
}

func TestParseFilterErrors(t *testing.T) {
	deep := strings.Repeat("(", 17) + `userName eq "x"` + strings.Repeat(")", 17)
	ok := strings.Repeat("(", 16) + `userName eq "x"` + strings.Repeat(")", 16)
	nots := strings.Repeat("not (", 16) + `userName eq "x"` + strings.Repeat(")", 16)
	if f, err := ParseFilter(nots); err != nil || !f.Match(map[string]any{"userName": "x"}) {
		t.Errorf("16 nested nots: %v", err)
	}
	if _, err := ParseFilter(ok); err != nil {
		t.Errorf("16 levels rejected: %v", err)
	}
	long := `userName eq "` + strings.Repeat("a", MaxFilterLength) + `"`
	for _, s := range []string{
		"", "userName", `userName eq`, `userName xx "a"`, `userName eq "a`, `(userName eq "a"`, `userName eq "a")`,
		`emails[type eq "work"`, `active gt true`, deep, long, "userName eq \"\xff\"", `and userName eq "a"`,
		`emails[type eq "work"].`, `emails[type eq "work"].value zz "x"`,
	} {
		_, err := ParseFilter(s)
		if err == nil {
			t.Errorf("ParseFilter(%q) accepted", s)
			continue
		}
		wantScimError(t, err, 400, ScimTypeInvalidFilter)
	}
	// A long chain of and is not nesting.
	var parts []string
	for i := 0; i < 40; i++ {
		parts = append(parts, `title pr`)
	}
	if _, err := ParseFilter(strings.Join(parts, " and ")); err != nil {
		t.Errorf("flat and-chain rejected: %v", err)
	}
}

func TestLookups(t *testing.T) {
	tests := []struct {
		filter string
		want   []Lookup
	}{
		{`userName eq "x"`, []Lookup{{"userName", "x"}}},
		{`UserName eq "x" and active eq true`, []Lookup{{"userName", "x"}}},
		{`externalId eq "e1"`, []Lookup{{"externalId", "e1"}}},
		{`displayName eq "Engineering"`, []Lookup{{"displayName", "Engineering"}}},
		{`id eq "abc"`, []Lookup{{"id", "abc"}}},
		{`emails.value eq "a@b"`, []Lookup{{"emails.value", "a@b"}}},
		{`emails eq "a@b"`, []Lookup{{"emails.value", "a@b"}}},
		{`emails[type eq "work"].value eq "a@b"`, []Lookup{{"emails.value", "a@b"}}},
		{`emails[value eq "a@b" and type eq "work"]`, []Lookup{{"emails.value", "a@b"}}},
		{`userName eq "x" and externalId eq "e"`, []Lookup{{"userName", "x"}, {"externalId", "e"}}},
		{`userName eq "x" or externalId eq "e"`, nil},
		{`not (userName eq "x")`, nil},
		{`userName co "x"`, nil},
		{`userName ne "x"`, nil},
		{`title eq "x"`, nil},
		{`name.givenName eq "x"`, nil},
		{`urn:ietf:params:scim:schemas:core:2.0:User:userName eq "x"`, []Lookup{{"userName", "x"}}},
		{`userName eq "x" and (active eq true or title pr)`, []Lookup{{"userName", "x"}}},
	}
	for _, tt := range tests {
		f, err := ParseFilter(tt.filter)
		if err != nil {
			t.Fatalf("%s: %v", tt.filter, err)
		}
		if got := f.Lookups(); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: Lookups = %v, want %v", tt.filter, got, tt.want)
		}
	}
}

// The queries Okta's OIN spec test and Entra send.
func TestIdPQueries(t *testing.T) {
	r := renderedJane()
	for _, q := range []string{
		`userName eq "jane@example.com"`,
		`userName eq "JANE@EXAMPLE.COM"`,
		`externalId eq "00ujl29u0le5T6Aj10h7"`,
		`displayName eq "Jane Doe"`,
		`emails[type eq "work"].value eq "jane@example.com"`,
		`userName eq "jane@example.com" and externalId eq "00ujl29u0le5T6Aj10h7"`,
	} {
		f, err := ParseFilter(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if !f.Match(r) {
			t.Errorf("%s did not match", q)
		}
		if len(f.Lookups()) == 0 {
			t.Errorf("%s: no lookups", q)
		}
	}
}
