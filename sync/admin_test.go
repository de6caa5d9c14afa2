package sync

import (
	"context"
	"errors"
	gosync "sync"
	"testing"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/queue"
	"github.com/scimbridge/scimbridge/tenants"
)

// jobRecorder is a recordingEnqueuer that also keeps operator jobs.
type jobRecorder struct {
	*recordingEnqueuer
	mu   gosync.Mutex
	jobs []queue.Job
}

func (j *jobRecorder) EnqueueJob(_ context.Context, _ string, job queue.Job) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.jobs = append(j.jobs, job)
	return nil
}

// fixtureTenant describes the SQLite fixture's tenant (the same mapping
// newSQLiteFixture opens the store with).
type fixtureTenant struct{ t tenants.Tenant }

func (f fixtureTenant) Get(_ context.Context, id string) (*tenants.Tenant, error) {
	if id != f.t.ID {
		return nil, tenants.ErrNotFound
	}
	t := f.t
	return &t, nil
}

func adminSetup(t *testing.T) (*bundle, *Admin, *jobRecorder) {
	t.Helper()
	b := setup(t)
	jr := &jobRecorder{recordingEnqueuer: b.enq}
	b.svc.Enqueuer = jr
	ten := tenants.Tenant{ID: b.tenant, Store: adapters.Config{Kind: "sqlite", DSN: "unused",
		Users: adapters.UserMapping{
			Table: "users", Key: "id",
			Attributes: map[string]string{
				"userName": "username", "name.givenName": "given_name", "name.familyName": "family_name",
				`emails[type eq "work"].value`: "email", "externalId": "external_id", "title": "title",
			},
			Active: &adapters.ActiveMapping{Column: "active", Active: "1", Inactive: "0"},
		}}}
	return b, &Admin{Ledger: b.ledger, Service: b.svc, Enqueuer: jr, Tenants: fixtureTenant{ten}, InlineDriftLimit: testInlineDrift}, jr
}

// applyAll delivers every queued reconcile task.
func (b *bundle) applyAll(t *testing.T) {
	t.Helper()
	for _, p := range b.enq.take() {
		if err := b.deliver(t, p); err != nil {
			t.Fatalf("deliver %+v: %v", p, err)
		}
	}
}

