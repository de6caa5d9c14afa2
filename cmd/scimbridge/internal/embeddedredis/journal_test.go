package embeddedredis

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// crashCopy copies the files of a running server's data directory, as a
// kill -9 would leave them (after a flush), into a new directory.
func crashCopy(t *testing.T, e *Server) string {
	t.Helper()
	if err := e.flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
	dst := t.TempDir()
	for _, name := range []string{SnapshotFile, JournalFile} {
		b, err := os.ReadFile(filepath.Join(e.dir, name))
		mustRedis(t, err)
		mustRedis(t, os.WriteFile(filepath.Join(dst, name), b, 0o600))
	}
	return dst
}

// A crash after a flush loses nothing: the journal replays writes made by
// plain commands, by Lua scripts (their effects), in MULTI/EXEC and in
// another database, and skips a transaction a WATCH aborted.
func TestEmbeddedRedisJournalReplaysAfterCrash(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := startEmbeddedForTest(t, t.TempDir())
	c := clientForTest(t, e.Addr(), 0)

	mustRedis(t, c.Set(ctx, "plain", "v1", 0).Err())
	mustRedis(t, c.HSet(ctx, "h", "a", "1", "b", binaryValue).Err())
	mustRedis(t, c.RPush(ctx, "l", "x", "y", "z").Err())
	mustRedis(t, c.LPop(ctx, "l").Err())
	mustRedis(t, c.Del(ctx, "plain").Err())
	mustRedis(t, c.Set(ctx, "plain", "v2", 0).Err())
	// A script that reads the clock: its effect, not the script, is replayed.
	mustRedis(t, c.Eval(ctx, `
local t = redis.call('TIME')
redis.call('HSET', KEYS[1], 'at', t[1])
redis.call('ZADD', KEYS[2], 5, 'five')
redis.call('INCRBY', KEYS[3], 7)
return 1`, []string{"script:h", "script:z", "script:n"}).Err())
	at, err := c.HGet(ctx, "script:h", "at").Result()
	mustRedis(t, err)
	// MULTI/EXEC.
	_, err = c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.SAdd(ctx, "tx:s", "m1", "m2")
		p.Set(ctx, "tx:k", "in-tx", 0)
		return nil
	})
	mustRedis(t, err)
	// A transaction aborted by WATCH is not replayed.
	err = c.Watch(ctx, func(tx *redis.Tx) error {
		mustRedis(t, c.Set(ctx, "watched", "changed", 0).Err()) // another client's write
		_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, "aborted", "must not exist", 0)
			return nil
		})
		return err
	}, "watched")
	if !errors.Is(err, redis.TxFailedErr) {
		t.Fatalf("watched transaction = %v, want TxFailedErr", err)
	}
	c3 := clientForTest(t, e.Addr(), 3)
	mustRedis(t, c3.Set(ctx, "in:three", "3", 0).Err())

	r := startEmbeddedForTest(t, crashCopy(t, e))
	rc := clientForTest(t, r.Addr(), 0)
	for key, want := range map[string]string{"plain": "v2", "tx:k": "in-tx", "watched": "changed", "script:n": "7"} {
		if got, err := rc.Get(ctx, key).Result(); err != nil || got != want {
			t.Errorf("GET %s = %q, %v; want %q", key, got, err, want)
		}
	}
	if n, _ := rc.Exists(ctx, "aborted").Result(); n != 0 {
		t.Error("a transaction aborted by WATCH was replayed")
	}
	if h, _ := rc.HGetAll(ctx, "h").Result(); h["a"] != "1" || h["b"] != binaryValue || len(h) != 2 {
		t.Errorf("HGETALL h = %q", h)
	}
	if l, _ := rc.LRange(ctx, "l", 0, -1).Result(); !slices.Equal(l, []string{"y", "z"}) {
		t.Errorf("LRANGE l = %q, want [y z]", l)
	}
	if got, _ := rc.HGet(ctx, "script:h", "at").Result(); got != at {
		t.Errorf("script's clock-derived field = %q, want the original %q", got, at)
	}
	if s, _ := rc.ZScore(ctx, "script:z", "five").Result(); s != 5 {
		t.Errorf("ZSCORE script:z five = %v", s)
	}
	if m, _ := rc.SMembers(ctx, "tx:s").Result(); len(m) != 2 {
		t.Errorf("SMEMBERS tx:s = %q", m)
	}
	if got, err := clientForTest(t, r.Addr(), 3).Get(ctx, "in:three").Result(); err != nil || got != "3" {
		t.Errorf("db 3 GET in:three = %q, %v", got, err)
	}
}

