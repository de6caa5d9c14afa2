package sync

// Disaster recovery from the store: when a tenant's Redis data is gone (a
// lost volume, an old snapshot restored), its store still holds the users
// and groups. Recover lists them through the adapters contract, a page at
// a time, and records each as applied desired state, with the SCIM id the
// store holds where the tenant maps "id" to a field. The ledger writes are
// adoptions (ledger_recover.go), so the uniqueness rules of a create hold.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/scimbridge/scimbridge/adapters"
)

// ErrRecoverRefused: recover will not run as asked (the tenant keeps no
// ids and --new-ids was not given, or the ledger is not empty and --merge
// was not given); RecoverPlan.Refusal says why.
var ErrRecoverRefused = errors.New("recover refused")

// maxRecoverConflicts bounds the conflicts a report lists (all are counted).
const maxRecoverConflicts = 100

// RecoverOptions say how far a recover may go.
type RecoverOptions struct {
	// DryRun lists the store and counts what would be recorded; nothing is
	// written.
	DryRun bool `json:"dry_run"`
	// NewIDs goes on where the tenant does not map the SCIM id: those
	// resources get new ids (the IdP sees them change).
	NewIDs bool `json:"new_ids"`
	// Merge adds to a ledger that already holds resources a recover did
	// not write: only store entries whose anchor the ledger does not know.
	Merge bool `json:"merge"`
}

// RecoverPlan is what a recover of a tenant will do, known before it
// reads the store: what the IdP will see, and whether it runs at all.
type RecoverPlan struct {
	Tenant string `json:"tenant"`
	// UserIDsKept / GroupIDsKept: the tenant maps the SCIM id of users /
	// groups to a store field, so recovered resources get their old ids.
	UserIDsKept  bool `json:"user_ids_kept"`
	GroupIDsKept bool `json:"group_ids_kept"`
	// GroupsInStore: the tenant maps groups to its store (otherwise they
	// live in the ledger only and cannot be recovered from the store).
	GroupsInStore bool `json:"groups_in_store"`
	// Ledger is what the ledger holds now.
	Ledger LedgerContents `json:"ledger"`
	// Mode: "empty" (a lost ledger), "resume" (a ledger an earlier recover
	// wrote: re-running skips what it recorded), "merge" (a ledger with
	// resources of its own, --merge given) or "" when refused.
	Mode string `json:"mode,omitempty"`
	// Notes say what the operator and the IdP will see.
	Notes []string `json:"notes"`
	// Refusal is why the recover does not run ("" when it does).
	Refusal string `json:"refusal,omitempty"`
	// WouldRefuse, for a dry run, is why the real run would not run.
	WouldRefuse string `json:"would_refuse,omitempty"`
}

// RecoverCounts are the store entries of one kind a recover went through.
type RecoverCounts struct {
	// Seen: entries listed. Known: their anchor is in the ledger already
	// (skipped). Recovered: recorded (with their old id: OldIDs; with a
	// new one: NewIDs). Conflicts: not recorded (see RecoverConflict).
	Seen      int `json:"seen"`
	Known     int `json:"known"`
	Recovered int `json:"recovered"`
	OldIDs    int `json:"old_ids"`
	NewIDs    int `json:"new_ids"`
	Conflicts int `json:"conflicts"`
}

// RecoverConflict is a store entry a recover did not record.
type RecoverConflict struct {
	Kind   string `json:"kind"`
	Anchor string `json:"anchor"`
	ID     string `json:"id,omitempty"`
	Name   string `json:"name,omitempty"`
	Reason string `json:"reason"`
}

// RecoverReport is the result of a recover (or of its dry run).
type RecoverReport struct {
	RecoverPlan
	DryRun bool          `json:"dry_run"`
	Users  RecoverCounts `json:"users"`
	Groups RecoverCounts `json:"groups"`
	// Members counts the memberships recorded; MembersUnknown the store
	// members that are not users the ledger knows (left out). A dry run
	// does not count them (its users are not recorded).
	Members        int               `json:"members"`
	MembersUnknown int               `json:"members_unknown"`
	Conflicts      []RecoverConflict `json:"conflicts"`
	Truncated      bool              `json:"conflicts_truncated,omitempty"`
}

