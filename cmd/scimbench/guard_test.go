package main

import (
	"context"
	"errors"
	"testing"
)

func TestLoopbackGuard(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		url  string
		want error
	}{
		{"http://127.0.0.1:8080/scim/t/v2", nil},
		{"http://127.3.4.5:8080/scim/t/v2", nil},
		{"http://[::1]:8080/scim/t/v2", nil},
		{"https://localhost:8443/scim/t/v2", nil},
		{"http://10.0.0.5:8080/scim/t/v2", ErrNotLoopback},
		{"http://192.168.1.1/scim/t/v2", ErrNotLoopback},
		{"http://[2001:db8::1]:8080/", ErrNotLoopback},
		{"http://0.0.0.0:8080/", ErrNotLoopback},
		{"http://128.0.0.1:8080/", ErrNotLoopback},
		{"http://name.invalid/scim", ErrNotLoopback},
	} {
		t.Run(tc.url, func(t *testing.T) {
			err := checkLoopbackURL(ctx, tc.url)
			if tc.want == nil && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if err := checkLoopbackURL(ctx, "ftp://127.0.0.1/"); err == nil {
		t.Fatal("ftp URL accepted")
	}
}

func TestLoopbackGuardAddrsAndDSNs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		kind, dsn string
		ok        bool
	}{
		{"postgres", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", true},
		{"postgres", "postgres://postgres@db.example.com:5432/x", false},
		{"mysql", "root@tcp(127.0.0.1:3306)/x", true},
		{"mysql", "root@tcp(10.1.2.3:3306)/x", false},
		{"sqlite", "/tmp/x.db", true},
	} {
		host := storeHost(tc.kind, tc.dsn)
		err := error(nil)
		if host != "" {
			err = checkLoopbackAddr(ctx, host)
		}
		if tc.ok != (err == nil) {
			t.Errorf("%s %s: err %v, want ok=%v", tc.kind, tc.dsn, err, tc.ok)
		}
	}
}

func TestDialerRefusesNonLoopback(t *testing.T) {
	t.Parallel()
	if err := loopbackOnlyControl("tcp", "127.0.0.1:80", nil); err != nil {
		t.Fatal(err)
	}
	if err := loopbackOnlyControl("tcp", "[::1]:80", nil); err != nil {
		t.Fatal(err)
	}
	if err := loopbackOnlyControl("tcp", "93.184.216.34:80", nil); !errors.Is(err, ErrNotLoopback) {
		t.Fatalf("got %v", err)
	}
	// The run command refuses a remote target before sending anything.
	err := run([]string{"run", "--targets", writeTargetsFile(t, "http://10.9.9.9:8080/scim/x/v2"), "--requests", "1"}, nil, discard{})
	if !errors.Is(err, ErrNotLoopback) {
		t.Fatalf("run against a remote target: %v", err)
	}
}
