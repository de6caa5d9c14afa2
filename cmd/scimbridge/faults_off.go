//go:build !faultinject

package main

// injectFaults does nothing in a production build: the fault-injection
// points of the process tests exist only in a binary built with
// -tags faultinject (faults_on.go).
func injectFaults(*app) {}
