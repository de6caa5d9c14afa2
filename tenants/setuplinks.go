package tenants

// Setup links: what the operator hands a customer's IT admin so that they
// can set provisioning up themselves on the tenant's setup page (package
// api/setup). A link is signed, expiring, revocable and good for one tenant
// only; opening it gives the browser a session (a signed cookie) that ends
// when the link expires or is revoked.
//
// Link token: "scbl_" + base64url(JSON linkClaims) + "." +
// base64url(HMAC-SHA256(linkKey, "scbl_" + base64url(JSON))). The claims
// are the version, the tenant, the tenant's creation time (so a link of a
// deleted tenant does not open a new tenant of the same id), the link id,
// the identity provider the operator preselected, issued and expiry times.
// Session cookie: "scbp_" + base64url(JSON sessionClaims) + "." + HMAC
// under a second key: tenant, link id, a random session id, expiry.
//
// Both keys are derived (HKDF-SHA256, each with its own label) from the
// deployment's secrets.key_file, like the OAuth access tokens' key: every
// API process with the same file accepts every other's links and
// sessions, the keys are never stored, and changing the file ends every
// link. Without a key file there are no setup links.
//
// Redis (the tenant's slot):
//
//	sb:{<tenant>}:setup:links    hash: link id -> SetupLink JSON (listing)
//	sb:{<tenant>}:setup:revoked  hash: link id -> link expiry (unix): the
//	                             revocation list every session checks
//	sb:{<tenant>}:setup:expiry   sorted set: link id by expiry (unix), so
//	                             that links past their expiry are pruned
//	                             from the three, a bounded batch on every
//	                             Create and Revoke (and all on List)
//	sb:{<tenant>}:setup:ended:<session id>
//	                             a session ended by its logout, until the
//	                             session's own expiry (the key's TTL)

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	setupLinkPrefix    = "scbl_"
	setupSessionPrefix = "scbp_"
	// maxSetupTokenLen bounds what is decoded.
	maxSetupTokenLen    = 1024
	setupLinkLabel      = "scimbridge setup link v1"
	setupSessionLabel   = "scimbridge setup session v1"
	setupSessionLife    = 12 * time.Hour
	DefaultSetupLinkTTL = 24 * time.Hour
	MinSetupLinkTTL     = 5 * time.Minute
	MaxSetupLinkTTL     = 30 * 24 * time.Hour
)

// The identity providers a link may preselect ("" lets the admin choose).
const (
	IdPOkta  = "okta"
	IdPEntra = "entra"
	IdPOther = "other"
)

// ValidIdP reports whether idp is one a setup link may name ("" included).
func ValidIdP(idp string) bool {
	switch idp {
	case "", IdPOkta, IdPEntra, IdPOther:
		return true
	}
	return false
}

// Why a link or a setup session is refused. Verify and Session return one
// of them (or an error wrapping ErrUnavailable); each has its own page.
var (
	// ErrLinkInvalid: not a link of this deployment (malformed, tampered,
	// another key's).
	ErrLinkInvalid = errors.New("setup link not valid")
	// ErrLinkExpired: the link (or the session) is past its expiry.
	ErrLinkExpired = errors.New("setup link expired")
	// ErrLinkRevoked: the operator revoked the link, or the tenant it was
	// made for is gone.
	ErrLinkRevoked = errors.New("setup link revoked")
	// ErrLinkOtherTenant: a valid link opened on another tenant's page.
	ErrLinkOtherTenant = errors.New("setup link of another tenant")
	// ErrSessionEnded: the session was ended by its logout (Session
	// only; the link itself may still open a new one).
	ErrSessionEnded = errors.New("setup session ended")
)

func setupLinksKey(tenant string) string   { return "sb:{" + tenant + "}:setup:links" }
func setupRevokedKey(tenant string) string { return "sb:{" + tenant + "}:setup:revoked" }
func setupExpiryKey(tenant string) string  { return "sb:{" + tenant + "}:setup:expiry" }
func setupEndedKey(tenant, session string) string {
	return "sb:{" + tenant + "}:setup:ended:" + session
}

// pruneBatch bounds the expired links one Create or Revoke drops.
const pruneBatch = 100

// pruneGrace keeps a link listed (as expired) this long past its expiry.
const pruneGrace = time.Minute

