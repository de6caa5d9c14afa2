//go:build faultinject

package main

import "os"

// injectFaults wires the fault-injection points the process tests use
// (procs_test.go builds the binary with -tags faultinject; a production
// build has none of this):
//
//	SCIMBRIDGE_FAULT_DROP_ENQUEUE=1   writes are recorded but never enqueued,
//	                                  as if the process died between the two steps
func injectFaults(a *app) {
	if os.Getenv("SCIMBRIDGE_FAULT_DROP_ENQUEUE") == "1" {
		a.log.Warn("FAULT INJECTION: SCIMBRIDGE_FAULT_DROP_ENQUEUE=1, enqueues are dropped")
		a.service.Enqueuer = nil
	}
}
