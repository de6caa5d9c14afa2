package tenants

// Signed values: prefix + base64url(JSON claims) + "." +
// base64url(HMAC-SHA256(key, prefix + base64url(JSON claims))). The OAuth
// access tokens (oauthtoken.go), the setup links and the setup sessions
// (setuplinks.go) are such values, each kind with its own prefix and key.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
)

// signClaims is prefix + base64url(JSON claims) + "." + its HMAC.
func signClaims(key []byte, prefix string, claims any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signed := prefix + base64.RawURLEncoding.EncodeToString(payload)
	return signed + "." + macOf(key, signed), nil
}

// openClaims checks the signature of a signClaims value of at most maxLen
// bytes (the signature in constant time) and decodes its claims. It
// reports false for anything else, without saying why.
func openClaims(key []byte, prefix string, maxLen int, v string, claims any) bool {
	if len(v) > maxLen || !strings.HasPrefix(v, prefix) {
		return false
	}
	i := strings.LastIndexByte(v, '.')
	if i < 0 {
		return false
	}
	signed, sig := v[:i], v[i+1:]
	if !hmac.Equal([]byte(macOf(key, signed)), []byte(sig)) {
		return false
	}
	payload, err := base64.RawURLEncoding.DecodeString(signed[len(prefix):])
	if err != nil {
		return false
	}
	return json.Unmarshal(payload, claims) == nil
}

// macOf is base64url(HMAC-SHA256(key, s)).
func macOf(key []byte, s string) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(s))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}
