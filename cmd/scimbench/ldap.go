package main

// LDAP stores: a throwaway slapd (scimbench slapd), tenants whose store is
// a directory (setup), the directory's own add/modify ceiling, and the
// marker check of a run.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/adapters/ldapstore/ldaptest"
	"github.com/scimbridge/scimbridge/tenants"
)

// ldapMarkerAttribute is the attribute the enterprise department (the
// write marker) maps to in setup's LDAP tenants.
const ldapMarkerAttribute = "departmentNumber"

// ldapUserAttributes maps SCIM to the attributes of setup's LDAP tenants
// (as configs/tenant-ldap.example.yaml does).
var ldapUserAttributes = map[string]string{
	"userName": "uid", "name.givenName": "givenName", "name.familyName": "sn",
	"displayName": "cn", `emails[type eq "work"].value`: "mail", "externalId": "employeeNumber",
	schemaEnterprise + ":department": ldapMarkerAttribute,
}

// isLDAPURL reports whether a store DSN is an LDAP URL.
func isLDAPURL(dsn string) bool {
	l := strings.ToLower(dsn)
	return strings.HasPrefix(l, "ldap://") || strings.HasPrefix(l, "ldaps://")
}

// ldapHost is the host:port of an LDAP URL ("invalid-host" when it does
// not parse, so the loopback check refuses it).
func ldapHost(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Host == "" {
		return "invalid-host"
	}
	if u.Port() == "" {
		if strings.EqualFold(u.Scheme, "ldaps") {
			return u.Host + ":636"
		}
		return u.Host + ":389"
	}
	return u.Host
}

// ldapClient is how the tool reaches a directory: bound connections.
type ldapClient struct {
	url          string
	bindDN       string
	passwordFile string
}

// dial opens one connection bound as the bind DN.
func (l *ldapClient) dial() (*ldap.Conn, error) {
	c, err := ldap.DialURL(l.url)
	if err != nil {
		return nil, fmt.Errorf("scimbench: ldap dial: %w", err)
	}
	if l.bindDN != "" {
		pw, err := readSecretFile(l.passwordFile)
		if err != nil {
			c.Close()
			return nil, err
		}
		if err := c.Bind(l.bindDN, pw); err != nil {
			c.Close()
			return nil, fmt.Errorf("scimbench: ldap bind as %s: %w", l.bindDN, err)
		}
	}
	return c, nil
}

