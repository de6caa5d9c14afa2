package main

// Tests of the command line's parsing (cli.go). None of them connects:
// every command line here is either help or refused by the parser, which
// runs before anything is opened (a *usageError says so).

import (
	"bytes"
	"errors"
	"os/exec"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/internal/testsupport"
)

// isolateCLI clears the environment the flags read their defaults from.
func isolateCLI(t *testing.T) {
	t.Setenv("SCIMBRIDGE_CONFIG", "")
	t.Setenv("SCIMBRIDGE_DATA", t.TempDir())
}

// runCLI runs a command line and returns its stdout, stderr and error.
func runCLI(args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	err := run(args, &out, &errOut)
	return out.String(), errOut.String(), err
}

// mustRefuse runs a command line the parser must refuse and returns the
// error's text and stderr.
func mustRefuse(t *testing.T, args ...string) (string, string) {
	t.Helper()
	out, errOut, err := runCLI(args...)
	var ue *usageError
	if !errors.As(err, &ue) {
		t.Fatalf("%q: want a usage error, got %v\nstderr:\n%s", args, err, errOut)
	}
	if out != "" {
		t.Errorf("%q: a refused command line printed on stdout:\n%s", args, out)
	}
	if !strings.HasPrefix(errOut, err.Error()+"\n\n") {
		t.Errorf("%q: stderr does not start with the error %q:\n%s", args, err, errOut)
	}
	return err.Error(), errOut
}

// allFlagNames is every flag name of the table.
func allFlagNames() []string {
	seen := map[string]bool{}
	for _, c := range cliCommands() {
		for _, f := range c.flags {
			seen[f.name] = true
		}
	}
	var names []string
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func takes(c command, flagName string) bool {
	for _, f := range c.flags {
		if f.name == flagName {
			return true
		}
	}
	return false
}

// validArgs returns a command line of c with its required flags set.
func validArgs(c command, without string) []string {
	args := strings.Fields(c.name)
	for _, f := range c.flags {
		if f.required && f.name != without {
			args = append(args, "--"+f.name, "x")
		}
	}
	return args
}

func TestCLIHelpOfEveryCommand(t *testing.T) {
	isolateCLI(t)
	for _, c := range cliCommands() {
		t.Run(c.name, func(t *testing.T) {
			words := strings.Fields(c.name)
			want, errOut, err := runCLI(append([]string{"help"}, words...)...)
			if err != nil || errOut != "" {
				t.Fatalf("help %s: %v\n%s", c.name, err, errOut)
			}
			if !strings.HasPrefix(want, "Usage:\n  scimbridge "+c.name) {
				t.Fatalf("help %s does not start with its usage:\n%s", c.name, want)
			}
			for _, f := range c.flags {
				if !strings.Contains(want, "\n  --"+f.name) {
					t.Errorf("help %s does not list --%s:\n%s", c.name, f.name, want)
				}
			}
			for _, h := range []string{"--help", "-h", "-help"} {
				out, errOut, err := runCLI(append(words, h)...)
				if err != nil || errOut != "" || out != want {
					t.Errorf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", c.name, h, err, out, errOut)
				}
			}
		})
	}
}

func TestCLIRefusesFlagsACommandDoesNotTake(t *testing.T) {
	isolateCLI(t)
	names := append(allFlagNames(), "bogus")
	for _, c := range cliCommands() {
		if c.name == "help" {
			continue // its arguments are a command's name
		}
		for _, n := range names {
			if takes(c, n) {
				continue
			}
			msg, errOut := mustRefuse(t, append(validArgs(c, ""), "--"+n)...)
			if want := "scimbridge " + c.name + ": flag provided but not defined: -" + n; msg != want {
				t.Errorf("%s --%s: %q, want %q", c.name, n, msg, want)
			}
			if !strings.Contains(errOut, "Usage:\n  scimbridge "+c.name+" ") {
				t.Errorf("%s --%s: stderr has not the command's usage:\n%s", c.name, n, errOut)
			}
		}
	}
}

func TestCLITenantListRepairIsRefused(t *testing.T) {
	isolateCLI(t)
	msg, errOut := mustRefuse(t, "tenant", "list", "--repair")
	if msg != "scimbridge tenant list: flag provided but not defined: -repair" {
		t.Fatalf("tenant list --repair: %q", msg)
	}
	if !strings.Contains(errOut, "scimbridge tenant list [--json] [--config FILE] [--data DIR]\n") {
		t.Fatalf("tenant list --repair: stderr:\n%s", errOut)
	}
}

func TestCLIRequiredFlagsAreNamed(t *testing.T) {
	isolateCLI(t)
	n := 0
	for _, c := range cliCommands() {
		for _, f := range c.flags {
			if !f.required {
				continue
			}
			n++
			msg, _ := mustRefuse(t, validArgs(c, f.name)...)
			if want := "scimbridge " + c.name + ": --" + f.name + " is required"; !strings.HasPrefix(msg, want) {
				t.Errorf("%s without --%s: %q, want %q...", c.name, f.name, msg, want)
			}
			// An empty value is no value.
			if f.arg != "" {
				msg, _ := mustRefuse(t, append(validArgs(c, f.name), "--"+f.name, "")...)
				if !strings.Contains(msg, "--"+f.name+" is required") {
					t.Errorf("%s --%s '': %q", c.name, f.name, msg)
				}
			}
		}
	}
	if n < 18 {
		t.Fatalf("only %d required flags in the table", n)
	}
	// The ones people meet first, spelled out.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"status"}, "scimbridge status: --tenant is required"},
		{[]string{"key", "create", "--tenant", "acme"}, "scimbridge key create: --name is required"},
		{[]string{"key", "revoke", "--tenant", "acme"}, "scimbridge key revoke: --key is required"},
		{[]string{"tenant", "create"}, "scimbridge tenant create: --file is required (- for standard input)"},
		{[]string{"preview", "--tenant", "acme"}, "scimbridge preview: --file is required (- for standard input)"},
		{[]string{"job"}, "scimbridge job: --id is required"},
		{[]string{"api"}, "scimbridge api: --config is required (or SCIMBRIDGE_CONFIG; the embedded default runs only with serve)"},
		{[]string{"worker", "--data", "d"}, "scimbridge worker: --config is required (or SCIMBRIDGE_CONFIG; the embedded default runs only with serve)"},
	} {
		if msg, _ := mustRefuse(t, tc.args...); msg != tc.want {
			t.Errorf("%q: %q, want %q", tc.args, msg, tc.want)
		}
	}
}

