package sync

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Signing per the Standard Webhooks specification
// (https://www.standardwebhooks.com): each delivery carries
//
//	webhook-id:        the event id (the same on every retry)
//	webhook-timestamp: unix seconds of this attempt
//	webhook-signature: v1,<base64 HMAC-SHA256(key, id "." timestamp "." body)>
//
// with one signature per active secret, space-separated (the overlap of a
// rotation). A secret is "whsec_" + base64 of 32 random bytes; the key is
// the decoded bytes.

const secretPrefix = "whsec_"

// ErrBadSecret: a signing secret that is not whsec_<base64>.
var ErrBadSecret = errors.New("sync: webhook secret is not whsec_<base64>")

// newWebhookSecret returns a new signing secret.
func newWebhookSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return secretPrefix + base64.StdEncoding.EncodeToString(b)
}

// secretKey decodes a secret into its HMAC key.
func secretKey(secret string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, secretPrefix))
	if err != nil || len(k) == 0 {
		return nil, ErrBadSecret
	}
	return k, nil
}

// signature is one v1 signature of a delivery.
func signature(key []byte, id string, ts time.Time, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(strconv.FormatInt(ts.Unix(), 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// signatureHeader is the webhook-signature value for keys (each active
// secret signs).
func signatureHeader(keys [][]byte, id string, ts time.Time, body []byte) string {
	sigs := make([]string, len(keys))
	for i, k := range keys {
		sigs[i] = signature(k, id, ts, body)
	}
	return strings.Join(sigs, " ")
}
