package api

// POST /oauth/token: the OAuth 2.0 token endpoint of every tenant (RFC 6749
// §4.4, client credentials). The client authenticates with
// client_secret_basic or client_secret_post (§2.3.1); its id names its
// tenant (tenants.ClientTenant), so one endpoint serves all tenants and the
// token it issues opens that tenant's Base URL only. Errors are §5.2 JSON;
// every answer has Cache-Control: no-store and Pragma: no-cache (§5.1).
// Wrong client secrets count against the client address (GuessLimiter).

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/scimbridge/scimbridge/tenants"
)

// TokenPath is the token endpoint's route below PublicURL.
const TokenPath = "/oauth/token"

// OAuthScope is the scope of every access token issued: the tenant's SCIM
// API. A requested scope is not checked; the answer names this one (RFC
// 6749 §3.3).
const OAuthScope = "scim"

// OAuth authenticates OAuth clients and issues and verifies their access
// tokens; *tenants.AccessTokens satisfies it. Authenticate and Verify
// return tenants.ErrUnauthorized for every kind of wrong credential.
type OAuth interface {
	Authenticate(ctx context.Context, clientID, secret string) (*tenants.OAuthClient, error)
	Issue(ctx context.Context, c *tenants.OAuthClient) (token string, expires time.Time, err error)
	Verify(ctx context.Context, tenant, token string) (*tenants.AccessToken, error)
}

// Wrong client secrets allowed per client address per window at the token
// endpoint (the operator token's limit is the same).
const (
	tokenGuesses      = 10
	tokenGuessWindow  = time.Minute
	maxTokenFormBytes = 16 << 10
)

// oauthFailure is one RFC 6749 §5.2 error answer.
type oauthFailure struct {
	status int
	code   string // invalid_request, invalid_client, unsupported_grant_type, unauthorized_client, ...
	detail string
	// challenge: 401 with WWW-Authenticate Basic (the client tried, or
	// may use, HTTP Basic).
	challenge bool
}

func (s *server) oauthError(c *gin.Context, f oauthFailure) {
	if f.challenge {
		f.status = http.StatusUnauthorized
		c.Header("WWW-Authenticate", `Basic realm="scimbridge oauth", charset="UTF-8"`)
	}
	body, _ := json.Marshal(map[string]string{"error": f.code, "error_description": f.detail}) // strings only: cannot fail
	c.Abort()
	c.Data(f.status, "application/json;charset=UTF-8", body)
}

func invalidRequest(format string, args ...any) oauthFailure {
	return oauthFailure{status: http.StatusBadRequest, code: "invalid_request", detail: fmt.Sprintf(format, args...)}
}

// tokenURL is the token endpoint's URL for this request.
func (s *server) tokenURL(c *gin.Context) string {
	public := s.cfg.PublicURL
	if public == "" {
		public = "http://" + c.Request.Host
	}
	return public + TokenPath
}

func (s *server) oauthToken(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.Header("Pragma", "no-cache")
	peer := Peer(c.Request)
	if left, blocked := s.tokenGuesses.Blocked(peer); blocked {
		c.Header("Retry-After", strconv.Itoa(int(left.Seconds())+1))
		s.oauthError(c, oauthFailure{status: http.StatusTooManyRequests, code: "temporarily_unavailable",
			detail: "too many failed client authentications from this address: try again later"})
		return
	}
	form, fail := readTokenForm(c)
	if fail != nil {
		s.oauthError(c, *fail)
		return
	}
	switch grant := form.Get("grant_type"); grant {
	case "client_credentials":
	case "":
		s.oauthError(c, invalidRequest("grant_type is required (client_credentials)"))
		return
	default:
		s.oauthError(c, oauthFailure{status: http.StatusBadRequest, code: "unsupported_grant_type",
			detail: "only the client_credentials grant is supported"})
		return
	}
	id, secret, basic, fail := tokenClient(c.GetHeader("Authorization"), form)
	if fail != nil {
		s.oauthError(c, *fail)
		return
	}
	badClient := oauthFailure{status: http.StatusBadRequest, code: "invalid_client",
		detail: "client authentication failed", challenge: basic}
	ctx := c.Request.Context()
	client, err := s.deps.OAuth.Authenticate(ctx, id, secret)
	if err != nil {
		if !errors.Is(err, tenants.ErrUnauthorized) {
			s.oauthUnavailable(c, fmt.Errorf("api: authenticate OAuth client: %w", err))
			return
		}
		s.tokenGuesses.Fail(peer)
		s.oauthError(c, badClient)
		return
	}
	t, err := s.deps.Tenants.Get(ctx, client.Tenant)
	switch {
	case errors.Is(err, tenants.ErrNotFound):
		s.oauthError(c, badClient)
		return
	case err != nil:
		s.oauthUnavailable(c, fmt.Errorf("api: get tenant: %w", err))
		return
	case t.Disabled:
		s.oauthError(c, oauthFailure{status: http.StatusBadRequest, code: "unauthorized_client",
			detail: "the client's tenant is disabled"})
		return
	}
	token, expires, err := s.deps.OAuth.Issue(ctx, client)
	if err != nil {
		s.oauthUnavailable(c, fmt.Errorf("api: issue token: %w", err))
		return
	}
	s.log.InfoContext(ctx, "oauth: access token issued", "request_id", requestIDOf(c),
		"tenant", client.Tenant, "client_id", client.ID, "expires", expires)
	body, _ := json.Marshal(map[string]any{ // plain values: cannot fail
		"access_token": token,
		"token_type":   "Bearer",
		"expires_in":   int64(math.Round(time.Until(expires).Seconds())),
		"scope":        OAuthScope,
	})
	c.Data(http.StatusOK, "application/json;charset=UTF-8", body)
}

