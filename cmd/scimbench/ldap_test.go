package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/redis/go-redis/v9"

	"github.com/scimbridge/scimbridge/adapters/ldapstore/ldaptest"
	"github.com/scimbridge/scimbridge/internal/testsupport"
)

func TestLDAPHelpers(t *testing.T) {
	for dsn, want := range map[string]string{
		"ldap://127.0.0.1:3890":  "ldap",
		"LDAPS://127.0.0.1":      "ldap",
		"root@tcp(127.0.0.1)/db": "mysql",
	} {
		if got := storeKindOf(dsn); got != want {
			t.Errorf("storeKindOf(%q) = %q, want %q", dsn, got, want)
		}
	}
	for dsn, want := range map[string]string{
		"ldap://127.0.0.1:3890": "127.0.0.1:3890",
		"ldap://localhost":      "localhost:389",
		"ldaps://[::1]":         "[::1]:636",
	} {
		if got := storeHost("ldap", dsn); got != want {
			t.Errorf("storeHost(%q) = %q, want %q", dsn, got, want)
		}
	}
	if p := commonRunPrefix([]string{"ab12-1", "ab12-20", "ab12-3"}); p != "ab12-" {
		t.Errorf("prefix %q", p)
	}
	for _, ms := range [][]string{nil, {"ab12-1", "cd-2"}, {"ab12-1", "ab12-x-2"}, {"nodash"}} {
		if p := commonRunPrefix(ms); p != "" {
			t.Errorf("commonRunPrefix(%v) = %q, want none", ms, p)
		}
	}
	if p, err := parentDN("ou=people,ou=sb,dc=example,dc=com"); err != nil || p != "ou=sb,dc=example,dc=com" {
		t.Errorf("parentDN: %q, %v", p, err)
	}
	if _, err := parentDN("dc=com"); err == nil {
		t.Error("parentDN of a one-RDN DN")
	}
}

func TestBenchLDAPTenantIsValid(t *testing.T) {
	l := &ldapClient{url: "ldap://127.0.0.1:3890", bindDN: "cn=admin,dc=example,dc=com", passwordFile: "/run/secrets/pw"}
	for _, conc := range []int{0, 4} {
		tn := benchLDAPTenant("bench-0", l, ldapContainers("sbl", "dc=example,dc=com"), conc)
		if err := tn.Store.ValidateErr(); err != nil {
			t.Fatalf("concurrency %d: %v", conc, err)
		}
		if got, want := tn.Store.Concurrency(), max(1, conc); got != want {
			t.Fatalf("concurrency %d: store concurrency %d, want %d", conc, got, want)
		}
		if tn.Store.LDAP.PoolSize < tn.Store.Concurrency() {
			t.Fatalf("pool %d < concurrency %d", tn.Store.LDAP.PoolSize, tn.Store.Concurrency())
		}
	}
}

// benchSlapd is a throwaway slapd and a client bound as its root DN.
func benchSlapd(t *testing.T) (*ldaptest.Server, *ldapClient) {
	t.Helper()
	s := ldaptest.New(t)
	return s, &ldapClient{url: s.URL, bindDN: s.RootDN, passwordFile: s.RootPWFile}
}

