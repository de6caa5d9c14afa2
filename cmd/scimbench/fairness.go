package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	gosync "sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"
)

// The fairness scenario (issue 5): tenant A gets an initial push of creates
// at high concurrency while tenant B, in the same server with its own store
// table, gets one deactivation every interval. For each of B's
// deactivations it measures acknowledgement (the 200) to applied: the
// ledger's applied version reaching the acknowledged one, and B's store row
// showing the user inactive.

// fairnessOptions configures `scimbench fairness`.
type fairnessOptions struct {
	Creates      int           // A's push
	Concurrency  int           // A's clients
	Interval     time.Duration // between B's deactivations
	Baseline     int           // B's deactivations before the push (A idle)
	ApplyTimeout time.Duration // give up on one deactivation after this
	MaxDuration  time.Duration // bounds the push phase
	Budget       time.Duration // the promise: applied within this (2 s)
	RunID        string
}

// fairnessSample is one of B's deactivations.
type fairnessSample struct {
	Phase  string `json:"phase"` // "idle" or "push"
	Seq    int    `json:"seq"`   // order sent
	UserID string `json:"user_id"`
	Status string `json:"status"` // HTTP status of the PATCH, or "net"
	// AckMs is the PATCH's round trip; Version the acknowledged meta.version.
	AckMs   float64 `json:"ack_ms"`
	Version int64   `json:"version"`
	// LedgerMs / StoreMs: from the acknowledgement to av >= Version / the
	// store row inactive; -1 when not seen within the apply timeout.
	LedgerMs    float64 `json:"ledger_ms"`
	StoreMs     float64 `json:"store_ms"`
	Failed      bool    `json:"failed,omitempty"` // the store rejected it (failv)
	StorePolled bool    `json:"store_polled"`
	// A's state when B's PATCH was acknowledged: creates in A's ledger
	// (acknowledged) and of those still not applied (A's dirty set).
	AAcked      int64 `json:"a_acked"`
	APendingAck int64 `json:"a_pending_at_ack"`
	// A's pending creates when B's change was seen applied in the ledger.
	APendingApplied int64 `json:"a_pending_at_applied"`
}

// fairnessPhaseReport summarises one phase's samples.
type fairnessPhaseReport struct {
	Phase    string         `json:"phase"`
	Samples  int            `json:"samples"`
	Acked    int            `json:"acked"`
	Statuses map[string]int `json:"statuses"`
	AckP50   float64        `json:"ack_p50_ms"`
	AckP99   float64        `json:"ack_p99_ms"`
	AckMax   float64        `json:"ack_max_ms"`
	// Ledger: ack → av >= version; Store: ack → row inactive.
	LedgerSeen    int     `json:"ledger_applied"`
	LedgerP50     float64 `json:"ledger_p50_ms"`
	LedgerP99     float64 `json:"ledger_p99_ms"`
	LedgerMax     float64 `json:"ledger_max_ms"`
	StoreSeen     int     `json:"store_applied"`
	StoreP50      float64 `json:"store_p50_ms"`
	StoreP99      float64 `json:"store_p99_ms"`
	StoreMax      float64 `json:"store_max_ms"`
	Failed        int     `json:"failed"`
	NeverApplied  int     `json:"never_applied"` // acked, not applied within the timeout
	WithinBudget  int     `json:"within_budget"` // store (else ledger) applied within the budget
	UnderLoad     int     `json:"under_load"`    // samples acked while A had creates pending
	APendingMin   int64   `json:"a_pending_min"`
	APendingMed   int64   `json:"a_pending_median"`
	APendingMax   int64   `json:"a_pending_max"`
	BudgetSeconds float64 `json:"budget_s"`
}

