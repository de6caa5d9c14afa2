package sync

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// BenchmarkPushEvents: the CPU cost of events on a 10,000-user push
// (creates through the Service, then the drain into a SQLite store),
// per applied user, in three variants alternated three times in the same
// run: events off, events on (journal + stream, no endpoint), and events
// on with one webhook endpoint whose deliveries (signed POSTs to a
// loopback receiver, a process of its own: this test binary again, in
// TestBenchReceiverProcess) run until it has every event. CPU is this
// process's (getrusage) plus the test Redis's (INFO cpu), so the Redis
// side of the journal and the stream counts too; the receiver's own CPU
// is not counted.
//
//	go test -run '^$' -bench PushEvents -benchtime 1x ./sync
//
// Also reports the stream's memory per event (MEMORY USAGE / XLEN).
func BenchmarkPushEvents(b *testing.B) {
	const users = 10000
	rdb := testRedis(b)
	ctx := context.Background()
	rcvURL := startReceiverProcess(b)
	variants := []string{"off", "events", "endpoint"}
	if v := os.Getenv("SCIMBRIDGE_BENCH_VARIANTS"); v != "" {
		variants = strings.Split(v, ",") // e.g. one variant for a CPU profile of it alone
	}
	cpu := map[string][]float64{}
	var perEvent float64
	for b.Loop() {
		for range 3 {
			for _, v := range variants {
				us, mem := pushOnce(b, ctx, rdb, users, v, rcvURL)
				cpu[v] = append(cpu[v], us)
				if mem > 0 {
					perEvent = mem
				}
			}
		}
	}
	med := func(xs []float64) float64 {
		s := slices.Clone(xs)
		slices.Sort(s)
		return s[len(s)/2]
	}
	for _, v := range variants {
		b.ReportMetric(med(cpu[v]), "cpu-µs/user-"+v)
	}
	for _, v := range []string{"events", "endpoint"} {
		if len(cpu[v]) > 0 && len(cpu["off"]) > 0 {
			b.ReportMetric(med(cpu[v])/med(cpu["off"]), "ratio-"+v+"/off")
		}
	}
	b.ReportMetric(perEvent, "stream-bytes/event")
	b.Logf("cpu µs per user, runs: %v", cpu)
}

// pushOnce runs one push in a fresh tenant and returns the CPU per user
// (this process and Redis) and, with events, the stream's bytes per event.
func pushOnce(b *testing.B, ctx context.Context, rdb redis.UniversalClient, users int, variant, url string) (float64, float64) {
	tenant, l, svc, rec := benchTenant(b, rdb, variant != "off")
	if variant != "off" {
		l.SetPublicURL("https://scim.example.com") // meta.location, as in production
	}
	var w *Webhooks
	var ep *Endpoint
	if variant == "endpoint" {
		w = benchWebhooks(b, l)
		var err error
		if _, ep, err = w.CreateEndpoint(ctx, tenant, EndpointInput{URL: &url}); err != nil {
			b.Fatal(err)
		}
	}
	attrs := func(i int) map[string]any {
		return map[string]any{"userName": fmt.Sprintf("push%05d@example.com", i), "externalId": fmt.Sprintf("00u%d", i),
			"name":   map[string]any{"givenName": "Given", "familyName": "Family"},
			"emails": []any{map[string]any{"value": fmt.Sprintf("push%05d@example.com", i), "type": "work", "primary": true}},
			"active": true}
	}
	c0, r0 := processCPU(), redisCPU(b, rdb)
	for i := range users {
		if _, err := svc.CreateUser(ctx, tenant, attrs(i), nil); err != nil {
			b.Fatal(err)
		}
	}
	if err := drainRuns(ctx, rec, tenant, 100); err != nil {
		b.Fatal(err)
	}
	if w != nil {
		if err := w.Deliver(ctx, tenant, ep.ID); err != nil {
			b.Fatal(err)
		}
	}
	redisPart := redisCPU(b, rdb) - r0
	cpu := (processCPU() - c0) + redisPart
	b.Logf("%s: %.0f µs/user, of which Redis %.0f", variant, cpu.Seconds()*1e6/float64(users), redisPart.Seconds()*1e6/float64(users))
	var perEvent float64
	if variant != "off" {
		st, err := l.EventStreamStats(ctx, tenant)
		if err != nil || st.Length != int64(users) {
			b.Fatalf("stream: %+v %v", st, err)
		}
		perEvent = float64(st.MemoryBytes) / float64(st.Length)
	}
	if w != nil {
		cur, _ := l.endpointCursor(ctx, tenant, ep.ID)
		if st, _ := l.EventStreamStats(ctx, tenant); cur != st.Last {
			b.Fatalf("the endpoint is at %s, the stream at %s", cur, st.Last)
		}
	}
	return cpu.Seconds() * 1e6 / float64(users), perEvent
}

