package sync

// The operator's side of provisioning: each resource's sync state, replay
// of failed resources, full imports and drift checks as background jobs
// with progress in Redis, and the mapping preview. Used by the admin API,
// the console and the CLI alike.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/queue"
	"github.com/scimbridge/scimbridge/scim"
	"github.com/scimbridge/scimbridge/tenants"
)

// ErrInvalidRequest: an admin request with a bad argument (state, kind, job id).
var ErrInvalidRequest = errors.New("invalid admin request")

// Filters of Admin.Statuses.
const (
	FilterAll     = "all"
	FilterPending = "pending"
	FilterFailed  = "failed"
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

// jobTTL is how long a job's progress record is kept.
const jobTTL = 7 * 24 * time.Hour

// maxReported bounds the differences a drift report lists (all are counted).
const maxReported = 1000

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

// keysOf returns the ledger keys of a kind ("User" or "Group").
func keysOf(tenant, kind string) (keys, error) {
	switch kind {
	case queue.KindUser:
		return userKeys(tenant), nil
	case queue.KindGroup:
		return groupKeys(tenant), nil
	}
	return keys{}, fmt.Errorf("sync: resource kind %q: %w", kind, ErrInvalidRequest)
}

// ---------------------------------------------------------------------------
// Sync state

// ResourceStatus is one resource's sync state as an operator sees it.
type ResourceStatus struct {
	ID   string `json:"id"`
	Kind string `json:"kind"`
	// Name is the userName of a user, the displayName of a group.
	Name    string `json:"name"`
	Version int64  `json:"version"`
	Applied int64  `json:"applied_version"`
	// State is applied, pending or failed. A failed resource whose replay
	// was asked for is pending again (Replayed) until the store takes it.
	State string `json:"state"`
	// Failure is the store's reason for the last permanent failure of
	// FailedVersion; it stays visible after a replay until applied.
	Failure       string    `json:"failure,omitempty"`
	FailedVersion int64     `json:"failed_version,omitempty"`
	Replayed      bool      `json:"replayed,omitempty"`
	Anchor        string    `json:"anchor,omitempty"`
	Deleted       bool      `json:"deleted,omitempty"`
	Modified      time.Time `json:"modified"`
}

// StatusPage is a page of resource states.
type StatusPage struct {
	Total     int              `json:"total"`
	Offset    int              `json:"offset"`
	Resources []ResourceStatus `json:"resources"`
}

// Summary counts a tenant's resources by state.
type Summary struct {
	Tenant        string `json:"tenant"`
	Users         int    `json:"users"`
	Groups        int    `json:"groups"`
	PendingUsers  int    `json:"pending_users"`
	PendingGroups int    `json:"pending_groups"`
	FailedUsers   int    `json:"failed_users"`
	FailedGroups  int    `json:"failed_groups"`
	// OldestPending is when the oldest pending user became dirty (zero: none).
	OldestPending time.Time `json:"oldest_pending,omitzero"`
}

// Summary counts the tenant's resources by state.
func (a *Admin) Summary(ctx context.Context, tenant string) (*Summary, error) {
	u, g := userKeys(tenant), groupKeys(tenant)
	pipe := a.Ledger.rdb.Pipeline()
	cmds := []*redis.IntCmd{
		pipe.ZCard(ctx, u.all()), pipe.ZCard(ctx, g.all()),
		pipe.ZCard(ctx, u.dirty()), pipe.ZCard(ctx, g.dirty()),
		pipe.ZCard(ctx, u.failed()), pipe.ZCard(ctx, g.failed()),
	}
	oldest := pipe.ZRangeWithScores(ctx, u.dirty(), 0, 0)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, redisErr("summary", err)
	}
	s := &Summary{Tenant: tenant,
		Users: int(cmds[0].Val()), Groups: int(cmds[1].Val()),
		PendingUsers: int(cmds[2].Val()), PendingGroups: int(cmds[3].Val()),
		FailedUsers: int(cmds[4].Val()), FailedGroups: int(cmds[5].Val()),
	}
	if z := oldest.Val(); len(z) > 0 {
		s.OldestPending = time.UnixMilli(int64(z[0].Score)).UTC()
	}
	return s, nil
}

