package api

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/scimbridge/scimbridge/scim"
)

// GET /ServiceProviderConfig: sort, ETags, bulk and PATCH supported;
// filter.maxResults is the largest page a list answers with;
// authenticationSchemes name the token endpoint when OAuth is on.
func (s *server) serviceProviderConfig(c *gin.Context) {
	tokenURL := ""
	if s.deps.OAuth != nil {
		tokenURL = s.tokenURL(c)
	}
	s.writeJSON(c, http.StatusOK, scim.ServiceProviderConfig(scim.SPConfigOptions{
		OAuthTokenURL:      tokenURL,
		Location:           s.baseURL(c) + "/ServiceProviderConfig",
		FilterMaxResults:   s.cfg.MaxPageSize,
		ChangePassword:     true,
		ETagSupported:      true,
		SortSupported:      true,
		BulkSupported:      true,
		BulkMaxOperations:  s.cfg.MaxBulkOperations,
		BulkMaxPayloadSize: int(s.cfg.MaxBulkPayloadBytes),
		MaxPayloadSize:     int(s.cfg.MaxBodyBytes),
	}))
}

// GET /ResourceTypes
func (s *server) resourceTypes(c *gin.Context) {
	list := schemasOf(c).ResourceTypes(s.baseURL(c))
	s.writeJSON(c, http.StatusOK, scim.NewListResponse(len(list), 1, toAny(list)))
}

// GET /ResourceTypes/:name
func (s *server) resourceType(c *gin.Context) {
	name := c.Param("name")
	for _, rt := range schemasOf(c).ResourceTypes(s.baseURL(c)) {
		id, _ := rt["id"].(string)
		n, _ := rt["name"].(string)
		if strings.EqualFold(id, name) || strings.EqualFold(n, name) {
			s.writeJSON(c, http.StatusOK, rt)
			return
		}
	}
	s.writeError(c, scim.NotFound("ResourceType", truncateID(name)))
}

// GET /Schemas
func (s *server) schemas(c *gin.Context) {
	list := schemasOf(c).SchemaDocuments(s.baseURL(c))
	s.writeJSON(c, http.StatusOK, scim.NewListResponse(len(list), 1, toAny(list)))
}

// GET /Schemas/:urn
func (s *server) schema(c *gin.Context) {
	urn := c.Param("urn")
	for _, sc := range schemasOf(c).SchemaDocuments(s.baseURL(c)) {
		if sc["id"] == urn {
			s.writeJSON(c, http.StatusOK, sc)
			return
		}
	}
	s.writeError(c, scim.NotFound("Schema", truncateID(urn)))
}

func toAny(list []map[string]any) []any {
	out := make([]any, len(list))
	for i, m := range list {
		out[i] = m
	}
	return out
}
