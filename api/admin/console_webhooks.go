package admin

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	syncsvc "github.com/scimbridge/scimbridge/sync"
	"github.com/scimbridge/scimbridge/tenants"
)

// The console's webhooks section of a tenant's page: each endpoint with
// its state (a disabled endpoint shows why: 410, or failing too long),
// its latest deliveries, enable/disable and rotate buttons, and a form to
// add one; a new or rotated signing secret is shown once.

// consoleDeliveries is how many deliveries the page shows per endpoint.
const consoleDeliveries = 5

// consoleRotateOverlap is how long a secret rotated from the console
// keeps signing beside the new one.
const consoleRotateOverlap = syncsvc.RotationOverlap

type webhooksView struct {
	Endpoints []endpointRow
	New       *NewEndpoint
	Types     string // the known event types, for the form's hint
}

type endpointRow struct {
	*syncsvc.Endpoint
	Deliveries []syncsvc.Delivery
}

func (h *Handler) webhooksView(ctx context.Context, tenant string) (*webhooksView, error) {
	if h.deps.Webhooks == nil {
		return nil, nil
	}
	list, err := h.deps.Webhooks.Endpoints(ctx, tenant)
	if err != nil {
		return nil, err
	}
	v := &webhooksView{Types: strings.Join(syncsvc.EventTypes, ", ") + " (only when listed: " + strings.Join(syncsvc.AckEventTypes, ", ") + ")"}
	for _, e := range list {
		ds, err := h.deps.Webhooks.Deliveries(ctx, tenant, e.ID, consoleDeliveries)
		if err != nil {
			return nil, err
		}
		v.Endpoints = append(v.Endpoints, endpointRow{Endpoint: e, Deliveries: ds})
	}
	return v, nil
}

func (h *Handler) mountConsoleWebhooks(auth gin.IRouter) {
	auth.POST("/tenants/:tenant/webhooks", h.consoleCreateEndpoint)
	auth.POST("/tenants/:tenant/webhooks/:endpoint/enable", h.consoleSetEndpoint(true))
	auth.POST("/tenants/:tenant/webhooks/:endpoint/disable", h.consoleSetEndpoint(false))
	auth.POST("/tenants/:tenant/webhooks/:endpoint/rotate", h.consoleRotateEndpoint)
}

// consoleSecret renders the tenant page with a new secret, or the form's
// error.
func (h *Handler) consoleSecret(c *gin.Context, secret string, e *syncsvc.Endpoint, err error) {
	ctx, id := c.Request.Context(), c.Param("tenant")
	if err != nil && (statusOf(c, err) >= 500 || errors.Is(err, tenants.ErrNotFound)) {
		h.consoleError(c, err)
		return
	}
	v, verr := h.tenantView(ctx, id)
	if verr != nil {
		h.consoleError(c, verr)
		return
	}
	status := http.StatusOK
	if err != nil {
		status, v.Error = statusOf(c, err), err.Error()
	} else {
		v.Webhooks.New = &NewEndpoint{Endpoint: e, Secret: secret}
	}
	h.render(c, status, "tenant.html", v)
}

func (h *Handler) consoleCreateEndpoint(c *gin.Context) {
	id := c.Param("tenant")
	if _, err := h.deps.Tenants.Get(c.Request.Context(), id); err != nil {
		h.consoleError(c, err)
		return
	}
	u := strings.TrimSpace(c.PostForm("url"))
	in := syncsvc.EndpointInput{URL: &u}
	if ts := strings.TrimSpace(c.PostForm("types")); ts != "" {
		types := strings.Split(ts, ",")
		for i := range types {
			types[i] = strings.TrimSpace(types[i])
		}
		in.Types = &types
	}
	secret, e, err := h.deps.Webhooks.CreateEndpoint(c.Request.Context(), id, in)
	h.consoleSecret(c, secret, e, err)
}

func (h *Handler) consoleRotateEndpoint(c *gin.Context) {
	secret, e, err := h.deps.Webhooks.RotateSecret(c.Request.Context(), c.Param("tenant"), c.Param("endpoint"), consoleRotateOverlap)
	h.consoleSecret(c, secret, e, err)
}

func (h *Handler) consoleSetEndpoint(enabled bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.Param("tenant")
		if _, err := h.deps.Webhooks.UpdateEndpoint(c.Request.Context(), id, c.Param("endpoint"), syncsvc.EndpointInput{Enabled: &enabled}); err != nil {
			h.consoleError(c, err)
			return
		}
		h.redirectTenant(c, id, url.Values{"notice": {"webhook-updated"}})
	}
}
