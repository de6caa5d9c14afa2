package main

// The embedded default as a real process: what a kill -9 keeps, and a
// SIGTERM with a large data set.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scimbridge/scimbridge/cmd/scimbridge/internal/embeddedredis"
	"github.com/scimbridge/scimbridge/internal/testsupport"
)

// embeddedProc is `scimbridge serve --data dir` (no configuration).
type embeddedProc struct {
	p    *testsupport.Process
	dir  string
	base string
	key  string
}

func startEmbeddedProc(t *testing.T, dir string, port int, env ...string) *embeddedProc {
	t.Helper()
	cmd := exec.Command(testsupport.ScimbridgeBinary(t), "serve", "--data", dir)
	cmd.Env = append(os.Environ(), "SCIMBRIDGE_LISTEN=127.0.0.1:"+strconv.Itoa(port), "SCIMBRIDGE_LOG_LEVEL=warn")
	cmd.Env = append(cmd.Env, env...) // the last of a duplicate key wins
	e := &embeddedProc{dir: dir, base: fmt.Sprintf("http://127.0.0.1:%d/scim/demo/v2", port)}
	e.p = testsupport.StartProcess(t, "scimbridge serve (embedded)", cmd, testsupport.Kill)
	testsupport.WaitFor(t, "embedded default up", 60*time.Second, func() bool {
		b, err := os.ReadFile(filepath.Join(dir, demoKeyFile))
		if err != nil {
			return false
		}
		e.key = strings.TrimSpace(string(b))
		status, _ := e.do(t, http.MethodGet, "/Users?count=1", nil)
		return status == http.StatusOK
	})
	return e
}

func (e *embeddedProc) do(t *testing.T, method, path string, body any) (int, map[string]any) {
	t.Helper()
	status, out, _ := sendSCIM(e.base, e.key, method, path, body)
	return status, out
}

// createUsers creates n users with 16 clients and returns the ids of the
// acknowledged ones by userName.
func (e *embeddedProc) createUsers(t *testing.T, prefix string, n int) map[string]string {
	t.Helper()
	return e.createUsersWith(t, prefix, n, func(int) map[string]any {
		return map[string]any{"name": map[string]any{"givenName": "G", "familyName": "F"}}
	})
}

