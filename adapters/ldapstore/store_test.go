package ldapstore

import (
	"context"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/adapters/conformance"
	"github.com/scimbridge/scimbridge/scim"
)

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func userNamed(name string) adapters.User {
	return adapters.User{ID: "id-" + name, Attrs: scim.Attrs{
		"userName": name,
		"name":     map[string]any{"givenName": "G", "familyName": "F"},
		"active":   true,
	}, Active: true}
}

// flagStore opens an OpenLDAP flag-strategy store on a fresh OU.
func flagStore(t *testing.T, mutate func(*adapters.Config)) (*Store, *backdoor) {
	t.Helper()
	s := needServer(t)
	ou := s.TenantOU(t)
	cfg := variants[0].config(s, ou, conformance.Options{})
	if mutate != nil {
		mutate(&cfg)
	}
	return openTest(t, cfg), &backdoor{v: variants[0], s: s, ou: ou, conn: s.Admin(t)}
}

// bindAs reports whether a simple bind as dn with password succeeds.
func bindAs(t *testing.T, dn, password string) bool {
	t.Helper()
	c, err := ldap.DialURL(server.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.Bind(dn, password) == nil
}

func dnOf(t *testing.T, bd *backdoor, anchor string) string {
	t.Helper()
	e := bd.entry(t, anchor)
	if e == nil {
		t.Fatalf("no entry %s", anchor)
	}
	return e.DN
}

func TestInjectionWrittenLiterally(t *testing.T) {
	t.Parallel()
	st, bd := flagStore(t, nil)
	ctx := ctxT(t)
	victim := mustApplyT(t, st, userNamed("victim@example.com"))
	admins := "ou=admins," + bd.ou
	add := ldap.NewAddRequest(admins, nil)
	add.Attribute("objectClass", []string{"organizationalUnit"})
	add.Attribute("ou", []string{"admins"})
	if err := bd.conn.Add(add); err != nil {
		t.Fatal(err)
	}

	for _, name := range []string{"*)(uid=*", "a,ou=admins", "*", `x)(|(uid=*`, `\2a`, "#lead", " spaced "} {
		// A lookup never widens: nothing matches before the entry exists.
		found, err := st.FindUsers(ctx, adapters.MatchUserName, name)
		if err != nil || len(found) != 0 {
			t.Fatalf("FindUsers(%q) before create = %v, %v; want nothing", name, found, err)
		}
		anchor := mustApplyT(t, st, userNamed(name))
		if anchor == victim {
			t.Fatalf("apply of %q adopted another entry", name)
		}
		dn := dnOf(t, bd, anchor)
		parsed, err := ldap.ParseDN(dn)
		if err != nil {
			t.Fatal(err)
		}
		// One RDN below ou=people: not moved into ou=admins or elsewhere.
		want, _ := ldap.ParseDN("ou=people," + bd.ou)
		if len(parsed.RDNs) != len(want.RDNs)+1 || !want.AncestorOfFold(parsed) {
			t.Fatalf("entry for %q landed at %q", name, dn)
		}
		if got := parsed.RDNs[0].Attributes[0]; got.Type != "uid" || got.Value != name {
			t.Fatalf("RDN of %q = %s=%q", name, got.Type, got.Value)
		}
		found, err = st.FindUsers(ctx, adapters.MatchUserName, name)
		if err != nil || len(found) != 1 || found[0].Anchor != anchor || found[0].Attrs["userName"] != name {
			t.Fatalf("FindUsers(%q) = %+v, %v; want exactly its own entry", name, found, err)
		}
		// Re-applying without the anchor adopts the same entry.
		if again := mustApplyT(t, st, userNamed(name)); again != anchor {
			t.Fatalf("re-apply of %q = %s, want %s", name, again, anchor)
		}
	}
	res, err := bd.conn.Search(ldap.NewSearchRequest(admins, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{"1.1"}, nil))
	if err != nil || len(res.Entries) != 0 {
		t.Fatalf("ou=admins holds %d entries (%v)", len(res.Entries), err)
	}
	if n := bd.Count(t); n != 8 {
		t.Fatalf("%d users, want 8", n)
	}
}

func mustApplyT(t *testing.T, st *Store, u adapters.User) string {
	t.Helper()
	a, err := st.ApplyUser(ctxT(t), u)
	if err != nil {
		t.Fatalf("ApplyUser(%v): %v", u.Attrs["userName"], err)
	}
	return a
}

func TestPasswordHashesVerifiedBySlapd(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/usr/lib/ldap/argon2.so"); err != nil {
		t.Skip("slapd has no argon2 module")
	}
	for _, hash := range []string{adapters.HashArgon2id, adapters.HashBcrypt} {
		t.Run(hash, func(t *testing.T) {
			t.Parallel()
			// bcrypt at its default cost (12) takes ~10 s under -race and
			// timed out on a loaded machine; slapd checks the format, not the cost.
			st, bd := flagStore(t, func(c *adapters.Config) {
				c.Users.Password.Hash = hash
				if hash == adapters.HashBcrypt {
					c.Users.Password.Cost = 5
				}
			})
			u := userNamed("pw@example.com")
			pw := "s3cret 'pass'; wörd"
			u.Password = &pw
			anchor := mustApplyT(t, st, u)
			if !bindAs(t, dnOf(t, bd, anchor), pw) {
				t.Fatalf("slapd does not accept the %s userPassword", hash)
			}
			if bindAs(t, dnOf(t, bd, anchor), "wrong") {
				t.Fatal("a wrong password binds")
			}
		})
	}
}

