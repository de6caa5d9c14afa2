package adapters

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Password hash algorithms a PasswordMapping may name.
const (
	HashArgon2id = "argon2id"
	HashBcrypt   = "bcrypt"
)

// argon2id parameters (OWASP's first recommended set: 19 MiB, 2 passes,
// 1 lane), a 16-byte salt and a 32-byte key.
const (
	argon2Memory  = 19 * 1024
	argon2Time    = 2
	argon2Threads = 1
	argon2SaltLen = 16
	argon2KeyLen  = 32
	// DefaultBcryptCost is the bcrypt work factor when the mapping sets none.
	DefaultBcryptCost = 12
)

var b64 = base64.RawStdEncoding

// hashPassword hashes password with the algorithm ("argon2id" when empty)
// and returns it in its usual text form: the PHC string
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash> or a bcrypt $2a$ hash (cost
// DefaultBcryptCost when cost is 0). A password bcrypt cannot hash (over 72
// bytes) is an error wrapping ErrRejected; an unknown algorithm or cost
// wraps ErrConfig. The error never holds the password.
func hashPassword(algorithm string, cost int, password string) (string, error) {
	switch algorithm {
	case "", HashArgon2id:
		salt := make([]byte, argon2SaltLen)
		if _, err := rand.Read(salt); err != nil {
			return "", fmt.Errorf("adapters: password salt: %w", err)
		}
		key := argon2.IDKey([]byte(password), salt, argon2Time, argon2Memory, argon2Threads, argon2KeyLen)
		return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
			argon2.Version, argon2Memory, argon2Time, argon2Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
	case HashBcrypt:
		if cost == 0 {
			cost = DefaultBcryptCost
		}
		if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
			return "", fmt.Errorf("adapters: bcrypt cost %d: %w: want %d to %d", cost, ErrConfig, bcrypt.MinCost, bcrypt.MaxCost)
		}
		h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
		if errors.Is(err, bcrypt.ErrPasswordTooLong) {
			return "", fmt.Errorf("adapters: bcrypt: %w: password longer than 72 bytes", ErrRejected)
		}
		if err != nil {
			return "", fmt.Errorf("adapters: bcrypt: %w", err)
		}
		return string(h), nil
	}
	return "", fmt.Errorf("adapters: password hash %q: %w: want argon2id or bcrypt", algorithm, ErrConfig)
}

// VerifyPassword reports whether password matches the stored hash (argon2id
// PHC string or bcrypt). A hash in any other format does not match.
func VerifyPassword(hash, password string) bool {
	switch {
	case strings.HasPrefix(hash, "$argon2id$"):
		return verifyArgon2id(hash, password)
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
	}
	return false
}

// verifyArgon2id checks a PHC string $argon2id$v=19$m=..,t=..,p=..$salt$key.
func verifyArgon2id(hash, password string) bool {
	parts := strings.Split(hash, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(parts) != 6 || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return false
	}
	var memory, passes uint32
	var threads uint8
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return false
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == 0 {
			return false
		}
		switch k {
		case "m":
			memory = uint32(n)
		case "t":
			passes = uint32(n)
		case "p":
			if n > 255 {
				return false
			}
			threads = uint8(n)
		default:
			return false
		}
	}
	// Refuse absurd parameters rather than allocate gigabytes for a
	// hash found in a customer's column.
	if memory == 0 || passes == 0 || threads == 0 || memory > 4*1024*1024 || passes > 64 {
		return false
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 || len(want) > 1024 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, passes, memory, threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}
