package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/scimbridge/scimbridge/api"
	"github.com/scimbridge/scimbridge/queue"
	syncsvc "github.com/scimbridge/scimbridge/sync"
	"github.com/scimbridge/scimbridge/tenants"
)

// ErrNoToken: no operator token is configured, so the admin API and the
// console stay off.
var ErrNoToken = errors.New("admin: no operator token configured")

// Config configures the admin API and console.
type Config struct {
	// PublicURL is how IdPs reach the API, for the Base URLs shown with new
	// keys. Unset: derived from each request's Host.
	PublicURL string
	// MonitoringPath is where the queue dashboard is served, linked from
	// the console. Unset: "/monitoring".
	MonitoringPath string
	// Logger receives server-side errors. Unset: slog.Default().
	Logger *slog.Logger
}

// Deps are the services the admin API calls; all are required.
type Deps struct {
	// Operator authenticates the operator (NewOperator); the process's
	// other operator surfaces share it, and its guess limiter.
	Operator *Operator
	Tenants  *tenants.Registry
	Keys     *tenants.KeyStore
	Admin    *syncsvc.Admin
	// OAuth, optional, are the tenants' OAuth clients (oauth.go); nil:
	// their routes are 404.
	OAuth *tenants.OAuthClients
	// SetupLinks, optional, are the tenants' setup links (setuplinks.go);
	// nil (no secrets.key_file): their routes say they are off.
	SetupLinks *tenants.SetupLinks
	// Webhooks, optional, serve the events feed and the webhook
	// endpoints (webhooks.go); nil: their routes are 404.
	Webhooks *syncsvc.Webhooks
}

// Handler serves the admin API and the console.
type Handler struct {
	cfg   Config
	deps  Deps
	op    *Operator
	log   *slog.Logger
	pages *template.Template
}