func TestPasswordModifyExtendedOperation(t *testing.T) {
	t.Parallel()
	st, bd := flagStore(t, func(c *adapters.Config) { c.LDAP.Password.Mode = adapters.LDAPPasswordModifyExt })
	u := userNamed("ext@example.com")
	pw := "first-Pass1"
	u.Password = &pw
	u.Anchor = mustApplyT(t, st, u)
	dn := dnOf(t, bd, u.Anchor)
	if !bindAs(t, dn, pw) {
		t.Fatal("password set by Password Modify does not bind")
	}
	got, _ := bd.Get(t, u.Anchor)
	if strings.Contains(got[conformance.FieldPassword], pw) {
		t.Fatal("password stored in clear")
	}
	pw2 := "second-Pass2"
	u.Password = &pw2
	mustApplyT(t, st, u)
	if !bindAs(t, dn, pw2) || bindAs(t, dn, pw) {
		t.Fatal("changed password not in effect")
	}
}

func TestPPolicyLockStopsBind(t *testing.T) {
	t.Parallel()
	if !needServer(t).HasPPolicy {
		t.Skip("slapd has no ppolicy module")
	}
	s := server
	ou := s.TenantOU(t)
	v := variants[1]
	cfg := v.config(s, ou, conformance.Options{})
	st := openTest(t, cfg)
	bd := &backdoor{v: v, s: s, ou: ou, conn: s.Admin(t)}
	u := userNamed("locked@example.com")
	pw := "Pass-word-1"
	u.Password = &pw
	u.Anchor = mustApplyT(t, st, u)
	dn := dnOf(t, bd, u.Anchor)
	if !bindAs(t, dn, pw) {
		t.Fatal("active user cannot bind")
	}
	if err := st.RemoveUser(ctxT(t), u); err != nil {
		t.Fatal(err)
	}
	if bindAs(t, dn, pw) {
		t.Fatal("deactivated (pwdAccountLockedTime) user can still bind")
	}
	mustApplyT(t, st, u)
	if !bindAs(t, dn, pw) {
		t.Fatal("reactivated user cannot bind")
	}
}

