package admin

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
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
	// publicOrigin is the scheme://host[:port] of the configured public
	// URL, "" when none: an origin accepted besides the request's own.
	publicOrigin string
}

// WithPublicURL makes the origin of publicURL (the configured public_url,
// as browsers reach the server through a proxy) one of the server's own,
// besides the scheme and Host of each request. Call it before serving.
func (o *Operator) WithPublicURL(publicURL string) *Operator {
	o.publicOrigin = ""
	if publicURL != "" {
		if u, err := url.Parse(publicURL); err == nil && u.Host != "" {
			o.publicOrigin = normalOrigin(u.Scheme, u.Host)
		}
	}
	return o
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
// Every answer carries the operator pages' security headers
// (SecurityHeaders) with a policy that lets nothing load, and a
// state-changing request from another site is refused (crossSite).
func (o *Operator) Guard(next http.Handler) http.Handler {
	return o.GuardPage("default-src 'none'", next)
}

// GuardPage is Guard for an HTML application (the queue dashboard): csp
// is the fetch directives its page needs (SecurityHeaders adds the rest).
func (o *Operator) GuardPage(csp string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		SecurityHeaders(w.Header(), csp)
		header := r.Header.Get("Authorization")
		// Before the token is looked at: a forged request is refused
		// whatever it carries, and counts as no guess.
		if why := o.crossSite(r, isBasic(header)); why != "" {
			http.Error(w, "cross-site request refused: "+why, http.StatusForbidden)
			return
		}
		token, presented := bearerOrBasicToken(header)
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

// SecurityHeaders sets the headers of every operator page (the console, the
// queue dashboard, /metrics): no framing (X-Frame-Options and CSP
// frame-ancestors), no content sniffing, the Referer kept to this origin
// (not no-referrer: a form post would then send "Origin: null"), and the
// content security policy csp, a page's fetch directives, completed with
// the directives every page gets (frame-ancestors, base-uri, form-action).
func SecurityHeaders(h http.Header, csp string) {
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", csp+"; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
}

// isBasic reports whether an Authorization header is HTTP Basic: the
// credentials a browser caches and replays by itself.
func isBasic(header string) bool {
	scheme, _, _ := strings.Cut(strings.TrimSpace(header), " ")
	return strings.EqualFold(scheme, "Basic")
}

// crossSite is the one check against cross-site request forgery of the
// Guard surfaces: why a state-changing request r (any method but GET, HEAD
// and OPTIONS) is refused, "" when it may pass. Its Origin, or without
// one its Referer, must be one of the server's own (ownOrigin); a
// Sec-Fetch-Site header, which a page cannot forge, must say same-origin
// or none (typed by the user). With none of the three the request did not
// come from a current browser's page, except that a browser also replays
// cached Basic credentials for an old one: Basic is refused then, a Bearer
// token (which no browser adds by itself) passes.
func (o *Operator) crossSite(r *http.Request, basic bool) string {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return ""
	}
	site := r.Header.Get("Sec-Fetch-Site")
	if site != "" && site != "same-origin" && site != "none" {
		return "Sec-Fetch-Site is " + strconv.Quote(site)
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		if !o.ownOrigin(r, origin) {
			return "Origin is not this server's"
		}
		return ""
	}
	if ref := r.Header.Get("Referer"); ref != "" {
		if !o.ownOrigin(r, ref) {
			return "Referer is not this server's"
		}
		return ""
	}
	if site == "" && basic {
		return "no Origin, Referer or Sec-Fetch-Site with Basic credentials"
	}
	return ""
}

// ownOrigin reports whether the origin of ref (an Origin header, or a
// Referer URL) is the server's own: the configured public URL's origin, or
// the request's Host with the request's scheme. A plain-http request also
// accepts https on its Host: TLS ended at a proxy in front (the reverse,
// an http page posting to https, is refused: anyone on the network can
// write that page). "null" and anything unparsable are not.
func (o *Operator) ownOrigin(r *http.Request, ref string) bool {
	u, err := url.Parse(ref)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	got := normalOrigin(u.Scheme, u.Host)
	if o.publicOrigin != "" && got == o.publicOrigin {
		return true
	}
	if r.TLS != nil {
		return got == normalOrigin("https", r.Host)
	}
	return got == normalOrigin("http", r.Host) || got == normalOrigin("https", r.Host)
}

// normalOrigin is scheme://host[:port] in lower case, without the
// scheme's default port.
func normalOrigin(scheme, host string) string {
	scheme, host = strings.ToLower(scheme), strings.ToLower(host)
	if h, port, err := net.SplitHostPort(host); err == nil &&
		((scheme == "http" && port == "80") || (scheme == "https" && port == "443")) {
		host = h
		if strings.Contains(h, ":") {
			host = "[" + h + "]"
		}
	}
	return scheme + "://" + host
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