func TestCLIRefusesOtherMistakes(t *testing.T) {
	isolateCLI(t)
	for _, tc := range []struct {
		args []string
		want string
		// usage is how the usage on stderr starts.
		usage string
	}{
		{nil, "scimbridge: no command", "scimbridge: SCIM 2.0"},
		{[]string{"nope"}, `scimbridge: unknown command "nope"`, "scimbridge: SCIM 2.0"},
		{[]string{"--tenant", "x"}, `scimbridge: unknown command "--tenant"`, "scimbridge: SCIM 2.0"},
		{[]string{"tenant"}, "scimbridge tenant: want a command: list, show, create, update, disable, enable, setup-link or setup-link-revoke", "Usage:\n  scimbridge tenant list "},
		{[]string{"tenant", "--json"}, "scimbridge tenant: want a command: list, show, create, update, disable, enable, setup-link or setup-link-revoke", "Usage:\n  scimbridge tenant list "},
		{[]string{"tenant", "delete", "--tenant", "x"}, `scimbridge tenant: unknown command "delete" (want list, show, create, update, disable, enable, setup-link or setup-link-revoke)`, "Usage:\n  scimbridge tenant list "},
		{[]string{"key"}, "scimbridge key: want a command: create, list or revoke", "Usage:\n  scimbridge key create "},
		{[]string{"key", "rotate"}, `scimbridge key: unknown command "rotate" (want create, list or revoke)`, "Usage:\n  scimbridge key create "},
		{[]string{"help", "nope"}, `scimbridge help: unknown command "nope"`, "scimbridge: SCIM 2.0"},
		{[]string{"help", "tenant", "delete"}, `scimbridge help: unknown command "tenant delete"`, "scimbridge: SCIM 2.0"},
		{[]string{"serve", "extra"}, `scimbridge serve: unexpected argument "extra" (flags start with --)`, "Usage:\n  scimbridge serve "},
		{[]string{"tenant", "show", "acme"}, `scimbridge tenant show: unexpected argument "acme" (flags start with --)`, "Usage:\n  scimbridge tenant show "},
		{[]string{"status", "--tenant", "acme", "--count", "many"}, `scimbridge status: invalid value "many" for flag -count: parse error`, "Usage:\n  scimbridge status "},
		{[]string{"drift", "--tenant"}, "scimbridge drift: flag needs an argument: -tenant", "Usage:\n  scimbridge drift "},
	} {
		msg, errOut := mustRefuse(t, tc.args...)
		if msg != tc.want {
			t.Errorf("%q: %q, want %q", tc.args, msg, tc.want)
		}
		if !strings.HasPrefix(strings.TrimPrefix(errOut, msg+"\n\n"), tc.usage) {
			t.Errorf("%q: the usage on stderr does not start with %q:\n%s", tc.args, tc.usage, errOut)
		}
	}
}

