package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// ErrNotLoopback: a target outside 127.0.0.0/8 and ::1 without --allow-remote.
var ErrNotLoopback = errors.New("target is not a loopback address (127.0.0.0/8 or ::1); pass --allow-remote to load a remote server")

// checkLoopbackHost reports whether host (an IP literal or a name) is
// loopback. A name must resolve, and every address it resolves to must be
// loopback.
func checkLoopbackHost(ctx context.Context, host string) error {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "" {
		return fmt.Errorf("scimbench: empty host: %w", ErrNotLoopback)
	}
	if ip := net.ParseIP(host); ip != nil {
		if !ip.IsLoopback() {
			return fmt.Errorf("scimbench: %s: %w", host, ErrNotLoopback)
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil || len(addrs) == 0 {
		return fmt.Errorf("scimbench: %s does not resolve (%v): %w", host, err, ErrNotLoopback)
	}
	for _, a := range addrs {
		if !a.IP.IsLoopback() {
			return fmt.Errorf("scimbench: %s resolves to %s: %w", host, a.IP, ErrNotLoopback)
		}
	}
	return nil
}

// checkLoopbackURL checks the host of an http(s) URL.
func checkLoopbackURL(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("scimbench: target %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("scimbench: target %q: want an http:// or https:// URL", raw)
	}
	return checkLoopbackHost(ctx, u.Hostname())
}

// checkLoopbackAddr checks a host:port address (Redis, a database).
func checkLoopbackAddr(ctx context.Context, addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	return checkLoopbackHost(ctx, host)
}

// loopbackOnlyControl is a net.Dialer Control that refuses to connect
// anywhere but loopback, whatever a name resolved to in the meantime.
func loopbackOnlyControl(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("scimbench: dial %s: %w", address, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("scimbench: dial %s: %w", address, ErrNotLoopback)
	}
	return nil
}
