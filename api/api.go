package api

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/scimbridge/scimbridge/scim"
	syncsvc "github.com/scimbridge/scimbridge/sync"
	"github.com/scimbridge/scimbridge/tenants"
)

// Users is the provisioning service as the front door sees it;
// *sync.Service satisfies it.
type Users interface {
	CreateUser(ctx context.Context, tenant string, a scim.Attrs, password *string) (*syncsvc.Record, error)
	ReplaceUser(ctx context.Context, tenant, id string, a scim.Attrs, password *string, ifVersion int64) (*syncsvc.Record, error)
	PatchUser(ctx context.Context, tenant, id string, p *scim.Patch, ifVersion int64) (*syncsvc.Record, error)
	DeleteUser(ctx context.Context, tenant, id string, ifVersion int64) error
	GetUser(ctx context.Context, tenant, id string) (*syncsvc.Record, error)
	ListUsers(ctx context.Context, tenant string, f *scim.Filter, startIndex, count int) ([]*syncsvc.Record, int, error)
}

// Groups is the group side of the provisioning service, with sorted user
// search; *sync.Service satisfies it.
type Groups interface {
	CreateGroup(ctx context.Context, tenant string, a scim.Attrs, members []string) (*syncsvc.Record, error)
	ReplaceGroup(ctx context.Context, tenant, id string, a scim.Attrs, members []string, ifVersion int64) (*syncsvc.Record, error)
	PatchGroup(ctx context.Context, tenant, id string, p *scim.Patch, ifVersion int64) (*syncsvc.Record, error)
	DeleteGroup(ctx context.Context, tenant, id string, ifVersion int64) error
	GetGroup(ctx context.Context, tenant, id string) (*syncsvc.Record, error)
	GroupMembers(ctx context.Context, tenant, id string) ([]string, error)
	SearchGroups(ctx context.Context, tenant string, q syncsvc.Query) (*syncsvc.GroupPage, error)
	SearchUsers(ctx context.Context, tenant string, q syncsvc.Query) ([]*syncsvc.Record, int, error)
}

// Tenants looks tenants up by id; *tenants.Registry satisfies it. Get
// returns an error wrapping tenants.ErrNotFound for an unknown tenant.
type Tenants interface {
	Get(ctx context.Context, id string) (*tenants.Tenant, error)
}

// Keys checks a presented API key against a tenant's keys;
// *tenants.KeyStore satisfies it. Verify returns tenants.ErrUnauthorized
// for every kind of wrong key.
type Keys interface {
	Verify(ctx context.Context, tenant, presented string) (*tenants.Key, error)
}

// Deps are the services the router calls. All are required, except
// Groups, which defaults to Users when Users also implements Groups (as
// *sync.Service does).
type Deps struct {
	Users   Users
	Groups  Groups
	Tenants Tenants
	Keys    Keys
	// Limiter, optional, limits each tenant's request rate (429 with an
	// integer Retry-After beyond it); *tenants.RateLimiter satisfies it.
	Limiter RateLimiter
	// OAuth, optional, serves POST /oauth/token and accepts its access
	// tokens beside the API keys; nil: no token endpoint (404), and
	// discovery lists the API key only.
	OAuth OAuth
}

// RateLimiter takes one request of a tenant's budget; when over, it says
// how long until one would be allowed.
type RateLimiter interface {
	Allow(ctx context.Context, tenant string) (bool, time.Duration, error)
}

// Config configures the router. The zero value of each field means its
// default.
type Config struct {
	// PublicURL is the externally visible scheme://host[:port][/prefix]
	// of the server, used in meta.location and Location headers. Unset:
	// derived from each request's Host (http://host).
	PublicURL string
	// MaxBodyBytes is the largest request body accepted (413 beyond it).
	// Unset: 1 MiB.
	MaxBodyBytes int64
	// MaxPageSize is the largest count a list answers with; larger counts
	// are reduced to it. Unset: 1000.
	MaxPageSize int
	// DefaultPageSize is the count used when a list request has none.
	// Unset: 100 (never more than MaxPageSize).
	DefaultPageSize int
	// MaxBulkOperations is the most operations one POST /Bulk may carry
	// (413 beyond it). Unset: 1000.
	MaxBulkOperations int
	// MaxBulkPayloadBytes is the largest POST /Bulk body (413 beyond it).
	// Unset: 1 MiB.
	MaxBulkPayloadBytes int64
	// RequestTimeout is the deadline of every SCIM request: once it has
	// passed (or the client has gone) nothing more is written, and a
	// request still waiting for its tenant's turn after half of it is
	// answered 429. Unset: DefaultRequestTimeout.
	RequestTimeout time.Duration
	// TenantCapacity is the weight one tenant's requests may hold at once
	// in this process (tenantload.go: a small request weighs 1, a body
	// one more per 4 KiB up to 16, a core). Unset: 16 per core of half of
	// GOMAXPROCS.
	TenantCapacity int64
	// Logger receives the access log and server-side errors. Unset:
	// slog.Default().
	Logger *slog.Logger
	// RateLimitHint and CapacityHint end the detail of the two 429s (the
	// tenant's request rate limit, and its share of the process): which
	// setting was hit and how to raise it, in the words of the command
	// that configured the router. Unset: the detail says only what happened.
	RateLimitHint string
	CapacityHint  string
	// Metrics records each request (NewHTTPMetrics). Unset: no metrics.
	// Spans are always opened, with the global OpenTelemetry tracer
	// provider (a no-op until one is installed).
	Metrics *HTTPMetrics
}

