package admin

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// renderCreated answers a create form of a tenant's page (a key, an OAuth
// client, a setup link): the page again, with formErr as the form's error
// (400), or with what created puts on it (shown once). An error that is
// not the form's the caller has answered with consoleError already.
func (h *Handler) renderCreated(c *gin.Context, tenant string, formErr error, created func(v *view)) {
	v, err := h.tenantView(c.Request.Context(), tenant)
	if err != nil {
		h.consoleError(c, err)
		return
	}
	status := http.StatusOK
	if formErr != nil {
		status, v.Error = http.StatusBadRequest, formErr.Error()
	} else {
		created(&v)
	}
	h.render(c, status, "tenant.html", v)
}
