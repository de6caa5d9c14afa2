package ldaptest

import (
	"errors"
	"os"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

func TestDepartmentRegex(t *testing.T) {
	for _, tc := range []struct{ rejected, want string }{
		{"AB", `^(|[^A].*|A|A[^B].*|AB.+)$`},
		{"A.", `^(|[^A].*|A|A[^\.].*|A\..+)$`},
		{"-", `^(|[^-].*|-.+)$`},
	} {
		if got := departmentRegex(tc.rejected); got != tc.want {
			t.Errorf("departmentRegex(%q) = %s, want %s", tc.rejected, got, tc.want)
		}
	}
}

// TestServer starts a slapd, checks what a test relies on (root bind,
// TenantOU layout and cleanup, the uniqueness domain, the constraint
// overlay) and that Stop ends it and removes its files.
func TestServer(t *testing.T) {
	s, err := Start()
	if errors.Is(err, ErrNoSlapd) {
		Unavailable(t, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	dir := s.dir
	defer s.Stop()

	var ou string
	t.Run("tenant OU", func(t *testing.T) {
		ou = s.TenantOU(t)
		c := s.Admin(t)
		res, err := c.Search(ldap.NewSearchRequest(ou, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
			"(objectClass=organizationalUnit)", []string{"1.1"}, nil))
		if err != nil || len(res.Entries) != 4 {
			t.Fatalf("tenant OU entries: %v %v", res, err)
		}
		add := func(uid, mail, dept string) error {
			r := ldap.NewAddRequest("uid="+uid+",ou=people,"+ou, nil)
			r.Attribute("objectClass", []string{"inetOrgPerson", "fixtureUser"})
			r.Attribute("uid", []string{uid})
			r.Attribute("cn", []string{uid})
			r.Attribute("sn", []string{uid})
			r.Attribute("fixtureMail", []string{mail})
			r.Attribute("departmentNumber", []string{dept})
			return c.Add(r)
		}
		if err := add("a", "same@example.com", "Legal"); err != nil {
			t.Fatal(err)
		}
		if err := add("b", "same@example.com", "Legal"); !ldap.IsErrorWithCode(err, ldap.LDAPResultConstraintViolation) {
			t.Fatalf("duplicate fixtureMail in one tenant OU: %v", err)
		}
		if err := add("c", "c@example.com", "REJECTED-BY-STORE"); !ldap.IsErrorWithCode(err, ldap.LDAPResultConstraintViolation) {
			t.Fatalf("rejected department: %v", err)
		}
	})
	// The subtest's cleanup removed the OU.
	c := s.Admin(t)
	_, err = c.Search(ldap.NewSearchRequest(ou, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"1.1"}, nil))
	if !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		t.Fatalf("tenant OU after cleanup: %v", err)
	}

	s.Stop()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("slapd directory left behind: %v", err)
	}
	if conn, err := ldap.DialURL(s.URL); err == nil {
		conn.Close()
		t.Fatal("slapd still answers after Stop")
	}
	s.Stop() // twice is fine
}
