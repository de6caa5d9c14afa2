package api

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/scimbridge/scimbridge/scim"
	"github.com/scimbridge/scimbridge/tenants"
)

// HeaderRequestID carries the request id, echoed when the client sent a
// usable one, generated otherwise.
const HeaderRequestID = "X-Request-Id"

// maxRequestIDLen bounds an echoed request id.
const maxRequestIDLen = 128

// gin context keys.
const (
	ctxRequestID = "scimbridge.request_id"
	ctxTenant    = "scimbridge.tenant"
	ctxSchemas   = "scimbridge.schemas"
)

func (s *server) requestID(c *gin.Context) {
	id := c.GetHeader(HeaderRequestID)
	if !validRequestID(id) {
		id = newRequestID()
	}
	c.Set(ctxRequestID, id)
	c.Header(HeaderRequestID, id)
	c.Next()
}

// validRequestID accepts 1-128 printable ASCII characters without spaces,
// so an echoed id cannot inject headers or log lines.
func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

func requestIDOf(c *gin.Context) string { return c.GetString(ctxRequestID) }

// schemasOf is the authenticated tenant's schema set (the default set
// before authentication).
func schemasOf(c *gin.Context) *scim.SchemaSet {
	if v, ok := c.Get(ctxSchemas); ok {
		if set, ok := v.(*scim.SchemaSet); ok {
			return set
		}
	}
	return scim.DefaultSchemaSet()
}

// tenantOf is the authenticated tenant id, or "" before authentication.
func tenantOf(c *gin.Context) string { return c.GetString(ctxTenant) }

// accessLog writes one line per request: no bodies, no query string (it
// may hold user names), no Authorization header.
func (s *server) accessLog(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "(no route)"
	}
	tenant := tenantOf(c)
	if tenant == "" {
		tenant = c.Param("tenant")
	}
	level := slog.LevelInfo
	if c.Writer.Status() >= http.StatusInternalServerError {
		level = slog.LevelError
	}
	s.log.LogAttrs(c.Request.Context(), level, "http request",
		slog.String("request_id", requestIDOf(c)),
		slog.String("tenant", tenant),
		slog.Bool("authenticated", tenantOf(c) != ""),
		slog.String("method", c.Request.Method),
		slog.String("route", route),
		slog.Int("status", c.Writer.Status()),
		slog.Duration("latency", time.Since(start)),
		slog.Int("response_bytes", c.Writer.Size()),
	)
}

// recoverPanic turns a panic in a handler into a 500 SCIM error.
func (s *server) recoverPanic(c *gin.Context) {
	defer func() {
		rec := recover()
		if rec == nil {
			return
		}
		if rec == http.ErrAbortHandler { //nolint:errorlint // sentinel value passed to panic
			panic(rec)
		}
		s.log.ErrorContext(c.Request.Context(), "api: panic in handler",
			"request_id", requestIDOf(c), "route", c.FullPath(), "panic", fmt.Sprint(rec))
		if c.Writer.Written() {
			c.Abort()
			return
		}
		s.writeError(c, errInternal)
	}()
	c.Next()
}

// errUnauthenticated is the one answer to every authentication failure, so
// that it does not reveal whether the tenant exists or why the key failed.
var errUnauthenticated = scim.Errorf(http.StatusUnauthorized, "", "authentication failed: present a valid API key or OAuth access token of this tenant as a Bearer token")

// authenticate checks the API key, or the OAuth access token, against the
// tenant named in the path.
func (s *server) authenticate(c *gin.Context) {
	tenantID := c.Param("tenant")
	key, ok := presentedKey(c.GetHeader("Authorization"))
	if !ok || !tenants.ValidID(tenantID) {
		s.refuse(c)
		return
	}
	ctx := c.Request.Context()
	var err error
	switch {
	case !tenants.IsAccessToken(key):
		if kf, ok := s.deps.Keys.(keysFrom); ok {
			_, err = kf.VerifyFrom(ctx, tenantID, key, c.Request.UserAgent())
		} else {
			_, err = s.deps.Keys.Verify(ctx, tenantID, key)
		}
	case s.deps.OAuth != nil:
		if of, ok := s.deps.OAuth.(oauthFrom); ok {
			_, err = of.VerifyFrom(ctx, tenantID, key, c.Request.UserAgent())
		} else {
			_, err = s.deps.OAuth.Verify(ctx, tenantID, key)
		}
	default:
		err = tenants.ErrUnauthorized
	}
	if err != nil {
		if isAuthFailure(err) {
			s.refuse(c)
		} else {
			s.writeError(c, fmt.Errorf("api: verify credential: %w", err))
		}
		return
	}
	t, err := s.deps.Tenants.Get(ctx, tenantID)
	if err != nil {
		if isAuthFailure(err) {
			s.refuse(c)
		} else {
			s.writeError(c, fmt.Errorf("api: get tenant: %w", err))
		}
		return
	}
	if t.Disabled {
		s.refuse(c)
		return
	}
	if !s.withinRate(c, tenantID) {
		return
	}
	weight, ok := s.takeTurn(c, tenantID)
	if !ok {
		return
	}
	defer s.load.release(tenantID, weight)
	set, err := s.schemaSets.get(tenantID, t.Schema)
	if err != nil {
		s.writeError(c, fmt.Errorf("api: tenant %s schema: %w", tenantID, err))
		return
	}
	c.Set(ctxSchemas, set)
	c.Set(ctxTenant, tenantID)
	bindTenant(c, tenantID)
	c.Next()
}

// keysFrom is a Keys that records the client (User-Agent) with a key's
// last use, as *tenants.KeyStore does (sampled: no write per request).
type keysFrom interface {
	VerifyFrom(ctx context.Context, tenant, presented, client string) (*tenants.Key, error)
}

// oauthFrom is an OAuth that records the client (User-Agent) with an
// OAuth client's last request, as *tenants.AccessTokens does (sampled).
type oauthFrom interface {
	VerifyFrom(ctx context.Context, tenant, presented, client string) (*tenants.AccessToken, error)
}

func isAuthFailure(err error) bool {
	return errors.Is(err, tenants.ErrUnauthorized) || errors.Is(err, tenants.ErrNotFound) ||
		errors.Is(err, tenants.ErrDisabled)
}

func (s *server) refuse(c *gin.Context) {
	c.Header("WWW-Authenticate", `Bearer realm="scimbridge"`)
	s.writeError(c, errUnauthenticated)
}

// presentedKey extracts the API key from an Authorization header:
// "Bearer <key>" or HTTP Basic with the key as the password (any user).
func presentedKey(header string) (string, bool) {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok {
		return "", false
	}
	rest = strings.TrimSpace(rest)
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		return rest, rest != ""
	case strings.EqualFold(scheme, "Basic"):
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return "", false
		}
		_, password, ok := strings.Cut(string(raw), ":")
		return password, ok && password != ""
	}
	return "", false
}
