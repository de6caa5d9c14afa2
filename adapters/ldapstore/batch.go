package ldapstore

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"unicode"

	"github.com/go-ldap/ldap/v3"

	"github.com/scimbridge/scimbridge/adapters"
)

// Batches. ApplyUser costs three round trips for a new user: the search
// for an entry to adopt, the add, and the read-back of the anchor. A
// drain hands the store up to a few hundred users at once (ApplyUsers);
// for the users without an anchor (creates, or adoptions) the searches of
// a run of them are merged into one search per userNameChunk names, and so
// are the anchor read-backs, so a create costs about one round trip (the
// add). Directories have no transactions: every user is still written on
// its own and fails on its own.
//
// Merging the searches must not change what a user adopts, so a run of
// merged users is one in which no write can change another's search: all
// of them are without an anchor and their userNames differ case-
// insensitively. A write of such a user adds or modifies the one entry
// its userName matches (an update keeps the userName up to case), so it
// cannot create, rename or remove an entry another user of the run would
// have found. An anchored user (it may rename its entry) or a repeated
// userName ends the run: the run is applied, then that user alone, in the
// order the users came in.
//
// Anchored users (updates, deactivations, renames) come in runs of their
// own: the anchor searches of a run of users with distinct anchors are
// merged the same way, then each user is written in order. A user's write
// changes only its own entry (found by its own anchor; a rename or move
// keeps the anchor), so it cannot change what another user's anchor
// search finds. A user whose anchor is not found (or not exactly once)
// falls back, at its turn in the order, to the one-by-one lookup (it may
// adopt an entry by userName), and so does every user after it in the
// run, so each sees every earlier write as one-by-one applies would.
// A deactivation by move (disabled_ou) needs no read-back either: the
// moved entry keeps its attributes.

// userNameChunk is how many userNames (or anchors) one merged search
// carries.
const userNameChunk = 50

var _ adapters.BatchStore = (*Store)(nil)

// pendingCreate is a user of a merged run.
type pendingCreate struct {
	i        int // index in the batch
	d        desired
	name     string
	password *string
	anchor   string // the user's anchor (anchored runs)
	dn       string // the added entry's DN, once added
}

// applyUsers is ApplyUsers: users in order, runs of anchor-less users
// with distinct userNames merged (see above), every other user alone.
func (s *Store) applyUsers(ctx context.Context, users []adapters.User) ([]string, []error) {
	anchors := make([]string, len(users))
	errs := make([]error, len(users))
	userNameAttr := mustField(s.cfg.Users, "userName")
	var run, anchored []pendingCreate
	seen := map[string]bool{}
	flush := func() {
		if len(run) > 0 {
			s.applyRun(ctx, run, anchors, errs)
		}
		if len(anchored) > 0 {
			s.applyAnchoredRun(ctx, anchored, anchors, errs)
		}
		run, anchored = run[:0], anchored[:0]
		clear(seen)
	}
	for i, u := range users {
		d, err := s.desiredOf(u)
		if err != nil {
			errs[i] = fmt.Errorf("ldapstore: apply user: %w", err)
			continue
		}
		name, _ := d.attrs[userNameAttr].(string)
		p := pendingCreate{i: i, d: d, name: name, password: u.Password, anchor: u.Anchor}
		if u.Anchor == "" {
			if len(anchored) > 0 {
				flush()
			}
			if key := foldKey(name); !seen[key] {
				seen[key] = true
				run = append(run, p)
				continue
			}
		} else if _, ok := s.anchorFilter(u.Anchor); ok {
			if len(run) > 0 {
				flush()
			}
			if key := anchorKey(u.Anchor); !seen[key] {
				seen[key] = true
				anchored = append(anchored, p)
				continue
			}
		}
		flush()
		anchors[i], errs[i] = s.applyUser(ctx, u)
	}
	flush()
	return anchors, errs
}

// anchorKey compares anchors (entryUUID and GUID strings are hexadecimal,
// whatever their case).
func anchorKey(a string) string { return "\x00" + strings.ToLower(a) }

