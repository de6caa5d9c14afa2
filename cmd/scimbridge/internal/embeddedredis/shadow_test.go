package embeddedredis

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// cutNow is the journal position startShadow would take now.
func cutNow(t *testing.T, e *Server) journalPos {
	t.Helper()
	mustRedis(t, e.flush())
	e.saveMu.Lock()
	defer e.saveMu.Unlock()
	e.jmu.Lock()
	db := e.bufDB
	e.jmu.Unlock()
	return journalPos{Gen: e.gen, Offset: int64(len(journalHeader(e.gen))) + e.journalBytes, DB: db}
}

// The off-line compaction builds its snapshot from the files alone: it
// completes while the test holds jmu (which every write needs), so no
// write waits for it.
func TestEmbeddedRedisShadowCompactionHoldsNoWriter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := startEmbeddedForTest(t, t.TempDir())
	c := clientForTest(t, e.Addr(), 0)
	p := c.Pipeline()
	for i := range 2000 {
		p.HSet(ctx, "k:"+strconv.Itoa(i), "v", i)
	}
	_, err := p.Exec(ctx)
	mustRedis(t, err)
	pos := cutNow(t, e)
	done := make(chan error, 1)
	e.jmu.Lock()
	go func() {
		_, err := buildShadowSnapshot(e.dir, pos, &atomic.Bool{})
		done <- err
	}()
	select {
	case err := <-done:
		e.jmu.Unlock()
		mustRedis(t, err)
	case <-time.After(time.Minute): // only so that a deadlock fails the test
		e.jmu.Unlock()
		t.Fatal("the off-line compaction waited for the writers' lock")
	}
}

// Writes after the cut survive both a crash before the journal's rotation
// (snapshot G+1 on disk, journal G replayed from the cut, in the database
// selected there) and the rotation itself.
func TestEmbeddedRedisShadowCompactionKeepsEveryWrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := startEmbeddedForTest(t, t.TempDir())
	c0, c3 := clientForTest(t, e.Addr(), 0), clientForTest(t, e.Addr(), 3)
	for i := range 500 {
		mustRedis(t, c0.Set(ctx, "before:"+strconv.Itoa(i), i, 0).Err())
	}
	mustRedis(t, c3.Set(ctx, "db3:before", "x", 0).Err()) // the cut falls in db 3
	pos := cutNow(t, e)
	if pos.DB != 3 {
		t.Fatalf("cut in db %d, want 3 (the test's last write)", pos.DB)
	}
	mustRedis(t, c3.Set(ctx, "db3:after", "y", 0).Err()) // journaled with no SELECT of its own
	mustRedis(t, c0.Set(ctx, "after", "z", 0).Err())
	mustRedis(t, c0.Del(ctx, "before:7").Err())
	data, err := buildShadowSnapshot(e.dir, pos, &atomic.Bool{})
	mustRedis(t, err)

	check := func(name string, r *Server) {
		t.Helper()
		r0, r3 := clientForTest(t, r.Addr(), 0), clientForTest(t, r.Addr(), 3)
		if n, err := r0.DBSize(ctx).Result(); err != nil || n != 500-1+1 {
			t.Errorf("%s: db 0 holds %d keys, %v; want 500", name, n, err)
		}
		if v, err := r3.Get(ctx, "db3:after").Result(); err != nil || v != "y" {
			t.Errorf("%s: db 3 db3:after = %q, %v", name, v, err)
		}
		if v, err := r3.Get(ctx, "db3:before").Result(); err != nil || v != "x" {
			t.Errorf("%s: db 3 db3:before = %q, %v", name, v, err)
		}
		if n, err := r0.Exists(ctx, "before:7", "db3:after").Result(); err != nil || n != 0 {
			t.Errorf("%s: db 0 has before:7 or db3:after (%d, %v)", name, n, err)
		}
	}

	// A crash right after the snapshot was written, before the rotation.
	crashed := crashCopy(t, e)
	mustRedis(t, WriteFileAtomic(filepath.Join(crashed, SnapshotFile), data))
	check("crash before rotation", startEmbeddedForTest(t, crashed))

	// The rotation, then more writes, then a crash.
	e.saveMu.Lock()
	err = e.installShadow(pos, data)
	gen := e.gen
	e.saveMu.Unlock()
	mustRedis(t, err)
	if gen != pos.Gen+1 {
		t.Fatalf("generation %d after the install, want %d", gen, pos.Gen+1)
	}
	mustRedis(t, c3.Set(ctx, "db3:later", "w", 0).Err())
	after := crashCopy(t, e)
	r := startEmbeddedForTest(t, after)
	check("after rotation", r)
	if v, err := clientForTest(t, r.Addr(), 3).Get(ctx, "db3:later").Result(); err != nil || v != "w" {
		t.Errorf("after rotation: db3:later = %q, %v", v, err)
	}
	j, err := os.ReadFile(filepath.Join(e.dir, JournalFile))
	mustRedis(t, err)
	if len(j) >= int(pos.Offset) {
		t.Errorf("rotated journal is %d bytes, the cut was at %d: it still holds what the snapshot does", len(j), pos.Offset)
	}
}