// benchTenant is a benchmark's fresh tenant on a SQLite store: its ledger
// (keeping events an hour when events), and the service and reconciler
// over them, with no enqueuer (the benchmark drains).
func benchTenant(b *testing.B, rdb redis.UniversalClient, events bool) (string, *Ledger, *Service, *Reconciler) {
	tenant := testTenant(b, rdb)
	l := NewLedger(rdb, nil)
	if events {
		l.SetEventRetention(time.Hour)
	}
	st := newSQLiteFixture(b, tenant)
	return tenant, l,
		&Service{Ledger: l, Stores: st, ImportInterval: testImportInterval, StoreTimeout: testLookupTimeout},
		&Reconciler{Ledger: l, Stores: st, LeaseTTL: testLeaseTTL, StoreTimeout: testStoreTimeout}
}

// benchWebhooks delivers l's events with a run budget no benchmark reaches.
func benchWebhooks(b *testing.B, l *Ledger) *Webhooks {
	return &Webhooks{Ledger: l, Sealer: testSealer(b), Timeout: 5 * time.Second, RunBudget: time.Hour}
}

// startReceiverProcess runs TestBenchReceiverProcess in a child process
// and returns its URL.
func startReceiverProcess(b *testing.B) string {
	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchReceiverProcess$")
	cmd.Env = append(os.Environ(), "SCIMBRIDGE_BENCH_RECEIVER=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "http://127.0.0.1:") {
		b.Fatalf("receiver process: %q %v", line, err)
	}
	return strings.TrimSpace(line)
}

