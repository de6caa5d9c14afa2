package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/scim"
	syncsvc "github.com/scimbridge/scimbridge/sync"
	"github.com/scimbridge/scimbridge/tenants"
)

// ErrorFor is the one error -> HTTP mapping of both front doors: every
// sentinel a handler can meet, wrapped as the layers wrap it, gets its
// status; the detail never echoes the error.
func TestErrorFor(t *testing.T) {
	t.Parallel()
	live := context.Background()
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	wrap := func(err error) error { return fmt.Errorf("layer: secret-value-123: %w", err) }
	dialErr := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	explicit := scim.Errorf(http.StatusTooManyRequests, "", "slow down")

	cases := []struct {
		name     string
		ctx      context.Context
		err      error
		status   int
		scimType string
	}{
		{"scim error passes through", live, fmt.Errorf("x: %w", explicit), http.StatusTooManyRequests, ""},
		{"sync not found", live, wrap(syncsvc.ErrNotFound), http.StatusNotFound, ""},
		{"tenant not found", live, wrap(tenants.ErrNotFound), http.StatusNotFound, ""},
		{"store not found", live, wrap(adapters.ErrNotFound), http.StatusNotFound, ""},
		{"uniqueness", live, wrap(syncsvc.ErrUniqueness), http.StatusConflict, scim.ScimTypeUniqueness},
		{"tenant or key exists", live, wrap(tenants.ErrExists), http.StatusConflict, ""},
		{"tenant disabled", live, wrap(tenants.ErrDisabled), http.StatusConflict, ""},
		{"version mismatch", live, wrap(syncsvc.ErrVersionMismatch), http.StatusPreconditionFailed, ""},
		{"invalid admin request", live, wrap(syncsvc.ErrInvalidRequest), http.StatusBadRequest, scim.ScimTypeInvalidValue},
		{"invalid tenant", live, wrap(tenants.ErrInvalid), http.StatusBadRequest, scim.ScimTypeInvalidValue},
		{"invalid tenant with a bad store config", live, fmt.Errorf("%w: %w", tenants.ErrInvalid, adapters.ErrConfig), http.StatusBadRequest, scim.ScimTypeInvalidValue},
		{"store config", live, wrap(adapters.ErrConfig), http.StatusBadRequest, scim.ScimTypeInvalidValue},
		{"store rejected", live, wrap(adapters.ErrRejected), http.StatusBadRequest, scim.ScimTypeInvalidValue},
		{"store already exists", live, wrap(adapters.ErrAlreadyExists), http.StatusBadRequest, scim.ScimTypeInvalidValue},
		{"unauthorized", live, tenants.ErrUnauthorized, http.StatusUnauthorized, ""},
		{"client went away", gone, wrap(context.Canceled), StatusClientClosedRequest, ""},
		{"canceled while the request lives", live, wrap(context.Canceled), http.StatusInternalServerError, ""},
		{"ledger unavailable", live, wrap(syncsvc.ErrUnavailable), http.StatusServiceUnavailable, ""},
		{"registry unavailable", live, wrap(tenants.ErrUnavailable), http.StatusServiceUnavailable, ""},
		{"store pool closed", live, wrap(tenants.ErrClosed), http.StatusServiceUnavailable, ""},
		{"store unavailable", live, wrap(adapters.ErrUnavailable), http.StatusServiceUnavailable, ""},
		{"deadline", live, wrap(context.DeadlineExceeded), http.StatusServiceUnavailable, ""},
		{"connection refused", live, wrap(dialErr), http.StatusServiceUnavailable, ""},
		{"connection reset", live, wrap(syscall.ECONNRESET), http.StatusServiceUnavailable, ""},
		{"no sealer is a server problem", live, wrap(syncsvc.ErrNoSealer), http.StatusInternalServerError, ""},
		{"anything else", live, errors.New("secret-value-123"), http.StatusInternalServerError, ""},
		// A not-found that is also an outage is a not-found: the specific
		// meaning wins over the class.
		{"not found beats unavailable", live, fmt.Errorf("%w: %w", syncsvc.ErrNotFound, adapters.ErrUnavailable), http.StatusNotFound, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			se := ErrorFor(tc.ctx, tc.err)
			if se.Status != tc.status || se.ScimType != tc.scimType {
				t.Fatalf("ErrorFor(%v) = %d %q, want %d %q", tc.err, se.Status, se.ScimType, tc.status, tc.scimType)
			}
			if se != explicit && strings.Contains(se.Detail, "secret-value") {
				t.Errorf("detail %q echoes the error", se.Detail)
			}
			if se.Detail == "" {
				t.Errorf("empty detail")
			}
		})
	}
}
