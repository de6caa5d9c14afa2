// Command scimbridge runs the SCIM bridge and its admin subcommands:
// `serve` (API and worker in one process), `api` (the SCIM front door),
// `worker` (applies the ledger to the tenants' stores), and the operator's
// `key`, `tenant`, `status`, `replay`, `import`, `drift`, `preview` and `job`.
// This package owns flags, configuration loading and validation, the
// wiring of every other package (the only place that imports store
// implementations), process roles, telemetry setup and the embedded
// default for trying it out. Run `scimbridge help` for usage.
package main
