package embeddedredis

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/redis/go-redis/v9"
)

// Stream writes (the events feed's XADD from a script, trimming, XDEL) are
// journaled with the ids the server gave, so they do not force a full
// snapshot once the stream's last id is known, and a replay after a crash
// gives every entry its original id.
func TestEmbeddedRedisJournalReplaysStreamsWithTheirIDs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := startEmbeddedForTest(t, t.TempDir())
	c := clientForTest(t, e.Addr(), 0)
	const emit = `
for i = 1, tonumber(ARGV[1]) do
  redis.call('XADD', KEYS[1], 'MINID', '~', '0', '*', 'type', 'user.created', 'n', tostring(i))
end
return 1`
	// The first XADD of a stream after a start: its id is the server's,
	// and the next flush writes a full snapshot, which learns it.
	mustRedis(t, c.Eval(ctx, emit, []string{"sb:{t}:events"}, 1).Err())
	mustRedis(t, e.flush())
	snapBefore, err := os.ReadFile(filepath.Join(e.dir, SnapshotFile))
	mustRedis(t, err)

	// Later ones, from a script, at the top level, several in one
	// millisecond, and a delete: journaled, the snapshot left alone.
	mustRedis(t, c.Eval(ctx, emit, []string{"sb:{t}:events"}, 50).Err())
	mustRedis(t, c.XAdd(ctx, &redis.XAddArgs{Stream: "sb:{t}:events", Values: []string{"type", "top"}}).Err())
	first, err := c.XRangeN(ctx, "sb:{t}:events", "-", "+", 2).Result()
	mustRedis(t, err)
	mustRedis(t, c.XDel(ctx, "sb:{t}:events", first[1].ID).Err())
	mustRedis(t, c.XTrimMaxLen(ctx, "sb:{t}:events", 40).Err())
	mustRedis(t, e.flush())
	snapAfter, err := os.ReadFile(filepath.Join(e.dir, SnapshotFile))
	mustRedis(t, err)
	if string(snapAfter) != string(snapBefore) {
		t.Error("stream writes with a known last id rewrote the snapshot")
	}
	want, err := c.XRange(ctx, "sb:{t}:events", "-", "+").Result()
	mustRedis(t, err)
	if len(want) != 40 {
		t.Fatalf("stream holds %d entries, want 40", len(want))
	}

	r := startEmbeddedForTest(t, crashCopy(t, e))
	got, err := clientForTest(t, r.Addr(), 0).XRange(ctx, "sb:{t}:events", "-", "+").Result()
	mustRedis(t, err)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after a crash the stream is\n%v\nwant\n%v", got, want)
	}
}

func TestXAddIDIndex(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"k", "*", "f", "v"}, 1},
		{[]string{"k", "NOMKSTREAM", "MAXLEN", "~", "10", "*", "f", "v"}, 5},
		{[]string{"k", "MINID", "123", "LIMIT", "5", "9-*", "f", "v"}, 5},
		{[]string{"k", "MAXLEN"}, -1},
	} {
		if got := xaddIDIndex(tc.args); got != tc.want {
			t.Errorf("xaddIDIndex(%q) = %d, want %d", tc.args, got, tc.want)
		}
	}
}
