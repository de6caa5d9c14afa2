package testsupport

import (
	"cmp"
	"os"
	"testing"
)

// Environment variables the tests read.
const (
	// EnvCI, when set to anything, makes a missing service fail the test
	// instead of skipping it, so CI cannot pass by skipping.
	EnvCI = "CI"
	// EnvRedis is the test Redis: host:port or a redis:// URL.
	EnvRedis = "SCIMBRIDGE_TEST_REDIS"
	// EnvPostgres is the test PostgreSQL server's DSN (a superuser: tests
	// create and drop schemas).
	EnvPostgres = "SCIMBRIDGE_TEST_POSTGRES"
	// EnvMySQL is the test MariaDB/MySQL server's DSN (go-sql-driver
	// format; a user that may create and drop databases).
	EnvMySQL = "SCIMBRIDGE_TEST_MYSQL"
)

// Defaults when the variables are not set: the services .ci/services.sh
// starts.
const (
	DefaultRedis    = "127.0.0.1:6379"
	DefaultPostgres = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	DefaultMySQL    = "root@tcp(127.0.0.1:3306)/test"
)

// InCI reports whether the CI environment variable is set.
func InCI() bool { return os.Getenv(EnvCI) != "" }

// Require is the one rule for a service a test needs: when err is nil it
// does nothing; otherwise (the service, named by what, is unreachable or
// not installed) it skips tb on a developer machine and fails it when CI
// is set.
func Require(tb testing.TB, what string, err error) {
	tb.Helper()
	if err == nil {
		return
	}
	if InCI() {
		tb.Fatalf("%s is required when %s is set: %v", what, EnvCI, err)
	}
	tb.Skipf("%s unavailable (set %s to fail instead): %v", what, EnvCI, err)
}

// PostgresDSN is SCIMBRIDGE_TEST_POSTGRES or DefaultPostgres.
func PostgresDSN() string { return cmp.Or(os.Getenv(EnvPostgres), DefaultPostgres) }

// MySQLDSN is SCIMBRIDGE_TEST_MYSQL or DefaultMySQL.
func MySQLDSN() string { return cmp.Or(os.Getenv(EnvMySQL), DefaultMySQL) }
