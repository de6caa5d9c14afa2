package embeddedredis

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func startEmbeddedForTest(t *testing.T, dir string) *Server {
	t.Helper()
	e, err := Start(dir)
	if err != nil {
		t.Fatalf("Start(%s): %v", dir, err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

func clientForTest(t *testing.T, addr string, db int) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, DB: db})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func mustRedis(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// binaryValue is not valid UTF-8, like the protobuf asynq stores.
const binaryValue = "\x00\xff\xfe proto \x80\x81"

func TestEmbeddedRedisRestartKeepsEveryType(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()

	first, err := Start(dir)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: first.Addr()})
	mustRedis(t, c.Set(ctx, "s:plain", "hello", 0).Err())
	mustRedis(t, c.Set(ctx, "s:empty", "", 0).Err())
	mustRedis(t, c.Set(ctx, "s:binary", binaryValue, 0).Err())
	mustRedis(t, c.Set(ctx, "s:ttl", "expiring", time.Hour).Err())
	mustRedis(t, c.HSet(ctx, "h:user", "userName", "jane@example.com", "blob", binaryValue, "version", "7").Err())
	mustRedis(t, c.Expire(ctx, "h:user", 30*time.Minute).Err())
	mustRedis(t, c.RPush(ctx, "l:queue", "c", "a", "b", "a").Err())
	mustRedis(t, c.SAdd(ctx, "set:ids", "x", "y", "z").Err())
	mustRedis(t, c.ZAdd(ctx, "z:scheduled",
		redis.Z{Score: 1.5, Member: "half"},
		redis.Z{Score: 1767225600123, Member: "timestamp"},
		redis.Z{Score: -3, Member: "negative"}).Err())
	mustRedis(t, c.XAdd(ctx, &redis.XAddArgs{Stream: "x:events", ID: "1764600000000-0", Values: []string{"type", "user.created", "blob", binaryValue}}).Err())
	mustRedis(t, c.XAdd(ctx, &redis.XAddArgs{Stream: "x:events", ID: "1764600000000-1", Values: []string{"type", "user.deleted"}}).Err())
	_ = c.Close()
	// Another logical database, as a non-zero redis.db would use.
	c3 := redis.NewClient(&redis.Options{Addr: first.Addr(), DB: 3})
	mustRedis(t, c3.Set(ctx, "db3:key", "in three", 0).Err())
	_ = c3.Close()

	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, AddrFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("redis.addr after Close: %v, want it removed", err)
	}

	second := startEmbeddedForTest(t, dir)
	if second.Addr() == "" {
		t.Fatal("empty address")
	}
	r := clientForTest(t, second.Addr(), 0)

	for key, want := range map[string]string{"s:plain": "hello", "s:empty": "", "s:binary": binaryValue, "s:ttl": "expiring"} {
		got, err := r.Get(ctx, key).Result()
		if err != nil || got != want {
			t.Errorf("GET %s = %q, %v; want %q", key, got, err, want)
		}
	}
	hash, err := r.HGetAll(ctx, "h:user").Result()
	mustRedis(t, err)
	wantHash := map[string]string{"userName": "jane@example.com", "blob": binaryValue, "version": "7"}
	if len(hash) != len(wantHash) {
		t.Errorf("HGETALL h:user = %q, want %q", hash, wantHash)
	}
	for f, v := range wantHash {
		if hash[f] != v {
			t.Errorf("HGET h:user %s = %q, want %q", f, hash[f], v)
		}
	}
	entries, err := r.XRange(ctx, "x:events", "-", "+").Result()
	mustRedis(t, err)
	if len(entries) != 2 || entries[0].ID != "1764600000000-0" || entries[0].Values["blob"] != binaryValue ||
		entries[1].ID != "1764600000000-1" || entries[1].Values["type"] != "user.deleted" {
		t.Errorf("XRANGE x:events = %v, want both entries with their ids", entries)
	}
	list, err := r.LRange(ctx, "l:queue", 0, -1).Result()
	mustRedis(t, err)
	if !slices.Equal(list, []string{"c", "a", "b", "a"}) {
		t.Errorf("LRANGE l:queue = %q, want [c a b a] (order kept)", list)
	}
	members, err := r.SMembers(ctx, "set:ids").Result()
	mustRedis(t, err)
	slices.Sort(members)
	if !slices.Equal(members, []string{"x", "y", "z"}) {
		t.Errorf("SMEMBERS set:ids = %q", members)
	}
	zs, err := r.ZRangeWithScores(ctx, "z:scheduled", 0, -1).Result()
	mustRedis(t, err)
	wantZ := []redis.Z{{Score: -3, Member: "negative"}, {Score: 1.5, Member: "half"}, {Score: 1767225600123, Member: "timestamp"}}
	if len(zs) != len(wantZ) {
		t.Fatalf("ZRANGE z:scheduled = %v, want %v", zs, wantZ)
	}
	for i := range wantZ {
		if zs[i].Member != wantZ[i].Member || zs[i].Score != wantZ[i].Score {
			t.Errorf("ZRANGE z:scheduled[%d] = %v, want %v", i, zs[i], wantZ[i])
		}
	}
	got3, err := clientForTest(t, second.Addr(), 3).Get(ctx, "db3:key").Result()
	if err != nil || got3 != "in three" {
		t.Errorf("db 3 GET db3:key = %q, %v", got3, err)
	}

	for key, orig := range map[string]time.Duration{"s:ttl": time.Hour, "h:user": 30 * time.Minute} {
		ttl, err := r.PTTL(ctx, key).Result()
		mustRedis(t, err)
		if ttl <= 0 || ttl > orig {
			t.Errorf("PTTL %s after restart = %v, want in (0, %v]", key, ttl, orig)
		}
	}
	for _, key := range []string{"s:plain", "l:queue", "z:scheduled"} {
		ttl, err := r.TTL(ctx, key).Result()
		mustRedis(t, err)
		if ttl != -1 {
			t.Errorf("TTL %s = %v, want -1 (no expiry)", key, ttl)
		}
	}
}

