package main

// Disaster recovery commands: recover (a tenant's lost ledger rebuilt from
// its store), backup and restore (a tenant's ledger to a file and back).
// They connect like the admin commands and call sync.Admin.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	syncsvc "github.com/scimbridge/scimbridge/sync"
)

// runRecover is `scimbridge recover`.
func runRecover(ctx context.Context, in *invocation) error {
	a, cleanup, err := adminApp(ctx, in.common)
	if err != nil {
		return err
	}
	defer cleanup()
	op := a.operator()
	out := cliOutput{w: in.stdout, json: in.json}
	opts := syncsvc.RecoverOptions{DryRun: in.dryRun, NewIDs: in.newIDs, Merge: in.merge}

	// Up front, before the store is read: what the IdP will see, and
	// whether it runs at all.
	plan, err := op.PlanRecover(ctx, in.tenant, opts)
	if err != nil {
		return err
	}
	if !in.json {
		fmt.Fprintf(in.stderr, "recover %s:\n", printable(in.tenant))
		for _, n := range plan.Notes {
			fmt.Fprintf(in.stderr, "  - %s\n", printable(n))
		}
	}
	if plan.Refusal != "" {
		if out.json {
			_ = out.encode(plan)
		}
		return fmt.Errorf("recover %s refused: %s", printable(in.tenant), printable(plan.Refusal))
	}
	rep, err := op.Recover(ctx, in.tenant, opts, func(kind string, c syncsvc.RecoverCounts) {
		switch {
		case in.json:
		case in.dryRun:
			fmt.Fprintf(in.stderr, "  %s: %d store entries seen\n", kindWord(kind), c.Seen)
		default:
			fmt.Fprintf(in.stderr, "  %s: %d store entries seen, %d recorded\n", kindWord(kind), c.Seen, c.Recovered)
		}
	})
	if err != nil {
		if rep != nil && !errors.Is(err, syncsvc.ErrRecoverRefused) {
			printRecover(in.stdout, rep)
			return fmt.Errorf("recover %s stopped (run it again: it skips what it recorded): %w", printable(in.tenant), err)
		}
		return err
	}
	if out.json {
		if err := out.encode(rep); err != nil {
			return err
		}
	} else {
		printRecover(in.stdout, rep)
	}
	if plan.WouldRefuse != "" { // a script can tell: the dry run's exit status is the real run's
		return fmt.Errorf("recover %s: without --dry-run it would be refused: %s", printable(in.tenant), printable(plan.WouldRefuse))
	}
	return nil
}

func kindWord(kind string) string {
	if kind == "Group" {
		return "groups"
	}
	return "users"
}

func printRecover(w io.Writer, r *syncsvc.RecoverReport) {
	verb := "recorded"
	if r.DryRun {
		verb = "would be recorded"
		fmt.Fprintln(w, "dry run: nothing was written")
	}
	fmt.Fprintf(w, "tenant %s (%s)\n", printable(r.Tenant), printable(recoverMode(r)))
	line := func(what string, c syncsvc.RecoverCounts) {
		fmt.Fprintf(w, "%s: %d in the store, %d already in the ledger, %d %s (%d with their old id, %d with a new id), %d conflicts\n",
			what, c.Seen, c.Known, c.Recovered, verb, c.OldIDs, c.NewIDs, c.Conflicts)
	}
	line("users", r.Users)
	if r.GroupsInStore {
		line("groups", r.Groups)
		if !r.DryRun {
			fmt.Fprintf(w, "memberships: %d recorded, %d store members that are not recorded users left out\n", r.Members, r.MembersUnknown)
		}
	}
	for _, c := range r.Conflicts {
		fmt.Fprintf(w, "  not recorded: %s %s (anchor %s, id %s): %s\n", printable(c.Kind), printable(c.Name), printable(c.Anchor), printable(c.ID), printable(c.Reason))
	}
	if r.Truncated {
		fmt.Fprintln(w, "  (only the first 100 conflicts are listed)")
	}
}

func recoverMode(r *syncsvc.RecoverReport) string {
	switch r.Mode {
	case "empty":
		return "the ledger was empty"
	case "resume":
		return "resumed: the ledger holds what an earlier recover recorded"
	case "merge":
		return "merged into a ledger that was not empty"
	}
	return r.Mode
}

