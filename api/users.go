package api

import (
	"context"
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

const resourceTypeUser = syncsvc.ResourceTypeUser

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

// renderUser renders rec, projected by pr: the rendering events use too
// (sync.UserResource).
func (s *server) renderUser(c *gin.Context, rec *syncsvc.Record, pr projection) map[string]any {
	return pr.apply(schemasOf(c), syncsvc.UserResource(rec, s.baseURL(c)))
}

// writeUser answers status with the user (projected by the request's
// attributes / excludedAttributes) and its ETag.
func (s *server) writeUser(c *gin.Context, status int, rec *syncsvc.Record) {
	c.Header("ETag", etag(rec.Version))
	s.writeJSON(c, status, s.renderUser(c, rec, queryProjection(c)))
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
	s.answerListFrom(c, s.queryListRequest, s.answerUserList)
}

// POST /Users/.search
func (s *server) searchUsers(c *gin.Context) {
	s.answerListFrom(c, s.bodyListRequest, s.answerUserList)
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
			Filter: req.filter, SortBy: req.sortBy, Descending: req.descending, Schemas: schemasOf(c),
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
	c.Header("Location", s.location(c, s.userKind(), rec.ID))
	s.writeUser(c, http.StatusCreated, rec)
}

// GET /Users/:id
func (s *server) getUser(c *gin.Context) {
	if rec, ok := s.readResource(c, s.userKind()); ok {
		s.writeUser(c, http.StatusOK, rec)
	}
}

// PUT /Users/:id
func (s *server) replaceUser(c *gin.Context) {
	kind := s.userKind()
	id, body, ok := s.idAndBody(c, kind)
	if !ok {
		return
	}
	attrs, password, err := schemasOf(c).ParseUser(body)
	if err != nil {
		s.writeError(c, err)
		return
	}
	rec, ok := s.changeIfMatch(c, kind, id, func(ctx context.Context, tenant string, ifVersion int64) (*syncsvc.Record, error) {
		return s.deps.Users.ReplaceUser(ctx, tenant, id, attrs, password, ifVersion)
	})
	if ok {
		s.writeUser(c, http.StatusOK, rec)
	}
}

// PATCH /Users/:id
func (s *server) patchUser(c *gin.Context) {
	kind := s.userKind()
	id, body, ok := s.idAndBody(c, kind)
	if !ok {
		return
	}
	patch, err := schemasOf(c).ParsePatch(body)
	if err != nil {
		s.writeError(c, err)
		return
	}
	rec, ok := s.changeIfMatch(c, kind, id, func(ctx context.Context, tenant string, ifVersion int64) (*syncsvc.Record, error) {
		return s.deps.Users.PatchUser(ctx, tenant, id, patch, ifVersion)
	})
	if ok {
		s.writeUser(c, http.StatusOK, rec)
	}
}

// DELETE /Users/:id
func (s *server) deleteUser(c *gin.Context) {
	s.deleteResource(c, s.userKind(), s.deps.Users.DeleteUser)
}
