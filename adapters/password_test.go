package adapters

import (
	"errors"
	"strings"
	"testing"
)

func TestHashPassword(t *testing.T) {
	// bcrypt at its default cost (12) takes ~10 s an operation under the
	// race detector, so the properties are checked at cost 5 and the
	// default only by the prefix of one hash (TestBcryptDefaultCost).
	tests := []struct {
		name, algorithm string
		cost            int
		prefix          string
	}{
		{"default", "", 0, "$argon2id$v=19$m=19456,t=2,p=1$"},
		{HashArgon2id, HashArgon2id, 0, "$argon2id$v=19$m=19456,t=2,p=1$"},
		{HashBcrypt, HashBcrypt, 5, "$2a$05$"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const pw = "correct horse ≠ battery 'staple'"
			m := PasswordMapping{Hash: tt.algorithm, Cost: tt.cost}
			h, err := m.HashPassword(pw)
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
			h2, err := m.HashPassword(pw)
			if err != nil {
				t.Fatal(err)
			}
			if h2 == h {
				t.Error("two hashes of one password are equal: salt missing")
			}
		})
	}
}

func TestBcryptDefaultCost(t *testing.T) {
	h, err := (PasswordMapping{Hash: HashBcrypt}).HashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$2a$12$") {
		t.Fatalf("hash %q is not bcrypt at cost 12", h)
	}
}

func TestHashPasswordErrors(t *testing.T) {
	for _, cost := range []int{3, 32, -1} {
		if _, err := (PasswordMapping{Hash: HashBcrypt, Cost: cost}).HashPassword("x"); !errors.Is(err, ErrConfig) {
			t.Errorf("bcrypt cost %d: err = %v, want ErrConfig", cost, err)
		}
	}
	if _, err := (PasswordMapping{Hash: "md5"}).HashPassword("x"); !errors.Is(err, ErrConfig) {
		t.Errorf("unknown algorithm: err = %v, want ErrConfig", err)
	}
	long := strings.Repeat("p", 73)
	_, err := (PasswordMapping{Hash: HashBcrypt}).HashPassword(long)
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
