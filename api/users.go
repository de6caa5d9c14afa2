package api

import (
	"fmt"
	"net/http"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/scimbridge/scimbridge/scim"
	syncsvc "github.com/scimbridge/scimbridge/sync"
)

// maxIDLen bounds the resource ids the service is asked about; longer or
// odd ids are answered 404 here.
const maxIDLen = 256

const resourceTypeUser = "User"

// resourceID returns the :id path parameter, or a 404 SCIM error when it
// cannot be the id of any resource (so the service never sees it).
func resourceID(c *gin.Context, resourceType string) (string, error) {
	id := c.Param("id")
	if id == "" || len(id) > maxIDLen || !utf8.ValidString(id) {
		return "", scim.NotFound(resourceType, truncateID(id))
	}
	for _, r := range id {
		if r < ' ' || r == 0x7f {
			return "", scim.NotFound(resourceType, truncateID(id))
		}
	}
	return id, nil
}

func truncateID(id string) string {
	if len(id) > 64 {
		return id[:64] + "..."
	}
	return id
}

// userMeta is the meta attribute of a user record.
func (s *server) userMeta(c *gin.Context, rec *syncsvc.Record) scim.Meta {
	return scim.Meta{
		ResourceType: resourceTypeUser,
		Created:      rec.Created,
		LastModified: rec.Modified,
		Version:      etag(rec.Version),
		Location:     s.baseURL(c) + "/Users/" + rec.ID,
	}
}

// renderUser renders rec, projected by pr.
func (s *server) renderUser(c *gin.Context, rec *syncsvc.Record, pr projection) map[string]any {
	rendered := scim.RenderUser(rec.ID, rec.Attrs, s.userMeta(c, rec))
	return pr.apply(schemasOf(c), rendered)
}

// writeUser answers status with the user (projected by the request's
// attributes / excludedAttributes) and its ETag.
func (s *server) writeUser(c *gin.Context, status int, rec *syncsvc.Record) {
	c.Header("ETag", etag(rec.Version))
	s.writeJSON(c, status, s.renderUser(c, rec, queryProjection(c)))
}

// ifMatchVersion turns the If-Match header into the ifVersion the service
// takes (see matchVersion), reading the user when the tags need it.
func (s *server) ifMatchVersion(c *gin.Context, id string) (int64, error) {
	return matchVersion(c.GetHeader("If-Match"), func() (*syncsvc.Record, error) {
		return s.deps.Users.GetUser(c.Request.Context(), tenantOf(c), id)
	})
}

// matchVersion turns an If-Match value into the ifVersion the service
// takes: 0 (unconditional) without one or with "*", the version of a
// single tag, or, for several or unusual tags, the current version (read
// with current) when one of them names it (ErrVersionMismatch otherwise).
func matchVersion(header string, current func() (*syncsvc.Record, error)) (int64, error) {
	if header == "" {
		return 0, nil
	}
	tags := entityTags(header)
	if v, ok := singleVersion(tags); ok {
		return v, nil
	}
	rec, err := current()
	if err != nil {
		return 0, err
	}
	if !tagsMatch(tags, rec.Version) {
		return 0, fmt.Errorf("api: If-Match %q, current version %d: %w", header, rec.Version, syncsvc.ErrVersionMismatch)
	}
	return rec.Version, nil
}

