// Package embeddedredis is the Redis of the embedded default, for trying
// scimbridge out without running Redis: `scimbridge serve` with no
// configuration starts an in-process Redis (miniredis) on 127.0.0.1.
//
// Its data lives under the data directory in two files: a full JSON
// snapshot (redis.snapshot.json) and a journal (redis.journal) of every
// write command run since that snapshot, in execution order (for a Lua
// script, the writes it made; relative expiries written as deadlines). The
// journal is appended and fsynced every second; a full snapshot is written
// only at start, when the journal has grown larger than the snapshot and
// than 64 MiB, or after a command the journal cannot replay exactly
// (journal.go). When the
// journal outgrows the snapshot, the new snapshot is built off-line from
// the two files in a shadow miniredis (shadow.go), so no write waits for
// it; the snapshot records the journal position it holds. So the
// work of persisting follows what was written, not the size of the data,
// and Close (SIGTERM) writes at most the last second's commands. A crash
// (kill -9) loses at most the writes of the last second.
//
// TTLs are aged by a background walk (expire.go), not on each command as
// miniredis's ClockTTL does, which made every command cost a sort of all
// keys.
//
// Lua scripts (EVAL, EVALSHA: the whole ledger) run on one gopher-lua state
// prepared once (scripts.go), not on the fresh state with its libraries
// that miniredis builds per call; atomic under miniredis's lock, journaled
// as before, with miniredis's replies and errors, and a state a script
// changed is replaced before the next call.
//
// A second scimbridge process (an admin subcommand) finds the running
// server through the address file it writes (ReadAddr). There is no
// password (it listens on loopback only; the files are readable by their
// owner only). It lives under cmd/scimbridge/internal because only the
// command uses it.
package embeddedredis
