package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// opReport is one operation's numbers.
type opReport struct {
	Op       string         `json:"op"`
	Count    uint64         `json:"count"`
	PerSec   float64        `json:"per_s"`
	P50Ms    float64        `json:"p50_ms"`
	P99Ms    float64        `json:"p99_ms"`
	MinMs    float64        `json:"min_ms"`
	MaxMs    float64        `json:"max_ms"`
	MeanMs   float64        `json:"mean_ms"`
	Statuses map[string]int `json:"statuses"`
}

// convergeReport is end-to-end convergence after the load.
type convergeReport struct {
	Writes int `json:"writes"` // distinct resources written
	// Ledger: every applied version (av) reached the acknowledged version.
	LedgerSeconds float64 `json:"ledger_s,omitempty"`
	LedgerPending int     `json:"ledger_pending"`
	LedgerFailed  int     `json:"ledger_failed"` // rejected by the store (recorded failures)
	// Store: every marked row holds its last acknowledged marker.
	StoreSeconds float64 `json:"store_s,omitempty"`
	StorePending int     `json:"store_pending"`
	StoreWrites  int     `json:"store_writes"`
	// MemberChanges (group-add): the member additions acknowledged, each
	// a row the store inserts; they are the applies counted, not Writes.
	MemberChanges int `json:"member_changes,omitempty"`
	// PushSeconds is from the first request to convergence (store when
	// polled, else ledger); AppliesPerSec = applies / PushSeconds.
	PushSeconds   float64 `json:"push_s"`
	AppliesPerSec float64 `json:"applies_per_s"`
}

// applies is what the store had to apply: the member changes of a
// group-add, else the resources written.
func (c *convergeReport) applies() int {
	if c.MemberChanges > 0 {
		return c.MemberChanges
	}
	return c.Writes
}

// ratioReport relates the result to the store's own ceiling.
type ratioReport struct {
	// AppliesVsCeiling is applies/s ÷ ceiling rows/s (INSERT for creates,
	// mixes and group member additions, UPDATE for puts and deactivations).
	AppliesVsCeiling float64 `json:"applies_vs_ceiling"`
	CeilingSeconds   float64 `json:"ceiling_s"` // the same rows, store alone
	// PushTargetSeconds is 2 × ceiling time + 2 s (issue 7's target).
	PushTargetSeconds float64 `json:"push_target_s"`
	PushWithinTarget  bool    `json:"push_within_target"`
}

// runReport is the output of `scimbench run`.
type runReport struct {
	Scenario    string          `json:"scenario"`
	Targets     int             `json:"targets"`
	Concurrency int             `json:"concurrency"`
	Seconds     float64         `json:"seconds"`
	Ops         uint64          `json:"ops"`
	Requests    int             `json:"requests"`
	OpsPerSec   float64         `json:"ops_per_s"`
	ReqPerSec   float64         `json:"requests_per_s"`
	ByOp        []opReport      `json:"by_op"`
	Errors      map[string]int  `json:"errors"`
	Converge    *convergeReport `json:"convergence,omitempty"`
	Ceiling     *Ceiling        `json:"store_ceiling,omitempty"`
	Ratio       *ratioReport    `json:"ratio,omitempty"`
	// Thousands is the rate of each successive 1,000 successful
	// operations (ops/s), in order; LastVsFirst is the last full
	// thousand's rate ÷ the first's (1: no slowdown as data grows).
	Thousands   []float64 `json:"per_thousand_ops_per_s,omitempty"`
	LastVsFirst float64   `json:"last_vs_first_thousand,omitempty"`
	// StartedAt is when the measured phase began and ThousandEnds the
	// seconds from then to each thousand's last completion, to line the
	// windows up with the server's own timestamps (GC, compactions).
	StartedAt    time.Time `json:"started_at"`
	ThousandEnds []float64 `json:"thousand_ends_s,omitempty"`
	RSSBeforeKB  int64     `json:"server_rss_before_kb,omitempty"`
	RSSAfterKB   int64     `json:"server_rss_after_kb,omitempty"`
}

func ms(us int64) float64 { return float64(us) / 1000 }

// buildReport summarises a load result.
func buildReport(scenario string, targets, conc int, lr *loadResult) *runReport {
	secs := lr.End.Sub(lr.Start).Seconds()
	rep := &runReport{Scenario: scenario, Targets: targets, Concurrency: conc, Seconds: secs,
		Requests: lr.Requests, Errors: map[string]int{}}
	names := make([]string, 0, len(lr.Ops))
	for n := range lr.Ops {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := lr.Ops[n]
		h := s.hist
		rep.Ops += h.Count()
		or := opReport{Op: n, Count: h.Count(), P50Ms: ms(h.Percentile(50)), P99Ms: ms(h.Percentile(99)),
			MinMs: ms(h.Min()), MaxMs: ms(h.Max()), MeanMs: h.Mean() / 1000, Statuses: s.statuses}
		if secs > 0 {
			or.PerSec = float64(h.Count()) / secs
		}
		rep.ByOp = append(rep.ByOp, or)
		for k, v := range s.statuses {
			if !strings.HasPrefix(k, "2") {
				rep.Errors[k] += v
			}
		}
	}
	if secs > 0 {
		rep.OpsPerSec = float64(rep.Ops) / secs
		rep.ReqPerSec = float64(rep.Requests) / secs
	}
	rep.Thousands = perThousand(lr.Start, lr.Done)
	rep.StartedAt = lr.Start
	for i := 999; i < len(lr.Done); i += 1000 {
		rep.ThousandEnds = append(rep.ThousandEnds, lr.Done[i].Sub(lr.Start).Seconds())
	}
	if n := len(rep.Thousands); n >= 2 && rep.Thousands[0] > 0 {
		rep.LastVsFirst = rep.Thousands[n-1] / rep.Thousands[0]
	}
	return rep
}