func TestADUnicodePwdNeedsTLS(t *testing.T) {
	t.Parallel()
	s := needServer(t)
	ou := s.TenantOU(t)
	v := variants[3]
	cfg := v.config(s, ou, conformance.Options{})
	cfg.LDAP.Password.Mode = adapters.LDAPPasswordUnicodePwd
	if err := cfg.ValidateErr(); !errors.Is(err, adapters.ErrConfig) {
		t.Fatalf("unicodePwd over plain LDAP validated: %v", err)
	}
	cfg.LDAP.StartTLS = true
	cfg.LDAP.CAFile = s.CAFile
	st := openTest(t, cfg)
	bd := &backdoor{v: v, s: s, ou: ou, conn: s.Admin(t)}
	u := userNamed("ad.user")
	pw := "Pässword\"1"
	u.Password = &pw
	anchor := mustApplyT(t, st, u)
	e := bd.entry(t, anchor)
	if got := e.GetRawAttributeValue("unicodePwd"); string(got) != string(unicodePwd(pw)) {
		t.Fatalf("unicodePwd = %x, want %x", got, unicodePwd(pw))
	}
	if uac := e.GetAttributeValue("userAccountControl"); uac != "512" {
		t.Fatalf("userAccountControl = %s, want 512", uac)
	}
	if st.secure != true {
		t.Fatal("StartTLS store not marked secure")
	}
}

func TestStartTLSUnknownCAFails(t *testing.T) {
	t.Parallel()
	s := needServer(t)
	cfg := variants[0].config(s, s.TenantOU(t), conformance.Options{})
	cfg.LDAP.StartTLS = true // system roots do not know the test CA
	st := openTest(t, cfg)
	if err := st.Ping(ctxT(t)); !errors.Is(err, adapters.ErrUnavailable) {
		t.Fatalf("Ping with an unverifiable certificate: %v, want ErrUnavailable", err)
	}
	cfg.LDAP.CAFile = s.CAFile
	if err := openTest(t, cfg).Ping(ctxT(t)); err != nil {
		t.Fatalf("Ping over StartTLS with the CA: %v", err)
	}
}

func TestADObjectGUIDAnchor(t *testing.T) {
	t.Parallel()
	s := needServer(t)
	ou := s.TenantOU(t)
	v := variants[3]
	cfg := v.config(s, ou, conformance.Options{})
	cfg.LDAP.AnchorAttribute = "" // the AD default: objectGUID
	st := openTest(t, cfg)
	bd := &backdoor{v: v, s: s, ou: ou, conn: s.Admin(t)}
	// An existing AD account whose objectGUID (as AD would have made it)
	// holds bytes that need escaping in a filter: ( ) * \ and NUL.
	guid := []byte{0x28, 0x29, 0x2a, 0x5c, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0xff}
	uuidAnchor := bd.Insert(t, map[string]string{conformance.FieldUserName: "legacy.ad"})
	mod := ldap.NewModifyRequest(dnOf(t, bd, uuidAnchor), nil)
	mod.Replace("objectGUID", []string{string(guid)})
	if err := bd.conn.Modify(mod); err != nil {
		t.Fatal(err)
	}
	want, _ := guidString(guid)
	u := userNamed("legacy.ad")
	anchor := mustApplyT(t, st, u)
	if anchor != want {
		t.Fatalf("anchor = %s, want the GUID %s", anchor, want)
	}
	// Updating by the GUID anchor (a binary, escaped filter) finds it.
	u.Anchor = anchor
	u.Attrs["name"] = map[string]any{"givenName": "Renamed", "familyName": "F"}
	if got := mustApplyT(t, st, u); got != anchor {
		t.Fatalf("update by GUID anchor = %s", got)
	}
	if got, _ := bd.Get(t, uuidAnchor); got[conformance.FieldGivenName] != "Renamed" {
		t.Fatalf("givenName = %q", got[conformance.FieldGivenName])
	}
	if n := bd.Count(t); n != 1 {
		t.Fatalf("%d users, want 1", n)
	}
	// Deactivation sets bit 2 and keeps the other bits.
	bd.Set(t, uuidAnchor, conformance.FieldActive, "66048") // 0x10200: NORMAL_ACCOUNT|DONT_EXPIRE_PASSWORD
	if err := st.RemoveUser(ctxT(t), u); err != nil {
		t.Fatal(err)
	}
	if got := bd.entry(t, uuidAnchor).GetAttributeValue("userAccountControl"); got != "66050" {
		t.Fatalf("userAccountControl after deactivation = %s, want 66050", got)
	}
	mustApplyT(t, st, u)
	if got := bd.entry(t, uuidAnchor).GetAttributeValue("userAccountControl"); got != "66048" {
		t.Fatalf("userAccountControl after reactivation = %s, want 66048", got)
	}
	// A new entry on slapd gets no objectGUID: the store says so instead
	// of inventing an anchor.
	if _, err := st.ApplyUser(ctxT(t), userNamed("new.ad")); !errors.Is(err, adapters.ErrRejected) {
		t.Fatalf("create without a server-made objectGUID: %v, want ErrRejected", err)
	}
}