// Relative expiries are journaled as deadlines: a replay does not restart
// a lease's TTL, and a key that expired while the server was down is gone.
func TestEmbeddedRedisJournalKeepsDeadlines(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := startEmbeddedForTest(t, t.TempDir())
	c := clientForTest(t, e.Addr(), 0)
	mustRedis(t, c.Set(ctx, "lease", "w1", time.Hour).Err())
	mustRedis(t, c.Eval(ctx, `return redis.call('SET', KEYS[1], 'x', 'NX', 'PX', 120000)`, []string{"lua:lease"}).Err())
	mustRedis(t, c.Set(ctx, "short", "gone", 0).Err())
	mustRedis(t, c.PExpire(ctx, "short", 50*time.Millisecond).Err())
	mustRedis(t, c.Do(ctx, "SETEX", "setex", 1800, "v").Err()) // the command itself, not SET EX
	// Let "short" pass its deadline before the copy is started.
	time.Sleep(100 * time.Millisecond)
	dir := crashCopy(t, e)
	journal, err := os.ReadFile(filepath.Join(dir, JournalFile))
	mustRedis(t, err)
	for _, relative := range []string{"$2\r\nPX\r\n", "$2\r\nEX\r\n", "PEXPIRE\r\n", "SETEX"} {
		if strings.Contains(string(journal), relative) {
			t.Errorf("journal holds a relative expiry %q:\n%q", relative, journal)
		}
	}
	r := startEmbeddedForTest(t, dir)
	rc := clientForTest(t, r.Addr(), 0)
	for key, limit := range map[string]time.Duration{"lease": time.Hour, "lua:lease": 2 * time.Minute, "setex": 30 * time.Minute} {
		ttl, err := rc.PTTL(ctx, key).Result()
		if err != nil || ttl <= 0 || ttl > limit {
			t.Errorf("PTTL %s after replay = %v, %v; want in (0, %v]", key, ttl, err, limit)
		}
	}
	if n, _ := rc.Exists(ctx, "short").Result(); n != 0 {
		t.Error("a key past its deadline came back from the journal")
	}
}

// The last record of a journal cut short by a crash is dropped, the ones
// before it are kept; a journal that follows an older snapshot is ignored.
func TestEmbeddedRedisJournalTornTailAndOldGeneration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := startEmbeddedForTest(t, t.TempDir())
	c := clientForTest(t, e.Addr(), 0)
	mustRedis(t, c.Set(ctx, "first", "1", 0).Err())
	mustRedis(t, c.Set(ctx, "second", "2", 0).Err())
	dir := crashCopy(t, e)
	journal := filepath.Join(dir, JournalFile)
	b, err := os.ReadFile(journal)
	mustRedis(t, err)
	cut := strings.LastIndex(string(b), "second") + 2 // inside the last record
	mustRedis(t, os.WriteFile(journal, b[:cut], 0o600))

	r := startEmbeddedForTest(t, dir)
	rc := clientForTest(t, r.Addr(), 0)
	if got, err := rc.Get(ctx, "first").Result(); err != nil || got != "1" {
		t.Errorf("GET first = %q, %v; want the record before the torn one", got, err)
	}
	if n, _ := rc.Exists(ctx, "second").Result(); n != 0 {
		t.Error("the torn record was applied")
	}
	mustRedis(t, r.Close())

	// A journal of an older generation next to a newer snapshot: ignored.
	old := append(journalHeader(0), appendRESP(nil, "SET", "stale", "x")...)
	mustRedis(t, os.WriteFile(journal, old, 0o600))
	r2 := startEmbeddedForTest(t, dir)
	if n, _ := clientForTest(t, r2.Addr(), 0).Exists(ctx, "stale").Result(); n != 0 {
		t.Error("a journal of an older generation was replayed over a newer snapshot")
	}
}

