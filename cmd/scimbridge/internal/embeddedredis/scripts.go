package embeddedredis

// Lua scripts (EVAL, EVALSHA) run on one prepared gopher-lua state instead
// of miniredis's fresh state per call.
//
// miniredis builds a new Lua state for every script call: it opens seven
// libraries, loads cjson, builds the redis module and guards the globals,
// then throws it all away. Under a push that was 43 % of the process and
// much of the 26 % spent in GC (issue 12 §5). The ledger is all scripts, so
// the hook runs EVAL and EVALSHA itself on a state prepared once:
//
//   - Atomic as in miniredis: the script runs under miniredis's own lock
//     (Miniredis embeds its mutex), so no other command runs meanwhile; its
//     redis.call()s run with a script context miniredis made (captured once
//     at start by newScriptRunner), which tells miniredis's commands
//     the lock is already held, as for its own scripts. Only one script runs
//     at a time, so one state is the whole pool.
//   - Journaled as before: the redis.call()s reach the hook as calls from a
//     script (an unknown peer with a context), which journals their writes.
//   - Nothing leaks from one script to the next: KEYS and ARGV are new
//     tables per call, the globals are guarded as in miniredis (a script
//     cannot create one), and after each call everything reachable from the
//     state's globals, registry and built-in metatables is compared with how
//     it was prepared (pristine: about 270 slots, 9 µs); a script that
//     changed anything (assigned an existing global, changed a library
//     table, ...) or raised an error costs the state, and the next call
//     prepares a new one.
//   - Same replies and errors as miniredis's runner (tests compare them).
//     Whatever this runner does not handle goes to miniredis's own EVAL /
//     EVALSHA, which gives the exact error: bad argument counts or numkeys, a
//     script that does not compile, an unknown sha, a connection in
//     subscribe mode or whose database the hook cannot follow (SELECT inside
//     MULTI), and EVAL queued in MULTI. Differences, all on paths the
//     ledger never takes: a script returning a function or userdata gets
//     nil where miniredis panics (ending the process); a "%" in a script's error text is kept
//     where miniredis's formatting garbles it; redis.setresp() has no
//     effect (in miniredis it only leaks into the connection after an error).
//
// The registry of scripts (sha -> compiled) is a cache of miniredis's: every
// sha in it is also in miniredis's (a new EVAL script is SCRIPT LOADed there
// once it ran; SCRIPT FLUSH empties this one first), so an EVALSHA it does
// not know is left to miniredis, which knows best.

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/alicebob/miniredis/v2"
	luajson "github.com/alicebob/miniredis/v2/gopher-json"
	"github.com/alicebob/miniredis/v2/server"
	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

// scriptRunner runs EVAL and EVALSHA for the hook. All of it is used under
// Server.jmu (the hook holds it for every EVAL, EVALSHA and SCRIPT LOAD).
type scriptRunner struct {
	m   *miniredis.Miniredis
	srv *server.Server
	// nested is a script context miniredis made: commands dispatched with
	// it run as redis.call()s do (the lock is held, no auth, no MULTI).
	nested    interface{}
	nestedSHA string // the sha it names in miniredis's errors
	nestedDB  int    // the database it has selected; -1: not known
	// internal is a peer of the server's own, for SCRIPT LOAD.
	internal *server.Peer

	scripts map[string]*luaScript // by sha
	state   *luaState             // nil: prepare one on the next call
	// builds counts the states prepared (tests).
	builds int

	// Per call.
	sha     string
	callBuf bytes.Buffer
	reply   luaReply
	// callW and callR carry every redis.call()'s command reply through
	// callBuf. Kept, not made per call: two 4 KiB buffers per redis.call
	// were most of what a push allocated (so most of its GC).
	callW *bufio.Writer
	callR *bufio.Reader
}

type luaScript struct {
	src   string
	sha   string
	proto *lua.FunctionProto
}

// captureScript is run once at start, through miniredis, to capture the
// context its redis.call()s get.
const captureScript = "return redis.call('PING')"

