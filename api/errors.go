package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/scim"
	syncsvc "github.com/scimbridge/scimbridge/sync"
	"github.com/scimbridge/scimbridge/tenants"
)

// What an error means to an HTTP client is decided here and nowhere else:
// the SCIM front door (writeError, bulk results) and the admin API and
// console (package api/admin) both answer with ErrorFor's status. Callers
// log: a 500 is a bug or an unexpected reply (logged as an error, its
// message not shown to a SCIM client), a 503 a backend outage (a warning),
// a 499 a client that went away (info).

// StatusClientClosedRequest is the status of a request whose client went
// away before the answer (nginx's 499; nobody reads it).
const StatusClientClosedRequest = 499

// errInternal is the answer to an unexpected error: it does not echo it.
var errInternal = scim.Errorf(http.StatusInternalServerError, "", "internal server error")

// ErrorFor maps an error of any layer to the SCIM error a client sees. ctx
// is the request's context: context.Canceled is the client's doing (499)
// only when that context is done. The details are fixed texts that never
// echo err (the admin API, whose client is the operator, shows err itself).
//
//	*scim.Error                                   itself
//	sync.ErrNotFound, tenants.ErrNotFound,
//	  adapters.ErrNotFound                        404
//	sync.ErrUniqueness                            409 uniqueness
//	tenants.ErrExists                             409
//	tenants.ErrDisabled                           409
//	sync.ErrRecoverRefused                        409
//	sync.ErrVersionMismatch                       412
//	sync.ErrInvalidRequest, tenants.ErrInvalid    400 invalidValue
//	adapters.ErrConfig, adapters.ErrRejected
//	  (and ErrAlreadyExists)                      400 invalidValue
//	tenants.ErrUnauthorized                       401
//	context.Canceled, request gone                499
//	sync/tenants/adapters.ErrUnavailable,
//	  tenants.ErrClosed, a deadline, a net.Error
//	  (ECONNREFUSED, ECONNRESET, ...)             503 (answered with Retry-After)
//	sync.ErrNotReplicated (wraps ErrUnavailable:
//	  fewer than redis.min_replicas hold the write) 503 (the retry is safe)
//	anything else (sync.ErrNoSealer included)     500
//
// adapters errors are sorted by adapters.Classify, the one classifier of
// store failures.
func ErrorFor(ctx context.Context, err error) *scim.Error {
	var se *scim.Error
	switch {
	case errors.As(err, &se):
		return se
	case errors.Is(err, syncsvc.ErrNotFound), errors.Is(err, tenants.ErrNotFound):
		return scim.Errorf(http.StatusNotFound, "", "resource not found")
	case errors.Is(err, syncsvc.ErrUniqueness):
		return scim.Errorf(http.StatusConflict, scim.ScimTypeUniqueness, "a unique attribute (userName, a group's displayName, or externalId where the tenant makes it unique) is already in use")
	case errors.Is(err, tenants.ErrExists):
		return scim.Errorf(http.StatusConflict, "", "already exists")
	case errors.Is(err, tenants.ErrDisabled):
		return scim.Errorf(http.StatusConflict, "", "the tenant is disabled")
	case errors.Is(err, syncsvc.ErrRecoverRefused):
		return scim.Errorf(http.StatusConflict, "", "recover refused")
	case errors.Is(err, syncsvc.ErrVersionMismatch):
		return scim.Errorf(http.StatusPreconditionFailed, "", "the resource has changed: If-Match does not match its current version")
	case errors.Is(err, syncsvc.ErrInvalidRequest), errors.Is(err, tenants.ErrInvalid):
		return scim.Errorf(http.StatusBadRequest, scim.ScimTypeInvalidValue, "invalid request")
	case errors.Is(err, tenants.ErrUnauthorized):
		return scim.Errorf(http.StatusUnauthorized, "", "authentication failed")
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		// The client went away mid-request (a write may have been recorded:
		// the IdP retries, and the ledger is idempotent). Not a server error.
		return scim.Errorf(StatusClientClosedRequest, "", "client closed the request")
	case errors.Is(err, syncsvc.ErrUnavailable), errors.Is(err, tenants.ErrUnavailable),
		errors.Is(err, tenants.ErrClosed):
		return unavailable()
	}
	switch adapters.Classify(err) {
	case adapters.ClassNotFound:
		return scim.Errorf(http.StatusNotFound, "", "resource not found")
	case adapters.ClassConfig, adapters.ClassRejected:
		return scim.Errorf(http.StatusBadRequest, scim.ScimTypeInvalidValue, "the store refused the request")
	case adapters.ClassUnavailable:
		return unavailable()
	}
	return errInternal
}

// unavailable is the answer when a backend cannot be reached: retry.
func unavailable() *scim.Error {
	return scim.Errorf(http.StatusServiceUnavailable, "", "service temporarily unavailable, retry later")
}