func TestEmbeddedRedisDropsKeysThatExpiredWhileDown(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	snap := redisSnapshot{Version: snapshotVersion, Databases: []snapshotDatabase{{DB: 0, Keys: []snapshotKey{
		{Key: []byte("gone"), Type: "string", String: []byte("x"), ExpiresAtMs: time.Now().Add(-time.Minute).UnixMilli()},
		{Key: []byte("kept"), Type: "string", String: []byte("y")},
	}}}}
	data, err := json.Marshal(snap)
	mustRedis(t, err)
	mustRedis(t, os.WriteFile(filepath.Join(dir, SnapshotFile), data, 0o600))

	e := startEmbeddedForTest(t, dir)
	r := clientForTest(t, e.Addr(), 0)
	ctx := context.Background()
	if n, err := r.Exists(ctx, "gone").Result(); err != nil || n != 0 {
		t.Errorf("EXISTS gone = %d, %v; want 0", n, err)
	}
	if v, err := r.Get(ctx, "kept").Result(); err != nil || v != "y" {
		t.Errorf("GET kept = %q, %v", v, err)
	}
}

func TestEmbeddedRedisSaveLeavesNoTempFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := startEmbeddedForTest(t, dir)
	r := clientForTest(t, e.Addr(), 0)
	ctx := context.Background()
	for i := range 3 {
		mustRedis(t, r.Set(ctx, "k", i, 0).Err())
		if err := e.Save(); err != nil {
			t.Fatalf("Save %d: %v", i, err)
		}
	}
	entries, err := os.ReadDir(dir)
	mustRedis(t, err)
	var names []string
	for _, de := range entries {
		names = append(names, de.Name())
	}
	slices.Sort(names)
	if want := []string{AddrFile, JournalFile, SnapshotFile}; !slices.Equal(names, want) {
		t.Errorf("data dir holds %q, want exactly %q", names, want)
	}
	info, err := os.Stat(filepath.Join(dir, SnapshotFile))
	mustRedis(t, err)
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("snapshot mode %v, want 0600", perm)
	}
	addr, err := ReadAddr(dir)
	if err != nil || addr != e.Addr() {
		t.Errorf("ReadAddr = %q, %v; want %q", addr, err, e.Addr())
	}
}

