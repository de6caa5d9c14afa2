package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// Operator jobs: long admin operations run by the worker on QueueImport,
// with their progress kept in Redis (sync.Admin). Task types are persisted:
// never rename.
const (
	// TypeImport adopts every entry of a tenant's store the ledger does
	// not know yet (a full import).
	TypeImport = "scimbridge:import"
	// TypeDriftCheck compares a tenant's ledger with its store and, when
	// asked, repairs the differences.
	TypeDriftCheck = "scimbridge:drift"
)

// Job is the payload of an operator job: identifiers and options only.
type Job struct {
	// ID names the job's progress record.
	ID     string `json:"id"`
	Tenant string `json:"tenant"`
	// Repair (drift checks only) re-applies the differing users.
	Repair bool `json:"repair,omitempty"`
}

// JobTimeout bounds one operator job.
const JobTimeout = 6 * time.Hour

// NewJobTask builds the task of an operator job of type typ.
func NewJobTask(typ string, j Job) (*asynq.Task, error) {
	b, err := json.Marshal(j)
	if err != nil {
		return nil, fmt.Errorf("queue: encode job: %w", err)
	}
	return asynq.NewTask(typ, b), nil
}

// ParseJob decodes an operator job's payload. A payload that does not
// decode is permanent (see Permanent).
func ParseJob(t *asynq.Task) (Job, error) {
	var j Job
	if err := json.Unmarshal(t.Payload(), &j); err != nil || j.ID == "" || j.Tenant == "" {
		return j, Permanent(ErrBadPayload)
	}
	return j, nil
}

// EnqueueJob queues an operator job of type typ on QueueImport. It is not
// retried by asynq (the job records its own failure; the operator starts a
// new one), and its task id is the job id, so a job runs at most once.
func (e *Enqueuer) EnqueueJob(ctx context.Context, typ string, j Job) error {
	t, err := NewJobTask(typ, j)
	if err != nil {
		return err
	}
	return e.enqueue(ctx, t, "job "+j.ID,
		asynq.Queue(QueueImport),
		asynq.TaskID("job:"+j.ID),
		asynq.MaxRetry(0),
		asynq.Timeout(JobTimeout),
		asynq.Retention(24*time.Hour),
	)
}
