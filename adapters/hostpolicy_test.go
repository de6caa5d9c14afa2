package adapters

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
)

func TestHostPolicyDefaults(t *testing.T) {
	var p *HostPolicy // no operator allowlist
	for addr, want := range map[string]bool{
		"127.0.0.1":              true,
		"10.1.2.3":               true,
		"::1":                    true,
		"169.254.169.254":        false, // cloud metadata
		"169.254.1.1":            false,
		"fe80::1":                false,
		"fe80::1%eth0":           false, // a zone must not hide the prefix
		"fd00:ec2::254":          false,
		"fd00:ec2::254%lo":       false,
		"100.100.100.200":        false,
		"0.0.0.0":                false,
		"::ffff:169.254.169.254": false, // mapped form of the metadata address
	} {
		if got := p.Permits(netip.MustParseAddr(addr)); got != want {
			t.Errorf("default policy, %s: %v, want %v", addr, got, want)
		}
	}
}

func TestHostPolicyAllowlist(t *testing.T) {
	p, err := ParseHostPolicy([]string{"10.0.0.0/8", "192.0.2.7"})
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{
		"10.9.8.7":        true,
		"192.0.2.7":       true,
		"192.0.2.8":       false,
		"127.0.0.1":       false,
		"169.254.169.254": false,
	} {
		if got := p.Permits(netip.MustParseAddr(addr)); got != want {
			t.Errorf("allowlist, %s: %v, want %v", addr, got, want)
		}
	}
	if _, err := ParseHostPolicy([]string{"not-a-network"}); !errors.Is(err, ErrConfig) {
		t.Fatalf("bad allowlist entry: %v", err)
	}
}

func TestDialerEnforcesPolicyAtConnectTime(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	// Loopback is not on this operator's allowlist: refused before connecting.
	p, _ := ParseHostPolicy([]string{"10.0.0.0/8"})
	if _, err := p.DialContext(context.Background(), "tcp", ln.Addr().String()); !errors.Is(err, ErrHostDenied) {
		t.Fatalf("dial outside the allowlist: %v", err)
	}
	// Through a host name, the resolved address is what is checked.
	if _, err := p.DialContext(context.Background(), "tcp", "localhost:"+portOf(ln)); !errors.Is(err, ErrHostDenied) {
		t.Fatalf("dial by name outside the allowlist: %v", err)
	}
	var defaults *HostPolicy
	c, err := defaults.DialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("default policy refused loopback: %v", err)
	}
	c.Close()
}

func portOf(ln net.Listener) string {
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}
