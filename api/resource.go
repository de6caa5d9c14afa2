package api

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/scimbridge/scimbridge/scim"
	syncsvc "github.com/scimbridge/scimbridge/sync"
)

// resourceKind is what the handlers shared by /Users and /Groups need to
// know about one resource type.
type resourceKind struct {
	name string // meta.resourceType and the 404 detail: "User", "Group"
	// get reads the current record, for If-Match tags that need it and GET.
	get func(ctx context.Context, tenant, id string) (*syncsvc.Record, error)
}

func (s *server) userKind() resourceKind {
	return resourceKind{name: resourceTypeUser,
		get: func(ctx context.Context, tenant, id string) (*syncsvc.Record, error) {
			return s.deps.Users.GetUser(ctx, tenant, id)
		}}
}

func (s *server) groupKind() resourceKind {
	return resourceKind{name: resourceTypeGroup,
		get: func(ctx context.Context, tenant, id string) (*syncsvc.Record, error) {
			return s.deps.Groups.GetGroup(ctx, tenant, id)
		}}
}

// notFound gives ErrNotFound the detail naming the id; other errors pass
// unchanged.
func (k resourceKind) notFound(err error, id string) error {
	if isNotFound(err) {
		return scim.NotFound(k.name, id)
	}
	return err
}

// location is the URL of the resource id.
func (s *server) location(c *gin.Context, k resourceKind, id string) string {
	return syncsvc.ResourceLocation(s.baseURL(c), k.name, id)
}

// answerListFrom answers GET /Users or /Groups (read is queryListRequest)
// and POST .../.search (bodyListRequest): the list request read with read,
// then answered by answer.
func (s *server) answerListFrom(c *gin.Context, read func(*gin.Context) (listRequest, error), answer func(*gin.Context, listRequest)) {
	req, err := read(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	answer(c, req)
}

// readResource is GET /Users/:id and /Groups/:id up to the answer: the
// record, or 304 with the ETag when If-None-Match names its version. ok is
// false when the answer (304 or an error) was written here.
func (s *server) readResource(c *gin.Context, k resourceKind) (rec *syncsvc.Record, ok bool) {
	id, err := resourceID(c, k.name)
	if err != nil {
		s.writeError(c, err)
		return nil, false
	}
	rec, err = k.get(c.Request.Context(), tenantOf(c), id)
	if err != nil {
		s.writeError(c, k.notFound(err, id))
		return nil, false
	}
	if h := c.GetHeader("If-None-Match"); h != "" && tagsMatch(entityTags(h), rec.Version) {
		c.Header("ETag", etag(rec.Version))
		c.Status(http.StatusNotModified)
		return nil, false
	}
	return rec, true
}

// idAndBody reads the :id of a PUT or PATCH and its body. ok is false when
// the error was answered here.
func (s *server) idAndBody(c *gin.Context, k resourceKind) (id string, body []byte, ok bool) {
	id, err := resourceID(c, k.name)
	if err != nil {
		s.writeError(c, err)
		return "", nil, false
	}
	if body, err = s.readBody(c); err != nil {
		s.writeError(c, err)
		return "", nil, false
	}
	return id, body, true
}

// ifMatchVersion turns the If-Match header into the ifVersion the service
// takes (see matchVersion), reading the resource id when the tags need it.
func (s *server) ifMatchVersion(c *gin.Context, k resourceKind, id string) (int64, error) {
	return matchVersion(c.GetHeader("If-Match"), func() (*syncsvc.Record, error) {
		return k.get(c.Request.Context(), tenantOf(c), id)
	})
}

// changeIfMatch runs change (a PUT, PATCH or DELETE of id) with the version
// If-Match asks for. A failure of either is answered here, a not-found
// naming id; ok is false when it was.
func (s *server) changeIfMatch(c *gin.Context, k resourceKind, id string, change func(ctx context.Context, tenant string, ifVersion int64) (*syncsvc.Record, error)) (rec *syncsvc.Record, ok bool) {
	ifVersion, err := s.ifMatchVersion(c, k, id)
	if err != nil {
		s.writeError(c, k.notFound(err, id))
		return nil, false
	}
	rec, err = change(c.Request.Context(), tenantOf(c), ifVersion)
	if err != nil {
		s.writeError(c, k.notFound(err, id))
		return nil, false
	}
	return rec, true
}

// deleteResource is DELETE /Users/:id and /Groups/:id, deleting with del.
func (s *server) deleteResource(c *gin.Context, k resourceKind, del func(ctx context.Context, tenant, id string, ifVersion int64) error) {
	id, err := resourceID(c, k.name)
	if err != nil {
		s.writeError(c, err)
		return
	}
	_, ok := s.changeIfMatch(c, k, id, func(ctx context.Context, tenant string, ifVersion int64) (*syncsvc.Record, error) {
		return nil, del(ctx, tenant, id, ifVersion)
	})
	if ok {
		c.Status(http.StatusNoContent)
	}
}
