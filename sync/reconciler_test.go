package sync

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	gosync "sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	_ "modernc.org/sqlite"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/adapters/sqlstore"
	"github.com/scimbridge/scimbridge/queue"
	"github.com/scimbridge/scimbridge/scim"
)

// storeFixture is a real SQLite store holding a customer's users table.
type storeFixture struct {
	db    *sql.DB
	store adapters.Store
}

func (f *storeFixture) Store(context.Context, string) (adapters.Store, error) { return f.store, nil }

func newSQLiteFixture(t testing.TB, tenant string) *storeFixture {
	t.Helper()
	path := filepath.Join(t.TempDir(), "store.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE users (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		username TEXT NOT NULL,
		given_name TEXT, family_name TEXT, email TEXT, external_id TEXT,
		active INTEGER NOT NULL DEFAULT 1,
		title TEXT CHECK (title IS NULL OR length(title) <= 10),
		plan TEXT NOT NULL DEFAULT 'free')`); err != nil {
		t.Fatal(err)
	}
	st, err := sqlstore.Open(context.Background(), tenant, adapters.Config{
		Kind: "sqlite", DSN: path,
		Users: adapters.UserMapping{
			Table: "users", Key: "id",
			Attributes: map[string]string{
				"userName": "username", "name.givenName": "given_name", "name.familyName": "family_name",
				`emails[type eq "work"].value`: "email", "externalId": "external_id", "title": "title",
			},
			Active: &adapters.ActiveMapping{Column: "active", Active: "1", Inactive: "0"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &storeFixture{db: db, store: st}
}

type row struct {
	id                            int64
	username, given, family, plan string
	active                        int
}

func (f *storeFixture) rows(t *testing.T) []row {
	t.Helper()
	rs, err := f.db.Query(`SELECT id, username, COALESCE(given_name,''), COALESCE(family_name,''), active, plan FROM users ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var out []row
	for rs.Next() {
		var r row
		if err := rs.Scan(&r.id, &r.username, &r.given, &r.family, &r.active, &r.plan); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// recordingEnqueuer keeps the tasks it was asked to enqueue, so a test can
// deliver them in any order, twice, or not at all.
type recordingEnqueuer struct {
	mu    gosync.Mutex
	tasks []queue.Reconcile
	fail  error
}

func (e *recordingEnqueuer) Enqueue(_ context.Context, _ string, p queue.Reconcile, _ string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fail != nil {
		return e.fail
	}
	e.tasks = append(e.tasks, p)
	return nil
}

func (e *recordingEnqueuer) take() []queue.Reconcile {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.tasks
	e.tasks = nil
	return t
}

type bundle struct {
	tenant string
	ledger *Ledger
	svc    *Service
	rec    *Reconciler
	enq    *recordingEnqueuer
	store  *storeFixture
}

func setup(t *testing.T) *bundle {
	t.Helper()
	rdb := testRedis(t)
	tenant := testTenant(t, rdb)
	l := NewLedger(rdb, testSealer(t))
	st := newSQLiteFixture(t, tenant)
	enq := &recordingEnqueuer{}
	return &bundle{
		tenant: tenant, ledger: l, enq: enq, store: st,
		svc: &Service{Ledger: l, Enqueuer: enq, Stores: st, ImportInterval: testImportInterval, StoreTimeout: testLookupTimeout},
		rec: &Reconciler{Ledger: l, Stores: st, LeaseTTL: testLeaseTTL, StoreTimeout: testStoreTimeout},
	}
}

// deliver runs the reconcile task for p as asynq would.
func (b *bundle) deliver(t *testing.T, p queue.Reconcile) error {
	t.Helper()
	task, err := queue.NewReconcileTask(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	return b.rec.ProcessTask(context.Background(), task)
}

func parseUser(t *testing.T, body string) scim.Attrs {
	t.Helper()
	a, _, err := scim.ParseUser([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func patch(t *testing.T, body string) *scim.Patch {
	t.Helper()
	p, err := scim.ParsePatch([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReconcileSameTaskTwice(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	r, err := b.svc.CreateUser(ctx, b.tenant, parseUser(t, `{"userName":"jane@example.com","name":{"givenName":"Jane","familyName":"Doe"},"active":true}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	tasks := b.enq.take()
	if len(tasks) != 1 || tasks[0].ID != r.ID || tasks[0].Version != 1 {
		t.Fatalf("tasks = %+v", tasks)
	}
	for range 2 {
		if err := b.deliver(t, tasks[0]); err != nil {
			t.Fatal(err)
		}
	}
	rows := b.store.rows(t)
	if len(rows) != 1 || rows[0].username != "jane@example.com" || rows[0].given != "Jane" || rows[0].active != 1 {
		t.Fatalf("rows = %+v", rows)
	}
	got, _ := b.ledger.GetUser(ctx, b.tenant, r.ID)
	if got.State() != StateApplied || got.Anchor != fmt.Sprint(rows[0].id) {
		t.Fatalf("ledger after apply: %+v", got)
	}
}

func TestReconcileOutOfOrder(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	r, _ := b.svc.CreateUser(ctx, b.tenant, parseUser(t, `{"userName":"o@example.com","name":{"givenName":"One","familyName":"X"}}`), nil)
	if _, err := b.svc.ReplaceUser(ctx, b.tenant, r.ID, parseUser(t, `{"userName":"o@example.com","name":{"givenName":"Two","familyName":"X"}}`), nil, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.PatchUser(ctx, b.tenant, r.ID, patch(t, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`), 0); err != nil {
		t.Fatal(err)
	}
	tasks := b.enq.take()
	if len(tasks) != 3 {
		t.Fatalf("tasks = %+v", tasks)
	}
	// Newest first, then the stale ones, then a duplicate.
	for _, i := range []int{2, 0, 1, 2} {
		if err := b.deliver(t, tasks[i]); err != nil {
			t.Fatal(err)
		}
	}
	rows := b.store.rows(t)
	if len(rows) != 1 || rows[0].given != "Two" || rows[0].active != 0 {
		t.Fatalf("rows = %+v", rows)
	}
	got, _ := b.ledger.GetUser(ctx, b.tenant, r.ID)
	if got.Applied != 3 || got.State() != StateApplied {
		t.Fatalf("ledger: %+v", got)
	}
}

func TestReconcileConcurrentPatchesConverge(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	r, _ := b.svc.CreateUser(ctx, b.tenant, parseUser(t, `{"userName":"c@example.com","name":{"givenName":"G0","familyName":"F"}}`), nil)
	var wg gosync.WaitGroup
	errs := make(chan error, 40)
	for i := 1; i <= 20; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"name.givenName","value":"G%d"},{"op":"replace","value":{"active":%v}}]}`, i, i%2 == 0)
			if _, err := b.svc.PatchUser(ctx, b.tenant, r.ID, patch(t, body), 0); err != nil {
				errs <- err
			}
		}()
		go func() {
			// Applies racing the writes: the lease serialises them and a
			// busy lease is a retry, not a failure.
			defer wg.Done()
			for _, task := range b.enq.take() {
				if err := b.deliver(t, task); err != nil && !errors.Is(err, queue.ErrBusy) {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	final, _ := b.ledger.GetUser(ctx, b.tenant, r.ID)
	if final.Version != 21 {
		t.Fatalf("acknowledged 20 patches on version 1, ledger at %d", final.Version)
	}
	// Drain: deliver every task still queued (any order), as the queue would.
	for _, task := range append(b.enq.take(), queue.Reconcile{Tenant: b.tenant, Kind: queue.KindUser, ID: r.ID, Version: 21}) {
		if err := b.deliver(t, task); err != nil {
			t.Fatal(err)
		}
	}
	final, _ = b.ledger.GetUser(ctx, b.tenant, r.ID)
	rows := b.store.rows(t)
	wantGiven := final.Attrs["name"].(map[string]any)["givenName"]
	wantActive := 0
	if adapters.ActiveOf(final.Attrs) {
		wantActive = 1
	}
	if len(rows) != 1 || rows[0].given != wantGiven || rows[0].active != wantActive || final.State() != StateApplied {
		t.Fatalf("store %+v, last acknowledged %v active=%v (state %s)", rows, wantGiven, wantActive, final.State())
	}
}

func TestReconcileCrashAfterStoreWrite(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	r, _ := b.svc.CreateUser(ctx, b.tenant, parseUser(t, `{"userName":"crash@example.com","name":{"givenName":"C","familyName":"R"}}`), nil)
	task := b.enq.take()[0]
	// The worker dies after the INSERT, before the ledger learns the anchor.
	killed := errors.New("killed")
	b.rec.afterApply = func() error { return killed }
	if err := b.deliver(t, task); !errors.Is(err, killed) {
		t.Fatalf("crash injection: %v", err)
	}
	b.rec.afterApply = nil
	if rows := b.store.rows(t); len(rows) != 1 {
		t.Fatalf("the store write before the crash: %+v", rows)
	}
	// A killed worker never releases its lease: hold it as it would.
	b.ledger.rdb.Set(ctx, userKeys(b.tenant).lease(r.ID), "dead-worker", time.Minute)
	// The lease of the dead worker is still held: the redelivery waits.
	if err := b.deliver(t, task); !errors.Is(err, queue.ErrBusy) {
		t.Fatalf("redelivery under a held lease: %v", err)
	}
	b.ledger.rdb.Del(ctx, userKeys(b.tenant).lease(r.ID)) // the lease expires
	if err := b.deliver(t, task); err != nil {
		t.Fatal(err)
	}
	if rows := b.store.rows(t); len(rows) != 1 {
		t.Fatalf("redelivery after a crash duplicated the row: %+v", rows)
	}
}

func TestReconcilePermanentFailureRecorded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	// The store's CHECK constraint rejects titles over 10 characters.
	r, _ := b.svc.CreateUser(ctx, b.tenant, parseUser(t, `{"userName":"f@example.com","title":"Chief Everything Officer"}`), nil)
	err := b.deliver(t, b.enq.take()[0])
	if !errors.Is(err, asynq.SkipRetry) || !errors.Is(err, adapters.ErrRejected) {
		t.Fatalf("rejected write: %v", err)
	}
	got, _ := b.ledger.GetUser(ctx, b.tenant, r.ID)
	if got.State() != StateFailed || got.Failure == "" {
		t.Fatalf("failure not recorded: %+v", got)
	}
	if ids, _ := b.ledger.Failed(ctx, b.tenant, "User", 10); len(ids) != 1 || ids[0] != r.ID {
		t.Fatalf("failed index = %v", ids)
	}
	// The next change tries again and clears the failure.
	if _, err := b.svc.PatchUser(ctx, b.tenant, r.ID, patch(t, `{"Operations":[{"op":"replace","path":"title","value":"CEO"}]}`), 0); err != nil {
		t.Fatal(err)
	}
	if err := b.deliver(t, b.enq.take()[0]); err != nil {
		t.Fatal(err)
	}
	got, _ = b.ledger.GetUser(ctx, b.tenant, r.ID)
	if got.State() != StateApplied || got.Failure != "" {
		t.Fatalf("after the fix: %+v", got)
	}
	if ids, _ := b.ledger.Failed(ctx, b.tenant, "User", 10); len(ids) != 0 {
		t.Fatalf("failed index after the fix = %v", ids)
	}
}

// staticTenants lists one tenant for the sweeper.
type staticTenants []string

func (s staticTenants) TenantIDs(context.Context) ([]string, error) { return s, nil }

func TestSweeperConvergesLostEnqueue(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	// The process dies between the ledger write and the enqueue.
	b.enq.fail = errors.New("redis went away")
	r, err := b.svc.CreateUser(ctx, b.tenant, parseUser(t, `{"userName":"lost@example.com"}`), nil)
	if err != nil {
		t.Fatalf("the write was recorded, so it is acknowledged: %v", err)
	}
	b.enq.fail = nil
	sw := &Sweeper{Ledger: b.ledger, Enqueuer: b.enq, Tenants: staticTenants{b.tenant}, Interval: testSweepInterval, Grace: 1}
	// The sweep lock is shared with other tests' sweeps (a sweep that
	// finds it taken does nothing): take it fresh until this test's sweep
	// is the one that ran.
	for try := 0; ; try++ {
		b.ledger.rdb.Del(ctx, "sb:sweeper:lock")
		n, err := sw.SweepOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 || try == 20 {
			break
		}
	}
	var mine []queue.Reconcile
	for _, task := range b.enq.take() {
		if task.Tenant == b.tenant {
			mine = append(mine, task)
		}
	}
	if len(mine) != 1 || mine[0].ID != r.ID {
		t.Fatalf("sweeper enqueued %+v", mine)
	}
	if err := b.deliver(t, mine[0]); err != nil {
		t.Fatal(err)
	}
	if rows := b.store.rows(t); len(rows) != 1 || rows[0].username != "lost@example.com" {
		t.Fatalf("rows = %+v", rows)
	}
}

func TestReconcilePasswordUnreadableIsRecorded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	pw := "s3cret-Pa55"
	r, err := b.svc.CreateUser(ctx, b.tenant, parseUser(t, `{"userName":"pw@example.com"}`), &pw)
	if err != nil {
		t.Fatal(err)
	}
	// A worker with another secret key cannot open the sealed password.
	other := NewLedger(b.ledger.rdb, testSealer(t))
	rc := &Reconciler{Ledger: other, Stores: b.store, LeaseTTL: testLeaseTTL, StoreTimeout: testStoreTimeout}
	task, _ := queue.NewReconcileTask(ctx, b.enq.take()[0])
	if err := rc.ProcessTask(ctx, task); !errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("unreadable password: %v", err)
	}
	got, _ := b.ledger.GetUser(ctx, b.tenant, r.ID)
	if got.State() != StateFailed || !got.HasPendingPassword() {
		t.Fatalf("the password must stay pending and the failure be visible: %+v", got)
	}
	if rows := b.store.rows(t); len(rows) != 0 {
		t.Fatalf("applied without its password: %+v", rows)
	}
}

// sweepUntilRan runs sw until its own pass ran (the sweep lock is shared
// with other tests' sweeps) and returns what that pass re-enqueued.
func sweepUntilRan(t *testing.T, sw *Sweeper, want func(n int) bool) int {
	t.Helper()
	ctx := context.Background()
	for try := 0; ; try++ {
		sw.Ledger.rdb.Del(ctx, "sb:sweeper:lock")
		n, err := sw.SweepOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want(n) || try == 20 {
			return n
		}
	}
}

// createLost creates a user whose enqueue fails (the process died between
// the ledger write and the enqueue).
func (b *bundle) createLost(t *testing.T, userName string) *Record {
	t.Helper()
	b.enq.fail = errors.New("redis went away")
	defer func() { b.enq.fail = nil }()
	r, err := b.svc.CreateUser(context.Background(), b.tenant, parseUser(t, `{"userName":"`+userName+`"}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// tenantTasks takes the queued tasks and returns the test tenant's (the
// sweeps of the shared database queue other tests' too).
func (b *bundle) tenantTasks() []queue.Reconcile {
	var out []queue.Reconcile
	for _, task := range b.enq.take() {
		if task.Tenant == b.tenant {
			out = append(out, task)
		}
	}
	return out
}

// A front-door write records its tenant in the sweep index before it
// writes, and a pass between full passes reads the index's tenants only:
// a lost enqueue is found although the tenant list it was given is empty.
// A tenant stays in the index while it is dirty, leaves it once clean and
// quiet (only if its record was not renewed), and a full pass puts a
// tenant it finds dirty back in and takes out tenants no longer listed.
// Not parallel: a full pass takes every unlisted tenant out of the index,
// other tests' too.
func TestSweepIndex(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	rdb := b.ledger.rdb
	r := b.createLost(t, "indexed@example.com")
	if _, err := rdb.ZScore(ctx, sweepIndexKey, b.tenant).Result(); err != nil {
		t.Fatalf("the write did not record its tenant in the sweep index: %v", err)
	}
	// Not a full pass (one ran "just now"), and a tenant list without the
	// tenant: only the index can lead the sweeper to it.
	sw := &Sweeper{Ledger: b.ledger, Enqueuer: b.enq, Tenants: staticTenants{}, Interval: testSweepInterval, Grace: 1, full: time.Now()}
	sweepUntilRan(t, sw, func(n int) bool { return n > 0 })
	if got := b.tenantTasks(); len(got) != 1 || got[0].ID != r.ID {
		t.Fatalf("a pass between full passes re-enqueued %+v, want the lost user", got)
	}

	// Quiet for longer than sweepIndexKeep but still dirty: stays.
	old := float64(time.Now().Add(-2 * sweepIndexKeep).UnixMilli())
	rdb.ZAdd(ctx, sweepIndexKey, redis.Z{Score: old, Member: b.tenant})
	sweepUntilRan(t, sw, func(n int) bool { return n > 0 })
	if _, err := rdb.ZScore(ctx, sweepIndexKey, b.tenant).Result(); err != nil {
		t.Fatal("a dirty tenant left the sweep index")
	}
	for _, task := range b.tenantTasks() {
		if err := b.deliver(t, task); err != nil {
			t.Fatal(err)
		}
	}
	// Clean now, but its record renewed since the pass read it: stays.
	if err := b.ledger.leaveSweepIndex(ctx, b.tenant, old-1); err != nil {
		t.Fatal(err)
	}
	if _, err := rdb.ZScore(ctx, sweepIndexKey, b.tenant).Result(); err != nil {
		t.Fatal("a tenant whose record was renewed left the sweep index")
	}
	// Clean and quiet: leaves.
	sweepUntilRan(t, sw, func(int) bool {
		_, err := rdb.ZScore(ctx, sweepIndexKey, b.tenant).Result()
		return err == redis.Nil
	})
	if _, err := rdb.ZScore(ctx, sweepIndexKey, b.tenant).Result(); err != redis.Nil {
		t.Fatalf("a clean, quiet tenant stayed in the sweep index (%v)", err)
	}

	// Dirty but not in the index (a dirty mark the front door did not
	// make): a full pass finds it and puts it in the index.
	r2 := b.createLost(t, "unindexed@example.com")
	rdb.ZRem(ctx, sweepIndexKey, b.tenant)
	gone := "deleted-" + b.tenant // indexed, no longer listed
	rdb.ZAdd(ctx, sweepIndexKey, redis.Z{Score: float64(time.Now().UnixMilli()), Member: gone})
	full := &Sweeper{Ledger: b.ledger, Enqueuer: b.enq, Tenants: staticTenants{b.tenant}, Interval: testSweepInterval, Grace: 1}
	sweepUntilRan(t, full, func(n int) bool { return n > 0 })
	if got := b.tenantTasks(); len(got) != 1 || got[0].ID != r2.ID {
		t.Fatalf("the full pass re-enqueued %+v, want the unindexed user", got)
	}
	if _, err := rdb.ZScore(ctx, sweepIndexKey, b.tenant).Result(); err != nil {
		t.Fatal("the full pass did not put the dirty tenant in the sweep index")
	}
	if _, err := rdb.ZScore(ctx, sweepIndexKey, gone).Result(); err != redis.Nil {
		t.Fatalf("a tenant no longer listed stayed in the sweep index after a full pass (%v)", err)
	}
}

// One full pass per sweepFullEvery across the workers: a process whose
// full pass is due does none while another's holds the claim, and does
// one once the claim is free. Not parallel: it holds the shared claim.
func TestSweepFullPassIsSharedByTheWorkers(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	rdb := b.ledger.rdb
	r := b.createLost(t, "shared@example.com")
	rdb.ZRem(ctx, sweepIndexKey, b.tenant) // only a full pass can find it
	// Another worker's full pass holds the claim.
	if ok, err := b.ledger.claimFullSweep(ctx, true); err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	due := &Sweeper{Ledger: b.ledger, Enqueuer: b.enq, Tenants: staticTenants{b.tenant}, Interval: testSweepInterval, Grace: 1,
		full: time.Now().Add(-2 * sweepFullEvery)}
	sweepUntilRan(t, due, func(int) bool { return true })
	if got := b.tenantTasks(); len(got) != 0 {
		t.Fatalf("a due full pass ran while another worker's held the claim: re-enqueued %+v", got)
	}
	rdb.Del(ctx, sweepFullKey) // that claim expired
	sweepUntilRan(t, due, func(n int) bool { return n > 0 })
	if got := b.tenantTasks(); len(got) != 1 || got[0].ID != r.ID {
		t.Fatalf("the full pass, once the claim was free, re-enqueued %+v, want the unindexed user", got)
	}
}
