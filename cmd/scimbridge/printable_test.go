package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/internal/testsupport"
)

func TestPrintable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"jane@example.com", "jane@example.com"},
		{"Zoë O'Brien 张伟 😀", "Zoë O'Brien 张伟 😀"},
		{`CORP\jane`, `CORP\jane`},
		{"", ""},
		{"a b", "a b"},
		{"a\x1b[2Jb", `"a\x1b[2Jb"`},
		{"\x1b]0;owned\x07", `"\x1b]0;owned\a"`},
		{"line1\r\nline2", `"line1\r\nline2"`},
		{"a\tb", `"a\tb"`},
		{"a\x7f", `"a\x7f"`},
		{"a\u009b2J", `"a\u009b2J"`},
		{"admin\u202egnp.exe", `"admin\u202egnp.exe"`},
		{"a\u200bb", `"a\u200bb"`},
		{"a\u00a0b", `"a\u00a0b"`},
		{"bad\xffutf8", `"bad\xffutf8"`},
		{`"quoted"`, `"\"quoted\""`},
		{`C:\x1b`, `C:\x1b`}, // a raw backslash sequence stays raw: only a quoted value holds escapes
	} {
		if got := printable(tc.in); got != tc.want {
			t.Errorf("printable(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
	if got := printableLines("config: 2 problems:\n  tenant \"a\x1b\"\n  x"); got != "config: 2 problems:\n  tenant \"a\\x1b\"\n  x" && !strings.Contains(got, `\x1b`) {
		t.Errorf("printableLines: %q", got)
	}
}

// Issue 17, point 4: what the admin subcommands print from the ledger, a
// store or the tenant registry reaches the terminal escaped: a userName
// adopted from a store (which SCIM's own checks never saw), a tenant's
// name from the configuration.
func TestAdminCommandsEscapeWhatTheyPrint(t *testing.T) {
	redisAddr := testsupport.RedisDB(t, e2eRedisDB)
	ten, db := adminSQLiteTenant(t, "cli-escape")
	ten.Name = "Evil \x1b]0;owned\x07 corp"
	cfg := testConfig(t, redisAddr, ten)
	cfgPath := writeAdminConfig(t, redisAddr, cfg)
	startTestServer(t, cfg, serverOptions{}) // the worker that runs import jobs
	run2 := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := run(append(args, "--config", cfgPath), &out, &errOut); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, errOut.String())
		}
		return out.String() + errOut.String()
	}
	if _, err := db.Exec(`INSERT INTO users (username, family_name) VALUES (?, 'X')`, "mallory\x1b[2J\x1b[1;1H\rroot"); err != nil {
		t.Fatal(err)
	}
	// Key names are refused with control characters (tenants.KeyStore);
	// the list goes through printable all the same.
	run2("key", "create", "--tenant", "cli-escape", "--name", "okta prod")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"tenant", "list"}, `"Evil \x1b]0;owned\a corp"`},
		{[]string{"key", "list", "--tenant", "cli-escape"}, "okta prod"},
		{[]string{"import", "--tenant", "cli-escape"}, "1 users adopted"},
		{[]string{"status", "--tenant", "cli-escape", "--state", "all"}, `"mallory\x1b[2J\x1b[1;1H\rroot"`},
		{[]string{"drift", "--tenant", "cli-escape"}, "0 differing"},
	} {
		out := run2(tc.args...)
		if !strings.Contains(out, tc.want) {
			t.Errorf("%v: %q does not show %s", tc.args, out, tc.want)
		}
		if strings.ContainsAny(out, "\x1b\x07\r") {
			t.Errorf("%v: raw control characters reach the terminal: %q", tc.args, out)
		}
	}
}