func (r *RecoverReport) conflict(c RecoverConflict) {
	if c.Kind == "Group" {
		r.Groups.Conflicts++
	} else {
		r.Users.Conflicts++
	}
	if len(r.Conflicts) < maxRecoverConflicts {
		r.Conflicts = append(r.Conflicts, c)
	} else {
		r.Truncated = true
	}
}

// RecoverProgress is called after each page of store entries.
type RecoverProgress func(kind string, c RecoverCounts)

// PlanRecover says what a recover of tenant with opts will do, without
// reading the store or writing anything.
func (a *Admin) PlanRecover(ctx context.Context, tenant string, opts RecoverOptions) (*RecoverPlan, error) {
	t, err := a.Tenants.Get(ctx, tenant)
	if err != nil {
		return nil, err
	}
	contents, err := a.Ledger.Contents(ctx, tenant)
	if err != nil {
		return nil, err
	}
	p := &RecoverPlan{Tenant: tenant, Ledger: *contents, Notes: []string{},
		UserIDsKept: t.Store.Users.MapsID(), GroupsInStore: t.Store.Groups != nil}
	if p.GroupsInStore {
		p.GroupIDsKept = t.Store.Groups.MapsID()
	}
	var refuse []string
	const idpNewIDs = "the IdP will see new ids: Okta re-matches its users by userName on its next import " +
		"(Import Users) and pushes groups again by name (Push Groups); Entra ID matches by its matching " +
		"attribute (userName by default) on its next cycle"
	if p.UserIDsKept {
		p.Notes = append(p.Notes, "users get back the SCIM id their store entry holds (the id mapping); "+
			"an entry whose id field is empty (adopted and never written since) gets a new id")
	} else {
		p.Notes = append(p.Notes, "the tenant does not map the SCIM id of users to a store field: recovered users get new ids; "+idpNewIDs)
		if !opts.NewIDs {
			refuse = append(refuse, "users would get new ids (give --new-ids to go on, or map \"id\" in the tenant's users mapping first)")
		}
	}
	switch {
	case !p.GroupsInStore:
		p.Notes = append(p.Notes, "the tenant's groups live in the ledger only (no groups mapping): recover cannot rebuild them; "+
			"restore them from a backup (scimbridge restore) or let the IdP push them again")
	case p.GroupIDsKept:
		p.Notes = append(p.Notes, "groups get back their SCIM id and their members (the users the recover records)")
	default:
		p.Notes = append(p.Notes, "the tenant does not map the SCIM id of groups: recovered groups get new ids; "+idpNewIDs)
		if !opts.NewIDs {
			refuse = append(refuse, "groups would get new ids (give --new-ids to go on, or map \"id\" in the tenant's groups mapping first)")
		}
	}
	p.Notes = append(p.Notes, "recovered resources are recorded as applied at version 1 (ETag W/\"1\"), created and modified now; "+
		"a user deleted under the deactivate policy comes back as an inactive user (the store cannot tell the two apart); "+
		"passwords are not recovered (the store holds only their hashes, which stay as they are)")
	switch {
	case contents.Empty:
		p.Mode = "empty"
	case contents.Recovered:
		p.Mode = "resume"
		p.Notes = append(p.Notes, fmt.Sprintf("the ledger holds %d users and %d groups an earlier recover recorded: this run skips the store entries it knows (by anchor) and records the rest",
			contents.Users, contents.Groups))
	case opts.Merge:
		p.Mode = "merge"
		p.Notes = append(p.Notes, fmt.Sprintf("the ledger holds %d users and %d groups of its own: --merge records only the store entries whose anchor it does not know; "+
			"what it holds stays as it is", contents.Users, contents.Groups))
	default:
		refuse = append(refuse, fmt.Sprintf("the ledger is not empty (%d users, %d groups, not written by a recover): recover rebuilds a lost ledger; "+
			"if this tenant's Redis data is not lost you do not need it (scimbridge import adopts store entries with new ids); "+
			"give --merge to record only the store entries the ledger does not know", contents.Users, contents.Groups))
	}
	switch {
	case len(refuse) > 0 && opts.DryRun:
		p.WouldRefuse = strings.Join(refuse, "; ")
		p.Notes = append(p.Notes, "without --dry-run this recover would be refused: "+p.WouldRefuse)
	case len(refuse) > 0:
		p.Mode = ""
		p.Refusal = strings.Join(refuse, "; ")
	}
	return p, nil
}