// TestBenchReceiverProcess is BenchmarkPushEvents' receiver when run as
// its child (SCIMBRIDGE_BENCH_RECEIVER set); otherwise there is nothing
// to test.
func TestBenchReceiverProcess(t *testing.T) {
	if os.Getenv("SCIMBRIDGE_BENCH_RECEIVER") == "" {
		t.Skip("the benchmark's receiver process (BenchmarkPushEvents runs it)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("http://%s\n", ln.Addr())
	_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func redisCPU(b *testing.B, rdb redis.UniversalClient) time.Duration {
	info, err := rdb.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var total float64
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_sys" || k == "used_cpu_user") {
			f, _ := strconv.ParseFloat(v, 64)
			total += f
		}
	}
	return time.Duration(total * float64(time.Second))
}

// BenchmarkDeliver: one endpoint's delivery of 2,000 events (a run from
// the cursor to the stream's end) to a receiver in a process of its own:
// wall time and CPU (this process and Redis, not the receiver) per event.
//
//	go test -run '^$' -bench Deliver -benchtime 5x ./sync
func BenchmarkDeliver(b *testing.B) {
	rdb := testRedis(b)
	ctx := context.Background()
	url := startReceiverProcess(b)
	tenant, l, svc, rec := benchTenant(b, rdb, true)
	const n = 2000
	for i := range n {
		a := map[string]any{"userName": fmt.Sprintf("d%05d@example.com", i), "name": map[string]any{"givenName": "G", "familyName": "F"}}
		if _, err := svc.CreateUser(ctx, tenant, a, nil); err != nil {
			b.Fatal(err)
		}
	}
	if err := drainRuns(ctx, rec, tenant, 100); err != nil {
		b.Fatal(err)
	}
	w := benchWebhooks(b, l)
	var cpu time.Duration
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		_, ep, err := w.CreateEndpoint(ctx, tenant, EndpointInput{URL: &url})
		if err != nil {
			b.Fatal(err)
		}
		if err := l.setEndpointCursor(ctx, tenant, ep.ID, "0-0"); err != nil {
			b.Fatal(err)
		}
		c0, r0 := processCPU(), redisCPU(b, rdb)
		b.StartTimer()
		if err := w.Deliver(ctx, tenant, ep.ID); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		cpu += (processCPU() - c0) + (redisCPU(b, rdb) - r0)
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/event")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*n), "cpu-µs/event")
}

// BenchmarkDeliveryKeepsUp: does one endpoint's delivery keep up with the
// drain? A 10,000-user push is acknowledged first; then the drain runs
// while delivery runs go on beside it (one after another, as the kicked
// delivery task would: each run delivers from the cursor to the stream's
// end), to a loopback receiver in a process of its own. Reported: the
// drain's wall time, the time until the receiver had every event, and
// their ratio (1.0: the last event was delivered the moment the drain
// ended; the tail is the delivery lag of the push's last event).
//
//	go test -run '^$' -bench DeliveryKeepsUp -benchtime 3x ./sync
func BenchmarkDeliveryKeepsUp(b *testing.B) {
	const users = 10000
	rdb := testRedis(b)
	ctx := context.Background()
	url := startReceiverProcess(b)
	var drains, totals []float64
	for b.Loop() {
		b.StopTimer()
		tenant, l, svc, rec := benchTenant(b, rdb, true)
		w := benchWebhooks(b, l)
		_, ep, err := w.CreateEndpoint(ctx, tenant, EndpointInput{URL: &url})
		if err != nil {
			b.Fatal(err)
		}
		for i := range users {
			a := map[string]any{"userName": fmt.Sprintf("k%05d@example.com", i), "externalId": fmt.Sprintf("00u%d", i),
				"name": map[string]any{"givenName": "G", "familyName": "F"}, "active": true}
			if _, err := svc.CreateUser(ctx, tenant, a, nil); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		start := time.Now()
		drained := make(chan time.Duration, 1)
		go func() {
			if err := drainRuns(ctx, rec, tenant, 100); err != nil {
				b.Error(err)
			}
			drained <- time.Since(start)
		}()
		var drain time.Duration
		done := false
		for {
			if err := w.Deliver(ctx, tenant, ep.ID); err != nil {
				b.Fatal(err)
			}
			if !done {
				select {
				case drain = <-drained:
					done = true
				default:
					time.Sleep(5 * time.Millisecond) // caught up: wait for more, as a kick would
					continue
				}
			}
			cur, err := l.endpointCursor(ctx, tenant, ep.ID)
			if err != nil {
				b.Fatal(err)
			}
			if s, _ := l.EventStreamStats(ctx, tenant); done && s.Length == users && cur == s.Last {
				break
			}
		}
		total := time.Since(start)
		b.StopTimer()
		drains = append(drains, drain.Seconds())
		totals = append(totals, total.Seconds())
		b.StartTimer()
	}
	med := func(xs []float64) float64 {
		s := slices.Clone(xs)
		slices.Sort(s)
		return s[len(s)/2]
	}
	b.ReportMetric(med(drains), "drain-s")
	b.ReportMetric(med(totals), "delivered-s")
	b.ReportMetric(med(totals)/med(drains), "ratio-delivered/drain")
	b.Logf("drain s %v, all delivered s %v", drains, totals)
}
