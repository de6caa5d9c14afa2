package api

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/internal/testsupport"
	syncsvc "github.com/scimbridge/scimbridge/sync"
	"github.com/scimbridge/scimbridge/tenants"
)

// Read-path benchmarks of the front door, in process: the router over the
// real tenants.Registry, tenants.KeyStore and sync.Service on the test
// Redis, with a tenant of their own (its keys deleted afterwards).
//
//	go test -run '^$' -bench RedisRead -benchmem -cpuprofile read.prof ./api

// benchFrontDoor is a wired router with benchUsers users already created.
type benchFrontDoor struct {
	router *Router
	base   string
	auth   string
	ids    []string
	names  []string
}

const benchUsers = 200

func newBenchFrontDoor(b *testing.B) *benchFrontDoor {
	b.Helper()
	rdb := testsupport.Redis(b, func(o *redis.Options) { o.PoolSize = 64 })
	ctx := context.Background()
	tenant := testsupport.Tenant(b, rdb, "apibench")
	reg := tenants.NewRegistry(rdb)
	keys := tenants.NewKeyStore(rdb)
	keys.EnableCache(time.Second) // as the API process does (api.key_cache_ttl)
	b.Cleanup(func() {
		keys.Wait()
		_ = reg.Delete(context.Background(), tenant)
	})
	err := reg.Put(ctx, tenants.Tenant{ID: tenant, Name: "bench", Store: adapters.Config{
		Kind: "postgres", DSN: "postgres://bench@127.0.0.1:5432/bench?sslmode=disable",
		Users: adapters.UserMapping{Table: "users", Key: "id", Attributes: map[string]string{
			"userName": "login", "name.givenName": "given", "name.familyName": "family",
			"emails[type eq \"work\"].value": "mail", "externalId": "okta_id",
		}, Active: &adapters.ActiveMapping{Column: "enabled"}},
	}, Schema: &tenants.CustomSchema{URN: "urn:ietf:params:scim:schemas:extension:bench:2.0:User",
		Attributes: []tenants.CustomAttribute{{Name: "costCenter"}, {Name: "level", Type: "integer"}}}})
	if err != nil {
		b.Fatal(err)
	}
	plain, _, err := keys.Create(ctx, tenant, "bench")
	if err != nil {
		b.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	sealer, err := syncsvc.NewSealer(key)
	if err != nil {
		b.Fatal(err)
	}
	svc := &syncsvc.Service{Ledger: syncsvc.NewLedger(rdb, sealer), Logger: slog.New(slog.DiscardHandler)}
	fd := &benchFrontDoor{
		router: New(Config{PublicURL: publicURL, Logger: slog.New(slog.DiscardHandler)},
			Deps{Users: svc, Tenants: reg, Keys: keys}),
		base: "/scim/" + tenant + "/v2",
		auth: "Bearer " + plain,
	}
	for i := range benchUsers {
		name := fmt.Sprintf("user%d@example.com", i)
		rec := fd.serve(http.MethodPost, fd.base+"/Users", userJSON(name, fmt.Sprintf("ext-%d", i)))
		if rec.Code != http.StatusCreated {
			b.Fatalf("create %s: %d %s", name, rec.Code, rec.Body)
		}
		var u struct{ ID string }
		if err := json.Unmarshal(rec.Body.Bytes(), &u); err != nil {
			b.Fatal(err)
		}
		fd.ids = append(fd.ids, u.ID)
		fd.names = append(fd.names, name)
	}
	return fd
}

func (fd *benchFrontDoor) serve(method, target, body string) *httptest.ResponseRecorder {
	var req *http.Request
	if body != "" {
		req = httptest.NewRequest(method, target, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/scim+json")
	} else {
		req = httptest.NewRequest(method, target, nil)
	}
	req.Header.Set("Authorization", fd.auth)
	rec := httptest.NewRecorder()
	fd.router.ServeHTTP(rec, req)
	return rec
}

// run issues requests from parallel goroutines, each the i-th target.
func (fd *benchFrontDoor) run(b *testing.B, target func(i int) string, want func(*httptest.ResponseRecorder) bool) {
	b.Helper()
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(next.Add(1)) % benchUsers
			rec := fd.serve(http.MethodGet, target(i), "")
			if rec.Code != http.StatusOK || !want(rec) {
				b.Errorf("GET %s: %d %s", target(i), rec.Code, rec.Body)
				return
			}
		}
	})
}

func BenchmarkRedisReadGetUser(b *testing.B) {
	fd := newBenchFrontDoor(b)
	fd.run(b, func(i int) string { return fd.base + "/Users/" + fd.ids[i] },
		func(rec *httptest.ResponseRecorder) bool { return strings.Contains(rec.Body.String(), `"userName"`) })
}

func BenchmarkRedisReadFilterUserName(b *testing.B) {
	fd := newBenchFrontDoor(b)
	filters := make([]string, benchUsers)
	for i, name := range fd.names {
		filters[i] = fd.base + "/Users?filter=" + url.QueryEscape(`userName eq "`+name+`"`)
	}
	fd.run(b, func(i int) string { return filters[i] },
		func(rec *httptest.ResponseRecorder) bool {
			return strings.Contains(rec.Body.String(), `"totalResults":1`)
		})
}
