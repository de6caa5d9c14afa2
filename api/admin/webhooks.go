package admin

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	syncsvc "github.com/scimbridge/scimbridge/sync"
)

// The tenants' events feed and webhook endpoints (sync/webhooks.go):
//
//	GET    /tenants/{t}/events?after=<cursor>&limit=N   the feed, oldest first; next_cursor continues
//	       [&types=user.created,user.deactivated]       only these types (an unknown one: 400)
//	       [&resource_id=<SCIM id>]                     only this resource's events
//	POST   /tenants/{t}/events/replay                   {"event_id"} or {"from","to"}, optional "endpoint"
//	GET    /tenants/{t}/webhooks                        the endpoints (no secrets)
//	POST   /tenants/{t}/webhooks                        {"url","event_types","enabled"}: the secret is in this answer only
//	GET    /tenants/{t}/webhooks/{ep}                   one endpoint
//	PATCH  /tenants/{t}/webhooks/{ep}                   change url, event_types, enabled
//	DELETE /tenants/{t}/webhooks/{ep}
//	POST   /tenants/{t}/webhooks/{ep}/rotate            {"overlap":"24h"}: a new secret, the old ones sign until the overlap ends
//	GET    /tenants/{t}/webhooks/{ep}/deliveries        the delivery log, newest first

// maxEventsPage bounds ?limit of the feed.
const maxEventsPage = 1000

func (h *Handler) mountWebhooks(v1 gin.IRouter) {
	v1.GET("/tenants/:tenant/events", h.listEvents)
	v1.POST("/tenants/:tenant/events/replay", h.replayEvents)
	v1.GET("/tenants/:tenant/webhooks", h.listEndpoints)
	v1.POST("/tenants/:tenant/webhooks", h.createEndpoint)
	v1.GET("/tenants/:tenant/webhooks/:endpoint", h.showEndpoint)
	v1.PATCH("/tenants/:tenant/webhooks/:endpoint", h.updateEndpoint)
	v1.DELETE("/tenants/:tenant/webhooks/:endpoint", h.deleteEndpoint)
	v1.POST("/tenants/:tenant/webhooks/:endpoint/rotate", h.rotateEndpoint)
	v1.GET("/tenants/:tenant/webhooks/:endpoint/deliveries", h.endpointDeliveries)
}

// EventsPage is one page of the feed.
type EventsPage struct {
	Events []syncsvc.Event `json:"events"`
	// NextCursor is ?after= for the next page: the last event's cursor,
	// or, when a filter skipped events after it, the last one read (a
	// filtered page may be empty with NextCursor moved on: read on), or
	// the request's own when nothing was read.
	NextCursor string `json:"next_cursor"`
}

func (h *Handler) listEvents(c *gin.Context) {
	t, ok := h.tenantOf(c)
	if !ok {
		return
	}
	limit := 100
	if s := c.Query("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxEventsPage {
			c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"error": "limit must be 1 to " + strconv.Itoa(maxEventsPage)})
			return
		}
		limit = n
	}
	f := syncsvc.EventFilter{Types: splitList(c.Query("types")), ResourceID: c.Query("resource_id")}
	evs, next, err := h.deps.Webhooks.EventPage(c.Request.Context(), t.ID, c.Query("after"), limit, f)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, EventsPage{Events: evs, NextCursor: next})
}

// splitList splits a comma-separated query value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func (h *Handler) replayEvents(c *gin.Context) {
	var sel syncsvc.ReplaySelection
	t, ok := h.tenantAndBody(c, &sel)
	if !ok {
		return
	}
	evs, n, err := h.deps.Webhooks.ReplaySelected(c.Request.Context(), t.ID, sel)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"events": len(evs), "deliveries_queued": n})
}

func (h *Handler) listEndpoints(c *gin.Context) {
	t, ok := h.tenantOf(c)
	if !ok {
		return
	}
	list, err := h.deps.Webhooks.Endpoints(c.Request.Context(), t.ID)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"webhooks": list})
}

// NewEndpoint is the answer to an endpoint's creation or rotation: the
// only time its signing secret is shown.
type NewEndpoint struct {
	*syncsvc.Endpoint
	Secret string `json:"secret"`
}

func (h *Handler) createEndpoint(c *gin.Context) {
	var in syncsvc.EndpointInput
	t, ok := h.tenantAndBody(c, &in)
	if !ok {
		return
	}
	secret, e, err := h.deps.Webhooks.CreateEndpoint(c.Request.Context(), t.ID, in)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, NewEndpoint{Endpoint: e, Secret: secret})
}

func (h *Handler) showEndpoint(c *gin.Context) {
	t, ok := h.tenantOf(c)
	if !ok {
		return
	}
	e, err := h.deps.Webhooks.GetEndpoint(c.Request.Context(), t.ID, c.Param("endpoint"))
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, e)
}

func (h *Handler) updateEndpoint(c *gin.Context) {
	var in syncsvc.EndpointInput
	t, ok := h.tenantAndBody(c, &in)
	if !ok {
		return
	}
	e, err := h.deps.Webhooks.UpdateEndpoint(c.Request.Context(), t.ID, c.Param("endpoint"), in)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, e)
}

func (h *Handler) deleteEndpoint(c *gin.Context) {
	t, ok := h.tenantOf(c)
	if !ok {
		return
	}
	if err := h.deps.Webhooks.DeleteEndpoint(c.Request.Context(), t.ID, c.Param("endpoint")); err != nil {
		h.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (h *Handler) rotateEndpoint(c *gin.Context) {
	t, ok := h.tenantOf(c)
	if !ok {
		return
	}
	var body struct {
		Overlap string `json:"overlap"`
	}
	if c.Request.ContentLength != 0 {
		if err := readJSON(c, &body); err != nil {
			h.fail(c, err)
			return
		}
	}
	var overlap time.Duration
	if body.Overlap != "" {
		d, err := time.ParseDuration(body.Overlap)
		if err != nil || d < 0 || d > 30*24*time.Hour {
			c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"error": "overlap must be a duration from 0s to 720h"})
			return
		}
		overlap = d
	}
	secret, e, err := h.deps.Webhooks.RotateSecret(c.Request.Context(), t.ID, c.Param("endpoint"), overlap)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, NewEndpoint{Endpoint: e, Secret: secret})
}

func (h *Handler) endpointDeliveries(c *gin.Context) {
	t, ok := h.tenantOf(c)
	if !ok {
		return
	}
	list, err := h.deps.Webhooks.Deliveries(c.Request.Context(), t.ID, c.Param("endpoint"), 100)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"deliveries": list})
}
