package tenants

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/adapters"
)

func TestValidID(t *testing.T) {
	t.Parallel()
	cases := []struct {
		id   string
		want bool
	}{
		{"acme", true},
		{"a", true},
		{"0day", true},
		{"acme-corp-2", true},
		{strings.Repeat("a", 63), true},
		{strings.Repeat("a", 64), false},
		{"", false},
		{"-acme", false},
		{"Acme", false},
		{"acme_corp", false},
		{"acme.corp", false},
		{"acme}", false},
		{"ac me", false},
		{"é", false},
		{"acme\n", false},
		{"acme-", true},
		{"9", true},
		{"a/b", false},
	}
	for _, c := range cases {
		if got := ValidID(c.id); got != c.want {
			t.Errorf("ValidID(%q) = %v, want %v", c.id, got, c.want)
		}
	}
}

// TestValidIDMatchesPattern checks the loop against the documented pattern
// on every string of up to three characters over an alphabet with each
// class boundary.
func TestValidIDMatchesPattern(t *testing.T) {
	t.Parallel()
	pattern := regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	alphabet := []string{"a", "z", "0", "9", "-", "`", "{", "/", ":", "A", "_", "\x00", "\n", "é"}
	var walk func(prefix string, depth int)
	walk = func(prefix string, depth int) {
		if got, want := ValidID(prefix), pattern.MatchString(prefix); got != want {
			t.Errorf("ValidID(%q) = %v, the pattern says %v", prefix, got, want)
		}
		if depth == 3 {
			return
		}
		for _, c := range alphabet {
			walk(prefix+c, depth+1)
		}
	}
	walk("", 0)
}

func TestTenantValidate(t *testing.T) {
	t.Parallel()
	good := Tenant{ID: "acme", Name: "Acme", Store: validStore("file:/tmp/acme.db")}
	cases := []struct {
		name string
		edit func(*Tenant)
		// wantErrs are substrings, one per expected problem.
		wantErrs []string
	}{
		{"valid", func(*Tenant) {}, nil},
		{"valid with dsn_env", func(t *Tenant) { t.Store.DSN = ""; t.Store.DSNEnv = "ACME_DSN" }, nil},
		{"bad id", func(t *Tenant) { t.ID = "Acme Corp" }, []string{"tenant id"}},
		{"empty id", func(t *Tenant) { t.ID = "" }, []string{"tenant id"}},
		{"long name", func(t *Tenant) { t.Name = strings.Repeat("x", MaxNameLen+1) }, []string{"tenant name"}},
		{"no kind", func(t *Tenant) { t.Store.Kind = "" }, []string{"kind"}},
		{"unique externalId", func(t *Tenant) { t.Unique = []string{"externalId"} }, nil},
		{"unique other attributes", func(t *Tenant) { t.Unique = []string{"externalId", "userName", "emails"} },
			[]string{`unique: "userName": only externalId can be made unique`, `unique: "emails": only externalId`}},
		{"url password", func(t *Tenant) {
			t.Store.Kind = "postgres"
			t.Store.DSN = "postgres://app:hunter2@db:5432/app"
		}, []string{"password"}},
		{"pwd keyword only caught here", func(t *Tenant) {
			t.Store.Kind = "postgres"
			t.Store.DSN = "host=db user=app pwd=hunter2"
		}, []string{"dsn holds a secret"}},
		{"everything at once", func(t *Tenant) {
			t.ID = "-x"
			t.Name = strings.Repeat("x", MaxNameLen+1)
			t.Store.Kind = "postgres"
			t.Store.DSN = "postgres://app:hunter2@db/app"
		}, []string{"tenant id", "tenant name", "password"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tn := good
			tn.Store.Users.Attributes = map[string]string{"userName": "login"}
			c.edit(&tn)
			errs := tn.Validate()
			if len(errs) != len(c.wantErrs) {
				t.Fatalf("Validate() = %v, want %d problems %q", errs, len(c.wantErrs), c.wantErrs)
			}
			for i, want := range c.wantErrs {
				if !strings.Contains(errs[i].Error(), want) {
					t.Errorf("problem %d = %q, want it to mention %q", i, errs[i], want)
				}
			}
			for _, err := range errs {
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("problem %q echoes the password", err)
				}
			}
		})
	}
}

func TestTenantValidateStoreErrorsWrapErrConfig(t *testing.T) {
	t.Parallel()
	tn := Tenant{ID: "acme", Store: adapters.Config{Kind: "nosql"}}
	errs := tn.Validate()
	if len(errs) == 0 {
		t.Fatal("Validate() = nil for an unknown store kind")
	}
	for _, err := range errs {
		if !errors.Is(err, adapters.ErrConfig) {
			t.Errorf("store problem %q does not wrap adapters.ErrConfig", err)
		}
	}
}

func TestDSNHasSecret(t *testing.T) {
	t.Parallel()
	cases := []struct {
		dsn  string
		want bool
	}{
		{"postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", false},
		{"postgres://app:s3cret@db:5432/app", true},
		{"postgres://app@db/app?password=s3cret", true},
		{"postgres://app@db/app?sslpassword=s3cret", true},
		{"ldap://ldap.example.com:389?bind_password=x", true},
		{"ldaps://ldap.example.com", false},
		{"host=db user=app dbname=app sslmode=disable", false},
		{"host=db user=app password=s3cret", true},
		{"host=db user=app PWD=s3cret", true},
		{"root@tcp(127.0.0.1:3306)/app", false},
		{"app:s3cret@tcp(127.0.0.1:3306)/app?parseTime=true", true},
		{"app:p@ss/word@tcp(db:3306)/app", true},
		{"file:/tmp/app.db?_pragma=busy_timeout(5000)", false},
		{"/var/lib/app/users.db", false},
	}
	for _, c := range cases {
		if got := dsnHasSecret(c.dsn); got != c.want {
			t.Errorf("dsnHasSecret(%q) = %v, want %v", c.dsn, got, c.want)
		}
	}
}