// New builds the handler.
func New(cfg Config, deps Deps) (*Handler, error) {
	if deps.Operator == nil || deps.Tenants == nil || deps.Keys == nil || deps.Admin == nil {
		return nil, errors.New("admin: Deps.Operator, Deps.Tenants, Deps.Keys and Deps.Admin are required")
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	if cfg.MonitoringPath == "" {
		cfg.MonitoringPath = "/monitoring"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	h := &Handler{cfg: cfg, deps: deps, op: deps.Operator, log: cfg.Logger}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	h.pages = pages
	return h, nil
}

// Mount adds the admin API (/admin/v1) and the console (/console) to r.
func (h *Handler) Mount(r gin.IRouter) {
	v1 := r.Group("/admin/v1", h.op.requireToken)
	v1.GET("/tenants", h.listTenants)
	v1.POST("/tenants", h.createTenant)
	v1.GET("/tenants/:tenant", h.showTenant)
	v1.PUT("/tenants/:tenant", h.updateTenant)
	v1.POST("/tenants/:tenant/disable", h.setDisabled(true))
	v1.POST("/tenants/:tenant/enable", h.setDisabled(false))
	v1.GET("/tenants/:tenant/summary", h.summary)
	v1.GET("/tenants/:tenant/keys", h.listKeys)
	v1.POST("/tenants/:tenant/keys", h.createKey)
	v1.DELETE("/tenants/:tenant/keys/:key", h.revokeKey)
	if h.deps.OAuth != nil {
		v1.GET("/tenants/:tenant/oauth-clients", h.listOAuthClients)
		v1.POST("/tenants/:tenant/oauth-clients", h.createOAuthClient)
		v1.DELETE("/tenants/:tenant/oauth-clients/:client", h.revokeOAuthClient)
	}
	h.mountSetupLinks(v1)
	if h.deps.Webhooks != nil {
		h.mountWebhooks(v1)
	}
	v1.GET("/tenants/:tenant/users", h.statuses(queue.KindUser))
	v1.GET("/tenants/:tenant/users/:id", h.status(queue.KindUser))
	v1.GET("/tenants/:tenant/groups", h.statuses(queue.KindGroup))
	v1.GET("/tenants/:tenant/groups/:id", h.status(queue.KindGroup))
	v1.POST("/tenants/:tenant/replay", h.replay)
	v1.POST("/tenants/:tenant/import", h.startImport)
	v1.POST("/tenants/:tenant/drift", h.startDrift)
	v1.POST("/tenants/:tenant/preview", h.preview)
	v1.GET("/tenants/:tenant/recover", h.recoverPlan)
	v1.POST("/tenants/:tenant/recover", h.runRecover)
	v1.GET("/tenants/:tenant/backup", h.backup)
	v1.GET("/jobs/:id", h.job)
	h.mountConsole(r)
}

// baseURL is a tenant's SCIM Base URL.
func (h *Handler) baseURL(c *gin.Context, tenant string) string {
	return api.TenantBaseURL(c, h.cfg.PublicURL, tenant)
}

// statusOf is the HTTP status of err: api.ErrorFor's, the one mapping the
// SCIM front door uses too.
func statusOf(c *gin.Context, err error) int { return api.ErrorFor(c.Request.Context(), err).Status }

// fail answers with {"error": ...}; a server-side error is logged and its
// details not shown.
func (h *Handler) fail(c *gin.Context, err error) {
	status := statusOf(c, err)
	msg := err.Error()
	if status == http.StatusInternalServerError {
		h.log.ErrorContext(c.Request.Context(), "admin request failed", "path", c.FullPath(), "err", err)
		msg = "internal error"
	}
	if status == http.StatusServiceUnavailable {
		c.Header("Retry-After", api.RetryAfterSeconds)
	}
	c.AbortWithStatusJSON(status, gin.H{"error": msg})
}

// tenantOf loads the path's tenant, answering 404 when it does not exist.
func (h *Handler) tenantOf(c *gin.Context) (*tenants.Tenant, bool) {
	t, err := h.deps.Tenants.Get(c.Request.Context(), c.Param("tenant"))
	if err != nil {
		h.fail(c, err)
		return nil, false
	}
	return t, true
}

// tenantAndBody is tenantOf, then the JSON body (readJSON) decoded into
// v: false when either failed, answered.
func (h *Handler) tenantAndBody(c *gin.Context, v any) (*tenants.Tenant, bool) {
	t, ok := h.tenantOf(c)
	if !ok {
		return nil, false
	}
	if err := readJSON(c, v); err != nil {
		h.fail(c, err)
		return nil, false
	}
	return t, true
}

// readJSON decodes a JSON body of at most 1 MiB; unknown fields are errors.
func readJSON(c *gin.Context, v any) error {
	dec := json.NewDecoder(io.LimitReader(c.Request.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("admin: request body: %w: %v", syncsvc.ErrInvalidRequest, err)
	}
	return nil
}

func (h *Handler) listTenants(c *gin.Context) {
	list, err := h.deps.Tenants.List(c.Request.Context())
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"tenants": list})
}

func (h *Handler) createTenant(c *gin.Context) {
	var t tenants.Tenant
	if err := readJSON(c, &t); err != nil {
		h.fail(c, err)
		return
	}
	if err := h.deps.Tenants.Create(c.Request.Context(), t); err != nil {
		h.fail(c, err)
		return
	}
	h.writeTenant(c, http.StatusCreated, t.ID)
}

func (h *Handler) writeTenant(c *gin.Context, status int, id string) {
	t, err := h.deps.Tenants.Get(c.Request.Context(), id)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(status, t)
}

func (h *Handler) showTenant(c *gin.Context) {
	if t, ok := h.tenantOf(c); ok {
		c.JSON(http.StatusOK, t)
	}
}

func (h *Handler) updateTenant(c *gin.Context) {
	var t tenants.Tenant
	cur, ok := h.tenantAndBody(c, &t)
	if !ok {
		return
	}
	if t.ID != "" && t.ID != cur.ID {
		h.fail(c, fmt.Errorf("admin: the body's id %q is not the tenant's: %w", t.ID, syncsvc.ErrInvalidRequest))
		return
	}
	t.ID = cur.ID
	if err := h.deps.Tenants.Put(c.Request.Context(), t); err != nil {
		h.fail(c, err)
		return
	}
	h.writeTenant(c, http.StatusOK, t.ID)
}

func (h *Handler) setDisabled(disabled bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx, id := c.Request.Context(), c.Param("tenant")
		var err error
		if disabled {
			err = h.deps.Tenants.Disable(ctx, id)
		} else {
			err = h.deps.Tenants.Enable(ctx, id)
		}
		if err != nil {
			h.fail(c, err)
			return
		}
		h.writeTenant(c, http.StatusOK, id)
	}
}

func (h *Handler) summary(c *gin.Context) {
	t, ok := h.tenantOf(c)
	if !ok {
		return
	}
	s, err := h.deps.Admin.Summary(c.Request.Context(), t.ID)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, s)
}

func (h *Handler) listKeys(c *gin.Context) {
	t, ok := h.tenantOf(c)
	if !ok {
		return
	}
	keys, err := h.deps.Keys.List(c.Request.Context(), t.ID)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"keys": keys})
}

