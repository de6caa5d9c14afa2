package embeddedredis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
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

// Server is a miniredis server with a snapshot on disk.
type Server struct {
	dir    string
	server *miniredis.Miniredis
	client *redis.Client // one connection, used only for snapshots

	saveMu        sync.Mutex // one Save at a time
	lastSaveCount int        // server command count right after the last save

	stopSaver  context.CancelFunc
	saverDone  chan struct{}
	closeOnce  sync.Once
	closeError error
}

// Start starts miniredis on a free port of 127.0.0.1, restores
// dir/redis.snapshot.json if it exists, writes dir/redis.addr and starts the
// background saver. It refuses a directory whose redis.addr names a server
// that still answers (two processes would overwrite each other's snapshot).
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
	// asynq's bookkeeping depend on keys expiring).
	server.ClockTTL(true)
	if err := restoreSnapshot(server, filepath.Join(dir, SnapshotFile)); err != nil {
		return nil, err
	}
	if err := server.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("embedded redis: start: %w", err)
	}

	e := &Server{
		dir:    dir,
		server: server,
		client: redis.NewClient(&redis.Options{
			Addr:         server.Addr(),
			PoolSize:     1,
			MaxRetries:   -1,
			DialTimeout:  2 * time.Second,
			ReadTimeout:  10 * time.Second,
			WriteTimeout: 10 * time.Second,
		}),
		saverDone: make(chan struct{}),
	}
	if err := WriteFileAtomic(filepath.Join(dir, AddrFile), []byte(server.Addr()+"\n")); err != nil {
		e.client.Close()
		server.Close()
		return nil, fmt.Errorf("embedded redis: %w", err)
	}
	e.lastSaveCount = server.CommandCount()

	ctx, cancel := context.WithCancel(context.Background())
	e.stopSaver = cancel
	go e.saveLoop(ctx)
	return e, nil
}

// Addr is the host:port the embedded Redis listens on.
func (e *Server) Addr() string { return e.server.Addr() }

// Close stops the background saver, saves a last snapshot, stops the
// server and removes redis.addr. Close it after everything that writes to
// it has stopped: writes that arrive after the last save are lost. The
// second and later calls return the first call's result.
func (e *Server) Close() error {
	e.closeOnce.Do(func() {
		e.stopSaver()
		<-e.saverDone
		saveErr := e.Save()
		e.client.Close()
		e.server.Close()
		rmErr := os.Remove(filepath.Join(e.dir, AddrFile))
		if errors.Is(rmErr, os.ErrNotExist) {
			rmErr = nil
		}
		if rmErr != nil {
			rmErr = fmt.Errorf("embedded redis: remove address file: %w", rmErr)
		}
		e.closeError = errors.Join(saveErr, rmErr)
	})
	return e.closeError
}

// saveLoop saves every saveInterval when commands ran since the
// last save. Errors are kept for the final Save to report; a failing disk
// does not stop the server.
func (e *Server) saveLoop(ctx context.Context) {
	defer close(e.saverDone)
	ticker := time.NewTicker(saveInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			e.saveMu.Lock()
			changed := e.server.CommandCount() != e.lastSaveCount
			e.saveMu.Unlock()
			if changed {
				_ = e.Save() // retried on the next tick; Close reports a persistent failure
			}
		}
	}
}

// Save writes the whole dataset to dir/redis.snapshot.json atomically
// (temp file, fsync, rename, fsync of the directory). Each database is read
// in one Lua script, so the snapshot of a database is consistent (no task
// caught halfway between two asynq queues). Keys of a type the snapshot does
// not hold are left out and reported with ErrUnsupportedType after
// everything else was saved.
func (e *Server) Save() error {
	e.saveMu.Lock()
	defer e.saveMu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	snap, skipped, err := e.readSnapshot(ctx)
	if err != nil {
		return err
	}
	data, err := json.Marshal(snap)
	if err != nil {
		return fmt.Errorf("embedded redis: encode snapshot: %w", err)
	}
	if err := WriteFileAtomic(filepath.Join(e.dir, SnapshotFile), data); err != nil {
		return fmt.Errorf("embedded redis: %w", err)
	}
	e.lastSaveCount = e.server.CommandCount()
	if len(skipped) > 0 {
		return fmt.Errorf("%w: %s", ErrUnsupportedType, strings.Join(skipped, ", "))
	}
	return nil
}

