package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/scimbridge/scimbridge/scim"
	syncsvc "github.com/scimbridge/scimbridge/sync"
)

// POST /Bulk (RFC 7644 §3.7). The body may be at most MaxBulkPayloadBytes
// and carry at most MaxBulkOperations operations (413 otherwise, nothing
// done). Operations run in order, each through the same service call as
// its single endpoint (so each is validated, ledgered, enqueued and atomic
// on its own; the request as a whole is not atomic, as the RFC says).
// "bulkId:<id>" anywhere in a path or in data (member values, a manager,
// any string) is replaced by the id the POST with that bulkId created; a
// reference to an operation that has not run or failed is 409 invalidValue
// for the referring operation. With failOnErrors n, processing stops after
// the n-th failed operation and the response lists the operations run.
// Successful operations report status, location and version; failed ones
// carry the SCIM Error as response. Once the request's deadline has passed
// no further operation is run.
func (s *server) bulk(c *gin.Context) {
	body, err := s.readBodyLimit(c, s.cfg.MaxBulkPayloadBytes)
	if err != nil {
		s.writeError(c, err)
		return
	}
	req, err := scim.ParseBulkRequest(body, s.cfg.MaxBulkOperations)
	if err != nil {
		s.writeError(c, err)
		return
	}
	created := map[string]string{}
	results := make([]scim.BulkResult, 0, len(req.Operations))
	failures := 0
	for _, op := range req.Operations {
		if c.Request.Context().Err() != nil {
			// The client went away or the deadline passed: the operations
			// not run are left out of the answer (and were not done).
			break
		}
		r := s.bulkOperation(c, op, created)
		results = append(results, r)
		if r.Status >= http.StatusBadRequest {
			failures++
			if req.FailOnErrors > 0 && failures >= req.FailOnErrors {
				break
			}
		}
	}
	s.writeJSON(c, http.StatusOK, scim.BulkResponse(results))
}

// bulkTarget is what a bulk operation's path names.
type bulkTarget struct {
	groups bool   // /Groups rather than /Users
	id     string // "" for the collection
}

func parseBulkPath(p string) (bulkTarget, bool) {
	rest := strings.TrimPrefix(strings.TrimSpace(p), "/")
	kind, id, _ := strings.Cut(rest, "/")
	var t bulkTarget
	switch {
	case strings.EqualFold(kind, "Users"):
	case strings.EqualFold(kind, "Groups"):
		t.groups = true
	default:
		return t, false
	}
	if strings.Contains(id, "/") || len(id) > maxIDLen {
		return t, false
	}
	t.id = id
	return t, true
}

// bulkOperation runs one operation and reports its result.
func (s *server) bulkOperation(c *gin.Context, op scim.BulkOperation, created map[string]string) scim.BulkResult {
	r := scim.BulkResult{Method: op.Method, BulkID: op.BulkID}
	fail := func(err error) scim.BulkResult {
		se := s.respondError(c, err)
		r.Status, r.Response = se.Status, se.Body()
		return r
	}
	resolvedPath, missing := scim.ResolveBulkIDs(op.Path, created)
	if missing == "" && op.Data != nil {
		var data any
		data, missing = scim.ResolveBulkIDs(op.Data, created)
		op.Data, _ = data.(map[string]any)
	}
	if missing != "" {
		return fail(scim.Errorf(http.StatusConflict, scim.ScimTypeInvalidValue,
			"bulkId %q does not name a resource created earlier in this request", truncateID(missing)))
	}
	target, ok := parseBulkPath(resolvedPath.(string))
	if !ok {
		return fail(scim.BadRequest(scim.ScimTypeInvalidPath, "path %q must be /Users, /Groups, /Users/{id} or /Groups/{id}", truncateID(op.Path)))
	}
	if (op.Method == http.MethodPost) != (target.id == "") {
		return fail(scim.BadRequest(scim.ScimTypeInvalidPath, "%s needs %s", op.Method,
			map[bool]string{true: "a collection path (/Users or /Groups)", false: "a resource path (/Users/{id} or /Groups/{id})"}[op.Method == http.MethodPost]))
	}
	ctx, tenant, set := c.Request.Context(), tenantOf(c), schemasOf(c)
	var rec *syncsvc.Record
	var err error
	if target.groups {
		rec, err = s.bulkGroup(ctx, tenant, set, op, target.id)
		err = s.groupKind().notFound(err, target.id)
	} else {
		rec, err = s.bulkUser(ctx, tenant, set, op, target.id)
		err = s.userKind().notFound(err, target.id)
	}
	if err != nil {
		return fail(err)
	}
	resourceType := syncsvc.ResourceTypeUser
	if target.groups {
		resourceType = syncsvc.ResourceTypeGroup
	}
	switch op.Method {
	case http.MethodDelete:
		r.Status = http.StatusNoContent
	case http.MethodPost:
		r.Status = http.StatusCreated
		if op.BulkID != "" {
			created[op.BulkID] = rec.ID
		}
	default:
		r.Status = http.StatusOK
	}
	if rec != nil {
		r.Location = syncsvc.ResourceLocation(s.baseURL(c), resourceType, rec.ID)
		r.Version = etag(rec.Version)
	}
	return r
}

func (s *server) bulkUser(ctx context.Context, tenant string, set *scim.SchemaSet, op scim.BulkOperation, id string) (*syncsvc.Record, error) {
	ifVersion, err := matchVersion(op.Version, func() (*syncsvc.Record, error) { return s.deps.Users.GetUser(ctx, tenant, id) })
	if err != nil && op.Method != http.MethodPost {
		return nil, err
	}
	switch op.Method {
	case http.MethodPost, http.MethodPut:
		a, password, err := set.UserFromObject(op.Data)
		if err != nil {
			return nil, err
		}
		if op.Method == http.MethodPost {
			return s.deps.Users.CreateUser(ctx, tenant, a, password)
		}
		return s.deps.Users.ReplaceUser(ctx, tenant, id, a, password, ifVersion)
	case http.MethodPatch:
		p, err := set.PatchFromObject(op.Data)
		if err != nil {
			return nil, err
		}
		return s.deps.Users.PatchUser(ctx, tenant, id, p, ifVersion)
	}
	return nil, s.deps.Users.DeleteUser(ctx, tenant, id, ifVersion)
}

func (s *server) bulkGroup(ctx context.Context, tenant string, set *scim.SchemaSet, op scim.BulkOperation, id string) (*syncsvc.Record, error) {
	ifVersion, err := matchVersion(op.Version, func() (*syncsvc.Record, error) { return s.deps.Groups.GetGroup(ctx, tenant, id) })
	if err != nil && op.Method != http.MethodPost {
		return nil, err
	}
	switch op.Method {
	case http.MethodPost, http.MethodPut:
		a, members, err := groupBody(set, op.Data, nil)
		if err != nil {
			return nil, err
		}
		if op.Method == http.MethodPost {
			return s.deps.Groups.CreateGroup(ctx, tenant, a, members)
		}
		return s.deps.Groups.ReplaceGroup(ctx, tenant, id, a, members, ifVersion)
	case http.MethodPatch:
		p, err := set.PatchFromObject(op.Data)
		if err != nil {
			return nil, err
		}
		return s.deps.Groups.PatchGroup(ctx, tenant, id, p, ifVersion)
	}
	return nil, s.deps.Groups.DeleteGroup(ctx, tenant, id, ifVersion)
}