// newScriptRunner captures miniredis's script context. It installs its own
// pre-hook for that moment: call it before the real hook is installed.
func newScriptRunner(m *miniredis.Miniredis, srv *server.Server) (*scriptRunner, error) {
	r := &scriptRunner{m: m, srv: srv, scripts: map[string]*luaScript{}}
	srv.SetPreHook(func(c *server.Peer, cmd string, args ...string) bool {
		if cmd == "PING" && c.Ctx != nil && r.nested == nil {
			r.nested = c.Ctx
		}
		return false
	})
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	p := server.NewPeer(w)
	srv.Dispatch(p, []string{"EVAL", captureScript, "0"})
	srv.Dispatch(p, []string{"SCRIPT", "FLUSH"}) // leave no trace of it
	srv.SetPreHook(nil)
	if r.nested == nil {
		return nil, fmt.Errorf("embedded redis: could not capture the script context")
	}
	r.nestedSHA = sha1Hex(captureScript)
	r.internal = server.NewPeer(bufio.NewWriter(io.Discard))
	return r, nil
}

func sha1Hex(s string) string {
	h := sha1.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// compileScript compiles src as miniredis does (the same chunk names, so
// errors name the same positions).
func compileScript(src, sha string) (*luaScript, bool) {
	chunk, err := parse.Parse(strings.NewReader(src), "<string>")
	if err != nil {
		return nil, false
	}
	proto, err := lua.Compile(chunk, "")
	if err != nil {
		return nil, false
	}
	return &luaScript{src: src, sha: sha, proto: proto}, true
}

// run runs EVAL or EVALSHA (args after the command name) on c, whose
// database is db, and reports whether it did; false: nothing was done,
// leave the command to miniredis. jmu held.
func (r *scriptRunner) run(c *server.Peer, db int, cmd string, args []string) bool {
	if len(args) < 2 {
		return false
	}
	var s *luaScript
	fresh := false
	if cmd == "EVAL" {
		sha := sha1Hex(args[0])
		if s = r.scripts[sha]; s == nil || s.src != args[0] {
			var ok bool
			if s, ok = compileScript(args[0], sha); !ok {
				return false
			}
			fresh = true
		}
	} else if s = r.scripts[args[0]]; s == nil {
		return false
	}
	n, err := strconv.Atoi(args[1])
	if err != nil || n < 0 || n > len(args)-2 {
		return false
	}
	keys, argv := args[2:2+n], args[2+n:]

	r.m.Lock()
	ok := r.exec(c, db, s, keys, argv)
	r.m.Unlock()

	if ok && fresh {
		// miniredis caches a script that ran; so does this runner, and
		// miniredis must know it too (SCRIPT EXISTS, EVALSHA in MULTI).
		r.scripts[s.sha] = s
		r.srv.Dispatch(r.internal, []string{"SCRIPT", "LOAD", s.src})
	}
	return true
}

// flushed: SCRIPT FLUSH is about to run. jmu held.
func (r *scriptRunner) flushed() { clear(r.scripts) }

// loaded: SCRIPT LOAD of src ran on a connection where it succeeds
// whenever it parses. jmu held.
func (r *scriptRunner) loaded(src string) {
	sha := sha1Hex(src)
	if s := r.scripts[sha]; s != nil && s.src == src {
		return
	}
	if s, ok := compileScript(src, sha); ok {
		r.scripts[sha] = s
	}
}

// exec runs s and writes its reply to c. miniredis's lock held. It
// reports whether the script ran without error.
func (r *scriptRunner) exec(c *server.Peer, db int, s *luaScript, keys, argv []string) bool {
	if r.nestedDB != db {
		r.call([]string{"SELECT", strconv.Itoa(db)})
		r.nestedDB = db
	}
	if r.state == nil {
		r.state = r.prepare()
	}
	st := r.state
	l := st.l
	g := l.G.Global
	g.RawSetString("KEYS", stringTable(l, keys))
	g.RawSetString("ARGV", stringTable(l, argv))
	r.sha = s.sha
	defer func() { r.sha = "" }()

	l.Push(l.NewFunctionFromProto(s.proto))
	if err := l.PCall(0, lua.MultRet, nil); err != nil {
		c.WriteError("ERR Error compiling script (new function): " + err.Error())
		r.discard()
		return false
	}
	result := l.Get(1)
	l.SetTop(0)
	// Convert under protection: a table's __index may run Lua.
	r.reply = luaReply{}
	if err := l.CallByParam(lua.P{Fn: st.convert, Protect: true}, result); err != nil {
		r.reply = luaReply{kind: replyError, str: "ERR Error compiling script (new function): " + err.Error()}
		r.discard()
	}
	l.SetTop(0)
	writeReply(c, &r.reply)
	r.reply = luaReply{}
	g.RawSetString("KEYS", lua.LNil)
	g.RawSetString("ARGV", lua.LNil)
	if r.state != nil && !st.pristine() {
		r.discard()
	}
	return true
}

func stringTable(l *lua.LState, items []string) *lua.LTable {
	t := l.CreateTable(len(items), 0)
	for i, s := range items {
		t.RawSetInt(i+1, lua.LString(s))
	}
	return t
}

func (r *scriptRunner) discard() {
	if r.state != nil {
		r.state.l.Close()
		r.state = nil
	}
}

// call dispatches one command as a redis.call() of the running script and
// returns its reply, parsed. miniredis's lock held.
func (r *scriptRunner) call(args []string) (interface{}, error) {
	r.callBuf.Reset()
	if r.callW == nil {
		r.callW, r.callR = bufio.NewWriter(&r.callBuf), bufio.NewReader(&r.callBuf)
	}
	// A fresh peer per call, as miniredis makes for a redis.call(); it
	// does not outlive the call (a script cannot block or subscribe).
	r.callW.Reset(&r.callBuf)
	p := server.NewPeer(r.callW)
	p.Ctx = r.nested
	r.srv.Dispatch(p, args)
	_ = r.callW.Flush()
	if strings.EqualFold(args[0], "SELECT") {
		r.nestedDB = -1 // a script's own SELECT: set it again for the next
	}
	r.callR.Reset(&r.callBuf)
	v, err := server.ParseReply(r.callR)
	if err != nil && r.sha != "" && strings.Contains(err.Error(), r.nestedSHA) {
		// miniredis names the script in some errors: this one, not the
		// capture script whose context it runs with.
		err = fmt.Errorf("%s", strings.ReplaceAll(err.Error(), r.nestedSHA, r.sha))
	}
	return v, err
}

// luaState is a prepared gopher-lua state and what it looked like then.
type luaState struct {
	l       *lua.LState
	convert *lua.LFunction // Lua value -> luaReply, run protected
	// roots are the state's globals, registry, environment and built-in
	// metatables; tables, funcs and userdata everything reachable from
	// them, as prepared. A script can only reach something new through a
	// slot of one of these, so checking them (not walking again) is
	// enough to see any change.
	roots    []lua.LValue
	tables   []preparedTable
	funcs    []preparedFunc
	userdata []preparedUserData
}

type preparedTable struct {
	t       *lua.LTable
	entries map[lua.LValue]lua.LValue
	mt      lua.LValue
}

type preparedFunc struct {
	f        *lua.LFunction
	env      *lua.LTable
	upvalues []lua.LValue
}

type preparedUserData struct {
	u   *lua.LUserData
	env *lua.LTable
	mt  lua.LValue
}

// rootValues is the state's roots, in a fixed order.
func rootValues(l *lua.LState, dst []lua.LValue) []lua.LValue {
	dst = append(dst[:0], l.G.Global, l.G.Registry, l.Env,
		l.GetMetatable(lua.LNil), l.GetMetatable(lua.LTrue), l.GetMetatable(lua.LNumber(0)),
		l.GetMetatable(lua.LString("")), l.GetMetatable(l))
	if fn, ok := l.G.Global.RawGetString("tostring").(*lua.LFunction); ok {
		dst = append(dst, l.GetMetatable(fn))
	}
	return dst
}

// record notes the state as it is now: what pristine compares with.
func (st *luaState) record() {
	st.roots = rootValues(st.l, nil)
	seen := map[lua.LValue]bool{}
	var visit func(v lua.LValue)
	visit = func(v lua.LValue) {
		switch t := v.(type) {
		case *lua.LTable:
			if seen[t] {
				return
			}
			seen[t] = true
			pt := preparedTable{t: t, entries: map[lua.LValue]lua.LValue{}, mt: t.Metatable}
			t.ForEach(func(k, x lua.LValue) { pt.entries[k] = x })
			st.tables = append(st.tables, pt)
			for k, x := range pt.entries {
				visit(k)
				visit(x)
			}
			visit(t.Metatable)
		case *lua.LFunction:
			if seen[t] {
				return
			}
			seen[t] = true
			pf := preparedFunc{f: t, env: t.Env}
			for _, uv := range t.Upvalues {
				pf.upvalues = append(pf.upvalues, uv.Value())
			}
			st.funcs = append(st.funcs, pf)
			if t.Env != nil {
				visit(t.Env)
			}
			for _, x := range pf.upvalues {
				visit(x)
			}
		case *lua.LUserData:
			if seen[t] {
				return
			}
			seen[t] = true
			st.userdata = append(st.userdata, preparedUserData{u: t, env: t.Env, mt: t.Metatable})
			if t.Env != nil {
				visit(t.Env)
			}
			visit(t.Metatable)
		}
	}
	for _, r := range st.roots {
		visit(r)
	}
}

// pristine reports whether the state is as recorded: the same roots, and
// every recorded table, function and userdata holding what it held.
func (st *luaState) pristine() bool {
	var buf [12]lua.LValue
	now := rootValues(st.l, buf[:0])
	if len(now) != len(st.roots) {
		return false
	}
	for i, r := range now {
		if r != st.roots[i] {
			return false
		}
	}
	for i := range st.tables {
		pt := &st.tables[i]
		if pt.t.Metatable != pt.mt {
			return false
		}
		n, same := 0, true
		pt.t.ForEach(func(k, x lua.LValue) {
			n++
			if same {
				was, ok := pt.entries[k]
				same = ok && was == x
			}
		})
		if !same || n != len(pt.entries) {
			return false
		}
	}
	for i := range st.funcs {
		pf := &st.funcs[i]
		if pf.f.Env != pf.env || len(pf.f.Upvalues) != len(pf.upvalues) {
			return false
		}
		for j, uv := range pf.f.Upvalues {
			if uv.Value() != pf.upvalues[j] {
				return false
			}
		}
	}
	for _, pu := range st.userdata {
		if pu.u.Env != pu.env || pu.u.Metatable != pu.mt {
			return false
		}
	}
	return true
}

// guardGlobals makes creating a global, or reading one that does not
// exist, an error, as miniredis does. Its line layout is kept so that those
// errors (which carry the guard's own line numbers) read exactly as
// miniredis's: the raise for a new global on line 9 of a function starting
// on line 5, for a missing one on line 16 of one starting on line 14.
const guardGlobals = `local getinfo, rawget, rawset, tostring, error = debug.getinfo, rawget, rawset, tostring, error
local guard = {}
-- Refused from any function frame that is not C: gopher-lua reports its
-- Go functions as "G", so only access from outside any call passes.
guard.__newindex = function(t, name, value)
  local caller = getinfo(2)
  if caller and getinfo(2, "S").what ~= "C" then
    -- raised on the next line (the errors name it)
    error("Script attempted to create global variable '" .. tostring(name) .. "'", 2)
  end
  rawset(t, name, value)
end

guard.__index = function(t, name)
  if getinfo(2) and getinfo(2, "S").what ~= "C" then
    error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
  end
  return rawget(t, name)
end
setmetatable(_G, guard)
debug = nil
`

// prepare builds a state with what a script sees in miniredis: the base,
// package, coroutine, table, string, math libraries, cjson, redis (and its
// alias server), os.clock, guarded globals.
func (r *scriptRunner) prepare() *luaState {
	r.builds++
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.CoroutineLibName, lua.OpenCoroutine},
		{lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath},
		{lua.DebugLibName, lua.OpenDebug},
	} {
		l.Push(l.NewFunction(lib.open))
		l.Push(lua.LString(lib.name))
		l.Call(1, 0)
	}
	luajson.Preload(l)
	l.Push(l.GetGlobal("require"))
	l.Push(lua.LString("json"))
	l.Call(1, 1)
	l.SetGlobal("cjson", l.Get(-1))
	l.Pop(1)

	mod := l.NewTable()
	for name, fn := range map[string]lua.LGFunction{
		"call":               func(l *lua.LState) int { return r.luaCall(l, true) },
		"pcall":              func(l *lua.LState) int { return r.luaCall(l, false) },
		"error_reply":        luaErrorReply,
		"status_reply":       luaStatusReply,
		"log":                luaLog,
		"sha1hex":            luaSHA1Hex,
		"replicate_commands": luaReplicateCommands,
		"set_repl":           luaSetRepl,
		"setresp":            luaSetResp,
	} {
		mod.RawSetString(name, l.NewFunction(fn))
	}
	for i, name := range []string{"LOG_DEBUG", "LOG_VERBOSE", "LOG_NOTICE", "LOG_WARNING"} {
		mod.RawSetString(name, lua.LNumber(i))
	}
	l.SetGlobal("redis", mod)
	l.SetGlobal("server", mod)
	l.RegisterModule("os", map[string]lua.LGFunction{
		"clock": func(l *lua.LState) int { l.Push(lua.LNumber(42)); return 1 },
	})
	guard, ok := compileScript(guardGlobals, "")
	if !ok {
		panic("embedded redis: the global guard does not compile") // a constant
	}
	l.Push(l.NewFunctionFromProto(guard.proto))
	l.Call(0, 0)

	st := &luaState{l: l}
	st.convert = l.NewFunction(func(l *lua.LState) int {
		r.reply = toReply(l, l.Get(1))
		return 0
	})
	st.record()
	return st
}

