package embeddedredis

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// scriptCase is one script call: the script, numkeys and its arguments as
// sent (so bad ones can be), or an EVALSHA of the script when sha is set.
type scriptCase struct {
	name   string
	script string
	args   []any // after the script: numkeys, keys, argv
	sha    bool
}

// scriptCases run in order on one connection: some leave state behind
// (data, a changed library table) for the next ones to see.
var scriptCases = []scriptCase{
	{"integer", "return 1", []any{0}, false},
	{"string", "return 'x'", []any{0}, false},
	{"nil", "return nil", []any{0}, false},
	{"nothing", "local a = 1", []any{0}, false},
	{"false", "return false", []any{0}, false},
	{"true", "return true", []any{0}, false},
	{"float truncated", "return 3.99", []any{0}, false},
	{"negative float", "return -2.5", []any{0}, false},
	{"array with false and nil", "return {1, 'a', false, 'b', nil, 'c'}", []any{0}, false},
	{"nested table", "return {1, {2, {'three'}}, {}}", []any{0}, false},
	{"err table", "return {err = 'MYERR went wrong'}", []any{0}, false},
	{"ok table", "return {ok = 'FINE'}", []any{0}, false},
	{"error_reply with code", "return redis.error_reply('MYCODE bad thing')", []any{0}, false},
	{"error_reply without code", "return redis.error_reply('oops')", []any{0}, false},
	{"error_reply with dash", "return redis.error_reply('-WRONG dash')", []any{0}, false},
	{"error_reply bad arg", "return redis.error_reply(5)", []any{0}, false},
	{"status_reply", "return redis.status_reply('PONGX')", []any{0}, false},
	{"keys and argv", "return {KEYS[1], KEYS[2], ARGV[1], #KEYS, #ARGV}", []any{2, "k1", "k2", "a1", "a2"}, false},
	{"set and get", "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('GET', KEYS[1])", []any{1, "s", "value"}, false},
	// Replies larger than the runner's kept 4 KiB buffers, between small
	// ones: each call's reply is its own (scripts.go, call).
	{"replies past the call buffers", "redis.call('SET', 'big', string.rep('b', 9000)); redis.call('RPUSH', 'bl', string.rep('x', 5000), 'y', string.rep('z', 4096)); local a = redis.call('GET', 'big'); local p = redis.call('PING'); local l = redis.call('LRANGE', 'bl', 0, -1); return {#a, string.sub(a, 8999), p.ok, #l[1], l[2], #l[3], redis.call('STRLEN', 'big')}", []any{0}, false},
	{"get missing is false", "return {redis.call('GET', 'missing') == false, type(redis.call('GET', 'missing'))}", []any{0}, false},
	{"get missing returned", "return redis.call('GET', 'missing')", []any{0}, false},
	{"status from call", "return redis.call('SET', 'st', 'v')", []any{0}, false},
	{"status table from call", "local r = redis.call('PING'); return {type(r), r.ok}", []any{0}, false},
	{"numbers as args", "redis.call('SET', 'n', 41); return redis.call('INCRBY', 'n', 1.0)", []any{0}, false},
	{"hash", "redis.call('HSET', KEYS[1], 'a', '1', 'b', '2'); return redis.call('HGETALL', KEYS[1])", []any{1, "h"}, false},
	{"zset and lists", "redis.call('ZADD', 'z', 2, 'b', 1, 'a'); redis.call('RPUSH', 'l', 'x', 'y'); return {redis.call('ZRANGE', 'z', 0, -1, 'WITHSCORES'), redis.call('LRANGE', 'l', 0, -1)}", []any{0}, false},
	{"call error raises", "redis.call('SET', 's', 'v'); return redis.call('INCR', 's')", []any{0}, false},
	{"pcall error is a table", "local r = redis.pcall('INCR', 's'); return {type(r), r.err}", []any{0}, false},
	{"pcall error returned", "return redis.pcall('INCR', 's')", []any{0}, false},
	{"call wrong arity", "return redis.call('GET')", []any{0}, false},
	{"call unknown command", "return redis.call('NOPE', 1)", []any{0}, false},
	{"pcall unknown command", "return redis.pcall('NOPE', 1)", []any{0}, false},
	{"call without arguments", "return redis.call()", []any{0}, false},
	{"call with a table argument", "return redis.call('GET', {})", []any{0}, false},
	{"call not allowed from script", "return redis.call('EVAL', 'return 1', 0)", []any{0}, false},
	{"lua pcall of a failing call", "local ok, e = pcall(redis.call, 'INCR', 's'); return {tostring(ok), e}", []any{0}, false},
	{"error midway keeps earlier writes", "redis.call('SET', 'before', '1'); redis.call('INCR', 's'); redis.call('SET', 'after', '1'); return 1", []any{0}, false},
	{"error()", "error('boom')", []any{0}, false},
	{"runtime error", "local t = nil; return t.x", []any{0}, false},
	{"create a global", "x = 1; return 1", []any{0}, false},
	{"read a missing global", "return y", []any{0}, false},
	{"cjson", `local d = cjson.decode('{"active":true,"n":[1,2]}'); return {tostring(d.active), d.n[2], cjson.encode({a = 'b'})}`, []any{0}, false},
	{"sha1hex and log", "redis.log(redis.LOG_WARNING, 'x'); return {redis.sha1hex('abc'), redis.LOG_NOTICE}", []any{0}, false},
	{"os.clock and replicate", "return {os.clock(), tostring(redis.replicate_commands()), server.call('PING').ok}", []any{0}, false},
	{"setresp bad", "redis.setresp(4)", []any{0}, false},
	{"select in script", "redis.call('SELECT', 1); redis.call('SET', 'in1', 'v'); return redis.call('GET', 'in1')", []any{0}, false},
	{"caller db unchanged", "return {redis.call('GET', 'in1'), redis.call('GET', 'before')}", []any{0}, false},
	{"evalsha", "return {'by sha', ARGV[1]}", []any{0, "arg"}, true},
	{"evalsha unknown", "return 'never loaded'", []any{0}, true},
	{"bad numkeys", "return 1", []any{"x"}, false},
	{"negative numkeys", "return 1", []any{-1}, false},
	{"numkeys too large", "return 1", []any{3, "a"}, false},
	{"does not compile", "return (", []any{0}, false},
	// Leaks: each writes, the next one looks.
	{"assign an existing global", "tostring = nil; return 1", []any{0}, false},
	{"it is back", "return tostring(5)", []any{0}, false},
	{"rawset a global", "rawset(_G, 'leak', 1); return leak", []any{0}, false},
	{"it is gone", "return leak", []any{0}, false},
	{"change a library", "string.leak = 'x'; return string.leak", []any{0}, false},
	{"library unchanged", "return string.leak", []any{0}, false},
	{"change a loaded module", "package.loaded.debug.setmetatable(1, {__index = function() return 'leaked' end}); return (1).x", []any{0}, false},
	{"number metatable unchanged", "return (1).x", []any{0}, false},
	{"setfenv on the thread", "setfenv(0, {}); return 1", []any{0}, false},
	{"environment unchanged", "return type(redis)", []any{0}, false},
	{"KEYS replaced", "KEYS = {'fake'}; return KEYS[1]", []any{1, "real"}, false},
	{"KEYS fresh", "return KEYS[1]", []any{1, "real2"}, false},
}

