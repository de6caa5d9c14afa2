package sync

// Backup and restore of one tenant's ledger: a file the operator keeps.
//
// The file is JSON Lines: a header line, one line per user or group
// record (its ledger fields as they are, a group's members and pending
// membership changes), and an end line with the counts and the SHA-256 of
// every byte before it. It holds no secret in clear text: a pending
// password stays sealed (AES-GCM under secrets.key_file, bound to the
// tenant and the user's id), API keys, OAuth clients and the tenant's
// configuration are not in it. It does hold the users' attributes
// (personal data): keep it as carefully as the database.
//
// The checksum catches a truncated, corrupted or hand-edited file; it is
// not a signature (whoever can write the file can recompute it), so keep
// backups where only operators can write.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/queue"
)

// Backup file format.
const (
	BackupFormat  = "scimbridge-ledger-backup"
	BackupVersion = 1
)

// ErrBadBackup: the backup file is not one restore can use (not a backup,
// a later version, truncated, its checksum does not match, malformed
// records). Nothing was written.
var ErrBadBackup = errors.New("bad backup file")

// ErrRestoreRefused: the file is good but restore will not load it as
// asked (another tenant's file, a ledger that is not empty). Nothing was
// written.
var ErrRestoreRefused = errors.New("restore refused")

// maxBackupLine bounds one line of a backup file (a group with very many
// members is one line).
const maxBackupLine = 256 << 20