// luaCall is redis.call (raise: true) and redis.pcall: run a command as
// the script and give its reply as a Lua value.
func (r *scriptRunner) luaCall(l *lua.LState, raise bool) int {
	top := l.GetTop()
	if top == 0 {
		l.Error(lua.LString(fmt.Sprintf("Please specify at least one argument for this redis lib call script: %s, &c.", r.sha)), 1)
		return 0
	}
	args := make([]string, top)
	for i := 1; i <= top; i++ {
		switch a := l.Get(i).(type) {
		case lua.LNumber:
			args[i-1] = a.String()
		case lua.LString:
			args[i-1] = string(a)
		default:
			l.Error(lua.LString(fmt.Sprintf("Lua redis lib command arguments must be strings or integers script: %s, &c.", r.sha)), 1)
			return 0
		}
	}
	v, err := r.call(args)
	if err != nil {
		msg := err.Error()
		unknown := strings.Contains(msg, "ERR unknown command")
		if raise {
			if unknown {
				msg = fmt.Sprintf("Unknown Redis command called from script script: %s, &c.", r.sha)
			}
			l.Error(lua.LString(msg), 1)
			return 0
		}
		if unknown {
			msg = "ERR Unknown Redis command called from script"
		}
		t := l.CreateTable(0, 1)
		t.RawSetString("err", lua.LString(msg))
		l.Push(t)
		return 1
	}
	l.Push(toLua(l, v, true))
	return 1
}

