package embeddedredis

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// writeScript is shaped like a ledger create: a record hash, an index
// field, a dirty-set member and a lease with a TTL.
const writeScript = `
redis.call('HSET', KEYS[1], 'userName', ARGV[1], 'v', '1')
redis.call('HSET', KEYS[2], ARGV[1], KEYS[1])
redis.call('ZADD', KEYS[3], 1, KEYS[1])
redis.call('SET', KEYS[4], 'w', 'PX', 45000)
return 1`

// BenchmarkEmbeddedWriteAtSize is the cost of one ledger-shaped write
// script when the database already holds keys keys (each with a TTL on
// one key in ten, as leases are). "embedded" is this package's server
// (journal on, TTLs aged in the background); "clockttl" is miniredis with
// ClockTTL, as the embedded default ran before, which walks and sorts every
// key on each command. Compare each one's larger sizes with its keys=1000:
//
//	go test -run '^$' -bench EmbeddedWriteAtSize -benchtime 2000x ./cmd/scimbridge/internal/embeddedredis
func BenchmarkEmbeddedWriteAtSize(b *testing.B) {
	for _, engine := range []string{"embedded", "clockttl"} {
		for _, keys := range []int{1000, 10000, 100000} {
			if engine == "clockttl" && keys > 10000 {
				continue // seeding alone would take hours: every command sorts every key
			}
			b.Run(engine+"/keys="+strconv.Itoa(keys), func(b *testing.B) {
				var addr string
				if engine == "embedded" {
					e, err := Start(b.TempDir())
					if err != nil {
						b.Fatal(err)
					}
					defer e.Close()
					addr = e.Addr()
				} else {
					m := miniredis.NewMiniRedis()
					m.ClockTTL(true)
					if err := m.StartAddr("127.0.0.1:0"); err != nil {
						b.Fatal(err)
					}
					defer m.Close()
					addr = m.Addr()
				}
				c := redis.NewClient(&redis.Options{Addr: addr})
				defer c.Close()
				ctx := context.Background()
				for i := 0; i < keys; i += 1000 {
					p := c.Pipeline()
					for j := i; j < i+1000; j++ {
						k := "seed:" + strconv.Itoa(j)
						p.HSet(ctx, k, "userName", k)
						if j%10 == 0 {
							p.Expire(ctx, k, time.Hour)
						}
					}
					if _, err := p.Exec(ctx); err != nil {
						b.Fatal(err)
					}
				}
				script := redis.NewScript(writeScript)
				b.ResetTimer()
				for i := range b.N {
					id := strconv.Itoa(i)
					if err := script.Run(ctx, c, []string{"r:" + id, "idx", "dirty", "lease:" + id}, "u"+id).Err(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkEmbeddedCompactionStall is the longest a write waits while a
// compaction of 100,000 keys runs: "live" reads the data under the writers'
// lock (the compaction at start, and after a write the journal cannot
// replay), "shadow" builds the snapshot off-line from the files (the one a
// growing journal triggers). Each iteration is one compaction, with writes
// issued back to back until it ends; max-write-ms is the slowest of them,
// writes/s how many got through per second of compaction.
//
//	go test -run '^$' -bench EmbeddedCompactionStall -benchtime 3x ./cmd/scimbridge/internal/embeddedredis
func BenchmarkEmbeddedCompactionStall(b *testing.B) {
	for _, mode := range []string{"live", "shadow"} {
		b.Run(mode+"/keys=100000", func(b *testing.B) {
			e, err := Start(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			c := redis.NewClient(&redis.Options{Addr: e.Addr()})
			defer c.Close()
			ctx := context.Background()
			for i := 0; i < 100000; i += 1000 {
				p := c.Pipeline()
				for j := i; j < i+1000; j++ {
					k := "seed:" + strconv.Itoa(j)
					p.HSet(ctx, k, "userName", k, "v", "some value of a few dozen bytes")
					if j%10 == 0 {
						p.Expire(ctx, k, time.Hour)
					}
				}
				if _, err := p.Exec(ctx); err != nil {
					b.Fatal(err)
				}
			}
			if err := e.flush(); err != nil {
				b.Fatal(err)
			}
			var worst time.Duration
			writes := 0
			b.ResetTimer()
			for i := range b.N {
				done := make(chan struct{})
				if mode == "live" {
					go func() { _ = e.compact(); close(done) }()
				} else {
					e.saveMu.Lock()
					e.startShadow(0)
					e.saveMu.Unlock()
					go func() { e.waitCompaction(); close(done) }()
				}
				for n := 0; ; n++ {
					select {
					case <-done:
					default:
						t0 := time.Now()
						if err := c.Set(ctx, "w:"+strconv.Itoa(i)+":"+strconv.Itoa(n), "x", 0).Err(); err != nil {
							b.Fatal(err)
						}
						worst = max(worst, time.Since(t0))
						writes++
						continue
					}
					break
				}
				if err := e.flush(); err != nil { // journal the writes before the next cut
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(worst.Microseconds())/1000, "max-write-ms")
			b.ReportMetric(float64(writes)/b.Elapsed().Seconds(), "writes/s")
		})
	}
}