func TestPosixGroupMembership(t *testing.T) {
	t.Parallel()
	s := needServer(t)
	ou := s.TenantOU(t)
	cfg := variants[0].config(s, ou, conformance.Options{})
	cfg.Groups = &adapters.GroupMapping{Attributes: map[string]string{"displayName": "cn", "externalId": "description"}}
	cfg.LDAP.GroupObjectClass = adapters.LDAPPosixGroup
	st := openTest(t, cfg)
	ctx := ctxT(t)
	jane := mustApplyT(t, st, userNamed("jane"))
	joe := mustApplyT(t, st, userNamed("joe"))
	g1, err := st.ApplyGroup(ctx, adapters.Group{Attrs: scim.Attrs{"displayName": "devs"}})
	if err != nil {
		t.Fatal(err)
	}
	g2, err := st.ApplyGroup(ctx, adapters.Group{Attrs: scim.Attrs{"displayName": "ops"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []func() error{
		func() error { return st.AddMembers(ctx, g1, []string{jane, joe, jane}) },
		func() error { return st.RemoveMembers(ctx, g1, []string{joe, joe}) },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	res, err := s.Admin(t).Search(ldap.NewSearchRequest("ou=groups,"+ou, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=posixGroup)", []string{"cn", "gidNumber", "memberUid"}, nil))
	if err != nil || len(res.Entries) != 2 {
		t.Fatalf("groups: %v", err)
	}
	gids := map[string]bool{}
	for _, e := range res.Entries {
		gids[e.GetAttributeValue("gidNumber")] = true
		if e.GetAttributeValue("cn") == "devs" && strings.Join(e.GetAttributeValues("memberUid"), ",") != "jane" {
			t.Fatalf("devs memberUid = %v, want [jane]", e.GetAttributeValues("memberUid"))
		}
	}
	if len(gids) != 2 {
		t.Fatalf("gidNumbers not distinct: %v", gids)
	}
	members, _, err := st.ListMembers(ctx, g1, "", 10)
	if err != nil || len(members) != 1 || members[0] != jane {
		t.Fatalf("ListMembers = %v, %v", members, err)
	}
	_ = g2
}

func TestBindPasswordFromEnvAndWrongPassword(t *testing.T) {
	s := needServer(t)
	cfg := variants[0].config(s, s.TenantOU(t), conformance.Options{})
	cfg.LDAP.BindPasswordFile = ""
	cfg.LDAP.BindPasswordEnv = "LDAPSTORE_TEST_BIND_PW"
	t.Setenv("LDAPSTORE_TEST_BIND_PW", s.RootPW)
	if err := openTest(t, cfg).Ping(ctxT(t)); err != nil {
		t.Fatalf("Ping with the password from the environment: %v", err)
	}
	t.Setenv("LDAPSTORE_TEST_BIND_PW", "wrong-secret-value")
	err := openTest(t, cfg).Ping(ctxT(t))
	if !errors.Is(err, adapters.ErrConfig) {
		t.Fatalf("wrong bind password: %v, want ErrConfig", err)
	}
	if strings.Contains(err.Error(), "wrong-secret-value") || strings.Contains(err.Error(), s.RootPW) {
		t.Fatalf("error leaks the bind password: %v", err)
	}
}

func TestBrokenConnectionIsRedialled(t *testing.T) {
	t.Parallel()
	st, _ := flagStore(t, func(c *adapters.Config) { c.LDAP.PoolSize = 1 })
	ctx := ctxT(t)
	if err := st.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	// Break the pooled connection behind the store's back.
	st.pool.mu.Lock()
	for _, c := range st.pool.idle {
		_ = c.Close()
	}
	st.pool.mu.Unlock()
	if err := st.Ping(ctx); err != nil {
		t.Fatalf("Ping after the connection broke: %v", err)
	}
}

// ---- pure logic ----

func TestGUIDRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		raw  string // hex of the binary objectGUID
		text string
	}{
		{"0403020106050807090a0b0c0d0e0f10", "01020304-0506-0708-090a-0b0c0d0e0f10"},
		{"00000000000000000000000000000000", "00000000-0000-0000-0000-000000000000"},
		{"ffffffffffffffffffffffffffffffff", "ffffffff-ffff-ffff-ffff-ffffffffffff"},
	} {
		raw, _ := hex.DecodeString(tc.raw)
		got, err := guidString(raw)
		if err != nil || got != tc.text {
			t.Errorf("guidString(%s) = %q, %v; want %q", tc.raw, got, err, tc.text)
		}
		back, err := guidBytes(tc.text)
		if err != nil || hex.EncodeToString(back) != tc.raw {
			t.Errorf("guidBytes(%s) = %x, %v; want %s", tc.text, back, err, tc.raw)
		}
	}
	for _, bad := range []string{"", "not-a-guid", "01020304-0506-0708-090a-0b0c0d0e0f1", "0102030405060708090a0b0c0d0e0f10", "zz020304-0506-0708-090a-0b0c0d0e0f10"} {
		if _, err := guidBytes(bad); err == nil {
			t.Errorf("guidBytes(%q) accepted", bad)
		}
	}
	if _, err := guidString([]byte{1, 2, 3}); err == nil {
		t.Error("guidString of 3 bytes accepted")
	}
}

func TestEscapeBinaryFilter(t *testing.T) {
	if got := escapeBinaryFilter([]byte{0x28, 0x29, 0x2a, 0x5c, 0x00, 0xff}); got != `\28\29\2a\5c\00\ff` {
		t.Fatalf("escapeBinaryFilter = %s", got)
	}
}

func TestUnicodePwdEncoding(t *testing.T) {
	for _, tc := range []struct{ pw, hex string }{
		{"", "22002200"},
		{"ab", "2200610062002200"},
		{"é", "2200e9002200"},
		{"🙂", "22003dd842de2200"},
	} {
		if got := hex.EncodeToString(unicodePwd(tc.pw)); got != tc.hex {
			t.Errorf("unicodePwd(%q) = %s, want %s", tc.pw, got, tc.hex)
		}
	}
}

func TestCursor(t *testing.T) {
	for _, a := range []string{"", "66be853a-7e3d-1041-82a7-39b0d85c07ab", "x"} {
		if a == "" {
			continue
		}
		got, err := decodeCursor(encodeCursor(a))
		if err != nil || got != a {
			t.Errorf("cursor round trip of %q = %q, %v", a, got, err)
		}
	}
	for _, bad := range []string{"not a cursor!", "YWJj" /* "abc", no prefix */} {
		if _, err := decodeCursor(bad); !errors.Is(err, adapters.ErrRejected) {
			t.Errorf("decodeCursor(%q) = %v, want ErrRejected", bad, err)
		}
	}
}

func TestTranslate(t *testing.T) {
	for _, tc := range []struct {
		code uint16
		msg  string
		want []error
	}{
		{ldap.LDAPResultConstraintViolation, "some attributes not unique", []error{adapters.ErrRejected, adapters.ErrAlreadyExists}},
		{ldap.LDAPResultConstraintViolation, "value does not match regex", []error{adapters.ErrRejected}},
		{ldap.LDAPResultObjectClassViolation, "", []error{adapters.ErrRejected}},
		{ldap.LDAPResultInsufficientAccessRights, "", []error{adapters.ErrRejected}},
		{ldap.LDAPResultInvalidAttributeSyntax, "", []error{adapters.ErrRejected}},
		{ldap.LDAPResultUndefinedAttributeType, "", []error{adapters.ErrRejected}},
		{ldap.LDAPResultEntryAlreadyExists, "", []error{adapters.ErrRejected, adapters.ErrAlreadyExists}},
		{ldap.LDAPResultReferral, "", []error{adapters.ErrRejected}},
		{ldap.LDAPResultNoSuchObject, "", []error{adapters.ErrNotFound}},
		{ldap.LDAPResultBusy, "", []error{adapters.ErrUnavailable}},
		{ldap.LDAPResultUnavailable, "", []error{adapters.ErrUnavailable}},
		{ldap.ErrorNetwork, "", []error{adapters.ErrUnavailable}},
		{ldap.LDAPResultInvalidCredentials, "", []error{adapters.ErrConfig}},
	} {
		err := translate("op", &ldap.Error{ResultCode: tc.code, Err: errors.New(tc.msg)})
		for _, w := range tc.want {
			if !errors.Is(err, w) {
				t.Errorf("code %d %q: %v does not wrap %v", tc.code, tc.msg, err, w)
			}
		}
		if !strings.Contains(err.Error(), ldap.LDAPResultCodeMap[tc.code]) {
			t.Errorf("code %d: %v does not name the result code", tc.code, err)
		}
	}
}

func TestValidateLDAP(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	good := func() adapters.Config {
		return adapters.Config{
			Kind: adapters.KindLDAP,
			Users: adapters.UserMapping{
				Attributes: map[string]string{"userName": "uid", "name.familyName": "sn"},
				Active:     &adapters.ActiveMapping{Column: "fixtureActive"},
			},
			LDAP: &adapters.LDAPOptions{
				URL: "ldap://ldap.example.com", BindDN: "cn=svc,dc=example,dc=com", BindPasswordEnv: "LDAP_PW",
				UsersBaseDN: "ou=people,dc=example,dc=com",
			},
		}
	}
	for _, tc := range []struct {
		name   string
		mutate func(c *adapters.Config)
		want   string // substring of the error; "" means valid
	}{
		{"valid", func(*adapters.Config) {}, ""},
		{"dsn as url", func(c *adapters.Config) { c.DSN, c.LDAP.URL = "ldaps://ldap.example.com", "" }, ""},
		{"no ldap settings", func(c *adapters.Config) { c.LDAP = nil }, "ldap settings are required"},
		{"no url", func(c *adapters.Config) { c.LDAP.URL = "" }, "ldap.url is required"},
		{"bad scheme", func(c *adapters.Config) { c.LDAP.URL = "http://x" }, "scheme"},
		{"credentials in url", func(c *adapters.Config) { c.LDAP.URL = "ldap://u:secret@x" }, "must not carry credentials"},
		{"starttls with ldaps", func(c *adapters.Config) { c.LDAP.URL, c.LDAP.StartTLS = "ldaps://x", true }, "start_tls"},
		{"two password sources", func(c *adapters.Config) { c.LDAP.BindPasswordFile = "/x" }, "only one of bind_password_env"},
		{"no password source", func(c *adapters.Config) { c.LDAP.BindPasswordEnv = "" }, "needs bind_password_env"},
		{"bad env name", func(c *adapters.Config) { c.LDAP.BindPasswordEnv = "A B" }, "not an environment variable"},
		{"no base", func(c *adapters.Config) { c.LDAP.UsersBaseDN = "" }, "users_base_dn is required"},
		{"bad base", func(c *adapters.Config) { c.LDAP.UsersBaseDN = "not a dn" }, "users_base_dn is not a DN"},
		{"unknown strategy", func(c *adapters.Config) { c.LDAP.Deactivation.Strategy = "x" }, "strategy"},
		{"ppolicy with users.active", func(c *adapters.Config) { c.LDAP.Deactivation.Strategy = "ppolicy" }, "remove users.active"},
		{"ppolicy", func(c *adapters.Config) { c.LDAP.Deactivation.Strategy = "ppolicy"; c.Users.Active = nil }, ""},
		{"disabled ou outside base", func(c *adapters.Config) {
			c.Users.Active = nil
			c.LDAP.Deactivation = adapters.LDAPDeactivation{Strategy: "disabled_ou", DisabledOU: "ou=disabled,dc=example,dc=com"}
		}, "inside users_base_dn"},
		{"disabled ou", func(c *adapters.Config) {
			c.Users.Active = nil
			c.LDAP.Deactivation = adapters.LDAPDeactivation{Strategy: "disabled_ou", DisabledOU: "ou=disabled,ou=people,dc=example,dc=com"}
		}, ""},
		{"flag without attribute", func(c *adapters.Config) { c.Users.Active = nil }, "flag strategy needs"},
		{"unicodePwd on plain ldap", func(c *adapters.Config) {
			c.LDAP.Password.Mode = "ad_unicodepwd"
			c.Users.Password = &adapters.PasswordMapping{Column: "unicodePwd"}
		}, "needs ldaps"},
		{"unicodePwd with starttls", func(c *adapters.Config) {
			c.LDAP.Password.Mode, c.LDAP.StartTLS, c.LDAP.CAFile = "ad_unicodepwd", true, ca
			c.Users.Password = &adapters.PasswordMapping{Column: "unicodePwd"}
		}, ""},
		{"bad dialect", func(c *adapters.Config) { c.LDAP.Dialect = "novell" }, "dialect"},
		{"bad attribute", func(c *adapters.Config) { c.Users.Attributes["name.givenName"] = "given name" }, "not a valid attribute"},
		{"groups without base", func(c *adapters.Config) {
			c.Groups = &adapters.GroupMapping{Attributes: map[string]string{"displayName": "cn"}}
		}, "groups_base_dn is required"},
		{"groups without displayName", func(c *adapters.Config) {
			c.LDAP.GroupsBaseDN = "ou=groups,dc=example,dc=com"
			c.Groups = &adapters.GroupMapping{Attributes: map[string]string{"externalId": "description"}}
		}, "displayName must be mapped"},
		{"unknown group class", func(c *adapters.Config) {
			c.LDAP.GroupsBaseDN, c.LDAP.GroupObjectClass = "ou=groups,dc=example,dc=com", "team"
			c.Groups = &adapters.GroupMapping{Attributes: map[string]string{"displayName": "cn"}}
		}, "group_object_class"},
		{"negative pool", func(c *adapters.Config) { c.LDAP.PoolSize = -1 }, "must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			tc.mutate(&c)
			err := c.ValidateErr()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("valid config rejected: %v", err)
				}
				return
			}
			if !errors.Is(err, adapters.ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrConfig mentioning %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("error echoes a secret: %v", err)
			}
		})
	}
}

