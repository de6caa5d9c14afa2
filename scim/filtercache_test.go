package scim

import (
	"fmt"
	"reflect"
	"testing"
)

// TestCachedComparisonMatchesGeneralParse checks that every filter gets
// from ParseFilter exactly what the general path gives it (the same tree,
// or an error in both), whether or not its shape is cached.
func TestCachedComparisonMatchesGeneralParse(t *testing.T) {
	t.Parallel()
	custom, err := NewSchemaSet(&CustomExtension{URN: "urn:ietf:params:scim:schemas:extension:acme:2.0:User",
		Attributes: []CustomAttribute{{Name: "costCenter"}, {Name: "level", Type: TypeInteger}}})
	if err != nil {
		t.Fatal(err)
	}
	filters := []string{
		`userName eq "alice@example.com"`,
		`userName eq "bob@example.com"`,
		`USERNAME EQ "Carol@Example.com"`,
		`userName Eq "x"`,
		`userName eq ""`,
		`userName eq " spaced  out "`,
		`userName eq "br[ack]et(s) and or not"`,
		`userName eq "ünïcødé 名前"`,
		`userName eq "a\"quote"`,
		`userName eq "back\\slash"`,
		`userName co "ali"`, `userName sw "a"`, `userName ew ".com"`, `userName ne "x"`,
		`userName gt "m"`, `userName ge "m"`, `userName lt "m"`, `userName le "m"`,
		`userName pr "x"`, `userName xx "x"`, `userName eq  "x"`, `userName  eq "x"`,
		`userName eq x`, `userName eq "x`, `userName eq 5`, `userName eq true`,
		`externalId eq "00u1abcd"`, `id eq "2819c223"`, `displayName eq "Engineering"`,
		`emails.value eq "a@example.com"`, `name.familyName eq "Jensen"`,
		`emails eq "a@example.com"`, `emails[type eq "work"].value eq "a@example.com"`,
		`urn:ietf:params:scim:schemas:core:2.0:User:userName eq "alice"`,
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "R&D"`,
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m1"`,
		`urn:ietf:params:scim:schemas:extension:acme:2.0:User:costCenter eq "cc-7"`,
		`urn:ietf:params:scim:schemas:extension:acme:2.0:User:level gt "3"`,
		`active eq "true"`, `active gt "x"`, `meta.lastModified gt "2011-05-13T04:42:34Z"`,
		`noSuchAttribute eq "x"`, `not eq "x"`, `and eq "x"`, `123 eq "x"`, `$ref eq "x"`,
		`userName eq "x" and active eq true`, `(userName eq "x")`, `not (userName eq "x")`,
	}
	// The shapes Okta and Entra send are answered from the cache.
	for _, f := range []string{`userName eq "alice@example.com"`, `externalId eq "00u1"`,
		`urn:ietf:params:scim:schemas:extension:acme:2.0:User:costCenter eq "cc-7"`} {
		custom.ParseFilter(f)
		if _, ok := custom.parseCachedComparison(f, f); !ok {
			t.Errorf("%s: not answered from the cache", f)
		}
	}
	for _, set := range []*SchemaSet{DefaultSchemaSet(), custom} {
		for _, f := range filters {
			// Twice: the first call may fill the cache, the second reads it.
			for range 2 {
				got, gotErr := set.ParseFilter(f)
				want, wantErr := set.parseFilterText(f, f)
				// The cached path never fails (it hands over to the general
				// one), so an error can differ only in ParseFilter's checks
				// of the whole text, which the general path here skips.
				if (gotErr != nil) != (wantErr != nil) {
					t.Fatalf("%s: ParseFilter err %v, general path err %v", f, gotErr, wantErr)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("%s: ParseFilter %#v, general path %#v", f, got, want)
				}
			}
		}
	}
}

func TestSplitPlainComparison(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in            string
		attr, op, val string
		ok            bool
	}{
		{`userName eq "a@b"`, "userName", "eq", "a@b", true},
		{`a.b:c-d_$ SW ""`, "a.b:c-d_$", "SW", "", true},
		{`userName eq "a\"b"`, "", "", "", false},
		{`userName eq "a\\b"`, "", "", "", false},
		{"userName eq \"a\tb\"", "", "", "", false},
		{`emails[type eq "work"].value eq "x"`, "", "", "", false},
		{`userName pr`, "", "", "", false},
		{`userName e1 "x"`, "", "", "", false},
		{`userName eq "x" and active eq true`, "", "", "", false},
		{` eq "x"`, "", "", "", false},
		{`userName eq x"`, "", "", "", false},
	}
	for _, c := range cases {
		attr, op, val, ok := splitPlainComparison(c.in)
		if attr != c.attr || op != c.op || val != c.val || ok != c.ok {
			t.Errorf("%s: got %q %q %q %v, want %q %q %q %v", c.in, attr, op, val, ok, c.attr, c.op, c.val, c.ok)
		}
	}
}

func BenchmarkParseFilterUserNameEq(b *testing.B) {
	b.ReportAllocs()
	for i := range b.N {
		if _, err := ParseFilter(fmt.Sprintf(`userName eq "user%d@example.com"`, i%1000)); err != nil {
			b.Fatal(err)
		}
	}
}
