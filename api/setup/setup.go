package setup

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/scimbridge/scimbridge/api"
	"github.com/scimbridge/scimbridge/queue"
	syncsvc "github.com/scimbridge/scimbridge/sync"
	"github.com/scimbridge/scimbridge/tenants"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed assets/setup.js assets/setup.css
var assetFiles embed.FS

// Paths: a tenant's page is PagePath(tenant); a link opens at
// PagePath(tenant) + "open/" + token; the script and style sheet are under
// AssetsPath.
const (
	AssetsPath = "/setup-assets/"
	// CookieName is the session cookie (Path is the tenant's page).
	CookieName = "scimbridge_setup"
	csrfField  = "csrf"
	// failuresShown is how many of the latest failures the page lists.
	failuresShown = 5
	// refreshSeconds is how often a waiting page reloads itself without
	// scripting (and the script refreshes the status in place).
	refreshSeconds = 5
)

// PagePath is the path of a tenant's setup page.
func PagePath(tenant string) string { return "/setup/" + url.PathEscape(tenant) + "/" }

// LinkURL is the URL of a link token: publicURL (scheme://host[/prefix])
// + the tenant's page + "open/" + token.
func LinkURL(publicURL, tenant, token string) string {
	return strings.TrimRight(publicURL, "/") + PagePath(tenant) + "open/" + token
}

// Status is what the page reads of the tenant's sync state;
// *sync.Admin satisfies it.
type Status interface {
	Summary(ctx context.Context, tenant string) (*syncsvc.Summary, error)
	Statuses(ctx context.Context, tenant, kind, filter string, offset, count int) (*syncsvc.StatusPage, error)
}

// Deps are the services the page calls; all are required.
type Deps struct {
	Links   *tenants.SetupLinks
	Tenants *tenants.Registry
	Keys    *tenants.KeyStore
	Status  Status
	// Guesses counts wrong link tokens and session cookies per client
	// address: the operator's limiter (admin.Operator.GuessLimiter), so
	// guessing a link is as slow as guessing the operator token and both
	// count together; or admin.NewGuessLimiter() without an operator.
	Guesses *api.GuessLimiter
	// OAuth, optional, are the tenant's OAuth clients: listed (and
	// revocable) beside the keys, and a request with one's access token
	// counts as the IdP's last request too. When set, the steps name the
	// token endpoint (api.TokenPath): the server serves it whenever it
	// serves this page (both need secrets.key_file).
	OAuth *tenants.OAuthClients
}

// Config configures the page.
type Config struct {
	// PublicURL is how IdPs (and the admin's browser) reach the server,
	// for the Base URL shown; unset: each request's scheme and Host.
	PublicURL string
	// Logger receives server-side errors; unset: slog.Default().
	Logger *slog.Logger
}

// Handler serves the setup pages.
type Handler struct {
	cfg   Config
	deps  Deps
	log   *slog.Logger
	pages *template.Template
}