// toLua converts a parsed RESP2 reply: nil is false, a status a table
// {ok = ...}, an array a table.
func toLua(l *lua.LState, v interface{}, top bool) lua.LValue {
	switch t := v.(type) {
	case nil:
		return lua.LFalse
	case int:
		return lua.LNumber(t)
	case string:
		return lua.LString(t)
	case server.Simple:
		if top {
			return statusTable(l, string(t))
		}
		return lua.LString(string(t))
	case []interface{}:
		tb := l.CreateTable(len(t), 0)
		for i, e := range t {
			tb.RawSetInt(i+1, toLua(l, e, false))
		}
		return tb
	default:
		return lua.LString(fmt.Sprint(t))
	}
}

func statusTable(l *lua.LState, msg string) *lua.LTable {
	t := l.CreateTable(0, 1)
	t.RawSetString("ok", lua.LString(msg))
	return t
}

func luaErrorReply(l *lua.LState) int {
	msg, ok := l.Get(1).(lua.LString)
	if !ok {
		l.Error(lua.LString("wrong number or type of arguments"), 1)
		return 0
	}
	code, rest, spaced := strings.Cut(string(msg), " ")
	code = strings.TrimPrefix(code, "-")
	text := "ERR " + code
	if spaced {
		text = code + " " + rest
	}
	t := l.CreateTable(0, 1)
	t.RawSetString("err", lua.LString(text))
	l.Push(t)
	return 1
}

