package sync

import (
	"context"
	"errors"
	"time"
)

// The settings the tests pass to the structs that require them (the
// library has no defaults; cmd/scimbridge's table holds the real ones).
const (
	testLeaseTTL       = 2 * time.Minute
	testStoreTimeout   = time.Minute
	testLookupTimeout  = 10 * time.Second
	testImportInterval = 30 * time.Second
	testLimiterWait    = 2 * time.Second
	testSweepInterval  = 30 * time.Second
	testInlineDrift    = 1000
)

// concurrencyFunc is a ConcurrencySource from a function.
type concurrencyFunc func(tenant string) int

func (f concurrencyFunc) StoreConcurrency(_ context.Context, tenant string) (int, error) {
	return f(tenant), nil
}

// failingConcurrency cannot read any tenant's concurrency.
type failingConcurrency struct{}

func (failingConcurrency) StoreConcurrency(context.Context, string) (int, error) {
	return 0, errors.New("registry unreachable")
}
