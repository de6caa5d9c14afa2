package sync

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
)

// ErrNoSealer: a password arrived but no ledger key is configured, so it
// cannot be kept (it is never stored in clear text).
var ErrNoSealer = errors.New("sync: no secret key configured (secrets.key_file)")

// Sealer encrypts secrets (passwords waiting to be applied) before they
// enter Redis, with AES-256-GCM under an operator-held key.
type Sealer struct {
	aead cipher.AEAD
	// digestKey keys Digest: derived from the key, never the key itself.
	digestKey []byte
}

// NewSealer builds a Sealer from a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("sync: secret key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("sync: secret key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("sync: secret key: %w", err)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("scimbridge sealer digest v1"))
	return &Sealer{aead: aead, digestKey: m.Sum(nil)}, nil
}

// Digest returns a keyed digest of msg (HMAC-SHA256 under a key derived
// from the sealer's): equal messages have equal digests, so it tells
// whether a value changed without keeping the value, and without the key
// a digest cannot be checked against guesses (a weak secret in msg stays
// unguessable from Redis).
func (s *Sealer) Digest(msg string) (string, error) {
	if s == nil {
		return "", ErrNoSealer
	}
	m := hmac.New(sha256.New, s.digestKey)
	m.Write([]byte(msg))
	return base64.RawStdEncoding.EncodeToString(m.Sum(nil)), nil
}

// Seal encrypts plaintext; aad binds the result to its resource so a sealed
// value cannot be moved to another one.
func (s *Sealer) Seal(plaintext, aad string) (string, error) {
	if s == nil {
		return "", ErrNoSealer
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("sync: seal: %w", err)
	}
	out := s.aead.Seal(nonce, nonce, []byte(plaintext), []byte(aad))
	return base64.RawStdEncoding.EncodeToString(out), nil
}

// Open decrypts a value made by Seal with the same aad.
func (s *Sealer) Open(sealed, aad string) (string, error) {
	if s == nil {
		return "", ErrNoSealer
	}
	b, err := base64.RawStdEncoding.DecodeString(sealed)
	if err != nil || len(b) < s.aead.NonceSize() {
		return "", errors.New("sync: open sealed value: malformed")
	}
	n := s.aead.NonceSize()
	pt, err := s.aead.Open(nil, b[:n], b[n:], []byte(aad))
	if err != nil {
		return "", errors.New("sync: open sealed value: authentication failed")
	}
	return string(pt), nil
}
