// Package embeddedredis is the Redis of the embedded default, for trying
// scimbridge out without running Redis: `scimbridge serve` with no
// configuration starts an in-process Redis (miniredis) on 127.0.0.1 and
// keeps its data in a JSON snapshot under the data directory, written
// atomically every second when something changed and once more on Close.
// A second scimbridge process (an admin subcommand) finds the running
// server through the address file it writes (ReadAddr).
//
// It is not a production store: a crash loses at most the last second of
// writes, and there is no password (it listens on loopback only; the
// snapshot file is readable by its owner only). It lives under
// cmd/scimbridge/internal because only the command uses it.
package embeddedredis