func TestReplayRetriesFailedUser(t *testing.T) {
	t.Parallel()
	b, adm, _ := adminSetup(t)
	ctx := context.Background()
	// The customer's table refuses this user for now (a trigger).
	if _, err := b.store.db.Exec(`CREATE TRIGGER refuse_bob BEFORE INSERT ON users WHEN NEW.username = 'bob@example.com'
		BEGIN SELECT RAISE(ABORT, 'bob is not welcome'); END`); err != nil {
		t.Fatal(err)
	}
	ok, _ := b.svc.CreateUser(ctx, b.tenant, parseUser(t, `{"userName":"ann@example.com"}`), nil)
	bob, _ := b.svc.CreateUser(ctx, b.tenant, parseUser(t, `{"userName":"bob@example.com"}`), nil)
	for _, p := range b.enq.take() {
		_ = b.deliver(t, p)
	}

	page, err := adm.Statuses(ctx, b.tenant, queue.KindUser, FilterFailed, 0, 10)
	if err != nil || page.Total != 1 || len(page.Resources) != 1 {
		t.Fatalf("failed users: %+v %v", page, err)
	}
	f := page.Resources[0]
	if f.ID != bob.ID || f.State != StateFailed || f.Name != "bob@example.com" || f.FailedVersion != 1 || f.Failure == "" {
		t.Fatalf("failed user: %+v", f)
	}
	all, _ := adm.Statuses(ctx, b.tenant, queue.KindUser, FilterAll, 0, 10)
	if all.Total != 2 || all.Resources[0].ID != ok.ID || all.Resources[0].State != StateApplied {
		t.Fatalf("all users: %+v", all)
	}
	if _, err := adm.Statuses(ctx, b.tenant, queue.KindUser, "broken", 0, 10); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("bad state filter: %v", err)
	}

	// The customer fixes the table; the operator replays.
	if _, err := b.store.db.Exec(`DROP TRIGGER refuse_bob`); err != nil {
		t.Fatal(err)
	}
	res, err := adm.Replay(ctx, b.tenant)
	if err != nil || res.Users != 1 || res.Groups != 0 {
		t.Fatalf("replay: %+v %v", res, err)
	}
	// Until applied, bob is pending again, his last failure still shown.
	st, err := adm.Status(ctx, b.tenant, queue.KindUser, bob.ID)
	if err != nil || st.State != StatePending || !st.Replayed || st.Failure == "" {
		t.Fatalf("replayed user before the apply: %+v %v", st, err)
	}
	if p, _ := adm.Statuses(ctx, b.tenant, queue.KindUser, FilterFailed, 0, 10); p.Total != 0 {
		t.Fatalf("failed index after replay: %+v", p)
	}
	if p, _ := adm.Statuses(ctx, b.tenant, queue.KindUser, FilterPending, 0, 10); p.Total != 1 || p.Resources[0].ID != bob.ID {
		t.Fatalf("pending after replay: %+v", p)
	}
	tasks := b.enq.take()
	if len(tasks) != 1 || tasks[0].ID != bob.ID || tasks[0].Version != 1 {
		t.Fatalf("replay enqueued %+v", tasks)
	}
	if err := b.deliver(t, tasks[0]); err != nil {
		t.Fatal(err)
	}
	st, _ = adm.Status(ctx, b.tenant, queue.KindUser, bob.ID)
	if st.State != StateApplied || st.Failure != "" || st.Replayed {
		t.Fatalf("replayed user after the apply: %+v", st)
	}
	if rows := b.store.rows(t); len(rows) != 2 {
		t.Fatalf("rows: %+v", rows)
	}
	// Nothing left to replay.
	if res, _ := adm.Replay(ctx, b.tenant); res.Users != 0 {
		t.Fatalf("second replay: %+v", res)
	}
	if _, err := adm.Status(ctx, b.tenant, queue.KindUser, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	sum, err := adm.Summary(ctx, b.tenant)
	if err != nil || sum.Users != 2 || sum.PendingUsers != 0 || sum.FailedUsers != 0 {
		t.Fatalf("summary: %+v %v", sum, err)
	}
}