// readSecretFile reads a password file (trailing newline trimmed).
func readSecretFile(path string) (string, error) {
	if path == "" {
		return "", errors.New("scimbench: --ldap-bind-password-file is required with --ldap-bind-dn")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("scimbench: ldap password file: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// ldapDNs are the containers setup makes for one --schema under --ldap-base.
type ldapDNs struct {
	root, users, groups, disabled string
}

func ldapContainers(schema, base string) ldapDNs {
	root := "ou=" + ldap.EscapeDN(schema) + "," + base
	users := "ou=people," + root
	return ldapDNs{root: root, users: users, groups: "ou=groups," + root, disabled: "ou=disabled," + users}
}

// addOU adds an organizationalUnit; one that exists already is fine.
func addOU(c *ldap.Conn, dn string) error {
	rdn, _, _ := strings.Cut(strings.TrimPrefix(dn, "ou="), ",")
	r := ldap.NewAddRequest(dn, nil)
	r.Attribute("objectClass", []string{"organizationalUnit"})
	r.Attribute("ou", []string{rdn})
	if err := c.Add(r); err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultEntryAlreadyExists) {
		return fmt.Errorf("scimbench: add %s: %w", dn, err)
	}
	return nil
}

// createLDAPContainers makes setup's OUs (users, groups, disabled users).
func createLDAPContainers(l *ldapClient, dns ldapDNs) error {
	c, err := l.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	for _, dn := range []string{dns.root, dns.users, dns.disabled, dns.groups} {
		if err := addOU(c, dn); err != nil {
			return err
		}
	}
	return nil
}

// benchLDAPTenant is a tenant whose users and groups live under dns. The
// bind password stays in its file: the tenant names the file only.
func benchLDAPTenant(id string, l *ldapClient, dns ldapDNs, concurrency int) tenants.Tenant {
	return tenants.Tenant{ID: id, Name: "scimbench " + id, Store: adapters.Config{
		Kind:           adapters.KindLDAP,
		MaxConcurrency: concurrency,
		LDAP: &adapters.LDAPOptions{
			URL: l.url, BindDN: l.bindDN, BindPasswordFile: l.passwordFile,
			// As many connections as applies may run at once (default 2).
			PoolSize:    max(2, concurrency),
			UsersBaseDN: dns.users, UserRDNAttribute: "uid", UserObjectClasses: []string{"inetOrgPerson"},
			AnchorAttribute: "entryUUID",
			Deactivation:    adapters.LDAPDeactivation{Strategy: adapters.LDAPDeactivateDisabledOU, DisabledOU: dns.disabled},
			GroupsBaseDN:    dns.groups, GroupObjectClass: adapters.LDAPGroupOfNames,
		},
		Users: adapters.UserMapping{
			Attributes: ldapUserAttributes,
			OnDelete:   adapters.OnDeleteDeactivate,
		},
		Groups: &adapters.GroupMapping{Attributes: map[string]string{"displayName": "cn"}},
	}}
}

// ldapEntry is the add request scimbridge makes for a create of user i
// with setup's mapping: the same object class and attributes, in the same
// (sorted) order.
func ldapEntry(parent, tag string, i int) *ldap.AddRequest {
	un := fmt.Sprintf("%s-%d@bench.example", tag, i)
	r := ldap.NewAddRequest("uid="+ldap.EscapeDN(un)+","+parent, nil)
	r.Attribute("objectClass", []string{"inetOrgPerson"})
	vals := map[string]string{
		"uid": un, "givenName": "Ceil", "sn": fmt.Sprintf("User%d", i), "cn": fmt.Sprintf("Ceil User%d", i),
		"mail": un, "employeeNumber": fmt.Sprintf("00uceil%012d", i), ldapMarkerAttribute: fmt.Sprintf("%s-m-%d", tag, i),
	}
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		r.Attribute(k, []string{vals[k]})
	}
	return r
}

// measureLDAPCeiling adds rows entries like scimbridge's creates into a
// scratch OU under container, then modifies one attribute of each, conc
// at a time with one bound connection per writer, and deletes the OU.
func measureLDAPCeiling(ctx context.Context, l *ldapClient, container string, rows, conc int) (*Ceiling, error) {
	conc = max(1, conc)
	admin, err := l.dial()
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	tag := "sbceil" + randomTag()
	ou := "ou=" + tag + "," + container
	if err := addOU(admin, ou); err != nil {
		return nil, err
	}
	defer func() { _ = deleteLDAPTree(context.WithoutCancel(ctx), l, ou, conc) }()
	conns := make(chan *ldap.Conn, conc)
	for range conc {
		c, err := l.dial()
		if err != nil {
			return nil, err
		}
		defer c.Close()
		conns <- c
	}
	withConn := func(f func(c *ldap.Conn) error) error {
		c := <-conns
		defer func() { conns <- c }()
		return f(c)
	}
	addDur, err := parallel(ctx, rows, conc, func(ctx context.Context, i int) error {
		return withConn(func(c *ldap.Conn) error { return c.Add(ldapEntry(ou, tag, i)) })
	})
	if err != nil {
		return nil, fmt.Errorf("scimbench: ceiling add: %w", err)
	}
	modDur, err := parallel(ctx, rows, conc, func(ctx context.Context, i int) error {
		return withConn(func(c *ldap.Conn) error {
			m := ldap.NewModifyRequest(ldapEntry(ou, tag, i).DN, nil)
			m.Replace(ldapMarkerAttribute, []string{fmt.Sprintf("%s-upd-%d", tag, i)})
			return c.Modify(m)
		})
	})
	if err != nil {
		return nil, fmt.Errorf("scimbench: ceiling modify: %w", err)
	}
	c := &Ceiling{Rows: rows, Concurrency: conc, InsertSeconds: addDur.Seconds(), UpdateSeconds: modDur.Seconds()}
	if addDur > 0 {
		c.InsertPerSec = float64(rows) / addDur.Seconds()
	}
	if modDur > 0 {
		c.UpdatePerSec = float64(rows) / modDur.Seconds()
	}
	return c, nil
}

// deleteLDAPTree deletes dn and everything below it, deepest first, conc
// deletes at a time.
func deleteLDAPTree(ctx context.Context, l *ldapClient, dn string, conc int) error {
	c, err := l.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	res, err := c.SearchWithPaging(ldap.NewSearchRequest(dn, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"1.1"}, nil), 1000)
	if err != nil {
		return fmt.Errorf("scimbench: ldap cleanup: %w", err)
	}
	byDepth := map[int][]string{}
	var depths []int
	for _, e := range res.Entries {
		p, err := ldap.ParseDN(e.DN)
		if err != nil {
			continue
		}
		d := len(p.RDNs)
		if byDepth[d] == nil {
			depths = append(depths, d)
		}
		byDepth[d] = append(byDepth[d], e.DN)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(depths)))
	conns := make(chan *ldap.Conn, conc)
	for range conc {
		cc, err := l.dial()
		if err != nil {
			return err
		}
		defer cc.Close()
		conns <- cc
	}
	for _, d := range depths {
		dns := byDepth[d]
		if _, err := parallel(ctx, len(dns), conc, func(ctx context.Context, i int) error {
			cc := <-conns
			defer func() { conns <- cc }()
			if err := cc.Del(ldap.NewDelRequest(dns[i], nil)); err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
				return err
			}
			return nil
		}); err != nil {
			return fmt.Errorf("scimbench: ldap cleanup: %w", err)
		}
	}
	return nil
}