// Persisting is bounded by what was written: once the data is large, a
// small write appends a few bytes to the journal and leaves the snapshot
// alone; a journal grown past the snapshot is compacted into a new one.
func TestEmbeddedRedisJournalWorkIsBoundedByWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := startEmbeddedForTest(t, t.TempDir())
	e.saveMu.Lock()
	e.minCompact = 0 // compact as soon as the journal outgrows the snapshot
	e.saveMu.Unlock()
	c := clientForTest(t, e.Addr(), 0)
	p := c.Pipeline()
	for i := range 3000 {
		p.HSet(ctx, "user:"+itoa(i), "userName", "u"+itoa(i), "blob", strings.Repeat("b", 100))
	}
	_, err := p.Exec(ctx)
	mustRedis(t, err)
	mustRedis(t, e.Save())
	snapBefore, err := os.ReadFile(filepath.Join(e.dir, SnapshotFile))
	mustRedis(t, err)
	journalBefore := fileSize(t, filepath.Join(e.dir, JournalFile))

	mustRedis(t, c.Set(ctx, "one:more", "write", 0).Err())
	mustRedis(t, e.flush())
	snapAfter, err := os.ReadFile(filepath.Join(e.dir, SnapshotFile))
	mustRedis(t, err)
	if string(snapAfter) != string(snapBefore) {
		t.Error("one small write rewrote the snapshot")
	}
	grown := fileSize(t, filepath.Join(e.dir, JournalFile)) - journalBefore
	if grown <= 0 || grown > 200 {
		t.Errorf("journal grew by %d bytes for one SET, want a few dozen", grown)
	}

	// Rewrite the data until the journal outgrows the snapshot.
	for round := 0; e.gen == genOf(t, snapBefore); round++ {
		if round > 10 {
			t.Fatalf("no compaction after %d rounds (journal %d bytes, snapshot %d)", round, e.journalBytes, e.snapBytes)
		}
		p := c.Pipeline()
		for i := range 3000 {
			p.Set(ctx, "churn:"+itoa(i), strings.Repeat("c", 100), 0)
		}
		_, err := p.Exec(ctx)
		mustRedis(t, err)
		mustRedis(t, e.flush())
		e.waitCompaction() // off-line (shadow.go); its Wait orders e.gen's write before this read
	}
	// The compaction may have begun inside the last round (the engine's
	// own once-a-second flush can start it): the new journal then holds
	// the rest of that round, never more than one round's writes.
	const roundBytes = 3000 * (100 + 30)
	if size := fileSize(t, filepath.Join(e.dir, JournalFile)); size > int64(len(journalHeader(e.gen)))+roundBytes {
		t.Errorf("journal after compaction holds %d bytes, want its header and at most the last round's writes", size)
	}
	r := startEmbeddedForTest(t, crashCopy(t, e))
	if n, err := clientForTest(t, r.Addr(), 0).DBSize(ctx).Result(); err != nil || n != 3000+1+3000 {
		t.Errorf("DBSIZE after compaction and restart = %d, %v; want 6001", n, err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	mustRedis(t, err)
	return info.Size()
}

func genOf(t *testing.T, snapshot []byte) int64 {
	t.Helper()
	var s struct {
		Generation int64 `json:"generation"`
	}
	mustRedis(t, json.Unmarshal(snapshot, &s))
	return s.Generation
}