// applyAnchoredRun applies a run of anchored users with distinct anchors
// on one connection: one search per chunk for their entries by anchor,
// then each user's update in order; a user whose anchor does not find
// exactly one entry is applied as ApplyUser would (its anchor, then its
// userName) at its turn, and so is every user after it: its write may
// have changed an entry a later user's merged search read.
func (s *Store) applyAnchoredRun(ctx context.Context, run []pendingCreate, anchors []string, errs []error) {
	userNameAttr := mustField(s.cfg.Users, "userName")
	err := s.do(ctx, "apply user", func(c *ldap.Conn) error {
		found, err := s.findByAnchors(c, run)
		if err != nil {
			return err
		}
		w := newWriter()
		looked := false // a user of the run was looked up by userName
		for k := range run {
			p := &run[k]
			e := found[k]
			if e != nil && !looked {
				w.write(s.updateKeys(e, p.d), func() error {
					a, err := s.updateUser(c, e, p.d, p.password)
					return settle(p, a, err, anchors, errs)
				})
				continue
			}
			// That user may adopt (and write) an entry by its userName,
			// which may be a later user's: from here on each user is read
			// at its turn, as one by one, with nothing else in flight.
			looked = true
			w.alone(func() error {
				e, err := s.findUser(c, p.anchor, p.d.attrs[userNameAttr])
				var a string
				switch {
				case err != nil:
				case e == nil:
					a, err = s.createUser(c, p.d, p.password)
				default:
					a, err = s.updateUser(c, e, p.d, p.password)
				}
				return settle(p, a, err, anchors, errs)
			})
		}
		return w.finish()
	})
	if err != nil {
		for _, p := range run {
			if anchors[p.i] == "" && errs[p.i] == nil {
				errs[p.i] = err
			}
		}
	}
}

// settle records a user's write: its anchor, or its error. A connection
// error is not recorded (the user gets the run's error) but returned, so
// the writer stops.
func settle(p *pendingCreate, anchor string, err error, anchors []string, errs []error) error {
	if err != nil {
		if isConnectionError(err) {
			return err
		}
		errs[p.i] = translate("apply user", err)
		return nil
	}
	anchors[p.i] = anchor
	return nil
}

// findByAnchors returns, for each user of the run, the one entry its
// anchor finds (nil when it finds none or several, as findUser would
// then look further).
func (s *Store) findByAnchors(c *ldap.Conn, run []pendingCreate) ([]*ldap.Entry, error) {
	found := make([]*ldap.Entry, len(run))
	for lo := 0; lo < len(run); lo += userNameChunk {
		chunk := run[lo:min(lo+userNameChunk, len(run))]
		var f strings.Builder
		f.WriteString("(&" + s.classFilter() + "(|")
		byAnchor := make(map[string]int, len(chunk))
		for k, p := range chunk {
			af, _ := s.anchorFilter(p.anchor)
			f.WriteString(af)
			byAnchor[anchorKey(p.anchor)] = lo + k
		}
		f.WriteString("))")
		es, err := s.search(c, s.opts.UsersBaseDN, f.String(), s.userAttributes())
		if err != nil {
			return nil, err
		}
		hits := make([]int, len(chunk))
		for _, e := range es {
			a, err := s.anchorOf(e)
			if err != nil {
				continue
			}
			if k, ok := byAnchor[anchorKey(a)]; ok {
				hits[k-lo]++
				found[k] = e
			}
		}
		for k, n := range hits {
			if n != 1 {
				found[lo+k] = nil
			}
		}
	}
	return found, nil
}

// foldKey is equal for two strings exactly when strings.EqualFold calls
// them equal: each rune becomes the smallest rune of its simple case-
// folding orbit (the orbits EqualFold compares by).
func foldKey(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			m = min(m, f)
		}
		b.WriteRune(m)
	}
	return b.String()
}

