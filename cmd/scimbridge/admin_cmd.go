package main

// The operator side of the process: the admin token, the admin API and
// console wiring, and the admin subcommands (tenant, status, replay,
// import, drift, preview, job), which connect like `key` does and call the
// same sync.Admin the admin API calls.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gin-gonic/gin"
	"go.yaml.in/yaml/v3"

	"github.com/scimbridge/scimbridge/api/admin"
	"github.com/scimbridge/scimbridge/queue"
	syncsvc "github.com/scimbridge/scimbridge/sync"
	"github.com/scimbridge/scimbridge/tenants"
)

// AdminConfig says where the operator token of the admin API, the console
// and the queue dashboard comes from. Neither set: they are off.
type AdminConfig struct {
	// TokenEnv names an environment variable holding the token.
	TokenEnv string `yaml:"token_env"`
	// TokenFile is a file holding the token (a mounted secret).
	TokenFile string `yaml:"token_file"`
}

// minAdminTokenLen is the shortest operator token accepted.
const minAdminTokenLen = 20

// token returns the operator token, "" when none is configured.
func (c AdminConfig) token() (string, error) {
	switch {
	case c.TokenEnv != "" && c.TokenFile != "":
		return "", errors.New("admin: set token_env or token_file, not both")
	case c.TokenEnv != "":
		v := strings.TrimSpace(os.Getenv(c.TokenEnv))
		if v == "" {
			return "", fmt.Errorf("admin.token_env: environment variable %s is empty", c.TokenEnv)
		}
		return checkAdminToken("admin.token_env", v)
	case c.TokenFile != "":
		b, err := os.ReadFile(c.TokenFile)
		if err != nil {
			return "", fmt.Errorf("admin.token_file: %w", err)
		}
		return checkAdminToken("admin.token_file", strings.TrimSpace(string(b)))
	}
	return "", nil
}

func checkAdminToken(where, tok string) (string, error) {
	if len(tok) < minAdminTokenLen {
		return "", fmt.Errorf("%s: the token has %d characters, want at least %d (e.g. openssl rand -hex 32)", where, len(tok), minAdminTokenLen)
	}
	return tok, nil
}

// validate reports the problems of the admin section.
func (c AdminConfig) validate() []error {
	if _, err := c.token(); err != nil {
		return []error{err}
	}
	return nil
}

// operator returns the admin operations on the app's services.
func (a *app) operator() *syncsvc.Admin {
	return &syncsvc.Admin{Ledger: a.ledger, Service: a.service, Enqueuer: a.enqueuer,
		Tenants: a.registry, Logger: a.log,
		InlineDriftLimit: inlineDriftLimit}
}

// adminHandler returns the admin API and console, nil when no operator
// token is configured (they are then off: 404). It authenticates with the
// app's one admin.Operator (operatorGuard), shared with /metrics and
// /monitoring.
func (a *app) adminHandler() *admin.Handler {
	if _, err := a.cfg.Admin.token(); err != nil {
		a.log.Error("admin API and console are off", "err", err)
		return nil
	}
	op := a.operatorGuard()
	if op == nil {
		a.log.Info("admin API and console are off: no operator token configured (admin.token_env or admin.token_file)")
		return nil
	}
	h, err := admin.New(admin.Config{PublicURL: a.cfg.PublicURL, Logger: a.log},
		admin.Deps{Operator: op, Tenants: a.registry, Keys: a.keys, Admin: a.operator(), OAuth: a.oauth, SetupLinks: a.setupLinks(), Webhooks: a.webhooks})
	if err != nil {
		a.log.Error("admin API and console are off", "err", err)
		return nil
	}
	return h
}

// mountAdmin adds the admin API and the console to the router when an
// operator token is configured.
func (a *app) mountAdmin(r *gin.Engine) {
	if h := a.adminHandler(); h != nil {
		h.Mount(r)
		a.log.Info("admin API at /admin/v1 and operator console at /console")
	}
}

