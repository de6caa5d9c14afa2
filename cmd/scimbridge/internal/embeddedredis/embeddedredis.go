package embeddedredis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/alicebob/miniredis/v2/server"
	"github.com/redis/go-redis/v9"
)

// Files the embedded Redis keeps in its data directory.
const (
	// SnapshotFile holds the data (see redisSnapshot).
	SnapshotFile = "redis.snapshot.json"
	// AddrFile holds the address of the running server, so a second
	// scimbridge process (an admin subcommand) can find it.
	AddrFile = "redis.addr"
)

// databases is how many logical databases (SELECT 0..15) are
// snapshotted, as in a default Redis.
const databases = 16

// saveInterval is how often the background saver looks for changes.
const saveInterval = time.Second

var (
	// ErrInUse: another process serves the same data directory.
	ErrInUse = errors.New("embedded redis: data directory in use by a running server")
	// ErrSnapshot: the snapshot cannot be read or restored.
	ErrSnapshot = errors.New("embedded redis: bad snapshot")
	// ErrUnsupportedType: a key of a type the snapshot does not
	// hold (HyperLogLog, ...) was left out of a save.
	ErrUnsupportedType = errors.New("embedded redis: key type not snapshotted")
)

// Server is a miniredis server with a snapshot and a journal on disk.
type Server struct {
	dir    string
	server *miniredis.Miniredis
	// srv is server's command server, kept: miniredis forgets it on Close
	// while a connection may still be handing the hook a command.
	srv *server.Server

	// jmu orders the journal: held while a write command is appended and
	// executed (journal.go), and while a snapshot is read.
	jmu      sync.Mutex
	buf      []byte // journal bytes not yet written
	bufDB    int    // the database buf's next record applies to
	pending  int    // commands in buf
	needFull bool   // the next flush writes a full snapshot
	scriptDB int    // the database of the script running (under jmu)
	// streamLast is the last entry id given to each stream (streams.go),
	// so an XADD's id can be fixed before it runs (under jmu).
	streamLast map[streamRef]streamID
	peers      sync.Map
	// scripts runs EVAL and EVALSHA on a prepared Lua state (scripts.go);
	// used under jmu.
	scripts *scriptRunner

	// Owned by the flusher (and by Close once it stopped).
	gen          int64 // generation of the snapshot on disk
	journal      *os.File
	journalBytes int64
	snapBytes    int64
	minCompact   int64 // compact once the journal is past max(this, snapBytes)
	lastErr      error

	saveMu sync.Mutex // one flush or compaction at a time
	// shadow is the off-line compaction in progress (shadow.go), under
	// saveMu; shadowDone is waited for by tests; closing drops it.
	shadow     *shadowCut
	shadowDone sync.WaitGroup
	closing    atomic.Bool
	stopSaver  context.CancelFunc
	saverDone  chan struct{}
	expireDone chan struct{}
	closeOnce  sync.Once
	closeError error
}

