package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/adapters/conformance"
	"github.com/scimbridge/scimbridge/internal/testsupport"
	"github.com/scimbridge/scimbridge/scim"
)

// oneByBatch routes ApplyUser through ApplyUsers (a batch of one, which is
// a run of one when the user has no anchor), so the conformance suite runs
// against the batch path.
type oneByBatch struct{ *store }

func (b oneByBatch) ApplyUser(ctx context.Context, u adapters.User) (string, error) {
	anchors, errs := b.store.ApplyUsers(ctx, []adapters.User{u})
	return anchors[0], errs[0]
}

func throughApplyUsers(h conformance.Harness) conformance.Harness {
	inner, unreachable := h.New, h.Unreachable
	h.New = func(tb testing.TB, opts conformance.Options) (adapters.Store, conformance.Backdoor) {
		st, bd := inner(tb, opts)
		return oneByBatch{st.(*store)}, bd
	}
	h.Unreachable = func(tb testing.TB) adapters.Store {
		return oneByBatch{unreachable(tb).(*store)}
	}
	return h
}

func TestConformanceThroughApplyUsers(t *testing.T) {
	t.Parallel()
	for _, h := range []conformance.Harness{postgresHarness(), mysqlHarness(), sqliteHarness()} {
		t.Run(h.Name, func(t *testing.T) {
			t.Parallel()
			conformance.RunUserTests(t, throughApplyUsers(h))
		})
	}
}

func withPassword(u adapters.User, pw string) adapters.User {
	u.Password = &pw
	return u
}

// batchTable is one tenant's fixture table for the equivalence test.
type batchTable struct {
	st *store
	bd *backdoor
	// bob is the anchor of bob@example.com, applied before the batch.
	bob string
}

func newBatchTable(t *testing.T, h conformance.Harness) *batchTable {
	t.Helper()
	st, bd := h.New(t, conformance.Options{})
	tb := &batchTable{st: st.(*store), bd: bd.(*backdoor)}
	if h.Name == adapters.KindMySQL {
		// The fixture's unique index is case-insensitive there; make
		// room for two rows that match one userName (see
		// testAmbiguousUserName).
		testsupport.Exec(t, tb.bd.db, "ALTER TABLE "+tb.bd.table+" DROP INDEX username, ADD INDEX (username)")
	}
	// The customer's rows: one to adopt (another case), two that make a
	// userName ambiguous.
	tb.bd.Insert(t, map[string]string{conformance.FieldUserName: "Carol@Example.com", conformance.FieldDepartment: "old"})
	tb.bd.Insert(t, map[string]string{conformance.FieldUserName: "dup@example.com"})
	tb.bd.Insert(t, map[string]string{conformance.FieldUserName: "DUP@example.com"})
	var err error
	if tb.bob, err = tb.st.ApplyUser(context.Background(), conformance.FullUser("bob@example.com", "d-bob")); err != nil {
		t.Fatal(err)
	}
	return tb
}

// batchUsers is the mixed batch; ambiguous adds a user whose userName
// matches two rows. Anchored users carry tb's anchors.
func (tb *batchTable) batchUsers(ambiguous bool) []adapters.User {
	robert := conformance.FullUser("robert@example.com", "d-robert")
	robert.ID, robert.Anchor = "scim-bob", tb.bob
	alice2 := conformance.FullUser("ALICE@example.com", "d-alice2")
	alice2.ID = "scim-alice2"
	users := []adapters.User{
		conformance.FullUser("alice@example.com", "d-alice"),                       // new
		withPassword(conformance.FullUser("carol@example.com", "d-carol"), "pw-c"), // adopts Carol, sets a password
		withPassword(conformance.FullUser("pat@example.com", "d-pat"), "pw-p"),     // new, with a password
		alice2, // same userName as alice: adopts alice's row
		conformance.FullUser("bob@example.com", "d-bob2"), // adopts bob's row (still named bob)
		robert, // renames that row to robert
		conformance.FullUser("Bob@Example.com", "d-bob3"), // bob is gone by now: a new row
	}
	if ambiguous {
		users = append(users, conformance.FullUser("Dup@Example.com", "d-dup"))
	}
	// Enough new users to fill more than one merged SELECT.
	for i := 0; i < runChunk+15; i++ {
		users = append(users, conformance.FullUser(fmt.Sprintf("u%03d@example.com", i), "d-many"))
	}
	users = append(users, withPassword(conformance.FullUser("PAT@example.com", "d-pat2"), "pw-p2")) // adopts pat's row, new password
	return users
}

