package embeddedredis

// The journal: an append-only log of the write commands the server ran,
// in the order it ran them, replayed over the last full snapshot at start.
// It makes the work of persisting proportional to what was written, not to
// the size of the data: a full snapshot is written only at start, when the
// journal has grown past the snapshot's size (compaction), or when a
// command the journal cannot replay exactly ran (see needFull).
//
// How commands reach it. miniredis runs a pre-hook before every command,
// also before each redis.call() inside a Lua script. The hook
//
//   - runs every top-level write (and every EVAL/EVALSHA) itself, holding
//     Server.jmu while it appends the command and executes it, so the
//     journal's order is the execution order (miniredis executes a command
//     under its own lock, which the hook cannot hold);
//   - journals the writes a script makes (redis.call inside EVAL), not the
//     script: the effects are exact even when the script read the clock
//     or took a different branch, and the script's own jmu covers them;
//   - rewrites relative expiries (SET PX, EXPIRE, SETEX, ...) to absolute
//     ones (PXAT, PEXPIREAT), so a replay does not extend a lease;
//   - for MULTI/EXEC, journals the queued commands once EXEC succeeded.
//
// A script's redis.call arrives on a peer miniredis makes for that call
// and gives the calling connection's context: a peer the hook has not seen,
// with a context already set. A connection's first command has none yet.
// That is how the two are told apart.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2/server"
)

// JournalFile holds the writes since the snapshot of the same generation.
const JournalFile = "redis.journal"

// journalMagic is the first record of a journal: its format and the
// generation of the snapshot it follows.
const journalMagic = "SCIMBRIDGE-JOURNAL"

// minCompactBytes: the journal is compacted into a new snapshot once it is
// larger than the snapshot and than this. Redis's own floor for an AOF
// rewrite (auto-aof-rewrite-min-size) is the same. With 4 MiB a 10,000-user
// push compacted two or three times while it ran (each rebuilds the whole
// data off-line: a second copy in memory and ~1 s of a core), and those
// were its slowest thousands; a 10,000-user push writes ~35 MB of journal,
// which a start replays in ~0.3 s more than it takes to load a snapshot.
// Durability does not depend on it: the journal is fsynced every second.
const minCompactBytes = 64 << 20

// peerState is what the hook knows about one client connection. Only the
// connection's own goroutine touches it.
type peerState struct {
	db          int
	dispatching bool // the hook is running this peer's command itself
	multi       bool
	queued      []journalRecord
	queuedOther bool // a queued command the journal cannot replay exactly
	// subscribed: the connection entered subscribe mode; dbUnsure: a SELECT
	// ran inside MULTI, so db may be wrong. Either leaves its scripts to
	// miniredis's own runner (scripts.go).
	subscribed bool
	dbUnsure   bool
}

type journalRecord struct {
	db   int
	args []string
}

// Commands that change no data.
var notData = map[string]bool{
	"AUTH": true, "CLIENT": true, "CLUSTER": true, "COMMAND": true, "ECHO": true, "HELLO": true,
	"INFO": true, "MEMORY": true, "OBJECT": true, "PING": true, "PUBLISH": true, "PUBSUB": true,
	"PSUBSCRIBE": true, "PUNSUBSCRIBE": true, "QUIT": true, "SCRIPT": true, "SUBSCRIBE": true,
	"UNSUBSCRIBE": true, "TIME": true, "UNWATCH": true, "WAIT": true, "WATCH": true, "XINFO": true,
	"SSUBSCRIBE": true, "SUNSUBSCRIBE": true, "SPUBLISH": true, "RESET": true,
}

// Commands that block for data; their effect happens later, so a full
// snapshot follows them.
var blocking = map[string]bool{
	"BLPOP": true, "BRPOP": true, "BRPOPLPUSH": true, "BLMOVE": true, "BLMPOP": true,
	"BZPOPMIN": true, "BZPOPMAX": true, "BZMPOP": true, "XREAD": true, "XREADGROUP": true,
}

