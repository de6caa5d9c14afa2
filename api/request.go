package api

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/scimbridge/scimbridge/scim"
)

// readBody returns the request body after checking its media type and
// size: application/scim+json or application/json (any parameters; a
// missing Content-Type is taken as JSON), at most MaxBodyBytes.
func (s *server) readBody(c *gin.Context) ([]byte, error) {
	return s.readBodyLimit(c, s.cfg.MaxBodyBytes)
}

// readBodyLimit is readBody with its own size limit (POST /Bulk).
func (s *server) readBodyLimit(c *gin.Context, limit int64) ([]byte, error) {
	if ct := c.GetHeader("Content-Type"); ct != "" {
		mediaType, _, err := mime.ParseMediaType(ct)
		if err != nil || (mediaType != scim.MediaType && mediaType != "application/json") {
			return nil, scim.Errorf(http.StatusUnsupportedMediaType, "",
				"unsupported Content-Type %q: send application/scim+json or application/json", ct)
		}
	}
	if c.Request.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, limit))
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return nil, tooLarge(limit)
		}
		return nil, scim.BadRequest(scim.ScimTypeInvalidSyntax, "could not read the request body")
	}
	if len(body) == 0 {
		return nil, scim.BadRequest(scim.ScimTypeInvalidSyntax, "the request body is empty")
	}
	return body, nil
}

func tooLarge(limit int64) *scim.Error {
	return scim.Errorf(http.StatusRequestEntityTooLarge, "", "request body larger than the limit of %d bytes", limit)
}

// etag is the weak entity tag of a version: W/"3".
func etag(version int64) string {
	return `W/"` + strconv.FormatInt(version, 10) + `"`
}

// entityTags splits an If-Match / If-None-Match header into its tags with
// the weakness prefix and quotes removed ("*" stays "*"). A tag that is not
// a version number is kept as written; it matches no version.
func entityTags(header string) []string {
	var tags []string
	for _, part := range strings.Split(header, ",") {
		t := strings.TrimSpace(part)
		if t == "" {
			continue
		}
		if len(t) > 2 && (t[:2] == "W/" || t[:2] == "w/") {
			t = t[2:]
		}
		if len(t) >= 2 && t[0] == '"' && t[len(t)-1] == '"' {
			t = t[1 : len(t)-1]
		}
		tags = append(tags, t)
	}
	return tags
}

// tagsMatch reports whether any of tags is "*" or names version.
func tagsMatch(tags []string, version int64) bool {
	v := strconv.FormatInt(version, 10)
	for _, t := range tags {
		if t == "*" || t == v {
			return true
		}
	}
	return false
}

// singleVersion returns the version named by tags when they are exactly one
// version number ("*" or nothing gives 0, unconditional), and false when
// the tags need the current version to decide (several tags or tags that
// are not version numbers).
func singleVersion(tags []string) (int64, bool) {
	if len(tags) == 0 {
		return 0, true
	}
	for _, t := range tags {
		if t == "*" {
			return 0, true
		}
	}
	if len(tags) != 1 {
		return 0, false
	}
	return tagVersion(tags[0])
}

// tagVersion is the version a tag names: a positive integer written as
// etag writes it (no sign, no leading zeros).
func tagVersion(tag string) (int64, bool) {
	v, err := strconv.ParseInt(tag, 10, 64)
	if err != nil || v <= 0 || strconv.FormatInt(v, 10) != tag {
		return 0, false
	}
	return v, true
}

// splitAttributeList splits an attributes / excludedAttributes parameter
// ("userName,name.givenName") into its names.
func splitAttributeList(v string) []string {
	var names []string
	for _, n := range strings.Split(v, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	return names
}