func luaStatusReply(l *lua.LState) int {
	msg, ok := l.Get(1).(lua.LString)
	if !ok {
		l.Error(lua.LString("wrong number or type of arguments"), 1)
		return 0
	}
	l.Push(statusTable(l, string(msg)))
	return 1
}

func luaLog(l *lua.LState) int {
	l.CheckInt(1)
	l.CheckString(2)
	return 0 // logged nowhere, as in miniredis
}

func luaSHA1Hex(l *lua.LState) int {
	if l.GetTop() != 1 {
		l.Error(lua.LString("wrong number of arguments"), 1)
		return 0
	}
	l.Push(lua.LString(sha1Hex(lua.LVAsString(l.Get(1)))))
	return 1
}

func luaReplicateCommands(l *lua.LState) int {
	l.Push(lua.LTrue)
	return 1
}

func luaSetRepl(l *lua.LState) int {
	if l.GetTop() != 1 {
		l.Error(lua.LString("wrong number of arguments"), 1)
		return 0
	}
	return 1 // ignored; gives back its argument
}

func luaSetResp(l *lua.LState) int {
	if v := l.CheckInt(1); v != 2 && v != 3 {
		l.Error(lua.LString("RESP version must be 2 or 3"), 1)
	}
	return 0
}

// luaReply is a script's result, converted before any of it is written.
type luaReply struct {
	kind  byte
	str   string
	num   int
	items []luaReply
}

