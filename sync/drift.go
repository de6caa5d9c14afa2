package sync

// Drift: the ledger's applied state compared with the store, and
// optionally repaired.

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/hibiken/asynq"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/queue"
)

// maxReported bounds the differences a drift report lists (all are counted).
const maxReported = 1000

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
	mapping, err := adapters.NewUserMapper(t.Store.Users) // once per run: parsing paths is the costly part
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
	var compared seqSet // ledger users whose entry was listed

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
			compared.add(r)
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
			if compared.has(r) {
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

// seqSet is a set of ledger users kept by their creation sequence number,
// a bit each: a drift check of a 100,000-user tenant remembers which users
// it compared in ~12 KB instead of a map of ids (several MB). A record
// without a sequence number (none is expected) falls back to its id.
type seqSet struct {
	bits  []uint64
	other map[string]bool
}

func (s *seqSet) add(r *Record) {
	if r.Seq <= 0 {
		if s.other == nil {
			s.other = map[string]bool{}
		}
		s.other[r.ID] = true
		return
	}
	w := int(r.Seq / 64)
	if w >= len(s.bits) {
		s.bits = append(s.bits, make([]uint64, w+1-len(s.bits))...)
	}
	s.bits[w] |= 1 << (r.Seq % 64)
}

func (s *seqSet) has(r *Record) bool {
	if r.Seq <= 0 {
		return s.other[r.ID]
	}
	w := int(r.Seq / 64)
	return w < len(s.bits) && s.bits[w]&(1<<(r.Seq%64)) != 0
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
