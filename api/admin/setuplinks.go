package admin

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/scimbridge/scimbridge/api"
	"github.com/scimbridge/scimbridge/api/setup"
	syncsvc "github.com/scimbridge/scimbridge/sync"
	"github.com/scimbridge/scimbridge/tenants"
)

// Setup links of a tenant (tenants.SetupLinks): the link a customer's
// admin opens to set provisioning up on the tenant's setup page (package
// api/setup). Admin API: list, create (the URL is in that answer only),
// revoke; the console's tenant page does the same.

// GuessLimiter is the operator's limit on wrong tokens, for another
// surface whose guesses should count with the operator token's (the
// setup page's links).
func (o *Operator) GuessLimiter() *api.GuessLimiter { return o.guesses }

// NewGuessLimiter returns a limiter with the operator token's numbers (10
// wrong guesses per address per minute), for a process without an
// operator token.
func NewGuessLimiter() *api.GuessLimiter { return newGuessLimiter(nil) }

// NewSetupLink is the answer to a link's creation: the only time its URL
// is shown.
type NewSetupLink struct {
	tenants.SetupLink
	URL string `json:"url"`
}

const setupLinksOff = "setup links are off: they are signed with a key derived from secrets.key_file, which is not set"

func (h *Handler) mountSetupLinks(v1 *gin.RouterGroup) {
	if h.deps.SetupLinks == nil {
		off := func(c *gin.Context) { c.AbortWithStatusJSON(http.StatusNotFound, gin.H{"error": setupLinksOff}) }
		v1.GET("/tenants/:tenant/setup-links", off)
		v1.POST("/tenants/:tenant/setup-links", off)
		v1.DELETE("/tenants/:tenant/setup-links/:link", off)
		return
	}
	v1.GET("/tenants/:tenant/setup-links", h.listSetupLinks)
	v1.POST("/tenants/:tenant/setup-links", h.createSetupLink)
	v1.DELETE("/tenants/:tenant/setup-links/:link", h.revokeSetupLink)
}

// publicBase is the public URL, or the request's scheme and Host.
func (h *Handler) publicBase(c *gin.Context) string {
	return strings.TrimSuffix(h.baseURL(c, "x"), "/scim/x/v2")
}

func (h *Handler) listSetupLinks(c *gin.Context) {
	t, ok := h.tenantOf(c)
	if !ok {
		return
	}
	list, err := h.deps.SetupLinks.List(c.Request.Context(), t.ID)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"setup_links": list})
}

func (h *Handler) createSetupLink(c *gin.Context) {
	t, ok := h.tenantOf(c)
	if !ok {
		return
	}
	var body struct {
		TTL string `json:"ttl"`
		IdP string `json:"idp"`
	}
	if c.Request.ContentLength != 0 {
		if err := readJSON(c, &body); err != nil {
			h.fail(c, err)
			return
		}
	}
	var ttl time.Duration
	if body.TTL != "" {
		d, err := time.ParseDuration(body.TTL)
		if err != nil {
			h.fail(c, fmt.Errorf("admin: ttl %q: %w", body.TTL, syncsvc.ErrInvalidRequest))
			return
		}
		ttl = d
	}
	link, err := h.newSetupLink(c, t.ID, ttl, body.IdP)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, link)
}

func (h *Handler) newSetupLink(c *gin.Context, tenant string, ttl time.Duration, idp string) (*NewSetupLink, error) {
	token, link, err := h.deps.SetupLinks.Create(c.Request.Context(), tenant, ttl, idp)
	if err != nil {
		return nil, err
	}
	h.log.InfoContext(c.Request.Context(), "setup link created", "tenant", tenant, "link", link.ID, "expires", link.Expires)
	return &NewSetupLink{SetupLink: link, URL: setup.LinkURL(h.publicBase(c), tenant, token)}, nil
}

func (h *Handler) revokeSetupLink(c *gin.Context) {
	t, ok := h.tenantOf(c)
	if !ok {
		return
	}
	if err := h.deps.SetupLinks.Revoke(c.Request.Context(), t.ID, c.Param("link")); err != nil {
		h.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// The console's section of a tenant's page.

type setupLinksView struct {
	Links []tenants.SetupLink
	New   *NewSetupLink
}

func (h *Handler) setupLinksView(ctx context.Context, tenant string) (*setupLinksView, error) {
	if h.deps.SetupLinks == nil {
		return nil, nil
	}
	list, err := h.deps.SetupLinks.List(ctx, tenant)
	if err != nil {
		return nil, err
	}
	return &setupLinksView{Links: list}, nil
}

func (h *Handler) consoleCreateSetupLink(c *gin.Context) {
	id := c.Param("tenant")
	var ttl time.Duration
	var err error
	if v := strings.TrimSpace(c.PostForm("ttl")); v != "" {
		ttl, err = time.ParseDuration(v)
		if err != nil {
			err = fmt.Errorf("ttl %q: want a duration such as 24h: %w", v, tenants.ErrInvalid)
		}
	}
	var link *NewSetupLink
	if err == nil {
		link, err = h.newSetupLink(c, id, ttl, c.PostForm("idp"))
	}
	if err != nil && statusOf(c, err) != http.StatusBadRequest {
		h.consoleError(c, err)
		return
	}
	h.renderCreated(c, id, err, func(v *view) { v.Setup.New = link })
}

func (h *Handler) consoleRevokeSetupLink(c *gin.Context) {
	id := c.Param("tenant")
	if err := h.deps.SetupLinks.Revoke(c.Request.Context(), id, c.Param("link")); err != nil {
		h.consoleError(c, err)
		return
	}
	h.redirectTenant(c, id, url.Values{"notice": {"link-revoked"}})
}