// New builds the handler.
func New(cfg Config, deps Deps) (*Handler, error) {
	if deps.Links == nil || deps.Tenants == nil || deps.Keys == nil || deps.Status == nil || deps.Guesses == nil {
		return nil, errors.New("setup: Deps.Links, Tenants, Keys, Status and Guesses are required")
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	return &Handler{cfg: cfg, deps: deps, log: cfg.Logger, pages: pages}, nil
}

// parsePages parses the page templates.
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

// Mount adds the setup pages to r.
func (h *Handler) Mount(r gin.IRouter) {
	r.GET(AssetsPath+":file", h.asset)
	g := r.Group("/setup/:tenant", h.headers)
	g.GET("", h.slash)
	g.GET("/open/:token", h.open)
	s := g.Group("", h.requireSession)
	s.GET("/", h.page)
	s.GET("/status", h.statusFragment)
	s.POST("/keys", h.createKey)
	s.POST("/keys/:key/revoke", h.revokeKey)
	s.POST("/oauth-clients/:client/revoke", h.revokeOAuthClient)
	s.POST("/logout", h.logout)
}

func (h *Handler) asset(c *gin.Context) {
	name := c.Param("file")
	var ctype string
	switch name {
	case "setup.js":
		ctype = "text/javascript; charset=utf-8"
	case "setup.css":
		ctype = "text/css; charset=utf-8"
	default:
		c.String(http.StatusNotFound, "not found")
		return
	}
	b, err := assetFiles.ReadFile("assets/" + name)
	if err != nil {
		c.String(http.StatusNotFound, "not found")
		return
	}
	c.Header("X-Content-Type-Options", "nosniff")
	c.Header("Cache-Control", "public, max-age=300")
	c.Data(http.StatusOK, ctype, b)
}

// headers: nothing cached, nothing inline, framed only by the tenant's
// own frame_ancestors, the Referer kept to this origin (not no-referrer
// on the page: a form post would then send "Origin: null"; the link's
// own answer, whose URL holds the token, sends none: open).
//
// An address that guessed too many links or cookies is refused here, before
// the tenant is read: its requests cost no Redis round trip. (Its refusal is
// not framed even for a tenant with frame_ancestors.)
func (h *Handler) headers(c *gin.Context) {
	hd := c.Writer.Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	if left, blocked := h.deps.Guesses.Blocked(api.Peer(c.Request)); blocked {
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Content-Security-Policy", csp("'none'"))
		h.tooMany(c, left)
		return
	}
	ancestors := "'none'"
	if t, err := h.deps.Tenants.Get(c.Request.Context(), c.Param("tenant")); err == nil && t.Setup != nil && len(t.Setup.FrameAncestors) > 0 {
		ancestors = strings.Join(t.Setup.FrameAncestors, " ")
		c.Set(ctxFramed, true)
	} else {
		hd.Set("X-Frame-Options", "DENY")
	}
	hd.Set("Content-Security-Policy", csp(ancestors))
	c.Next()
}

// csp is the pages' Content-Security-Policy with those frame ancestors.
func csp(ancestors string) string {
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
		"form-action 'self'; frame-ancestors " + ancestors + "; base-uri 'none'"
}

// slash sends /setup/<tenant> to /setup/<tenant>/ (with its query): the
// session cookie's path is the latter, which the browser does not send to
// the former.
func (h *Handler) slash(c *gin.Context) {
	target := PagePath(c.Param("tenant"))
	if q := c.Request.URL.RawQuery; q != "" {
		target += "?" + q
	}
	c.Redirect(http.StatusMovedPermanently, target)
}

const (
	ctxFramed  = "setup.framed"
	ctxSession = "setup.session"
)

// secure says whether the cookie gets Secure: https, directly or per the
// public URL.
func (h *Handler) secure(c *gin.Context) bool {
	return c.Request.TLS != nil || strings.HasPrefix(h.cfg.PublicURL, "https://")
}

// setCookie sets (maxAge > 0) or clears the session cookie of the
// tenant's page. SameSite=Lax, not Strict: the link is opened from another
// site (an e-mail, the SaaS application), and a Strict cookie set on that
// navigation would not come back on its redirect. Framed (the tenant has
// frame_ancestors) over https it is SameSite=None and Partitioned, the
// only cookie a cross-site frame keeps.
func (h *Handler) setCookie(c *gin.Context, tenant, value string, maxAge int) {
	ck := &http.Cookie{Name: CookieName, Value: value, Path: PagePath(tenant), MaxAge: maxAge,
		HttpOnly: true, Secure: h.secure(c), SameSite: http.SameSiteLaxMode}
	if c.GetBool(ctxFramed) && ck.Secure {
		ck.SameSite, ck.Partitioned = http.SameSiteNoneMode, true
	}
	http.SetCookie(c.Writer, ck)
}

// open exchanges a link for a session cookie and redirects to the page,
// so the token leaves the address bar (and the browser's history entry).
func (h *Handler) open(c *gin.Context) {
	ctx, tenant := c.Request.Context(), c.Param("tenant")
	c.Header("Referrer-Policy", "no-referrer")
	peer := api.Peer(c.Request) // not blocked: headers refused that
	link, err := h.deps.Links.Verify(ctx, tenant, c.Param("token"))
	if err != nil {
		if errors.Is(err, tenants.ErrLinkInvalid) {
			h.deps.Guesses.Fail(peer)
		}
		h.refuse(c, err)
		return
	}
	cookie, sess, err := h.deps.Links.NewSession(ctx, link)
	if err != nil {
		h.refuse(c, err)
		return
	}
	h.setCookie(c, tenant, cookie, int(time.Until(sess.Expires).Seconds()))
	h.log.InfoContext(ctx, "setup link opened", "tenant", tenant, "link", link.ID)
	target := PagePath(tenant)
	if link.IdP != "" {
		target += "?idp=" + url.QueryEscape(link.IdP)
	}
	c.Redirect(http.StatusSeeOther, target)
}

// requireSession admits requests with a live session of the path's
// tenant, and checks the CSRF token and Origin of every POST.
func (h *Handler) requireSession(c *gin.Context) {
	ctx, tenant := c.Request.Context(), c.Param("tenant")
	peer := api.Peer(c.Request)
	v, err := c.Cookie(CookieName)
	if err != nil || v == "" {
		h.refusePage(c, http.StatusUnauthorized, refusal{Title: "Open your setup link",
			Why:  "This page opens only from the setup link you were sent, or your session on it has ended.",
			What: "Open the link again. If it no longer works, ask the company that sent it to you for a new setup link."})
		return
	}
	sess, err := h.deps.Links.Session(ctx, tenant, v)
	if err != nil {
		switch {
		case errors.Is(err, tenants.ErrLinkInvalid):
			// A forged or foreign cookie goes; an expired or revoked
			// session's stays, so that a reload still says why.
			h.deps.Guesses.Fail(peer)
			h.setCookie(c, tenant, "", -1)
		case errors.Is(err, tenants.ErrSessionEnded):
			// Logged out (a replayed cookie, or another tab's logout).
			h.setCookie(c, tenant, "", -1)
		}
		h.refuse(c, err)
		return
	}
	if c.Request.Method == http.MethodPost {
		if !h.sameOrigin(c) || !h.deps.Links.CheckCSRF(sess, c.PostForm(csrfField)) {
			h.refusePage(c, http.StatusForbidden, refusal{Title: "This form expired",
				Why:  "The form was sent from another page or an old copy of this one.",
				What: "Go back to the setup page, reload it and try again."})
			return
		}
	}
	c.Set(ctxSession, sess)
	c.Next()
}

// sameOrigin refuses a form post whose Origin (when sent) is not this
// server's: the request's own scheme and host, or the public URL's.
func (h *Handler) sameOrigin(c *gin.Context) bool {
	o := c.GetHeader("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" {
		return false
	}
	if h.cfg.PublicURL != "" {
		if p, err := url.Parse(h.cfg.PublicURL); err == nil && strings.EqualFold(p.Scheme, u.Scheme) && strings.EqualFold(p.Host, u.Host) {
			return true
		}
	}
	return strings.EqualFold(u.Host, c.Request.Host)
}

func sessionOf(c *gin.Context) *tenants.SetupSession {
	s, _ := c.Get(ctxSession)
	sess, _ := s.(*tenants.SetupSession)
	return sess
}

// refusal is a page saying why the link or session does not open the
// page, and what to do.
type refusal struct {
	Title string
	Why   string
	What  string
}

func (h *Handler) refuse(c *gin.Context, err error) {
	switch {
	case errors.Is(err, tenants.ErrLinkExpired):
		h.refusePage(c, http.StatusGone, refusal{Title: "This setup link has expired",
			Why:  "Setup links work for a limited time, and this one's time is over.",
			What: "Ask the company that sent you the link for a new setup link. Credentials you already created keep working."})
	case errors.Is(err, tenants.ErrLinkRevoked):
		h.refusePage(c, http.StatusGone, refusal{Title: "This setup link was withdrawn",
			Why:  "The company that sent you this link has revoked it.",
			What: "Ask them for a new setup link if you still need to change the provisioning setup."})
	case errors.Is(err, tenants.ErrSessionEnded):
		h.refusePage(c, http.StatusUnauthorized, refusal{Title: "You have left the setup page",
			Why:  "Your session on this setup page was ended with “Leave this page”.",
			What: "Open your setup link again to come back while it is valid."})
	case errors.Is(err, tenants.ErrLinkOtherTenant):
		h.refusePage(c, http.StatusNotFound, refusal{Title: "This link is for another setup page",
			Why:  "The setup link you opened does not belong to this address.",
			What: "Open the link exactly as you received it. If it still fails, ask the company that sent it for a new setup link."})
	case errors.Is(err, tenants.ErrLinkInvalid), errors.Is(err, tenants.ErrNotFound):
		h.refusePage(c, http.StatusNotFound, refusal{Title: "This setup link is not valid",
			Why:  "The link is incomplete or has been changed. Links sometimes break when they are copied or wrapped across lines in an e-mail.",
			What: "Copy the whole link again, or ask the company that sent it to you for a new setup link."})
	default:
		status := api.ErrorFor(c.Request.Context(), err).Status
		if status == http.StatusServiceUnavailable {
			c.Header("Retry-After", api.RetryAfterSeconds)
		} else {
			h.log.ErrorContext(c.Request.Context(), "setup page failed", "path", c.FullPath(), "err", err)
		}
		h.refusePage(c, status, refusal{Title: "The setup page is not available right now",
			Why:  "Something went wrong on our side.",
			What: "Try again in a minute. If it keeps failing, tell the company that sent you the link."})
	}
}

func (h *Handler) tooMany(c *gin.Context, left time.Duration) {
	c.Header("Retry-After", strconv.Itoa(int(left.Seconds())+1))
	h.refusePage(c, http.StatusTooManyRequests, refusal{Title: "Too many invalid links",
		Why:  "This address opened too many links that are not valid.",
		What: "Wait a minute, then open your setup link again."})
}

func (h *Handler) refusePage(c *gin.Context, status int, r refusal) {
	h.render(c, status, "refused.html", r)
	c.Abort()
}

func (h *Handler) render(c *gin.Context, status int, page string, data any) {
	var buf bytes.Buffer
	if err := h.pages.ExecuteTemplate(&buf, page, data); err != nil {
		h.log.ErrorContext(c.Request.Context(), "setup page", "page", page, "err", err)
		c.String(http.StatusInternalServerError, "internal error")
		return
	}
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

// baseURL is the tenant's SCIM Base URL.
func (h *Handler) baseURL(c *gin.Context, tenant string) string {
	return api.TenantBaseURL(c, h.cfg.PublicURL, tenant)
}

func (h *Handler) page(c *gin.Context) {
	v, err := h.view(c, c.Query("idp"))
	if err != nil {
		h.refuse(c, err)
		return
	}
	switch c.Query("notice") {
	case "revoked":
		v.Notice = "Key revoked: your identity provider's requests with it are refused from now on."
	case "oauth-revoked":
		v.Notice = "OAuth client revoked: it gets no more access tokens, and the ones it has are refused from now on."
	}
	h.render(c, http.StatusOK, "page.html", v)
}

func (h *Handler) statusFragment(c *gin.Context) {
	v, err := h.view(c, c.Query("idp"))
	if err != nil {
		h.refuse(c, err)
		return
	}
	h.render(c, http.StatusOK, "status", v)
}

func (h *Handler) createKey(c *gin.Context) {
	ctx, tenant := c.Request.Context(), c.Param("tenant")
	idp := c.PostForm("idp")
	name := strings.TrimSpace(c.PostForm("name"))
	plain, k, err := h.deps.Keys.Create(ctx, tenant, name)
	if err != nil && !errors.Is(err, tenants.ErrInvalid) && !errors.Is(err, tenants.ErrExists) {
		h.refuse(c, err)
		return
	}
	v, verr := h.view(c, idp)
	if verr != nil {
		h.refuse(c, verr)
		return
	}
	status := http.StatusOK
	switch {
	case errors.Is(err, tenants.ErrExists):
		status, v.Error = http.StatusBadRequest, "A key named “"+name+"” already exists: choose another name, or revoke that key first."
	case err != nil:
		status, v.Error = http.StatusBadRequest, "The key name must be 1 to 100 printable characters."
	default:
		v.NewKey = &newKey{Name: k.Name, BaseURL: h.baseURL(c, tenant), APIKey: plain}
		v.Refresh = 0 // the key is shown once: never reload it away
		h.log.InfoContext(ctx, "setup page created a key", "tenant", tenant, "key", k.ID, "link", sessionOf(c).LinkID)
	}
	h.render(c, status, "page.html", v)
}

func (h *Handler) revokeKey(c *gin.Context) {
	ctx, tenant := c.Request.Context(), c.Param("tenant")
	id := c.Param("key")
	if !strings.HasPrefix(id, "k") {
		h.refuse(c, tenants.ErrNotFound)
		return
	}
	if err := h.deps.Keys.Revoke(ctx, tenant, id); err != nil {
		h.refuseRevoke(c, "key", err)
		return
	}
	h.log.InfoContext(ctx, "setup page revoked a key", "tenant", tenant, "key", id, "link", sessionOf(c).LinkID)
	h.revoked(c, tenant, "revoked")
}

// refuseRevoke answers a revocation of a what ("key") that failed: one
// that does not exist (or not for this tenant) gets its "No such" page,
// another error the refusal of any request.
func (h *Handler) refuseRevoke(c *gin.Context, what string, err error) {
	if errors.Is(err, tenants.ErrNotFound) {
		h.refusePage(c, http.StatusNotFound, refusal{Title: "No such " + what,
			Why: "That " + what + " does not exist.", What: "Go back to the setup page and reload it."})
		return
	}
	h.refuse(c, err)
}

// revoked sends the browser back to the page after a revocation, with
// the notice to show and the form's IdP.
func (h *Handler) revoked(c *gin.Context, tenant, notice string) {
	q := url.Values{"notice": {notice}}
	if idp := c.PostForm("idp"); tenants.ValidIdP(idp) && idp != "" {
		q.Set("idp", idp)
	}
	c.Redirect(http.StatusSeeOther, PagePath(tenant)+"?"+q.Encode())
}

// revokeOAuthClient revokes one of the tenant's OAuth clients, by its id
// (never by name: the form posts the id). Without OAuth (no Deps.OAuth)
// there is nothing to revoke.
func (h *Handler) revokeOAuthClient(c *gin.Context) {
	ctx, tenant := c.Request.Context(), c.Param("tenant")
	id := c.Param("client")
	if h.deps.OAuth == nil || tenants.ClientTenant(id) != tenant {
		h.refuseRevoke(c, "OAuth client", tenants.ErrNotFound)
		return
	}
	if err := h.deps.OAuth.Revoke(ctx, tenant, id); err != nil {
		h.refuseRevoke(c, "OAuth client", err)
		return
	}
	h.log.InfoContext(ctx, "setup page revoked an OAuth client", "tenant", tenant, "client", id, "link", sessionOf(c).LinkID)
	h.revoked(c, tenant, "oauth-revoked")
}

// logout ends the session on the server (a copy of the cookie no longer
// opens the page, on any process) and clears the cookie.
func (h *Handler) logout(c *gin.Context) {
	sess := sessionOf(c)
	if err := h.deps.Links.EndSession(c.Request.Context(), sess); err != nil {
		h.refuse(c, err) // the session goes on: say so, keep the cookie
		return
	}
	h.log.InfoContext(c.Request.Context(), "setup session ended", "tenant", sess.Tenant, "link", sess.LinkID)
	h.setCookie(c, c.Param("tenant"), "", -1)
	h.refusePage(c, http.StatusOK, refusal{Title: "You have left the setup page",
		Why:  "Your session on this setup page has ended.",
		What: "Open your setup link again to come back while it is valid."})
}

// view loads what the page shows.
func (h *Handler) view(c *gin.Context, idp string) (*pageView, error) {
	ctx, sess := c.Request.Context(), sessionOf(c)
	t, err := h.deps.Tenants.Get(ctx, sess.Tenant)
	if err != nil {
		return nil, err
	}
	if idp == "" {
		idp = sess.IdP
	}
	if !tenants.ValidIdP(idp) {
		idp = ""
	}
	keys, err := h.deps.Keys.List(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	sum, err := h.deps.Status.Summary(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	v := &pageView{
		Tenant: t.ID, Name: t.Name, IdP: idp, CSRF: h.deps.Links.CSRF(sess),
		Path: PagePath(t.ID), BaseURL: h.baseURL(c, t.ID), Expires: sess.Expires,
		Keys: keys, Summary: sum, Groups: t.Store.Groups != nil, Disabled: t.Disabled,
		Attributes: attributesOf(t, idp), Deactivation: t.Store.Users.Active != nil,
		GroupAttributes: groupAttributesOf(t, idp),
	}
	for _, k := range keys {
		if k.LastUsed.After(v.LastRequest) {
			v.LastRequest, v.LastClient, v.LastCredential = k.LastUsed, k.LastClient, "key “"+k.Name+"”"
		}
	}
	if h.deps.OAuth != nil {
		clients, err := h.deps.OAuth.List(ctx, t.ID)
		if err != nil {
			return nil, err
		}
		v.OAuth, v.OAuthClients = true, clients
		v.TokenURL = strings.TrimSuffix(v.BaseURL, "/scim/"+t.ID+"/v2") + api.TokenPath
		for _, oc := range clients {
			if oc.LastUsed.After(v.LastRequest) {
				v.LastRequest, v.LastClient, v.LastCredential = oc.LastUsed, oc.LastClient, "OAuth client “"+oc.Name+"”"
			}
		}
	}
	if !v.LastRequest.IsZero() {
		v.LastAgo = ago(now.Sub(v.LastRequest))
		v.LastClientName = clientName(v.LastClient)
	} else {
		v.Refresh = refreshSeconds
	}
	v.UsersInStore = max(sum.Users-sum.PendingUsers-sum.FailedUsers, 0)
	v.GroupsInStore = max(sum.Groups-sum.PendingGroups-sum.FailedGroups, 0)
	for _, kind := range []string{queue.KindUser, queue.KindGroup} {
		failed, err := h.latestFailures(ctx, t.ID, kind)
		if err != nil {
			return nil, err
		}
		for _, r := range failed {
			v.Failures = append(v.Failures, explain(t, idp, r))
		}
	}
	if len(v.Failures) > failuresShown {
		v.Failures = v.Failures[:failuresShown]
	}
	return v, nil
}

// latestFailures are the tenant's most recent failures of kind, newest
// first (the ledger lists them oldest first).
func (h *Handler) latestFailures(ctx context.Context, tenant, kind string) ([]syncsvc.ResourceStatus, error) {
	head, err := h.deps.Status.Statuses(ctx, tenant, kind, syncsvc.FilterFailed, 0, 1)
	if err != nil || head.Total <= 1 {
		if head == nil {
			return nil, err
		}
		return head.Resources, err
	}
	page, err := h.deps.Status.Statuses(ctx, tenant, kind, syncsvc.FilterFailed, max(head.Total-failuresShown, 0), failuresShown)
	if err != nil {
		return nil, err
	}
	out := page.Resources
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// ago says how long ago d was, in words.
func ago(d time.Duration) string {
	switch {
	case d < 5*time.Second:
		return "just now"
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + " s ago"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + " min ago"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d.Hours())) + " h ago"
	}
	return strconv.Itoa(int(d.Hours()/24)) + " days ago"
}

// clientName names a client by its User-Agent: "Okta", "Microsoft Entra
// ID", else the User-Agent itself.
func clientName(ua string) string {
	l := strings.ToLower(ua)
	switch {
	case strings.Contains(l, "okta"):
		return "Okta"
	case strings.Contains(l, "azure") || strings.Contains(l, "microsoft") || strings.Contains(l, "entra"):
		return "Microsoft Entra ID"
	case ua == "":
		return "unknown client"
	}
	return ua
}

type pageView struct {
	Tenant, Name, IdP, CSRF, Path, BaseURL string
	Expires                                time.Time
	Error, Notice                          string
	// Refresh, when > 0, reloads the page every Refresh seconds while no
	// request has arrived: a meta refresh in <noscript>, so only without
	// JavaScript (setup.js refreshes the status in place instead).
	Refresh int
	NewKey  *newKey
	Keys    []tenants.Key
	// OAuth says the server issues OAuth access tokens (Deps.OAuth), at
	// TokenURL; OAuthClients are the tenant's clients (their secrets are
	// never stored, so never shown: only when they are created, by the
	// operator).
	OAuth        bool
	TokenURL     string
	OAuthClients []tenants.OAuthClient

	Summary                     *syncsvc.Summary
	UsersInStore, GroupsInStore int
	LastRequest                 time.Time
	LastClient, LastClientName  string
	// LastCredential names the credential of the last request: key “…”
	// or OAuth client “…”.
	LastCredential string
	LastAgo        string
	Failures       []failure

	Groups       bool
	Disabled     bool
	Deactivation bool
	Attributes   []attributeRow
	// GroupAttributes: the group attributes the store keeps (with
	// members); empty when Groups is false.
	GroupAttributes []attributeRow
}

type newKey struct {
	Name, BaseURL, APIKey string
}
