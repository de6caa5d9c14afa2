package main

// The command line: every command, the flags it takes and what it runs, in
// one table (cliCommands). run (main.go) looks a command line up in it,
// parses the arguments with that command's own flag set and calls the
// command; the top-level usage, each group's usage and each command's
// --help are generated from the same table, so they cannot disagree with
// what is parsed.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"
)

// invocation is one parsed command line: the command and the values of its
// flags. A command defines only the flags it takes; the other fields keep
// their zero value.
type invocation struct {
	name   string // the command as typed: "serve", "tenant list", ...
	common commonFlags

	tenant  string
	keyName string // key create --name
	keyRef  string // key revoke --key
	file    string
	state   string
	kind    string
	offset  int
	count   int
	repair  bool
	noWait  bool
	jobID   string
	json    bool
	helpFor []string // help: the command asked about

	clientName string // oauth-client create --name
	clientRef  string // oauth-client revoke --client

	linkTTL    string // tenant setup-link --ttl
	linkIdP    string // tenant setup-link --idp
	linkID     string // tenant setup-link-revoke --link
	dryRun     bool   // recover, restore --dry-run
	newIDs     bool   // recover --new-ids
	merge      bool   // recover --merge
	overwrite  bool   // restore --overwrite
	fromTenant string // restore --from-tenant
	outFile    string // backup --out
	inFile     string // restore --in
	// events and webhook commands (events_cmd.go)
	after    string // events list --after
	eventID  string // events replay --event
	from, to string // events replay --from/--to (RFC 3339)
	endpoint string // --endpoint
	url      string // webhook create/update --url
	types    string // webhook create/update, events list --types (comma-separated)
	resource string // events list --resource-id
	enabled  string // webhook update --enabled true|false
	overlap  string // webhook rotate --overlap

	stdout, stderr io.Writer
}

// command is one command of the table.
type command struct {
	name    string // as typed, "tenant list"; a group's commands share its first word
	summary string // one line, for the lists of commands
	doc     string // more about it, for its --help; may be empty
	flags   []flagSpec
	args    string // positional arguments in the synopsis; only help takes any
	run     func(context.Context, *invocation) error
}

// flagSpec is one flag a command takes.
type flagSpec struct {
	name     string // without the dashes
	arg      string // the value's placeholder ("T"); "" for a boolean flag
	usage    string
	def      string // the default
	shown    string // the default as the usage shows it; "" for none
	env      string // an environment variable that replaces the default
	conn     bool   // one of the flags every command that connects takes
	required bool
	hint     string // added to the "--name is required" error
	define   func(fs *flag.FlagSet, in *invocation, f flagSpec)
}

// need returns f as a required flag; hint, if any, follows the error.
func (f flagSpec) need(hint string) flagSpec {
	f.required, f.hint = true, hint
	return f
}

// fromEnv returns f with its default taken from the environment variable
// name when that is set.
func (f flagSpec) fromEnv(name string) flagSpec {
	f.env = name
	return f
}

// connection returns f marked as a connection flag (--config, --data).
func (f flagSpec) connection() flagSpec {
	f.conn = true
	return f
}

// value is the default the flag set gets: the environment's, else def.
func (f flagSpec) value() string {
	if f.env != "" {
		return envOr(f.env, f.def)
	}
	return f.def
}

func stringFlag(name, arg, usage, def string, field func(*invocation) *string) flagSpec {
	shown := ""
	if def != "" {
		shown = strconv.Quote(def)
	}
	return flagSpec{name: name, arg: arg, usage: usage, def: def, shown: shown, define: func(fs *flag.FlagSet, in *invocation, f flagSpec) {
		fs.StringVar(field(in), f.name, f.value(), f.usage)
	}}
}

func intFlag(name, arg, usage string, def int, field func(*invocation) *int) flagSpec {
	shown := ""
	if def != 0 {
		shown = strconv.Itoa(def)
	}
	return flagSpec{name: name, arg: arg, usage: usage, def: strconv.Itoa(def), shown: shown, define: func(fs *flag.FlagSet, in *invocation, f flagSpec) {
		fs.IntVar(field(in), f.name, def, f.usage)
	}}
}