// summarizeFairness computes a phase's report from its samples. A sample's
// applied time is the store's when the store was polled, else the ledger's.
func summarizeFairness(phase string, samples []fairnessSample, budget time.Duration) fairnessPhaseReport {
	rep := fairnessPhaseReport{Phase: phase, Statuses: map[string]int{}, BudgetSeconds: budget.Seconds()}
	ack, ledger, store := NewHistogram(), NewHistogram(), NewHistogram()
	var pending []int64
	for _, s := range samples {
		if s.Phase != phase {
			continue
		}
		rep.Samples++
		rep.Statuses[s.Status]++
		ack.Record(int64(s.AckMs * 1000))
		if s.Status != "200" {
			continue
		}
		rep.Acked++
		pending = append(pending, s.APendingAck)
		if s.APendingAck > 0 {
			rep.UnderLoad++
		}
		if s.LedgerMs >= 0 {
			rep.LedgerSeen++
			ledger.Record(int64(s.LedgerMs * 1000))
		}
		if s.StoreMs >= 0 {
			rep.StoreSeen++
			store.Record(int64(s.StoreMs * 1000))
		}
		applied := s.LedgerMs
		if s.StorePolled {
			applied = s.StoreMs
		}
		switch {
		case s.Failed:
			rep.Failed++
		case applied < 0:
			rep.NeverApplied++
		case applied <= float64(budget.Microseconds())/1000:
			rep.WithinBudget++
		}
	}
	rep.AckP50, rep.AckP99, rep.AckMax = ms(ack.Percentile(50)), ms(ack.Percentile(99)), ms(ack.Max())
	rep.LedgerP50, rep.LedgerP99, rep.LedgerMax = ms(ledger.Percentile(50)), ms(ledger.Percentile(99)), ms(ledger.Max())
	rep.StoreP50, rep.StoreP99, rep.StoreMax = ms(store.Percentile(50)), ms(store.Percentile(99)), ms(store.Max())
	if len(pending) > 0 {
		slices.Sort(pending)
		rep.APendingMin, rep.APendingMax = pending[0], pending[len(pending)-1]
		rep.APendingMed = pending[(len(pending)-1)/2]
	}
	return rep
}

// appliedState classifies a ledger record read (HMGET v av failv) against
// an acknowledged version.
func appliedState(vals []any, version int64) (applied, failed bool) {
	if redisInt(vals, 1) >= version {
		return true, false
	}
	return false, redisInt(vals, 2) >= version
}

// userPicker hands out each user once (a deactivation needs an active user).
type userPicker struct {
	users []userRef
	next  atomic.Int64
}

// pick returns the next unused user and its sequence number, false when
// all are used.
func (p *userPicker) pick() (userRef, int, bool) {
	i := int(p.next.Add(1) - 1)
	if i >= len(p.users) {
		return userRef{}, i, false
	}
	return p.users[i], i, true
}

// listActiveUsers pages through GET /Users for up to n active users.
func listActiveUsers(ctx context.Context, c *scimClient, n int) ([]userRef, error) {
	var out []userRef
	for start := 1; len(out) < n; {
		r := c.do(ctx, "GET", fmt.Sprintf("/Users?startIndex=%d&count=1000", start), nil)
		if err := r.errStatus("list users"); err != nil {
			return nil, err
		}
		var page struct {
			TotalResults int `json:"totalResults"`
			Resources    []struct {
				ID       string `json:"id"`
				UserName string `json:"userName"`
				Active   *bool  `json:"active"`
			} `json:"Resources"`
		}
		if err := jsonUnmarshal(r.body, &page); err != nil {
			return nil, err
		}
		for _, u := range page.Resources {
			if (u.Active == nil || *u.Active) && len(out) < n {
				out = append(out, userRef{id: u.ID, userName: u.UserName})
			}
		}
		if len(page.Resources) == 0 || start+len(page.Resources) > page.TotalResults {
			break
		}
		start += len(page.Resources)
	}
	return out, nil
}

// fairnessProbe measures B's deactivations and watches A's ledger.
type fairnessProbe struct {
	opts        fairnessOptions
	rdb         redis.UniversalClient
	b           *scimClient
	bTenant     string
	aTenant     string
	picker      *userPicker
	mu          gosync.Mutex
	samples     []fairnessSample
	inFlight    gosync.WaitGroup
	pollEvery   time.Duration
	storeActive func(ctx context.Context, userName string) (active, found bool, err error)
}

// aState reads A's acknowledged (ledgered) and pending (dirty) users.
func (p *fairnessProbe) aState(ctx context.Context) (acked, pending int64) {
	pipe := p.rdb.Pipeline()
	all := pipe.ZCard(ctx, "sb:{"+p.aTenant+"}:u:all")
	dirty := pipe.ZCard(ctx, "sb:{"+p.aTenant+"}:u:dirty")
	_, _ = pipe.Exec(ctx)
	return all.Val(), dirty.Val()
}

