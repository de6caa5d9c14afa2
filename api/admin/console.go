package admin

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/scimbridge/scimbridge/queue"
	syncsvc "github.com/scimbridge/scimbridge/sync"
	"github.com/scimbridge/scimbridge/tenants"
)

//go:embed templates/*.html
var templateFiles embed.FS

func parsePages() (*template.Template, error) {
	return template.New("pages").Funcs(template.FuncMap{
		"when": func(t time.Time) string {
			if t.IsZero() {
				return "never"
			}
			return t.UTC().Format("2006-01-02 15:04 UTC")
		},
	}).ParseFS(templateFiles, "templates/*.html")
}

// Cookie names: the console session, and the login form's CSRF token.
const (
	SessionCookieName = "scimbridge_console"
	LoginCookieName   = "scimbridge_login"
)

const (
	sessionCookie    = SessionCookieName
	loginCookie      = LoginCookieName
	sessionLifetime  = 12 * time.Hour
	csrfField        = "csrf"
	consoleFailLimit = 50
)

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// session returns the request's valid console session, if any.
func (h *Handler) session(c *gin.Context) (session, bool) {
	v, err := c.Cookie(sessionCookie)
	if err != nil {
		return session{}, false
	}
	return h.op.session(v)
}

// secure says whether cookies get the Secure attribute: served over https
// (directly, or per the configured public URL).
func (h *Handler) secure(c *gin.Context) bool {
	return c.Request.TLS != nil || strings.HasPrefix(h.cfg.PublicURL, "https://")
}

func (h *Handler) setCookie(c *gin.Context, name, value string, maxAge int) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name: name, Value: value, Path: "/console", MaxAge: maxAge,
		HttpOnly: true, Secure: h.secure(c), SameSite: http.SameSiteStrictMode,
	})
}

func (h *Handler) mountConsole(r gin.IRouter) {
	con := r.Group("/console", h.consoleHeaders)
	con.GET("/login", h.loginPage)
	con.POST("/login", h.login)
	auth := con.Group("", h.requireSession)
	auth.GET("", h.tenantsPage)
	auth.GET("/", h.tenantsPage)
	auth.POST("/logout", h.logout)
	auth.GET("/tenants/:tenant", h.tenantPage)
	auth.POST("/tenants/:tenant/keys", h.consoleCreateKey)
	auth.POST("/tenants/:tenant/keys/:key/revoke", h.consoleRevokeKey)
	if h.deps.OAuth != nil {
		auth.POST("/tenants/:tenant/oauth-clients", h.consoleCreateOAuthClient)
		auth.POST("/tenants/:tenant/oauth-clients/:client/revoke", h.consoleRevokeOAuthClient)
	}
	if h.deps.SetupLinks != nil {
		auth.POST("/tenants/:tenant/setup-links", h.consoleCreateSetupLink)
		auth.POST("/tenants/:tenant/setup-links/:link/revoke", h.consoleRevokeSetupLink)
	}
	if h.deps.Webhooks != nil {
		h.mountConsoleWebhooks(auth)
	}
	auth.POST("/tenants/:tenant/replay", h.consoleReplay)
	auth.POST("/tenants/:tenant/import", h.consoleImport)
}

// consoleHeaders: nothing cached, no framing, scripts and styles only
// from the page itself (with a per-response nonce).
func (h *Handler) consoleHeaders(c *gin.Context) {
	nonce := randomToken(16)
	c.Set("nonce", nonce)
	c.Header("Cache-Control", "no-store")
	SecurityHeaders(c.Writer.Header(), "default-src 'none'; style-src 'nonce-"+nonce+"'; script-src 'nonce-"+nonce+"'")
	c.Next()
}

// requireSession sends visitors without a session to the login form and
// checks the CSRF token (and Origin, when sent) of every POST.
func (h *Handler) requireSession(c *gin.Context) {
	s, ok := h.session(c)
	if !ok {
		if c.Request.Method == http.MethodGet {
			c.Redirect(http.StatusSeeOther, "/console/login")
		} else {
			c.String(http.StatusForbidden, "session expired: log in again")
		}
		c.Abort()
		return
	}
	if c.Request.Method == http.MethodPost {
		if !h.sameOrigin(c) || subtle.ConstantTimeCompare([]byte(c.PostForm(csrfField)), []byte(h.op.csrfToken(s))) != 1 {
			c.AbortWithStatus(http.StatusForbidden)
			return
		}
	}
	c.Set("session", s)
	c.Next()
}

