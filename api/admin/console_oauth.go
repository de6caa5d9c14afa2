package admin

import (
	"context"
	"errors"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/scimbridge/scimbridge/tenants"
)

// The console's OAuth clients section of a tenant's page: the clients,
// a form to create one (its secret shown once, with what Entra's
// provisioning page needs) and a revoke button per live client.

type oauthView struct {
	Clients []tenants.OAuthClient
	New     *NewOAuthClient
}

func (h *Handler) oauthView(ctx context.Context, tenant string) (*oauthView, error) {
	if h.deps.OAuth == nil {
		return nil, nil
	}
	list, err := h.deps.OAuth.List(ctx, tenant)
	if err != nil {
		return nil, err
	}
	return &oauthView{Clients: list}, nil
}

func (h *Handler) consoleCreateOAuthClient(c *gin.Context) {
	ctx, id := c.Request.Context(), c.Param("tenant")
	secret, client, err := h.deps.OAuth.Create(ctx, id, strings.TrimSpace(c.PostForm("name")))
	if err != nil && (statusOf(c, err) >= 500 || errors.Is(err, tenants.ErrNotFound)) {
		h.consoleError(c, err)
		return
	}
	h.renderCreated(c, id, err, func(v *view) { v.OAuth.New = h.newOAuthClient(c, client, secret) })
}

func (h *Handler) consoleRevokeOAuthClient(c *gin.Context) {
	id := c.Param("tenant")
	if err := h.deps.OAuth.Revoke(c.Request.Context(), id, c.Param("client")); err != nil {
		h.consoleError(c, err)
		return
	}
	h.redirectTenant(c, id, url.Values{"notice": {"client-revoked"}})
}