// Statuses returns a page of the tenant's resources of kind ("User" or
// "Group") in one state: all (live resources, in creation order), pending
// (waiting for the store, oldest first, deletions included) or failed
// (rejected by the store, oldest failure first).
func (a *Admin) Statuses(ctx context.Context, tenant, kind, filter string, offset, count int) (*StatusPage, error) {
	k, err := keysOf(tenant, kind)
	if err != nil {
		return nil, err
	}
	var set string
	switch filter {
	case FilterAll, "":
		set = k.all()
	case FilterPending:
		set = k.dirty()
	case FilterFailed:
		set = k.failed()
	default:
		return nil, fmt.Errorf("sync: state %q (want all, pending or failed): %w", filter, ErrInvalidRequest)
	}
	offset = max(offset, 0)
	if count <= 0 {
		count = 100
	}
	pipe := a.Ledger.rdb.Pipeline()
	total := pipe.ZCard(ctx, set)
	page := pipe.ZRange(ctx, set, int64(offset), int64(offset+count-1))
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, redisErr("statuses", err)
	}
	res, err := a.statusesOf(ctx, k, kind, page.Val())
	if err != nil {
		return nil, err
	}
	return &StatusPage{Total: int(total.Val()), Offset: offset, Resources: res}, nil
}

// Status returns one resource's state (a deleted one too, while its
// tombstone is kept); ErrNotFound when the tenant has no such resource.
func (a *Admin) Status(ctx context.Context, tenant, kind, id string) (*ResourceStatus, error) {
	k, err := keysOf(tenant, kind)
	if err != nil {
		return nil, err
	}
	res, err := a.statusesOf(ctx, k, kind, []string{id})
	if err != nil {
		return nil, err
	}
	if len(res) == 0 {
		return nil, fmt.Errorf("sync: %s %s: %w", strings.ToLower(kind), id, ErrNotFound)
	}
	return &res[0], nil
}

// statusesOf loads the records of ids (skipping missing ones) in one round
// trip.
func (a *Admin) statusesOf(ctx context.Context, k keys, kind string, ids []string) ([]ResourceStatus, error) {
	if len(ids) == 0 {
		return []ResourceStatus{}, nil
	}
	pipe := a.Ledger.rdb.Pipeline()
	recs := make([]*redis.MapStringStringCmd, len(ids))
	for i, id := range ids {
		recs[i] = pipe.HGetAll(ctx, k.rec(id))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, redisErr("statuses", err)
	}
	out := make([]ResourceStatus, 0, len(ids))
	for i, id := range ids {
		if len(recs[i].Val()) == 0 {
			continue
		}
		r, err := recordFromFields(k.tenant, id, recs[i].Val())
		if err != nil {
			return nil, err
		}
		st := ResourceStatus{ID: id, Kind: kind, Version: r.Version, Applied: r.Applied,
			State: r.State(), Failure: r.Failure, FailedVersion: r.FailedVersion,
			Anchor: r.Anchor, Deleted: r.Deleted, Modified: r.Modified}
		if kind == queue.KindGroup {
			st.Name, _ = r.Attrs["displayName"].(string)
		} else {
			st.Name, _ = r.Attrs["userName"].(string)
		}
		// Replayed: out of the failed index, waiting for the store again.
		st.Replayed = r.Retrying
		out = append(out, st)
	}
	return out, nil
}

// ---------------------------------------------------------------------------
// Replay

// retryFailedScript takes a resource out of the failed index and marks it
// dirty again, so the next apply retries it. The failure and its version
// stay on the record for display until a version is applied.
//
// KEYS: 1 rec, 2 failed, 3 dirty. ARGV: 1 id, 2 now ms.
// Returns the desired version, or 0 when the resource was not failed.
var retryFailedScript = redis.NewScript(`
if redis.call('ZREM', KEYS[2], ARGV[1]) == 0 then return 0 end
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('ZADD', KEYS[3], 'NX', ARGV[2], ARGV[1])
redis.call('HSET', KEYS[1], 'rtry', '1')
return tonumber(redis.call('HGET', KEYS[1], 'v'))
`)