const (
	replyNull byte = iota
	replyInt
	replyBulk
	replyError
	replyStatus
	replyArray
)

// toReply converts a script's result: nil and false are a null, true 1, a
// number an integer (truncated), a table with err or ok an error or a
// status, any other table the array of its values from 1 up to the first
// nil; anything else (functions, ...) a null.
func toReply(l *lua.LState, v lua.LValue) luaReply {
	switch t := v.(type) {
	case lua.LBool:
		if t {
			return luaReply{kind: replyInt, num: 1}
		}
	case lua.LNumber:
		return luaReply{kind: replyInt, num: int(t)}
	case lua.LString:
		return luaReply{kind: replyBulk, str: string(t)}
	case *lua.LTable:
		if e := t.RawGetString("err"); e.Type() != lua.LTNil {
			return luaReply{kind: replyError, str: e.String()}
		}
		if s := t.RawGetString("ok"); s.Type() != lua.LTNil {
			return luaReply{kind: replyStatus, str: s.String()}
		}
		out := luaReply{kind: replyArray}
		for i := 1; ; i++ {
			e := l.GetTable(t, lua.LNumber(i))
			if e.Type() == lua.LTNil {
				break
			}
			out.items = append(out.items, toReply(l, e))
		}
		return out
	}
	return luaReply{kind: replyNull}
}

func writeReply(c *server.Peer, r *luaReply) {
	switch r.kind {
	case replyInt:
		c.WriteInt(r.num)
	case replyBulk:
		c.WriteBulk(r.str)
	case replyError:
		c.WriteError(r.str)
	case replyStatus:
		c.WriteInline(r.str)
	case replyArray:
		c.WriteLen(len(r.items))
		for i := range r.items {
			writeReply(c, &r.items[i])
		}
	default:
		c.WriteNull()
	}
}