// scriptOutcome is what a client saw: the reply, or the error's text.
type scriptOutcome struct {
	Val any
	Err string
}

func runScriptCases(t *testing.T, addr string, protocol int) []scriptOutcome {
	t.Helper()
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: addr, Protocol: protocol, MaxRetries: -1, PoolSize: 1})
	defer c.Close()
	var out []scriptOutcome
	for _, sc := range scriptCases {
		var cmd []any
		if sc.sha {
			if sc.name != "evalsha unknown" {
				mustRedis(t, c.ScriptLoad(ctx, sc.script).Err())
			}
			cmd = append([]any{"EVALSHA", sha1Hex(sc.script)}, sc.args...)
		} else {
			cmd = append([]any{"EVAL", sc.script}, sc.args...)
		}
		v, err := c.Do(ctx, cmd...).Result()
		o := scriptOutcome{Val: v}
		if err != nil {
			o.Err = err.Error()
			if err == redis.Nil {
				o.Err = "nil"
			}
		}
		out = append(out, o)
	}
	return out
}

// The prepared-state runner gives every reply and error miniredis's own
// gives, leaves the same data, and nothing one script does to its state
// reaches the next.
func TestEmbeddedScriptsMatchMiniredis(t *testing.T) {
	t.Parallel()
	for _, protocol := range []int{2, 3} {
		t.Run(fmt.Sprintf("resp%d", protocol), func(t *testing.T) {
			t.Parallel()
			m := miniredis.RunT(t)
			want := runScriptCases(t, m.Addr(), protocol)

			e := startEmbeddedForTest(t, t.TempDir())
			got := runScriptCases(t, e.Addr(), protocol)

			for i, sc := range scriptCases {
				if !reflect.DeepEqual(got[i], want[i]) {
					t.Errorf("%s: embedded %#v, miniredis %#v", sc.name, got[i], want[i])
				}
			}
			wantData, _, err := readSnapshot(m)
			mustRedis(t, err)
			e.jmu.Lock()
			gotData, _, err := readSnapshot(e.server)
			e.jmu.Unlock()
			mustRedis(t, err)
			if !reflect.DeepEqual(gotData.Databases, wantData.Databases) {
				t.Errorf("data differs:\nembedded  %+v\nminiredis %+v", gotData.Databases, wantData.Databases)
			}
			// The leak cases cost their state; the others did not.
			e.jmu.Lock()
			builds := e.scripts.builds
			e.jmu.Unlock()
			if builds < 2 || builds > 30 {
				t.Errorf("states prepared: %d; want a few (one per error or leak), not one per call", builds)
			}
		})
	}
}