// GET /Users
func (s *server) listUsers(c *gin.Context) {
	req, err := s.queryListRequest(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	s.answerUserList(c, req)
}

// POST /Users/.search
func (s *server) searchUsers(c *gin.Context) {
	req, err := s.bodyListRequest(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	s.answerUserList(c, req)
}

// answerUserList runs a user list or search: unsorted lists go through
// ListUsers (which also imports store-only users), sorted ones through
// SearchUsers.
func (s *server) answerUserList(c *gin.Context, req listRequest) {
	ctx, tenant := c.Request.Context(), tenantOf(c)
	var records []*syncsvc.Record
	var total int
	var err error
	if req.sortBy == "" {
		records, total, err = s.deps.Users.ListUsers(ctx, tenant, req.filter, req.start, req.count)
	} else {
		records, total, err = s.deps.Groups.SearchUsers(ctx, tenant, syncsvc.Query{
			Filter: req.filter, SortBy: req.sortBy, Descending: req.descending,
			StartIndex: req.start, Count: req.count,
		})
	}
	if err != nil {
		s.writeError(c, err)
		return
	}
	resources := make([]any, 0, len(records))
	for _, rec := range records {
		if len(resources) == req.count {
			break
		}
		resources = append(resources, s.renderUser(c, rec, req.projection))
	}
	s.writeJSON(c, http.StatusOK, scim.NewListResponse(total, req.start, resources))
}

// POST /Users
func (s *server) createUser(c *gin.Context) {
	body, err := s.readBody(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	attrs, password, err := schemasOf(c).ParseUser(body)
	if err != nil {
		s.writeError(c, err)
		return
	}
	rec, err := s.deps.Users.CreateUser(c.Request.Context(), tenantOf(c), attrs, password)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.Header("Location", s.baseURL(c)+"/Users/"+rec.ID)
	s.writeUser(c, http.StatusCreated, rec)
}

// GET /Users/:id
func (s *server) getUser(c *gin.Context) {
	id, err := resourceID(c, resourceTypeUser)
	if err != nil {
		s.writeError(c, err)
		return
	}
	rec, err := s.deps.Users.GetUser(c.Request.Context(), tenantOf(c), id)
	if err != nil {
		s.writeError(c, userNotFound(err, id))
		return
	}
	if h := c.GetHeader("If-None-Match"); h != "" && tagsMatch(entityTags(h), rec.Version) {
		c.Header("ETag", etag(rec.Version))
		c.Status(http.StatusNotModified)
		return
	}
	s.writeUser(c, http.StatusOK, rec)
}

// PUT /Users/:id
func (s *server) replaceUser(c *gin.Context) {
	id, err := resourceID(c, resourceTypeUser)
	if err != nil {
		s.writeError(c, err)
		return
	}
	body, err := s.readBody(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	attrs, password, err := schemasOf(c).ParseUser(body)
	if err != nil {
		s.writeError(c, err)
		return
	}
	ifVersion, err := s.ifMatchVersion(c, id)
	if err != nil {
		s.writeError(c, userNotFound(err, id))
		return
	}
	rec, err := s.deps.Users.ReplaceUser(c.Request.Context(), tenantOf(c), id, attrs, password, ifVersion)
	if err != nil {
		s.writeError(c, userNotFound(err, id))
		return
	}
	s.writeUser(c, http.StatusOK, rec)
}

// PATCH /Users/:id
func (s *server) patchUser(c *gin.Context) {
	id, err := resourceID(c, resourceTypeUser)
	if err != nil {
		s.writeError(c, err)
		return
	}
	body, err := s.readBody(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	patch, err := schemasOf(c).ParsePatch(body)
	if err != nil {
		s.writeError(c, err)
		return
	}
	ifVersion, err := s.ifMatchVersion(c, id)
	if err != nil {
		s.writeError(c, userNotFound(err, id))
		return
	}
	rec, err := s.deps.Users.PatchUser(c.Request.Context(), tenantOf(c), id, patch, ifVersion)
	if err != nil {
		s.writeError(c, userNotFound(err, id))
		return
	}
	s.writeUser(c, http.StatusOK, rec)
}

// DELETE /Users/:id
func (s *server) deleteUser(c *gin.Context) {
	id, err := resourceID(c, resourceTypeUser)
	if err != nil {
		s.writeError(c, err)
		return
	}
	ifVersion, err := s.ifMatchVersion(c, id)
	if err != nil {
		s.writeError(c, userNotFound(err, id))
		return
	}
	if err := s.deps.Users.DeleteUser(c.Request.Context(), tenantOf(c), id, ifVersion); err != nil {
		s.writeError(c, userNotFound(err, id))
		return
	}
	c.Status(http.StatusNoContent)
}

// userNotFound gives ErrNotFound the detail naming the id; other errors
// pass unchanged.
func userNotFound(err error, id string) error {
	if isNotFound(err) {
		return scim.NotFound(resourceTypeUser, id)
	}
	return err
}
