package sync

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
)

// TestRequiredSettings: a struct missing a required setting says which,
// instead of running with a value it made up.
func TestRequiredSettings(t *testing.T) {
	l := &Ledger{}
	for _, c := range []struct {
		name  string
		check error
		want  string // "" when complete
	}{
		{"Reconciler", (&Reconciler{Ledger: l}).Check(), "Stores, LeaseTTL, StoreTimeout"},
		{"Reconciler lease", (&Reconciler{Ledger: l, Stores: &storeFixture{}, LeaseTTL: testStoreTimeout, StoreTimeout: testStoreTimeout}).Check(), "LeaseTTL (1m0s) must exceed StoreTimeout"},
		{"Reconciler complete", (&Reconciler{Ledger: l, Stores: &storeFixture{}, LeaseTTL: testLeaseTTL, StoreTimeout: testStoreTimeout}).Check(), ""},
		{"Service", (&Service{Ledger: l, Stores: &storeFixture{}}).Check(), "ImportInterval (with Stores), StoreTimeout (with Stores)"},
		{"Service without stores", (&Service{Ledger: l}).Check(), ""},
		{"Sweeper", (&Sweeper{Ledger: l, Enqueuer: &recordingEnqueuer{}, Tenants: staticTenants{}}).Check(), "Interval, Grace"},
		{"DirtyCollector", (&DirtyCollector{Ledger: l, Tenants: staticTenants{}}).Check(), "CacheFor, Timeout"},
		{"Admin", (&Admin{Ledger: l}).Check(), "Service, Enqueuer, Tenants, InlineDriftLimit"},
	} {
		switch {
		case c.want == "" && c.check != nil:
			t.Errorf("%s: %v", c.name, c.check)
		case c.want != "" && (c.check == nil || !strings.Contains(c.check.Error(), c.want)):
			t.Errorf("%s: Check() = %v, want it to name %s", c.name, c.check, c.want)
		}
	}
}

// TestEntryPointsPanicOnMissingSettings: Register, Run and Describe stop a
// miswired process at startup, and a method needing an unset value panics
// naming it.
func TestEntryPointsPanicOnMissingSettings(t *testing.T) {
	panics := func(name, want string, f func()) {
		t.Helper()
		defer func() {
			if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), want) {
				t.Errorf("%s: panic %v, want one naming %s", name, r, want)
			}
		}()
		f()
	}
	l := &Ledger{}
	panics("Reconciler.Register", "LeaseTTL", func() { (&Reconciler{Ledger: l, Stores: &storeFixture{}}).Register(asynq.NewServeMux()) })
	panics("Admin.Register", "InlineDriftLimit", func() { (&Admin{Ledger: l}).Register(asynq.NewServeMux()) })
	panics("Sweeper.Run", "Interval", func() { (&Sweeper{Ledger: l}).Run(context.Background()) })
	panics("Sweeper.SweepOnce", "Sweeper: required setting(s) not set: Interval", func() { _, _ = (&Sweeper{Ledger: l}).SweepOnce(context.Background()) })
	panics("NewDirtyCollector", "CacheFor", func() { NewDirtyCollector(l, staticTenants{}, 0, 0) })
	panics("Reconciler.leaseTTL", "Reconciler: required setting(s) not set: LeaseTTL", func() { (&Reconciler{}).leaseTTL() })
	panics("Service.storeTimeout", "Service: required setting(s) not set: StoreTimeout", func() { (&Service{}).storeTimeout() })
}

// TestDirtyCollectorMissingSettingIsAScrapeError: a collector built
// without its constructor and a setting missing reports its scrapes as
// failed instead of inventing the setting.
func TestDirtyCollectorMissingSettingIsAScrapeError(t *testing.T) {
	d := &DirtyCollector{Ledger: &Ledger{}, Tenants: staticTenants{}}
	if _, err := d.read(); err == nil || !strings.Contains(err.Error(), "CacheFor") {
		t.Fatalf("read: %v", err)
	}
}
