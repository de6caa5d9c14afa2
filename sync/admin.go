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

// Admin is the operator's view of provisioning. All fields but Logger and
// InlineDriftLimit are required.
type Admin struct {
	Ledger   *Ledger
	Service  *Service
	Enqueuer JobEnqueuer
	Tenants  TenantSource
	Logger   *slog.Logger
	// InlineDriftLimit: a drift check of a tenant with at most this many
	// users runs in the request; larger ones run as a background job
	// (default 1000; negative: always a job).
	InlineDriftLimit int
}

func (a *Admin) logger() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}

func (a *Admin) inlineDriftLimit() int {
	if a.InlineDriftLimit == 0 {
		return 1000
	}
	return a.InlineDriftLimit
}

// Register adds the operator job handlers to mux.
func (a *Admin) Register(mux *asynq.ServeMux) {
	mux.HandleFunc(queue.TypeImport, a.processImport)
	mux.HandleFunc(queue.TypeDriftCheck, a.processDrift)
}