// ldapMarkersPresent returns which markers some entry under base holds
// (in ldapMarkerAttribute). Markers of one run share a prefix ("<run>-"):
// one substring search reads them all; otherwise batches of equality
// filters.
func ldapMarkersPresent(l *ldapClient, base, attr string, markers []string) (map[string]bool, error) {
	c, err := l.dial()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var filters []string
	if p := commonRunPrefix(markers); p != "" {
		filters = []string{"(" + attr + "=" + ldap.EscapeFilter(p) + "*)"}
	} else {
		for lo := 0; lo < len(markers); lo += 200 {
			var f strings.Builder
			f.WriteString("(|")
			for _, m := range markers[lo:min(lo+200, len(markers))] {
				f.WriteString("(" + attr + "=" + ldap.EscapeFilter(m) + ")")
			}
			f.WriteString(")")
			filters = append(filters, f.String())
		}
	}
	found := make(map[string]bool, len(markers))
	for _, f := range filters {
		res, err := c.SearchWithPaging(ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
			f, []string{attr}, nil), 1000)
		if err != nil {
			return nil, fmt.Errorf("scimbench: poll ldap: %w", err)
		}
		for _, e := range res.Entries {
			for _, v := range e.GetEqualFoldAttributeValues(attr) {
				found[v] = true
			}
		}
	}
	return found, nil
}

// commonRunPrefix is "<run>-" when every marker is "<run>-<n>" for one run.
func commonRunPrefix(markers []string) string {
	if len(markers) == 0 {
		return ""
	}
	i := strings.LastIndexByte(markers[0], '-')
	if i <= 0 {
		return ""
	}
	p := markers[0][:i+1]
	for _, m := range markers {
		if !strings.HasPrefix(m, p) || strings.Contains(m[len(p):], "-") {
			return ""
		}
	}
	return p
}

// parentDN is dn without its first RDN.
func parentDN(dn string) (string, error) {
	p, err := ldap.ParseDN(dn)
	if err != nil || len(p.RDNs) < 2 {
		return "", fmt.Errorf("scimbench: %q has no parent DN", dn)
	}
	return (&ldap.DN{RDNs: p.RDNs[1:]}).String(), nil
}

func randomTag() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// slapdInfo is what `scimbench slapd` prints: where the directory is and
// how to bind (the password stays in its file).
type slapdInfo struct {
	URL          string `json:"url"`
	BaseDN       string `json:"base_dn"`
	RootDN       string `json:"root_dn"`
	RootPWFile   string `json:"root_pw_file"`
	HasPPolicy   bool   `json:"ppolicy"`
	ScimbenchPID int    `json:"pid"`
}

// cmdSlapd starts a throwaway slapd (adapters/ldapstore/ldaptest: mdb,
// loopback, a random port and root password), prints how to reach it as
// one JSON line, and keeps it running until SIGINT or SIGTERM; then it
// stops slapd and removes its directory.
func cmdSlapd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("slapd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	infoFile := fs.String("info", "", "also write the JSON to this file (mode 0600)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s, err := ldaptest.Start()
	if err != nil {
		return err
	}
	defer s.Stop()
	info := slapdInfo{URL: s.URL, BaseDN: s.BaseDN, RootDN: s.RootDN, RootPWFile: s.RootPWFile, HasPPolicy: s.HasPPolicy, ScimbenchPID: os.Getpid()}
	b, err := json.Marshal(info)
	if err != nil {
		return err
	}
	if *infoFile != "" {
		if err := os.WriteFile(*infoFile, append(b, '\n'), 0o600); err != nil {
			return err
		}
	}
	fmt.Fprintln(stdout, string(b))
	<-ctx.Done()
	return nil
}
