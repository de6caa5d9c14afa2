package api

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/scimbridge/scimbridge/scim"
	syncsvc "github.com/scimbridge/scimbridge/sync"
)

const resourceTypeGroup = syncsvc.ResourceTypeGroup

// renderGroup renders rec with the member user ids (nil when members were
// not loaded: the projection drops them), projected by pr: the rendering
// events use too (sync.GroupResource).
func (s *server) renderGroup(c *gin.Context, rec *syncsvc.Record, members []string, pr projection) map[string]any {
	return pr.apply(schemasOf(c), syncsvc.GroupResource(rec, members, s.baseURL(c)))
}

// writeGroup answers status with the group and its ETag; members are read
// only when the answer shows them and the caller did not pass them.
func (s *server) writeGroup(c *gin.Context, status int, rec *syncsvc.Record, members []string, known bool) {
	pr := queryProjection(c)
	if !known && pr.includes("members") {
		var err error
		if members, err = s.deps.Groups.GroupMembers(c.Request.Context(), tenantOf(c), rec.ID); err != nil {
			s.writeError(c, s.groupKind().notFound(err, rec.ID))
			return
		}
	}
	c.Header("ETag", etag(rec.Version))
	s.writeJSON(c, status, s.renderGroup(c, rec, members, pr))
}

// droppedMembers reports whether the write that returned rec left out
// members that are not users of the tenant (sync.Service.PatchGroup): the
// answer then shows the members the ledger holds, not the request's.
func droppedMembers(rec *syncsvc.Record) bool {
	return rec.Dropped.Count > 0 && rec.Dropped.Version == rec.Version
}

// groupBody parses a Group body for POST or PUT: the attributes without
// members, and the member ids.
func groupBody(set *scim.SchemaSet, m map[string]any, body []byte) (scim.Attrs, []string, error) {
	var a scim.Attrs
	var err error
	if m != nil {
		a, err = set.GroupFromObject(m)
	} else {
		a, err = set.ParseGroup(body)
	}
	if err != nil {
		return nil, nil, err
	}
	members := memberIDs(scim.MembersOf(a))
	delete(a, "members")
	return a, members, nil
}

func memberIDs(list []scim.Member) []string {
	ids := make([]string, 0, len(list))
	for _, m := range list {
		ids = append(ids, m.Value)
	}
	return ids
}

// GET /Groups
func (s *server) listGroups(c *gin.Context) {
	s.answerListFrom(c, s.queryListRequest, s.answerGroupList)
}

// POST /Groups/.search
func (s *server) searchGroups(c *gin.Context) {
	s.answerListFrom(c, s.bodyListRequest, s.answerGroupList)
}

// answerGroupList asks for members only when the answer shows them
// (excludedAttributes=members, or attributes without members, never load
// them).
func (s *server) answerGroupList(c *gin.Context, req listRequest) {
	withMembers := req.projection.includes("members")
	page, err := s.deps.Groups.SearchGroups(c.Request.Context(), tenantOf(c), syncsvc.Query{
		Filter: req.filter, SortBy: req.sortBy, Descending: req.descending, Schemas: schemasOf(c),
		StartIndex: req.start, Count: req.count, WithMembers: withMembers,
	})
	if err != nil {
		s.writeError(c, err)
		return
	}
	resources := make([]any, 0, len(page.Groups))
	for _, rec := range page.Groups {
		if len(resources) == req.count {
			break
		}
		var members []string
		if withMembers {
			members = page.Members[rec.ID]
		}
		resources = append(resources, s.renderGroup(c, rec, members, req.projection))
	}
	s.writeJSON(c, http.StatusOK, scim.NewListResponse(page.Total, req.start, resources))
}

// POST /Groups
func (s *server) createGroup(c *gin.Context) {
	body, err := s.readBody(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	attrs, members, err := groupBody(schemasOf(c), nil, body)
	if err != nil {
		s.writeError(c, err)
		return
	}
	rec, err := s.deps.Groups.CreateGroup(c.Request.Context(), tenantOf(c), attrs, members)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.Header("Location", s.location(c, s.groupKind(), rec.ID))
	s.writeGroup(c, http.StatusCreated, rec, members, !droppedMembers(rec))
}

// GET /Groups/:id
func (s *server) getGroup(c *gin.Context) {
	if rec, ok := s.readResource(c, s.groupKind()); ok {
		s.writeGroup(c, http.StatusOK, rec, nil, false)
	}
}

// PUT /Groups/:id: attributes and the whole member list replaced.
func (s *server) replaceGroup(c *gin.Context) {
	kind := s.groupKind()
	id, body, ok := s.idAndBody(c, kind)
	if !ok {
		return
	}
	attrs, members, err := groupBody(schemasOf(c), nil, body)
	if err != nil {
		s.writeError(c, err)
		return
	}
	rec, ok := s.changeIfMatch(c, kind, id, func(ctx context.Context, tenant string, ifVersion int64) (*syncsvc.Record, error) {
		return s.deps.Groups.ReplaceGroup(ctx, tenant, id, attrs, members, ifVersion)
	})
	if ok {
		s.writeGroup(c, http.StatusOK, rec, members, !droppedMembers(rec))
	}
}

// PATCH /Groups/:id answers 204 No Content (with the new ETag) unless the
// request names attributes or excludedAttributes, in which case it answers
// 200 with the group so projected. RFC 7644 §3.5.2 allows either; Okta and
// Entra accept both. A 200 with the whole group would read every member
// after a one-member change, which is what the ledger avoids for large
// groups; a client that wants the group back says which part it wants
// (excludedAttributes=members costs nothing).
func (s *server) patchGroup(c *gin.Context) {
	kind := s.groupKind()
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
		return s.deps.Groups.PatchGroup(ctx, tenant, id, patch, ifVersion)
	})
	if !ok {
		return
	}
	if queryProjection(c).empty() {
		c.Header("ETag", etag(rec.Version))
		c.Status(http.StatusNoContent)
		return
	}
	s.writeGroup(c, http.StatusOK, rec, nil, false)
}

// DELETE /Groups/:id
func (s *server) deleteGroup(c *gin.Context) {
	s.deleteResource(c, s.groupKind(), s.deps.Groups.DeleteGroup)
}