func boolFlag(name, usage string, field func(*invocation) *bool) flagSpec {
	return flagSpec{name: name, usage: usage, define: func(fs *flag.FlagSet, in *invocation, f flagSpec) {
		fs.BoolVar(field(in), f.name, false, f.usage)
	}}
}

func configField(in *invocation) *string { return &in.common.config }
func fileField(in *invocation) *string   { return &in.file }

// cliCommands is the table of commands, in the order the usage lists them.
func cliCommands() []command {
	// The flags more than one command takes. Every command that connects
	// takes --config and --data (connect).
	configFlag := stringFlag("config", "FILE", "configuration file (YAML); unset: the embedded default", "", configField).
		fromEnv("SCIMBRIDGE_CONFIG").connection()
	dataFlag := stringFlag("data", "DIR", "data directory of the embedded default", "data",
		func(in *invocation) *string { return &in.common.data }).fromEnv("SCIMBRIDGE_DATA").connection()
	connect := func(flags ...flagSpec) []flagSpec { return append(flags, configFlag, dataFlag) }
	serverConfig := stringFlag("config", "FILE", "configuration file (YAML)", "", configField).
		fromEnv("SCIMBRIDGE_CONFIG").connection().need("(or SCIMBRIDGE_CONFIG; the embedded default runs only with serve)")
	setFlag := flagSpec{name: "set", arg: "KEY=VALUE",
		usage: "a setting of the configuration reference, e.g. api.rate_limit.per_tenant_rps=1000 (repeatable; over the file and the environment)",
		define: func(fs *flag.FlagSet, in *invocation, f flagSpec) {
			fs.Func(f.name, f.usage, func(v string) error {
				in.common.sets = append(in.common.sets, v)
				return nil
			})
		}}

	tenantFlag := stringFlag("tenant", "T", "tenant id", "", func(in *invocation) *string { return &in.tenant }).need("")
	jsonFlag := boolFlag("json", "print JSON", func(in *invocation) *bool { return &in.json })
	noWaitFlag := boolFlag("no-wait", "start the job and return (then: scimbridge job --id ID)", func(in *invocation) *bool { return &in.noWait })
	tenantFileFlag := stringFlag("file", "F", "the tenant, YAML or JSON (- for standard input)", "", fileField).
		need("(- for standard input)")
	typesFlag := stringFlag("types", "T1,T2", "event types sent (comma-separated, or all; create unset: all)", "", func(in *invocation) *string { return &in.types })
	endpointFlag := func(required bool) flagSpec {
		f := stringFlag("endpoint", "ID", "the webhook endpoint id (ep_...)", "", func(in *invocation) *string { return &in.endpoint })
		if required {
			f = f.need("")
		}
		return f
	}
	userFileFlag := stringFlag("file", "user.json", "a SCIM user, JSON (- for standard input)", "", fileField).
		need("(- for standard input)")

	return []command{
		{name: "serve", summary: "API and worker in one process",
			doc: "Without --config (or SCIMBRIDGE_CONFIG) it runs the embedded default: an in-process Redis\n" +
				"and a demo SQLite store under --data, for trying scimbridge out only.",
			flags: connect(setFlag), run: runServer},
		{name: "api", summary: "the SCIM front door only", flags: []flagSpec{serverConfig, dataFlag, setFlag}, run: runServer},
		{name: "worker", summary: "the store applier only", flags: []flagSpec{serverConfig, dataFlag, setFlag}, run: runServer},

		{name: "key create", summary: "new SCIM API key (shown once)",
			flags: connect(tenantFlag,
				stringFlag("name", "NAME", "key name", "", func(in *invocation) *string { return &in.keyName }).need(""),
				jsonFlag),
			run: runKey},
		{name: "key list", summary: "a tenant's API keys (without their secrets)", flags: connect(tenantFlag, jsonFlag), run: runKey},
		{name: "key revoke", summary: "revoke an API key, on every API process at once",
			flags: connect(tenantFlag,
				stringFlag("key", "ID_OR_NAME", "key id or name", "", func(in *invocation) *string { return &in.keyRef }).need("")),
			run: runKey},

		{name: "oauth-client create", summary: "new OAuth client (client id, and a secret shown once)",
			doc: "For IdPs that obtain access tokens with the OAuth 2.0 client credentials grant (Microsoft\n" +
				"Entra ID: Authentication Method \"OAuth2 Client Credentials Grant\"). The token endpoint is\n" +
				"<public_url>/oauth/token; the API processes need secrets.key_file to serve it.",
			flags: connect(tenantFlag,
				stringFlag("name", "NAME", "client name", "", func(in *invocation) *string { return &in.clientName }).need(""),
				jsonFlag),
			run: runOAuthClient},
		{name: "oauth-client list", summary: "a tenant's OAuth clients (without their secrets)", flags: connect(tenantFlag, jsonFlag), run: runOAuthClient},
		{name: "oauth-client revoke", summary: "revoke an OAuth client; its tokens stop working on every API process at once",
			flags: connect(tenantFlag,
				stringFlag("client", "ID_OR_NAME", "client id or name", "", func(in *invocation) *string { return &in.clientRef }).need("")),
			run: runOAuthClient},

		{name: "tenant list", summary: "the tenants", flags: connect(jsonFlag), run: runAdmin},
		{name: "tenant show", summary: "one tenant (YAML, or JSON with --json)", flags: connect(tenantFlag, jsonFlag), run: runAdmin},
		{name: "tenant create", summary: "add a tenant from a file", flags: connect(tenantFileFlag, jsonFlag), run: runAdmin},
		{name: "tenant update", summary: "replace a tenant from a file", flags: connect(tenantFileFlag, jsonFlag), run: runAdmin},
		{name: "tenant disable", summary: "refuse a tenant's SCIM requests (it gets no store; running API processes see it within 2 s, their tenant cache)", flags: connect(tenantFlag, jsonFlag), run: runAdmin},
		{name: "tenant enable", summary: "undo tenant disable", flags: connect(tenantFlag, jsonFlag), run: runAdmin},
		{name: "tenant setup-link", summary: "a link to the tenant's setup page, for the customer's admin",
			doc: "The page walks the customer's IT admin through provisioning from Okta or Entra ID (keys,\n" +
				"steps, status). The link is signed with a key derived from secrets.key_file, opens this\n" +
				"tenant's page only and works until it expires or is revoked.",
			flags: connect(tenantFlag,
				stringFlag("ttl", "DURATION", "how long the link works (5m to 720h)", "24h", func(in *invocation) *string { return &in.linkTTL }),
				stringFlag("idp", "okta|entra|other", "preselect the identity provider (unset: the admin chooses)", "", func(in *invocation) *string { return &in.linkIdP }),
				jsonFlag),
			run: runSetupLink},
		{name: "tenant setup-link-revoke", summary: "revoke a setup link; the pages it opened close",
			flags: connect(tenantFlag,
				stringFlag("link", "ID", "the link id (printed with the link)", "", func(in *invocation) *string { return &in.linkID }).need("")),
			run: runSetupLink},

		{name: "status", summary: "a tenant's sync state: a summary, or the users or groups in a state",
			flags: connect(tenantFlag,
				stringFlag("state", "all|pending|failed", "list the resources in this state (unset: a summary)", "",
					func(in *invocation) *string { return &in.state }),
				stringFlag("kind", "users|groups", "with --state: users or groups", "users",
					func(in *invocation) *string { return &in.kind }),
				intFlag("offset", "N", "with --state: first row (0-based)", 0, func(in *invocation) *int { return &in.offset }),
				intFlag("count", "N", "with --state: rows", 100, func(in *invocation) *int { return &in.count }),
				jsonFlag),
			run: runAdmin},
		{name: "replay", summary: "re-apply the resources the store rejected", flags: connect(tenantFlag, jsonFlag), run: runAdmin},
		{name: "import", summary: "adopt everything in the store (a worker job)", flags: connect(tenantFlag, noWaitFlag, jsonFlag), run: runAdmin},
		{name: "drift", summary: "compare the ledger with the store (a worker job)",
			flags: connect(tenantFlag,
				boolFlag("repair", "re-apply the users that differ or are missing in the store", func(in *invocation) *bool { return &in.repair }),
				noWaitFlag, jsonFlag),
			run: runAdmin},
		{name: "preview", summary: "the fields a SCIM user maps to (nothing is written)", flags: connect(tenantFlag, userFileFlag, jsonFlag), run: runAdmin},
		{name: "job", summary: "an import or drift job's progress",
			flags: connect(stringFlag("id", "ID", "the job id", "", func(in *invocation) *string { return &in.jobID }).need(""), jsonFlag),
			run:   runAdmin},

		{name: "recover", summary: "rebuild a tenant's lost ledger from its store (disaster recovery)",
			doc: "Lists every user and group in the tenant's store and records each as applied, with the SCIM id\n" +
				"the store holds where the tenant maps \"id\" (the IdP sees no change). It says up front what the\n" +
				"IdP will see, refuses a tenant that keeps no ids without --new-ids, and a ledger that holds\n" +
				"resources a recover did not write without --merge. Safe to run again.",
			flags: connect(tenantFlag,
				boolFlag("dry-run", "count what would be recorded; write nothing", func(in *invocation) *bool { return &in.dryRun }),
				boolFlag("new-ids", "go on where the tenant does not map the SCIM id: those resources get new ids", func(in *invocation) *bool { return &in.newIDs }),
				boolFlag("merge", "add to a ledger that is not empty: only the store entries it does not know", func(in *invocation) *bool { return &in.merge }),
				jsonFlag),
			run: runRecover},
		{name: "backup", summary: "write a tenant's ledger to a file (versioned, checksummed, no secret in clear)",
			doc: "The file holds the tenant's users and groups as the ledger has them (desired and applied state,\n" +
				"memberships, pending changes; pending passwords stay sealed). API keys, OAuth clients and the\n" +
				"tenant's configuration are not in it. It holds personal data: keep it as you keep the database.",
			flags: connect(tenantFlag,
				stringFlag("out", "FILE", "the backup file to write (- for standard output)", "", func(in *invocation) *string { return &in.outFile }).need("(- for standard output)"),
				jsonFlag),
			run: runBackup},
		{name: "restore", summary: "load a tenant's ledger from a backup file, then converge the store",
			doc: "The whole file is checked (format, version, checksum, tenant) before anything is written. It\n" +
				"refuses a file of another tenant without --from-tenant, and a ledger that is not empty without\n" +
				"--overwrite (which replaces the tenant's users and groups). Afterwards resources that differ\n" +
				"from the store are marked pending, so the worker brings the store in line.",
			flags: connect(tenantFlag,
				stringFlag("in", "FILE", "the backup file to read", "", func(in *invocation) *string { return &in.inFile }).need(""),
				stringFlag("from-tenant", "T", "accept a backup of this other tenant", "", func(in *invocation) *string { return &in.fromTenant }),
				boolFlag("overwrite", "replace a ledger that is not empty", func(in *invocation) *bool { return &in.overwrite }),
				boolFlag("dry-run", "check the file and count its contents; write nothing", func(in *invocation) *bool { return &in.dryRun }),
				jsonFlag),
			run: runRestore},

		{name: "events list", summary: "a tenant's events feed, oldest first (then --after the next cursor)",
			doc: "With --types or --resource-id the events skipped are read past, at most 10 per event asked\n" +
				"for: the page can be short, or empty, before the feed's end. Continue with --after the cursor\n" +
				"printed last (\"next cursor\"; in --json, next_cursor).",
			flags: connect(tenantFlag,
				stringFlag("after", "CURSOR", "continue after this cursor (unset: the oldest kept)", "", func(in *invocation) *string { return &in.after }),
				intFlag("count", "N", "events (1 to 1000)", 100, func(in *invocation) *int { return &in.count }),
				stringFlag("types", "T1,T2", "only events of these types (comma-separated)", "", func(in *invocation) *string { return &in.types }),
				stringFlag("resource-id", "ID", "only events of this resource (its SCIM id)", "", func(in *invocation) *string { return &in.resource }),
				jsonFlag),
			run: runEvents},
		{name: "events replay", summary: "send events again to the webhook endpoints (one event, or a time range)",
			doc: "Give --event ID, or --from (and --to, default now) as RFC 3339 times. A replayed event keeps\n" +
				"its id (webhook-id), and is sent before the endpoint's newer events.",
			flags: connect(tenantFlag,
				stringFlag("event", "ID", "the event id (evt_...)", "", func(in *invocation) *string { return &in.eventID }),
				stringFlag("from", "TIME", "start of the range (RFC 3339)", "", func(in *invocation) *string { return &in.from }),
				stringFlag("to", "TIME", "end of the range (RFC 3339; unset: now)", "", func(in *invocation) *string { return &in.to }),
				endpointFlag(false), jsonFlag),
			run: runEvents},
		{name: "webhook create", summary: "new webhook endpoint (its signing secret is shown once)",
			doc: "The worker delivers each event the endpoint subscribes to, signed per Standard Webhooks\n" +
				"(webhook-id, webhook-timestamp, webhook-signature). Needs secrets.key_file (the secret is sealed).",
			flags: connect(tenantFlag,
				stringFlag("url", "URL", "the receiver (http or https)", "", func(in *invocation) *string { return &in.url }).need(""),
				typesFlag, jsonFlag),
			run: runWebhook},
		{name: "webhook list", summary: "a tenant's webhook endpoints (without their secrets)", flags: connect(tenantFlag, jsonFlag), run: runWebhook},
		{name: "webhook update", summary: "change an endpoint's URL, event types, or enable/disable it",
			flags: connect(tenantFlag, endpointFlag(true),
				stringFlag("url", "URL", "new receiver URL", "", func(in *invocation) *string { return &in.url }),
				typesFlag,
				stringFlag("enabled", "true|false", "enable or disable", "", func(in *invocation) *string { return &in.enabled }),
				jsonFlag),
			run: runWebhook},
		{name: "webhook delete", summary: "remove an endpoint and its delivery state", flags: connect(tenantFlag, endpointFlag(true)), run: runWebhook},
		{name: "webhook rotate", summary: "new signing secret (shown once); the old one signs too during --overlap",
			flags: connect(tenantFlag, endpointFlag(true),
				stringFlag("overlap", "DURATION", "how long the old secret keeps signing", "24h", func(in *invocation) *string { return &in.overlap }),
				jsonFlag),
			run: runWebhook},
		{name: "webhook deliveries", summary: "an endpoint's delivery log (attempts, status, latency, response)",
			flags: connect(tenantFlag, endpointFlag(true), jsonFlag), run: runWebhook},

		{name: "help", summary: "this text, or a command's usage", args: "[COMMAND]", run: runHelp},
	}
}

