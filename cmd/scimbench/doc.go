// Command scimbench is scimbridge's load tool. It drives a running
// scimbridge over HTTP with Okta-shaped SCIM traffic (the existence-check
// filter, create, get, get+put, the path-less deactivate PATCH, one-member
// group adds, and a weighted mix), measures acknowledgement latency and
// end-to-end convergence (until the store, or the ledger's applied
// versions, reflect every acknowledged write), and measures the store's own
// ceiling for the same rows at the same concurrency, so results can be read
// as ratios that hold on any machine.
//
// It only talks to loopback targets unless --allow-remote is given, and
// every run is bounded by a duration or a request count.
//
// Subcommands: run (one scenario), setup (tenants, users and a group, via
// the API or directly through the ledger), ceiling (the store alone) and
// rss (a process's resident memory). See BENCHMARKS.md at the repository
// root for the commands and the numbers.
package main