// runAdmin runs one admin command (tenant ..., status, replay, import,
// drift, preview, job); cli.go has parsed and checked its flags.
func runAdmin(ctx context.Context, in *invocation) error {
	name, stdout, stderr, tenant := in.name, in.stdout, in.stderr, in.tenant
	a, cleanup, err := adminApp(ctx, in.common)
	if err != nil {
		return err
	}
	defer cleanup()
	op := a.operator()
	out := cliOutput{w: stdout, json: in.json}

	switch name {
	case "tenant list":
		list, err := a.registry.List(ctx)
		if err != nil {
			return err
		}
		if out.json {
			return out.encode(list)
		}
		tw := out.table("ID\tNAME\tSTORE\tSTATUS\tCREATED")
		for _, t := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", printable(t.ID), printable(t.Name), printable(t.Store.Kind), enabledWord(t.Disabled), t.Created.Format(time.RFC3339))
		}
		return tw.Flush()
	case "tenant show":
		t, err := a.registry.Get(ctx, tenant)
		if err != nil {
			return err
		}
		if out.json {
			return out.encode(t)
		}
		return yaml.NewEncoder(stdout).Encode(t)
	case "tenant create", "tenant update":
		t, err := readTenantFile(in.file)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		_, getErr := a.registry.Get(ctx, t.ID)
		switch {
		case name == "tenant create" && getErr == nil:
			return fmt.Errorf("tenant create: tenant %q: %w (use tenant update)", t.ID, tenants.ErrExists)
		case name == "tenant update" && getErr != nil:
			return fmt.Errorf("tenant update: %w", getErr)
		case getErr != nil && !errors.Is(getErr, tenants.ErrNotFound):
			return getErr
		}
		if err := a.registry.Put(ctx, *t); err != nil {
			return err
		}
		return out.done(map[string]any{"tenant": t.ID, "result": strings.TrimPrefix(name, "tenant ") + "d"},
			"%sd tenant %s\n", strings.TrimPrefix(name, "tenant "), printable(t.ID))
	case "tenant disable", "tenant enable":
		f := a.registry.Enable
		if name == "tenant disable" {
			f = a.registry.Disable
		}
		if err := f(ctx, tenant); err != nil {
			return err
		}
		verb := strings.TrimPrefix(name, "tenant ")
		return out.done(map[string]any{"tenant": tenant, "result": verb + "d"}, "%sd tenant %s\n", verb, printable(tenant))
	case "status":
		return cliStatus(ctx, op, out, tenant, in.kind, in.state, in.offset, in.count)
	case "replay":
		res, err := op.Replay(ctx, tenant)
		if err != nil {
			return err
		}
		return out.done(res, "replay requested for %d failed user(s) and %d failed group(s) of %s\n", res.Users, res.Groups, printable(tenant))
	case "import":
		j, err := op.StartImport(ctx, tenant)
		if err != nil {
			return err
		}
		return followJob(ctx, op, out, stderr, j, in.noWait)
	case "drift":
		if _, err := a.registry.Get(ctx, tenant); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "checking %s against its store...\n", printable(tenant))
		j, err := op.StartDrift(ctx, tenant, in.repair)
		if err != nil {
			return err
		}
		return followJob(ctx, op, out, stderr, j, in.noWait)
	case "job":
		j, err := op.Job(ctx, in.jobID)
		if err != nil {
			return err
		}
		return followJob(ctx, op, out, stderr, j, true)
	case "preview":
		body, err := readInput(in.file)
		if err != nil {
			return fmt.Errorf("preview: %w", err)
		}
		t, err := a.registry.Get(ctx, tenant)
		if err != nil {
			return err
		}
		p, err := t.PreviewUser(body)
		if err != nil {
			return err
		}
		if out.json {
			return out.encode(p)
		}
		where := "store " + printable(p.Kind)
		if p.Table != "" {
			where = fmt.Sprintf("table %s (key %s)", printable(p.Table), printable(p.Key))
		}
		fmt.Fprintf(stdout, "Tenant %s, %s: nothing is written by a preview.\n", printable(p.Tenant), where)
		tw := out.table("FIELD\tVALUE")
		for _, f := range sortedKeys(p.Fields) {
			v := "(null)"
			if p.Fields[f] != nil {
				v = fmt.Sprint(p.Fields[f])
			}
			fmt.Fprintf(tw, "%s\t%s\n", printable(f), printable(v))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if p.Password != "" {
			fmt.Fprintf(stdout, "password: %s\n", printable(p.Password))
		}
		if len(p.Unmapped) > 0 {
			fmt.Fprintf(stdout, "not mapped (not written): %s\n", printableList(p.Unmapped))
		}
		return nil
	}
	return fmt.Errorf("unknown command %q", name)
}

// cliOutput prints human text or JSON.
type cliOutput struct {
	w    io.Writer
	json bool
}

