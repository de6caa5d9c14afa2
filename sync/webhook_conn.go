package sync

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	gosync "sync"
	"syscall"
	"time"
)

// Delivery connections: a run POSTs its events one after another on one
// kept-alive HTTP/1.1 connection, writing each request and reading its
// answer on the run's own goroutine. (net/http's Transport hands every
// request to the connection's writer goroutine and the answer back from
// its reader goroutine; those hand-offs were about half of a delivery's
// CPU on loopback: BENCHMARKS.md, issue 15.) The wire format stays
// net/http's: Request.Write, ReadResponse.
//
// What the Transport gave and this keeps: connections dialed through the
// host policy's dialer (checked on the resolved address at connect time),
// no proxy, HTTPS verified against the system roots, no redirect followed
// (a 3xx is the answer, a failed delivery); the whole request (dial, TLS,
// writing, the answer and the part of its body read) bounded by
// Webhooks.Timeout, here a deadline on the connection; a reused
// connection the receiver closed meanwhile (nothing of an answer read) is
// retried once on a new one. HTTPS is HTTP/1.1 only (ALPN), as is plain
// HTTP. Answers are bounded: webhookAnswerMax bytes of status line,
// headers and body read, past which the delivery fails.
//
// Between runs at most webhookIdlePerHost idle connections per scheme and
// host are kept (webhookIdleMax in all, for webhookIdleTimeout: the
// Transport's settings before), each watched by a goroutine that drops it
// when the receiver closes it or sends anything unasked.

const (
	webhookIdleTimeout = 90 * time.Second
	webhookIdlePerHost = 2
	webhookIdleMax     = 100
	webhookAnswerMax   = 1 << 20
)

// aLongTimeAgo is a deadline in the past: it cuts a blocked read or write.
var aLongTimeAgo = time.Unix(1, 0)

// webhookConn is one delivery connection.
type webhookConn struct {
	key   string // scheme://host:port
	nc    net.Conn
	lr    io.LimitedReader // under br: bounds one answer
	br    *bufio.Reader
	bw    *bufio.Writer
	since time.Time  // idle since
	watch chan error // the idle watcher's read error
	// uncut stops the run's shutdown cut of this connection (false: the
	// cut began; the connection is not kept).
	uncut func() bool
}

// webhookConns are the idle delivery connections and how to make new ones.
type webhookConns struct {
	dialer *net.Dialer
	// tls is the base HTTPS configuration (nil: the system roots; tests
	// set their own roots).
	tls   *tls.Config
	mu    gosync.Mutex
	idle  map[string][]*webhookConn // by key, the most recent last
	nIdle int
}

// connKey is the scheme and address req is sent to.
func connKey(req *http.Request) (key, addr string) {
	port := req.URL.Port()
	if port == "" {
		port = "80"
		if req.URL.Scheme == "https" {
			port = "443"
		}
	}
	addr = net.JoinHostPort(req.URL.Hostname(), port)
	return req.URL.Scheme + "://" + addr, addr
}