func TestDriftReportsAndRepairs(t *testing.T) {
	t.Parallel()
	b, adm, _ := adminSetup(t)
	ctx := context.Background()
	var ids []string
	for _, body := range []string{
		`{"userName":"kept@example.com","name":{"givenName":"Kept","familyName":"Same"}}`,
		`{"userName":"edited@example.com","name":{"givenName":"Eve","familyName":"Orig"}}`,
		`{"userName":"gone@example.com","name":{"givenName":"Gus","familyName":"Gone"}}`,
	} {
		r, err := b.svc.CreateUser(ctx, b.tenant, parseUser(t, body), nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	b.applyAll(t)
	edited, _ := b.ledger.GetUser(ctx, b.tenant, ids[1])
	gone, _ := b.ledger.GetUser(ctx, b.tenant, ids[2])
	// Someone edits the customer's table behind scimbridge's back.
	for _, s := range []string{
		`UPDATE users SET family_name = 'Changed' WHERE id = ` + edited.Anchor,
		`DELETE FROM users WHERE id = ` + gone.Anchor,
		`INSERT INTO users (username) VALUES ('stranger@example.com')`,
	} {
		if _, err := b.store.db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}

	rep, err := adm.CheckDrift(ctx, b.tenant, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.FieldDrifts != 1 || rep.Missing != 1 || rep.Unknown != 1 || rep.Checked != 3 || rep.Repaired != 0 {
		t.Fatalf("report: %+v", rep)
	}
	byKind := map[string]Drift{}
	for _, d := range rep.Differences {
		byKind[d.Kind] = d
	}
	if d := byKind[DriftFields]; d.ID != edited.ID || len(d.Fields) != 1 ||
		d.Fields[0] != (FieldDiff{Field: "family_name", Ledger: "Orig", Store: "Changed"}) {
		t.Fatalf("field drift: %+v", d)
	}
	if d := byKind[DriftMissing]; d.ID != gone.ID || d.UserName != "gone@example.com" {
		t.Fatalf("missing: %+v", d)
	}
	if d := byKind[DriftUnknown]; d.UserName != "stranger@example.com" || d.ID != "" {
		t.Fatalf("unknown: %+v", d)
	}
	if len(b.enq.take()) != 0 {
		t.Fatal("a drift check without repair enqueued work")
	}

	// Repair: both users are re-applied; the stranger is left alone.
	rep, err = adm.CheckDrift(ctx, b.tenant, true, nil)
	if err != nil || rep.Repaired != 2 {
		t.Fatalf("repair: %+v %v", rep, err)
	}
	if st, _ := adm.Status(ctx, b.tenant, queue.KindUser, edited.ID); st.State != StatePending || st.Version != edited.Version {
		t.Fatalf("user marked for repair: %+v", st)
	}
	b.applyAll(t)
	var family string
	if err := b.store.db.QueryRow(`SELECT family_name FROM users WHERE id = ` + edited.Anchor).Scan(&family); err != nil || family != "Orig" {
		t.Fatalf("repaired row: %q %v", family, err)
	}
	rep, err = adm.CheckDrift(ctx, b.tenant, false, nil)
	if err != nil || rep.FieldDrifts != 0 || rep.Missing != 0 || rep.Unknown != 1 {
		t.Fatalf("after repair: %+v %v", rep, err)
	}
	if n := len(b.store.rows(t)); n != 4 {
		t.Fatalf("%d rows after repair, want 4 (3 users and the stranger)", n)
	}

	// The same check as a job: inline for a small tenant, report kept.
	j, err := adm.StartDrift(ctx, b.tenant, false)
	if err != nil || !j.Done || j.State != JobDone || j.Report == nil || j.Report.Unknown != 1 || j.Differences != 1 {
		t.Fatalf("drift job: %+v %v", j, err)
	}
}

func TestImportJobProgress(t *testing.T) {
	t.Parallel()
	b, adm, jr := adminSetup(t)
	ctx := context.Background()
	for _, u := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		if _, err := b.store.db.Exec(`INSERT INTO users (username, given_name) VALUES (?, 'Pre')`, u); err != nil {
			t.Fatal(err)
		}
	}
	j, err := adm.StartImport(ctx, b.tenant)
	if err != nil || j.State != JobQueued || j.Done || j.Kind != JobImport {
		t.Fatalf("start: %+v %v", j, err)
	}
	if len(jr.jobs) != 1 || jr.jobs[0].ID != j.ID || jr.jobs[0].Tenant != b.tenant {
		t.Fatalf("enqueued jobs: %+v", jr.jobs)
	}
	if err := adm.RunImport(ctx, j.ID, b.tenant); err != nil {
		t.Fatal(err)
	}
	j, err = adm.Job(ctx, j.ID)
	if err != nil || !j.Done || j.State != JobDone || j.Seen != 3 || j.Adopted != 3 {
		t.Fatalf("finished job: %+v %v", j, err)
	}
	if n, _ := b.ledger.CountUsers(ctx, b.tenant); n != 3 {
		t.Fatalf("ledger holds %d users after the import", n)
	}
	if _, err := adm.StartImport(ctx, "no-such-tenant"); !errors.Is(err, tenants.ErrNotFound) {
		t.Fatalf("import of an unknown tenant: %v", err)
	}
	for _, bad := range []string{"", "x", b.tenant + ".zz", "Bad Tenant.0123456789abcdef", b.tenant + ".0123456789abcdef"} {
		if _, err := adm.Job(ctx, bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("job %q: %v", bad, err)
		}
	}
}

func TestSeqSet(t *testing.T) {
	var s seqSet
	in := []*Record{{ID: "a", Seq: 1}, {ID: "b", Seq: 64}, {ID: "c", Seq: 130}, {ID: "d"}}
	out := []*Record{{ID: "x", Seq: 2}, {ID: "y", Seq: 63}, {ID: "z", Seq: 65}, {ID: "w", Seq: 1000}, {ID: "v"}}
	for _, r := range in {
		s.add(r)
	}
	for _, r := range in {
		if !s.has(r) {
			t.Fatalf("%+v not in the set", r)
		}
	}
	for _, r := range out {
		if s.has(r) {
			t.Fatalf("%+v in the set", r)
		}
	}
	if len(s.bits) != 3 {
		t.Fatalf("%d words for sequence numbers up to 130", len(s.bits))
	}
}
