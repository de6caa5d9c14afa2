package adapters

import "testing"

// The SCIM id a store keeps where "id" is mapped is read back by ID (what
// stores put in Entry.ID and GroupEntry.ID, and recover gives back).
func TestMappedIDReadBack(t *testing.T) {
	users := UserMapping{Table: "users", Key: "pk", Attributes: map[string]string{"userName": "login", "ID": "scim_id"}}
	um, err := NewUserMapper(users)
	if err != nil {
		t.Fatal(err)
	}
	if !users.MapsID() {
		t.Fatal("MapsID: the id is mapped (any case)")
	}
	fields, err := um.Fields(User{ID: "2819c223", Attrs: map[string]any{"userName": "a@x"}})
	if err != nil || fields["scim_id"] != "2819c223" {
		t.Fatalf("Fields: %v %v", fields, err)
	}
	for _, c := range []struct {
		stored any
		want   string
	}{{"2819c223", "2819c223"}, {[]byte("2819c223"), "2819c223"}, {nil, ""}, {"", ""}} {
		if got := um.ID(map[string]any{"login": "a@x", "scim_id": c.stored}); got != c.want {
			t.Errorf("ID of %#v: %q, want %q", c.stored, got, c.want)
		}
	}
	plain := UserMapping{Attributes: map[string]string{"userName": "login"}}
	pm, _ := NewUserMapper(plain)
	if plain.MapsID() || pm.ID(map[string]any{"login": "a@x", "scim_id": "x"}) != "" {
		t.Fatal("a mapping without id reads an id")
	}

	groups := GroupMapping{Attributes: map[string]string{"displayName": "name", "id": "gid"}}
	gm, err := NewGroupMapper(groups)
	if err != nil {
		t.Fatal(err)
	}
	if !groups.MapsID() || gm.ID(map[string]any{"name": "Team", "gid": "g-1"}) != "g-1" {
		t.Fatal("group id not read back")
	}
	if (GroupMapping{Attributes: map[string]string{"displayName": "name"}}).MapsID() {
		t.Fatal("MapsID without an id mapping")
	}
}