func (o cliOutput) encode(v any) error {
	enc := json.NewEncoder(o.w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// done prints v as JSON, or the formatted human line.
func (o cliOutput) done(v any, format string, args ...any) error {
	if o.json {
		return o.encode(v)
	}
	_, err := fmt.Fprintf(o.w, format, args...)
	return err
}

func (o cliOutput) table(header string) *tabwriter.Writer {
	tw := tabwriter.NewWriter(o.w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	return tw
}

func enabledWord(disabled bool) string {
	if disabled {
		return "disabled"
	}
	return "enabled"
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// readInput reads a file, or standard input for "-".
func readInput(path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
	}
	return os.ReadFile(path)
}

// readTenantFile reads one tenant (YAML, or JSON, which YAML reads too);
// unknown keys are errors.
func readTenantFile(path string) (*tenants.Tenant, error) {
	b, err := readInput(path)
	if err != nil {
		return nil, err
	}
	var t tenants.Tenant
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if t.ID == "" {
		return nil, fmt.Errorf("%s: the tenant has no id", path)
	}
	return &t, nil
}

func cliStatus(ctx context.Context, op *syncsvc.Admin, out cliOutput, tenant, kind, state string, offset, count int) error {
	if state == "" {
		s, err := op.Summary(ctx, tenant)
		if err != nil {
			return err
		}
		if out.json {
			return out.encode(s)
		}
		fmt.Fprintf(out.w, "tenant %s\nusers:  %d (%d pending, %d failed)\ngroups: %d (%d pending, %d failed)\n",
			printable(tenant), s.Users, s.PendingUsers, s.FailedUsers, s.Groups, s.PendingGroups, s.FailedGroups)
		if !s.OldestPending.IsZero() {
			fmt.Fprintf(out.w, "oldest pending user since %s\n", s.OldestPending.Format(time.RFC3339))
		}
		return nil
	}
	k := queue.KindUser
	switch kind {
	case "users", "user":
	case "groups", "group":
		k = queue.KindGroup
	default:
		return fmt.Errorf("status: --kind %q: want users or groups", kind)
	}
	page, err := op.Statuses(ctx, tenant, k, state, offset, count)
	if err != nil {
		return err
	}
	if out.json {
		return out.encode(page)
	}
	tw := out.table("ID\tNAME\tVERSION\tAPPLIED\tSTATE\tREASON")
	for _, r := range page.Resources {
		st := r.State
		if r.Replayed {
			st += " (replayed)"
		}
		if r.Deleted {
			st += " (deleted)"
		}
		reason := r.Failure
		if reason == "" && r.WaitsFor != "" {
			reason = "its store entry is user " + r.WaitsFor + "'s until that user's change is applied"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\n", printable(r.ID), printable(r.Name), r.Version, r.Applied, printable(st), printable(reason))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out.w, "%d of %d %s %s\n", len(page.Resources), page.Total, printable(state), printable(kind))
	return nil
}

// followJob shows a job's progress on stderr until it is done (unless
// noWait), then its result on stdout.
func followJob(ctx context.Context, op *syncsvc.Admin, out cliOutput, stderr io.Writer, j *syncsvc.JobStatus, noWait bool) error {
	last, start, hinted := "", time.Now(), false
	for !j.Done && !noWait {
		line := progressLine(j)
		if line != last {
			fmt.Fprintln(stderr, line)
			last = line
		}
		if j.State == syncsvc.JobQueued && !hinted && time.Since(start) > 5*time.Second {
			fmt.Fprintln(stderr, "still queued: is a worker running (scimbridge worker, or serve)?")
			hinted = true
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped waiting; the job goes on: scimbridge job --id %s", j.ID)
		case <-time.After(300 * time.Millisecond):
		}
		var err error
		if j, err = op.Job(ctx, j.ID); err != nil {
			return err
		}
	}
	if out.json {
		if err := out.encode(j); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(out.w, progressLine(j))
		if j.Report != nil {
			printDrift(out.w, j.Report)
		}
	}
	if j.State == syncsvc.JobFailed {
		return fmt.Errorf("job %s failed: %s", printable(j.ID), printable(j.Error))
	}
	return nil
}

func progressLine(j *syncsvc.JobStatus) string {
	switch j.Kind {
	case syncsvc.JobDrift:
		return fmt.Sprintf("drift job %s: %s; %d store entries seen, %d users checked, %d differences", printable(j.ID), printable(string(j.State)), j.Seen, j.Checked, j.Differences)
	}
	s := fmt.Sprintf("import job %s: %s; %d store entries seen, %d users adopted", printable(j.ID), printable(string(j.State)), j.Seen, j.Adopted)
	if j.GroupsAdopted > 0 {
		s += fmt.Sprintf(", %d groups adopted", j.GroupsAdopted)
	}
	return s
}

func printDrift(w io.Writer, r *syncsvc.DriftReport) {
	fmt.Fprintf(w, "%d differing, %d missing from the store, %d in the store unknown to the ledger; %d skipped (pending or failed)",
		r.FieldDrifts, r.Missing, r.Unknown, r.Skipped)
	if r.Repair {
		fmt.Fprintf(w, "; %d re-enqueued for repair", r.Repaired)
	}
	fmt.Fprintln(w)
	if len(r.Differences) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tUSERNAME\tID\tANCHOR\tFIELDS (ledger → store)")
	for _, d := range r.Differences {
		var fields []string
		for _, f := range d.Fields {
			fields = append(fields, fmt.Sprintf("%s: %s → %s", printable(f.Field), strconv.Quote(f.Ledger), strconv.Quote(f.Store)))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", printable(string(d.Kind)), printable(d.UserName), printable(d.ID), printable(d.Anchor), strings.Join(fields, "; "))
	}
	tw.Flush()
	if r.Truncated {
		fmt.Fprintln(w, "(only the first 1000 differences are listed)")
	}
}