// usageError is a command line that is not valid. The command line's
// parser has printed it, with the usage, on stderr; the exit status is 2.
type usageError struct {
	cmd string // "" at the top level
	err error
}

func (e *usageError) Error() string {
	if e.cmd == "" {
		return "scimbridge: " + e.err.Error()
	}
	return "scimbridge " + e.cmd + ": " + e.err.Error()
}

func (e *usageError) Unwrap() error { return e.err }

// parseCommandLine finds the command of args and parses its flags. A
// command line asking for help (-h, --help) gets the usage on stdout and
// a nil command. A command line that is not valid gets the error and the
// usage on stderr, and a *usageError.
func parseCommandLine(args []string, stdout, stderr io.Writer) (*command, *invocation, error) {
	cmds := cliCommands()
	fail := func(cmd string, usage func(io.Writer), err error) (*command, *invocation, error) {
		ue := &usageError{cmd: cmd, err: err}
		fmt.Fprintf(stderr, "%s\n\n", ue)
		usage(stderr)
		return nil, nil, ue
	}
	top := func(w io.Writer) { writeUsage(w, cmds) }
	if len(args) == 0 {
		return fail("", top, errors.New("no command"))
	}
	if isHelpFlag(args[0]) {
		top(stdout)
		return nil, nil, nil
	}
	c, rest := lookupCommand(cmds, args)
	if c == nil {
		group := commandsOf(cmds, args[0])
		if len(group) == 0 {
			return fail("", top, fmt.Errorf("unknown command %q", args[0]))
		}
		gusage := func(w io.Writer) { writeGroupUsage(w, args[0], group) }
		switch {
		case len(args) > 1 && isHelpFlag(args[1]):
			gusage(stdout)
			return nil, nil, nil
		case len(args) == 1 || strings.HasPrefix(args[1], "-"):
			return fail(args[0], gusage, fmt.Errorf("want a command: %s", subcommandWords(group)))
		}
		return fail(args[0], gusage, fmt.Errorf("unknown command %q (want %s)", args[1], subcommandWords(group)))
	}

	in := &invocation{name: c.name, stdout: stdout, stderr: stderr}
	cusage := func(w io.Writer) { writeCommandUsage(w, c) }
	if c.name == "help" {
		in.helpFor = rest
		if n := len(rest); n > 0 && isHelpFlag(rest[n-1]) {
			in.helpFor = rest[:n-1] // help COMMAND --help
			if n == 1 {
				in.helpFor = []string{"help"} // help --help
			}
		}
		return c, in, nil
	}
	fs := newFlagSet(c, in)
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			cusage(stdout)
			return nil, nil, nil
		}
		return fail(c.name, cusage, err)
	}
	if fs.NArg() > 0 {
		return fail(c.name, cusage, fmt.Errorf("unexpected argument %q (flags start with --)", fs.Arg(0)))
	}
	for _, f := range c.flags {
		if f.required && fs.Lookup(f.name).Value.String() == "" {
			return fail(c.name, cusage, errors.New(strings.TrimSpace("--"+f.name+" is required "+f.hint)))
		}
	}
	return c, in, nil
}

