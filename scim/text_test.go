package scim

import (
	"strings"
	"testing"
)

// Issue 17, point 4: the attributes that name a resource (userName,
// displayName of users and groups, externalId) are plain text of bounded
// length, whichever way they arrive (POST/PUT body, PATCH with or without
// a path, bulk data); the error names the attribute and does not echo
// the value.
func TestNamesArePlainTextOfBoundedLength(t *testing.T) {
	t.Parallel()
	long := func(n int) string { return strings.Repeat("é", n) }
	user := func(attr, jsonValue string) func() error {
		return func() error {
			body := `{"userName":"ok",` + `"` + attr + `":` + jsonValue + `}`
			if attr == "userName" {
				body = `{"userName":` + jsonValue + `}`
			}
			_, _, err := ParseUser([]byte(body))
			return err
		}
	}
	group := func(attr, jsonValue string) func() error {
		return func() error {
			body := `{"displayName":"ok","` + attr + `":` + jsonValue + `}`
			if attr == "displayName" {
				body = `{"displayName":` + jsonValue + `}`
			}
			_, err := ParseGroup([]byte(body))
			return err
		}
	}
	patchUser := func(body string) func() error {
		return func() error {
			p, err := ParsePatch([]byte(body))
			if err != nil {
				return err
			}
			_, _, err = p.ApplyUser(Attrs{"userName": "u"})
			return err
		}
	}
	patchGroup := func(body string) func() error {
		return func() error {
			p, err := ParsePatch([]byte(body))
			if err != nil {
				return err
			}
			_, _, err = p.ApplyGroup(Attrs{"displayName": "g"})
			return err
		}
	}
	for _, tc := range []struct {
		name string
		attr string // named in the error
		run  func() error
	}{
		{"ESC in userName", "userName", user("userName", `"a\u001b[2Jb"`)},
		{"BEL in userName", "userName", user("userName", `"a\u0007"`)},
		{"CR LF in userName", "userName", user("userName", `"a\r\nb"`)},
		{"TAB in userName", "userName", user("userName", `"a\tb"`)},
		{"DEL in userName", "userName", user("userName", `"a\u007f"`)},
		{"C1 CSI in userName", "userName", user("userName", `"a\u009b2J"`)},
		{"C1 NEL, raw UTF-8", "userName", user("userName", "\"a\u0085\"")},
		{"userName too long", "userName", user("userName", `"`+long(MaxUserNameLength+1)+`"`)},
		{"ESC in displayName", "displayName", user("displayName", `"\u001b]0;x\u0007"`)},
		{"displayName too long", "displayName", user("displayName", `"`+long(MaxDisplayNameLength+1)+`"`)},
		{"ESC in externalId", "externalId", user("externalId", `"\u001b"`)},
		{"externalId too long", "externalId", user("externalId", `"`+long(MaxExternalIDLength+1)+`"`)},
		{"group displayName ESC", "displayName", group("displayName", `"g\u001b"`)},
		{"group displayName too long", "displayName", group("displayName", `"`+long(MaxDisplayNameLength+1)+`"`)},
		{"group externalId", "externalId", group("externalId", `"\n"`)},
		{"PATCH userName by path", "userName", patchUser(`{"Operations":[{"op":"replace","path":"userName","value":"x\u001b"}]}`)},
		{"PATCH userName path-less", "userName", patchUser(`{"Operations":[{"op":"replace","value":{"userName":"x\u0007"}}]}`)},
		{"PATCH displayName, core URN wrapper", "displayName", patchUser(`{"Operations":[{"op":"replace","value":{"urn:ietf:params:scim:schemas:core:2.0:User":{"displayName":"\u009b"}}}]}`)},
		{"PATCH externalId too long", "externalId", patchUser(`{"Operations":[{"op":"add","path":"externalId","value":"` + long(MaxExternalIDLength+1) + `"}]}`)},
		{"PATCH group displayName", "displayName", patchGroup(`{"Operations":[{"op":"replace","path":"displayName","value":"\r"}]}`)},
		{"bulk user", "userName", func() error {
			r, err := ParseBulkRequest([]byte(`{"Operations":[{"method":"POST","path":"/Users","bulkId":"b1","data":{"userName":"\u001b"}}]}`), 10)
			if err != nil {
				return err
			}
			_, _, err = DefaultSchemaSet().UserFromObject(r.Operations[0].Data)
			return err
		}},
	} {
		err := tc.run()
		se, ok := err.(*Error)
		if !ok || se.Status != 400 || se.ScimType != ScimTypeInvalidValue {
			t.Errorf("%s: %v, want 400 invalidValue", tc.name, err)
			continue
		}
		if !strings.Contains(se.Detail, `"`+tc.attr+`"`) {
			t.Errorf("%s: the error does not name %s: %s", tc.name, tc.attr, se.Detail)
		}
		for _, raw := range []string{"\x1b", "\x07", "\r", "\n", "\t", "\x7f", "\u009b", "\u0085", "éé"} {
			if strings.Contains(se.Detail, raw) {
				t.Errorf("%s: the error echoes the value: %q", tc.name, se.Detail)
			}
		}
	}
	// Accepted: the limits themselves, normal Unicode, spaces, other
	// attributes' text.
	for _, body := range []string{
		`{"userName":"` + long(MaxUserNameLength) + `","displayName":"` + long(MaxDisplayNameLength) + `","externalId":"` + long(MaxExternalIDLength) + `"}`,
		`{"userName":"Zoë O'Brien 张伟 😀","displayName":"a b\u00a0c","externalId":"00u1"}`,
		`{"userName":"CORP\\jane","title":"line1\nline2"}`,
	} {
		if _, _, err := ParseUser([]byte(body)); err != nil {
			t.Errorf("%.60s: %v", body, err)
		}
	}
}

// A value read from a store is what the store holds: SetStored does not
// apply the request's plain-text rules (what prints it escapes it), Set does.
func TestSetStoredKeepsWhatTheStoreHolds(t *testing.T) {
	t.Parallel()
	p, err := ParsePath("userName")
	if err != nil {
		t.Fatal(err)
	}
	a := Attrs{}
	if err := p.SetStored(a, "legacy\x1b"+strings.Repeat("x", MaxUserNameLength)); err != nil || a["userName"] == nil {
		t.Fatalf("SetStored: %v %v", a, err)
	}
	if err := p.Set(Attrs{}, "legacy\x1b"); err == nil {
		t.Fatal("Set took a control character")
	}
	if err := p.SetStored(Attrs{}, 5); err == nil {
		t.Fatal("SetStored took a number for userName")
	}
}
