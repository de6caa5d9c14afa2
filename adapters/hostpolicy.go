package adapters

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// ErrHostDenied: a store address the operator's host policy does not allow
// (a tenant's configuration must not aim the worker at internal services).
var ErrHostDenied = errors.New("host not allowed by the operator's policy (stores.allowed_networks; by default link-local and metadata addresses are refused)")

// HostPolicy decides which addresses stores may connect to. It is checked
// at connect time on the resolved address (so DNS cannot smuggle a
// forbidden address in), by every store kind's dialer. The process's
// policy (stores.allowed_networks) is handed to each store kind's factory
// constructor (sqlstore.NewFactory, ldapstore.NewFactory); a nil policy
// means the defaults.
type HostPolicy struct {
	// Allowed, when not empty, is the only set of networks stores may
	// reach. An explicitly allowed network may include a default-denied one.
	Allowed []netip.Prefix
}

// deniedByDefault are link-local and cloud metadata addresses.
var deniedByDefault = []netip.Prefix{
	netip.MustParsePrefix("169.254.0.0/16"),     // IPv4 link-local, incl. 169.254.169.254 metadata
	netip.MustParsePrefix("fe80::/10"),          // IPv6 link-local
	netip.MustParsePrefix("fd00:ec2::254/128"),  // AWS IPv6 metadata
	netip.MustParsePrefix("100.100.100.200/32"), // Alibaba Cloud metadata
	netip.MustParsePrefix("0.0.0.0/8"),          // "this network"
	netip.MustParsePrefix("::/128"),
}

// ParseHostPolicy builds a policy from CIDRs or single addresses.
func ParseHostPolicy(allowed []string) (*HostPolicy, error) {
	p := &HostPolicy{}
	var errs []error
	for _, s := range allowed {
		s = strings.TrimSpace(s)
		if pre, err := netip.ParsePrefix(s); err == nil {
			p.Allowed = append(p.Allowed, pre.Masked())
			continue
		}
		if a, err := netip.ParseAddr(s); err == nil {
			p.Allowed = append(p.Allowed, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		errs = append(errs, fmt.Errorf("%w: allowed network %q is not a CIDR or an IP address", ErrConfig, s))
	}
	return p, errors.Join(errs...)
}

// Permits reports whether the policy lets a store connect to addr.
func (p *HostPolicy) Permits(addr netip.Addr) bool {
	// An IPv6 zone (fe80::1%eth0) makes every Prefix.Contains false, so
	// it is dropped first: the address is judged without it.
	addr = addr.Unmap().WithZone("")
	if p != nil && len(p.Allowed) > 0 {
		for _, pre := range p.Allowed {
			if pre.Contains(addr) {
				return true
			}
		}
		return false
	}
	for _, pre := range deniedByDefault {
		if pre.Contains(addr) {
			return false
		}
	}
	return true
}

// control is a net.Dialer Control function enforcing the policy.
func (p *HostPolicy) control(network, address string, _ syscall.RawConn) error {
	if strings.HasPrefix(network, "unix") {
		return nil // a local socket is not a network destination
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrHostDenied, address)
	}
	a, err := netip.ParseAddr(host)
	if err != nil || !p.Permits(a) {
		return fmt.Errorf("%w: %s", ErrHostDenied, host)
	}
	return nil
}

// Dialer returns a dialer for store connections that enforces p on every
// address it connects to (a nil p: the defaults).
func (p *HostPolicy) Dialer(timeout time.Duration) *net.Dialer {
	return &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: p.control}
}

// DialContext dials through p's Dialer (for drivers that take a dial
// function).
func (p *HostPolicy) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return p.Dialer(30*time.Second).DialContext(ctx, network, addr)
}