// NewKey is the answer to a key creation: the only time the key is shown.
type NewKey struct {
	tenants.Key
	BaseURL string `json:"base_url"`
	APIKey  string `json:"api_key"`
}

func (h *Handler) createKey(c *gin.Context) {
	var body struct {
		Name string `json:"name"`
	}
	t, ok := h.tenantAndBody(c, &body)
	if !ok {
		return
	}
	plain, k, err := h.deps.Keys.Create(c.Request.Context(), t.ID, body.Name)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, NewKey{Key: k, BaseURL: h.baseURL(c, t.ID), APIKey: plain})
}

func (h *Handler) revokeKey(c *gin.Context) {
	t, ok := h.tenantOf(c)
	if !ok {
		return
	}
	if err := h.deps.Keys.Revoke(c.Request.Context(), t.ID, c.Param("key")); err != nil {
		h.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// pageArgs reads offset and count (default 0 and 100, count at most 1000).
func pageArgs(c *gin.Context) (offset, count int, err error) {
	offset, count = 0, 100
	if v := c.Query("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 {
			return 0, 0, fmt.Errorf("admin: offset %q: %w", v, syncsvc.ErrInvalidRequest)
		}
	}
	if v := c.Query("count"); v != "" {
		if count, err = strconv.Atoi(v); err != nil || count < 1 {
			return 0, 0, fmt.Errorf("admin: count %q: %w", v, syncsvc.ErrInvalidRequest)
		}
	}
	return offset, min(count, 1000), nil
}

func (h *Handler) statuses(kind string) gin.HandlerFunc {
	return func(c *gin.Context) {
		t, ok := h.tenantOf(c)
		if !ok {
			return
		}
		offset, count, err := pageArgs(c)
		if err != nil {
			h.fail(c, err)
			return
		}
		page, err := h.deps.Admin.Statuses(c.Request.Context(), t.ID, kind, c.DefaultQuery("state", syncsvc.FilterAll), offset, count)
		if err != nil {
			h.fail(c, err)
			return
		}
		c.JSON(http.StatusOK, page)
	}
}

func (h *Handler) status(kind string) gin.HandlerFunc {
	return func(c *gin.Context) {
		t, ok := h.tenantOf(c)
		if !ok {
			return
		}
		st, err := h.deps.Admin.Status(c.Request.Context(), t.ID, kind, c.Param("id"))
		if err != nil {
			h.fail(c, err)
			return
		}
		c.JSON(http.StatusOK, st)
	}
}

func (h *Handler) replay(c *gin.Context) {
	t, ok := h.tenantOf(c)
	if !ok {
		return
	}
	res, err := h.deps.Admin.Replay(c.Request.Context(), t.ID)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, res)
}

func (h *Handler) startImport(c *gin.Context) {
	t, ok := h.tenantOf(c)
	if !ok {
		return
	}
	j, err := h.deps.Admin.StartImport(c.Request.Context(), t.ID)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.writeJob(c, j)
}

// writeJob answers 200 with a finished job, 202 with a running one (and
// where to poll it).
func (h *Handler) writeJob(c *gin.Context, j *syncsvc.JobStatus) {
	if j.Done {
		c.JSON(http.StatusOK, j)
		return
	}
	c.Header("Location", "/admin/v1/jobs/"+j.ID)
	c.JSON(http.StatusAccepted, j)
}

func (h *Handler) startDrift(c *gin.Context) {
	t, ok := h.tenantOf(c)
	if !ok {
		return
	}
	repair := false
	if v := c.Query("repair"); v != "" {
		var err error
		if repair, err = strconv.ParseBool(v); err != nil {
			h.fail(c, fmt.Errorf("admin: repair %q: %w", v, syncsvc.ErrInvalidRequest))
			return
		}
	}
	j, err := h.deps.Admin.StartDrift(c.Request.Context(), t.ID, repair)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.writeJob(c, j)
}

func (h *Handler) preview(c *gin.Context) {
	t, ok := h.tenantOf(c)
	if !ok {
		return
	}
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, 1<<20))
	if err != nil {
		h.fail(c, fmt.Errorf("admin: request body: %w: %v", syncsvc.ErrInvalidRequest, err))
		return
	}
	p, err := t.PreviewUser(body)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, p)
}

func (h *Handler) job(c *gin.Context) {
	j, err := h.deps.Admin.Job(c.Request.Context(), c.Param("id"))
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, j)
}
