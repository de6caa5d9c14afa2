package ldapstore

import (
	"fmt"
	"os"
	"testing"

	"github.com/scimbridge/scimbridge/adapters/ldapstore/ldaptest"
	"github.com/scimbridge/scimbridge/internal/testsupport"
)

// The tests run one throwaway slapd for the package (ldaptest.Start in
// TestMain, stopped at the end). Every test works in its own OU
// (Server.TenantOU).

const (
	suffix = ldaptest.BaseDN
	rootDN = ldaptest.RootDN
)

var (
	// server is the package's slapd; nil when it could not start
	// (serverErr says why: tests skip, or fail under CI).
	server    *ldaptest.Server
	serverErr error
)

func TestMain(m *testing.M) {
	server, serverErr = ldaptest.Start()
	if serverErr != nil {
		fmt.Fprintln(os.Stderr, "ldapstore tests:", serverErr)
	}
	code := m.Run()
	if server != nil {
		server.Stop()
	}
	os.Exit(code)
}

// needServer returns the slapd or skips (fails under CI).
func needServer(tb testing.TB) *ldaptest.Server {
	tb.Helper()
	if server == nil {
		ldaptest.Unavailable(tb, serverErr)
	}
	return server
}

func randomHex(n int) string { return testsupport.RandomHex(n) }