// Recover rebuilds the tenant's ledger from its store (see PlanRecover for
// what it refuses). Users first, then groups with their members. It is
// safe to run again: entries whose anchor the ledger knows are skipped.
func (a *Admin) Recover(ctx context.Context, tenant string, opts RecoverOptions, progress RecoverProgress) (*RecoverReport, error) {
	plan, err := a.PlanRecover(ctx, tenant, opts)
	if err != nil {
		return nil, err
	}
	rep := &RecoverReport{RecoverPlan: *plan, DryRun: opts.DryRun, Conflicts: []RecoverConflict{}}
	if plan.Refusal != "" {
		return rep, fmt.Errorf("sync: recover %s: %w: %s", tenant, ErrRecoverRefused, plan.Refusal)
	}
	t, err := a.Tenants.Get(ctx, tenant)
	if err != nil {
		return nil, err
	}
	st, err := a.Service.Stores.Store(ctx, tenant)
	if err != nil {
		return nil, err
	}
	u, err := a.Service.uniqueness(ctx, tenant)
	if err != nil {
		return nil, err
	}
	if !opts.DryRun {
		if err := a.Ledger.markRecover(ctx, tenant, false, 0, 0); err != nil {
			return nil, err
		}
	}
	if err := a.recoverUsers(ctx, tenant, st, u, opts, rep, progress); err != nil {
		return rep, err
	}
	if t.Store.Groups != nil {
		gs, ok := st.(adapters.GroupStore)
		if !ok {
			return rep, fmt.Errorf("sync: recover %s: %w: the store does not support groups", tenant, adapters.ErrConfig)
		}
		if err := a.recoverGroups(ctx, tenant, gs, u, opts, rep, progress); err != nil {
			return rep, err
		}
	}
	if !opts.DryRun {
		if err := a.Ledger.markRecover(ctx, tenant, true, rep.Users.Recovered, rep.Groups.Recovered); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// usableID reports whether a store's id field can serve as the SCIM id
// again: not empty, at most 256 bytes, no control characters or spaces.
func usableID(id string) bool {
	if id == "" || len(id) > 256 {
		return false
	}
	return strings.IndexFunc(id, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) < 0
}

// recoveredID is the id a store entry gets back: its own, or a new one.
func recoveredID(stored string, c *RecoverCounts) string {
	if usableID(stored) {
		c.OldIDs++
		return stored
	}
	c.NewIDs++
	return newID()
}

// recoverWriteErr sorts a failed recover write: a conflict (the id or a
// unique attribute is taken, the entry has no userName/displayName) or an
// error that stops the recover.
func recoverWriteErr(err error) (reason string, conflict bool) {
	var ue *UniquenessError
	switch {
	case errors.As(err, &ue):
		return fmt.Sprintf("%s is taken by %s", ue.Attribute, ue.ExistingID), true
	case errors.Is(err, ErrUniqueness):
		return "the id is taken by another resource", true
	case isSCIMError(err):
		return err.Error(), true
	}
	return "", false
}

func (a *Admin) recoverUsers(ctx context.Context, tenant string, st adapters.Store, u Uniqueness, opts RecoverOptions, rep *RecoverReport, progress RecoverProgress) error {
	return a.recoverEntries(ctx, tenant, recoverKind{
		kind: "User", nameAttr: "userName", keys: userKeys(tenant), counts: &rep.Users,
		list:  st.ListUsers,
		known: a.Ledger.KnownAnchors,
		write: func(e adapters.Entry, id string) error {
			_, err := a.Ledger.recoverUser(ctx, tenant, u, id, e.Anchor, e.Attrs)
			return err
		},
	}, opts, rep, progress)
}

func (a *Admin) recoverGroups(ctx context.Context, tenant string, gs adapters.GroupStore, u Uniqueness, opts RecoverOptions, rep *RecoverReport, progress RecoverProgress) error {
	return a.recoverEntries(ctx, tenant, recoverKind{
		kind: "Group", nameAttr: "displayName", keys: groupKeys(tenant), counts: &rep.Groups,
		list: func(ctx context.Context, cursor string, limit int) ([]adapters.Entry, string, error) {
			groups, next, err := gs.ListGroups(ctx, cursor, limit)
			entries := make([]adapters.Entry, len(groups))
			for i, g := range groups {
				entries[i] = adapters.Entry(g)
			}
			return entries, next, err
		},
		known: a.Ledger.KnownGroupAnchors,
		prepare: func(e adapters.Entry, id string) (func() error, error) {
			members, unknown, err := a.storeMembers(ctx, tenant, gs, e.Anchor)
			if err != nil {
				return nil, err
			}
			return func() error {
				if _, err := a.Ledger.recoverGroup(ctx, tenant, u, id, e.Anchor, e.Attrs, members); err != nil {
					return err
				}
				rep.Members += len(members)
				rep.MembersUnknown += unknown
				return nil
			}, nil
		},
	}, opts, rep, progress)
}

// recoverKind is what a recover of users and of groups do differently:
// how the store lists them, which anchors the ledger knows, and the
// ledger write of one entry.
type recoverKind struct {
	kind     string // "User" or "Group" (RecoverConflict.Kind, RecoverProgress)
	nameAttr string // the attribute a conflict names the entry by
	keys     keys
	counts   *RecoverCounts
	list     func(ctx context.Context, cursor string, limit int) ([]adapters.Entry, string, error)
	known    func(ctx context.Context, tenant string, anchors []string) (map[string]bool, error)
	// write records one entry (users); a failure recoverWriteErr sorts as
	// a conflict is reported, any other stops the recover.
	write func(e adapters.Entry, id string) error
	// prepare (groups) reads what the write needs first (a failure stops
	// the recover) and returns the write.
	prepare func(e adapters.Entry, id string) (func() error, error)
}

// recoverEntries lists the store a page at a time and records each entry
// whose anchor the ledger does not know (a dry run only counts, and checks
// the ids it would take).
func (a *Admin) recoverEntries(ctx context.Context, tenant string, rk recoverKind, opts RecoverOptions, rep *RecoverReport, progress RecoverProgress) error {
	c := rk.counts
	cursor := ""
	for {
		entries, next, err := rk.list(ctx, cursor, scanBatch)
		if err != nil {
			return err
		}
		anchors := make([]string, len(entries))
		ids := make([]string, 0, len(entries))
		for i, e := range entries {
			anchors[i] = e.Anchor
			if usableID(e.ID) {
				ids = append(ids, e.ID)
			}
		}
		known, err := rk.known(ctx, tenant, anchors)
		if err != nil {
			return err
		}
		var taken map[string]bool
		if opts.DryRun {
			if taken, err = a.Ledger.recordsExist(ctx, rk.keys, ids); err != nil {
				return err
			}
		}
		for _, e := range entries {
			c.Seen++
			if known[e.Anchor] {
				c.Known++
				continue
			}
			name, _ := e.Attrs[rk.nameAttr].(string)
			id := recoveredID(e.ID, c)
			if opts.DryRun {
				if taken[id] {
					rep.conflict(RecoverConflict{Kind: rk.kind, Anchor: e.Anchor, ID: id, Name: name, Reason: "the id is taken by another resource"})
				} else {
					c.Recovered++
				}
				continue
			}
			write := func() error { return rk.write(e, id) }
			if rk.prepare != nil {
				if write, err = rk.prepare(e, id); err != nil {
					return err
				}
			}
			if err := write(); err != nil {
				reason, ok := recoverWriteErr(err)
				if !ok {
					return err
				}
				rep.conflict(RecoverConflict{Kind: rk.kind, Anchor: e.Anchor, ID: id, Name: name, Reason: reason})
				continue
			}
			c.Recovered++
		}
		if progress != nil {
			progress(rk.kind, *c)
		}
		if next == "" || len(entries) == 0 {
			return nil
		}
		cursor = next
	}
}

// storeMembers returns the ledger user ids of a store group's members, a
// page at a time, and how many members are not users the ledger knows.
// The ids of one group are held at once (the group's write takes them
// all); the store is never held whole.
func (a *Admin) storeMembers(ctx context.Context, tenant string, gs adapters.GroupStore, anchor string) ([]string, int, error) {
	var members []string
	unknown := 0
	cursor := ""
	for {
		page, next, err := gs.ListMembers(ctx, anchor, cursor, scanBatch)
		if err != nil {
			return nil, 0, err
		}
		ids, err := a.Ledger.userIDsByAnchor(ctx, tenant, page)
		if err != nil {
			return nil, 0, err
		}
		for _, ua := range page {
			if id, ok := ids[ua]; ok {
				members = append(members, id)
			} else {
				unknown++
			}
		}
		if next == "" || len(page) == 0 {
			return dedupe(members), unknown, nil
		}
		cursor = next
	}
}
