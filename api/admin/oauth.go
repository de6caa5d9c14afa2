package admin

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/scimbridge/scimbridge/api"
	"github.com/scimbridge/scimbridge/tenants"
)

// The tenants' OAuth clients, beside their keys: list, create (the secret
// is in that answer only), revoke.

func (h *Handler) listOAuthClients(c *gin.Context) {
	t, ok := h.tenantOf(c)
	if !ok {
		return
	}
	list, err := h.deps.OAuth.List(c.Request.Context(), t.ID)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"oauth_clients": list})
}

// NewOAuthClient is the answer to a client's creation: the only time its
// secret is shown, with what an IdP's configuration needs.
type NewOAuthClient struct {
	tenants.OAuthClient
	ClientSecret string `json:"client_secret"`
	TokenURL     string `json:"token_url"`
	BaseURL      string `json:"base_url"`
}

func (h *Handler) createOAuthClient(c *gin.Context) {
	var body struct {
		Name string `json:"name"`
	}
	t, ok := h.tenantAndBody(c, &body)
	if !ok {
		return
	}
	secret, client, err := h.deps.OAuth.Create(c.Request.Context(), t.ID, body.Name)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, h.newOAuthClient(c, client, secret))
}

// newOAuthClient is the answer to a creation, with the request's URLs.
func (h *Handler) newOAuthClient(c *gin.Context, client tenants.OAuthClient, secret string) *NewOAuthClient {
	base := h.baseURL(c, client.Tenant)
	token := strings.TrimSuffix(base, "/scim/"+client.Tenant+"/v2") + api.TokenPath
	return &NewOAuthClient{OAuthClient: client, ClientSecret: secret, TokenURL: token, BaseURL: base}
}

func (h *Handler) revokeOAuthClient(c *gin.Context) {
	t, ok := h.tenantOf(c)
	if !ok {
		return
	}
	if err := h.deps.OAuth.Revoke(c.Request.Context(), t.ID, c.Param("client")); err != nil {
		h.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