// Start starts miniredis on a free port of 127.0.0.1, restores
// dir/redis.snapshot.json and replays dir/redis.journal over it, writes a
// fresh snapshot (so the journal starts empty), writes dir/redis.addr and
// starts the background flusher. It refuses a directory whose redis.addr
// names a server that still answers (two processes would overwrite each
// other's files).
func Start(dir string) (*Server, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded redis: data directory: %w", err)
	}
	if addr, err := ReadAddr(dir); err == nil && Answers(addr) {
		return nil, fmt.Errorf("%w: %s (redis at %s; stop that server, or delete %s if it is not scimbridge's)",
			ErrInUse, dir, addr, filepath.Join(dir, AddrFile))
	}

	server := miniredis.NewMiniRedis()
	// TTLs run on the wall clock, as in a real Redis (leases, locks and
	// asynq's bookkeeping depend on keys expiring), aged by expireLoop
	// rather than by miniredis's ClockTTL (see expire.go).
	gen, follows, err := restoreSnapshot(server, filepath.Join(dir, SnapshotFile))
	if err != nil {
		return nil, err
	}
	if err := server.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("embedded redis: start: %w", err)
	}

	e := &Server{
		dir:        dir,
		server:     server,
		srv:        server.Server(),
		gen:        gen,
		minCompact: minCompactBytes,
		saverDone:  make(chan struct{}),
		expireDone: make(chan struct{}),
	}
	fail := func(err error) (*Server, error) {
		if e.journal != nil {
			e.journal.Close()
		}
		server.Close()
		return nil, err
	}
	if _, err := e.replayJournal(gen, follows); err != nil {
		return fail(err)
	}
	if e.scripts, err = newScriptRunner(server, e.srv); err != nil {
		return fail(err)
	}
	e.peers.Store(e.scripts.internal, &peerState{dispatching: true})
	// From here on every write goes through the journal.
	server.Server().SetPreHook(e.preHook)
	if err := e.compact(); err != nil && !errors.Is(err, ErrUnsupportedType) {
		return fail(err)
	}
	if err := WriteFileAtomic(filepath.Join(dir, AddrFile), []byte(server.Addr()+"\n")); err != nil {
		return fail(fmt.Errorf("embedded redis: %w", err))
	}

	ctx, cancel := context.WithCancel(context.Background())
	e.stopSaver = cancel
	go e.saveLoop(ctx)
	go e.expireLoop(ctx)
	return e, nil
}

// Addr is the host:port the embedded Redis listens on.
func (e *Server) Addr() string { return e.server.Addr() }

// Close stops the background flusher, writes the journal's last records,
// stops the server and removes redis.addr. Its work is bounded by what was
// written in the last second, not by the size of the data. Close it after
// everything that writes to it has stopped: writes that arrive later are
// lost. The second and later calls return the first call's result.
func (e *Server) Close() error {
	e.closeOnce.Do(func() {
		e.closing.Store(true)
		e.stopSaver()
		<-e.saverDone
		<-e.expireDone // an off-line compaction still running is dropped (shadow.go)
		flushErr := e.flush()
		e.server.Close()
		if e.journal != nil {
			if err := e.journal.Close(); err != nil && flushErr == nil {
				flushErr = fmt.Errorf("embedded redis: journal: %w", err)
			}
		}
		rmErr := os.Remove(filepath.Join(e.dir, AddrFile))
		if errors.Is(rmErr, os.ErrNotExist) {
			rmErr = nil
		}
		if rmErr != nil {
			rmErr = fmt.Errorf("embedded redis: remove address file: %w", rmErr)
		}
		e.closeError = errors.Join(flushErr, rmErr)
	})
	return e.closeError
}

// saveLoop flushes the journal every saveInterval. Errors are kept for
// Close to report; a failing disk does not stop the server.
func (e *Server) saveLoop(ctx context.Context) {
	defer close(e.saverDone)
	ticker := time.NewTicker(saveInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			_ = e.flush() // kept in lastErr; retried on the next tick
		}
	}
}

// flush appends the pending journal records and fsyncs the journal, or
// writes a full snapshot when one is due (a command the journal cannot
// replay ran, or the journal outgrew the snapshot).
func (e *Server) flush() error {
	e.saveMu.Lock()
	defer e.saveMu.Unlock()
	e.jmu.Lock()
	b, full, db := e.buf, e.needFull, e.bufDB
	e.buf, e.pending = nil, 0
	e.jmu.Unlock()
	if full || e.journal == nil {
		return e.compactLocked()
	}
	if len(b) == 0 {
		return nil
	}
	if _, err := e.journal.Write(b); err != nil {
		return e.failedJournal(err)
	}
	if err := e.journal.Sync(); err != nil {
		return e.failedJournal(err)
	}
	e.journalBytes += int64(len(b))
	if e.journalBytes > max(e.minCompact, e.snapBytes) && e.shadow == nil && !e.closing.Load() {
		e.startShadow(db)
	}
	return nil
}

