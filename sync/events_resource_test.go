package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/queue"
	"github.com/scimbridge/scimbridge/scim"
)

// resourceOf decodes an event's resource.
func resourceOf(t *testing.T, e Event) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(e.Data.Resource, &m); err != nil {
		t.Fatalf("%s: resource %s: %v", e.Type, e.Data.Resource, err)
	}
	return m
}

// An event's resource is the document GET /Users/{id} and /Groups/{id}
// answer: meta with resourceType, location below the public URL, created,
// lastModified and version; a group's members each with value, $ref and
// type. A group with more than EventMembersMax members lists none, and
// the event says how many it has.
func TestEventResourceAsTheAPIShowsIt(t *testing.T) {
	t.Parallel()
	b := eventSetup(t)
	ctx := context.Background()
	const public = "https://scim.example.com/prefix"
	b.ledger.SetPublicURL(public)
	base := public + "/scim/" + b.tenant + "/v2"
	var users []string
	for i := range 3 {
		r, err := b.svc.CreateUser(ctx, b.tenant, parseUser(t, fmt.Sprintf(`{"userName":"res%d@example.com"}`, i)), nil)
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, r.ID)
	}
	run := func() {
		t.Helper()
		for _, p := range b.enq.take() {
			if err := b.deliver(t, p); err != nil {
				t.Fatal(err)
			}
		}
	}
	run()
	ga, err := scim.ParseGroup([]byte(`{"displayName":"Res","externalId":"ext-res"}`))
	if err != nil {
		t.Fatal(err)
	}
	g, err := b.svc.CreateGroup(ctx, b.tenant, ga, users)
	if err != nil {
		t.Fatal(err)
	}
	run()
	byType := func() map[string]Event {
		all, err := b.ledger.Events(ctx, b.tenant, "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]Event{}
		for _, e := range all {
			out[e.Data.ResourceType+" "+e.Type] = e // the last of each
		}
		return out
	}
	evs := byType()

	u := resourceOf(t, evs[queue.KindUser+" "+EventUserCreated])
	um, _ := u["meta"].(map[string]any)
	if um["location"] != base+"/Users/"+users[2] || um["resourceType"] != "User" || um["version"] != `W/"1"` ||
		um["created"] == nil || um["lastModified"] == nil {
		t.Fatalf("user meta %v", um)
	}

	ge := evs[queue.KindGroup+" "+EventGroupCreated]
	gr := resourceOf(t, ge)
	rec, err := b.svc.GetGroup(ctx, b.tenant, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	gm, _ := gr["meta"].(map[string]any)
	if gm["location"] != base+"/Groups/"+g.ID || gm["resourceType"] != "Group" ||
		gm["version"] != `W/"`+strconv.FormatInt(ge.Data.Version, 10)+`"` || gm["created"] == nil || gm["lastModified"] == nil {
		t.Fatalf("group meta %v", gm)
	}
	if gr["id"] != g.ID || gr["displayName"] != "Res" || gr["externalId"] != "ext-res" || rec.Version != ge.Data.Version {
		t.Fatalf("group resource %v (record version %d, event's %d)", gr, rec.Version, ge.Data.Version)
	}
	sorted := slices.Sorted(slices.Values(users))
	ms, _ := gr["members"].([]any)
	if len(ms) != len(sorted) {
		t.Fatalf("members %v, want %v", ms, sorted)
	}
	for i, m := range ms {
		mm, _ := m.(map[string]any)
		if mm["value"] != sorted[i] || mm["$ref"] != base+"/Users/"+sorted[i] || mm["type"] != "User" {
			t.Fatalf("member %d: %v", i, mm)
		}
	}
	if ge.Data.MembersOmitted != 0 {
		t.Fatalf("members_omitted %d for a small group", ge.Data.MembersOmitted)
	}

	// A group over the cap: the ledger's member set holds more (written
	// here directly: a push of a thousand users would only make it slow).
	extra := make([]any, EventMembersMax)
	for i := range extra {
		extra[i] = fmt.Sprintf("bulk-%04d", i)
	}
	if err := b.ledger.rdb.SAdd(ctx, groupKeys(b.tenant).members(g.ID), extra...).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.PatchGroup(ctx, b.tenant, g.ID, patch(t, `{"Operations":[{"op":"replace","value":{"displayName":"Res2"}}]}`), 0); err != nil {
		t.Fatal(err)
	}
	run()
	gu := byType()[queue.KindGroup+" "+EventGroupUpdated]
	big := resourceOf(t, gu)
	if _, ok := big["members"]; ok || big["displayName"] != "Res2" || gu.Data.MembersOmitted != int64(EventMembersMax+len(users)) {
		t.Fatalf("a group over the cap: members_omitted %d, resource %.300s", gu.Data.MembersOmitted, gu.Data.Resource)
	}
	raw, _ := json.Marshal(gu)
	if !strings.Contains(string(raw), fmt.Sprintf(`"members_omitted":%d`, EventMembersMax+len(users))) {
		t.Fatalf("the event as sent: %s", raw)
	}
}