// SetupLink is a link's public description (never its token).
type SetupLink struct {
	ID      string    `json:"id"`
	Tenant  string    `json:"tenant"`
	IdP     string    `json:"idp,omitempty"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	Revoked bool      `json:"revoked,omitempty"`
	// RevokedAt is when it was revoked.
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// SetupSession is an open setup page's session.
type SetupSession struct {
	Tenant  string
	LinkID  string
	ID      string
	IdP     string
	Expires time.Time
}

type linkClaims struct {
	V             int    `json:"v"`
	Tenant        string `json:"t"`
	TenantCreated int64  `json:"tc"`
	ID            string `json:"id"`
	IdP           string `json:"idp,omitempty"`
	IssuedAt      int64  `json:"iat"`
	Expires       int64  `json:"exp"`
}

type sessionClaims struct {
	V             int    `json:"v"`
	Tenant        string `json:"t"`
	TenantCreated int64  `json:"tc"`
	Link          string `json:"l"`
	ID            string `json:"s"`
	IdP           string `json:"idp,omitempty"`
	Expires       int64  `json:"exp"`
}

// SetupLinks creates, verifies, lists and revokes setup links and the
// sessions they open. It is safe for concurrent use.
type SetupLinks struct {
	rdb        redis.UniversalClient
	reg        *Registry
	linkKey    []byte
	sessionKey []byte
	now        func() time.Time
}

// NewSetupLinks returns the setup links of the tenants in reg, signed with
// keys derived from the deployment's secret key (secrets.key_file, 32
// bytes or more).
func NewSetupLinks(rdb redis.UniversalClient, reg *Registry, secretKey []byte) (*SetupLinks, error) {
	if rdb == nil || reg == nil || len(secretKey) < 32 {
		return nil, errors.New("tenants: setup links: Redis, the registry and a secret key of 32 bytes or more are required")
	}
	lk, err := hkdf.Key(sha256.New, secretKey, nil, setupLinkLabel, 32)
	if err != nil {
		return nil, fmt.Errorf("tenants: setup links: %w", err)
	}
	sk, err := hkdf.Key(sha256.New, secretKey, nil, setupSessionLabel, 32)
	if err != nil {
		return nil, fmt.Errorf("tenants: setup links: %w", err)
	}
	return &SetupLinks{rdb: rdb, reg: reg, linkKey: lk, sessionKey: sk, now: time.Now}, nil
}

// SetClock replaces the clock (tests).
func (s *SetupLinks) SetClock(now func() time.Time) { s.now = now }

// Create makes a link for the tenant living ttl (0: DefaultSetupLinkTTL;
// MinSetupLinkTTL to MaxSetupLinkTTL) that preselects idp (ValidIdP). It
// returns the token, which is shown to the operator and never stored.
func (s *SetupLinks) Create(ctx context.Context, tenant string, ttl time.Duration, idp string) (string, SetupLink, error) {
	op := fmt.Sprintf("tenants: create setup link for %q", truncate(tenant, 70))
	if ttl == 0 {
		ttl = DefaultSetupLinkTTL
	}
	var problems []error
	if ttl < MinSetupLinkTTL || ttl > MaxSetupLinkTTL {
		problems = append(problems, fmt.Errorf("ttl %s: between %s and %s", ttl, MinSetupLinkTTL, MaxSetupLinkTTL))
	}
	if !ValidIdP(idp) {
		problems = append(problems, fmt.Errorf("idp %q: okta, entra, other or unset", truncate(idp, 30)))
	}
	if err := validationError(op, problems); err != nil {
		return "", SetupLink{}, err
	}
	t, err := s.reg.Get(ctx, tenant)
	if err != nil {
		return "", SetupLink{}, err
	}
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", SetupLink{}, fmt.Errorf("%s: random: %w", op, err)
	}
	now := s.now().UTC().Truncate(time.Second)
	link := SetupLink{ID: "l" + hex.EncodeToString(rnd[:]), Tenant: t.ID, IdP: idp, Created: now, Expires: now.Add(ttl)}
	raw, err := json.Marshal(link)
	if err != nil {
		return "", SetupLink{}, fmt.Errorf("%s: %w", op, err)
	}
	if _, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, setupLinksKey(t.ID), link.ID, raw)
		p.ZAdd(ctx, setupExpiryKey(t.ID), redis.Z{Score: float64(link.Expires.Unix()), Member: link.ID})
		return nil
	}); err != nil {
		return "", SetupLink{}, unavailable(fmt.Sprintf("create setup link for %q", t.ID), err)
	}
	s.pruneDue(ctx, t.ID, now)
	token, err := signClaims(s.linkKey, setupLinkPrefix, linkClaims{V: 1, Tenant: t.ID, TenantCreated: t.Created.Unix(),
		ID: link.ID, IdP: idp, IssuedAt: now.Unix(), Expires: link.Expires.Unix()})
	if err != nil {
		return "", SetupLink{}, fmt.Errorf("%s: %w", op, err)
	}
	return token, link, nil
}

// Verify checks a presented link token for the tenant whose page it was
// opened on: ErrLinkInvalid, ErrLinkOtherTenant, ErrLinkExpired or
// ErrLinkRevoked when it does not open it (checked in that order, so a
// tampered link never reaches Redis), an error wrapping ErrUnavailable
// when Redis fails.
func (s *SetupLinks) Verify(ctx context.Context, tenant, token string) (*SetupLink, error) {
	var cl linkClaims
	if !openClaims(s.linkKey, setupLinkPrefix, maxSetupTokenLen, token, &cl) || cl.V != 1 || cl.ID == "" {
		return nil, ErrLinkInvalid
	}
	if cl.Tenant != tenant {
		return nil, ErrLinkOtherTenant
	}
	if s.now().Unix() >= cl.Expires {
		return nil, ErrLinkExpired
	}
	if err := s.live(ctx, cl.Tenant, cl.TenantCreated, cl.ID, ""); err != nil {
		return nil, err
	}
	return &SetupLink{ID: cl.ID, Tenant: cl.Tenant, IdP: cl.IdP,
		Created: time.Unix(cl.IssuedAt, 0).UTC(), Expires: time.Unix(cl.Expires, 0).UTC()}, nil
}

// live checks that the link is not on the tenant's revocation list and
// that the tenant is the one it was made for; with a session id, also
// that the session was not ended (its logout), in the same round trip.
func (s *SetupLinks) live(ctx context.Context, tenant string, created int64, id, session string) error {
	t, err := s.reg.Get(ctx, tenant)
	if errors.Is(err, ErrNotFound) {
		return ErrLinkRevoked
	}
	if err != nil {
		return err
	}
	if t.Created.Unix() != created {
		return ErrLinkRevoked
	}
	var revoked *redis.BoolCmd
	var ended *redis.IntCmd
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		revoked = p.HExists(ctx, setupRevokedKey(tenant), id)
		if session != "" {
			ended = p.Exists(ctx, setupEndedKey(tenant, session))
		}
		return nil
	}); err != nil {
		return unavailable(fmt.Sprintf("check setup link of %q", tenant), err)
	}
	if revoked.Val() {
		return ErrLinkRevoked
	}
	if ended != nil && ended.Val() > 0 {
		return ErrSessionEnded
	}
	return nil
}

// NewSession returns the cookie value of a new session opened with link:
// it lasts 12 hours, or until the link expires if that is sooner.
func (s *SetupLinks) NewSession(ctx context.Context, link *SetupLink) (string, *SetupSession, error) {
	t, err := s.reg.Get(ctx, link.Tenant)
	if err != nil {
		return "", nil, err
	}
	var rnd [16]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", nil, fmt.Errorf("tenants: setup session: random: %w", err)
	}
	exp := s.now().Add(setupSessionLife)
	if link.Expires.Before(exp) {
		exp = link.Expires
	}
	sess := &SetupSession{Tenant: link.Tenant, LinkID: link.ID, ID: hex.EncodeToString(rnd[:]), IdP: link.IdP, Expires: exp.UTC().Truncate(time.Second)}
	v, err := signClaims(s.sessionKey, setupSessionPrefix, sessionClaims{V: 1, Tenant: sess.Tenant, TenantCreated: t.Created.Unix(),
		Link: sess.LinkID, ID: sess.ID, IdP: sess.IdP, Expires: sess.Expires.Unix()})
	if err != nil {
		return "", nil, fmt.Errorf("tenants: setup session: %w", err)
	}
	return v, sess, nil
}

// Session checks a session cookie value for the tenant's page, with the
// errors of Verify (a session ends when its link is revoked), and
// ErrSessionEnded after its EndSession.
func (s *SetupLinks) Session(ctx context.Context, tenant, cookie string) (*SetupSession, error) {
	var cl sessionClaims
	if !openClaims(s.sessionKey, setupSessionPrefix, maxSetupTokenLen, cookie, &cl) || cl.V != 1 || cl.ID == "" || cl.Link == "" {
		return nil, ErrLinkInvalid
	}
	if cl.Tenant != tenant {
		return nil, ErrLinkOtherTenant
	}
	if s.now().Unix() >= cl.Expires {
		return nil, ErrLinkExpired
	}
	if !validSessionID(cl.ID) {
		return nil, ErrLinkInvalid
	}
	if err := s.live(ctx, cl.Tenant, cl.TenantCreated, cl.Link, cl.ID); err != nil {
		return nil, err
	}
	return &SetupSession{Tenant: cl.Tenant, LinkID: cl.Link, ID: cl.ID, IdP: cl.IdP, Expires: time.Unix(cl.Expires, 0).UTC()}, nil
}

// validSessionID accepts the ids NewSession draws (32 hex characters),
// so a key name is never built of anything else.
func validSessionID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

// EndSession ends the session on every API process (its logout): Session
// refuses its cookie from now on with ErrSessionEnded. The mark lives as
// long as the session would have (its expiry refuses it after that).
func (s *SetupLinks) EndSession(ctx context.Context, sess *SetupSession) error {
	left := sess.Expires.Sub(s.now())
	if left <= 0 {
		return nil // expired already
	}
	// Rounded up to the second: the mark outlives the session, never the
	// other way round.
	ttl := left.Truncate(time.Second) + time.Second
	if err := s.rdb.Set(ctx, setupEndedKey(sess.Tenant, sess.ID), "1", ttl).Err(); err != nil {
		return unavailable(fmt.Sprintf("end setup session of %q", sess.Tenant), err)
	}
	return nil
}

// CSRF is the anti-forgery token of the session's forms.
func (s *SetupLinks) CSRF(sess *SetupSession) string {
	return macOf(s.sessionKey, "csrf\x00"+sess.Tenant+"\x00"+sess.ID)
}

// CheckCSRF compares a form's token with the session's in constant time.
func (s *SetupLinks) CheckCSRF(sess *SetupSession, presented string) bool {
	return hmac.Equal([]byte(s.CSRF(sess)), []byte(presented))
}

// List returns the tenant's links, newest first; links more than a
// minute past their expiry are not listed, and dropped on the way.
func (s *SetupLinks) List(ctx context.Context, tenant string) ([]SetupLink, error) {
	if !ValidID(tenant) {
		return nil, fmt.Errorf("tenants: list setup links of %q: %w", truncate(tenant, 70), ErrNotFound)
	}
	all, err := s.rdb.HGetAll(ctx, setupLinksKey(tenant)).Result()
	if err != nil {
		return nil, unavailable(fmt.Sprintf("list setup links of %q", tenant), err)
	}
	now := s.now()
	out := make([]SetupLink, 0, len(all))
	var gone []string
	for id, raw := range all {
		var l SetupLink
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			return nil, fmt.Errorf("tenants: list setup links of %q: decode %q: %w", tenant, id, err)
		}
		if pastGrace(l.Expires, now) {
			gone = append(gone, id)
			continue
		}
		out = append(out, l)
	}
	s.drop(ctx, tenant, gone)
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.After(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// pastGrace says whether a link expiring at exp is pruned at now.
func pastGrace(exp, now time.Time) bool { return !now.Before(exp.Add(pruneGrace)) }

// Revoke revokes the tenant's link id: it no longer opens, and every
// session it opened ends at its next request, on every API process.
// ErrNotFound when the tenant has no such link; revoking twice is fine.
// Links past their expiry are dropped on the way (pruneDue).
func (s *SetupLinks) Revoke(ctx context.Context, tenant, id string) error {
	op := fmt.Sprintf("revoke setup link %q of %q", truncate(id, 40), truncate(tenant, 70))
	if !ValidID(tenant) || id == "" {
		return fmt.Errorf("tenants: %s: %w", op, ErrNotFound)
	}
	raw, err := s.rdb.HGet(ctx, setupLinksKey(tenant), id).Result()
	if errors.Is(err, redis.Nil) {
		return fmt.Errorf("tenants: %s: %w", op, ErrNotFound)
	}
	if err != nil {
		return unavailable(op, err)
	}
	var l SetupLink
	if err := json.Unmarshal([]byte(raw), &l); err != nil {
		return fmt.Errorf("tenants: %s: decode: %w", op, err)
	}
	now := s.now().UTC()
	if !l.Revoked {
		l.Revoked, l.RevokedAt = true, now.Truncate(time.Second)
	}
	rec, _ := json.Marshal(l) // plain struct: cannot fail
	if _, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, setupRevokedKey(tenant), id, l.Expires.Unix())
		p.HSet(ctx, setupLinksKey(tenant), id, rec)
		// (Again, for a link made before the expiry index.)
		p.ZAdd(ctx, setupExpiryKey(tenant), redis.Z{Score: float64(l.Expires.Unix()), Member: id})
		return nil
	}); err != nil {
		return unavailable(op, err)
	}
	s.pruneDue(ctx, tenant, now)
	return nil
}

// pruneDue drops up to pruneBatch links more than pruneGrace past their
// expiry (a revocation need not outlive its link: the signature's expiry
// refuses it then), found in the expiry index: the cost is bounded however
// many links the tenant had. Best effort: a failure leaves them for the
// next call.
func (s *SetupLinks) pruneDue(ctx context.Context, tenant string, now time.Time) {
	due, err := s.rdb.ZRangeByScore(ctx, setupExpiryKey(tenant), &redis.ZRangeBy{
		Min: "-inf", Max: fmt.Sprint(now.Add(-pruneGrace).Unix()), Count: pruneBatch}).Result()
	if err != nil {
		return
	}
	s.drop(ctx, tenant, due)
}

// drop removes links from the tenant's hashes and expiry index (best
// effort).
func (s *SetupLinks) drop(ctx context.Context, tenant string, ids []string) {
	if len(ids) == 0 {
		return
	}
	members := make([]any, len(ids))
	for i, id := range ids {
		members[i] = id
	}
	_, _ = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HDel(ctx, setupRevokedKey(tenant), ids...)
		p.HDel(ctx, setupLinksKey(tenant), ids...)
		p.ZRem(ctx, setupExpiryKey(tenant), members...)
		return nil
	})
}

// deleteTenantSetupLinks removes a tenant's links (with the tenant).
func deleteTenantSetupLinks(ctx context.Context, rdb redis.UniversalClient, tenant string) error {
	return rdb.Del(ctx, setupLinksKey(tenant), setupRevokedKey(tenant), setupExpiryKey(tenant)).Err()
}

// SetupOptions configure a tenant's setup page.
type SetupOptions struct {
	// FrameAncestors are the origins that may show the page in a frame
	// (the SaaS application embedding it: "https://app.example.com";
	// "https://*.example.com" for its subdomains), the page's CSP
	// frame-ancestors. Unset: no origin may frame it.
	FrameAncestors []string `yaml:"frame_ancestors,omitempty" json:"frame_ancestors,omitempty"`
}

// maxFrameAncestors bounds SetupOptions.FrameAncestors.
const maxFrameAncestors = 20

// problems checks the options (nil is valid).
func (o *SetupOptions) problems() []error {
	if o == nil {
		return nil
	}
	var errs []error
	if len(o.FrameAncestors) > maxFrameAncestors {
		errs = append(errs, fmt.Errorf("setup.frame_ancestors: %d origins, at most %d", len(o.FrameAncestors), maxFrameAncestors))
	}
	for _, a := range o.FrameAncestors {
		if !validFrameAncestor(a) {
			errs = append(errs, fmt.Errorf("setup.frame_ancestors: %q: want an origin, https://host[:port] (http only for localhost), optionally with a host starting with *. (subdomains)", truncate(a, 80)))
		}
	}
	return errs
}

// validFrameAncestor accepts scheme://host[:port] with an https scheme (or
// http for localhost and 127.0.0.1, for development) and a host of
// letters, digits, '-' and '.', optionally starting with "*."; nothing
// that could end or extend the CSP directive it is put in.
func validFrameAncestor(a string) bool {
	rest, ok := strings.CutPrefix(a, "https://")
	if !ok {
		if rest, ok = strings.CutPrefix(a, "http://"); !ok {
			return false
		}
		h, _, _ := strings.Cut(rest, ":")
		if h != "localhost" && h != "127.0.0.1" {
			return false
		}
	}
	host, port, hasPort := strings.Cut(rest, ":")
	host = strings.TrimPrefix(host, "*.")
	if host == "" || len(host) > 253 || strings.HasPrefix(host, ".") || strings.HasSuffix(host, ".") {
		return false
	}
	for _, c := range host {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' && c != '.' {
			return false
		}
	}
	if hasPort {
		if port == "" || len(port) > 5 {
			return false
		}
		for _, c := range port {
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	return true
}
