//go:build !faultinject

package main

import (
	"testing"

	"github.com/scimbridge/scimbridge/queue"
	syncsvc "github.com/scimbridge/scimbridge/sync"
)

// A production build ignores the fault-injection variables: the hook that
// drops enqueues exists only with -tags faultinject.
func TestProductionBuildIgnoresFaultInjection(t *testing.T) {
	t.Setenv("SCIMBRIDGE_FAULT_DROP_ENQUEUE", "1")
	enq := &queue.Enqueuer{}
	a := &app{service: &syncsvc.Service{Enqueuer: enq}}
	injectFaults(a)
	if a.service.Enqueuer != syncsvc.Enqueuer(enq) {
		t.Fatal("a build without -tags faultinject dropped the enqueuer")
	}
}