// deactivate sends one deactivation of B and measures it (run in its own
// goroutine so a slow one never delays the next).
func (p *fairnessProbe) deactivate(ctx context.Context, phase string) bool {
	u, seq, ok := p.picker.pick()
	if !ok {
		return false
	}
	p.inFlight.Add(1)
	go func() {
		defer p.inFlight.Done()
		s := fairnessSample{Phase: phase, Seq: seq, UserID: u.id, LedgerMs: -1, StoreMs: -1, StorePolled: p.storeActive != nil}
		began := time.Now()
		r := p.b.do(ctx, "PATCH", "/Users/"+u.id, deactivateBody(false))
		ackedAt := time.Now()
		s.AckMs = float64(ackedAt.Sub(began).Microseconds()) / 1000
		s.Status = r.statusKey()
		s.AAcked, s.APendingAck = p.aState(ctx)
		if r.ok() {
			if ref, err := decodeRef(r.body); err == nil {
				s.Version = ref.version()
			}
			p.waitApplied(ctx, u, ackedAt, &s)
		}
		p.mu.Lock()
		p.samples = append(p.samples, s)
		p.mu.Unlock()
	}()
	return true
}

// waitApplied polls B's ledger record and store row until both show the
// deactivation, it failed, or the apply timeout passes.
func (p *fairnessProbe) waitApplied(ctx context.Context, u userRef, ackedAt time.Time, s *fairnessSample) {
	key := ledgerRecordKey(p.bTenant, "u", u.id)
	for time.Since(ackedAt) < p.opts.ApplyTimeout && ctx.Err() == nil {
		if s.LedgerMs < 0 {
			vals, err := p.rdb.HMGet(ctx, key, "v", "av", "failv").Result()
			if err == nil {
				if s.Version == 0 {
					s.Version = redisInt(vals, 0)
				}
				applied, failed := appliedState(vals, s.Version)
				if applied {
					s.LedgerMs = float64(time.Since(ackedAt).Microseconds()) / 1000
					_, s.APendingApplied = p.aState(ctx)
				}
				if failed {
					s.Failed = true
					return
				}
			}
		}
		if p.storeActive != nil && s.StoreMs < 0 {
			if active, found, err := p.storeActive(ctx, u.userName); err == nil && found && !active {
				s.StoreMs = float64(time.Since(ackedAt).Microseconds()) / 1000
			}
		}
		if s.LedgerMs >= 0 && (p.storeActive == nil || s.StoreMs >= 0) {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(p.pollEvery):
		}
	}
}

// fairnessReport is the output of `scimbench fairness`.
type fairnessReport struct {
	ATenant        string                `json:"a_tenant"`
	BTenant        string                `json:"b_tenant"`
	Creates        int                   `json:"a_creates"`
	Concurrency    int                   `json:"a_concurrency"`
	IntervalMs     float64               `json:"b_interval_ms"`
	PushAckSeconds float64               `json:"a_ack_s"` // first create → last acknowledged
	PushAcksPerSec float64               `json:"a_acks_per_s"`
	PushStatuses   map[string]int        `json:"a_statuses"`
	PushConverged  float64               `json:"a_converged_s"` // first create → A's dirty set empty (0: not within the phase)
	Phases         []fairnessPhaseReport `json:"phases"`
	Samples        []fairnessSample      `json:"samples,omitempty"`
}