// applyRun applies a merged run on one connection: one search per chunk
// for the entries to adopt, each user's add or update, one search per
// chunk for the anchors of the added entries. A user's own failure is its
// error; a connection failure is the error of every user not done.
func (s *Store) applyRun(ctx context.Context, run []pendingCreate, anchors []string, errs []error) {
	err := s.do(ctx, "apply user", func(c *ldap.Conn) error {
		found, err := s.findByUserNames(c, run)
		if err != nil {
			return err
		}
		w := newWriter()
		var mu sync.Mutex
		var added []*pendingCreate
		for k := range run {
			p := &run[k]
			switch len(found[k]) {
			case 0:
				w.write(s.writeKeys(rdnValueKey(p.d.rdnValue), p.d, nil), func() error {
					dn, err := s.addUser(c, p.d, p.password)
					if err == nil {
						mu.Lock()
						p.dn = dn
						added = append(added, p)
						mu.Unlock()
						return nil
					}
					return settle(p, "", err, anchors, errs)
				})
			case 1:
				e := found[k][0]
				w.write(s.updateKeys(e, p.d), func() error {
					a, err := s.updateUser(c, e, p.d, p.password)
					return settle(p, a, err, anchors, errs)
				})
			default:
				errs[p.i] = translate("apply user", fmt.Errorf("%w: %w: %d entries match the userName", adapters.ErrRejected, adapters.ErrAlreadyExists, len(found[k])))
			}
		}
		if err := w.finish(); err != nil {
			return err
		}
		return s.readAnchors(c, added, anchors, errs)
	})
	if err != nil {
		for _, p := range run {
			if anchors[p.i] == "" && errs[p.i] == nil {
				errs[p.i] = err
			}
		}
	}
}

// findByUserNames returns, for each user of the run, the entries its
// userName matches (as findUser without an anchor would find them).
func (s *Store) findByUserNames(c *ldap.Conn, run []pendingCreate) ([][]*ldap.Entry, error) {
	attr := mustField(s.cfg.Users, "userName")
	found := make([][]*ldap.Entry, len(run))
	for lo := 0; lo < len(run); lo += userNameChunk {
		chunk := run[lo:min(lo+userNameChunk, len(run))]
		var f strings.Builder
		f.WriteString("(&" + s.classFilter() + "(|")
		for _, p := range chunk {
			f.WriteString("(" + attr + "=" + ldap.EscapeFilter(p.name) + ")")
		}
		f.WriteString("))")
		es, err := s.search(c, s.opts.UsersBaseDN, f.String(), s.userAttributes())
		if err != nil {
			return nil, err
		}
		byName := make(map[string]int, len(chunk))
		for k, p := range chunk {
			byName[foldKey(p.name)] = lo + k
		}
		for _, e := range es {
			// The server's matching rule may be looser than SCIM's
			// equality: each value is narrowed as valueMatches does.
			matched := map[int]bool{}
			for _, v := range e.GetEqualFoldAttributeValues(attr) {
				if k, ok := byName[foldKey(v)]; ok && !matched[k] && valueMatches(e, []string{attr}, run[k].name, true) {
					matched[k] = true
					found[k] = append(found[k], e)
				}
			}
		}
	}
	return found, nil
}

// readAnchors reads the anchors of the added entries, one search per chunk
// by RDN value; an entry the search does not return is read on its own.
func (s *Store) readAnchors(c *ldap.Conn, added []*pendingCreate, anchors []string, errs []error) error {
	for lo := 0; lo < len(added); lo += userNameChunk {
		chunk := added[lo:min(lo+userNameChunk, len(added))]
		var f strings.Builder
		f.WriteString("(&" + s.classFilter() + "(|")
		byDN := make(map[string]*pendingCreate, len(chunk))
		for _, p := range chunk {
			f.WriteString("(" + s.opts.UserRDNAttribute + "=" + ldap.EscapeFilter(p.d.rdnValue) + ")")
			byDN[dnKey(p.dn)] = p
		}
		f.WriteString("))")
		es, err := s.search(c, s.opts.UsersBaseDN, f.String(), []string{s.opts.AnchorAttribute})
		if err != nil {
			return err
		}
		for _, e := range es {
			if p := byDN[dnKey(e.DN)]; p != nil && anchors[p.i] == "" {
				a, err := s.anchorOf(e)
				if err != nil {
					errs[p.i] = translate("apply user", err)
					continue
				}
				anchors[p.i] = a
			}
		}
		for _, p := range chunk {
			if anchors[p.i] != "" || errs[p.i] != nil {
				continue
			}
			a, err := s.readAnchor(c, p.dn)
			if err != nil {
				if isConnectionError(err) {
					return err
				}
				errs[p.i] = translate("apply user", err)
				continue
			}
			anchors[p.i] = a
		}
	}
	return nil
}

// dnKey is a comparison key for a DN (parsed, re-rendered, lower case); an
// unparseable DN is its own key.
func dnKey(dn string) string {
	p, err := ldap.ParseDN(dn)
	if err != nil {
		return dn
	}
	return strings.ToLower(p.String())
}