// Writes whose replay would not do the same (a random member, consumer
// group state): a full snapshot follows them. XADD is replayable once its id
// is pinned (streams.go); XDEL and XTRIM do the same again on the same data.
var notReplayable = map[string]bool{
	"SPOP": true, "XGROUP": true, "XACK": true,
	"XAUTOCLAIM": true, "XCLAIM": true, "XSETID": true, "RESTORE": true,
}

// preHook is installed on the miniredis server; true means the command was
// run here.
func (e *Server) preHook(c *server.Peer, cmd string, args ...string) bool {
	v, known := e.peers.Load(c)
	if !known {
		if c.Ctx != nil {
			e.journalInner(cmd, args)
			return false
		}
		v = &peerState{}
		e.peers.Store(c, v)
		c.OnDisconnect(func() { e.peers.Delete(c) })
	}
	st := v.(*peerState)
	if st.dispatching {
		return false
	}
	srv := e.srv
	switch {
	case cmd == "SELECT":
		if n, err := strconv.Atoi(firstArg(args)); err == nil && n >= 0 && len(args) == 1 {
			if st.multi {
				st.queuedOther = true // takes effect at EXEC; not followed
				st.dbUnsure = true
			} else {
				st.db = n
			}
		}
		return false
	case cmd == "MULTI":
		st.multi, st.queued, st.queuedOther = true, nil, false
		return false
	case cmd == "DISCARD":
		st.multi, st.queued, st.queuedOther = false, nil, false
		return false
	case cmd == "EXEC":
		if !st.multi {
			return false
		}
		e.exec(c, st, cmd, args)
		return true
	case cmd == "SUBSCRIBE" || cmd == "PSUBSCRIBE" || cmd == "SSUBSCRIBE":
		st.subscribed = true
		return false
	case cmd == "SCRIPT":
		return e.scriptCommand(c, st, args)
	case notData[cmd] || !srv.IsRegisteredCommand(cmd) || srv.IsReadOnlyCommand(cmd):
		return false
	case st.multi:
		switch {
		case cmd == "EVAL" || cmd == "EVALSHA" || cmd == "XADD" || notReplayable[cmd] || blocking[cmd]:
			st.queuedOther = true
		default:
			st.queued = append(st.queued, journalRecord{db: st.db, args: append([]string{cmd}, args...)})
		}
		return false
	case blocking[cmd]:
		e.dispatch(c, st, cmd, args)
		e.jmu.Lock()
		e.needFull = true
		e.jmu.Unlock()
		return true
	}
	e.jmu.Lock()
	defer e.jmu.Unlock()
	switch {
	case cmd == "EVAL" || cmd == "EVALSHA":
		e.scriptDB = st.db
		if !st.subscribed && !st.dbUnsure && e.scripts.run(c, st.db, cmd, args) {
			return true
		}
	case notReplayable[cmd] || (cmd == "XADD" && !e.pinXAdd(st.db, args, time.Now())):
		e.needFull = true
	default:
		e.appendRecord(st.db, cmd, args)
	}
	e.dispatch(c, st, cmd, args)
	return true
}

// scriptCommand keeps the script runner's cache within miniredis's
// registry (scripts.go): SCRIPT FLUSH empties it first, a SCRIPT LOAD that
// miniredis ran adds to it. miniredis runs the command either way.
func (e *Server) scriptCommand(c *server.Peer, st *peerState, args []string) bool {
	sub := strings.ToUpper(firstArg(args))
	switch {
	case sub == "FLUSH":
		e.jmu.Lock()
		e.scripts.flushed()
		e.jmu.Unlock()
	case sub == "LOAD" && len(args) == 2 && !st.multi && !st.subscribed:
		// Outside MULTI and subscribe mode (and with no password, which
		// the embedded server never has), a LOAD succeeds when it parses.
		e.dispatch(c, st, "SCRIPT", args)
		e.jmu.Lock()
		e.scripts.loaded(args[1])
		e.jmu.Unlock()
		return true
	}
	return false
}

// dispatch runs a command on c through miniredis, past this hook.
func (e *Server) dispatch(c *server.Peer, st *peerState, cmd string, args []string) {
	st.dispatching = true
	defer func() { st.dispatching = false }()
	e.srv.Dispatch(c, append([]string{cmd}, args...))
}