// runFairness runs the baseline and the push phase.
func runFairness(ctx context.Context, o fairnessOptions, p *fairnessProbe, a *targetState) (*fairnessReport, error) {
	rep := &fairnessReport{ATenant: p.aTenant, BTenant: p.bTenant, Creates: o.Creates, Concurrency: o.Concurrency,
		IntervalMs: float64(o.Interval.Microseconds()) / 1000, PushStatuses: map[string]int{}}
	tick := time.NewTicker(o.Interval)
	defer tick.Stop()
	// Baseline: A idle.
	for i := 0; i < o.Baseline; i++ {
		if !p.deactivate(ctx, "idle") {
			return nil, errors.New("fairness: not enough active users in B for the baseline")
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
	p.inFlight.Wait()

	// Push: A's creates, B's deactivations every interval until A's push has
	// converged (every create acknowledged and applied).
	pushDone := make(chan *loadResult, 1)
	var pushErr error
	start := time.Now()
	go func() {
		lr, err := runLoad(ctx, loadOptions{Scenario: scenarioCreate, Concurrency: o.Concurrency, Requests: o.Creates,
			Duration: o.MaxDuration, RunID: o.RunID}, []*targetState{a})
		pushErr = err
		pushDone <- lr
	}()
	var lr *loadResult
	deadline := start.Add(o.MaxDuration)
	exhausted := false
	for time.Now().Before(deadline) && ctx.Err() == nil {
		select {
		case lr = <-pushDone:
			if pushErr != nil {
				return nil, pushErr
			}
		case <-tick.C:
			if !exhausted && !p.deactivate(ctx, "push") {
				exhausted = true
			}
			if lr != nil && rep.PushConverged == 0 {
				if _, pending := p.aState(ctx); pending == 0 {
					rep.PushConverged = time.Since(start).Seconds()
				}
			}
		}
		if rep.PushConverged > 0 || (lr != nil && exhausted) {
			break
		}
	}
	if lr == nil {
		lr = <-pushDone
		if pushErr != nil {
			return nil, pushErr
		}
	}
	p.inFlight.Wait()
	if s := lr.Ops[scenarioCreate]; s != nil {
		rep.PushStatuses = s.statuses
	}
	rep.PushAckSeconds = lr.End.Sub(lr.Start).Seconds()
	if rep.PushAckSeconds > 0 {
		rep.PushAcksPerSec = float64(len(lr.Writes)) / rep.PushAckSeconds
	}
	slices.SortFunc(p.samples, func(x, y fairnessSample) int { return x.Seq - y.Seq })
	for _, ph := range []string{"idle", "push"} {
		rep.Phases = append(rep.Phases, summarizeFairness(ph, p.samples, o.Budget))
	}
	rep.Samples = p.samples
	return rep, nil
}

// writeTable prints the human report.
func (r *fairnessReport) writeTable(w io.Writer, perSample bool) {
	fmt.Fprintf(w, "fairness: tenant %s push of %d creates at %d clients acknowledged in %.2f s (%.0f/s, %s); converged (A's dirty set empty) %.2f s after its first create\n",
		r.ATenant, r.Creates, r.Concurrency, r.PushAckSeconds, r.PushAcksPerSec, statusString(r.PushStatuses), r.PushConverged)
	fmt.Fprintf(w, "tenant %s: one deactivation every %.0f ms; applied = ack (200) to av >= acknowledged version (ledger) / row inactive (store)\n", r.BTenant, r.IntervalMs)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\tsamples\tack p50/p99/max ms\tledger p50/p99/max ms\tstore p50/p99/max ms\twithin budget\tunder load\tnever\tfailed\tA pending at ack min/med/max\tstatuses\t")
	for _, p := range r.Phases {
		fmt.Fprintf(tw, "%s\t%d\t%.1f / %.1f / %.1f\t%.0f / %.0f / %.0f\t%.0f / %.0f / %.0f\t%d/%d (%.1f s)\t%d\t%d\t%d\t%d / %d / %d\t%s\t\n",
			p.Phase, p.Samples, p.AckP50, p.AckP99, p.AckMax, p.LedgerP50, p.LedgerP99, p.LedgerMax,
			p.StoreP50, p.StoreP99, p.StoreMax, p.WithinBudget, p.Acked, p.BudgetSeconds, p.UnderLoad, p.NeverApplied, p.Failed,
			p.APendingMin, p.APendingMed, p.APendingMax, statusString(p.Statuses))
	}
	tw.Flush()
	if perSample {
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "phase\tuser\tstatus\tack ms\tledger ms\tstore ms\tA acked\tA pending at ack\tA pending at applied\t")
		for _, s := range r.Samples {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f\t%.0f\t%.0f\t%d\t%d\t%d\t\n", s.Phase, s.UserID, s.Status, s.AckMs, s.LedgerMs, s.StoreMs, s.AAcked, s.APendingAck, s.APendingApplied)
		}
		tw.Flush()
	}
}

func cmdFairness(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fairness", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf commonFlags
	cf.register(fs)
	targetsA := fs.String("targets-a", "", "targets file of tenant A (the pushed tenant; its first target)")
	targetsB := fs.String("targets-b", "", "targets file of tenant B (deactivated; its first target, users created beforehand)")
	var o fairnessOptions
	fs.IntVar(&o.Creates, "creates", 20000, "A's initial push")
	fs.IntVar(&o.Concurrency, "concurrency", 64, "A's concurrent clients")
	fs.DurationVar(&o.Interval, "interval", 250*time.Millisecond, "between B's deactivations")
	fs.IntVar(&o.Baseline, "baseline", 8, "B's deactivations before the push, A idle")
	fs.DurationVar(&o.ApplyTimeout, "apply-timeout", 60*time.Second, "give up waiting for one deactivation after this")
	fs.DurationVar(&o.MaxDuration, "max-duration", 5*time.Minute, "bounds the push phase (at most 10m)")
	fs.DurationVar(&o.Budget, "budget", 2*time.Second, "the promise: a deactivation applied within this")
	storeTable := fs.String("store-table-b", "", "B's users table (empty: poll the ledger only)")
	loginCol := fs.String("store-login-column", "login", "B's column userName maps to")
	activeCol := fs.String("store-active-column", "enabled", "B's column active maps to")
	pollEvery := fs.Duration("poll", 5*time.Millisecond, "poll interval of one deactivation")
	perSample := fs.Bool("samples", false, "print every sample")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *targetsA == "" || *targetsB == "" || cf.redisAddr == "" {
		return errors.New("fairness: --targets-a, --targets-b and --redis are required")
	}
	if o.Creates < 1 || o.Concurrency < 1 || o.Interval <= 0 || o.ApplyTimeout <= 0 {
		return errors.New("fairness: --creates, --concurrency, --interval and --apply-timeout must be positive")
	}
	o.MaxDuration = min(max(o.MaxDuration, time.Second), maxRunDuration)
	ta, err := loadTargets(*targetsA)
	if err != nil {
		return err
	}
	tb, err := loadTargets(*targetsB)
	if err != nil {
		return err
	}
	a, b := ta.Targets[0], tb.Targets[0]
	for _, t := range []*Target{&a, &b} {
		if t.Tenant == "" {
			t.Tenant = tenantOfBaseURL(t.BaseURL)
		}
		if !cf.allowRemote {
			if err := checkLoopbackURL(ctx, t.BaseURL); err != nil {
				return err
			}
		}
	}
	if a.Tenant == b.Tenant {
		return errors.New("fairness: tenants A and B must differ")
	}
	rdb, err := cf.redisClient(ctx)
	if err != nil {
		return err
	}
	defer rdb.Close()
	p := &fairnessProbe{opts: o, rdb: rdb, aTenant: a.Tenant, bTenant: b.Tenant, pollEvery: *pollEvery,
		b: &scimClient{http: newHTTPClient(8, cf.allowRemote), target: b}}
	if cf.storeDSN != "" && *storeTable != "" {
		for _, id := range []string{*storeTable, *loginCol, *activeCol} {
			if err := checkIdent("--store-table-b/--store-login-column/--store-active-column", id); err != nil {
				return err
			}
		}
		st, err := cf.store(ctx, *storeTable, "unused")
		if err != nil {
			return err
		}
		defer st.db.Close()
		q := "SELECT " + *activeCol + " FROM " + *storeTable + " WHERE lower(" + *loginCol + ") = lower(" + st.placeholders(1, 1) + ")"
		p.storeActive = func(ctx context.Context, userName string) (bool, bool, error) {
			var active bool
			err := st.db.QueryRowContext(ctx, q, userName).Scan(&active)
			if errors.Is(err, sql.ErrNoRows) {
				return false, false, nil
			}
			return active, err == nil, err
		}
	}
	// Enough of B's active users for the baseline and a deactivation every
	// interval for the whole push phase, capped by what B has.
	want := o.Baseline + int(o.MaxDuration/o.Interval) + 1
	users, err := listActiveUsers(ctx, p.b, want)
	if err != nil {
		return err
	}
	if len(users) <= o.Baseline {
		return fmt.Errorf("fairness: tenant %s has %d active users; create more with scimbench setup --users", b.Tenant, len(users))
	}
	p.picker = &userPicker{users: users}
	o.RunID = fmt.Sprintf("f%x", time.Now().UnixNano()&0xffffffffff)
	p.opts = o
	aState := &targetState{client: &scimClient{http: newHTTPClient(o.Concurrency, cf.allowRemote), target: a}, tenant: a.Tenant}
	rep, err := runFairness(ctx, o, p, aState)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	rep.writeTable(stdout, *perSample)
	return nil
}