// sameOrigin rejects a cross-site form post that names its origin (the
// CSRF token covers a browser that names none): the Origin must be one of
// the server's own, as the Guard surfaces check it (Operator.ownOrigin).
func (h *Handler) sameOrigin(c *gin.Context) bool {
	o := c.GetHeader("Origin")
	return o == "" || h.op.ownOrigin(c.Request, o)
}

// view is what every console page gets.
type view struct {
	Title      string
	Nonce      string
	CSRF       string
	Monitoring string
	Error      string
	Notice     string

	Tenants []tenantRow
	Tenant  *tenants.Tenant
	Summary *syncsvc.Summary
	Keys    []tenants.Key
	NewKey  *NewKey
	// OAuth is nil without OAuth clients (Deps.OAuth); then no section.
	OAuth *oauthView
	// Setup is nil without setup links (Deps.SetupLinks); then no section.
	Setup *setupLinksView
	// Webhooks is nil without Deps.Webhooks; then no section.
	Webhooks *webhooksView
	// Endpoint is the webhook endpoint's own page (webhook.html).
	Endpoint *endpointPage
	Failed   []syncsvc.ResourceStatus
	Pending  []syncsvc.ResourceStatus
	Job      *syncsvc.JobStatus
	LoginTok string
}

type tenantRow struct {
	Tenant  tenants.Tenant
	Summary *syncsvc.Summary
}