// TestCLIParsesValidCommandLines pins what valid command lines mean: the
// command and the values its function gets.
func TestCLIParsesValidCommandLines(t *testing.T) {
	isolateCLI(t)
	t.Setenv("SCIMBRIDGE_DATA", "")
	def := commonFlags{data: "data"}
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want invocation
	}{
		{args: []string{"serve"}, want: invocation{name: "serve", common: def}},
		{args: []string{"serve", "--data", "/tmp/d"}, want: invocation{name: "serve", common: commonFlags{data: "/tmp/d"}}},
		{args: []string{"serve"}, env: map[string]string{"SCIMBRIDGE_DATA": "/srv/d", "SCIMBRIDGE_CONFIG": "/etc/c.yaml"},
			want: invocation{name: "serve", common: commonFlags{config: "/etc/c.yaml", data: "/srv/d"}}},
		{args: []string{"api", "--config", "c.yaml"}, want: invocation{name: "api", common: commonFlags{config: "c.yaml", data: "data"}}},
		{args: []string{"worker"}, env: map[string]string{"SCIMBRIDGE_CONFIG": "/etc/c.yaml"},
			want: invocation{name: "worker", common: commonFlags{config: "/etc/c.yaml", data: "data"}}},
		{args: []string{"worker", "-config=c.yaml"}, want: invocation{name: "worker", common: commonFlags{config: "c.yaml", data: "data"}}},
		{args: []string{"key", "create", "--tenant", "acme", "--name", "okta", "--json", "--config", "c.yaml"},
			want: invocation{name: "key create", tenant: "acme", keyName: "okta", json: true, common: commonFlags{config: "c.yaml", data: "data"}}},
		{args: []string{"key", "list", "--tenant", "acme"}, want: invocation{name: "key list", tenant: "acme", common: def}},
		{args: []string{"key", "revoke", "--tenant", "acme", "--key", "okta"}, want: invocation{name: "key revoke", tenant: "acme", keyRef: "okta", common: def}},
		{args: []string{"tenant", "list", "--json"}, want: invocation{name: "tenant list", json: true, common: def}},
		{args: []string{"tenant", "show", "--tenant", "acme"}, want: invocation{name: "tenant show", tenant: "acme", common: def}},
		{args: []string{"tenant", "create", "--file", "-"}, want: invocation{name: "tenant create", file: "-", common: def}},
		{args: []string{"tenant", "update", "--file", "t.yaml", "--json"}, want: invocation{name: "tenant update", file: "t.yaml", json: true, common: def}},
		{args: []string{"tenant", "disable", "--tenant", "acme"}, want: invocation{name: "tenant disable", tenant: "acme", common: def}},
		{args: []string{"tenant", "enable", "--tenant", "acme", "--json"}, want: invocation{name: "tenant enable", tenant: "acme", json: true, common: def}},
		{args: []string{"status", "--tenant", "acme"}, want: invocation{name: "status", tenant: "acme", kind: "users", count: 100, common: def}},
		{args: []string{"status", "--tenant", "acme", "--state", "failed", "--kind", "groups", "--offset", "5", "--count", "7", "--json"},
			want: invocation{name: "status", tenant: "acme", state: "failed", kind: "groups", offset: 5, count: 7, json: true, common: def}},
		{args: []string{"replay", "--tenant", "acme"}, want: invocation{name: "replay", tenant: "acme", common: def}},
		{args: []string{"import", "--tenant", "acme", "--no-wait", "--json"}, want: invocation{name: "import", tenant: "acme", noWait: true, json: true, common: def}},
		{args: []string{"drift", "--tenant", "acme", "--repair", "--no-wait"}, want: invocation{name: "drift", tenant: "acme", repair: true, noWait: true, common: def}},
		{args: []string{"preview", "--tenant", "acme", "--file", "u.json"}, want: invocation{name: "preview", tenant: "acme", file: "u.json", common: def}},
		{args: []string{"job", "--id", "acme.01", "--json", "--data", "d"}, want: invocation{name: "job", jobID: "acme.01", json: true, common: commonFlags{data: "d"}}},
		{args: []string{"help"}, want: invocation{name: "help", helpFor: []string{}}},
		{args: []string{"help", "key", "create"}, want: invocation{name: "help", helpFor: []string{"key", "create"}}},
	} {
		for k, v := range tc.env {
			t.Setenv(k, v)
		}
		var out, errOut bytes.Buffer
		c, in, err := parseCommandLine(tc.args, &out, &errOut)
		for k := range tc.env {
			t.Setenv(k, "")
		}
		if err != nil || c == nil {
			t.Errorf("%q: %v %v\n%s", tc.args, c, err, errOut.String())
			continue
		}
		if out.Len()+errOut.Len() > 0 {
			t.Errorf("%q: the parser printed %q %q", tc.args, out.String(), errOut.String())
		}
		if c.name != tc.want.name || c.run == nil {
			t.Errorf("%q: command %q", tc.args, c.name)
		}
		in.stdout, in.stderr = nil, nil
		if !reflect.DeepEqual(*in, tc.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", tc.args, *in, tc.want)
		}
	}
}

