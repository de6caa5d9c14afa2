package sync

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"
)

// connServer is a loopback receiver (httptest, optionally TLS) that counts
// the connections made to it and answers each request with answer (nil:
// 204).
type connServer struct {
	srv    *httptest.Server
	conns  atomic.Int64
	mu     gosync.Mutex
	ids    []string                                                 // webhook-id of each request, in order
	answer func(n int, w http.ResponseWriter, r *http.Request) bool // false: default 204
}

func newConnServer(t *testing.T, useTLS bool) *connServer {
	s := &connServer{}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.ids = append(s.ids, r.Header.Get("webhook-id"))
		n := len(s.ids)
		s.mu.Unlock()
		if r.ProtoMajor != 1 {
			http.Error(w, "want HTTP/1.1", http.StatusBadRequest)
			return
		}
		if s.answer != nil && s.answer(n, w, r) {
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	s.srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	if useTLS {
		s.srv.EnableHTTP2 = true // offered: the delivery still speaks HTTP/1.1
		s.srv.StartTLS()
	} else {
		s.srv.Start()
	}
	t.Cleanup(s.srv.Close)
	return s
}

func (s *connServer) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ids...)
}

// addUsers acknowledges n users and drains them (n events).
func addUsers(t *testing.T, b *bundle, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if _, err := b.svc.CreateUser(context.Background(), b.tenant, parseUser(t, fmt.Sprintf(`{"userName":"c%d@example.com"}`, i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	drainAll(t, b)
}

// checkLog: the delivery log has want entries, every one acknowledged
// (no failed attempt), and the events in stream order.
func checkLog(t *testing.T, w *Webhooks, b *bundle, ep string, want int) []Delivery {
	t.Helper()
	log, err := w.Deliveries(context.Background(), b.tenant, ep, 100)
	if err != nil || len(log) != want {
		t.Fatalf("delivery log: %d entries (%v), want %d", len(log), err, want)
	}
	for _, d := range log {
		if d.Status/100 != 2 || d.Error != "" || d.Attempt != 1 {
			t.Fatalf("delivery log entry %+v: want an acknowledged first attempt", d)
		}
	}
	return log
}

// A run sends its events on one kept-alive connection, the next run takes
// it again; when the receiver closes the idle connection, the next run
// dials a new one (no failed attempt).
func TestWebhookConnectionKeptAcrossEventsAndRuns(t *testing.T) {
	b, w := webhookSetup(t)
	s := newConnServer(t, false)
	_, ep := addEndpoint(t, w, b.tenant, s.srv.URL)
	ctx := context.Background()
	addUsers(t, b, 0, 5)
	if err := w.Deliver(ctx, b.tenant, ep.ID); err != nil {
		t.Fatal(err)
	}
	addUsers(t, b, 5, 3)
	if err := w.Deliver(ctx, b.tenant, ep.ID); err != nil {
		t.Fatal(err)
	}
	if n := s.conns.Load(); n != 1 || len(s.requests()) != 8 {
		t.Fatalf("8 events over %d connections, %d requests: want one connection, kept between runs", n, len(s.requests()))
	}
	s.srv.CloseClientConnections() // the receiver closes the idle connection
	addUsers(t, b, 8, 2)
	if err := w.Deliver(ctx, b.tenant, ep.ID); err != nil {
		t.Fatalf("after the receiver closed the idle connection: %v", err)
	}
	if n := s.conns.Load(); n != 2 || len(s.requests()) != 10 {
		t.Fatalf("%d connections, %d requests: want a second connection, each event sent once", n, len(s.requests()))
	}
	checkLog(t, w, b, ep.ID, 10)
	evs, err := b.ledger.Events(ctx, b.tenant, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	got := s.requests()
	for i := range evs {
		if got[i] != evs[i].ID {
			t.Fatalf("request %d carried %s, want %s (stream order)", i, got[i], evs[i].ID)
		}
	}
}

// A receiver that closes the kept connection instead of answering (as an
// idle timeout racing the next request does) gets that event again on a
// new connection: at-least-once, in order, no failed attempt counted. A
// second close of the same request is a failure.
func TestWebhookClosedKeptConnectionRetriedOnce(t *testing.T) {
	b, w := webhookSetup(t)
	s := newConnServer(t, false)
	closeOn := map[int]bool{3: true}
	s.answer = func(n int, rw http.ResponseWriter, r *http.Request) bool {
		if !closeOn[n] {
			return false
		}
		c, _, err := rw.(http.Hijacker).Hijack()
		if err == nil {
			c.Close()
		}
		return true
	}
	_, ep := addEndpoint(t, w, b.tenant, s.srv.URL)
	addUsers(t, b, 0, 5)
	if err := w.Deliver(context.Background(), b.tenant, ep.ID); err != nil {
		t.Fatal(err)
	}
	got := s.requests()
	if len(got) != 6 || got[2] != got[3] || s.conns.Load() != 2 {
		t.Fatalf("requests %v over %d connections: want the third sent again on a second connection", got, s.conns.Load())
	}
	checkLog(t, w, b, ep.ID, 5)

	// Closed twice (the retry's new connection too): a failed delivery.
	closeOn = map[int]bool{7: true, 8: true}
	addUsers(t, b, 5, 1)
	if err := w.Deliver(context.Background(), b.tenant, ep.ID); !errors.Is(err, errDelivery) {
		t.Fatalf("an event whose retry's connection was closed too: %v, want a failed delivery", err)
	}
}

// HTTPS: verified against the roots (the test's), HTTP/1.1 though the
// receiver offers HTTP/2. A long answer body: the delivery is acknowledged,
// the log keeps its prefix, and the connection is not reused (the body
// was not read to its end). An answer past webhookAnswerMax (headers
// without end) fails the delivery, as a hanging receiver does at the
// timeout.
func TestWebhookHTTPSAndBoundedAnswers(t *testing.T) {
	b, w := webhookSetup(t)
	s := newConnServer(t, true)
	w.tlsConfig = &tls.Config{RootCAs: s.srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	long := strings.Repeat("x", 100<<10)
	s.answer = func(n int, rw http.ResponseWriter, r *http.Request) bool {
		if r.TLS == nil {
			http.Error(rw, "want TLS", http.StatusBadRequest)
			return true
		}
		if n == 2 {
			_, _ = rw.Write([]byte(long))
			return true
		}
		return false
	}
	_, ep := addEndpoint(t, w, b.tenant, s.srv.URL)
	addUsers(t, b, 0, 4)
	if err := w.Deliver(context.Background(), b.tenant, ep.ID); err != nil {
		t.Fatal(err)
	}
	log := checkLog(t, w, b, ep.ID, 4)
	if n := s.conns.Load(); n != 2 || len(s.requests()) != 4 {
		t.Fatalf("%d connections, %d requests: want a new connection after the long answer", n, len(s.requests()))
	}
	var prefixes int
	for _, d := range log {
		if d.Response == long[:responsePrefix] {
			prefixes++
		}
	}
	if prefixes != 1 {
		t.Fatalf("log %+v: want the long answer's %d-byte prefix once", log, responsePrefix)
	}

	// Without trusting the receiver's certificate: no delivery.
	w2 := &Webhooks{Ledger: w.Ledger, Sealer: w.Sealer, Timeout: 5 * time.Second}
	addUsers(t, b, 4, 1)
	if err := w2.Deliver(context.Background(), b.tenant, ep.ID); !errors.Is(err, errDelivery) {
		t.Fatalf("an untrusted certificate: %v, want a failed delivery", err)
	}

	// Endless headers: failed, not read without bound.
	endless := newConnServer(t, false)
	endless.answer = func(n int, rw http.ResponseWriter, r *http.Request) bool {
		c, bw, err := rw.(http.Hijacker).Hijack()
		if err != nil {
			return true
		}
		defer c.Close()
		_, _ = bw.WriteString("HTTP/1.1 200 OK\r\n")
		line := "X-Pad: " + strings.Repeat("p", 1000) + "\r\n"
		for range (2 * webhookAnswerMax) / len(line) {
			if _, err := bw.WriteString(line); err != nil {
				return true
			}
		}
		_ = bw.Flush()
		return true
	}
	// A receiver that never answers: the timeout ends the request.
	hang := newConnServer(t, false)
	release := make(chan struct{})
	defer close(release)
	hang.answer = func(n int, rw http.ResponseWriter, r *http.Request) bool {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return true
	}
	w3 := &Webhooks{Ledger: w.Ledger, Sealer: w.Sealer, Timeout: 500 * time.Millisecond}
	eps := map[string]*Endpoint{}
	for name, url := range map[string]string{"endless headers": endless.srv.URL, "no answer": hang.srv.URL} {
		_, eps[name] = addEndpoint(t, w3, b.tenant, url)
	}
	addUsers(t, b, 5, 1)
	for name, ep := range eps {
		if err := w3.Deliver(context.Background(), b.tenant, ep.ID); !errors.Is(err, errDelivery) {
			t.Fatalf("%s: %v, want a failed delivery", name, err)
		}
		log, err := w3.Deliveries(context.Background(), b.tenant, ep.ID, 10)
		if err != nil || len(log) != 1 || log[0].Status != 0 || log[0].Error == "" {
			t.Fatalf("%s: log %+v (%v): want one failed attempt without a status", name, log, err)
		}
		if timeout := strings.HasPrefix(log[0].Error, "timeout: "); timeout != (name == "no answer") {
			t.Fatalf("%s: %q: want a timeout only when there is no answer", name, log[0].Error)
		}
	}
}

// The idle connections: at most webhookIdlePerHost per key (a further
// one is closed), taken most recent first, and one whose receiver closed
// it is not handed out.
func TestWebhookIdleConnections(t *testing.T) {
	p := &webhookConns{idle: map[string][]*webhookConn{}}
	mk := func() (*webhookConn, net.Conn) {
		a, b := net.Pipe()
		t.Cleanup(func() { a.Close(); b.Close() })
		c := &webhookConn{key: "http://h:80", nc: a}
		c.lr.R = a
		c.br = bufio.NewReader(&c.lr)
		return c, b
	}
	var peers []net.Conn
	var conns []*webhookConn
	for range webhookIdlePerHost + 1 {
		c, peer := mk()
		conns, peers = append(conns, c), append(peers, peer)
		p.put(c)
	}
	// The one past the limit is closed: its peer reads the end.
	if _, err := peers[webhookIdlePerHost].Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("the connection past %d idle ones: peer read %v, want it closed", webhookIdlePerHost, err)
	}
	peers[0].Close() // the receiver closes the oldest idle one
	for i := webhookIdlePerHost - 1; i >= 0; i-- {
		c := p.take("http://h:80")
		if i == 0 {
			if c != nil {
				t.Fatal("a connection the receiver closed was handed out")
			}
			break
		}
		if c != conns[i] {
			t.Fatalf("take: %p, want the most recent idle connection %p", c, conns[i])
		}
	}
	if c := p.take("http://h:80"); c != nil || p.nIdle != 0 || len(p.idle) != 0 {
		t.Fatalf("after taking them all: %v, %d idle %v", c, p.nIdle, p.idle)
	}
}

// Over HTTPS too, the connection is kept between runs: the idle watcher's
// read cut by a deadline leaves the TLS connection usable, and one the
// receiver closed while idle is replaced, each event sent once.
func TestWebhookHTTPSConnectionKeptAcrossRuns(t *testing.T) {
	b, w := webhookSetup(t)
	s := newConnServer(t, true)
	w.tlsConfig = &tls.Config{RootCAs: s.srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	_, ep := addEndpoint(t, w, b.tenant, s.srv.URL)
	ctx := context.Background()
	for run, n := range []int{3, 2, 2} {
		addUsers(t, b, run*3, n)
		time.Sleep(50 * time.Millisecond) // idle, watched, between runs
		if err := w.Deliver(ctx, b.tenant, ep.ID); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
	}
	if n := s.conns.Load(); n != 1 || len(s.requests()) != 7 {
		t.Fatalf("%d TLS connections, %d requests: want one connection for three runs", n, len(s.requests()))
	}
	s.srv.CloseClientConnections()
	addUsers(t, b, 20, 1)
	if err := w.Deliver(ctx, b.tenant, ep.ID); err != nil {
		t.Fatalf("after the receiver closed the idle TLS connection: %v", err)
	}
	if n := s.conns.Load(); n != 2 || len(s.requests()) != 8 {
		t.Fatalf("%d TLS connections, %d requests: want a second connection, each event once", n, len(s.requests()))
	}
	checkLog(t, w, b, ep.ID, 8)
}