// newFlagSet returns c's flag set, storing into in. It prints nothing: the
// caller reports errors and prints the usage.
func newFlagSet(c *command, in *invocation) *flag.FlagSet {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	for _, f := range c.flags {
		f.define(fs, in, f)
	}
	return fs
}

func isHelpFlag(s string) bool {
	switch s {
	case "-h", "-help", "--help", "--h":
		return true
	}
	return false
}

// lookupCommand returns the command args start with and the arguments
// after its name; nil when there is none.
func lookupCommand(cmds []command, args []string) (*command, []string) {
	for i := range cmds {
		words := strings.Fields(cmds[i].name)
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == cmds[i].name {
			return &cmds[i], args[len(words):]
		}
	}
	return nil, nil
}

// commandsOf returns the commands of a group ("key", "tenant").
func commandsOf(cmds []command, group string) []command {
	var out []command
	for _, c := range cmds {
		if strings.HasPrefix(c.name, group+" ") {
			out = append(out, c)
		}
	}
	return out
}

func subcommandWords(group []command) string {
	words := make([]string, len(group))
	for i, c := range group {
		words[i] = c.name[strings.IndexByte(c.name, ' ')+1:]
	}
	if len(words) == 1 {
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// The forms of a synopsis.
const (
	allFlags      = iota // every flag
	ownFlags             // all but the optional connection flags
	requiredFlags        // only the required flags
)

// synopsis is c's command line ("key create --tenant T --name NAME
// [--json]"): required flags as they are, the others in brackets, the
// connection flags last; form says which flags it shows.
func synopsis(c *command, form int) string {
	parts := []string{c.name}
	for _, f := range c.flags {
		switch {
		case f.required:
		case form == requiredFlags:
			continue
		case form == ownFlags && f.conn:
			continue
		}
		s := "--" + f.name
		if f.arg != "" {
			s += " " + f.arg
		}
		if !f.required {
			s = "[" + s + "]"
		}
		parts = append(parts, s)
	}
	if c.args != "" {
		parts = append(parts, c.args)
	}
	return strings.Join(parts, " ")
}

// writeUsage prints the top-level usage: every command with its required
// flags and its summary.
func writeUsage(w io.Writer, cmds []command) {
	fmt.Fprint(w, "scimbridge: SCIM 2.0 provisioning from Okta, Entra ID and others into existing user stores.\n\n"+
		"Usage (with the required flags; 'scimbridge help COMMAND' shows all of a command's flags):\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i := range cmds {
		fmt.Fprintf(tw, "  scimbridge %s\t%s\n", synopsis(&cmds[i], requiredFlags), cmds[i].summary)
	}
	tw.Flush()
	fmt.Fprint(w, `
Every command but help connects, and takes --config FILE (or SCIMBRIDGE_CONFIG) and
--data DIR (or SCIMBRIDGE_DATA). Without --config, serve and the admin commands use the
embedded default: an in-process Redis and a demo SQLite store under --data (./data),
for trying scimbridge out only. 'scimbridge COMMAND --help' is 'scimbridge help COMMAND'.
`)
}

// writeGroupUsage prints the usage of a group of commands ("key").
func writeGroupUsage(w io.Writer, group string, cmds []command) {
	fmt.Fprintf(w, "Usage:\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i := range cmds {
		fmt.Fprintf(tw, "  scimbridge %s\t%s\n", synopsis(&cmds[i], ownFlags), cmds[i].summary)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nEach takes --config FILE and --data DIR too. Run 'scimbridge help %s COMMAND'\n"+
		"(or 'scimbridge %s COMMAND --help') for a command's flags.\n", group, group)
}

// writeCommandUsage prints c's usage: its synopsis, what it does and its
// flags with their defaults.
func writeCommandUsage(w io.Writer, c *command) {
	fmt.Fprintf(w, "Usage:\n  scimbridge %s\n\n%s.\n", synopsis(c, allFlags), sentence(c.summary))
	if c.doc != "" {
		fmt.Fprintf(w, "%s\n", c.doc)
	}
	if len(c.flags) == 0 {
		return
	}
	fmt.Fprint(w, "\nFlags:\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, f := range c.flags {
		name := "--" + f.name
		if f.arg != "" {
			name += " " + f.arg
		}
		usage := f.usage
		switch {
		case f.required && f.env != "":
			usage += fmt.Sprintf(" (required, or $%s)", f.env)
		case f.required:
			usage += " (required)"
		case f.shown != "" && f.env != "":
			usage += fmt.Sprintf(" (default %s, or $%s)", f.shown, f.env)
		case f.shown != "":
			usage += fmt.Sprintf(" (default %s)", f.shown)
		case f.env != "":
			usage += fmt.Sprintf(" (default $%s)", f.env)
		}
		fmt.Fprintf(tw, "  %s\t%s\n", name, usage)
	}
	tw.Flush()
}

// sentence returns s with its first letter in upper case.
func sentence(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

// runHelp is `scimbridge help [COMMAND]`.
func runHelp(_ context.Context, in *invocation) error {
	cmds := cliCommands()
	if len(in.helpFor) == 0 {
		writeUsage(in.stdout, cmds)
		return nil
	}
	if c, rest := lookupCommand(cmds, in.helpFor); c != nil && len(rest) == 0 {
		writeCommandUsage(in.stdout, c)
		return nil
	}
	if len(in.helpFor) == 1 {
		if group := commandsOf(cmds, in.helpFor[0]); len(group) > 0 {
			writeGroupUsage(in.stdout, in.helpFor[0], group)
			return nil
		}
	}
	ue := &usageError{cmd: "help", err: fmt.Errorf("unknown command %q", strings.Join(in.helpFor, " "))}
	fmt.Fprintf(in.stderr, "%s\n\n", ue)
	writeUsage(in.stderr, cmds)
	return ue
}
