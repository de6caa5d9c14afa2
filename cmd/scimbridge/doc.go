// Command scimbridge runs the SCIM bridge and its admin subcommands:
// `serve` (API and worker in one process), `api` (the SCIM front door),
// `worker` (applies the ledger to the tenants' stores), and the operator's
// `key`, `oauth-client`, `tenant`, `status`, `replay`, `import`, `drift`,
// `preview` and `job`, and the disaster recovery commands `recover`,
// `backup` and `restore`.
// Run `scimbridge help` for usage.
//
// This package is flags, configuration and wiring, nothing on a request's
// or a task's path:
//
//	cli.go        the table of commands: each one's flags, --help and usage
//	settings.go   the table of settings: every key, its environment
//	              variable and default (the README's reference is rendered
//	              from it); config.go reads the file and validates
//	app.go        builds the services from a Config (the one place that
//	              imports store implementations) and runs the process roles
//	telemetry.go  tracing, metrics, logs, health, the dashboard's mount
//	admin_cmd.go  the operator subcommands, calling the same sync.Admin as
//	              the admin API
//	printable.go  the one escaping of what the CLI prints (control and
//	              invisible characters Go-quoted)
//	recover_cmd.go `recover`, `backup`, `restore` (sync.Admin: recover.go,
//	              backup.go)
//	oauth_cmd.go  `oauth-client create|list|revoke` (tenants.OAuthClients;
//	              app.go derives the tokens' key from secrets.key_file)
//	setup_cmd.go  the customer's setup page (api/setup) and its links:
//	              wiring (off without secrets.key_file) and
//	              `tenant setup-link` / `tenant setup-link-revoke`
//	demo.go       the embedded default (internal/embeddedredis is its Redis)
//	faults_on.go  fault-injection points, only with -tags faultinject
package main