// exec runs EXEC and journals the queued commands when it ran them.
func (e *Server) exec(c *server.Peer, st *peerState, cmd string, args []string) {
	e.jmu.Lock()
	defer e.jmu.Unlock()
	// Run it on a peer that shares c's context and captures the reply,
	// to see whether the transaction ran (a WATCHed key changed: nil;
	// a bad queued command: EXECABORT).
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	p := server.NewPeer(w)
	p.Ctx, p.Resp3 = c.Ctx, c.Resp3
	st.dispatching = true
	e.srv.Dispatch(p, append([]string{cmd}, args...))
	st.dispatching = false
	_ = w.Flush()
	reply := out.String()
	c.WriteRaw(reply)
	ran := !strings.HasPrefix(reply, "*-1") && !strings.HasPrefix(reply, "_") && !strings.HasPrefix(reply, "-")
	if ran {
		if st.queuedOther {
			e.needFull = true
		}
		for _, r := range st.queued {
			e.appendRecord(r.db, r.args[0], r.args[1:])
		}
	}
	st.multi, st.queued, st.queuedOther = false, nil, false
}

// journalInner journals a redis.call made by a script. The script's
// top-level EVAL holds jmu.
func (e *Server) journalInner(cmd string, args []string) {
	cmd = strings.ToUpper(cmd)
	srv := e.srv
	switch {
	case cmd == "SELECT":
		if n, err := strconv.Atoi(firstArg(args)); err == nil && n >= 0 && len(args) == 1 {
			e.scriptDB = n
		}
	case notData[cmd] || cmd == "EXEC" || cmd == "MULTI" || cmd == "DISCARD" ||
		!srv.IsRegisteredCommand(cmd) || srv.IsReadOnlyCommand(cmd):
	case notReplayable[cmd] || blocking[cmd] || (cmd == "XADD" && !e.pinXAdd(e.scriptDB, args, time.Now())):
		e.needFull = true
	default:
		e.appendRecord(e.scriptDB, cmd, args)
	}
}

func firstArg(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}

// appendRecord adds one command to the pending journal bytes. jmu held.
func (e *Server) appendRecord(db int, cmd string, args []string) {
	if db != e.bufDB {
		e.buf = appendRESP(e.buf, "SELECT", strconv.Itoa(db))
		e.bufDB = db
	}
	e.buf = appendRESP(e.buf, absoluteExpiry(time.Now(), cmd, args)...)
	e.pending++
}

// absoluteExpiry rewrites a command's relative expiry to an absolute one,
// so that replaying it later gives the key the deadline it had.
func absoluteExpiry(now time.Time, cmd string, args []string) []string {
	at := func(v string, unit time.Duration) (string, bool) {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return "", false
		}
		return strconv.FormatInt(now.Add(time.Duration(n)*unit).UnixMilli(), 10), true
	}
	out := append([]string{cmd}, args...)
	switch cmd {
	case "SET", "GETEX":
		for i := 2; i < len(out); i++ {
			opt := strings.ToUpper(out[i])
			if (opt == "EX" || opt == "PX") && i+1 < len(out) {
				unit := time.Second
				if opt == "PX" {
					unit = time.Millisecond
				}
				if abs, ok := at(out[i+1], unit); ok {
					out[i], out[i+1] = "PXAT", abs
				}
				i++
			}
		}
	case "SETEX", "PSETEX":
		if len(args) == 3 {
			unit := time.Second
			if cmd == "PSETEX" {
				unit = time.Millisecond
			}
			if abs, ok := at(args[1], unit); ok {
				return []string{"SET", args[0], args[2], "PXAT", abs}
			}
		}
	case "EXPIRE", "PEXPIRE":
		if len(args) >= 2 {
			unit := time.Second
			if cmd == "PEXPIRE" {
				unit = time.Millisecond
			}
			if abs, ok := at(args[1], unit); ok {
				return append([]string{"PEXPIREAT", args[0], abs}, args[2:]...)
			}
		}
	}
	return out
}

