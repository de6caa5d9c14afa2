package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"
)

// maxRunDuration bounds every load phase, whatever the flags say.
const maxRunDuration = 10 * time.Minute

// loadOptions configures one load phase.
type loadOptions struct {
	Scenario    string
	Concurrency int
	// Duration and Requests bound the phase; the first reached ends it.
	// Both zero means 10 s.
	Duration time.Duration
	Requests int
	// MissRatio is the share of filters asking for a userName that does
	// not exist (Okta's check before a create).
	MissRatio float64
	// Pool is how many existing users per target the phase works on.
	Pool    int
	RunID   string
	GroupID string
	// NoPassword leaves the password out of creates (Okta without password
	// sync): the store then hashes nothing.
	NoPassword bool
}

// userRef is a user the phase may read or change.
type userRef struct {
	id, userName string
}

// targetState is one tenant under load.
type targetState struct {
	client  *scimClient
	tenant  string
	users   []userRef
	groupID string
	// addable are users not yet in the group; addNext hands them out.
	addable []userRef
	addNext atomic.Int64
}

// write is an acknowledged write, for the convergence check.
type write struct {
	target  int
	kind    string // "u" or "g"
	id      string
	version int64
	marker  string // "" when the write carries no store marker
}

// opStats are one operation's latencies and outcomes.
type opStats struct {
	hist     *Histogram
	statuses map[string]int
}

func newOpStats() *opStats { return &opStats{hist: NewHistogram(), statuses: map[string]int{}} }

// loadResult is what a load phase measured.
type loadResult struct {
	Start, End time.Time
	// Done are the completion times of the successful operations, in order.
	Done     []time.Time
	Ops      map[string]*opStats
	Writes   []write
	Requests int
}

// tenantOfBaseURL extracts the tenant id from .../scim/<tenant>/v2.
func tenantOfBaseURL(base string) string {
	parts := strings.Split(strings.TrimRight(base, "/"), "/")
	for i := len(parts) - 2; i >= 1; i-- {
		if parts[i-1] == "scim" {
			return parts[i]
		}
	}
	return ""
}

// needs says what a scenario needs prepared.
func needs(scenario string, missRatio float64) (users, group bool) {
	switch scenario {
	case scenarioFilter:
		return missRatio < 1, false
	case scenarioGet, scenarioPut, scenarioDeactivate:
		return true, false
	case scenarioGroupAdd:
		return false, true
	case scenarioMix:
		return true, true
	}
	return false, false
}

// prepare fills each target's pools (unmeasured): existing users by
// listing (creating the shortfall), the group and users to add to it.
func prepare(ctx context.Context, opts loadOptions, ts []*targetState) error {
	wantUsers, wantGroup := needs(opts.Scenario, opts.MissRatio)
	for i, t := range ts {
		if wantUsers {
			users, err := listUsers(ctx, t.client, opts.Pool)
			if err != nil {
				return err
			}
			if short := opts.Pool - len(users); short > 0 {
				more, err := createUsers(ctx, t.client, short, fmt.Sprintf("pool-%s-%d", opts.RunID, i), opts.Concurrency)
				if err != nil {
					return err
				}
				users = append(users, more...)
			}
			t.users = users
		}
		if wantGroup {
			t.groupID = opts.GroupID
			if t.groupID == "" || i > 0 {
				id, err := createGroup(ctx, t.client, fmt.Sprintf("scimbench-%s-%d", opts.RunID, i))
				if err != nil {
					return err
				}
				t.groupID = id
			}
			if opts.Scenario == scenarioGroupAdd {
				n := opts.Pool
				if opts.Requests > 0 {
					n = min(n, (opts.Requests+len(ts)-1)/len(ts))
				}
				add, err := createUsers(ctx, t.client, n, fmt.Sprintf("add-%s-%d", opts.RunID, i), opts.Concurrency)
				if err != nil {
					return err
				}
				t.addable = add
			} else {
				t.addable = t.users
			}
		}
	}
	return nil
}

