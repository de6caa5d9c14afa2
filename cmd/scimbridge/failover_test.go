package main

// A Sentinel failover under an Okta-shaped load: a primary, a replica and
// a sentinel started by the test; 16 IdP clients create, update (PUT) and
// deactivate (PATCH) users, retrying 5xx as Okta does; the primary is
// SIGKILLed mid-load, the sentinel promotes the replica, the API and the
// worker find the new primary by themselves, and the killed server comes
// back (as a supervisor restarts it) and becomes the new replica.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/internal/testsupport"
	syncsvc "github.com/scimbridge/scimbridge/sync"
)

// ackedUser is the last state of a user the API acknowledged (2xx).
type ackedUser struct {
	id     string
	family string
	active bool
}

// failoverRun is the outcome of one failover run.
type failoverRun struct {
	users    map[string]*ackedUser // by userName
	acked    int64                 // 2xx answers
	retried  int64                 // 5xx or transport errors retried
	lostHere []string              // users whose acknowledged state the ledger lost
	// storeDiffers: min_replicas 0 only: the store applied a write the
	// failover took from the ledger (the two disagree until the next write).
	storeDiffers []string
}

func TestSentinelFailoverUnderLoad(t *testing.T) {
	t.Run("min_replicas=1", func(t *testing.T) {
		run := sentinelFailover(t, 1)
		if len(run.lostHere) > 0 {
			t.Fatalf("with min_replicas 1, %d acknowledged write(s) were lost: %v", len(run.lostHere), run.lostHere)
		}
		t.Logf("min_replicas 1: %d acknowledged writes, %d retries of 5xx, nothing lost", run.acked, run.retried)
	})
	t.Run("min_replicas=0", func(t *testing.T) {
		// A measurement, not an assertion: how much a failover takes with it
		// when acknowledgements do not wait for a replica depends on timing.
		run := sentinelFailover(t, 0)
		t.Logf("min_replicas 0: %d acknowledged writes, %d retries of 5xx; %d of %d users lost their last acknowledged state (e.g. %v); %d store row(s) differ from the ledger (e.g. %v)",
			run.acked, run.retried, len(run.lostHere), len(run.users), run.lostHere[:min(3, len(run.lostHere))],
			len(run.storeDiffers), run.storeDiffers[:min(2, len(run.storeDiffers))])
	})
}

