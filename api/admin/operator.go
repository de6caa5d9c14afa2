package admin

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/scimbridge/scimbridge/api"
)

// Operator is the one authentication of the operator, for every operator
// surface of a process: the admin API (/admin/v1), the console's login,
// /metrics (the API process and the worker's operations listener) and the
// queue dashboard (/monitoring). Build one per process and hand it to each
// surface, so they share one guess limiter: wrong tokens sent to any of
// them count together, per client address.
//
// The token is kept only as a SHA-256 and compared in constant time. Each
// surface takes the token in the form its clients send it:
//
//	admin API              Authorization: Bearer <token>          (requireToken)
//	/metrics, /monitoring  Bearer, or the password of HTTP Basic   (Guard)
//	                       (any user name: a browser prompts for it)
//	console                the login form, exchanged for a signed
//	                       session cookie (Path=/console)          (console.go)
//
// After maxFailures wrong tokens from one address within failureWindow,
// every surface answers that address 429 with Retry-After until the window
// ends, right token or wrong (guesses.go).
type Operator struct {
	tokenHash  [sha256.Size]byte
	sessionKey []byte
	guesses    *api.GuessLimiter
	now        func() time.Time
}

// NewOperator returns the operator authentication for token, or ErrNoToken
// when token is empty (the operator surfaces then stay off).
func NewOperator(token string) (*Operator, error) {
	if token == "" {
		return nil, ErrNoToken
	}
	o := &Operator{tokenHash: sha256.Sum256([]byte(token)), now: time.Now}
	o.guesses = newGuessLimiter(func() time.Time { return o.now() })
	// The session key is derived from the token: every API process of a
	// deployment accepts the same sessions, and changing the token ends them.
	mac := hmac.New(sha256.New, []byte(token))
	mac.Write([]byte("scimbridge console session v1"))
	o.sessionKey = mac.Sum(nil)
	return o, nil
}

// verdict is the outcome of one presented (or missing) token.
type verdict int

const (
	admitted verdict = iota
	denied           // no token, or a wrong one: 401
	tooMany          // the address used up its wrong tokens: 429
)

// check is the one decision of every surface: peer presented token (or
// nothing, when presented is false). A blocked address is refused whatever
// it presents; a wrong token counts against it; a missing one does not.
// When the verdict is tooMany, wait is how long the block lasts.
func (o *Operator) check(peer, token string, presented bool) (v verdict, wait time.Duration) {
	if left, blocked := o.guesses.Blocked(peer); blocked {
		return tooMany, left
	}
	if !presented {
		return denied, 0
	}
	sum := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(sum[:], o.tokenHash[:]) != 1 {
		o.guesses.Fail(peer)
		return denied, 0
	}
	return admitted, 0
}

// peer is the client address a guess counts against: the TCP peer, never a
// header (X-Forwarded-For is the client's to write).
func peer(r *http.Request) string { return api.Peer(r) }

// retryAfter is the Retry-After of a 429: whole seconds, rounded up.
func retryAfter(wait time.Duration) string { return strconv.Itoa(int(wait.Seconds()) + 1) }

const tooManyMessage = "too many wrong operator tokens from this address: try again later"

// bearerToken is the token of "Authorization: Bearer <token>".
func bearerToken(header string) (string, bool) {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	rest = strings.TrimSpace(rest)
	return rest, rest != ""
}

// bearerOrBasicToken is the token of a Bearer header, or the password of
// HTTP Basic authentication (any user name).
func bearerOrBasicToken(header string) (string, bool) {
	if tok, ok := bearerToken(header); ok {
		return tok, true
	}
	scheme, rest, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
	if err != nil {
		return "", false
	}
	_, password, ok := strings.Cut(string(raw), ":")
	return password, ok && password != ""
}

// Guard is the net/http middleware of the operator pages outside the admin
// API: /metrics and the queue dashboard. It admits the operator token as a
// Bearer token or as the password of HTTP Basic authentication; without
// it the answer is 401 with a Basic challenge, so a browser asks for it.
func (o *Operator) Guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, presented := bearerOrBasicToken(r.Header.Get("Authorization"))
		switch v, wait := o.check(peer(r), token, presented); v {
		case tooMany:
			w.Header().Set("Retry-After", retryAfter(wait))
			http.Error(w, tooManyMessage, http.StatusTooManyRequests)
		case denied:
			w.Header().Set("WWW-Authenticate", `Basic realm="scimbridge operator", charset="UTF-8"`)
			http.Error(w, "operator token required", http.StatusUnauthorized)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// requireToken guards the admin API (gin): the operator token as a Bearer
// token only. Basic is not taken here: a browser replays cached Basic
// credentials by itself, which would let another site's form post to the
// API; the console, whose forms carry CSRF tokens, is the browser's way in.
func (o *Operator) requireToken(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	token, presented := bearerToken(c.GetHeader("Authorization"))
	switch v, wait := o.check(peer(c.Request), token, presented); v {
	case tooMany:
		c.Header("Retry-After", retryAfter(wait))
		c.AbortWithStatusJSON(http.StatusTooManyRequests, gin.H{"error": tooManyMessage})
	case denied:
		c.Header("WWW-Authenticate", `Bearer realm="scimbridge admin"`)
		c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"error": "operator token required"})
	default:
		c.Next()
	}
}

// session is a signed console session: a random id and its expiry. It does
// not hold the token.
type session struct {
	id      string
	expires time.Time
}

func (o *Operator) sign(payload string) string {
	mac := hmac.New(sha256.New, o.sessionKey)
	mac.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// newSession returns a cookie value for a new session.
func (o *Operator) newSession() string {
	payload := "v1." + randomToken(16) + "." + strconv.FormatInt(o.now().Add(sessionLifetime).Unix(), 10)
	return payload + "." + o.sign(payload)
}

// session returns the session of the cookie value v, if it is valid.
func (o *Operator) session(v string) (session, bool) {
	i := strings.LastIndexByte(v, '.')
	if i < 0 {
		return session{}, false
	}
	payload, sig := v[:i], v[i+1:]
	if subtle.ConstantTimeCompare([]byte(o.sign(payload)), []byte(sig)) != 1 {
		return session{}, false
	}
	parts := strings.Split(payload, ".")
	if len(parts) != 3 || parts[0] != "v1" {
		return session{}, false
	}
	exp, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || o.now().Unix() >= exp {
		return session{}, false
	}
	return session{id: parts[1], expires: time.Unix(exp, 0)}, true
}

// csrfToken binds a form to the session.
func (o *Operator) csrfToken(s session) string { return o.sign("csrf." + s.id) }
