package adapters

import (
	"errors"
	"strings"
	"testing"
)

func TestHashPassword(t *testing.T) {
	tests := []struct {
		algorithm, prefix string
	}{
		{"", "$argon2id$v=19$m=19456,t=2,p=1$"},
		{HashArgon2id, "$argon2id$v=19$m=19456,t=2,p=1$"},
		{HashBcrypt, "$2a$12$"},
	}
	for _, tt := range tests {
		t.Run(tt.algorithm, func(t *testing.T) {
			const pw = "correct horse ≠ battery 'staple'"
			h, err := HashPassword(tt.algorithm, pw)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(h, tt.prefix) {
				t.Fatalf("hash %q lacks prefix %q", h, tt.prefix)
			}
			if strings.Contains(h, pw) {
				t.Fatal("hash contains the password")
			}
			if !VerifyPassword(h, pw) {
				t.Error("hash does not verify its password")
			}
			if VerifyPassword(h, pw+"x") || VerifyPassword(h, "") {
				t.Error("hash verifies a wrong password")
			}
			h2, err := HashPassword(tt.algorithm, pw)
			if err != nil {
				t.Fatal(err)
			}
			if h2 == h {
				t.Error("two hashes of one password are equal: salt missing")
			}
		})
	}
}

func TestHashPasswordErrors(t *testing.T) {
	if _, err := HashPassword("md5", "x"); !errors.Is(err, ErrConfig) {
		t.Errorf("unknown algorithm: err = %v, want ErrConfig", err)
	}
	long := strings.Repeat("p", 73)
	_, err := HashPassword(HashBcrypt, long)
	if !errors.Is(err, ErrRejected) {
		t.Errorf("long bcrypt password: err = %v, want ErrRejected", err)
	}
	if err != nil && strings.Contains(err.Error(), long) {
		t.Error("error echoes the password")
	}
}

func TestVerifyPasswordMalformed(t *testing.T) {
	for _, h := range []string{
		"", "secret", "$argon2id$", "$argon2id$v=19$m=1,t=1,p=1$%%%$abc",
		"$argon2id$v=18$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaA",
		"$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaA",
		"$argon2id$v=19$m=19456,t=2,p=0$c2FsdHNhbHRzYWx0$aGFzaA",
		"$argon2id$v=19$m=19456,t=2$c2FsdHNhbHRzYWx0$aGFzaA",
		"$2a$12$short", "$1$md5crypt$",
	} {
		if VerifyPassword(h, "secret") {
			t.Errorf("VerifyPassword(%q) = true", h)
		}
	}
}
