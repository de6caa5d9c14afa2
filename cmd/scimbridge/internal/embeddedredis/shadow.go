package embeddedredis

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// Off-line compaction. A compaction used to read the whole dataset while
// holding jmu, so every write waited for it (~0.5 s at 100,000 keys, more
// with more data). When the journal outgrows the snapshot, the flusher now
// notes the journal's end (generation G, byte offset L, the database
// selected there) and a goroutine rebuilds that state on its own: it
// restores snapshot G into a shadow miniredis, replays the journal up to L
// and reads the shadow into snapshot G+1, which records that it holds
// journal G up to L ("follows"). Writers meanwhile run and are journaled
// and fsynced as usual (the flusher goes on appending to journal G). Then,
// under saveMu only, the snapshot is written and the journal rotated: a
// new journal of generation G+1 holds what journal G has after L. A crash
// before the rotation leaves snapshot G+1 and journal G; the next start
// replays journal G from L (replayJournal). The live data is never read,
// so no write waits; the cost is the shadow's memory (one more copy of the
// data while it runs) and CPU. A write the journal cannot replay exactly
// (needFull) still takes the live compaction, which the shadow's result
// then yields to (it is installed only if no compaction happened since).

// journalPos is a position in a journal: after byte Offset of the journal
// of generation Gen, where database DB is selected.
type journalPos struct {
	Gen    int64 `json:"gen"`
	Offset int64 `json:"offset"`
	DB     int   `json:"db"`
}

// shadowCut is an off-line compaction in progress.
type shadowCut struct {
	pos journalPos
}

// startShadow starts the off-line compaction of the data as of the
// journal's current end (db: the database selected there). saveMu held.
func (e *Server) startShadow(db int) {
	cut := &shadowCut{pos: journalPos{Gen: e.gen, Offset: int64(len(journalHeader(e.gen))) + e.journalBytes, DB: db}}
	e.shadow = cut
	e.shadowDone.Add(1)
	go func() {
		defer e.shadowDone.Done()
		began := time.Now()
		slog.Debug("embedded redis: off-line compaction started", "generation", cut.pos.Gen+1, "journal_bytes", cut.pos.Offset)
		data, err := buildShadowSnapshot(e.dir, cut.pos, &e.closing)
		built := time.Since(began)
		e.saveMu.Lock()
		defer e.saveMu.Unlock()
		e.shadow = nil
		if e.closing.Load() {
			return // Close does not wait for it: the journal holds the data
		}
		if err != nil {
			e.lastErr = err
			return
		}
		if err := e.installShadow(cut.pos, data); err != nil {
			e.lastErr = err
			return
		}
		slog.Debug("embedded redis: off-line compaction done", "generation", cut.pos.Gen+1,
			"snapshot_bytes", len(data), "build", built, "took", time.Since(began))
	}()
}

// buildShadowSnapshot is snapshot pos.Gen+1 as of pos, built from the
// files alone: no lock of the live server is taken. It gives up when
// closing is set (the server is closing: the journal keeps the data).
func buildShadowSnapshot(dir string, pos journalPos, closing interface{ Load() bool }) ([]byte, error) {
	m := miniredis.NewMiniRedis()
	restored := time.Now()
	gen, _, err := restoreSnapshot(m, filepath.Join(dir, SnapshotFile))
	if err != nil {
		return nil, err
	}
	if gen != pos.Gen {
		return nil, fmt.Errorf("embedded redis: off-line compaction: snapshot is generation %d, want %d", gen, pos.Gen)
	}
	if err := m.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("embedded redis: off-line compaction: %w", err)
	}
	defer m.Close()
	if closing.Load() {
		return nil, fmt.Errorf("embedded redis: off-line compaction: closing")
	}
	if _, err := replayJournalFile(m.Server(), filepath.Join(dir, JournalFile), pos.Gen, nil, pos.Offset); err != nil {
		return nil, err
	}
	// The shadow's TTLs were set relative to when they were restored or
	// replayed; age them to now, as the live server's are.
	m.FastForward(time.Since(restored))
	snap, skipped, err := readSnapshot(m)
	if err != nil {
		return nil, err
	}
	if len(skipped) > 0 {
		return nil, fmt.Errorf("%w: %v", ErrUnsupportedType, skipped)
	}
	snap.Generation = pos.Gen + 1
	snap.Follows = &pos
	data, err := json.Marshal(snap)
	if err != nil {
		return nil, fmt.Errorf("embedded redis: encode snapshot: %w", err)
	}
	return data, nil
}

// installShadow writes the off-line snapshot and rotates the journal: the
// new one holds what the old one has after pos. Nothing happens if a
// compaction ran since pos was taken (that snapshot is newer). saveMu held.
func (e *Server) installShadow(pos journalPos, data []byte) error {
	if e.gen != pos.Gen || e.journal == nil {
		return nil
	}
	path := filepath.Join(e.dir, JournalFile)
	old, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("embedded redis: journal: %w", err)
	}
	if _, err := old.Seek(pos.Offset, io.SeekStart); err != nil {
		old.Close()
		return fmt.Errorf("embedded redis: journal: %w", err)
	}
	tail, err := io.ReadAll(old)
	old.Close()
	if err != nil {
		return fmt.Errorf("embedded redis: journal: %w", err)
	}
	if err := WriteFileAtomic(filepath.Join(e.dir, SnapshotFile), data); err != nil {
		return err // nothing changed on disk
	}
	// From here a crash leaves snapshot G+1 following journal G: replayed from pos.
	next := journalHeader(pos.Gen + 1)
	if pos.DB != 0 {
		next = appendRESP(next, "SELECT", fmt.Sprint(pos.DB))
	}
	next = append(next, tail...)
	if err := WriteFileAtomic(path, next); err != nil {
		return e.failedJournal(err) // the next flush compacts live, as generation G+1 again
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return e.failedJournal(err)
	}
	e.journal.Close()
	e.journal = f
	e.gen, e.snapBytes = pos.Gen+1, int64(len(data))
	e.journalBytes = int64(len(next) - len(journalHeader(e.gen)))
	return nil
}

// waitCompaction waits for an off-line compaction in progress (tests).
func (e *Server) waitCompaction() { e.shadowDone.Wait() }
