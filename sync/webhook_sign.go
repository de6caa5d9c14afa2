package sync

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash"
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
	return signatureHeader([][]byte{key}, id, ts, body)
}

// signatureHeader is the webhook-signature value for keys (each active
// secret signs).
func signatureHeader(keys [][]byte, id string, ts time.Time, body []byte) string {
	return newSigner(keys).header(id, ts.Unix(), body)
}

// signer signs a run's deliveries: one HMAC per active secret, reset for
// each message instead of made again (signatureHeader's bytes, fewer
// allocations).
type signer struct {
	macs []hash.Hash
	sum  []byte
	out  []byte
}

func newSigner(keys [][]byte) *signer {
	s := &signer{macs: make([]hash.Hash, len(keys))}
	for i, k := range keys {
		s.macs[i] = hmac.New(sha256.New, k)
	}
	return s
}

// header is the webhook-signature value of one delivery: each key's
// "v1," + base64 HMAC-SHA256 of id "." ts "." body, space-separated.
func (s *signer) header(id string, ts int64, body []byte) string {
	var tsb [20]byte
	t := strconv.AppendInt(tsb[:0], ts, 10)
	s.out = s.out[:0]
	for i, m := range s.macs {
		m.Reset()
		m.Write([]byte(id))
		m.Write([]byte{'.'})
		m.Write(t)
		m.Write([]byte{'.'})
		m.Write(body)
		s.sum = m.Sum(s.sum[:0])
		if i > 0 {
			s.out = append(s.out, ' ')
		}
		s.out = append(s.out, "v1,"...)
		s.out = base64.StdEncoding.AppendEncode(s.out, s.sum)
	}
	return string(s.out)
}
