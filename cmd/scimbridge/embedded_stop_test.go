package main

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/testsupport"
)

// demoStoreUsers counts the demo store's rows whose userName starts with
// prefix, and those of them with a password hash.
func demoStoreUsers(t *testing.T, dir, prefix string) (rows, hashed int) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, demoDB))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.QueryRow(`SELECT count(*), count(password_hash) FROM users WHERE username LIKE ?`, prefix+"%").
		Scan(&rows, &hashed); err != nil {
		t.Fatal(err)
	}
	return rows, hashed
}

// SIGTERM in the middle of a drain (every user carries a password, so each
// apply is an argon2id hash and the backlog takes many seconds) stops the
// drain instead of waiting for it: the process exits 0 with users still
// unapplied (with the old behaviour asynq's 20 s shutdown wait let the
// drain finish this backlog), nothing is lost, and after a restart the
// rest is applied.
func TestEmbeddedDefaultSIGTERMStopsADrain(t *testing.T) {
	dir := t.TempDir()
	port := testsupport.FreePort(t)
	e := startEmbeddedProc(t, dir, port, "SCIMBRIDGE_LOG_LEVEL=info")
	const n, prefix = 300, "stop-"
	ids := e.createUsersWith(t, prefix, n, func(i int) map[string]any {
		return map[string]any{"password": fmt.Sprintf("Pw-%d-correct-horse", i)}
	})

	// The drain is under way once its first batch committed (the worker
	// polls every worker.poll_interval, so it may not have begun yet).
	testsupport.WaitFor(t, "a first drain batch applied", time.Minute, func() bool {
		n, _ := demoStoreUsers(t, dir, prefix)
		return n > 0
	})
	before, _ := demoStoreUsers(t, dir, prefix)
	t0 := time.Now()
	e.p.Signal(syscall.SIGTERM)
	// A generous deadline only so that a hung process fails the test.
	if err := e.p.Wait(2 * time.Minute); err != nil {
		t.Fatalf("exit after SIGTERM: %v, want a clean exit", err)
	}
	applied, _ := demoStoreUsers(t, dir, prefix)
	t.Logf("exited %s after SIGTERM; %d of %d users applied at the signal, %d at the exit",
		time.Since(t0).Round(time.Millisecond), before, n, applied)
	// The drain said it stopped with work left, and did: no batch began
	// after the signal (at most one in flight may have committed before
	// the cut reached it).
	logs := e.p.Logs.String()
	m := regexp.MustCompile(`drain stopped for shutdown.*dirty_users_left=(\d+)`).FindStringSubmatch(logs)
	if m == nil {
		t.Fatalf("no drain stopped for the shutdown; log:\n%s", logs)
	}
	if left, _ := strconv.Atoi(m[1]); left == 0 {
		t.Fatalf("the stopped drain left no work: %s", m[0])
	}
	if applied >= n || applied-before > 200 { // 200: one batch (sync.drainBatch)
		t.Fatalf("%d users applied at the signal, %d at the exit (of %d): the drain went on after SIGTERM", before, applied, n)
	}

	e = startEmbeddedProc(t, dir, port)
	testsupport.WaitFor(t, "the rest applied after the restart", 3*time.Minute, func() bool {
		rows, hashed := demoStoreUsers(t, dir, prefix)
		return rows == n && hashed == n
	})
	e.wantUsers(t, ids)
}