// appendRESP appends one command as a RESP array of bulk strings.
func appendRESP(b []byte, args ...string) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, '\r', '\n')
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, '\r', '\n')
		b = append(b, a...)
		b = append(b, '\r', '\n')
	}
	return b
}

// errTorn: the journal ends inside a record (the process died while
// appending it).
var errTorn = errors.New("torn record")

// readRESP reads one command written by appendRESP.
func readRESP(r *bufio.Reader) ([]string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		if errors.Is(err, io.EOF) && line == "" {
			return nil, io.EOF
		}
		return nil, errTorn
	}
	if len(line) < 4 || line[0] != '*' || !strings.HasSuffix(line, "\r\n") {
		return nil, errTorn
	}
	n, err := strconv.Atoi(line[1 : len(line)-2])
	if err != nil || n < 1 {
		return nil, errTorn
	}
	args := make([]string, n)
	for i := range args {
		hdr, err := r.ReadString('\n')
		if err != nil || len(hdr) < 4 || hdr[0] != '$' || !strings.HasSuffix(hdr, "\r\n") {
			return nil, errTorn
		}
		size, err := strconv.Atoi(hdr[1 : len(hdr)-2])
		if err != nil || size < 0 {
			return nil, errTorn
		}
		data := make([]byte, size+2)
		if _, err := io.ReadFull(r, data); err != nil || data[size] != '\r' || data[size+1] != '\n' {
			return nil, errTorn
		}
		args[i] = string(data[:size])
	}
	return args, nil
}

// replayJournal runs dir's journal on the (started, hook-less) server when
// it follows the snapshot of generation gen, or, when the snapshot was made
// off-line and follows says so, the older journal from the position the
// snapshot holds everything up to. It returns how many commands it
// replayed; a torn last record is dropped (it was never flushed whole).
func (e *Server) replayJournal(gen int64, follows *journalPos) (int, error) {
	return replayJournalFile(e.srv, filepath.Join(e.dir, JournalFile), gen, follows, -1)
}

// replayJournalFile is replayJournal on srv of the file at path, read up
// to byte limit (< 0: to its end).
func replayJournalFile(srv *server.Server, path string, gen int64, follows *journalPos, limit int64) (int, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("%w: journal: %v", ErrSnapshot, err)
	}
	defer f.Close()
	var in io.Reader = f
	if limit >= 0 {
		in = io.LimitReader(f, limit)
	}
	r := bufio.NewReaderSize(in, 1<<16)
	head, err := readRESP(r)
	if err != nil || len(head) != 3 || head[0] != journalMagic || head[1] != "1" {
		return 0, nil // empty, or not ours: a crash before its header was written
	}
	g, err := strconv.ParseInt(head[2], 10, 64)
	if err != nil {
		return 0, nil
	}
	var discard bytes.Buffer
	w := bufio.NewWriter(&discard)
	peer := server.NewPeer(w)
	switch {
	case g == gen:
	case follows != nil && g == follows.Gen && follows.Offset >= int64(len(journalHeader(g))):
		// A crash between an off-line snapshot and the journal's rotation:
		// the snapshot holds this journal up to follows.Offset.
		if _, err := io.CopyN(io.Discard, r, follows.Offset-int64(len(journalHeader(g)))); err != nil {
			return 0, nil // shorter than the snapshot says: nothing after it
		}
		srv.Dispatch(peer, []string{"SELECT", strconv.Itoa(follows.DB)})
		_ = w.Flush()
		discard.Reset()
	default:
		return 0, nil // follows an older snapshot than the one on disk (compacted)
	}
	n := 0
	for {
		args, err := readRESP(r)
		if err != nil {
			break
		}
		srv.Dispatch(peer, args)
		_ = w.Flush()
		discard.Reset()
		n++
	}
	return n, nil
}

// journalHeader is the first record of the journal of generation gen.
func journalHeader(gen int64) []byte {
	return appendRESP(nil, journalMagic, "1", strconv.FormatInt(gen, 10))
}
