package api

import (
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/scimbridge/scimbridge/scim"
)

// projection is a request's attributes / excludedAttributes (RFC 7644
// §3.9), applied to every resource the request answers with.
type projection struct {
	attributes, excluded []string
}

// queryProjection reads the attributes / excludedAttributes parameters.
func queryProjection(c *gin.Context) projection {
	return projection{
		attributes: splitAttributeList(c.Query("attributes")),
		excluded:   splitAttributeList(c.Query("excludedAttributes")),
	}
}

// empty reports whether the request named no attributes at all.
func (p projection) empty() bool { return len(p.attributes) == 0 && len(p.excluded) == 0 }

func (p projection) apply(set *scim.SchemaSet, rendered map[string]any) map[string]any {
	if p.empty() {
		return rendered
	}
	return set.Project(rendered, p.attributes, p.excluded)
}

// includes reports whether the answer keeps the core attribute name, so
// that what would be dropped (members) is never loaded.
func (p projection) includes(name string) bool {
	return scim.Includes(name, p.attributes, p.excluded)
}

// listRequest is a list (GET with query parameters) or search (POST
// .search with a SearchRequest body), validated.
type listRequest struct {
	filter     *scim.Filter
	sortBy     string
	descending bool
	start      int
	count      int
	projection projection
}

// queryListRequest reads a GET list's parameters: filter, sortBy,
// sortOrder, startIndex, count (a missing count is the default page size,
// a larger one is capped at MaxPageSize, which /ServiceProviderConfig
// announces as filter.maxResults), attributes, excludedAttributes.
func (s *server) queryListRequest(c *gin.Context) (listRequest, error) {
	countParam, ok := c.GetQuery("count")
	if !ok || countParam == "" {
		countParam = strconv.Itoa(s.cfg.DefaultPageSize)
	}
	return s.listRequest(c, c.Query("filter"), c.Query("sortBy"), c.Query("sortOrder"),
		c.Query("startIndex"), countParam, queryProjection(c))
}

// bodyListRequest reads a SearchRequest body (POST /Users/.search).
func (s *server) bodyListRequest(c *gin.Context) (listRequest, error) {
	body, err := s.readBody(c)
	if err != nil {
		return listRequest{}, err
	}
	sr, err := scim.ParseSearchRequest(body)
	if err != nil {
		return listRequest{}, err
	}
	start, count := "", strconv.Itoa(s.cfg.DefaultPageSize)
	if sr.StartIndex != nil {
		start = strconv.Itoa(*sr.StartIndex)
	}
	if sr.Count != nil {
		count = strconv.Itoa(*sr.Count)
	}
	pr := projection{}
	for _, a := range sr.Attributes {
		pr.attributes = append(pr.attributes, splitAttributeList(a)...)
	}
	for _, a := range sr.ExcludedAttributes {
		pr.excluded = append(pr.excluded, splitAttributeList(a)...)
	}
	return s.listRequest(c, sr.Filter, sr.SortBy, sr.SortOrder, start, count, pr)
}

func (s *server) listRequest(c *gin.Context, filter, sortBy, sortOrder, start, count string, pr projection) (listRequest, error) {
	set := schemasOf(c)
	req := listRequest{sortBy: sortBy, projection: pr}
	var err error
	if req.start, req.count, err = scim.ParseListParams(start, count, s.cfg.MaxPageSize); err != nil {
		return req, err
	}
	if filter != "" {
		if req.filter, err = set.ParseFilter(filter); err != nil {
			return req, err
		}
	}
	if sortBy != "" {
		if err := set.ValidSortBy(sortBy); err != nil {
			return req, err
		}
	}
	if req.descending, err = scim.ParseSortOrder(sortOrder); err != nil {
		return req, err
	}
	return req, nil
}