// A ledger-shaped script reuses one state: no state is prepared per call.
func TestEmbeddedScriptsReuseTheState(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := startEmbeddedForTest(t, t.TempDir())
	c := clientForTest(t, e.Addr(), 0)
	script := redis.NewScript(writeScript)
	for i := range 50 {
		id := itoa(i)
		mustRedis(t, script.Run(ctx, c, []string{"r:" + id, "idx", "dirty", "lease:" + id}, "u"+id).Err())
		if err := c.Eval(ctx, `local d = cjson.decode(redis.call('HGET', KEYS[1], 'doc') or '{}'); return d.active`, []string{"r:" + id}).Err(); err != redis.Nil {
			t.Fatalf("cjson script: %v, want nil", err)
		}
	}
	e.jmu.Lock()
	builds := e.scripts.builds
	e.jmu.Unlock()
	if builds != 1 {
		t.Fatalf("states prepared for 100 script calls: %d, want 1", builds)
	}
	if n, err := c.HLen(ctx, "idx").Result(); err != nil || n != 50 {
		t.Fatalf("idx has %d fields (%v), want 50", n, err)
	}
}

// Script writes are journaled as before: a restart (and a crash after a
// flush) gives back exactly the data, including a script's writes before
// its error, one in another database, and those run by EVALSHA.
func TestEmbeddedScriptWritesReplay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	e, err := Start(dir)
	mustRedis(t, err)
	c := clientForTest(t, e.Addr(), 2)
	script := redis.NewScript(writeScript)
	for i := range 20 {
		id := itoa(i)
		mustRedis(t, script.Run(ctx, c, []string{"r:" + id, "idx", "dirty", "lease:" + id}, "u"+id).Err())
	}
	err = c.Eval(ctx, "redis.call('SET', 'kept', '1'); redis.call('HSET', 'kept:h', 'f', 'v'); redis.call('INCR', 'kept'); redis.call('INCR', 'idx'); return 1", nil).Err()
	if err == nil || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Fatalf("script error: %v, want WRONGTYPE", err)
	}
	mustRedis(t, c.Eval(ctx, "redis.call('SELECT', 5); redis.call('SET', 'db5', 'x'); return 1", nil).Err())

	crashed := crashCopy(t, e)
	e.jmu.Lock()
	want, _, err := readSnapshot(e.server)
	e.jmu.Unlock()
	mustRedis(t, err)
	if len(want.Databases) != 2 {
		t.Fatalf("databases written: %+v, want 2 and 5", want.Databases)
	}
	journal, err := readJournalCommands(crashed)
	mustRedis(t, err)
	if !strings.Contains(journal, "HSET") || strings.Contains(journal, "EVAL") {
		t.Fatalf("journal holds %q; want the scripts' writes, not the scripts", journal)
	}
	mustRedis(t, e.Close())

	for _, d := range []string{dir, crashed} {
		r, err := Start(d)
		mustRedis(t, err)
		r.jmu.Lock()
		got, _, err := readSnapshot(r.server)
		r.jmu.Unlock()
		mustRedis(t, err)
		mustRedis(t, r.Close())
		for _, snap := range []redisSnapshot{got, want} {
			for i := range snap.Databases {
				for j := range snap.Databases[i].Keys {
					if snap.Databases[i].Keys[j].ExpiresAtMs != 0 {
						snap.Databases[i].Keys[j].ExpiresAtMs = 1 // a deadline; its ms vary with the read
					}
				}
			}
		}
		if !reflect.DeepEqual(got.Databases, want.Databases) {
			t.Errorf("%s: after restart\n%+v\nwant\n%+v", d, got.Databases, want.Databases)
		}
	}
}