// contents is the table by userName: every column but the generated ones
// and the password hash, which is reported as the password it verifies
// (among the batch's) instead.
func (tb *batchTable) contents(t *testing.T) map[string]map[string]string {
	t.Helper()
	rows, err := tb.bd.db.QueryContext(tb.bd.ctx(t), "SELECT "+tb.bd.key+" FROM "+tb.bd.table)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for rows.Next() {
		var k any
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		s, _ := adapters.StoredString(normalize(k))
		keys = append(keys, s)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]string{}
	for _, k := range keys {
		r, _ := tb.bd.Get(t, k)
		delete(r, conformance.FieldKey)
		delete(r, "created_at")
		if h, ok := r[conformance.FieldPassword]; ok {
			r[conformance.FieldPassword] = "unverified"
			for _, pw := range []string{"pw-c", "pw-p", "pw-p2"} {
				if adapters.VerifyPassword(h, pw) {
					r[conformance.FieldPassword] = pw
				}
			}
		}
		out[r[conformance.FieldUserName]] = r
	}
	return out
}

// sameRow maps the result of a batch onto the table's rows: users i and j
// got the same row exactly when their anchors are equal.
func sameRows(anchors []string) [][]int {
	groups := map[string][]int{}
	for i, a := range anchors {
		if a != "" {
			groups[a] = append(groups[a], i)
		}
	}
	var out [][]int
	for _, g := range groups {
		out = append(out, g)
	}
	sort.Slice(out, func(a, b int) bool { return out[a][0] < out[b][0] })
	return out
}

// TestApplyUsersBatchMatchesOneByOne: on every dialect, a batch (merged
// adopt checks) leaves the table and returns the results one-by-one
// ApplyUser calls in order do, on an identical table.
func TestApplyUsersBatchMatchesOneByOne(t *testing.T) {
	t.Parallel()
	for _, h := range []conformance.Harness{postgresHarness(), mysqlHarness(), sqliteHarness()} {
		t.Run(h.Name, func(t *testing.T) {
			t.Parallel()
			for _, ambiguous := range []bool{false, true} {
				t.Run(fmt.Sprintf("ambiguous=%v", ambiguous), func(t *testing.T) {
					t.Parallel()
					checkBatchMatchesOneByOne(t, h, ambiguous)
				})
			}
		})
	}
}