// TestUsageIsTheTable checks the generated usage against the table it is
// generated from, and the claims the top-level text makes about it.
func TestUsageIsTheTable(t *testing.T) {
	isolateCLI(t)
	top, errOut, err := runCLI("help")
	if err != nil || errOut != "" {
		t.Fatalf("help: %v %s", err, errOut)
	}
	for _, h := range []string{"-h", "--help", "-help"} {
		if out, _, err := runCLI(h); err != nil || out != top {
			t.Errorf("scimbridge %s is not scimbridge help: %v\n%s", h, err, out)
		}
	}
	groups := map[string][]string{}
	cmds := cliCommands()
	for i := range cmds {
		c := cmds[i]
		line := "  scimbridge " + synopsis(&c, requiredFlags)
		if !strings.Contains(top, line+" ") || !strings.Contains(top, c.summary+"\n") {
			t.Errorf("the usage does not list %q (%s):\n%s", line, c.summary, top)
		}
		// "Every command but help connects, and takes --config FILE ... and --data DIR".
		if connects := takes(c, "config") && takes(c, "data"); connects != (c.name != "help") {
			t.Errorf("%s: takes --config and --data: %v", c.name, connects)
		}
		if c.run == nil || c.summary == "" {
			t.Errorf("%s: no function or no summary", c.name)
		}
		if g, sub, ok := strings.Cut(c.name, " "); ok {
			groups[g] = append(groups[g], sub)
		}
		seen := map[string]bool{}
		for _, f := range c.flags {
			if seen[f.name] {
				t.Errorf("%s: --%s twice", c.name, f.name)
			}
			seen[f.name] = true
		}
	}
	if !reflect.DeepEqual(groups, map[string][]string{
		"key":          {"create", "list", "revoke"},
		"oauth-client": {"create", "list", "revoke"},
		"tenant":       {"list", "show", "create", "update", "disable", "enable", "setup-link", "setup-link-revoke"},
		"events":       {"list", "replay"},
		"webhook":      {"create", "list", "update", "delete", "rotate", "deliveries"},
	}) {
		t.Errorf("groups: %v", groups)
	}
	for g, subs := range groups {
		out, errOut, err := runCLI(g, "--help")
		if err != nil || errOut != "" {
			t.Fatalf("%s --help: %v %s", g, err, errOut)
		}
		if help, _, _ := runCLI("help", g); help != out {
			t.Errorf("help %s is not %s --help:\n%s", g, g, help)
		}
		for _, s := range subs {
			if !strings.Contains(out, "  scimbridge "+g+" "+s+" ") {
				t.Errorf("%s --help does not list %s:\n%s", g, s, out)
			}
		}
	}
}

// TestCLIExitStatus runs the binary: help exits 0 with the usage on
// stdout, a refused command line exits 2 with the error and the usage on
// stderr only.
func TestCLIExitStatus(t *testing.T) {
	isolateCLI(t)
	bin := testsupport.ScimbridgeBinary(t)
	for _, tc := range []struct {
		args       []string
		status     int
		stdout     string // how stdout starts
		stderrLine string // stderr's first line
	}{
		{[]string{"help"}, 0, "scimbridge: SCIM 2.0", ""},
		{[]string{"drift", "--help"}, 0, "Usage:\n  scimbridge drift --tenant T [--repair]", ""},
		{[]string{"help", "tenant", "list"}, 0, "Usage:\n  scimbridge tenant list [--json]", ""},
		{[]string{"tenant", "list", "--repair"}, 2, "", "scimbridge tenant list: flag provided but not defined: -repair"},
		{[]string{"status"}, 2, "", "scimbridge status: --tenant is required"},
		{[]string{"nope"}, 2, "", `scimbridge: unknown command "nope"`},
		{nil, 2, "", "scimbridge: no command"},
	} {
		var out, errOut bytes.Buffer
		cmd := exec.Command(bin, tc.args...)
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		status := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			status = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		first, _, _ := strings.Cut(errOut.String(), "\n")
		if status != tc.status || !strings.HasPrefix(out.String(), tc.stdout) || (tc.stdout == "") != (out.Len() == 0) || first != tc.stderrLine {
			t.Errorf("%q: exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", tc.args, status, tc.status, out.String(), errOut.String())
		}
	}
}