// failedJournal: the journal could not be written; the next flush writes a
// full snapshot instead (which holds what the lost records did).
func (e *Server) failedJournal(err error) error {
	e.jmu.Lock()
	e.needFull = true
	e.jmu.Unlock()
	e.lastErr = fmt.Errorf("embedded redis: journal: %w", err)
	return e.lastErr
}

// Save writes a full snapshot now and starts a new, empty journal after it.
func (e *Server) Save() error { return e.compact() }

func (e *Server) compact() error {
	e.saveMu.Lock()
	defer e.saveMu.Unlock()
	return e.compactLocked()
}

// compactLocked writes the whole dataset to dir/redis.snapshot.json as
// generation gen+1 (temp file, fsync, rename, fsync of the directory), then
// replaces the journal with an empty one of that generation. The dataset
// is read while jmu is held, so the snapshot holds exactly the journaled
// commands so far; those pending are dropped. Each database is read in one
// Lua script. A crash between the two renames leaves a journal of the old
// generation, which the next start ignores. Keys of a type the snapshot
// does not hold are left out and reported with ErrUnsupportedType after
// everything else was saved.
func (e *Server) compactLocked() error {
	began := time.Now()
	e.jmu.Lock()
	snap, skipped, err := readSnapshot(e.server)
	held := time.Since(began)
	if err == nil {
		e.buf, e.pending, e.bufDB, e.needFull = nil, 0, 0, false
		e.learnStreams(snap) // XADD ids can be pinned from now on (streams.go)
	}
	e.jmu.Unlock()
	if err != nil {
		e.lastErr = err
		return err
	}
	snap.Generation = e.gen + 1
	data, err := json.Marshal(snap)
	if err != nil {
		return e.failedJournal(fmt.Errorf("encode snapshot: %w", err))
	}
	if err := WriteFileAtomic(filepath.Join(e.dir, SnapshotFile), data); err != nil {
		return e.failedJournal(err)
	}
	e.gen, e.snapBytes = snap.Generation, int64(len(data))
	if e.journal != nil {
		e.journal.Close()
		e.journal = nil
	}
	path := filepath.Join(e.dir, JournalFile)
	if err := WriteFileAtomic(path, journalHeader(e.gen)); err != nil {
		return e.failedJournal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return e.failedJournal(err)
	}
	e.journal, e.journalBytes, e.lastErr = f, 0, nil
	slog.Debug("embedded redis: compaction done", "generation", e.gen, "snapshot_bytes", len(data),
		"writes_held", held, "took", time.Since(began))
	if len(skipped) > 0 {
		return fmt.Errorf("%w: %s", ErrUnsupportedType, strings.Join(skipped, ", "))
	}
	return nil
}

// redisSnapshot is the file format. Keys and values are []byte (base64 in
// JSON): asynq stores protobuf, which is not valid UTF-8.
type redisSnapshot struct {
	Version int       `json:"version"`
	SavedAt time.Time `json:"saved_at"`
	// Generation numbers the snapshots of a data directory; the journal
	// names the one it follows (0: a snapshot from before the journal).
	Generation int64 `json:"generation,omitempty"`
	// Follows, on a snapshot made off-line (shadow.go), is the journal
	// position it holds everything up to: a start that finds that
	// journal (the crash came before it was rotated) replays it from
	// there.
	Follows   *journalPos        `json:"follows,omitempty"`
	Databases []snapshotDatabase `json:"databases"`
}

type snapshotDatabase struct {
	DB   int           `json:"db"`
	Keys []snapshotKey `json:"keys"`
}

