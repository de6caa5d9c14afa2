package api

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"sync"
	"syscall"

	"github.com/gin-gonic/gin"

	"github.com/scimbridge/scimbridge/scim"
	syncsvc "github.com/scimbridge/scimbridge/sync"
	"github.com/scimbridge/scimbridge/tenants"
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
		s.log.ErrorContext(c.Request.Context(), "api: encode response", "request_id", requestIDOf(c), "error", err)
		s.writeError(c, errInternal)
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

var errInternal = scim.Errorf(http.StatusInternalServerError, "", "internal server error")

// writeError answers with the SCIM error err maps to (see scimError) and
// aborts the handler chain.
func (s *server) writeError(c *gin.Context, err error) {
	se := s.scimError(c, err)
	if se.Status == http.StatusServiceUnavailable {
		c.Header("Retry-After", RetryAfterSeconds)
	}
	c.Abort()
	b, mErr := json.Marshal(se.Body())
	if mErr != nil { // cannot happen: the body is strings only
		b = []byte(`{"schemas":["` + scim.SchemaError + `"],"status":"500","detail":"internal server error"}`)
		se.Status = http.StatusInternalServerError
	}
	c.Data(se.Status, ContentType, b)
}

// scimError maps an error of any layer to the SCIM error the client sees.
// This is the one place where error meaning becomes an HTTP status.
// Unexpected errors are logged and answered with a generic 500 that does
// not echo them.
func (s *server) scimError(c *gin.Context, err error) *scim.Error {
	var se *scim.Error
	switch {
	case errors.As(err, &se):
		return se
	case errors.Is(err, syncsvc.ErrNotFound):
		return scim.Errorf(http.StatusNotFound, "", "resource not found")
	case errors.Is(err, syncsvc.ErrUniqueness):
		return scim.Errorf(http.StatusConflict, scim.ScimTypeUniqueness, "a unique attribute (userName, externalId or a group displayName) is already in use")
	case errors.Is(err, syncsvc.ErrVersionMismatch):
		return scim.Errorf(http.StatusPreconditionFailed, "", "the resource has changed: If-Match does not match its current version")
	case errors.Is(err, context.Canceled) && c.Request.Context().Err() != nil:
		// The client went away mid-request (the write may have been
		// recorded: the IdP retries, and the ledger is idempotent). Nobody
		// reads this answer; it is not a server error.
		s.log.InfoContext(c.Request.Context(), "api: client closed the request", "request_id", requestIDOf(c), "tenant", tenantOf(c))
		return scim.Errorf(499, "", "client closed the request")
	case isUnavailable(err):
		s.log.WarnContext(c.Request.Context(), "api: backend unavailable", "request_id", requestIDOf(c), "tenant", tenantOf(c), "error", err)
		return scim.Errorf(http.StatusServiceUnavailable, "", "service temporarily unavailable, retry later")
	}
	s.log.ErrorContext(c.Request.Context(), "api: internal error", "request_id", requestIDOf(c), "tenant", tenantOf(c), "error", err)
	return errInternal
}

// isUnavailable reports whether err means a backend (Redis) could not be
// reached, so the client should retry.
func isUnavailable(err error) bool {
	if errors.Is(err, syncsvc.ErrUnavailable) || errors.Is(err, tenants.ErrUnavailable) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) {
		return true
	}
	var netErr net.Error
	return errors.As(err, &netErr)
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