func TestWriteFileAtomicFailureKeepsOldFileAndNoTemp(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	// A directory in the way makes the final rename fail.
	mustRedis(t, os.Mkdir(target, 0o700))
	mustRedis(t, os.WriteFile(filepath.Join(target, "inside"), []byte("old"), 0o600))
	if err := WriteFileAtomic(target, []byte("new")); err == nil {
		t.Fatal("WriteFileAtomic over a non-empty directory succeeded")
	}
	entries, err := os.ReadDir(dir)
	mustRedis(t, err)
	for _, de := range entries {
		if de.Name() != "target" {
			t.Errorf("left behind %q", de.Name())
		}
	}
	if b, err := os.ReadFile(filepath.Join(target, "inside")); err != nil || string(b) != "old" {
		t.Errorf("old content = %q, %v", b, err)
	}
}

func TestEmbeddedRedisRefusesDirectoryInUse(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	startEmbeddedForTest(t, dir)
	second, err := Start(dir)
	if !errors.Is(err, ErrInUse) {
		if second != nil {
			_ = second.Close()
		}
		t.Fatalf("second start on the same dir: %v, want ErrInUse", err)
	}
}

func TestEmbeddedRedisStartsOverStaleAddrFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// A crashed server left its address behind; nothing listens there.
	mustRedis(t, os.WriteFile(filepath.Join(dir, AddrFile), []byte("127.0.0.1:1\n"), 0o600))
	e := startEmbeddedForTest(t, dir)
	if addr, err := ReadAddr(dir); err != nil || addr != e.Addr() {
		t.Errorf("redis.addr = %q, %v; want %q", addr, err, e.Addr())
	}
}

func TestEmbeddedRedisRejectsCorruptSnapshot(t *testing.T) {
	t.Parallel()
	for name, content := range map[string]string{
		"not json":      `{"version":1,"databases":[`,
		"wrong version": `{"version":99,"databases":[]}`,
		"bad database":  `{"version":1,"databases":[{"db":42,"keys":[]}]}`,
		"unknown type":  `{"version":1,"databases":[{"db":0,"keys":[{"key":"aw==","type":"hll"}]}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			mustRedis(t, os.WriteFile(filepath.Join(dir, SnapshotFile), []byte(content), 0o600))
			e, err := Start(dir)
			if !errors.Is(err, ErrSnapshot) {
				if e != nil {
					_ = e.Close()
				}
				t.Fatalf("start = %v, want ErrSnapshot", err)
			}
		})
	}
}

func TestEmbeddedRedisReportsUnsupportedTypes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := startEmbeddedForTest(t, dir)
	r := clientForTest(t, e.Addr(), 0)
	ctx := context.Background()
	mustRedis(t, r.Set(ctx, "normal", "v", 0).Err())
	mustRedis(t, r.PFAdd(ctx, "visitors", "a", "b").Err())
	err := e.Save()
	if !errors.Is(err, ErrUnsupportedType) || !strings.Contains(err.Error(), "visitors") {
		t.Fatalf("Save with a HyperLogLog = %v, want ErrUnsupportedType naming the key", err)
	}
	// Everything else was still saved.
	data, err := os.ReadFile(filepath.Join(dir, SnapshotFile))
	mustRedis(t, err)
	var snap redisSnapshot
	mustRedis(t, json.Unmarshal(data, &snap))
	if len(snap.Databases) != 1 || len(snap.Databases[0].Keys) != 1 || string(snap.Databases[0].Keys[0].Key) != "normal" {
		t.Errorf("snapshot = %+v, want just the key normal", snap)
	}
}

func TestEmbeddedRedisBackgroundSaver(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := startEmbeddedForTest(t, dir)
	r := clientForTest(t, e.Addr(), 0)
	mustRedis(t, r.Set(context.Background(), "saved:by:loop", "yes", 0).Err())

	// The saver runs every second; give it ample time on a loaded machine.
	deadline := time.Now().Add(20 * time.Second)
	for {
		data, err := os.ReadFile(filepath.Join(dir, JournalFile))
		if err == nil && strings.Contains(string(data), "saved:by:loop") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no journal holding the key after 20s (last read: %v)", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