// post sends req on the run's connection (an idle one, or a new one) and
// returns the answer; the caller reads what it wants of the body and
// calls run.answered.
func (w *Webhooks) post(run *deliveryRun, req *http.Request, deadline time.Time) (*http.Response, error) {
	p := w.connections()
	key, addr := connKey(req)
	if run.conn != nil && run.conn.key != key {
		run.drop()
	}
	for retried := false; ; retried = true {
		c, reused := run.conn, true
		if c == nil {
			if c = p.take(key); c == nil {
				reused = false
				var err error
				if c, err = p.dial(run.reqCtx, req, key, addr, deadline); err != nil {
					return nil, err
				}
			}
			c.uncut = context.AfterFunc(run.reqCtx, func() { _ = c.nc.SetDeadline(aLongTimeAgo) })
			run.conn = c
		}
		resp, err := c.exchange(run.reqCtx, req, deadline)
		if err == nil {
			return resp, nil
		}
		silent := c.lr.N == webhookAnswerMax && c.br.Buffered() == 0 // not a byte of an answer
		run.drop()
		if retried || !reused || !silent || !closedConn(err) || run.reqCtx.Err() != nil || req.GetBody == nil {
			return nil, err
		}
		if req.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
}

// closedConn reports whether err is what a connection the receiver closed
// gives (ReadResponse reports an end before any byte as unexpected).
func closedConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// exchange writes req and reads its answer (past any 1xx).
func (c *webhookConn) exchange(ctx context.Context, req *http.Request, deadline time.Time) (*http.Response, error) {
	if err := c.nc.SetDeadline(deadline); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil { // cut before the deadline above was set
		return nil, err
	}
	c.lr.N = webhookAnswerMax
	if err := req.Write(c.bw); err != nil {
		return nil, err
	}
	if err := c.bw.Flush(); err != nil {
		return nil, err
	}
	for {
		resp, err := http.ReadResponse(c.br, req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			continue // informational: the answer follows
		}
		return resp, nil
	}
}

// answered ends the answer resp: its connection is kept for the run's
// next event when its body ended where the caller stopped reading
// (bodyEnded) and the receiver keeps it open; else it is closed.
func (run *deliveryRun) answered(resp *http.Response, bodyEnded bool) {
	c := run.conn
	if c == nil {
		return
	}
	if !bodyEnded || resp.Close || resp.StatusCode == http.StatusSwitchingProtocols || c.br.Buffered() > 0 {
		run.drop() // the body is not read on: the connection goes with it
		return
	}
	_ = resp.Body.Close() // at its end: nothing to read
}

// drop closes the run's connection.
func (run *deliveryRun) drop() {
	if c := run.conn; c != nil {
		run.conn = nil
		c.uncut()
		_ = c.nc.Close()
	}
}

// release keeps the run's connection for a later run (its end).
func (run *deliveryRun) release(p *webhookConns) {
	c := run.conn
	if c == nil {
		return
	}
	run.conn = nil
	if !c.uncut() { // the shutdown cut it
		_ = c.nc.Close()
		return
	}
	p.put(c)
}

// connections are w's delivery connections.
func (w *Webhooks) connections() *webhookConns {
	w.once.Do(func() {
		d := w.Policy.Dialer(w.Timeout)
		if w.resolver != nil {
			d.Resolver = w.resolver
		}
		w.conns = &webhookConns{dialer: d, tls: w.tlsConfig, idle: map[string][]*webhookConn{}}
	})
	return w.conns
}

// dial makes a connection for req through the host policy's dialer.
func (p *webhookConns) dial(ctx context.Context, req *http.Request, key, addr string, deadline time.Time) (*webhookConn, error) {
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	nc, err := p.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if req.URL.Scheme == "https" {
		cfg := &tls.Config{}
		if p.tls != nil {
			cfg = p.tls.Clone()
		}
		cfg.ServerName, cfg.NextProtos = req.URL.Hostname(), []string{"http/1.1"}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = nc.Close()
			return nil, err
		}
		nc = tc
	}
	c := &webhookConn{key: key, nc: nc, bw: bufio.NewWriterSize(nc, 8<<10)}
	c.lr.R = nc
	c.br = bufio.NewReaderSize(&c.lr, 4<<10)
	return c, nil
}

// take returns an idle connection for key, if one is still good (the
// most recent; one that is not is closed, and the next tried).
func (p *webhookConns) take(key string) *webhookConn {
	for {
		c := p.pop(key)
		if c == nil {
			return nil
		}
		if c.good() {
			return c
		}
	}
}

// pop removes the most recent idle connection for key.
func (p *webhookConns) pop(key string) *webhookConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	cs := p.idle[key]
	if len(cs) == 0 {
		return nil
	}
	c := cs[len(cs)-1]
	p.removeLocked(c)
	return c
}

// removeLocked takes c out of the idle connections (false: it was not).
func (p *webhookConns) removeLocked(c *webhookConn) bool {
	cs := p.idle[c.key]
	i := slices.Index(cs, c)
	if i < 0 {
		return false
	}
	cs = slices.Delete(cs, i, i+1)
	if len(cs) == 0 {
		delete(p.idle, c.key)
	} else {
		p.idle[c.key] = cs
	}
	p.nIdle--
	return true
}

// good ends the watch of a connection taken from the idle ones and
// reports whether it can be used (else it is closed).
func (c *webhookConn) good() bool {
	_ = c.nc.SetReadDeadline(aLongTimeAgo) // ends the watcher's read
	if err := <-c.watch; !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(c.since) > webhookIdleTimeout {
		_ = c.nc.Close() // closed by the receiver, sent something, or too old
		return false
	}
	return true
}

// put keeps c idle (closed when webhookIdlePerHost are kept for its key
// already, or webhookIdleMax in all).
func (p *webhookConns) put(c *webhookConn) {
	c.since, c.watch, c.lr.N = time.Now(), make(chan error, 1), 1
	_ = c.nc.SetDeadline(time.Time{})
	_ = c.nc.SetReadDeadline(c.since.Add(webhookIdleTimeout))
	p.mu.Lock()
	if len(p.idle[c.key]) >= webhookIdlePerHost || p.nIdle >= webhookIdleMax {
		p.mu.Unlock()
		_ = c.nc.Close()
		return
	}
	p.idle[c.key] = append(p.idle[c.key], c)
	p.nIdle++
	p.mu.Unlock()
	go p.watchIdle(c)
}

// watchIdle reads from an idle connection until the receiver closes it or
// sends something (the connection is dropped), its idle time is over
// (dropped), or take ends the read (a deadline error: still good).
func (p *webhookConns) watchIdle(c *webhookConn) {
	_, err := c.br.Peek(1)
	p.mu.Lock()
	mine := p.removeLocked(c) // still idle: not taken
	p.mu.Unlock()
	if mine {
		_ = c.nc.Close()
	}
	if err == nil {
		err = errors.New("data on an idle connection")
	}
	c.watch <- err
}