func BenchmarkApplyUser(b *testing.B) {
	s := needServer(b)
	ou := s.TenantOU(b)
	cfg := variants[0].config(s, ou, conformance.Options{})
	st := openTest(b, cfg)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		u := userNamed("bench" + randomHex(6) + "@example.com")
		if _, err := st.ApplyUser(ctx, u); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
}

// A cn mapped from an attribute the IdP leaves out (displayName) falls
// back to the RDN value on update, as on create: person requires cn.
func TestMappedCommonNameLeftEmpty(t *testing.T) {
	s := needServer(t)
	ou := s.TenantOU(t)
	cfg := variants[0].config(s, ou, conformance.Options{})
	cfg.Users.Attributes["displayName"] = "cn"
	st := openTest(t, cfg)
	ctx := context.Background()
	u := adapters.User{Attrs: scim.Attrs{"userName": "nocn", "name": map[string]any{"givenName": "No", "familyName": "Cn"}}, Active: true}
	anchor, err := st.ApplyUser(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	u.Anchor = anchor
	u.Attrs["name"] = map[string]any{"givenName": "No", "familyName": "Changed"}
	if _, err := st.ApplyUser(ctx, u); err != nil {
		t.Fatalf("update without displayName: %v", err)
	}
	u.Attrs["displayName"] = "Shown Name"
	if _, err := st.ApplyUser(ctx, u); err != nil {
		t.Fatalf("update with displayName: %v", err)
	}
	c := s.Admin(t)
	res, err := c.Search(ldap.NewSearchRequest("ou=people,"+ou, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 0, 0, false,
		"(uid=nocn)", []string{"cn", "sn"}, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("search: %v %v", res, err)
	}
	if got := res.Entries[0].GetAttributeValue("cn"); got != "Shown Name" {
		t.Fatalf("cn = %q", got)
	}
	if got := res.Entries[0].GetAttributeValue("sn"); got != "Changed" {
		t.Fatalf("sn = %q", got)
	}
}