// runBackup is `scimbridge backup`. The file is written next to its name
// and renamed into place once complete, so a failed backup leaves no
// half-written file under that name.
func runBackup(ctx context.Context, in *invocation) error {
	a, cleanup, err := adminApp(ctx, in.common)
	if err != nil {
		return err
	}
	defer cleanup()
	op := a.operator()
	out := cliOutput{w: in.stdout, json: in.json}
	if in.outFile == "-" {
		if in.json {
			return errors.New("backup: --json needs --out FILE (the backup itself goes to standard output)")
		}
		rep, err := op.Backup(ctx, in.tenant, in.stdout)
		if err != nil {
			return err
		}
		fmt.Fprintf(in.stderr, "backup of %s: %d users, %d groups, sha256 %s\n", printable(rep.Tenant), rep.Users, rep.Groups, rep.SHA256)
		return nil
	}
	f, err := os.CreateTemp(filepath.Dir(in.outFile), "."+filepath.Base(in.outFile)+".*")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // gone after the rename; removes a failed one
	rep, err := op.Backup(ctx, in.tenant, f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, in.outFile)
	}
	if err != nil {
		return fmt.Errorf("backup %s: %w", printable(in.tenant), err)
	}
	return out.done(map[string]any{"tenant": rep.Tenant, "file": in.outFile, "users": rep.Users, "groups": rep.Groups,
		"sealed_passwords": rep.SealedPasswords, "sha256": rep.SHA256},
		"backup of %s written to %s: %d users, %d groups (%d pending passwords, sealed), sha256 %s\n",
		printable(rep.Tenant), printable(in.outFile), rep.Users, rep.Groups, rep.SealedPasswords, rep.SHA256)
}

// runRestore is `scimbridge restore`.
func runRestore(ctx context.Context, in *invocation) error {
	a, cleanup, err := adminApp(ctx, in.common)
	if err != nil {
		return err
	}
	defer cleanup()
	op := a.operator()
	out := cliOutput{w: in.stdout, json: in.json}
	open := func() (io.ReadCloser, error) { return os.Open(in.inFile) }
	rep, err := op.Restore(ctx, in.tenant, open, syncsvc.RestoreOptions{FromTenant: in.fromTenant, Overwrite: in.overwrite, DryRun: in.dryRun})
	if err != nil {
		return fmt.Errorf("restore %s from %s: %w", printable(in.tenant), printable(in.inFile), err)
	}
	if out.json {
		return out.encode(rep)
	}
	fmt.Fprintf(in.stdout, "backup of %s taken %s: %d users, %d groups\n", printable(rep.FileTenant), rep.Created.Format("2006-01-02T15:04:05Z07:00"), rep.Users, rep.Groups)
	if rep.DryRun {
		switch {
		case rep.Refusal != "":
			fmt.Fprintln(in.stdout, "dry run: the file is good, but this restore would be refused; nothing was written")
			return fmt.Errorf("restore %s: without --dry-run it would be refused: %s", printable(in.tenant), printable(rep.Refusal))
		case rep.Replaced:
			fmt.Fprintln(in.stdout, "dry run: the file is good and would replace the ledger's current users and groups (--overwrite); nothing was written")
		default:
			fmt.Fprintln(in.stdout, "dry run: the file is good and would fill the empty ledger; nothing was written")
		}
		return nil
	}
	if rep.Replaced {
		fmt.Fprintln(in.stdout, "the ledger's previous users and groups were replaced")
	}
	if rep.PasswordsDropped > 0 {
		fmt.Fprintf(in.stdout, "%d pending password(s) left out: this deployment cannot open them (another secrets.key_file or tenant)\n", rep.PasswordsDropped)
	}
	if rep.ConvergeError != "" {
		fmt.Fprintf(in.stdout, "the store could not be compared (%s): run scimbridge drift --repair --tenant %s once it answers\n", printable(rep.ConvergeError), printable(rep.Tenant))
		return nil
	}
	fmt.Fprintf(in.stdout, "compared with the store: %d users and %d groups re-applied so the store converges\n", rep.UsersReapplied, rep.GroupsReapplied)
	return nil
}