func TestLDAPCeilingAddsModifiesAndCleansUp(t *testing.T) {
	s, l := benchSlapd(t)
	dns := ldapContainers("sbceil", s.BaseDN)
	if err := createLDAPContainers(l, dns); err != nil {
		t.Fatal(err)
	}
	if err := createLDAPContainers(l, dns); err != nil {
		t.Fatalf("setup twice: %v", err)
	}
	c, err := measureLDAPCeiling(context.Background(), l, dns.root, 60, 3)
	if err != nil {
		t.Fatal(err)
	}
	if c.Rows != 60 || c.Concurrency != 3 || c.InsertPerSec <= 0 || c.UpdatePerSec <= 0 {
		t.Fatalf("ceiling %+v", c)
	}
	// The scratch OU and its entries are gone; setup's OUs stay.
	conn, err := l.dial()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res, err := conn.Search(ldap.NewSearchRequest(dns.root, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"1.1"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != 4 {
		var got []string
		for _, e := range res.Entries {
			got = append(got, e.DN)
		}
		t.Fatalf("entries left under %s: %v", dns.root, got)
	}
}

func TestLDAPMarkersPresent(t *testing.T) {
	s, l := benchSlapd(t)
	dns := ldapContainers("sbmark", s.BaseDN)
	if err := createLDAPContainers(l, dns); err != nil {
		t.Fatal(err)
	}
	conn, err := l.dial()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := range 3 {
		r := ldapEntry(dns.users, "mk", i)
		// ldapEntry's marker is "mk-m-<i>"; a run's is "<run>-<n>".
		for j, a := range r.Attributes {
			if a.Type == ldapMarkerAttribute {
				r.Attributes[j].Vals = []string{fmt.Sprintf("run7-%d", i)}
			}
		}
		if err := conn.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	for _, markers := range [][]string{{"run7-0", "run7-2", "run7-9"}, {"run7-0", "other-1"}} {
		found, err := ldapMarkersPresent(l, dns.users, ldapMarkerAttribute, markers)
		if err != nil {
			t.Fatal(err)
		}
		if !found["run7-0"] || found["run7-9"] || found["other-1"] {
			t.Fatalf("markers %v: found %v", markers, found)
		}
	}
	if n, err := ldapCount(l, dns.users); err != nil || n != 3 {
		t.Fatalf("count %d, %v", n, err)
	}
}

func TestSlapdCommandRunsUntilCanceled(t *testing.T) {
	info := filepath.Join(t.TempDir(), "slapd.json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() { done <- cmdSlapd(ctx, []string{"--info", info}, &out, discard{}) }()
	var si slapdInfo
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(info)
		if err == nil && json.Unmarshal(b, &si) == nil {
			break
		}
		select {
		case err := <-done:
			if errors.Is(err, ldaptest.ErrNoSlapd) || errors.Is(err, ldaptest.ErrStart) {
				ldaptest.Unavailable(t, err)
			}
			t.Fatalf("slapd command ended: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("no slapd info")
		}
		time.Sleep(50 * time.Millisecond)
	}
	l := &ldapClient{url: si.URL, bindDN: si.RootDN, passwordFile: si.RootPWFile}
	if n, err := ldapCount(l, si.BaseDN); err != nil || n != 0 {
		t.Fatalf("fresh directory: %d users, %v", n, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(si.RootPWFile); !os.IsNotExist(err) {
		t.Fatalf("slapd's directory is still there: %v", err)
	}
	if _, err := l.dial(); err == nil {
		t.Fatal("slapd still answers after the command ended")
	}
}

// TestShortLDAPRunAgainstRealServer: setup makes an LDAP tenant, a short
// create run converges in the ledger and in the directory, and the run
// reports the directory's add ceiling.
func TestShortLDAPRunAgainstRealServer(t *testing.T) {
	redisAddr := testsupport.RedisDB(t, testRedisDB)
	rdb := testsupport.Redis(t, func(o *redis.Options) { o.DB = testRedisDB })
	s, _ := benchSlapd(t)

	url := startServer(t, redisAddr)
	targets := filepath.Join(t.TempDir(), "targets.json")
	prefix := fmt.Sprintf("sbldap%d", time.Now().UnixNano()%1e9)
	t.Cleanup(func() { _ = deleteTenants(context.Background(), rdb, []string{prefix + "-0"}) })
	common := []string{"--redis", redisAddr, "--redis-db", fmt.Sprint(testRedisDB), "--store-dsn", s.URL,
		"--ldap-bind-dn", s.RootDN, "--ldap-bind-password-file", s.RootPWFile}

	var out bytes.Buffer
	err := run(append([]string{"setup", "--public-url", url, "--tenant-prefix", prefix, "--schema", "sbl",
		"--ldap-base", s.BaseDN, "--users", "5", "--via", "api", "--concurrency", "4", "--wait", "30s", "--json", "--out", targets}, common...), &out, discard{})
	if err != nil {
		t.Fatalf("setup: %v", err)
	}
	var sr setupReport
	if err := json.Unmarshal(out.Bytes(), &sr); err != nil || sr.StoreUsersTable != "ou=people,ou=sbl,"+s.BaseDN || sr.StoreMarkerColumn != ldapMarkerAttribute {
		t.Fatalf("setup report %s: %v", out.String(), err)
	}
	l := &ldapClient{url: s.URL, bindDN: s.RootDN, passwordFile: s.RootPWFile}
	if n, err := ldapCount(l, sr.StoreUsersTable); err != nil || n != 5 {
		t.Fatalf("after setup: %d entries, %v", n, err)
	}

	out.Reset()
	var errOut bytes.Buffer
	args := append([]string{"run", "--targets", targets, "--json", "--concurrency", "4", "--scenario", "create", "--requests", "30",
		"--store-table", sr.StoreUsersTable, "--converge-timeout", "30s", "--store-concurrency", "1"}, common...)
	if err := run(args, &out, &errOut); err != nil {
		t.Fatalf("run: %v\n%s", err, errOut.String())
	}
	var rep runReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("run output %s: %v", out.String(), err)
	}
	c := rep.Converge
	if rep.Ops != 30 || len(rep.Errors) != 0 || c == nil || c.Writes != 30 || c.StoreWrites != 30 || c.StorePending != 0 || c.LedgerPending != 0 {
		t.Fatalf("ops %d errors %v convergence %+v", rep.Ops, rep.Errors, c)
	}
	if rep.Ceiling == nil || rep.Ceiling.InsertPerSec <= 0 || rep.Ceiling.Concurrency != 1 || rep.Ratio == nil || rep.Ratio.AppliesVsCeiling <= 0 {
		t.Fatalf("ceiling %+v ratio %+v", rep.Ceiling, rep.Ratio)
	}
	if n, err := ldapCount(l, sr.StoreUsersTable); err != nil || n != 35 {
		t.Fatalf("after the run: %d entries, %v", n, err)
	}

	out.Reset()
	if err := run(append([]string{"ceiling", "--store-table", sr.StoreUsersTable, "--rows", "20", "--store-concurrency", "2", "--json"}, common...), &out, discard{}); err != nil {
		t.Fatal(err)
	}
	var ceil Ceiling
	if err := json.Unmarshal(out.Bytes(), &ceil); err != nil || ceil.Rows != 20 || ceil.Concurrency != 2 || ceil.UpdatePerSec <= 0 {
		t.Fatalf("ceiling %s: %v", out.String(), err)
	}
}

// ldapCount counts the user entries (inetOrgPerson) under base.
func ldapCount(l *ldapClient, base string) (int, error) {
	c, err := l.dial()
	if err != nil {
		return 0, err
	}
	defer c.Close()
	res, err := c.SearchWithPaging(ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=inetOrgPerson)", []string{"1.1"}, nil), 1000)
	if err != nil {
		return 0, fmt.Errorf("scimbench: count ldap entries: %w", err)
	}
	return len(res.Entries), nil
}
