package api

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sort"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/scim"
)

// BenchmarkOtherTenantGet measures what issue 17 saw: tenant B's GET
// /Users/{id} while tenant A sends heavy requests from 4 concurrent
// clients (POST /Groups with scim.MaxGroupMembers member ids: tens of
// milliseconds of parsing each, then refused by the ledger as the ids are
// unknown), against the real service on Redis. "idle": no load; "heavy":
// the per-tenant bound as configured by default; "heavy-unbounded": the
// bound lifted. It reports B's median and p99 latency.
//
//	go test -run '^$' -bench OtherTenantGet -benchtime 300x ./api
func BenchmarkOtherTenantGet(b *testing.B) {
	heavyBody := `{"displayName":"Load","members":` + memberIDList("f", scim.MaxGroupMembers) + `}`
	for _, mode := range []struct {
		name     string
		heavy    bool
		capacity int64
	}{
		{"idle", false, 0},
		{"heavy", true, 0},
		{"heavy-unbounded", true, math.MaxInt32},
	} {
		b.Run(mode.name, func(b *testing.B) {
			env, _, ids := setupRedisTenants(b, Config{TenantCapacity: mode.capacity})
			serve := func(tenant int, method, path, body string) *httptest.ResponseRecorder {
				var req *http.Request
				if body != "" {
					req = httptest.NewRequest(method, "/scim/"+ids[tenant]+"/v2"+path, strings.NewReader(body))
					req.Header.Set("Content-Type", "application/scim+json")
				} else {
					req = httptest.NewRequest(method, "/scim/"+ids[tenant]+"/v2"+path, nil)
				}
				req.Header.Set("Authorization", "Bearer key-"+ids[tenant])
				rec := httptest.NewRecorder()
				env.router.ServeHTTP(rec, req)
				return rec
			}
			rec := serve(1, http.MethodPost, "/Users", userJSON("reader@example.com", "x-reader"))
			if rec.Code != http.StatusCreated {
				b.Fatalf("create: %d %s", rec.Code, rec.Body)
			}
			_, userB, _ := strings.Cut(rec.Header().Get("Location"), "/Users/")

			ctx, cancel := context.WithCancel(context.Background())
			var wg gosync.WaitGroup
			if mode.heavy {
				for range 4 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for ctx.Err() == nil {
							rec := serve(0, http.MethodPost, "/Groups", heavyBody)
							if rec.Code != http.StatusBadRequest && rec.Code != http.StatusTooManyRequests {
								b.Errorf("heavy request: %d %s", rec.Code, rec.Body)
								return
							}
						}
					}()
				}
				time.Sleep(200 * time.Millisecond) // let the load build up
			}
			lat := make([]time.Duration, 0, b.N)
			for b.Loop() {
				start := time.Now()
				rec := serve(1, http.MethodGet, "/Users/"+userB, "")
				lat = append(lat, time.Since(start))
				if rec.Code != http.StatusOK {
					b.Fatalf("GET of tenant B: %d %s", rec.Code, rec.Body)
				}
			}
			cancel()
			wg.Wait()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "procs")
		})
	}
}

// BenchmarkFastPathOverhead is what this file adds to every request that
// does not wait: the deadline (a context with a timeout on a copy of the
// request) and a free turn taken and given back.
//
//	go test -run '^$' -bench FastPathOverhead -benchmem ./api
func BenchmarkFastPathOverhead(b *testing.B) {
	l := newTenantLoad(defaultTenantCapacity())
	req := httptest.NewRequest(http.MethodGet, "/scim/acme/v2/Users/x", nil)
	b.ReportAllocs()
	for b.Loop() {
		ctx, cancel := context.WithTimeout(req.Context(), DefaultRequestTimeout)
		r := req.WithContext(ctx)
		w, err := l.acquire(r.Context(), "acme", 1, DefaultRequestTimeout/2)
		if err != nil {
			b.Fatal(err)
		}
		l.release("acme", w)
		cancel()
	}
}
