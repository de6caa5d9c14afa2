package testsupport

import (
	"bytes"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// DelayProxy is a TCP proxy on loopback in front of a server (a Redis)
// that can hold back the server's next replies, so a client's read times
// out after the server has acted: what a slow or overloaded Redis, or a
// network pause, does to a client that re-sends on timeout.
type DelayProxy struct {
	Addr   string
	target string
	ln     net.Listener
	delay  atomic.Int64 // nanoseconds
	next   atomic.Int64 // replies still to hold back
	mu     sync.Mutex
	sent   bytes.Buffer // everything the clients sent
	open   map[net.Conn]bool
	cut    bool
}

// Cut closes every connection through the proxy and refuses new ones from
// then on: a network partition between the client and the server.
func (p *DelayProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.open {
		_ = c.Close()
	}
}

// track records c as open, or closes it when the proxy is cut.
func (p *DelayProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		_ = c.Close()
		return false
	}
	p.open[c] = true
	return true
}

// StartDelayProxy listens on a free loopback port and forwards every
// connection to target; it stops at cleanup.
func StartDelayProxy(tb testing.TB, target string) *DelayProxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &DelayProxy{Addr: ln.Addr().String(), target: target, ln: ln, open: map[net.Conn]bool{}}
	go p.accept()
	tb.Cleanup(func() { _ = ln.Close() })
	return p
}

// DelayNext holds back each of the server's next n replies (read chunks)
// by d before passing them on.
func (p *DelayProxy) DelayNext(n int, d time.Duration) {
	p.delay.Store(int64(d))
	p.next.Store(int64(n))
}

// SentCount counts the occurrences of s in everything clients have sent
// (a command name, a script's SHA1).
func (p *DelayProxy) SentCount(s string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return bytes.Count(p.sent.Bytes(), []byte(s))
}

func (p *DelayProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.serve(c)
	}
}

func (p *DelayProxy) serve(c net.Conn) {
	defer c.Close()
	if !p.track(c) {
		return
	}
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer s.Close()
	if !p.track(s) {
		return
	}
	done := make(chan struct{}, 2)
	go func() { // client → server, recorded
		buf := make([]byte, 32<<10)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				p.mu.Lock()
				p.sent.Write(buf[:n])
				p.mu.Unlock()
				if _, werr := s.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		done <- struct{}{}
	}()
	go func() { // server → client, delayed when armed
		buf := make([]byte, 32<<10)
		for {
			n, err := s.Read(buf)
			if n > 0 {
				if p.next.Add(-1) >= 0 {
					time.Sleep(time.Duration(p.delay.Load()))
				}
				if _, werr := c.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil { // io.EOF or a closed connection: done
				break
			}
		}
		done <- struct{}{}
	}()
	<-done
}