// snapshotKey is one key; the field matching Type holds its value.
type snapshotKey struct {
	Key  []byte `json:"key"`
	Type string `json:"type"`
	// ExpiresAtMs is the absolute expiry in Unix milliseconds; 0: none.
	ExpiresAtMs int64            `json:"expires_at_ms,omitempty"`
	String      []byte           `json:"string,omitempty"`
	Hash        []snapshotField  `json:"hash,omitempty"`
	List        [][]byte         `json:"list,omitempty"`
	Set         [][]byte         `json:"set,omitempty"`
	ZSet        []snapshotMember `json:"zset,omitempty"`
	// Stream is a stream's entries, oldest first (the events feed).
	Stream []snapshotEntry `json:"stream,omitempty"`
}

type snapshotEntry struct {
	ID     string   `json:"id"`
	Values [][]byte `json:"values"`
}

type snapshotField struct {
	Field []byte `json:"f"`
	Value []byte `json:"v"`
}

type snapshotMember struct {
	Member []byte  `json:"m"`
	Score  float64 `json:"s"`
}

const snapshotVersion = 1

// readSnapshot reads every non-empty database through miniredis's Go
// API (far cheaper than a script: no Lua state, no RESP per value). The
// caller holds jmu, so no write runs meanwhile: the snapshot is
// consistent. It returns the names of keys left out because of their type.
func readSnapshot(m *miniredis.Miniredis) (redisSnapshot, []string, error) {
	now := time.Now()
	snap := redisSnapshot{Version: snapshotVersion, SavedAt: now.UTC()}
	var skipped []string
	for n := 0; n < databases; n++ {
		db := m.DB(n)
		names := db.Keys()
		if len(names) == 0 {
			continue
		}
		sdb := snapshotDatabase{DB: n, Keys: make([]snapshotKey, 0, len(names))}
		for _, name := range names {
			key, ok, err := readKey(db, name, now)
			if err != nil {
				return snap, nil, fmt.Errorf("embedded redis: snapshot db %d key %q: %w", n, name, err)
			}
			if !ok {
				if key.Type != "none" { // expired or deleted since Keys
					skipped = append(skipped, fmt.Sprintf("db %d %q (%s)", n, name, key.Type))
				}
				continue
			}
			sdb.Keys = append(sdb.Keys, key)
		}
		snap.Databases = append(snap.Databases, sdb)
	}
	return snap, skipped, nil
}

// readKey reads one key; ok is false for a type the snapshot does not hold.
func readKey(db *miniredis.RedisDB, name string, now time.Time) (snapshotKey, bool, error) {
	key := snapshotKey{Key: []byte(name), Type: db.Type(name)}
	if ttl := db.TTL(name); ttl > 0 {
		key.ExpiresAtMs = now.Add(ttl).UnixMilli()
	}
	var err error
	switch key.Type {
	case "string":
		var v string
		v, err = db.Get(name)
		key.String = []byte(v)
	case "hash":
		var fields []string
		fields, err = db.HKeys(name)
		for _, f := range fields {
			key.Hash = append(key.Hash, snapshotField{Field: []byte(f), Value: []byte(db.HGet(name, f))})
		}
	case "list":
		var l []string
		l, err = db.List(name)
		key.List = stringsToBytes(l)
	case "set":
		var m []string
		m, err = db.Members(name)
		key.Set = stringsToBytes(m)
	case "zset":
		var z map[string]float64
		z, err = db.SortedSet(name)
		members := make([]string, 0, len(z))
		for m := range z {
			members = append(members, m)
		}
		sort.Strings(members)
		for _, m := range members {
			key.ZSet = append(key.ZSet, snapshotMember{Member: []byte(m), Score: z[m]})
		}
	case "stream":
		var entries []miniredis.StreamEntry
		entries, err = db.Stream(name)
		for _, en := range entries {
			key.Stream = append(key.Stream, snapshotEntry{ID: en.ID, Values: stringsToBytes(en.Values)})
		}
	default:
		return key, false, nil
	}
	return key, true, err
}