// oauthUnavailable answers a failure of the server's side (Redis): 503
// with Retry-After, the error logged, not shown.
func (s *server) oauthUnavailable(c *gin.Context, err error) {
	s.log.ErrorContext(c.Request.Context(), "oauth: token request failed", "request_id", requestIDOf(c), "err", err)
	c.Header("Retry-After", RetryAfterSeconds)
	s.oauthError(c, oauthFailure{status: http.StatusServiceUnavailable, code: "temporarily_unavailable",
		detail: "the server cannot issue tokens now: retry later"})
}

// readTokenForm reads the form-encoded body (RFC 6749 §3.2): no parameter
// twice, no client secret in the URI (§2.3.1).
func readTokenForm(c *gin.Context) (url.Values, *oauthFailure) {
	fail := func(format string, args ...any) (url.Values, *oauthFailure) {
		f := invalidRequest(format, args...)
		return nil, &f
	}
	if c.Request.URL.Query().Has("client_secret") {
		return fail("client_secret must not be sent in the URI")
	}
	mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return fail("the body must be application/x-www-form-urlencoded")
	}
	raw, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxTokenFormBytes))
	if err != nil {
		return fail("the body could not be read (at most %d bytes)", maxTokenFormBytes)
	}
	form, err := url.ParseQuery(string(raw))
	if err != nil {
		return fail("the body is not a valid form")
	}
	for k, v := range form {
		if len(v) > 1 {
			return fail("parameter %q is repeated", truncateID(k))
		}
	}
	return form, nil
}

// tokenClient is the client's credentials: from HTTP Basic
// (client_secret_basic; id and secret form-encoded, §2.3.1) or from the
// body (client_secret_post). §2.3 says a client uses one method; Entra's
// provisioning offers "Both" (the same credentials in the header and the
// body), so both are taken when they agree, and refused as invalid_request
// when they differ. basic says whether the client used, or should use, the
// Authorization header: a failure then answers 401 with a Basic challenge.
func tokenClient(header string, form url.Values) (id, secret string, basic bool, fail *oauthFailure) {
	_, postSecret := form["client_secret"]
	if strings.TrimSpace(header) == "" {
		if !postSecret {
			return "", "", true, &oauthFailure{code: "invalid_client", challenge: true,
				detail: "client authentication is required (HTTP Basic, or client_id and client_secret in the body)"}
		}
		return form.Get("client_id"), form.Get("client_secret"), false, nil
	}
	badHeader := &oauthFailure{code: "invalid_client", challenge: true, detail: "client authentication failed"}
	scheme, rest, _ := strings.Cut(strings.TrimSpace(header), " ")
	if !strings.EqualFold(scheme, "Basic") {
		return "", "", true, badHeader
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
	if err != nil {
		return "", "", true, badHeader
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", true, badHeader
	}
	if id, err = url.QueryUnescape(user); err != nil {
		return "", "", true, badHeader
	}
	if secret, err = url.QueryUnescape(pass); err != nil {
		return "", "", true, badHeader
	}
	if postSecret && form.Get("client_secret") != secret {
		f := invalidRequest("the client_secret in the body differs from the HTTP Basic password: use one client authentication method")
		return "", "", true, &f
	}
	if bodyID, ok := form["client_id"]; ok && bodyID[0] != id {
		f := invalidRequest("client_id in the body differs from the HTTP Basic user")
		return "", "", true, &f
	}
	return id, secret, true, nil
}