// createUsersWith creates n active users named prefix+NNNN@example.com from
// 16 clients, each body with extra(i)'s attributes, and returns their ids
// by userName; it fails the test unless all were acknowledged.
func (e *embeddedProc) createUsersWith(t *testing.T, prefix string, n int, extra func(i int) map[string]any) map[string]string {
	t.Helper()
	var mu sync.Mutex
	ids := map[string]string{}
	work := make(chan int)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				name := fmt.Sprintf("%s%04d@example.com", prefix, i)
				user := extra(i)
				user["schemas"] = []string{"urn:ietf:params:scim:schemas:core:2.0:User"}
				user["userName"], user["active"] = name, true
				status, body := e.do(t, http.MethodPost, "/Users", user)
				if status == http.StatusCreated {
					mu.Lock()
					ids[name], _ = body["id"].(string)
					mu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	if len(ids) != n {
		t.Fatalf("%d of %d creates acknowledged", len(ids), n)
	}
	return ids
}

// waitJournaled waits until the journal holds s: the flush the README's
// "up to the last second" speaks of has happened.
func waitJournaled(t *testing.T, dir, s string) {
	t.Helper()
	testsupport.WaitFor(t, "journal flushed", 30*time.Second, func() bool {
		b, err := os.ReadFile(filepath.Join(dir, embeddedredis.JournalFile))
		if err == nil && bytes.Contains(b, []byte(s)) {
			return true
		}
		// A flush may have written a full snapshot instead (its values
		// are base64 in JSON), and started the journal afresh.
		snap, err := os.ReadFile(filepath.Join(dir, embeddedredis.SnapshotFile))
		var v any
		return err == nil && json.Unmarshal(snap, &v) == nil && holdsBase64(v, []byte(s))
	})
}

// holdsBase64 reports whether a string of the decoded JSON v, read as
// base64, contains s.
func holdsBase64(v any, s []byte) bool {
	switch x := v.(type) {
	case string:
		b, err := base64.StdEncoding.DecodeString(x)
		return err == nil && bytes.Contains(b, s)
	case []any:
		for _, e := range x {
			if holdsBase64(e, s) {
				return true
			}
		}
	case map[string]any:
		for _, e := range x {
			if holdsBase64(e, s) {
				return true
			}
		}
	}
	return false
}

func (e *embeddedProc) wantUsers(t *testing.T, ids map[string]string) {
	t.Helper()
	for name, id := range ids {
		if status, body := e.do(t, http.MethodGet, "/Users/"+id, nil); status != http.StatusOK || body["userName"] != name {
			t.Errorf("GET /Users/%s after restart = %d %v, want %s", id, status, body["userName"], name)
		}
	}
}

// A kill -9 after acknowledged creates loses none of those the journal had
// flushed (the README's bound: the last second); the restart replays them.
func TestEmbeddedDefaultKill9KeepsAcknowledgedUsers(t *testing.T) {
	dir := t.TempDir()
	port := testsupport.FreePort(t)
	e := startEmbeddedProc(t, dir, port)
	ids := e.createUsers(t, "kill9-", 100)
	last := ""
	for name := range ids {
		last = max(last, name)
	}
	waitJournaled(t, dir, last)
	e.p.Signal(syscall.SIGKILL)
	_ = e.p.Wait(10 * time.Second)

	e = startEmbeddedProc(t, dir, port)
	e.wantUsers(t, ids)
	status, body := e.do(t, http.MethodGet, "/Users?count=1", nil)
	if status != http.StatusOK || body["totalResults"] != float64(len(ids)+1) { // + the demo store's own user, adopted
		t.Errorf("after kill -9 and restart: %d totalResults %v, want %d", status, body["totalResults"], len(ids)+1)
	}
}

// SIGTERM with a large data set exits cleanly (status 0) without writing
// the data out again, and everything is there after a restart.
func TestEmbeddedDefaultSIGTERMWithLargeData(t *testing.T) {
	dir := t.TempDir()
	port := testsupport.FreePort(t)
	e := startEmbeddedProc(t, dir, port)
	ids := e.createUsers(t, "term-", 50)

	addr, err := embeddedredis.ReadAddr(dir)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	ctx := context.Background()
	t0 := time.Now()
	const bulk = 40_000 // ~12 MB of hashes beside the users
	for i := 0; i < bulk; i += 5000 {
		p := rdb.Pipeline()
		for j := i; j < i+5000; j++ {
			p.HSet(ctx, "bulk:"+strconv.Itoa(j), "v", strings.Repeat("x", 256), "n", j)
		}
		if _, err := p.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	rdb.Close()
	waitJournaled(t, dir, "bulk:"+strconv.Itoa(bulk-1))
	t.Logf("bulk written and journaled in %s", time.Since(t0))
	t0 = time.Now()

	e.p.Signal(syscall.SIGTERM)
	// A generous deadline only so that a hung process fails the test.
	if err := e.p.Wait(2 * time.Minute); err != nil {
		t.Fatalf("exit after SIGTERM: %v, want a clean exit", err)
	}
	t.Logf("exited %s after SIGTERM", time.Since(t0))
	t0 = time.Now()

	e = startEmbeddedProc(t, dir, port)
	t.Logf("restarted in %s", time.Since(t0))
	e.wantUsers(t, ids)
	addr, err = embeddedredis.ReadAddr(dir)
	if err != nil {
		t.Fatal(err)
	}
	rdb = redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	for _, j := range []int{0, bulk / 2, bulk - 1} {
		if n, err := rdb.HGet(ctx, "bulk:"+strconv.Itoa(j), "n").Int(); err != nil || n != j {
			t.Errorf("bulk:%d after restart = %d, %v", j, n, err)
		}
	}
	if n, err := rdb.Eval(ctx, `return #redis.call('KEYS', 'bulk:*')`, nil).Int(); err != nil || n != bulk {
		t.Errorf("bulk keys after restart = %d, %v; want %d", n, err, bulk)
	}
}

// An admin command run beside an embedded server listening on another
// port than the default prints that server's Base URL, not :8080's, even
// without the server's environment.
func TestEmbeddedAdminCommandsUseTheServedURL(t *testing.T) {
	dir := t.TempDir()
	port := testsupport.FreePort(t)
	startEmbeddedProc(t, dir, port)
	cmd := exec.Command(testsupport.ScimbridgeBinary(t), "key", "create", "--tenant", "demo", "--name", "okta", "--data", dir)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SCIMBRIDGE_") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("key create: %v\n%s", err, out)
	}
	want := fmt.Sprintf("http://127.0.0.1:%d/scim/demo/v2", port)
	if !strings.Contains(string(out), want) {
		t.Fatalf("key create printed\n%s\nwant the Base URL %s", out, want)
	}
}