func checkBatchMatchesOneByOne(t *testing.T, h conformance.Harness, ambiguous bool) {
	ctx := context.Background()
	seq, merged, batch := newBatchTable(t, h), newBatchTable(t, h), newBatchTable(t, h)

	// One by one.
	users := seq.batchUsers(ambiguous)
	seqAnchors := make([]string, len(users))
	seqErrs := make([]error, len(users))
	for i, u := range users {
		seqAnchors[i], seqErrs[i] = seq.st.ApplyUser(ctx, u)
	}

	// The merged path itself, in one transaction: it must succeed, or
	// fail with the ambiguous user's error (the batch then falls back).
	mergedAnchors := make([]string, len(users))
	tx, err := merged.st.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = merged.st.applyAllInTx(ctx, tx, merged.batchUsers(ambiguous), mergedAnchors)
	if ambiguous {
		_ = tx.Rollback()
		if !errors.Is(err, adapters.ErrAlreadyExists) {
			t.Fatalf("merged apply with an ambiguous user: %v, want ErrAlreadyExists", err)
		}
	} else {
		if err != nil {
			t.Fatalf("merged apply: %v", err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		compareWithOneByOne(t, "merged", seq, merged, seqAnchors, seqErrs, mergedAnchors, make([]error, len(users)))
	}

	// ApplyUsers.
	anchors, errs := batch.st.ApplyUsers(ctx, batch.batchUsers(ambiguous))
	compareWithOneByOne(t, "ApplyUsers", seq, batch, seqAnchors, seqErrs, anchors, errs)
	for i, err := range errs {
		wantErr := ambiguous && users[i].Attrs["userName"] == "Dup@Example.com"
		if wantErr != (err != nil) || (wantErr && !errors.Is(err, adapters.ErrAlreadyExists)) {
			t.Fatalf("user %d (%v): err %v", i, users[i].Attrs["userName"], err)
		}
	}
	if n := batch.bd.Count(t); n != 3+4+runChunk+15 {
		t.Fatalf("%d rows, want %d", n, 3+4+runChunk+15)
	}
}

func compareWithOneByOne(t *testing.T, what string, seq, got *batchTable, seqAnchors []string, seqErrs []error, anchors []string, errs []error) {
	t.Helper()
	for i := range seqErrs {
		if (seqErrs[i] == nil) != (errs[i] == nil) || (seqErrs[i] != nil && seqErrs[i].Error() != errs[i].Error()) {
			t.Fatalf("%s: user %d: err %v, one by one %v", what, i, errs[i], seqErrs[i])
		}
		if (seqAnchors[i] == "") != (anchors[i] == "") {
			t.Fatalf("%s: user %d: anchor %q, one by one %q", what, i, anchors[i], seqAnchors[i])
		}
		if anchors[i] == "" {
			continue
		}
		a, _ := got.bd.Get(t, anchors[i])
		b, _ := seq.bd.Get(t, seqAnchors[i])
		if a[conformance.FieldUserName] != b[conformance.FieldUserName] {
			t.Fatalf("%s: user %d: row %v, one by one %v", what, i, a, b)
		}
	}
	if g, w := sameRows(anchors), sameRows(seqAnchors); !reflect.DeepEqual(g, w) {
		t.Fatalf("%s: users sharing a row: %v, one by one %v", what, g, w)
	}
	if anchors[5] != got.bob || seqAnchors[5] != seq.bob {
		t.Fatalf("%s: the rename went to %q, want bob's row %q", what, anchors[5], got.bob)
	}
	if g, w := got.contents(t), seq.contents(t); !reflect.DeepEqual(g, w) {
		t.Fatalf("%s: table\n%v\none by one\n%v", what, g, w)
	}
}

func TestDistinctName(t *testing.T) {
	run := []runUser{runName("alice"), runName("K"), runName("ı")}
	for name, want := range map[string]bool{
		"bob":    true,
		"ALICE":  false,
		"\u212a": false, // KELVIN SIGN: EqualFold to K
		"I":      false, // ToUpper(ı) is I
		"k2":     true,
	} {
		if got := distinctName(run, runName(name)); got != want {
			t.Errorf("distinctName(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestApplyUsersMultiRowInserts: a batch of new users is inserted with
// multi-row INSERTs where the dialect returns keys (PostgreSQL, SQLite;
// MySQL inserts row by row) and every user gets the key of its own row:
// over several runs, with rows of different column sets (no department,
// a password), and, on PostgreSQL, with a trigger that lower-cases the
// userName (the returned rows then match by ToLower). A row the store
// refuses (a duplicate email under a unique index) rolls the batch back and
// the users are applied one by one: only that user fails.
func TestApplyUsersMultiRowInserts(t *testing.T) {
	t.Parallel()
	for _, h := range []conformance.Harness{postgresHarness(), mysqlHarness(), sqliteHarness()} {
		t.Run(h.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st, bd := h.New(t, conformance.Options{})
			s, b := st.(*store), bd.(*backdoor)
			plain := strings.NewReplacer(`"`, "", "`", "", ".", "_").Replace(b.table)
			if h.Name == adapters.KindPostgres {
				fn := plain + "_lower"
				testsupport.Exec(t, b.db, `CREATE FUNCTION `+fn+`() RETURNS trigger AS $$ BEGIN NEW.username := lower(NEW.username); RETURN NEW; END $$ LANGUAGE plpgsql`)
				t.Cleanup(func() { _, _ = b.db.Exec(`DROP FUNCTION IF EXISTS ` + fn + `() CASCADE`) })
				testsupport.Exec(t, b.db, `CREATE TRIGGER lower_username BEFORE INSERT ON `+b.table+` FOR EACH ROW EXECUTE FUNCTION `+fn+`()`)
			}
			if h.Name == adapters.KindSQLite { // the schema goes on the index's name there
				schema, table, _ := strings.Cut(b.table, ".")
				testsupport.Exec(t, b.db, `CREATE UNIQUE INDEX `+schema+`.email_unique ON `+table+` (`+conformance.FieldEmail+`)`)
			} else {
				testsupport.Exec(t, b.db, `CREATE UNIQUE INDEX email_unique ON `+b.table+` (`+conformance.FieldEmail+`)`)
			}

			var users []adapters.User
			for i := range 130 {
				u := conformance.FullUser(fmt.Sprintf("User%03d@Example.com", i), fmt.Sprintf("d%d", i))
				switch i % 5 {
				case 1:
					delete(u.Attrs, scim.SchemaEnterpriseUser) // no department: another column set
				case 2:
					u = withPassword(u, fmt.Sprintf("pw-%d", i))
				}
				users = append(users, u)
			}
			anchors, errs := s.ApplyUsers(ctx, users)
			for i, u := range users {
				if errs[i] != nil {
					t.Fatalf("user %d: %v", i, errs[i])
				}
				row, ok := b.Get(t, anchors[i])
				want := strings.ToLower(u.Attrs["userName"].(string))
				if !ok || strings.ToLower(row[conformance.FieldUserName]) != want {
					t.Fatalf("user %d (%s): anchor %q holds %v", i, want, anchors[i], row)
				}
			}
			mustCountRows(t, b, 130)

			// A duplicate email among new users: the multi-row INSERT fails,
			// the batch falls back, and only the duplicate is refused.
			dupA, dupB, other := conformance.FullUser("dupa@example.com", "x"), conformance.FullUser("dupb@example.com", "y"), conformance.FullUser("fine@example.com", "z")
			dupB.Attrs["emails"] = dupA.Attrs["emails"]
			anchors, errs = s.ApplyUsers(ctx, []adapters.User{dupA, other, dupB})
			if errs[0] != nil || errs[1] != nil || errs[2] == nil || anchors[0] == "" || anchors[1] == "" {
				t.Fatalf("batch with a duplicate email: anchors %q, errors %v", anchors, errs)
			}
			mustCountRows(t, b, 132)
		})
	}
}

func mustCountRows(t *testing.T, b *backdoor, want int) {
	t.Helper()
	var n int
	if err := b.db.QueryRow(`SELECT count(*) FROM ` + b.table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != want {
		t.Fatalf("%d rows, want %d", n, want)
	}
}
