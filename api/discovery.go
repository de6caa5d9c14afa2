package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/scimbridge/scimbridge/scim"
)

// GET /ServiceProviderConfig
func (s *server) serviceProviderConfig(c *gin.Context) {
	s.writeJSON(c, http.StatusOK, scim.ServiceProviderConfig(scim.SPConfigOptions{
		Location:         s.baseURL(c) + "/ServiceProviderConfig",
		FilterMaxResults: s.cfg.MaxPageSize,
		ChangePassword:   true,
		ETagSupported:    true,
		MaxPayloadSize:   int(s.cfg.MaxBodyBytes),
	}))
}

// GET /ResourceTypes
func (s *server) resourceTypes(c *gin.Context) {
	list := scim.ResourceTypes(s.baseURL(c))
	s.writeJSON(c, http.StatusOK, scim.NewListResponse(len(list), 1, toAny(list)))
}

// GET /ResourceTypes/:name
func (s *server) resourceType(c *gin.Context) {
	name := c.Param("name")
	for _, rt := range scim.ResourceTypes(s.baseURL(c)) {
		if rt["id"] == name || rt["name"] == name {
			s.writeJSON(c, http.StatusOK, rt)
			return
		}
	}
	s.writeError(c, scim.NotFound("ResourceType", truncateID(name)))
}

// GET /Schemas
func (s *server) schemas(c *gin.Context) {
	list := scim.SchemaDocuments(s.baseURL(c))
	s.writeJSON(c, http.StatusOK, scim.NewListResponse(len(list), 1, toAny(list)))
}

// GET /Schemas/:urn
func (s *server) schema(c *gin.Context) {
	urn := c.Param("urn")
	for _, sc := range scim.SchemaDocuments(s.baseURL(c)) {
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

// GET /Groups: groups are not provisioned yet, so the list is always
// empty (Okta's connection test and spec test need a 200 here).
func (s *server) listGroups(c *gin.Context) {
	start, _, err := s.listParams(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	if expr := c.Query("filter"); expr != "" {
		if _, err := scim.ParseFilter(expr); err != nil {
			s.writeError(c, err)
			return
		}
	}
	s.writeJSON(c, http.StatusOK, scim.NewListResponse(0, start, nil))
}

// GET /Groups/:id: no group exists yet.
func (s *server) getGroup(c *gin.Context) {
	s.writeError(c, scim.NotFound("Group", truncateID(c.Param("id"))))
}

// Writes to /Groups are not implemented yet.
func (s *server) groupsNotImplemented(c *gin.Context) {
	s.writeError(c, scim.Errorf(http.StatusNotImplemented, "", "Groups are not supported yet"))
}
