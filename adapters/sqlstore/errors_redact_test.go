package sqlstore

import "testing"

func TestRedactValues(t *testing.T) {
	for in, want := range map[string]string{
		"Duplicate entry 'jane@example.com' for key 'users.email'":         "Duplicate entry '…' for key 'users.email'",
		`invalid input syntax for type integer: "jane"`:                    "invalid input syntax for type integer: …",
		`duplicate key value violates unique constraint "users_email_key"`: `duplicate key value violates unique constraint "users_email_key"`,
		"Data too long for column 'title' at row 1":                        "Data too long for column 'title' at row 1",
	} {
		if got := redactValues(in); got != want {
			t.Errorf("redactValues(%q) = %q, want %q", in, got, want)
		}
	}
}