// RetryFailed takes a failed resource of kind ("User" or "Group") out of
// the failed index and marks it dirty, so it is applied again. It returns
// the desired version to enqueue, or 0 when the resource was not failed.
func (l *Ledger) RetryFailed(ctx context.Context, tenant, kind, id string) (int64, error) {
	k, err := keysOf(tenant, kind)
	if err != nil {
		return 0, err
	}
	v, err := retryFailedScript.Run(ctx, l.rdb, []string{k.rec(id), k.failed(), k.dirty()}, id, l.now().UnixMilli()).Int64()
	if err != nil {
		return 0, redisErr("retry failed", err)
	}
	return v, nil
}

// ReplayResult counts the resources a replay re-enqueued.
type ReplayResult struct {
	Users  int `json:"users"`
	Groups int `json:"groups"`
}

// maxReplay bounds one replay (the rest waits for the next one).
const maxReplay = 100000

// Replay re-enqueues every failed resource of the tenant: each leaves the
// failed index, is marked dirty and gets a reconcile task under a fresh
// task id (the archived task of the failed attempt keeps its id).
func (a *Admin) Replay(ctx context.Context, tenant string) (*ReplayResult, error) {
	if _, err := a.Tenants.Get(ctx, tenant); err != nil {
		return nil, err
	}
	res := &ReplayResult{}
	salt := "replay-" + randomHex(6)
	for _, kind := range []string{queue.KindUser, queue.KindGroup} {
		ids, err := a.Ledger.Failed(ctx, tenant, kind, maxReplay)
		if err != nil {
			return res, err
		}
		for _, id := range ids {
			v, err := a.Ledger.RetryFailed(ctx, tenant, kind, id)
			if err != nil {
				return res, err
			}
			if v == 0 {
				continue // a newer change or an apply got there first
			}
			p := queue.Reconcile{Tenant: tenant, Kind: kind, ID: id, Version: v}
			if err := a.Enqueuer.Enqueue(ctx, queue.QueueProvision, p, salt); err != nil {
				// Marked dirty already: the sweeper re-enqueues it.
				a.logger().WarnContext(ctx, "replay: enqueue failed; the sweeper will pick the resource up",
					"tenant", tenant, "kind", kind, "id", id, "err", err)
			}
			if kind == queue.KindUser {
				res.Users++
			} else {
				res.Groups++
			}
		}
	}
	return res, nil
}

// ---------------------------------------------------------------------------
// Jobs

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

