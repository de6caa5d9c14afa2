package adapters

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/scimbridge/scimbridge/scim"
)

// Any string values survive SCIM -> fields -> SCIM -> fields unchanged.
func FuzzMappingRoundTrip(f *testing.F) {
	f.Add("jane@example.com", "Jane", "jane@work.example", "Legal", true)
	f.Add("o'brien\"; --", "", "ü@x", "\\n", false)
	m, err := NewUserMapper(testMapping()) // compiled once, as a store does
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, userName, given, email, dept string, active bool) {
		if !utf8.ValidString(userName + given + email + dept) {
			t.Skip()
		}
		attrs := scim.Attrs{"userName": userName}
		if given != "" {
			attrs["name"] = map[string]any{"givenName": given}
		}
		if email != "" {
			attrs["emails"] = []any{map[string]any{"type": "work", "value": email}}
		}
		if dept != "" {
			attrs[scim.SchemaEnterpriseUser] = map[string]any{"department": dept}
		}
		fields, err := m.Fields(User{Attrs: attrs, Active: active})
		if err != nil {
			t.Fatal(err)
		}
		back, err := m.Attrs(fields)
		if err != nil {
			t.Fatal(err)
		}
		again, err := m.Fields(User{Attrs: back, Active: ActiveOf(back)})
		if err != nil {
			t.Fatal(err)
		}
		for col, v := range fields {
			if col == "scim_id" {
				continue
			}
			if again[col] != v {
				t.Fatalf("column %s: %#v became %#v", col, v, again[col])
			}
		}
	})
}

// Validate never echoes an inline DSN, and never panics.
func FuzzValidateDSN(f *testing.F) {
	f.Add("postgres", "postgres://u:pw@h/db")
	f.Add("mysql", "u:pw@tcp(h:3306)/db")
	f.Add("postgres", "host=h password=pw")
	f.Fuzz(func(t *testing.T, kind, dsn string) {
		c := Config{Kind: kind, DSN: dsn, Users: testMapping()}
		for _, err := range c.Validate() {
			if len(dsn) > 8 && strings.Contains(err.Error(), dsn) {
				t.Fatalf("error echoes the dsn: %v", err)
			}
		}
	})
}

// A hash found in a customer's column never panics the verifier.
func FuzzVerifyPassword(f *testing.F) {
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2g", "pw")
	f.Add("$2a$12$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234", "pw")
	f.Fuzz(func(t *testing.T, hash, pw string) {
		_ = VerifyPassword(hash, pw)
	})
}
