package sync

// Operator jobs (full imports and drift checks) run in the background,
// with their progress in the ledger (ledger_jobs.go).

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"github.com/scimbridge/scimbridge/queue"
)

// Kinds of operator jobs.
const (
	JobImport = "import"
	JobDrift  = "drift"
)

// Job states.
const (
	JobQueued  = "queued"
	JobRunning = "running"
	JobDone    = "done"
	JobFailed  = "failed"
)

// JobStatus is an operator job's progress, kept in Redis for a week.
type JobStatus struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"`
	Tenant string `json:"tenant"`
	State  string `json:"state"`
	// Seen counts store entries read; Adopted the users adopted (import).
	Seen          int `json:"seen"`
	Adopted       int `json:"adopted"`
	GroupsAdopted int `json:"groups_adopted,omitempty"`
	// Checked counts ledger users compared; Differences the differences
	// found (drift).
	Checked     int  `json:"checked,omitempty"`
	Differences int  `json:"differences,omitempty"`
	Repair      bool `json:"repair,omitempty"`
	// Done is true once the job finished, successfully or not.
	Done    bool         `json:"done"`
	Error   string       `json:"error,omitempty"`
	Created time.Time    `json:"created"`
	Updated time.Time    `json:"updated"`
	Report  *DriftReport `json:"report,omitempty"`
}

// newJob records a job in state.
func (a *Admin) newJob(ctx context.Context, kind, tenant, state string, repair bool) (string, error) {
	id := newJobID(tenant)
	now := strconv.FormatInt(a.Ledger.now().UnixMilli(), 10)
	if err := a.Ledger.writeJob(ctx, id, "kind", kind, "tenant", tenant, "state", state, "repair", boolField(repair),
		"created", now, "updated", now); err != nil {
		return "", err
	}
	return id, nil
}

func boolField(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// updateJob sets fields of a job's record (and its updated time).
func (a *Admin) updateJob(ctx context.Context, id string, fields ...any) error {
	fields = append(fields, "updated", a.Ledger.now().UnixMilli())
	return a.Ledger.writeJob(ctx, id, fields...)
}

// finishJob records a job's end: done, or failed with err's message.
func (a *Admin) finishJob(ctx context.Context, id string, err error, fields ...any) {
	ctx = context.WithoutCancel(ctx)
	if err != nil {
		fields = append(fields, "state", JobFailed, "error", truncateReason(err.Error()))
	} else {
		fields = append(fields, "state", JobDone)
	}
	fields = append(fields, "done", "1")
	if uerr := a.updateJob(ctx, id, fields...); uerr != nil {
		a.logger().ErrorContext(ctx, "recording a job's end failed", "job", id, "err", uerr)
	}
}

func truncateReason(s string) string {
	if len(s) > 1000 {
		return s[:1000]
	}
	return s
}

// Job returns a job's progress (ErrNotFound for an unknown or expired id).
func (a *Admin) Job(ctx context.Context, id string) (*JobStatus, error) {
	f, err := a.Ledger.jobFields(ctx, id)
	if err != nil {
		return nil, err
	}
	num := func(k string) int { n, _ := strconv.Atoi(f[k]); return n }
	ms := func(k string) time.Time { n, _ := strconv.ParseInt(f[k], 10, 64); return time.UnixMilli(n).UTC() }
	j := &JobStatus{ID: id, Kind: f["kind"], Tenant: f["tenant"], State: f["state"],
		Seen: num("seen"), Adopted: num("adopted"), GroupsAdopted: num("groups_adopted"),
		Checked: num("checked"), Differences: num("differences"), Repair: f["repair"] == "1",
		Done: f["done"] == "1", Error: f["error"], Created: ms("created"), Updated: ms("updated")}
	if raw := f["report"]; raw != "" {
		j.Report = &DriftReport{}
		if err := json.Unmarshal([]byte(raw), j.Report); err != nil {
			return nil, fmt.Errorf("sync: job %q: decode report: %w", id, err)
		}
	}
	return j, nil
}

// StartImport starts a full import of the tenant's store (every entry the
// ledger does not know is adopted) as a background job on the import queue.
func (a *Admin) StartImport(ctx context.Context, tenant string) (*JobStatus, error) {
	if _, err := a.Tenants.Get(ctx, tenant); err != nil {
		return nil, err
	}
	id, err := a.newJob(ctx, JobImport, tenant, JobQueued, false)
	if err != nil {
		return nil, err
	}
	if err := a.Enqueuer.EnqueueJob(ctx, queue.TypeImport, queue.Job{ID: id, Tenant: tenant}); err != nil {
		a.finishJob(ctx, id, err)
		return nil, err
	}
	return a.Job(ctx, id)
}

// RunImport runs an import job here and now, recording its progress.
func (a *Admin) RunImport(ctx context.Context, id, tenant string) error {
	if err := a.updateJob(ctx, id, "state", JobRunning); err != nil {
		return err
	}
	_, err := a.Service.ImportUsers(ctx, tenant, func(seen, adopted int) {
		if err := a.updateJob(ctx, id, "seen", seen, "adopted", adopted); err != nil {
			a.logger().WarnContext(ctx, "recording import progress failed", "job", id, "err", err)
		}
	})
	groups := 0
	if err == nil {
		if gs := a.Service.groupStore(ctx, tenant); gs != nil {
			groups, err = a.Service.ImportGroups(ctx, tenant, gs)
		}
	}
	a.finishJob(ctx, id, err, "groups_adopted", groups)
	return err
}

func (a *Admin) processImport(ctx context.Context, t *asynq.Task) error {
	j, err := queue.ParseJob(t)
	if err != nil {
		return err
	}
	if err := a.RunImport(ctx, j.ID, j.Tenant); err != nil {
		return fmt.Errorf("sync: import job %s: %w: %w", j.ID, err, asynq.SkipRetry)
	}
	return nil
}