// jobKey is the Redis hash of a job; the id is "<tenant>.<random>".
func jobKey(id string) (string, string, error) {
	i := strings.LastIndexByte(id, '.')
	if i <= 0 || !tenants.ValidID(id[:i]) || len(id)-i-1 != 16 {
		return "", "", fmt.Errorf("sync: job %q: %w", id, ErrNotFound)
	}
	if _, err := hex.DecodeString(id[i+1:]); err != nil {
		return "", "", fmt.Errorf("sync: job %q: %w", id, ErrNotFound)
	}
	return id[:i], "sb:{" + id[:i] + "}:job:" + id[i+1:], nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newJob records a job in state.
func (a *Admin) newJob(ctx context.Context, kind, tenant, state string, repair bool) (string, error) {
	id := tenant + "." + randomHex(8)
	_, key, _ := jobKey(id)
	now := strconv.FormatInt(a.Ledger.now().UnixMilli(), 10)
	pipe := a.Ledger.rdb.TxPipeline()
	pipe.HSet(ctx, key, "kind", kind, "tenant", tenant, "state", state, "repair", boolField(repair),
		"created", now, "updated", now)
	pipe.Expire(ctx, key, jobTTL)
	if _, err := pipe.Exec(ctx); err != nil {
		return "", redisErr("new job", err)
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
	_, key, err := jobKey(id)
	if err != nil {
		return err
	}
	fields = append(fields, "updated", a.Ledger.now().UnixMilli())
	pipe := a.Ledger.rdb.TxPipeline()
	pipe.HSet(ctx, key, fields...)
	pipe.Expire(ctx, key, jobTTL)
	if _, err := pipe.Exec(ctx); err != nil {
		return redisErr("update job", err)
	}
	return nil
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
	_, key, err := jobKey(id)
	if err != nil {
		return nil, err
	}
	f, err := a.Ledger.rdb.HGetAll(ctx, key).Result()
	if err != nil {
		return nil, redisErr("job", err)
	}
	if len(f) == 0 {
		return nil, fmt.Errorf("sync: job %q: %w", id, ErrNotFound)
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

// ---------------------------------------------------------------------------
// Drift

// Kinds of drift.
const (
	// DriftFields: the store entry's mapped fields differ from the ledger's
	// applied state.
	DriftFields = "fields"
	// DriftMissing: the ledger user's entry is not in the store.
	DriftMissing = "missing"
	// DriftUnknown: a store entry the ledger does not know.
	DriftUnknown = "unknown"
)

// FieldDiff is one store field whose value differs from the ledger's.
type FieldDiff struct {
	Field  string `json:"field"`
	Ledger string `json:"ledger"`
	Store  string `json:"store"`
}

// Drift is one difference between the ledger and the store.
type Drift struct {
	Kind     string      `json:"kind"`
	ID       string      `json:"id,omitempty"`
	UserName string      `json:"userName,omitempty"`
	Anchor   string      `json:"anchor,omitempty"`
	Fields   []FieldDiff `json:"fields,omitempty"`
	Repaired bool        `json:"repaired,omitempty"`
}

// DriftReport is the result of a drift check.
type DriftReport struct {
	Tenant string `json:"tenant"`
	// Seen counts store entries listed; Checked the ledger users compared.
	Seen    int `json:"seen"`
	Checked int `json:"checked"`
	// Skipped counts ledger users not compared: pending, failed or deleted.
	Skipped     int  `json:"skipped"`
	FieldDrifts int  `json:"field_drifts"`
	Missing     int  `json:"missing"`
	Unknown     int  `json:"unknown"`
	Repaired    int  `json:"repaired"`
	Repair      bool `json:"repair"`
	// Differences lists the first 1000 differences; Truncated says there
	// were more.
	Differences []Drift `json:"differences"`
	Truncated   bool    `json:"truncated,omitempty"`
}

// Total is the number of differences found.
func (r *DriftReport) Total() int { return r.FieldDrifts + r.Missing + r.Unknown }

func (r *DriftReport) add(d Drift) {
	switch d.Kind {
	case DriftFields:
		r.FieldDrifts++
	case DriftMissing:
		r.Missing++
	case DriftUnknown:
		r.Unknown++
	}
	if len(r.Differences) < maxReported {
		r.Differences = append(r.Differences, d)
	} else {
		r.Truncated = true
	}
}

// reapplyScript makes an applied resource pending again without a new
// desired version: the applied version drops below the desired one and the
// resource is marked dirty, so the next reconcile writes it to the store.
//
// KEYS: 1 rec, 2 dirty. ARGV: 1 id, 2 now ms. Returns the desired version,
// 0 when the resource is missing or deleted.
var reapplyScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HGET', KEYS[1], 'del') == '1' then return 0 end
local v = tonumber(redis.call('HGET', KEYS[1], 'v'))
local av = tonumber(redis.call('HGET', KEYS[1], 'av') or '0')
if av >= v then redis.call('HSET', KEYS[1], 'av', v - 1) end
redis.call('ZADD', KEYS[2], 'NX', ARGV[2], ARGV[1])
return v
`)

// MarkForReapply makes a live user pending again at its current desired
// version, so the next reconcile writes it to the store (drift repair). It
// returns the version to enqueue, or 0 when the user is gone.
func (l *Ledger) MarkForReapply(ctx context.Context, tenant, id string) (int64, error) {
	k := userKeys(tenant)
	v, err := reapplyScript.Run(ctx, l.rdb, []string{k.rec(id), k.dirty()}, id, l.now().UnixMilli()).Int64()
	if err != nil {
		return 0, redisErr("mark for reapply", err)
	}
	return v, nil
}

// DriftProgress is called as a drift check advances.
type DriftProgress func(seen, checked, differences int)

// CheckDrift compares the tenant's ledger with its store: every store entry
// is matched to the ledger user holding its anchor (and its mapped fields
// compared with that user's applied state) or reported unknown; every
// applied ledger user whose entry was not listed is looked up by userName
// and reported missing when it is not there. With repair, differing and
// missing users are marked pending again and re-enqueued (unknown entries
// are left alone: adopting them is an import).
func (a *Admin) CheckDrift(ctx context.Context, tenant string, repair bool, progress DriftProgress) (*DriftReport, error) {
	t, err := a.Tenants.Get(ctx, tenant)
	if err != nil {
		return nil, err
	}
	mapping, err := adapters.NewUserMapper(t.Store.Users)
	if err != nil {
		return nil, err
	}
	st, err := a.Service.Stores.Store(ctx, tenant)
	if err != nil {
		return nil, err
	}
	rep := &DriftReport{Tenant: tenant, Repair: repair, Differences: []Drift{}}
	report := func() {
		if progress != nil {
			progress(rep.Seen, rep.Checked, rep.Total())
		}
	}
	salt := "drift-" + randomHex(6)
	fix := func(d *Drift) error {
		if !repair {
			return nil
		}
		v, err := a.Ledger.MarkForReapply(ctx, tenant, d.ID)
		if err != nil || v == 0 {
			return err
		}
		p := queue.Reconcile{Tenant: tenant, Kind: queue.KindUser, ID: d.ID, Version: v}
		if err := a.Enqueuer.Enqueue(ctx, queue.QueueProvision, p, salt); err != nil {
			a.logger().WarnContext(ctx, "drift repair: enqueue failed; the sweeper will pick the user up",
				"tenant", tenant, "id", d.ID, "err", err)
		}
		d.Repaired = true
		rep.Repaired++
		return nil
	}
	compared := map[string]bool{} // ledger ids whose entry was listed

	// 1. Every store entry: unknown, or compared with its ledger user.
	cursor := ""
	for {
		entries, next, err := st.ListUsers(ctx, cursor, scanBatch)
		if err != nil {
			return nil, err
		}
		anchors := make([]string, len(entries))
		for i, e := range entries {
			anchors[i] = e.Anchor
		}
		owners, err := a.Ledger.userIDsByAnchor(ctx, tenant, anchors)
		if err != nil {
			return nil, err
		}
		ids := make([]string, 0, len(owners))
		for _, id := range owners {
			ids = append(ids, id)
		}
		recs, err := a.Ledger.getUsersAny(ctx, tenant, ids)
		if err != nil {
			return nil, err
		}
		byID := make(map[string]*Record, len(recs))
		for _, r := range recs {
			byID[r.ID] = r
		}
		for _, e := range entries {
			rep.Seen++
			r := byID[owners[e.Anchor]]
			if r == nil {
				un, _ := e.Attrs["userName"].(string)
				rep.add(Drift{Kind: DriftUnknown, Anchor: e.Anchor, UserName: un})
				continue
			}
			compared[r.ID] = true
			if r.Deleted || r.State() != StateApplied {
				rep.Skipped++
				continue
			}
			rep.Checked++
			diffs, err := fieldDiffs(mapping, r, e)
			if err != nil {
				return nil, err
			}
			if len(diffs) > 0 {
				d := Drift{Kind: DriftFields, ID: r.ID, UserName: userNameOf(r), Anchor: r.Anchor, Fields: diffs}
				if err := fix(&d); err != nil {
					return nil, err
				}
				rep.add(d)
			}
		}
		report()
		if next == "" || len(entries) == 0 {
			break
		}
		cursor = next
	}

	// 2. Applied ledger users whose entry was not listed.
	total, err := a.Ledger.CountUsers(ctx, tenant)
	if err != nil {
		return nil, err
	}
	for off := 0; off < total; off += scanBatch {
		ids, err := a.Ledger.UserIDs(ctx, tenant, off, scanBatch)
		if err != nil {
			return nil, err
		}
		recs, err := a.Ledger.GetUsers(ctx, tenant, ids)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			if compared[r.ID] {
				continue
			}
			if r.Anchor == "" || r.State() != StateApplied {
				rep.Skipped++
				continue
			}
			rep.Checked++
			d, err := a.lookUp(ctx, st, mapping, r)
			if err != nil {
				return nil, err
			}
			if d != nil {
				if err := fix(d); err != nil {
					return nil, err
				}
				rep.add(*d)
			}
		}
		report()
	}
	return rep, nil
}

// lookUp finds an applied user the listing did not show, by userName: its
// entry compared, or a missing drift.
func (a *Admin) lookUp(ctx context.Context, st adapters.Store, mapping *adapters.UserMapper, r *Record) (*Drift, error) {
	un := userNameOf(r)
	entries, err := st.FindUsers(ctx, adapters.MatchUserName, un)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.Anchor != r.Anchor {
			continue
		}
		diffs, err := fieldDiffs(mapping, r, e)
		if err != nil || len(diffs) == 0 {
			return nil, err
		}
		return &Drift{Kind: DriftFields, ID: r.ID, UserName: un, Anchor: r.Anchor, Fields: diffs}, nil
	}
	return &Drift{Kind: DriftMissing, ID: r.ID, UserName: un, Anchor: r.Anchor}, nil
}

func userNameOf(r *Record) string {
	s, _ := r.Attrs["userName"].(string)
	return s
}

// fieldDiffs compares the store fields the ledger's state maps to with
// those of the store entry (read back through the same mapping). An absent
// value and an empty one are the same.
func fieldDiffs(m *adapters.UserMapper, r *Record, e adapters.Entry) ([]FieldDiff, error) {
	want, err := m.Fields(adapters.User{ID: r.ID, Anchor: r.Anchor, Attrs: r.Attrs, Active: adapters.ActiveOf(r.Attrs)})
	if err != nil {
		return nil, fmt.Errorf("sync: drift of user %s: %w", r.ID, err)
	}
	got, err := m.Fields(adapters.User{ID: r.ID, Anchor: e.Anchor, Attrs: e.Attrs, Active: adapters.ActiveOf(e.Attrs)})
	if err != nil {
		// The store holds something the mapping cannot render: a difference.
		got = map[string]any{}
	}
	fields := make([]string, 0, len(want))
	for f := range want {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	var diffs []FieldDiff
	for _, f := range fields {
		w, _ := adapters.StoredString(want[f])
		g, _ := adapters.StoredString(got[f])
		if w != g {
			diffs = append(diffs, FieldDiff{Field: f, Ledger: w, Store: g})
		}
	}
	return diffs, nil
}

// StartDrift runs a drift check: in the call for a tenant with at most
// InlineDriftLimit users (the returned job is done, with its report),
// otherwise as a background job on the import queue (poll Job).
func (a *Admin) StartDrift(ctx context.Context, tenant string, repair bool) (*JobStatus, error) {
	if _, err := a.Tenants.Get(ctx, tenant); err != nil {
		return nil, err
	}
	n, err := a.Ledger.CountUsers(ctx, tenant)
	if err != nil {
		return nil, err
	}
	if limit := a.inlineDriftLimit(); limit >= 0 && n <= limit {
		id, err := a.newJob(ctx, JobDrift, tenant, JobRunning, repair)
		if err != nil {
			return nil, err
		}
		_ = a.RunDrift(ctx, id, tenant, repair) // recorded on the job
		return a.Job(ctx, id)
	}
	id, err := a.newJob(ctx, JobDrift, tenant, JobQueued, repair)
	if err != nil {
		return nil, err
	}
	if err := a.Enqueuer.EnqueueJob(ctx, queue.TypeDriftCheck, queue.Job{ID: id, Tenant: tenant, Repair: repair}); err != nil {
		a.finishJob(ctx, id, err)
		return nil, err
	}
	return a.Job(ctx, id)
}

// RunDrift runs a drift check job here and now, recording its progress
// and its report.
func (a *Admin) RunDrift(ctx context.Context, id, tenant string, repair bool) error {
	if err := a.updateJob(ctx, id, "state", JobRunning); err != nil {
		return err
	}
	rep, err := a.CheckDrift(ctx, tenant, repair, func(seen, checked, differences int) {
		if err := a.updateJob(ctx, id, "seen", seen, "checked", checked, "differences", differences); err != nil {
			a.logger().WarnContext(ctx, "recording drift progress failed", "job", id, "err", err)
		}
	})
	if err != nil {
		a.finishJob(ctx, id, err)
		return err
	}
	raw, err := json.Marshal(rep)
	if err != nil {
		a.finishJob(ctx, id, err)
		return err
	}
	a.finishJob(ctx, id, nil, "seen", rep.Seen, "checked", rep.Checked, "differences", rep.Total(), "report", raw)
	return nil
}

func (a *Admin) processDrift(ctx context.Context, t *asynq.Task) error {
	j, err := queue.ParseJob(t)
	if err != nil {
		return err
	}
	if err := a.RunDrift(ctx, j.ID, j.Tenant, j.Repair); err != nil {
		return fmt.Errorf("sync: drift job %s: %w: %w", j.ID, err, asynq.SkipRetry)
	}
	return nil
}

// ---------------------------------------------------------------------------
// Preview

// Preview is what a SCIM user would become in the tenant's store.
type Preview struct {
	Tenant string `json:"tenant"`
	Kind   string `json:"store_kind"`
	// Table and Key are the SQL table and its key column ("" for LDAP).
	Table string `json:"table,omitempty"`
	Key   string `json:"key,omitempty"`
	// Fields are the columns or LDAP attributes written, with their values
	// (null: cleared on update, left to the store's default on create).
	Fields map[string]any `json:"fields"`
	// Password says what happens to a password in the request.
	Password string `json:"password,omitempty"`
	// Unmapped lists the request's attributes written nowhere.
	Unmapped []string `json:"unmapped"`
}

// Preview parses a SCIM user as the tenant's front door would and returns
// the store fields it maps to. Nothing is written. A bad body is a
// *scim.Error.
func (a *Admin) Preview(ctx context.Context, tenant string, body []byte) (*Preview, error) {
	t, err := a.Tenants.Get(ctx, tenant)
	if err != nil {
		return nil, err
	}
	ss := scim.DefaultSchemaSet()
	if t.Schema != nil {
		if ss, err = t.Schema.SchemaSet(); err != nil {
			return nil, fmt.Errorf("sync: preview: tenant schema: %w", err)
		}
	}
	attrs, password, err := ss.ParseUser(body)
	if err != nil {
		return nil, err
	}
	m := t.Store.Users
	fields, err := m.Fields(adapters.User{Attrs: attrs, Active: adapters.ActiveOf(attrs)})
	if err != nil {
		return nil, err
	}
	p := &Preview{Tenant: tenant, Kind: t.Store.Kind, Fields: fields, Unmapped: []string{}}
	if t.Store.Kind != "ldap" {
		p.Table, p.Key = m.Table, m.Key
	}
	switch {
	case password == nil:
	case m.Password == nil:
		p.Password = "ignored: passwords are not mapped for this tenant"
	default:
		hash := m.Password.Hash
		if hash == "" {
			hash = "argon2id"
		}
		p.Password = fmt.Sprintf("written to %s, hashed with %s", m.Password.Column, hash)
	}
	for attr := range attrs {
		if attr == "active" && m.Active != nil {
			continue
		}
		mapped := false
		for path := range m.Attributes {
			lp, la := strings.ToLower(path), strings.ToLower(attr)
			if lp == la || strings.HasPrefix(lp, la+".") || strings.HasPrefix(lp, la+"[") || strings.HasPrefix(lp, la+":") {
				mapped = true
				break
			}
		}
		if !mapped {
			p.Unmapped = append(p.Unmapped, attr)
		}
	}
	sort.Strings(p.Unmapped)
	return p, nil
}