// perThousand is the rate of each full 1,000 completions: 1,000 ÷ the
// time from the previous thousand's last completion (the start, for the
// first) to this one's.
func perThousand(start time.Time, done []time.Time) []float64 {
	var out []float64
	prev := start
	for i := 999; i < len(done); i += 1000 {
		if d := done[i].Sub(prev).Seconds(); d > 0 {
			out = append(out, 1000/d)
		} else {
			out = append(out, 0)
		}
		prev = done[i]
	}
	return out
}

// writeTable prints the human table.
func (r *runReport) writeTable(w io.Writer) {
	fmt.Fprintf(w, "scenario %s: %d clients, %d target(s), %.2f s, %d ops (%.0f ops/s), %d requests (%.0f req/s)\n",
		r.Scenario, r.Concurrency, r.Targets, r.Seconds, r.Ops, r.OpsPerSec, r.Requests, r.ReqPerSec)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "op\tcount\tper s\tp50 ms\tp99 ms\tmax ms\tstatuses\t")
	for _, o := range r.ByOp {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%s\t\n", o.Op, o.Count, o.PerSec, o.P50Ms, o.P99Ms, o.MaxMs, statusString(o.Statuses))
	}
	tw.Flush()
	if len(r.Errors) > 0 {
		fmt.Fprintf(w, "errors: %s\n", statusString(r.Errors))
	}
	if len(r.Thousands) >= 2 {
		parts := make([]string, len(r.Thousands))
		for i, v := range r.Thousands {
			parts[i] = strconv.FormatFloat(v, 'f', 0, 64)
		}
		fmt.Fprintf(w, "per 1,000 ops (ops/s): %s; last ÷ first = %.2f\n", strings.Join(parts, " "), r.LastVsFirst)
		ends := make([]string, len(r.ThousandEnds))
		for i, v := range r.ThousandEnds {
			ends[i] = strconv.FormatFloat(v, 'f', 2, 64)
		}
		fmt.Fprintf(w, "thousands ended at (s after %s): %s\n", r.StartedAt.UTC().Format("15:04:05.000"), strings.Join(ends, " "))
	}
	if c := r.Converge; c != nil {
		fmt.Fprintf(w, "convergence: %d resources written; ledger applied after %.3f s (%d pending, %d failed); store reflects %d marked writes after %.3f s (%d pending)\n",
			c.Writes, c.LedgerSeconds, c.LedgerPending, c.LedgerFailed, c.StoreWrites, c.StoreSeconds, c.StorePending)
		if c.MemberChanges > 0 {
			fmt.Fprintf(w, "member changes: %d (the applies counted)\n", c.MemberChanges)
		}
		fmt.Fprintf(w, "push: first request to converged %.3f s = %.0f applies/s\n", c.PushSeconds, c.AppliesPerSec)
	}
	if c := r.Ceiling; c != nil {
		fmt.Fprintf(w, "store ceiling (%d rows, %d at once): INSERT %.0f/s (%.3f s), UPDATE %.0f/s (%.3f s)\n",
			c.Rows, c.Concurrency, c.InsertPerSec, c.InsertSeconds, c.UpdatePerSec, c.UpdateSeconds)
	}
	if x := r.Ratio; x != nil {
		fmt.Fprintf(w, "ratio: applies/s ÷ ceiling/s = %.2f; push %.3f s vs target 2×%.3f s + 2 s = %.3f s: within=%v\n",
			x.AppliesVsCeiling, r.Converge.PushSeconds, x.CeilingSeconds, x.PushTargetSeconds, x.PushWithinTarget)
	}
	if r.RSSAfterKB > 0 {
		fmt.Fprintf(w, "server RSS: %.1f MB before, %.1f MB after\n", float64(r.RSSBeforeKB)/1024, float64(r.RSSAfterKB)/1024)
	}
}

func statusString(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s×%d", k, m[k])
	}
	return strings.Join(parts, " ")
}

// processRSSKB reads VmRSS (kB) of a process from /proc.
func processRSSKB(pid int) (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("scimbench: rss: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB"))
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("scimbench: rss: no VmRSS for pid %d", pid)
}
