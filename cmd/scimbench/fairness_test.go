package main

import (
	"testing"
	"time"
)

func TestSummarizeFairnessCountsAndPercentiles(t *testing.T) {
	t.Parallel()
	samples := []fairnessSample{
		{Phase: "idle", Status: "200", AckMs: 1, LedgerMs: 10, StoreMs: 12, StorePolled: true},
		{Phase: "push", Status: "200", AckMs: 2, LedgerMs: 100, StoreMs: 110, StorePolled: true, APendingAck: 500},
		{Phase: "push", Status: "200", AckMs: 3, LedgerMs: 2500, StoreMs: 2600, StorePolled: true, APendingAck: 900},
		{Phase: "push", Status: "200", AckMs: 4, LedgerMs: 300, StoreMs: -1, StorePolled: true, APendingAck: 100},
		{Phase: "push", Status: "200", AckMs: 5, LedgerMs: -1, StoreMs: -1, StorePolled: true, Failed: true, APendingAck: 0},
		{Phase: "push", Status: "503", AckMs: 6, LedgerMs: -1, StoreMs: -1, StorePolled: true},
	}
	got := summarizeFairness("push", samples, 2*time.Second)
	if got.Samples != 5 || got.Acked != 4 || got.Statuses["200"] != 4 || got.Statuses["503"] != 1 {
		t.Fatalf("counts: %+v", got)
	}
	if got.WithinBudget != 1 || got.NeverApplied != 1 || got.Failed != 1 {
		t.Errorf("within %d never %d failed %d, want 1 1 1", got.WithinBudget, got.NeverApplied, got.Failed)
	}
	if got.LedgerSeen != 3 || got.StoreSeen != 2 {
		t.Errorf("seen ledger %d store %d, want 3 2", got.LedgerSeen, got.StoreSeen)
	}
	if got.LedgerMax != 2500 || got.StoreMax != 2600 || got.AckMax != 6 {
		t.Errorf("max ledger %v store %v ack %v", got.LedgerMax, got.StoreMax, got.AckMax)
	}
	if got.UnderLoad != 3 || got.APendingMin != 0 || got.APendingMed != 100 || got.APendingMax != 900 {
		t.Errorf("A pending: under load %d min %d med %d max %d", got.UnderLoad, got.APendingMin, got.APendingMed, got.APendingMax)
	}
	if p50 := got.StoreP50; p50 < 110 || p50 > 111 {
		t.Errorf("store p50 %v, want ~110 (nearest rank of 110, 2600)", p50)
	}
}

func TestSummarizeFairnessLedgerOnlyUsesLedgerTimes(t *testing.T) {
	t.Parallel()
	got := summarizeFairness("idle", []fairnessSample{
		{Phase: "idle", Status: "200", LedgerMs: 50, StoreMs: -1},
		{Phase: "idle", Status: "200", LedgerMs: -1, StoreMs: -1},
	}, time.Second)
	if got.WithinBudget != 1 || got.NeverApplied != 1 || got.StoreSeen != 0 {
		t.Fatalf("%+v", got)
	}
}

func TestAppliedState(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name            string
		vals            []any
		version         int64
		applied, failed bool
	}{
		{"applied exactly", []any{"5", "5", nil}, 5, true, false},
		{"applied later version", []any{"7", "6", nil}, 5, true, false},
		{"pending", []any{"5", "4", nil}, 5, false, false},
		{"rejected by the store", []any{"5", "4", "5"}, 5, false, true},
		{"older failure only", []any{"5", "4", "3"}, 5, false, false},
		{"missing record", []any{nil, nil, nil}, 1, false, false},
	} {
		applied, failed := appliedState(tc.vals, tc.version)
		if applied != tc.applied || failed != tc.failed {
			t.Errorf("%s: applied %v failed %v, want %v %v", tc.name, applied, failed, tc.applied, tc.failed)
		}
	}
}

func TestUserPickerHandsOutEachUserOnce(t *testing.T) {
	t.Parallel()
	p := &userPicker{users: []userRef{{id: "a"}, {id: "b"}}}
	var got []string
	for {
		u, seq, ok := p.pick()
		if !ok {
			if seq != 2 {
				t.Errorf("exhausted at seq %d, want 2", seq)
			}
			break
		}
		if seq != len(got) {
			t.Errorf("seq %d, want %d", seq, len(got))
		}
		got = append(got, u.id)
	}
	if len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Fatalf("%v", got)
	}
	if _, _, ok := p.pick(); ok {
		t.Fatal("picked after exhaustion")
	}
}