// readJournalCommands is the command names in dir's journal, in order.
func readJournalCommands(dir string) (string, error) {
	f, err := os.Open(filepath.Join(dir, JournalFile))
	if err != nil {
		return "", err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var names []string
	for {
		args, err := readRESP(r)
		if err != nil {
			break
		}
		names = append(names, args[0])
	}
	return strings.Join(names, " "), nil
}

// BenchmarkScriptStatePristine is the check run after every script call
// that the state is as prepared.
func BenchmarkScriptStatePristine(b *testing.B) {
	r := &scriptRunner{}
	st := r.prepare()
	defer st.l.Close()
	slots := len(st.funcs)
	for _, t := range st.tables {
		slots += len(t.entries)
	}
	b.ReportMetric(float64(slots), "slots")
	for range b.N {
		if !st.pristine() {
			b.Fatal("not pristine")
		}
	}
}

// A SELECT miniredis refuses (an extra argument) changes neither the
// database a script runs in nor the one its writes are journaled for.
func TestEmbeddedScriptAfterRefusedSelect(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := startEmbeddedForTest(t, t.TempDir())
	c := clientForTest(t, e.Addr(), 0)
	conn := c.Conn()
	defer conn.Close()
	if err := conn.Do(ctx, "SELECT", "3", "extra").Err(); err == nil {
		t.Fatal("SELECT with an extra argument: no error")
	}
	mustRedis(t, conn.Eval(ctx, "return redis.call('SET', 'where', 'db0')", nil).Err())
	if v, err := c.Get(ctx, "where").Result(); err != nil || v != "db0" {
		t.Fatalf("db 0 'where' = %q, %v", v, err)
	}
	crashed := crashCopy(t, e)
	r, err := Start(crashed)
	mustRedis(t, err)
	defer r.Close()
	if v, err := clientForTest(t, r.Addr(), 0).Get(ctx, "where").Result(); err != nil || v != "db0" {
		t.Fatalf("after replay: db 0 'where' = %q, %v", v, err)
	}
}

// Where miniredis's own runner ends the process (a result it cannot
// convert, a table whose __index raises while it is read), this one
// replies and goes on.
func TestEmbeddedScriptOddResults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := startEmbeddedForTest(t, t.TempDir())
	c := clientForTest(t, e.Addr(), 0)
	v, err := c.Eval(ctx, "return {1, print, 'x'}", nil).Result()
	if err != nil || !reflect.DeepEqual(v, []any{int64(1), nil, "x"}) {
		t.Fatalf("function in the result: %#v, %v; want [1 nil x]", v, err)
	}
	err = c.Eval(ctx, "return setmetatable({}, {__index = function() error('no such index') end})", nil).Err()
	if err == nil || !strings.Contains(err.Error(), "no such index") {
		t.Fatalf("raising __index: %v, want its error", err)
	}
	if v, err := c.Eval(ctx, "return 'still here'", nil).Text(); err != nil || v != "still here" {
		t.Fatalf("next script: %q, %v", v, err)
	}
}