// Defaults of Config.
const (
	DefaultMaxBodyBytes    = 1 << 20
	DefaultMaxPageSize     = 1000
	DefaultDefaultPageSize = 100
	DefaultMaxBulkOps      = 1000
	DefaultMaxBulkBytes    = 1 << 20
)

func (c Config) withDefaults() Config {
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxPageSize <= 0 {
		c.MaxPageSize = DefaultMaxPageSize
	}
	if c.DefaultPageSize <= 0 {
		c.DefaultPageSize = DefaultDefaultPageSize
	}
	if c.DefaultPageSize > c.MaxPageSize {
		c.DefaultPageSize = c.MaxPageSize
	}
	if c.MaxBulkOperations <= 0 {
		c.MaxBulkOperations = DefaultMaxBulkOps
	}
	if c.MaxBulkPayloadBytes <= 0 {
		c.MaxBulkPayloadBytes = DefaultMaxBulkBytes
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.TenantCapacity <= 0 {
		c.TenantCapacity = defaultTenantCapacity()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// server holds the configuration and dependencies the handlers share.
type server struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	// schemaSets are this router's built tenant schema sets.
	schemaSets *schemaSetCache
	// load is each tenant's share of this process (tenantload.go).
	load *tenantLoad
	// tokenGuesses limits wrong client secrets at the token endpoint.
	tokenGuesses *GuessLimiter
}

// BasePath is the route of a tenant's SCIM Base URL below PublicURL.
const BasePath = "/scim/:tenant/v2"

// New builds the router. It panics when a dependency is missing (a wiring
// mistake, not a runtime condition).
func New(cfg Config, deps Deps) *Router {
	_, r := newServer(cfg, deps)
	return r
}

// newServer is New, also returning the server the handlers share (tests).
func newServer(cfg Config, deps Deps) (*server, *Router) {
	if deps.Groups == nil {
		deps.Groups, _ = deps.Users.(Groups)
	}
	if deps.Users == nil || deps.Groups == nil || deps.Tenants == nil || deps.Keys == nil {
		panic("api.New: Deps.Users, Deps.Groups, Deps.Tenants and Deps.Keys are required")
	}
	cfg = cfg.withDefaults()
	s := &server{cfg: cfg, deps: deps, log: cfg.Logger, schemaSets: newSchemaSetCache(),
		load:         newTenantLoad(cfg.TenantCapacity),
		tokenGuesses: NewGuessLimiter(tokenGuesses, tokenGuessWindow, nil)}

	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.RemoveExtraSlash = true
	r.Use(s.requestID, s.telemetry, s.accessLog, s.recoverPanic)
	r.NoRoute(func(c *gin.Context) {
		s.writeError(c, scim.Errorf(http.StatusNotFound, "", "no such endpoint"))
	})
	r.NoMethod(func(c *gin.Context) {
		s.writeError(c, scim.Errorf(http.StatusMethodNotAllowed, "", "method %s not allowed on this endpoint", c.Request.Method))
	})

	r.GET("/healthz", func(c *gin.Context) {
		c.JSON(http.StatusOK, gin.H{"status": "ok"})
	})

	if deps.OAuth != nil {
		r.POST(TokenPath, s.oauthToken)
	}

	base := r.Group(BasePath, s.withDeadline, s.authenticate)

	base.GET("/Users", s.listUsers)
	base.POST("/Users/.search", s.searchUsers)
	base.POST("/Users", s.createUser)
	base.GET("/Users/:id", s.getUser)
	base.PUT("/Users/:id", s.replaceUser)
	base.PATCH("/Users/:id", s.patchUser)
	base.DELETE("/Users/:id", s.deleteUser)

	base.GET("/Groups", s.listGroups)
	base.POST("/Groups/.search", s.searchGroups)
	base.POST("/Groups", s.createGroup)
	base.GET("/Groups/:id", s.getGroup)
	base.PUT("/Groups/:id", s.replaceGroup)
	base.PATCH("/Groups/:id", s.patchGroup)
	base.DELETE("/Groups/:id", s.deleteGroup)

	base.POST("/Bulk", s.bulk)

	base.GET("/ServiceProviderConfig", s.serviceProviderConfig)
	base.GET("/ResourceTypes", s.resourceTypes)
	base.GET("/ResourceTypes/:name", s.resourceType)
	base.GET("/Schemas", s.schemas)
	base.GET("/Schemas/:urn", s.schema)
	return s, &Router{Engine: r}
}

// baseURL is the tenant's SCIM Base URL for this request.
func (s *server) baseURL(c *gin.Context) string {
	public := s.cfg.PublicURL
	if public == "" {
		public = "http://" + c.Request.Host
	}
	return syncsvc.TenantBaseURL(public, tenantOf(c))
}
