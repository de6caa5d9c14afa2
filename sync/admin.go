package sync

// The operator's side of provisioning: each resource's sync state
// (status.go), replay of failed resources (replay.go), full imports and
// drift checks as background jobs (jobs.go, drift.go) with their progress
// in the ledger. Used by the admin API, the console and the CLI alike. (The
// mapping preview, which never touches the ledger, is adapters.PreviewUser.)

import (
	"context"
	"errors"
	"log/slog"

	"github.com/hibiken/asynq"

	"github.com/scimbridge/scimbridge/queue"
	"github.com/scimbridge/scimbridge/tenants"
)

// ErrInvalidRequest: an admin request with a bad argument (state, kind, job id).
var ErrInvalidRequest = errors.New("invalid admin request")

// TenantSource looks tenants up (*tenants.Registry satisfies it).
type TenantSource interface {
	Get(ctx context.Context, id string) (*tenants.Tenant, error)
}

// JobEnqueuer queues reconcile tasks and operator jobs (*queue.Enqueuer
// satisfies it).
type JobEnqueuer interface {
	Enqueuer
	EnqueueJob(ctx context.Context, typ string, j queue.Job) error
}

// Admin is the operator's view of provisioning.
//
// Required: every field but Logger (there are no defaults: see
// required.go). Check reports the missing ones; Register panics with its
// error, and a drift check panics when InlineDriftLimit is unset.
type Admin struct {
	Ledger   *Ledger
	Service  *Service
	Enqueuer JobEnqueuer
	Tenants  TenantSource
	Logger   *slog.Logger
	// InlineDriftLimit: a drift check of a tenant with at most this many
	// users runs in the request; larger ones run as a background job
	// (required; negative: always a job; 0 is unset).
	InlineDriftLimit int
}

func (a *Admin) logger() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}

func (a *Admin) inlineDriftLimit() int {
	return requiredNonZero("Admin", "InlineDriftLimit", a.InlineDriftLimit)
}

// Check reports the required settings that are unset.
func (a *Admin) Check() error {
	return checkRequired("Admin",
		setting{"Ledger", a.Ledger != nil},
		setting{"Service", a.Service != nil},
		setting{"Enqueuer", a.Enqueuer != nil},
		setting{"Tenants", a.Tenants != nil},
		setting{"InlineDriftLimit", a.InlineDriftLimit != 0})
}

// Register adds the operator job handlers to mux. It panics when a
// required setting is missing (Check).
func (a *Admin) Register(mux *asynq.ServeMux) {
	mustCheck(a.Check())
	mux.HandleFunc(queue.TypeImport, a.processImport)
	mux.HandleFunc(queue.TypeDriftCheck, a.processDrift)
}
