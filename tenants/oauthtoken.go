package tenants

// Access tokens of OAuth clients: short-lived, bound to one tenant and
// client, signed with a server-side key and verified in process.
//
// Format: "scbt_" + base64url(payload) + "." + base64url(HMAC-SHA256(key,
// "scbt_" + base64url(payload))), the payload being the JSON of
// tokenClaims (version, tenant, client id, issued, expires, token id).
// Verify checks the signature (constant time), the version, the tenant,
// the expiry, then that the client is live (OAuthClients.live: cached per
// client, dropped by the key-change announcements), so a token costs no
// more Redis round trips than an API key does.
//
// The key is derived (DeriveTokenKey, HKDF-SHA256 with its own label) from
// the deployment's secrets.key_file, which every API process has already:
// it is never in Redis or a log; changing the key file ends every token
// (clients then obtain new ones).

import (
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

const (
	accessTokenPrefix = "scbt_"
	// maxAccessTokenLen bounds what Verify decodes.
	maxAccessTokenLen = 512
	// tokenKeyLabel separates the token key from the sealing key it is
	// derived from.
	tokenKeyLabel = "scimbridge oauth access token v1"
)

// IsAccessToken reports whether a presented credential has the shape of an
// access token (rather than an API key).
func IsAccessToken(s string) bool { return strings.HasPrefix(s, accessTokenPrefix) }

// DeriveTokenKey derives the access tokens' signing key from the
// deployment's 32-byte secret key (secrets.key_file).
func DeriveTokenKey(secretKey []byte) ([]byte, error) {
	if len(secretKey) < 32 {
		return nil, errors.New("tenants: token key: the secret key has fewer than 32 bytes")
	}
	return hkdf.Key(sha256.New, secretKey, nil, tokenKeyLabel, 32)
}

type tokenClaims struct {
	V        int    `json:"v"`
	Tenant   string `json:"t"`
	Client   string `json:"c"`
	IssuedAt int64  `json:"iat"`
	Expires  int64  `json:"exp"`
	ID       string `json:"jti"`
}

// AccessToken is a verified access token.
type AccessToken struct {
	Tenant   string
	ClientID string
	ID       string
	Expires  time.Time
}

// AccessTokens issues and verifies access tokens of OAuth clients.
type AccessTokens struct {
	clients *OAuthClients
	key     []byte
	ttl     time.Duration
	now     func() time.Time
}

// NewAccessTokens issues tokens living ttl, signed with key (DeriveTokenKey),
// for clients.
func NewAccessTokens(clients *OAuthClients, key []byte, ttl time.Duration) (*AccessTokens, error) {
	if clients == nil || len(key) < 32 || ttl <= 0 {
		return nil, errors.New("tenants: access tokens: clients, a key of 32 bytes or more and a positive ttl are required")
	}
	return &AccessTokens{clients: clients, key: append([]byte(nil), key...), ttl: ttl, now: time.Now}, nil
}

// TTL is the lifetime of the tokens issued.
func (a *AccessTokens) TTL() time.Duration { return a.ttl }

// Authenticate checks a client's id and secret (OAuthClients.Authenticate).
func (a *AccessTokens) Authenticate(ctx context.Context, clientID, secret string) (*OAuthClient, error) {
	return a.clients.Authenticate(ctx, clientID, secret)
}

// Issue returns a new access token for an authenticated client.
func (a *AccessTokens) Issue(ctx context.Context, c *OAuthClient) (string, time.Time, error) {
	var id [12]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", time.Time{}, fmt.Errorf("tenants: issue token: random: %w", err)
	}
	now := a.now()
	exp := now.Add(a.ttl).Truncate(time.Second)
	token, err := signClaims(a.key, accessTokenPrefix, tokenClaims{V: 1, Tenant: c.Tenant, Client: c.ID,
		IssuedAt: now.Unix(), Expires: exp.Unix(), ID: hex.EncodeToString(id[:])})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("tenants: issue token: %w", err)
	}
	a.clients.recordToken(ctx, c)
	return token, exp, nil
}

// Verify checks a presented access token for the tenant. Every rejection
// (malformed, tampered, another key's, expired, another tenant's, a revoked
// or deleted client's) returns exactly ErrUnauthorized; only a Redis
// failure returns something else (wrapping ErrUnavailable). Only the
// client's liveness may ask Redis, at most once per client per cache ttl
// (and its last use, a background write at most once a minute: VerifyFrom).
func (a *AccessTokens) Verify(ctx context.Context, tenant, presented string) (*AccessToken, error) {
	return a.VerifyFrom(ctx, tenant, presented, "")
}

// VerifyFrom is Verify for a request from client (its User-Agent, "" when
// none), recorded as the OAuth client's last request (LastUsed,
// LastClient) at most once per client per minute in this process, like an
// API key's (KeyStore.VerifyFrom): no Redis write per request.
func (a *AccessTokens) VerifyFrom(ctx context.Context, tenant, presented, client string) (*AccessToken, error) {
	if !ValidID(tenant) {
		return nil, ErrUnauthorized
	}
	var cl tokenClaims
	if !openClaims(a.key, accessTokenPrefix, maxAccessTokenLen, presented, &cl) || cl.V != 1 ||
		cl.Tenant != tenant || ClientTenant(cl.Client) != tenant || a.now().Unix() >= cl.Expires {
		return nil, ErrUnauthorized
	}
	live, err := a.clients.live(ctx, tenant, cl.Client)
	if err != nil {
		return nil, err
	}
	if !live {
		return nil, ErrUnauthorized
	}
	a.clients.touch(ctx, tenant, cl.Client, client)
	return &AccessToken{Tenant: tenant, ClientID: cl.Client, ID: cl.ID, Expires: time.Unix(cl.Expires, 0).UTC()}, nil
}