// redisSnapshot is the file format. Keys and values are []byte (base64 in
// JSON): asynq stores protobuf, which is not valid UTF-8.
type redisSnapshot struct {
	Version   int                `json:"version"`
	SavedAt   time.Time          `json:"saved_at"`
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

// snapshotScript reads a whole database in one atomic step: for each key,
// {key, type, pttl, values}. Scores come back as strings.
const snapshotScript = `
local out = {}
for _, k in ipairs(redis.call('KEYS', '*')) do
  local t = redis.call('TYPE', k)['ok']
  local v = {}
  if t == 'string' then v = {redis.call('GET', k)}
  elseif t == 'hash' then v = redis.call('HGETALL', k)
  elseif t == 'list' then v = redis.call('LRANGE', k, 0, -1)
  elseif t == 'set' then v = redis.call('SMEMBERS', k)
  elseif t == 'zset' then v = redis.call('ZRANGE', k, 0, -1, 'WITHSCORES')
  elseif t == 'stream' then
    for _, e in ipairs(redis.call('XRANGE', k, '-', '+')) do
      v[#v + 1] = e[1]
      v[#v + 1] = tostring(#e[2])
      for _, x in ipairs(e[2]) do v[#v + 1] = x end
    end
  end
  out[#out + 1] = {k, t, redis.call('PTTL', k), v}
end
return out
`

// readSnapshot reads every non-empty database. It returns the names of keys
// left out because of their type.
func (e *Server) readSnapshot(ctx context.Context) (redisSnapshot, []string, error) {
	snap := redisSnapshot{Version: snapshotVersion, SavedAt: time.Now().UTC()}
	var skipped []string
	conn := e.client.Conn()
	defer conn.Close()
	for db := 0; db < databases; db++ {
		if len(e.server.DB(db).Keys()) == 0 {
			continue
		}
		if err := conn.Select(ctx, db).Err(); err != nil {
			return snap, nil, fmt.Errorf("embedded redis: snapshot db %d: %w", db, err)
		}
		now := time.Now()
		raw, err := conn.Eval(ctx, snapshotScript, nil).Slice()
		if err != nil {
			return snap, nil, fmt.Errorf("embedded redis: snapshot db %d: %w", db, err)
		}
		sdb := snapshotDatabase{DB: db, Keys: make([]snapshotKey, 0, len(raw))}
		for _, item := range raw {
			key, ok, err := decodeSnapshotKey(item, now)
			if err != nil {
				return snap, nil, fmt.Errorf("embedded redis: snapshot db %d: %w", db, err)
			}
			if !ok {
				skipped = append(skipped, fmt.Sprintf("db %d %q (%s)", db, key.Key, key.Type))
				continue
			}
			sdb.Keys = append(sdb.Keys, key)
		}
		snap.Databases = append(snap.Databases, sdb)
	}
	return snap, skipped, nil
}

// decodeSnapshotKey turns one script row into a snapshotKey; ok is false for
// a type the snapshot does not hold.
func decodeSnapshotKey(item any, now time.Time) (snapshotKey, bool, error) {
	row, isRow := item.([]any)
	if !isRow || len(row) != 4 {
		return snapshotKey{}, false, fmt.Errorf("unexpected script row %T", item)
	}
	name, _ := row[0].(string)
	typ, _ := row[1].(string)
	pttl, _ := row[2].(int64)
	values, _ := row[3].([]any)
	key := snapshotKey{Key: []byte(name), Type: typ}
	if pttl > 0 {
		key.ExpiresAtMs = now.UnixMilli() + pttl
	}
	strs := make([][]byte, len(values))
	for i, v := range values {
		s, isString := v.(string)
		if !isString {
			return key, false, fmt.Errorf("key %q: unexpected value %T", name, v)
		}
		strs[i] = []byte(s)
	}
	switch typ {
	case "string":
		if len(strs) != 1 {
			return key, false, fmt.Errorf("key %q: string without a value", name)
		}
		key.String = strs[0]
		if key.String == nil {
			key.String = []byte{}
		}
	case "hash":
		for i := 0; i+1 < len(strs); i += 2 {
			key.Hash = append(key.Hash, snapshotField{Field: strs[i], Value: strs[i+1]})
		}
	case "list":
		key.List = strs
	case "set":
		key.Set = strs
	case "zset":
		for i := 0; i+1 < len(strs); i += 2 {
			score, err := parseRedisScore(string(strs[i+1]))
			if err != nil {
				return key, false, fmt.Errorf("key %q: score: %w", name, err)
			}
			key.ZSet = append(key.ZSet, snapshotMember{Member: strs[i], Score: score})
		}
	case "stream": // id, number of values, the values; and again
		for i := 0; i+1 < len(strs); {
			n, err := strconv.Atoi(string(strs[i+1]))
			if err != nil || n < 0 || i+2+n > len(strs) {
				return key, false, fmt.Errorf("key %q: malformed stream entry", name)
			}
			key.Stream = append(key.Stream, snapshotEntry{ID: string(strs[i]), Values: strs[i+2 : i+2+n]})
			i += 2 + n
		}
	default:
		return key, false, nil
	}
	return key, true, nil
}

// parseRedisScore parses a sorted-set score as Redis prints it.
func parseRedisScore(s string) (float64, error) {
	switch strings.ToLower(s) {
	case "inf", "+inf":
		return math.Inf(1), nil
	case "-inf":
		return math.Inf(-1), nil
	}
	return strconv.ParseFloat(s, 64)
}

// restoreSnapshot loads path into server (not yet started). A
// missing file is an empty dataset; expired keys are dropped.
func restoreSnapshot(server *miniredis.Miniredis, path string) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrSnapshot, err)
	}
	var snap redisSnapshot
	if err := json.Unmarshal(data, &snap); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrSnapshot, path, err)
	}
	if snap.Version != snapshotVersion {
		return fmt.Errorf("%w: %s: version %d, want %d", ErrSnapshot, path, snap.Version, snapshotVersion)
	}
	now := time.Now()
	for _, sdb := range snap.Databases {
		if sdb.DB < 0 || sdb.DB >= databases {
			return fmt.Errorf("%w: %s: database %d", ErrSnapshot, path, sdb.DB)
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
				return fmt.Errorf("%w: %s: db %d key %q: %v", ErrSnapshot, path, sdb.DB, k.Key, err)
			}
			if ttl > 0 {
				db.SetTTL(string(k.Key), ttl)
			}
		}
	}
	return nil
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
