package sync

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/adapters/sqlstore"
	"github.com/scimbridge/scimbridge/tenants"
)

// recoverBenchUsers is the size of the benchmarks' store.
const recoverBenchUsers = 5000

// recoverBenchStore is a SQLite store of recoverBenchUsers users keeping
// their SCIM id, and the Admin of a tenant on it.
func recoverBenchStore(b *testing.B) (*Admin, adapters.Store, string) {
	b.Helper()
	rdb := testRedis(b)
	tenant := testTenant(b, rdb)
	path := filepath.Join(b.TempDir(), "store.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, scim_id TEXT, username TEXT NOT NULL,
		given_name TEXT, family_name TEXT, email TEXT, active INTEGER NOT NULL DEFAULT 1)`); err != nil {
		b.Fatal(err)
	}
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	for i := range recoverBenchUsers {
		if _, err := tx.Exec(`INSERT INTO users (scim_id, username, given_name, family_name, email) VALUES (?, ?, 'Given', 'Family', ?)`,
			newID(), fmt.Sprintf("u%d@example.com", i), fmt.Sprintf("u%d@example.com", i)); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	cfg := adapters.Config{Kind: "sqlite", DSN: path, Users: adapters.UserMapping{Table: "users", Key: "id",
		Attributes: map[string]string{"id": "scim_id", "userName": "username", "name.givenName": "given_name",
			"name.familyName": "family_name", `emails[type eq "work"].value`: "email"},
		Active: &adapters.ActiveMapping{Column: "active", Active: "1", Inactive: "0"}}}
	st, err := sqlstore.Open(context.Background(), tenant, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	fx := &storeFixture{store: st}
	l := NewLedger(rdb, nil)
	svc := &Service{Ledger: l, Enqueuer: &recordingEnqueuer{}, Stores: fx, ImportInterval: testImportInterval, StoreTimeout: testLookupTimeout}
	a := &Admin{Ledger: l, Service: svc, Enqueuer: &jobRecorder{recordingEnqueuer: &recordingEnqueuer{}},
		Tenants: fixtureTenant{tenants.Tenant{ID: tenant, Store: cfg}}, InlineDriftLimit: testInlineDrift}
	return a, st, tenant
}

// BenchmarkRecover: a recover of a 5,000-user store into an empty ledger
// (ns/op is one whole recover), beside its ceiling, the same store's
// listing alone (BenchmarkRecoverCeilingListing): the ratio of the two is
// what recording each user in the ledger costs on top of reading the store.
//
//	go test -run '^$' -bench 'Recover' -benchtime 5x ./sync
func BenchmarkRecover(b *testing.B) {
	a, _, tenant := recoverBenchStore(b)
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		if err := a.Ledger.clearLedger(ctx, tenant); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		rep, err := a.Recover(ctx, tenant, RecoverOptions{}, nil)
		if err != nil || rep.Users.Recovered != recoverBenchUsers || rep.Users.OldIDs != recoverBenchUsers {
			b.Fatalf("%+v %v", rep, err)
		}
	}
	b.ReportMetric(float64(recoverBenchUsers)*float64(b.N)/b.Elapsed().Seconds(), "users/s")
}

// BenchmarkRecoverCeilingListing lists the benchmark store a page at a
// time, as a recover does, and nothing else.
func BenchmarkRecoverCeilingListing(b *testing.B) {
	_, st, _ := recoverBenchStore(b)
	ctx := context.Background()
	for b.Loop() {
		n, cursor := 0, ""
		for {
			entries, next, err := st.ListUsers(ctx, cursor, scanBatch)
			if err != nil {
				b.Fatal(err)
			}
			n += len(entries)
			if next == "" || len(entries) == 0 {
				break
			}
			cursor = next
		}
		if n != recoverBenchUsers {
			b.Fatalf("listed %d", n)
		}
	}
	b.ReportMetric(float64(recoverBenchUsers)*float64(b.N)/b.Elapsed().Seconds(), "users/s")
}
