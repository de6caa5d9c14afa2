package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/gin-gonic/gin"

	"github.com/scimbridge/scimbridge/scim"
	syncsvc "github.com/scimbridge/scimbridge/sync"
)

// ContentType is the Content-Type of every answer.
const ContentType = scim.MediaType + "; charset=utf-8"

// RetryAfterSeconds is the Retry-After of a 503 answer.
const RetryAfterSeconds = "5"

// writeJSON answers status with v as SCIM JSON (scim.AppendJSON: the bytes of
// encoding/json, newline included, into a pooled buffer).
func (s *server) writeJSON(c *gin.Context, status int, v any) {
	bp := jsonBuffers.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= maxPooledJSON {
			jsonBuffers.Put(bp)
		}
	}()
	b, err := scim.AppendJSON((*bp)[:0], v)
	if err != nil {
		s.writeError(c, fmt.Errorf("api: encode response: %w", err))
		return
	}
	b = append(b, '\n')
	*bp = b
	c.Data(status, ContentType, b) // written before it returns: the buffer can go back
}

// jsonBuffers holds response buffers; one larger than maxPooledJSON (a big
// list page) is left to the collector rather than kept.
var jsonBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

const maxPooledJSON = 64 << 10

// writeError answers with the SCIM error err maps to (see respondError) and
// aborts the handler chain.
func (s *server) writeError(c *gin.Context, err error) {
	se := s.respondError(c, err)
	if se.Status == http.StatusServiceUnavailable {
		c.Header("Retry-After", RetryAfterSeconds)
	}
	c.Abort()
	status := se.Status
	b, mErr := json.Marshal(se.Body())
	if mErr != nil { // cannot happen: the body is strings only
		b = []byte(`{"schemas":["` + scim.SchemaError + `"],"status":"500","detail":"internal server error"}`)
		status = http.StatusInternalServerError
	}
	c.Data(status, ContentType, b)
}

// respondError is ErrorFor (the one error -> SCIM/HTTP mapping) plus the
// SCIM front door's logging: an error that is already a *scim.Error was
// answered on purpose; otherwise a client that went away is noted, an
// outage warned of and anything unexpected logged as an error (the answer
// does not echo it).
func (s *server) respondError(c *gin.Context, err error) *scim.Error {
	ctx := c.Request.Context()
	se := ErrorFor(ctx, err)
	var answer *scim.Error
	if errors.As(err, &answer) {
		return se
	}
	switch se.Status {
	case StatusClientClosedRequest:
		s.log.InfoContext(ctx, "api: client closed the request", "request_id", requestIDOf(c), "tenant", tenantOf(c))
	case http.StatusServiceUnavailable:
		s.log.WarnContext(ctx, "api: backend unavailable", "request_id", requestIDOf(c), "tenant", tenantOf(c), "error", err)
	case http.StatusInternalServerError:
		s.log.ErrorContext(ctx, "api: internal error", "request_id", requestIDOf(c), "tenant", tenantOf(c), "error", err)
	}
	return se
}

// isNotFound reports whether err is the service's ErrNotFound (and not
// already a SCIM error with its own detail).
func isNotFound(err error) bool {
	var se *scim.Error
	if errors.As(err, &se) {
		return false
	}
	return errors.Is(err, syncsvc.ErrNotFound)
}
