package sync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/scimbridge/scimbridge/scim"
)

// A filtered feed returns only the types (and resource) asked for, reads
// at most eventsScanFactor × limit entries per page, and its cursor moves
// past the events it skipped, so a consumer paging with a filter reads
// each entry once and sees every match, in order.
func TestEventPageFilter(t *testing.T) {
	t.Parallel()
	b := eventSetup(t)
	ctx := context.Background()
	a, err := b.svc.CreateUser(ctx, b.tenant, parseUser(t, `{"userName":"fa@example.com"}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		if _, err := b.svc.PatchUser(ctx, b.tenant, a.ID, patch(t, fmt.Sprintf(`{"Operations":[{"op":"replace","value":{"displayName":"A%d"}}]}`, i)), 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.svc.PatchUser(ctx, b.tenant, a.ID, patch(t, `{"Operations":[{"op":"replace","value":{"active":false}}]}`), 0); err != nil {
		t.Fatal(err)
	}
	drainAll(t, b)
	bu, err := b.svc.CreateUser(ctx, b.tenant, parseUser(t, `{"userName":"fb@example.com"}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	drainAll(t, b)
	all, err := b.ledger.Events(ctx, b.tenant, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 33 || all[31].Type != EventUserDeactivated || all[32].Data.ID != bu.ID {
		t.Fatalf("the feed: %v", eventTypes(all))
	}
	pos := map[string]int{"": -1}
	for i, e := range all {
		pos[e.Cursor] = i
	}

	// page reads the whole feed with f, limit events a page, checking that
	// each page reads no more than its bound and the cursor never goes
	// back; it returns every event returned and the number of pages.
	page := func(f EventFilter, limit int) ([]Event, int) {
		t.Helper()
		var got []Event
		after := ""
		for pages := 1; ; pages++ {
			evs, next, err := b.ledger.EventPage(ctx, b.tenant, after, limit, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range evs {
				if !f.match(&e) {
					t.Fatalf("%+v: a %s event of %s returned", f, e.Type, e.Data.ID)
				}
			}
			at, ok := pos[next]
			if !ok {
				t.Fatalf("next cursor %q is no event's", next)
			}
			if read := at - pos[after]; read < 0 || read > eventsScanFactor*limit {
				t.Fatalf("%+v limit %d: a page read %d entries", f, limit, read)
			}
			got = append(got, evs...)
			if next == after {
				return got, pages
			}
			after = next
		}
	}
	deact, pages := page(EventFilter{Types: []string{EventUserDeactivated}}, 1)
	if len(deact) != 1 || deact[0].ID != all[31].ID {
		t.Fatalf("user.deactivated: %v", eventTypes(deact))
	}
	// 33 entries, 10 a page: empty pages that move the cursor on, the
	// match, then the end (a page that reads nothing).
	if pages < 4 || pages > 6 {
		t.Fatalf("%d pages", pages)
	}
	created, _ := page(EventFilter{Types: []string{EventUserCreated, EventUserDeactivated}}, 5)
	if got := eventTypes(created); !slices.Equal(got, []string{EventUserCreated, EventUserDeactivated, EventUserCreated}) || created[2].Data.ID != bu.ID {
		t.Fatalf("user.created,user.deactivated: %v", got)
	}
	// The first page reads past all 33 entries (under 5 × 10) and ends
	// on the last one read.
	evs, next, err := b.ledger.EventPage(ctx, b.tenant, "", 5, EventFilter{Types: []string{EventUserCreated}})
	if err != nil || len(evs) != 2 || next != all[32].Cursor {
		t.Fatalf("one page of user.created: %v %q %v", eventTypes(evs), next, err)
	}
	// A full page ends on its last event, not on the entries read after it.
	evs, next, err = b.ledger.EventPage(ctx, b.tenant, "", 1, EventFilter{Types: []string{EventUserUpdated}})
	if err != nil || len(evs) != 1 || next != all[1].Cursor {
		t.Fatalf("one user.updated: %v %q %v", eventTypes(evs), next, err)
	}
	ofB, _ := page(EventFilter{ResourceID: bu.ID}, 100)
	if len(ofB) != 1 || ofB[0].Data.ID != bu.ID {
		t.Fatalf("resource %s: %v", bu.ID, eventTypes(ofB))
	}
	ofA, _ := page(EventFilter{ResourceID: a.ID, Types: []string{EventUserUpdated}}, 7)
	if len(ofA) != 30 {
		t.Fatalf("user.updated of %s: %d events", a.ID, len(ofA))
	}
	// Without a filter: the plain feed, next the last event's cursor.
	evs, next, err = b.ledger.EventPage(ctx, b.tenant, all[9].Cursor, 3, EventFilter{})
	if err != nil || len(evs) != 3 || evs[0].ID != all[10].ID || next != all[12].Cursor {
		t.Fatalf("unfiltered: %v %q %v", eventTypes(evs), next, err)
	}
	// An unknown type, or a bad cursor, is refused.
	var se *scim.Error
	if _, _, err := b.ledger.EventPage(ctx, b.tenant, "", 10, EventFilter{Types: []string{"user.created", "user.nope"}}); !errors.As(err, &se) || se.Status != 400 {
		t.Fatalf("unknown type: %v", err)
	}
	if _, _, err := b.ledger.EventPage(ctx, b.tenant, "nope", 10, EventFilter{Types: []string{"user.created"}}); !errors.Is(err, ErrBadCursor) {
		t.Fatalf("bad cursor: %v", err)
	}
}