func stringsToBytes(in []string) [][]byte {
	out := make([][]byte, len(in))
	for i, s := range in {
		out[i] = []byte(s)
	}
	return out
}

// restoreSnapshot loads path into server (not yet started). A
// missing file is an empty dataset; expired keys are dropped. It returns
// the snapshot's generation and, for one made off-line, the journal
// position it follows.
func restoreSnapshot(server *miniredis.Miniredis, path string) (int64, *journalPos, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %v", ErrSnapshot, err)
	}
	var snap redisSnapshot
	if err := json.Unmarshal(data, &snap); err != nil {
		return 0, nil, fmt.Errorf("%w: %s: %v", ErrSnapshot, path, err)
	}
	if snap.Version != snapshotVersion {
		return 0, nil, fmt.Errorf("%w: %s: version %d, want %d", ErrSnapshot, path, snap.Version, snapshotVersion)
	}
	now := time.Now()
	for _, sdb := range snap.Databases {
		if sdb.DB < 0 || sdb.DB >= databases {
			return 0, nil, fmt.Errorf("%w: %s: database %d", ErrSnapshot, path, sdb.DB)
		}
		db := server.DB(sdb.DB)
		for _, k := range sdb.Keys {
			var ttl time.Duration
			if k.ExpiresAtMs != 0 {
				ttl = time.UnixMilli(k.ExpiresAtMs).Sub(now)
				if ttl <= 0 {
					continue // expired while we were down
				}
			}
			if err := restoreSnapshotKey(db, k); err != nil {
				return 0, nil, fmt.Errorf("%w: %s: db %d key %q: %v", ErrSnapshot, path, sdb.DB, k.Key, err)
			}
			if ttl > 0 {
				db.SetTTL(string(k.Key), ttl)
			}
		}
	}
	return snap.Generation, snap.Follows, nil
}

func restoreSnapshotKey(db *miniredis.RedisDB, k snapshotKey) error {
	name := string(k.Key)
	switch k.Type {
	case "string":
		return db.Set(name, string(k.String))
	case "hash":
		fv := make([]string, 0, 2*len(k.Hash))
		for _, f := range k.Hash {
			fv = append(fv, string(f.Field), string(f.Value))
		}
		db.HSet(name, fv...)
		return nil
	case "list":
		_, err := db.Push(name, bytesToStrings(k.List)...)
		return err
	case "set":
		_, err := db.SetAdd(name, bytesToStrings(k.Set)...)
		return err
	case "zset":
		for _, m := range k.ZSet {
			if _, err := db.ZAdd(name, m.Score, string(m.Member)); err != nil {
				return err
			}
		}
		return nil
	case "stream":
		for _, e := range k.Stream {
			if _, err := db.XAdd(name, e.ID, bytesToStrings(e.Values)); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("unknown type %q", k.Type)
}

func bytesToStrings(in [][]byte) []string {
	out := make([]string, len(in))
	for i, b := range in {
		out[i] = string(b)
	}
	return out
}

// ReadAddr returns the address written by the server running
// on dir, for admin subcommands run as a second process.
func ReadAddr(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, AddrFile))
	if err != nil {
		return "", fmt.Errorf("embedded redis: no running server for %s: %w", dir, err)
	}
	addr := strings.TrimSpace(string(b))
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return "", fmt.Errorf("embedded redis: %s: bad address %q", AddrFile, addr)
	}
	return addr, nil
}

// Answers reports whether a Redis at addr answers PING.
func Answers(addr string) bool {
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 500 * time.Millisecond, ReadTimeout: time.Second, MaxRetries: -1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return c.Ping(ctx).Err() == nil
}

// WriteFileAtomic replaces path with data: write a temp file in the same
// directory, fsync it, rename it over path, fsync the directory. Readers see
// the old file or the new one, never a partial one. Mode 0600.
func WriteFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: fsync: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync() // best effort: the rename is durable once the directory is
		d.Close()
	}
	return nil
}
