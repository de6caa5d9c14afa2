package api

import (
	"github.com/gin-gonic/gin"

	syncsvc "github.com/scimbridge/scimbridge/sync"
)

// TenantBaseURL is a tenant's SCIM Base URL as the operator surfaces show
// it (the admin console, the setup page): under publicURL when it is set,
// otherwise under the request's own host and scheme.
func TenantBaseURL(c *gin.Context, publicURL, tenant string) string {
	if publicURL == "" {
		scheme := "http"
		if c.Request.TLS != nil {
			scheme = "https"
		}
		publicURL = scheme + "://" + c.Request.Host
	}
	return syncsvc.TenantBaseURL(publicURL, tenant)
}
