package sync

import (
	"context"
	"errors"
	"net"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/scimbridge/scimbridge/adapters"
)

// fakeDNS answers every A query with addr (and AAAA with no address), on
// loopback UDP; it counts the A queries.
type fakeDNS struct {
	conn    net.PacketConn
	addr    [4]byte
	queries atomic.Int64
	wg      gosync.WaitGroup
}

func startFakeDNS(t *testing.T, addr [4]byte) *fakeDNS {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &fakeDNS{conn: c, addr: addr}
	d.wg.Add(1)
	go d.serve()
	t.Cleanup(func() { _ = c.Close(); d.wg.Wait() })
	return d
}

func (d *fakeDNS) serve() {
	defer d.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, from, err := d.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		var p dnsmessage.Parser
		h, err := p.Start(buf[:n])
		if err != nil {
			continue
		}
		q, err := p.Question()
		if err != nil {
			continue
		}
		b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionAvailable: true})
		b.EnableCompression()
		_ = b.StartQuestions()
		_ = b.Question(q)
		_ = b.StartAnswers()
		if q.Type == dnsmessage.TypeA {
			d.queries.Add(1)
			_ = b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.AResource{A: d.addr})
		}
		msg, err := b.Finish()
		if err == nil {
			_, _ = d.conn.WriteTo(msg, from)
		}
	}
}

// resolver is a Go resolver that asks only d.
func (d *fakeDNS) resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var nd net.Dialer
		return nd.DialContext(ctx, "udp", d.conn.LocalAddr().String())
	}}
}

// A name that resolves to 169.254.169.254 (the metadata address) passes
// CheckURL (a name is judged on its address when connecting) and is
// refused at connect time by the default host policy: no request leaves.
func TestWebhookNameResolvingToMetadataIsRefused(t *testing.T) {
	t.Parallel()
	b, w := webhookSetup(t)
	ctx := context.Background()
	dns := startFakeDNS(t, [4]byte{169, 254, 169, 254})
	w.resolver = dns.resolver()
	w.Timeout = 2 * time.Second
	_, ep := addEndpoint(t, w, b.tenant, "http://metadata.scimbridge-test.example:80/latest/meta-data")
	if _, err := b.svc.CreateUser(ctx, b.tenant, parseUser(t, `{"userName":"meta@example.com"}`), nil); err != nil {
		t.Fatal(err)
	}
	drainAll(t, b)
	if err := w.Deliver(ctx, b.tenant, ep.ID); !errors.Is(err, errDelivery) {
		t.Fatalf("delivery to a name resolving to the metadata address: %v", err)
	}
	if dns.queries.Load() == 0 {
		t.Fatal("the name was not resolved through the test's resolver: the test proves nothing")
	}
	log, err := w.Deliveries(ctx, b.tenant, ep.ID, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 1 || log[0].Status != 0 || !strings.Contains(log[0].Error, adapters.ErrHostDenied.Error()) || !strings.Contains(log[0].Error, "169.254.169.254") {
		t.Fatalf("log %+v, want the host policy's refusal of 169.254.169.254", log)
	}
}