func sentinelFailover(t *testing.T, minReplicas int) *failoverRun {
	const clients, usersPerClient = 16, 8
	rs := testsupport.StartRedisSentinel(t)
	ten, db := adminSQLiteTenant(t, "fo")
	cfg := testConfigOn(t, rs.Topology(), ten)
	cfg.Redis.MinReplicas = minReplicas
	cfg.Redis.ReplicaTimeout = 500 * time.Millisecond
	cfg.API.RateLimit.PerTenantRPS = -1
	// A write whose task did not survive the failover is found by the
	// sweeper; a lease held by an apply that could not finish expires.
	cfg.Sweeper.Interval, cfg.Sweeper.Grace = 500*time.Millisecond, time.Second
	cfg.Worker.StoreTimeout, cfg.Worker.LeaseTTL = 2*time.Second, 3*time.Second
	ts := startTestServer(t, cfg, serverOptions{})
	key := newKey(t, ts.app, "fo")
	idp := &failoverIdP{t: t, base: ts.url + "/scim/fo/v2", auth: "Bearer " + key}

	run := &failoverRun{users: map[string]*ackedUser{}}
	var mu gosync.Mutex
	killAt := int64(clients * usersPerClient) // acknowledged writes before the kill: a third of the load
	killed := make(chan struct{})
	var once gosync.Once
	ack := func() {
		if atomic.AddInt64(&run.acked, 1) == killAt {
			once.Do(func() { close(killed) })
		}
	}
	failedOver := make(chan struct{})
	go func() {
		defer close(failedOver)
		select {
		case <-killed:
		case <-time.After(60 * time.Second):
			return
		}
		// The replica is cut off first, and the primary goes on serving
		// for half a second: writes it takes then exist on it alone, as
		// in a partition or a replica that lags under load.
		old := rs.MasterAddr(t)
		rs.Link.Cut()
		time.Sleep(500 * time.Millisecond)
		rs.Primary.Kill()
		promoted := rs.WaitFailover(t, old)
		// The killed server is brought back as the new primary's replica
		// (as its supervisor, following the sentinel, would).
		rs.Primary.RestartReplicaOf(promoted)
	}()

	var wg gosync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range usersPerClient {
				name := fmt.Sprintf("u%02d-%02d@example.com", c, u)
				au := &ackedUser{}
				mu.Lock()
				run.users[name] = au
				mu.Unlock()
				// Okta: existence check, then create.
				id := idp.find(name, &run.retried)
				if id == "" {
					status, body := idp.send("POST", "/Users", foUser(name, "One", true), &run.retried)
					switch status {
					case 201:
						id = body["id"].(string)
					case 409: // Okta links to the user the filter finds
						id = idp.find(name, &run.retried)
					}
					if id == "" {
						t.Errorf("%s: create answered %d %v", name, status, body)
						return
					}
				}
				mu.Lock()
				au.id, au.family, au.active = id, "One", true
				mu.Unlock()
				ack()
				// PUT with a new family name, then deactivate.
				if status, body := idp.send("PUT", "/Users/"+id, foUser(name, "Two", true), &run.retried); status != 200 {
					t.Logf("%s: PUT answered %d %v", name, status, body)
					continue
				}
				mu.Lock()
				au.family = "Two"
				mu.Unlock()
				ack()
				patch := map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
					"Operations": []any{map[string]any{"op": "replace", "value": map[string]any{"active": false}}}}
				if status, body := idp.send("PATCH", "/Users/"+id, patch, &run.retried); status != 200 && status != 204 {
					t.Logf("%s: PATCH answered %d %v", name, status, body)
					continue
				}
				mu.Lock()
				au.active = false
				mu.Unlock()
				ack()
			}
		}()
	}
	wg.Wait()
	select {
	case <-killed:
	default:
		t.Fatalf("the load ended (%d acknowledged) before the kill", run.acked)
	}
	<-failedOver // the checks read the promoted replica, never the old primary

	// Convergence: the ledger holds each user's last acknowledged state
	// (or, where it lost it, that is what is measured), and the store
	// equals the ledger.
	ctx := context.Background()
	for name, au := range run.users {
		found, err := ts.app.ledger.FindUsers(ctx, "fo", "userName", name)
		if err != nil {
			t.Fatal(err)
		}
		if len(found) > 1 {
			t.Errorf("%s: %d users in the ledger, want one", name, len(found))
			continue
		}
		if len(found) == 0 || found[0].ID != au.id ||
			found[0].Attrs["name"].(map[string]any)["familyName"] != au.family || adapters.ActiveOf(found[0].Attrs) != au.active {
			run.lostHere = append(run.lostHere, name)
		}
	}
	ids := map[string]bool{}
	for _, au := range run.users {
		ids[au.id] = true
	}
	testsupport.WaitFor(t, "every user applied to the store", 60*time.Second, func() bool {
		for id := range ids {
			r, err := ts.app.ledger.GetUser(ctx, "fo", id)
			if err == nil && r.State() != syncsvc.StateApplied {
				return false
			}
		}
		return true
	})
	storeWrong := func(format string, args ...any) {
		if minReplicas > 0 {
			t.Errorf(format, args...)
		} else {
			run.storeDiffers = append(run.storeDiffers, fmt.Sprintf(format, args...))
		}
	}
	for name, au := range run.users {
		r, err := ts.app.ledger.GetUser(ctx, "fo", au.id)
		if err != nil {
			continue // lost (counted above)
		}
		var n int
		var family sql.NullString
		var active int
		err = db.QueryRow(`SELECT count(*), max(family_name), max(active) FROM users WHERE username = ?`, name).Scan(&n, &family, &active)
		if err != nil || n != 1 {
			storeWrong("%s: %d rows in the store (%v), want exactly one", name, n, err)
			continue
		}
		want := r.Attrs["name"].(map[string]any)["familyName"]
		if family.String != want || (active == 1) != adapters.ActiveOf(r.Attrs) {
			storeWrong("%s: store holds %q active=%d, ledger %v active=%v", name, family.String, active, want, adapters.ActiveOf(r.Attrs))
		}
	}
	if n, err := ts.app.ledger.CountUsers(ctx, "fo"); err != nil || n > len(run.users) {
		t.Errorf("ledger counts %d users (%v), more than the %d created: a duplicate", n, err, len(run.users))
	}
	return run
}

func foUser(name, family string, active bool) map[string]any {
	return map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": name,
		"name": map[string]any{"givenName": "Fail", "familyName": family}, "active": active,
		"emails": []any{map[string]any{"primary": true, "value": name, "type": "work"}}}
}

// failoverIdP sends requests as an IdP does: a 5xx, a 429 or a failed
// connection is retried after a pause, for up to a minute.
type failoverIdP struct {
	t          *testing.T
	base, auth string
}

func (p *failoverIdP) send(method, path string, body any, retried *int64) (int, map[string]any) {
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		req, _ := http.NewRequest(method, p.base+path, bytes.NewReader(raw))
		req.Header.Set("Authorization", p.auth)
		req.Header.Set("Content-Type", "application/scim+json")
		resp, err := http.DefaultClient.Do(req)
		status := 0
		var out map[string]any
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			status = resp.StatusCode
			_ = json.Unmarshal(b, &out)
		}
		if status != 0 && status < 500 && status != 429 {
			return status, out
		}
		if time.Now().After(deadline) {
			return status, out
		}
		atomic.AddInt64(retried, 1)
		time.Sleep(200 * time.Millisecond)
	}
}

// find is Okta's existence check: the id of the user with that userName, or "".
func (p *failoverIdP) find(name string, retried *int64) string {
	status, list := p.send("GET", "/Users?filter="+url.QueryEscape(`userName eq "`+name+`"`)+"&startIndex=1&count=100", nil, retried)
	if status != 200 {
		p.t.Errorf("existence check of %s: %d %v", name, status, list)
		return ""
	}
	res, _ := list["Resources"].([]any)
	if len(res) == 0 {
		return ""
	}
	id, _ := res[0].(map[string]any)["id"].(string)
	return id
}