// backupLine is one line of the file.
type backupLine struct {
	T string `json:"t"` // header, user, group, end

	// header
	Format  string    `json:"format,omitempty"`
	Version int       `json:"version,omitempty"`
	Tenant  string    `json:"tenant,omitempty"`
	Created time.Time `json:"created,omitzero"`

	// user, group
	ID      string            `json:"id,omitempty"`
	Fields  map[string]string `json:"f,omitempty"`
	Members []string          `json:"m,omitempty"`
	Pending map[string]string `json:"p,omitempty"`
	// Journal is the resource's event journal (its last event sequence
	// number, transitions not yet turned into events).
	Journal map[string]string `json:"j,omitempty"`

	// end
	Users  *int   `json:"users,omitempty"`
	Groups *int   `json:"groups,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
}

// BackupReport says what a backup wrote.
type BackupReport struct {
	Tenant string `json:"tenant"`
	Users  int    `json:"users"`
	Groups int    `json:"groups"`
	// SealedPasswords counts pending passwords written (sealed).
	SealedPasswords int    `json:"sealed_passwords"`
	SHA256          string `json:"sha256"`
}

// Backup writes the tenant's ledger to w. Records are read a batch at a
// time (the ledger is never held whole); writes that land during the
// backup may or may not be in it, each record as of one moment.
func (a *Admin) Backup(ctx context.Context, tenant string, w io.Writer) (*BackupReport, error) {
	if _, err := a.Tenants.Get(ctx, tenant); err != nil {
		return nil, err
	}
	sum := sha256.New()
	bw := bufio.NewWriter(io.MultiWriter(w, sum))
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	rep := &BackupReport{Tenant: tenant}
	if err := enc.Encode(backupLine{T: "header", Format: BackupFormat, Version: BackupVersion, Tenant: tenant, Created: a.Ledger.now().UTC()}); err != nil {
		return nil, err
	}
	for _, k := range []keys{userKeys(tenant), groupKeys(tenant)} {
		err := a.Ledger.eachRecord(ctx, k, func(recs []backupRecord) error {
			for _, r := range recs {
				line := backupLine{T: "user", ID: r.id, Fields: r.fields, Journal: r.journal}
				if k.kind == "g" {
					line.T, line.Members, line.Pending = "group", r.members, r.pending
					rep.Groups++
				} else {
					rep.Users++
				}
				if r.fields["pw"] != "" {
					rep.SealedPasswords++
				}
				if err := enc.Encode(line); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	rep.SHA256 = hex.EncodeToString(sum.Sum(nil))
	end := json.NewEncoder(w)
	if err := end.Encode(backupLine{T: "end", Users: &rep.Users, Groups: &rep.Groups, SHA256: rep.SHA256}); err != nil {
		return nil, err
	}
	return rep, nil
}

// RestoreOptions say what restore may do.
type RestoreOptions struct {
	// FromTenant accepts a file of this other tenant.
	FromTenant string
	// Overwrite replaces a ledger that is not empty.
	Overwrite bool
	// DryRun checks the file and counts it; nothing is written.
	DryRun bool
}

// RestoreReport says what a restore found and did.
type RestoreReport struct {
	Tenant     string    `json:"tenant"`
	FileTenant string    `json:"file_tenant"`
	Created    time.Time `json:"created"`
	DryRun     bool      `json:"dry_run"`
	Users      int       `json:"users"`
	Groups     int       `json:"groups"`
	// Replaced: the ledger held resources and --overwrite replaced them
	// (in a dry run: would replace them).
	Replaced bool `json:"replaced"`
	// Refusal, in a dry run, is why the restore as asked would be refused
	// ("" when it would run).
	Refusal string `json:"refusal,omitempty"`
	// PasswordsDropped: pending passwords this deployment cannot open
	// (another secrets.key_file, another tenant): left out, so the user is
	// restored without a pending password change.
	PasswordsDropped int `json:"passwords_dropped"`
	// Converge: the users that differ from or are missing in the store
	// (re-applied), and the groups re-applied with their membership
	// differences made pending.
	UsersReapplied  int `json:"users_reapplied"`
	GroupsReapplied int `json:"groups_reapplied"`
	// ConvergeError is why the store could not be compared after the
	// ledger was restored ("" when it was): the pending resources of the
	// file still converge; run drift --repair once the store answers.
	ConvergeError string `json:"converge_error,omitempty"`
}

// Restore loads a backup into the tenant's ledger. open is called twice:
// the whole file is checked first (format, version, checksum, tenant,
// every record), and only then, if it is good and the ledger may take it,
// read again and written. Afterwards the store is compared with the
// restored ledger and what differs is marked pending (see RestoreReport).
func (a *Admin) Restore(ctx context.Context, tenant string, open func() (io.ReadCloser, error), opts RestoreOptions) (*RestoreReport, error) {
	t, err := a.Tenants.Get(ctx, tenant)
	if err != nil {
		return nil, err
	}
	rep := &RestoreReport{Tenant: tenant, DryRun: opts.DryRun}
	if err := readBackup(open, rep, nil); err != nil {
		return rep, err
	}
	if rep.FileTenant != tenant && rep.FileTenant != opts.FromTenant {
		return rep, fmt.Errorf("sync: restore %s: %w: the file is a backup of tenant %q (give --from-tenant %s to load it into %s)",
			tenant, ErrRestoreRefused, rep.FileTenant, rep.FileTenant, tenant)
	}
	contents, err := a.Ledger.Contents(ctx, tenant)
	if err != nil {
		return rep, err
	}
	if !contents.Empty {
		rep.Replaced = true
		if !opts.Overwrite {
			rep.Refusal = fmt.Sprintf("the ledger is not empty (%d live users and %d live groups, deleted ones not counted); give --overwrite to replace them with the file's",
				contents.Users, contents.Groups)
			if !opts.DryRun {
				return rep, fmt.Errorf("sync: restore %s: %w: %s", tenant, ErrRestoreRefused, rep.Refusal)
			}
		}
	}
	if opts.DryRun {
		return rep, nil
	}
	if rep.Replaced {
		if err := a.Ledger.clearLedger(ctx, tenant); err != nil {
			return rep, err
		}
	}
	uk, gk := userKeys(tenant), groupKeys(tenant)
	var users, groups []backupRecord
	flush := func() error {
		if err := a.Ledger.writeRecords(ctx, uk, users); err != nil {
			return err
		}
		if err := a.Ledger.writeRecords(ctx, gk, groups); err != nil {
			return err
		}
		users, groups = users[:0], groups[:0]
		return nil
	}
	err = readBackup(open, &RestoreReport{}, func(l *backupLine) error {
		r := backupRecord{id: l.ID, fields: l.Fields, members: l.Members, pending: l.Pending, journal: l.Journal}
		if pw := r.fields["pw"]; pw != "" && !a.canOpen(pw, tenant, r.id) {
			delete(r.fields, "pw")
			delete(r.fields, "pwv")
			rep.PasswordsDropped++
		}
		if l.T == "group" {
			groups = append(groups, r)
		} else {
			users = append(users, r)
		}
		if len(users)+len(groups) >= backupBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return rep, fmt.Errorf("sync: restore %s: writing the ledger: %w (run restore again with --overwrite)", tenant, err)
	}
	if err := a.converge(ctx, tenant, t.Store.Groups, rep); err != nil {
		rep.ConvergeError = err.Error()
	}
	return rep, nil
}

// canOpen reports whether this deployment can open a sealed password of
// the user (the same key, the same tenant and id).
func (a *Admin) canOpen(sealed, tenant, id string) bool {
	if a.Ledger.sealer == nil {
		return false
	}
	_, err := a.Ledger.sealer.Open(sealed, tenant+"/"+id)
	return err == nil
}

// converge compares the restored ledger with the store and marks what
// differs pending: users through the drift check with repair (differing
// and missing users re-applied), groups here: a live group whose store
// entry's mapped attributes or members differ, or whose entry is missing,
// is re-applied with the membership differences made pending.
func (a *Admin) converge(ctx context.Context, tenant string, mapping *adapters.GroupMapping, rep *RestoreReport) error {
	drift, err := a.CheckDrift(ctx, tenant, true, nil)
	if err != nil {
		return err
	}
	rep.UsersReapplied = drift.Repaired
	if mapping == nil {
		return nil
	}
	gm, err := adapters.NewGroupMapper(*mapping)
	if err != nil {
		return err
	}
	st, err := a.Service.Stores.Store(ctx, tenant)
	if err != nil {
		return err
	}
	gs, ok := st.(adapters.GroupStore)
	if !ok {
		return fmt.Errorf("%w: the store does not support groups", adapters.ErrConfig)
	}
	salt := "restore-" + randomHex(6)
	reapply := func(r *Record, adds, removes []string) error {
		v, err := a.Ledger.regroup(ctx, tenant, r.ID, adds, removes)
		if err != nil || v == 0 {
			return err
		}
		rep.GroupsReapplied++
		p := queue.Reconcile{Tenant: tenant, Kind: queue.KindGroup, ID: r.ID, Version: v}
		if err := a.Enqueuer.Enqueue(ctx, queue.QueueProvision, p, salt); err != nil {
			a.logger().WarnContext(ctx, "restore: enqueue failed; the sweeper will pick the group up", "tenant", tenant, "id", r.ID, "err", err)
		}
		return nil
	}
	listed := map[string]bool{} // ledger group ids whose entry the store listed
	cursor := ""
	for {
		entries, next, err := gs.ListGroups(ctx, cursor, scanBatch)
		if err != nil {
			return err
		}
		anchors := make([]string, len(entries))
		for i, e := range entries {
			anchors[i] = e.Anchor
		}
		owners, err := a.Ledger.knownGroupOwners(ctx, tenant, anchors)
		if err != nil {
			return err
		}
		ids := make([]string, 0, len(owners))
		for _, id := range owners {
			ids = append(ids, id)
		}
		recs, err := a.Ledger.groupsByIDs(ctx, tenant, ids, false)
		if err != nil {
			return err
		}
		byID := make(map[string]*Record, len(recs))
		for _, r := range recs {
			byID[r.ID] = r
		}
		for _, e := range entries {
			r := byID[owners[e.Anchor]]
			if r == nil || r.Anchor != e.Anchor {
				continue // not the ledger's, or a tombstone's
			}
			listed[r.ID] = true
			adds, removes, err := a.memberDiff(ctx, tenant, gs, r)
			if err != nil {
				return err
			}
			if len(adds) == 0 && len(removes) == 0 && sameGroupFields(gm, r, e) {
				continue
			}
			if err := reapply(r, adds, removes); err != nil {
				return err
			}
		}
		if next == "" || len(entries) == 0 {
			break
		}
		cursor = next
	}
	total, err := a.Ledger.CountGroups(ctx, tenant)
	if err != nil {
		return err
	}
	for off := 0; off < total; off += scanBatch {
		ids, err := a.Ledger.GroupIDs(ctx, tenant, off, scanBatch)
		if err != nil {
			return err
		}
		recs, err := a.Ledger.groupsByIDs(ctx, tenant, ids, false)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if listed[r.ID] || r.Anchor == "" {
				continue // compared, or never applied (pending already)
			}
			members, err := a.Ledger.GroupMembers(ctx, tenant, r.ID)
			if err != nil {
				return err
			}
			if err := reapply(r, members, nil); err != nil { // the entry is missing: all of it again
				return err
			}
		}
	}
	return nil
}

// sameGroupFields reports whether the store entry's mapped fields are what
// the ledger's group maps to.
func sameGroupFields(m *adapters.GroupMapper, r *Record, e adapters.GroupEntry) bool {
	want, err := m.Fields(adapters.Group{ID: r.ID, Anchor: r.Anchor, Attrs: r.Attrs})
	if err != nil {
		return false
	}
	got, err := m.Fields(adapters.Group{ID: e.ID, Anchor: e.Anchor, Attrs: e.Attrs})
	if err != nil {
		return false
	}
	for f, w := range want {
		ws, _ := adapters.StoredString(w)
		gs, _ := adapters.StoredString(got[f])
		if ws != gs {
			return false
		}
	}
	return true
}

// memberDiff compares a group's desired members with its store entry's:
// the users to add (in the ledger, not in the store) and to remove (in the
// store and known to the ledger, not desired).
func (a *Admin) memberDiff(ctx context.Context, tenant string, gs adapters.GroupStore, r *Record) (adds, removes []string, err error) {
	stored, _, err := a.storeMembers(ctx, tenant, gs, r.Anchor)
	if err != nil {
		return nil, nil, err
	}
	desired, err := a.Ledger.GroupMembers(ctx, tenant, r.ID)
	if err != nil {
		return nil, nil, err
	}
	in := make(map[string]bool, len(stored))
	for _, id := range stored {
		in[id] = true
	}
	want := make(map[string]bool, len(desired))
	for _, id := range desired {
		want[id] = true
		if !in[id] {
			adds = append(adds, id)
		}
	}
	for _, id := range stored {
		if !want[id] {
			removes = append(removes, id)
		}
	}
	return adds, removes, nil
}

// readBackup reads the whole file, checking it as it goes: the header
// first, then every record, then the end line's counts and checksum.
// Records go to each (nil: only checked) as they are read; rep gets the
// header and the counts. Any problem is ErrBadBackup with the line.
func readBackup(open func() (io.ReadCloser, error), rep *RestoreReport, each func(*backupLine) error) error {
	rc, err := open()
	if err != nil {
		return err
	}
	defer rc.Close()
	br := bufio.NewReaderSize(rc, 1<<16)
	sum := sha256.New()
	bad := func(n int, format string, args ...any) error {
		return fmt.Errorf("sync: restore: %w: line %d: %s; nothing was written", ErrBadBackup, n, fmt.Sprintf(format, args...))
	}
	seen := map[string]bool{}
	names := map[string]string{}
	for n := 1; ; n++ {
		raw, err := readLine(br)
		if errors.Is(err, io.EOF) && len(raw) == 0 {
			if n == 1 {
				return bad(n, "the file is empty")
			}
			return bad(n, "the file ends without its end line (truncated?)")
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return bad(n, "%v", err)
		}
		var l backupLine
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			if n == 1 {
				return bad(n, "not a scimbridge ledger backup (%v)", err)
			}
			return bad(n, "not a record (%v)", err)
		}
		switch {
		case n == 1:
			if l.T != "header" || l.Format != BackupFormat {
				return bad(n, "not a scimbridge ledger backup (want the format %q)", BackupFormat)
			}
			if l.Version < 1 || l.Version > BackupVersion {
				return bad(n, "format version %d; this scimbridge reads version %d", l.Version, BackupVersion)
			}
			if l.Tenant == "" {
				return bad(n, "the header names no tenant")
			}
			rep.FileTenant, rep.Created = l.Tenant, l.Created
		case l.T == "user" || l.T == "group":
			if err := checkBackupRecord(&l, seen, names); err != nil {
				return bad(n, "%s %q: %v", l.T, l.ID, err)
			}
			if l.T == "user" {
				rep.Users++
			} else {
				rep.Groups++
			}
		case l.T == "end":
			got := hex.EncodeToString(sum.Sum(nil))
			switch {
			case l.Users == nil || l.Groups == nil || *l.Users != rep.Users || *l.Groups != rep.Groups:
				return bad(n, "the end line's counts do not match the file's %d users and %d groups (truncated or edited)", rep.Users, rep.Groups)
			case l.SHA256 != got:
				return bad(n, "the checksum does not match: the file was changed after it was written (or is corrupt)")
			}
			if rest, _ := readLine(br); len(bytes.TrimSpace(rest)) > 0 {
				return bad(n+1, "data after the end line")
			}
			return nil
		default:
			return bad(n, "unknown line type %q", l.T)
		}
		sum.Write(raw)
		sum.Write([]byte{'\n'})
		if each != nil && n > 1 {
			if err := each(&l); err != nil {
				return err
			}
		}
	}
}

// readLine reads one line without its newline, at most maxBackupLine.
func readLine(br *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		part, isPrefix, err := br.ReadLine()
		buf = append(buf, part...)
		if len(buf) > maxBackupLine {
			return nil, fmt.Errorf("a line longer than %d bytes", maxBackupLine)
		}
		if err != nil || !isPrefix {
			return buf, err
		}
	}
}

// checkBackupRecord checks what restore relies on in a record: an id seen
// once, numeric versions and counters, a document that is a JSON object,
// live userNames (displayNames) and live store anchors unique, membership
// changes well formed.
func checkBackupRecord(l *backupLine, seen map[string]bool, names map[string]string) error {
	if !usableID(l.ID) {
		return errors.New("not a usable id")
	}
	if seen[l.T+"/"+l.ID] {
		return errors.New("the id appears twice")
	}
	seen[l.T+"/"+l.ID] = true
	f := l.Fields
	if f == nil {
		return errors.New("no fields")
	}
	for _, name := range []string{"v", "av", "seq", "created", "mod", "failv", "pwv"} {
		if v, ok := f[name]; ok && v != "" {
			if _, err := strconv.ParseInt(v, 10, 64); err != nil {
				return fmt.Errorf("field %s is not a number", name)
			}
		}
	}
	if f["v"] == "" {
		return errors.New("no version")
	}
	if d := f["doc"]; d != "" {
		var m map[string]any
		if err := json.Unmarshal([]byte(d), &m); err != nil {
			return errors.New("its document is not a JSON object")
		}
	}
	if a := f["anchor"]; a != "" && f["del"] != "1" {
		// A deleted resource may share its entry with a live one (the IdP
		// created it again and the apply matched the same row): only live
		// ones must not.
		key := l.T + "/anchor/" + a
		if other, ok := names[key]; ok {
			return fmt.Errorf("its store anchor %q is also %s's", a, other)
		}
		names[key] = l.ID
	}
	if f["del"] != "1" {
		if f["un"] == "" {
			return errors.New("a live resource without its name index value")
		}
		key := l.T + "/" + f["un"]
		if other, ok := names[key]; ok {
			return fmt.Errorf("its name %q is also %s's", f["un"], other)
		}
		names[key] = l.ID
	}
	if l.T == "user" && (l.Members != nil || l.Pending != nil) {
		return errors.New("a user with group members")
	}
	for u, c := range l.Pending {
		if u == "" || len(c) < 2 || (c[0] != '+' && c[0] != '-') {
			return fmt.Errorf("membership change %q of %q is malformed", c, u)
		}
		if _, err := strconv.ParseInt(c[1:], 10, 64); err != nil {
			return fmt.Errorf("membership change %q of %q is malformed", c, u)
		}
	}
	return nil
}
