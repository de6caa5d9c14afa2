package ldapstore

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/go-ldap/ldap/v3"

	"github.com/scimbridge/scimbridge/adapters"
)

// Writes in flight. A run's writes (the adds of a create run, the modifies
// and moves of an anchored run) were sent one at a time on the run's
// connection, each waiting for its answer; a directory commits every write
// on its own (slapd's back-mdb: one writer at a time, a sync per commit),
// so a drain spent most of its time waiting, and drains at the tenant's
// max_concurrency kept slapd's writer busy about half the time (a PUT
// drain at 0.5-0.6 of slapd's modify ceiling). Now up to writeDepth writes
// of a run are in flight on its connection at once (LDAP answers by message
// id; go-ldap's Conn multiplexes them), in the run's order as far as it
// matters:
//
//   - two writes that share a key never overlap: a write's keys are its
//     entry's RDN value and the values it gives the attributes mapped from
//     SCIM identifiers (userName, externalId, emails, employeeNumber), all
//     case-folded; a write with a key in flight waits for everything in
//     flight first, so it sees the earlier one done, as one by one. Two
//     writes of one entry are thus in order, and so are two users' claims
//     to one value the directory may hold unique (an email given to two
//     users of one batch goes to the earlier one, the later one is
//     refused);
//   - a rename (the RDN value changes) and everything that reads the
//     directory to decide (a user looked up by userName) run alone, after
//     every write before them: they are what can change which entry
//     another user's write reaches;
//   - a write of one user never changes another user's entry otherwise
//     (batch.go), so the rest may be answered in any order. A uniqueness
//     the directory enforces on an attribute not mapped from a SCIM
//     identifier (say telephoneNumber) is the one case where two users of
//     one batch claiming one value may see the later one win.
//
// A connection error (or a panic in a write) stops the writer: writes not
// yet sent are not sent, and their users get the run's error, as one by
// one.

// writeDepth is how many writes of one run a connection carries at once.
const writeDepth = 8

// writer sends a run's writes on one connection, up to writeDepth at once.
type writer struct {
	slots  chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	keys   map[string]bool // the keys of the writes in flight
	broken error           // the first connection error
}

func newWriter() *writer {
	return &writer{slots: make(chan struct{}, writeDepth), keys: map[string]bool{}}
}

// rdnKey is the key of an entry's RDN value ("" when the DN does not
// parse: its write then runs alone). Two entries with one RDN value under
// different parents share a key, which only costs a wait.
func rdnKey(dn string) string {
	rdn, _, err := splitDN(dn)
	if err != nil || len(rdn.Attributes) == 0 {
		return ""
	}
	return rdnValueKey(rdn.Attributes[0].Value)
}

// rdnValueKey is the key of an RDN value: the key of an add (its entry's
// RDN value) and of a write to an existing entry (rdnKey) must agree.
func rdnValueKey(v string) string { return "\x00" + foldKey(v) }

// writeKeys are the keys of a write of the user d to the entry e (nil for
// an add) whose RDN key is rdn: rdn, the values d gives the attributes
// mapped from SCIM identifiers, and the values e holds in them now. The
// values held count too: a user giving up a value and a later user of the
// batch taking it share the key, so the taker's write waits for the
// giver's (a directory that keeps the value unique would refuse it
// otherwise, for good: ErrAlreadyExists).
func (s *Store) writeKeys(rdn string, d desired, e *ldap.Entry) []string {
	keys := []string{rdn}
	for _, attr := range s.identifying {
		if v, ok := d.attrs[attr].(string); ok && v != "" {
			keys = append(keys, attr+"\x00"+foldKey(v))
		}
		if e != nil {
			for _, v := range e.GetEqualFoldAttributeValues(attr) {
				keys = append(keys, attr+"\x00"+foldKey(v))
			}
		}
	}
	return keys
}

// identifyingAttributes are the LDAP attributes mapped from SCIM
// identifiers: userName, externalId, emails, employeeNumber.
func identifyingAttributes(m adapters.UserMapping) []string {
	var out []string
	for path, attr := range m.Attributes {
		p := strings.ToLower(path)
		if p == "username" || p == "externalid" || strings.HasPrefix(p, "emails") || strings.HasSuffix(p, ":employeenumber") {
			out = append(out, attr)
		}
	}
	sort.Strings(out)
	return out
}

// write sends f (a write whose keys are keys) once the writes in flight
// allow it; a key "" runs f alone, after everything before it. f returns
// the error only when it is a connection error (it records the others for
// its user itself). Once the connection broke, f is not run.
func (w *writer) write(keys []string, f func() error) {
	if slices.Contains(keys, "") {
		w.alone(f)
		return
	}
	w.mu.Lock()
	clash := slices.ContainsFunc(keys, func(k string) bool { return w.keys[k] })
	w.mu.Unlock()
	if clash {
		w.wait()
	}
	if w.err() != nil {
		return
	}
	w.slots <- struct{}{}
	if w.err() != nil { // broke while this write waited for a slot
		<-w.slots
		return
	}
	w.mu.Lock()
	for _, k := range keys {
		w.keys[k] = true
	}
	w.mu.Unlock()
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		err := guarded(f)
		w.mu.Lock()
		for _, k := range keys {
			delete(w.keys, k)
		}
		if err != nil && w.broken == nil {
			w.broken = err
		}
		w.mu.Unlock()
		<-w.slots
	}()
}

// guarded runs f; a panic in f (it runs on a goroutine of its own, out of
// reach of asynq's recovery) becomes an error that stops the writer, so
// the run's users not yet settled get the run's error and are retried.
func guarded(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("ldapstore: a write panicked: %v", r)
		}
	}()
	return f()
}

// alone runs f after every write in flight, with nothing else in flight.
func (w *writer) alone(f func() error) {
	w.wait()
	if w.err() != nil {
		return
	}
	if err := f(); err != nil {
		w.mu.Lock()
		w.broken = err
		w.mu.Unlock()
	}
}

// wait waits for every write in flight.
func (w *writer) wait() { w.wg.Wait() }

// err is the connection error that stopped the writer, if any.
func (w *writer) err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.broken
}

// finish waits for the writes in flight and returns the connection error
// that stopped the writer, if any.
func (w *writer) finish() error {
	w.wait()
	return w.err()
}

// updateKeys are the keys of an update of the entry e to the user d (a
// rename runs alone: "").
func (s *Store) updateKeys(e *ldap.Entry, d desired) []string {
	if s.renames(e, d) {
		return []string{""}
	}
	return s.writeKeys(rdnKey(e.DN), d, e)
}

// renames reports whether updateUser would rename e: its RDN is the user
// RDN attribute and its value is not the user's (a move alone keeps it).
func (s *Store) renames(e *ldap.Entry, d desired) bool {
	rdn, _, err := splitDN(e.DN)
	if err != nil {
		return true
	}
	return len(rdn.Attributes) == 1 && strings.EqualFold(rdn.Attributes[0].Type, s.opts.UserRDNAttribute) && rdn.Attributes[0].Value != d.rdnValue
}
