package admin

// Disaster recovery through the admin API: a recover's plan and run, and
// a tenant's ledger backup as a download. Restore is the CLI's only
// (scimbridge restore): it checks the whole file before writing anything,
// so it reads the file twice, which over HTTP would mean spooling an
// upload of any size onto the API host; the CLI reads the operator's file
// where it is.

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	syncsvc "github.com/scimbridge/scimbridge/sync"
	"github.com/scimbridge/scimbridge/tenants"
)

// recoverOptions reads ?dry_run, ?new_ids and ?merge (booleans).
func recoverOptions(c *gin.Context) (syncsvc.RecoverOptions, error) {
	var o syncsvc.RecoverOptions
	for name, dst := range map[string]*bool{"dry_run": &o.DryRun, "new_ids": &o.NewIDs, "merge": &o.Merge} {
		v := c.Query(name)
		if v == "" {
			continue
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return o, fmt.Errorf("admin: %s %q: %w", name, v, syncsvc.ErrInvalidRequest)
		}
		*dst = b
	}
	return o, nil
}

// recoverRequest is the tenant and options of a recover request; false
// when it has been answered (an unknown tenant, a bad option).
func (h *Handler) recoverRequest(c *gin.Context) (*tenants.Tenant, syncsvc.RecoverOptions, bool) {
	t, ok := h.tenantOf(c)
	if !ok {
		return nil, syncsvc.RecoverOptions{}, false
	}
	opts, err := recoverOptions(c)
	if err != nil {
		h.fail(c, err)
		return nil, opts, false
	}
	return t, opts, true
}

// recoverPlan answers what a recover with the query's options would do.
func (h *Handler) recoverPlan(c *gin.Context) {
	t, opts, ok := h.recoverRequest(c)
	if !ok {
		return
	}
	p, err := h.deps.Admin.PlanRecover(c.Request.Context(), t.ID, opts)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, p)
}

// runRecover runs a recover in the request and answers its report; a
// refusal is 409 with the plan saying why.
func (h *Handler) runRecover(c *gin.Context) {
	t, opts, ok := h.recoverRequest(c)
	if !ok {
		return
	}
	rep, err := h.deps.Admin.Recover(c.Request.Context(), t.ID, opts, nil)
	switch {
	case errors.Is(err, syncsvc.ErrRecoverRefused):
		c.AbortWithStatusJSON(http.StatusConflict, gin.H{"error": err.Error(), "plan": rep.RecoverPlan})
	case err != nil:
		h.fail(c, err)
	default:
		c.JSON(http.StatusOK, rep)
	}
}

// backup streams the tenant's ledger backup. A failure after the first
// byte cannot change the status: the file then lacks its end line, and
// restore refuses it as truncated.
func (h *Handler) backup(c *gin.Context) {
	t, ok := h.tenantOf(c)
	if !ok {
		return
	}
	c.Header("Content-Type", "application/x-ndjson")
	c.Header("Content-Disposition", `attachment; filename="`+t.ID+`.scimbridge-backup"`)
	c.Header("Cache-Control", "no-store")
	c.Status(http.StatusOK)
	if _, err := h.deps.Admin.Backup(c.Request.Context(), t.ID, c.Writer); err != nil {
		h.log.ErrorContext(c.Request.Context(), "admin backup failed; the download lacks its end line", "tenant", t.ID, "err", err)
	}
}