// listUsers pages through GET /Users (Okta's import) for up to n users.
func listUsers(ctx context.Context, c *scimClient, n int) ([]userRef, error) {
	var out []userRef
	for start := 1; len(out) < n; {
		count := min(1000, n-len(out))
		r := c.do(ctx, "GET", fmt.Sprintf("/Users?startIndex=%d&count=%d", start, count), nil)
		if err := r.errStatus("list users"); err != nil {
			return nil, err
		}
		var page struct {
			TotalResults int           `json:"totalResults"`
			Resources    []resourceRef `json:"Resources"`
		}
		if err := jsonUnmarshal(r.body, &page); err != nil {
			return nil, err
		}
		for _, u := range page.Resources {
			out = append(out, userRef{id: u.ID, userName: u.UserName})
		}
		if len(page.Resources) == 0 || start+len(page.Resources) > page.TotalResults {
			break
		}
		start += len(page.Resources)
	}
	return out, nil
}

// createUsers POSTs n new users with conc requests in flight.
func createUsers(ctx context.Context, c *scimClient, n int, prefix string, conc int) ([]userRef, error) {
	out := make([]userRef, n)
	var next atomic.Int64
	var firstErr error
	var mu gosync.Mutex
	var wg gosync.WaitGroup
	for range max(1, min(conc, n)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				un := fmt.Sprintf("%s-%d@bench.example", prefix, i)
				r := c.do(ctx, "POST", "/Users", oktaUser(un, "Bench", fmt.Sprintf("User%d", i), oktaExternalID(rng), prefix))
				err := r.errStatus("create user " + un)
				var ref resourceRef
				if err == nil {
					ref, err = decodeRef(r.body)
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				out[i] = userRef{id: ref.ID, userName: un}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

// runLoad runs the measured phase and returns what it saw.
func runLoad(ctx context.Context, opts loadOptions, ts []*targetState) (*loadResult, error) {
	if len(ts) == 0 {
		return nil, errors.New("scimbench: no targets")
	}
	if opts.Duration <= 0 && opts.Requests <= 0 {
		opts.Duration = 10 * time.Second
	}
	limit := maxRunDuration
	if opts.Duration > 0 {
		limit = min(opts.Duration, maxRunDuration)
	}
	// The deadline stops new operations; requests in flight finish (bounded
	// by the client's 60 s timeout), so every write the server may have
	// acknowledged is known to the convergence check.
	deadline := time.Now().Add(limit)

	var issued, markerSeq atomic.Int64
	results := make([]*workerResult, opts.Concurrency)
	var wg gosync.WaitGroup
	start := time.Now()
	for w := range opts.Concurrency {
		wr := &workerResult{ops: map[string]*opStats{}, deactivated: map[string]bool{},
			rng: rand.New(rand.NewPCG(uint64(w)+1, uint64(start.UnixNano())))}
		results[w] = wr
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && time.Now().Before(deadline) {
				n := issued.Add(1)
				if opts.Requests > 0 && n > int64(opts.Requests) {
					return
				}
				op := opts.Scenario
				if op == scenarioMix {
					op = pickMix(wr.rng.IntN(100))
				}
				ti := wr.rng.IntN(len(ts))
				wr.do(ctx, op, ti, ts[ti], opts, func() string {
					return fmt.Sprintf("%s-%d", opts.RunID, markerSeq.Add(1))
				}, w, n)
			}
		}()
	}
	wg.Wait()
	res := &loadResult{Start: start, End: time.Now(), Ops: map[string]*opStats{}}
	for _, wr := range results {
		for name, s := range wr.ops {
			m := res.Ops[name]
			if m == nil {
				m = newOpStats()
				res.Ops[name] = m
			}
			m.hist.Merge(s.hist)
			for k, v := range s.statuses {
				m.statuses[k] += v
			}
		}
		res.Writes = append(res.Writes, wr.writes...)
		res.Requests += wr.requests
		res.Done = append(res.Done, wr.done...)
	}
	slices.SortFunc(res.Done, func(a, b time.Time) int { return a.Compare(b) })
	return res, nil
}

// workerResult is one load worker's own state (no locks on the hot path).
type workerResult struct {
	ops         map[string]*opStats
	writes      []write
	requests    int
	done        []time.Time // completion times of successful operations
	rng         *rand.Rand
	deactivated map[string]bool
}

func (wr *workerResult) stats(op string) *opStats {
	s := wr.ops[op]
	if s == nil {
		s = newOpStats()
		wr.ops[op] = s
	}
	return s
}

// do runs one operation and records it.
func (wr *workerResult) do(ctx context.Context, op string, ti int, t *targetState, opts loadOptions, marker func() string, worker int, n int64) {
	c := t.client
	began := time.Now()
	var r response
	var w *write
	switch op {
	case scenarioFilter:
		name := fmt.Sprintf("missing-%s-%d-%d@bench.example", opts.RunID, worker, n)
		if len(t.users) > 0 && wr.rng.Float64() >= opts.MissRatio && !(opts.Scenario == scenarioMix && wr.rng.IntN(2) == 0) {
			name = t.users[wr.rng.IntN(len(t.users))].userName
		}
		r = c.do(ctx, "GET", filterPath(name), nil)
		wr.requests++
	case scenarioCreate:
		m := marker()
		un := fmt.Sprintf("c-%s-%d-%d@bench.example", opts.RunID, worker, n)
		body := oktaUser(un, "Created", fmt.Sprintf("N%d", n), oktaExternalID(wr.rng), m)
		if opts.NoPassword {
			delete(body, "password")
		}
		r = c.do(ctx, "POST", "/Users", body)
		wr.requests++
		w = &write{target: ti, kind: "u", marker: m}
	case scenarioGet:
		u := t.users[wr.rng.IntN(len(t.users))]
		r = c.do(ctx, "GET", "/Users/"+u.id, nil)
		wr.requests++
	case scenarioPut:
		u := t.users[wr.rng.IntN(len(t.users))]
		r = c.do(ctx, "GET", "/Users/"+u.id, nil)
		wr.requests++
		if r.ok() {
			m := marker()
			body, err := putBodyFrom(r.body, fmt.Sprintf("G%d", n), m)
			if err != nil {
				r = response{err: err}
				break
			}
			r = c.do(ctx, "PUT", "/Users/"+u.id, body)
			wr.requests++
			w = &write{target: ti, kind: "u", marker: m}
		}
	case scenarioDeactivate:
		u := t.users[wr.rng.IntN(len(t.users))]
		active := wr.deactivated[u.id] // alternate false, true, ... per user
		wr.deactivated[u.id] = !active
		r = c.do(ctx, "PATCH", "/Users/"+u.id, deactivateBody(active))
		wr.requests++
		w = &write{target: ti, kind: "u"}
	case scenarioGroupAdd:
		if t.groupID == "" || len(t.addable) == 0 {
			return
		}
		i := int(t.addNext.Add(1)-1) % len(t.addable)
		u := t.addable[i]
		r = c.do(ctx, "PATCH", "/Groups/"+t.groupID, groupAddBody(u.id, u.userName))
		wr.requests++
		w = &write{target: ti, kind: "g", id: t.groupID}
	default:
		return
	}
	elapsed := time.Since(began)
	if r.err != nil && ctx.Err() != nil {
		return // interrupted (Ctrl-C)
	}
	s := wr.stats(op)
	s.hist.RecordDuration(elapsed)
	if !r.ok() {
		s.statuses[r.statusKey()]++
		return
	}
	s.statuses[r.statusKey()]++
	wr.done = append(wr.done, time.Now())
	if w != nil {
		if w.kind == "u" || r.status == 200 {
			if ref, err := decodeRef(r.body); err == nil {
				w.id, w.version = ref.ID, ref.version()
			}
		}
		if w.id != "" {
			wr.writes = append(wr.writes, *w)
		}
	}
}