func (h *Handler) render(c *gin.Context, status int, page string, v view) {
	v.Nonce = c.GetString("nonce")
	v.Monitoring = h.cfg.MonitoringPath
	if s, ok := c.Get("session"); ok {
		v.CSRF = h.op.csrfToken(s.(session))
	}
	var buf bytes.Buffer
	if err := h.pages.ExecuteTemplate(&buf, page, v); err != nil {
		h.log.ErrorContext(c.Request.Context(), "console page", "page", page, "err", err)
		c.String(http.StatusInternalServerError, "internal error")
		return
	}
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

func (h *Handler) loginPage(c *gin.Context) {
	if _, ok := h.session(c); ok {
		c.Redirect(http.StatusSeeOther, "/console")
		return
	}
	tok := randomToken(16)
	h.setCookie(c, loginCookie, tok, 600)
	h.render(c, http.StatusOK, "login.html", view{Title: "Log in", LoginTok: tok})
}

func (h *Handler) login(c *gin.Context) {
	want, err := c.Cookie(loginCookie)
	if err != nil || !h.sameOrigin(c) || subtle.ConstantTimeCompare([]byte(want), []byte(c.PostForm(csrfField))) != 1 {
		c.String(http.StatusForbidden, "the login form expired: reload it")
		return
	}
	switch v, wait := h.op.check(peer(c.Request), strings.TrimSpace(c.PostForm("token")), true); v {
	case tooMany:
		c.Header("Retry-After", retryAfter(wait))
		c.AbortWithStatusJSON(http.StatusTooManyRequests, gin.H{"error": tooManyMessage})
		return
	case denied:
		tok := randomToken(16)
		h.setCookie(c, loginCookie, tok, 600)
		h.render(c, http.StatusUnauthorized, "login.html", view{Title: "Log in", LoginTok: tok, Error: "That is not the operator token."})
		return
	}
	h.setCookie(c, loginCookie, "", -1)
	h.setCookie(c, sessionCookie, h.op.newSession(), int(sessionLifetime.Seconds()))
	c.Redirect(http.StatusSeeOther, "/console")
}

func (h *Handler) logout(c *gin.Context) {
	h.setCookie(c, sessionCookie, "", -1)
	c.Redirect(http.StatusSeeOther, "/console/login")
}

func (h *Handler) tenantsPage(c *gin.Context) {
	ctx := c.Request.Context()
	list, err := h.deps.Tenants.List(ctx)
	if err != nil {
		h.render(c, statusOf(c, err), "tenants.html", view{Title: "Tenants", Error: err.Error()})
		return
	}
	rows := make([]tenantRow, len(list))
	for i, t := range list {
		rows[i].Tenant = t
		rows[i].Summary, _ = h.deps.Admin.Summary(ctx, t.ID)
	}
	h.render(c, http.StatusOK, "tenants.html", view{Title: "Tenants", Tenants: rows})
}

// tenantView loads everything the tenant page shows.
func (h *Handler) tenantView(ctx context.Context, id string) (view, error) {
	t, err := h.deps.Tenants.Get(ctx, id)
	if err != nil {
		return view{}, err
	}
	v := view{Title: t.ID, Tenant: t}
	if v.Keys, err = h.deps.Keys.List(ctx, t.ID); err != nil {
		return v, err
	}
	if v.OAuth, err = h.oauthView(ctx, t.ID); err != nil {
		return v, err
	}
	if v.Setup, err = h.setupLinksView(ctx, t.ID); err != nil {
		return v, err
	}
	if v.Webhooks, err = h.webhooksView(ctx, t.ID); err != nil {
		return v, err
	}
	if v.Summary, err = h.deps.Admin.Summary(ctx, t.ID); err != nil {
		return v, err
	}
	for _, kind := range []string{queue.KindUser, queue.KindGroup} {
		failed, err := h.deps.Admin.Statuses(ctx, t.ID, kind, syncsvc.FilterFailed, 0, consoleFailLimit)
		if err != nil {
			return v, err
		}
		v.Failed = append(v.Failed, failed.Resources...)
		pending, err := h.deps.Admin.Statuses(ctx, t.ID, kind, syncsvc.FilterPending, 0, consoleFailLimit)
		if err != nil {
			return v, err
		}
		v.Pending = append(v.Pending, pending.Resources...)
	}
	return v, nil
}

func (h *Handler) tenantPage(c *gin.Context) {
	ctx := c.Request.Context()
	v, err := h.tenantView(ctx, c.Param("tenant"))
	if err != nil {
		h.consoleError(c, err)
		return
	}
	switch c.Query("notice") {
	case "revoked":
		v.Notice = "Key revoked."
	case "link-revoked":
		v.Notice = "Setup link revoked: it no longer opens, and its open pages are closed."
	case "client-revoked":
		v.Notice = "OAuth client revoked: its tokens no longer work."
	case "webhook-updated":
		v.Notice = "Webhook endpoint updated."
	case "webhook-deleted":
		v.Notice = "Webhook endpoint deleted, with its delivery log; it gets no more deliveries."
	case "replayed":
		users, _ := strconv.Atoi(c.Query("users"))
		groups, _ := strconv.Atoi(c.Query("groups"))
		v.Notice = "Replay requested for " + strconv.Itoa(users) + " user(s) and " + strconv.Itoa(groups) + " group(s)."
	}
	if id := c.Query("job"); id != "" {
		if j, err := h.deps.Admin.Job(ctx, id); err == nil && j.Tenant == v.Tenant.ID {
			v.Job = j
		}
	}
	h.render(c, http.StatusOK, "tenant.html", v)
}

func (h *Handler) consoleError(c *gin.Context, err error) {
	status := statusOf(c, err)
	msg := err.Error()
	if status == http.StatusNotFound {
		msg = "No such tenant."
	} else if status == http.StatusInternalServerError {
		h.log.ErrorContext(c.Request.Context(), "console request failed", "path", c.FullPath(), "err", err)
		msg = "Internal error."
	}
	h.render(c, status, "tenants.html", view{Title: "Error", Error: msg})
}

func (h *Handler) consoleCreateKey(c *gin.Context) {
	ctx, id := c.Request.Context(), c.Param("tenant")
	plain, k, err := h.deps.Keys.Create(ctx, id, strings.TrimSpace(c.PostForm("name")))
	if err != nil && (statusOf(c, err) >= 500 || errors.Is(err, tenants.ErrNotFound)) {
		h.consoleError(c, err)
		return
	}
	h.renderCreated(c, id, err, func(v *view) {
		v.NewKey = &NewKey{Key: k, BaseURL: h.baseURL(c, id), APIKey: plain}
	})
}

func (h *Handler) consoleRevokeKey(c *gin.Context) {
	id := c.Param("tenant")
	if err := h.deps.Keys.Revoke(c.Request.Context(), id, c.Param("key")); err != nil {
		h.consoleError(c, err)
		return
	}
	h.redirectTenant(c, id, url.Values{"notice": {"revoked"}})
}

func (h *Handler) consoleReplay(c *gin.Context) {
	id := c.Param("tenant")
	res, err := h.deps.Admin.Replay(c.Request.Context(), id)
	if err != nil {
		h.consoleError(c, err)
		return
	}
	h.redirectTenant(c, id, url.Values{"notice": {"replayed"}, "users": {strconv.Itoa(res.Users)}, "groups": {strconv.Itoa(res.Groups)}})
}

func (h *Handler) consoleImport(c *gin.Context) {
	id := c.Param("tenant")
	j, err := h.deps.Admin.StartImport(c.Request.Context(), id)
	if err != nil {
		h.consoleError(c, err)
		return
	}
	h.redirectTenant(c, id, url.Values{"job": {j.ID}})
}

func (h *Handler) redirectTenant(c *gin.Context, tenant string, q url.Values) {
	c.Redirect(http.StatusSeeOther, "/console/tenants/"+url.PathEscape(tenant)+"?"+q.Encode())
}
