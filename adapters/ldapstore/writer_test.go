package ldapstore

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// TestWriterOrder: writes with distinct keys are in flight together; a
// write sharing a key with one in flight starts only after it ended; a
// write keyed "" runs with nothing else in flight; after a connection
// error nothing more is sent.
func TestWriterOrder(t *testing.T) {
	w := newWriter()
	var (
		mu       sync.Mutex
		inFlight = map[string]int{}
		total    atomic.Int32
		order    []string
	)
	run := func(name string, keys []string, block <-chan struct{}) {
		w.write(keys, func() error {
			mu.Lock()
			for _, k := range keys {
				inFlight[k]++
				if inFlight[k] > 1 {
					t.Errorf("%s: key %q already in flight", name, k)
				}
			}
			if keys[0] == "" && total.Load() != 0 {
				t.Errorf("%s runs alone but %d writes are in flight", name, total.Load())
			}
			total.Add(1)
			order = append(order, name)
			mu.Unlock()
			if block != nil {
				<-block
			}
			mu.Lock()
			for _, k := range keys {
				inFlight[k]--
			}
			total.Add(-1)
			mu.Unlock()
			return nil
		})
	}
	// a and b have distinct keys: both must be in flight before either
	// may end (a sequential writer would deadlock here).
	release := make(chan struct{})
	started := make(chan struct{}, 2)
	for _, name := range []string{"a", "b"} {
		w.write([]string{"k-" + name}, func() error {
			started <- struct{}{}
			<-release
			return nil
		})
	}
	for range 2 {
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatal("two writes with distinct keys were not in flight together")
		}
	}
	close(release)
	blockC := make(chan struct{})
	go func() { time.Sleep(20 * time.Millisecond); close(blockC) }()
	run("c", []string{"x", "mail\x00a@example.com"}, blockC)
	run("d", []string{"y", "mail\x00a@example.com"}, nil) // shares the email: after c
	run("e", []string{""}, nil)                           // alone
	run("f", []string{"z"}, nil)
	if err := w.finish(); err != nil {
		t.Fatal(err)
	}
	if len(order) != 4 || order[0] != "c" || order[1] != "d" || order[2] != "e" {
		t.Fatalf("order %v, want c, d, e, then f", order)
	}

	// A connection error stops the writer.
	w = newWriter()
	broken := &ldap.Error{ResultCode: ldap.ErrorNetwork, Err: errors.New("connection reset")}
	w.write([]string{"p"}, func() error { return broken })
	_ = w.finish()
	ran := false
	w.write([]string{"q"}, func() error { ran = true; return nil })
	w.alone(func() error { ran = true; return nil })
	if err := w.finish(); !errors.Is(err, broken) || ran {
		t.Fatalf("after a connection error: finish %v, a later write ran %v", err, ran)
	}

	// A panic in a write stops the writer with an error (it does not take
	// the worker down).
	w = newWriter()
	w.write([]string{"r"}, func() error { panic("boom") })
	if err := w.finish(); err == nil {
		t.Fatal("a write that panicked left no error")
	}
}
