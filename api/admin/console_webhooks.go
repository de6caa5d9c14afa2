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
// add one; a new or rotated signing secret is shown once. Each endpoint's
// own page (webhook.html) edits its URL and event types (the URL through
// the same checks as a creation: Webhooks.UpdateEndpoint) and deletes it,
// which needs its confirm box ticked: the same operations as PATCH and
// DELETE /admin/v1/tenants/{t}/webhooks/{ep} and `scimbridge webhook
// update|delete`.

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
	v := &webhooksView{Types: typesHint()}
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
	auth.GET("/tenants/:tenant/webhooks/:endpoint", h.consoleEndpointPage)
	auth.POST("/tenants/:tenant/webhooks/:endpoint", h.consoleEditEndpoint)
	auth.POST("/tenants/:tenant/webhooks/:endpoint/delete", h.consoleDeleteEndpoint)
}

// endpointPage is what webhook.html shows: the endpoint, its latest
// deliveries, and the edit form's values (the endpoint's, or what a
// refused form sent, so the operator can correct it).
type endpointPage struct {
	*syncsvc.Endpoint
	Deliveries []syncsvc.Delivery
	FormURL    string
	FormTypes  string
	TypesHint  string
}

// renderEndpointPage shows the endpoint's page with status; formErr (a
// refused edit or delete) is shown above it, and url/types (when not nil)
// replace the form's values.
func (h *Handler) renderEndpointPage(c *gin.Context, status int, formErr error, formURL, formTypes *string) {
	ctx, id := c.Request.Context(), c.Param("tenant")
	t, err := h.deps.Tenants.Get(ctx, id)
	if err != nil {
		h.consoleError(c, err)
		return
	}
	e, err := h.deps.Webhooks.GetEndpoint(ctx, id, c.Param("endpoint"))
	if err == nil {
		var ds []syncsvc.Delivery
		if ds, err = h.deps.Webhooks.Deliveries(ctx, id, e.ID, consoleDeliveries); err == nil {
			p := &endpointPage{Endpoint: e, Deliveries: ds, FormURL: e.URL, FormTypes: strings.Join(e.Types, ", "),
				TypesHint: typesHint()}
			if formURL != nil {
				p.FormURL = *formURL
			}
			if formTypes != nil {
				p.FormTypes = *formTypes
			}
			v := view{Title: e.ID + " · " + t.ID, Tenant: t, Endpoint: p}
			if formErr != nil {
				v.Error = formErr.Error()
			}
			h.render(c, status, "webhook.html", v)
			return
		}
	}
	h.endpointError(c, err)
}

// endpointError shows an error that is not the form's: no such endpoint
// (404), or the tenant page's errors.
func (h *Handler) endpointError(c *gin.Context, err error) {
	if errors.Is(err, syncsvc.ErrNotFound) {
		h.render(c, http.StatusNotFound, "tenants.html", view{Title: "Error", Error: "No such webhook endpoint."})
		return
	}
	h.consoleError(c, err)
}

// typesHint lists the event types an endpoint can take.
func typesHint() string {
	return strings.Join(syncsvc.EventTypes, ", ") + " (only when listed: " + strings.Join(syncsvc.AckEventTypes, ", ") + ")"
}

// formTypes reads a comma-separated types field ("" is every type).
func formTypes(s string) []string {
	return append([]string{}, splitList(s)...)
}

func (h *Handler) consoleEndpointPage(c *gin.Context) {
	h.renderEndpointPage(c, http.StatusOK, nil, nil, nil)
}

// consoleEditEndpoint sets the endpoint's URL and event types from the
// page's form (an empty types field: every type); a refused value shows
// the page again with the error and the values sent, nothing changed.
func (h *Handler) consoleEditEndpoint(c *gin.Context) {
	id := c.Param("tenant")
	u, ts := strings.TrimSpace(c.PostForm("url")), strings.TrimSpace(c.PostForm("types"))
	types := formTypes(ts)
	_, err := h.deps.Webhooks.UpdateEndpoint(c.Request.Context(), id, c.Param("endpoint"), syncsvc.EndpointInput{URL: &u, Types: &types})
	if err != nil {
		if s := statusOf(c, err); s < 500 && !errors.Is(err, syncsvc.ErrNotFound) {
			h.renderEndpointPage(c, s, err, &u, &ts)
			return
		}
		h.endpointError(c, err)
		return
	}
	h.redirectTenant(c, id, url.Values{"notice": {"webhook-updated"}})
}

// errNotConfirmed: a delete form sent without its confirm box ticked.
var errNotConfirmed = errors.New("nothing deleted: tick the box to confirm the deletion")

// consoleDeleteEndpoint deletes the endpoint once the form's confirm box
// is ticked; without it the page is shown again, nothing deleted.
func (h *Handler) consoleDeleteEndpoint(c *gin.Context) {
	id := c.Param("tenant")
	if c.PostForm("confirm") != "yes" {
		h.renderEndpointPage(c, http.StatusBadRequest, errNotConfirmed, nil, nil)
		return
	}
	if err := h.deps.Webhooks.DeleteEndpoint(c.Request.Context(), id, c.Param("endpoint")); err != nil {
		h.endpointError(c, err)
		return
	}
	h.redirectTenant(c, id, url.Values{"notice": {"webhook-deleted"}})
}

// consoleSecret renders the tenant page with a new secret, or the form's
// error.
func (h *Handler) consoleSecret(c *gin.Context, secret string, e *syncsvc.Endpoint, err error) {
	ctx, id := c.Request.Context(), c.Param("tenant")
	if err != nil && (statusOf(c, err) >= 500 || errors.Is(err, tenants.ErrNotFound) || errors.Is(err, syncsvc.ErrNotFound)) {
		h.endpointError(c, err)
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
		types := formTypes(ts) // as the edit form reads it
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
			h.endpointError(c, err)
			return
		}
		h.redirectTenant(c, id, url.Values{"notice": {"webhook-updated"}})
	}
}
