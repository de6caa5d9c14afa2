package ldaptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	_ "embed"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/scimbridge/scimbridge/adapters/conformance"
	"github.com/scimbridge/scimbridge/internal/testsupport"
)

const (
	// BaseDN is the directory's suffix.
	BaseDN = "dc=example,dc=com"
	// RootDN is the suffix's root (manager) DN.
	RootDN = "cn=admin," + BaseDN
	// ConfigDN is the configuration database's root DN (same password).
	ConfigDN = "cn=config"
)

// ErrNoSlapd means slapd is not installed.
var ErrNoSlapd = errors.New("ldaptest: slapd is not installed (install slapd and ldap-utils; .ci/services.sh does)")

// ErrStart means slapd was found but did not start or answer.
var ErrStart = errors.New("ldaptest: slapd did not start")

//go:embed fixture.schema
var fixtureSchema []byte

// Server is a running slapd.
type Server struct {
	// URL is ldap://127.0.0.1:<port>.
	URL string
	// BaseDN is the suffix; RootDN binds with RootPW.
	BaseDN string
	RootDN string
	RootPW string
	// RootPWFile holds RootPW (for bind_password_file settings).
	RootPWFile string
	// CAFile is the PEM certificate slapd presents for StartTLS.
	CAFile string
	// HasPPolicy reports whether the ppolicy overlay is loaded (with a
	// default lockout policy, so pwdAccountLockedTime is enforced).
	HasPPolicy bool

	cmd      *exec.Cmd
	exited   chan struct{} // closed when slapd has exited and been reaped
	dir      string
	uniqueDN string // the unique overlay's cn=config entry
}

// Unavailable is testsupport.Require for slapd: it skips tb on a
// developer machine and fails it when the CI environment variable is set;
// why is the reason slapd is not there.
func Unavailable(tb testing.TB, why error) {
	tb.Helper()
	testsupport.Require(tb, "slapd", why)
}

// New starts a slapd for one test (or benchmark) and stops it in the
// test's cleanup. Without slapd the test is skipped, or failed under CI.
func New(tb testing.TB) *Server {
	tb.Helper()
	s, err := Start()
	if err != nil {
		Unavailable(tb, err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// Start starts a slapd. The error wraps ErrNoSlapd when slapd is not
// installed and ErrStart when it did not come up. The caller must Stop it.
func Start() (*Server, error) {
	bin := findSlapd()
	if bin == "" {
		return nil, ErrNoSlapd
	}
	s, err := start(bin)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStart, err)
	}
	return s, nil
}

func start(bin string) (*Server, error) {
	dir, err := os.MkdirTemp("", "ldaptest-slapd-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, BaseDN: BaseDN, RootDN: RootDN, RootPW: "root-" + randomHex(8)}
	fail := func(err error) (*Server, error) {
		s.Stop()
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "db"), 0o700); err != nil {
		return fail(err)
	}
	schema := filepath.Join(dir, "fixture.schema")
	if err := os.WriteFile(schema, fixtureSchema, 0o600); err != nil {
		return fail(err)
	}
	certFile, keyFile, err := writeCert(dir)
	if err != nil {
		return fail(err)
	}
	s.CAFile = certFile
	s.RootPWFile = filepath.Join(dir, "rootpw")
	if err := os.WriteFile(s.RootPWFile, []byte(s.RootPW+"\n"), 0o600); err != nil {
		return fail(err)
	}
	modules := []string{"back_mdb", "unique", "constraint"}
	for _, m := range []string{"ppolicy", "argon2"} {
		if _, err := os.Stat("/usr/lib/ldap/" + m + ".so"); err == nil {
			modules = append(modules, m)
			s.HasPPolicy = s.HasPPolicy || m == "ppolicy"
		}
	}
	var conf strings.Builder
	for _, sc := range []string{"core", "cosine", "inetorgperson", "nis"} {
		fmt.Fprintf(&conf, "include /etc/ldap/schema/%s.schema\n", sc)
	}
	fmt.Fprintf(&conf, "include %s\n", schema)
	fmt.Fprintf(&conf, "modulepath /usr/lib/ldap\n")
	for _, m := range modules {
		fmt.Fprintf(&conf, "moduleload %s\n", m)
	}
	fmt.Fprintf(&conf, "pidfile %s/slapd.pid\nargsfile %s/slapd.args\n", dir, dir)
	fmt.Fprintf(&conf, "TLSCertificateFile %s\nTLSCertificateKeyFile %s\n", certFile, keyFile)
	fmt.Fprintf(&conf, "sizelimit unlimited\n")
	fmt.Fprintf(&conf, "database config\nrootdn %q\nrootpw %s\n", ConfigDN, s.RootPW)
	fmt.Fprintf(&conf, "database mdb\nmaxsize 1073741824\nsuffix %q\nrootdn %q\nrootpw %s\ndirectory %s/db\n", BaseDN, RootDN, s.RootPW, dir)
	fmt.Fprintf(&conf, "index objectClass,entryUUID,uid,cn,fixtureMail,employeeNumber,sAMAccountName,objectGUID eq\n")
	fmt.Fprintf(&conf, "access to * by * read\n")
	if s.HasPPolicy {
		// A default policy with lockout, as a ppolicy directory has: the
		// lock (pwdAccountLockedTime) is enforced only under a policy.
		fmt.Fprintf(&conf, "overlay ppolicy\nppolicy_default %q\n", "cn=default,ou=policies,"+BaseDN)
	}
	// Each TenantOU gets its own uniqueness domain for fixtureMail at run
	// time; this first one covers nothing.
	fmt.Fprintf(&conf, "overlay unique\nunique_uri ldap:///ou=nothing,%s?fixtureMail?sub\n", BaseDN)
	fmt.Fprintf(&conf, "overlay constraint\nconstraint_attribute departmentNumber regex %q\n", departmentRegex(conformance.RejectedDepartment))
	confFile := filepath.Join(dir, "slapd.conf")
	if err := os.WriteFile(confFile, []byte(conf.String()), 0o600); err != nil {
		return fail(err)
	}
	port, err := freePort()
	if err != nil {
		return fail(err)
	}
	s.URL = "ldap://127.0.0.1:" + strconv.Itoa(port)
	s.cmd = exec.Command(bin, "-h", s.URL+"/", "-f", confFile, "-d", "0")
	s.cmd.Stdout = os.Stderr
	s.cmd.Stderr = os.Stderr
	if err := s.cmd.Start(); err != nil {
		return fail(err)
	}
	s.exited = make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := ldap.DialURL(s.URL)
		if err == nil {
			err = s.populate(c)
			_ = c.Close()
			if err != nil {
				return fail(err)
			}
			return s, nil
		}
		select {
		case <-s.exited:
			return fail(fmt.Errorf("slapd exited (see its output above)"))
		default:
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("slapd did not answer on %s: %v", s.URL, err))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// populate adds the suffix entry and the default password policy, and
// finds the unique overlay's configuration entry.
func (s *Server) populate(c *ldap.Conn) error {
	if err := c.Bind(RootDN, s.RootPW); err != nil {
		return fmt.Errorf("bind %s: %w", RootDN, err)
	}
	base := ldap.NewAddRequest(BaseDN, nil)
	base.Attribute("objectClass", []string{"dcObject", "organization"})
	base.Attribute("dc", []string{"example"})
	base.Attribute("o", []string{"Example"})
	if err := c.Add(base); err != nil {
		return fmt.Errorf("add %s: %w", BaseDN, err)
	}
	if s.HasPPolicy {
		if err := addPolicy(c); err != nil {
			return err
		}
	}
	dn, err := s.findUniqueOverlay()
	if err != nil {
		return err
	}
	s.uniqueDN = dn
	return nil
}

// Stop kills slapd and removes its directory. It may be called twice.
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil && s.exited != nil {
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
		s.dir = ""
	}
}

// Dial returns a connection bound as the root DN.
func (s *Server) Dial() (*ldap.Conn, error) {
	return s.dialAs(RootDN)
}

func (s *Server) dialAs(dn string) (*ldap.Conn, error) {
	c, err := ldap.DialURL(s.URL)
	if err != nil {
		return nil, fmt.Errorf("ldaptest: dial %s: %w", s.URL, err)
	}
	if err := c.Bind(dn, s.RootPW); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("ldaptest: bind %s: %w", dn, err)
	}
	return c, nil
}

// Admin returns a connection bound as the root DN, closed in tb's cleanup.
func (s *Server) Admin(tb testing.TB) *ldap.Conn {
	tb.Helper()
	c, err := s.Dial()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// TenantOU creates ou=t<random> under BaseDN with ou=people,
// ou=disabled,ou=people and ou=groups below it, makes fixtureMail unique
// within it, and removes it all in tb's cleanup. It returns the OU's DN.
func (s *Server) TenantOU(tb testing.TB) string {
	tb.Helper()
	c := s.Admin(tb)
	ou := "ou=t" + randomHex(6) + "," + BaseDN
	for _, dn := range []string{ou, "ou=people," + ou, "ou=disabled,ou=people," + ou, "ou=groups," + ou} {
		r := ldap.NewAddRequest(dn, nil)
		r.Attribute("objectClass", []string{"organizationalUnit"})
		rdn, _, _ := strings.Cut(strings.TrimPrefix(dn, "ou="), ",")
		r.Attribute("ou", []string{rdn})
		if err := c.Add(r); err != nil {
			tb.Fatalf("ldaptest: add %s: %v", dn, err)
		}
	}
	s.addUniqueDomain(tb, ou)
	tb.Cleanup(func() { _ = s.DeleteTree(ou) })
	return ou
}

func (s *Server) addUniqueDomain(tb testing.TB, ou string) {
	tb.Helper()
	c, err := s.dialAs(ConfigDN)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	uri := "ldap:///" + ou + "?fixtureMail?sub"
	mod := ldap.NewModifyRequest(s.uniqueDN, nil)
	mod.Add("olcUniqueURI", []string{uri})
	if err := c.Modify(mod); err != nil {
		tb.Fatalf("ldaptest: add unique domain: %v", err)
	}
	tb.Cleanup(func() {
		c, err := s.dialAs(ConfigDN)
		if err != nil {
			return
		}
		defer c.Close()
		mod := ldap.NewModifyRequest(s.uniqueDN, nil)
		mod.Delete("olcUniqueURI", []string{uri})
		_ = c.Modify(mod)
	})
}

// DeleteTree removes dn and everything below it, deepest entries first.
func (s *Server) DeleteTree(dn string) error {
	c, err := s.Dial()
	if err != nil {
		return err
	}
	defer c.Close()
	res, err := c.Search(ldap.NewSearchRequest(dn, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"1.1"}, nil))
	if err != nil {
		return fmt.Errorf("ldaptest: search %s: %w", dn, err)
	}
	dns := make([]string, 0, len(res.Entries))
	for _, e := range res.Entries {
		dns = append(dns, e.DN)
	}
	depth := func(d string) int {
		p, err := ldap.ParseDN(d)
		if err != nil {
			return 0
		}
		return len(p.RDNs)
	}
	sort.Slice(dns, func(i, j int) bool { return depth(dns[i]) > depth(dns[j]) })
	for _, d := range dns {
		if err := c.Del(ldap.NewDelRequest(d, nil)); err != nil {
			return fmt.Errorf("ldaptest: delete %s: %w", d, err)
		}
	}
	return nil
}

// addPolicy adds the default password policy (lockout on).
func addPolicy(c *ldap.Conn) error {
	ou := ldap.NewAddRequest("ou=policies,"+BaseDN, nil)
	ou.Attribute("objectClass", []string{"organizationalUnit"})
	ou.Attribute("ou", []string{"policies"})
	if err := c.Add(ou); err != nil {
		return fmt.Errorf("add policies OU: %w", err)
	}
	p := ldap.NewAddRequest("cn=default,ou=policies,"+BaseDN, nil)
	p.Attribute("objectClass", []string{"device", "pwdPolicy"})
	p.Attribute("cn", []string{"default"})
	p.Attribute("pwdAttribute", []string{"userPassword"})
	p.Attribute("pwdLockout", []string{"TRUE"})
	if err := c.Add(p); err != nil {
		return fmt.Errorf("add default policy: %w", err)
	}
	return nil
}

// findUniqueOverlay returns the cn=config DN of the unique overlay.
func (s *Server) findUniqueOverlay() (string, error) {
	c, err := s.dialAs(ConfigDN)
	if err != nil {
		return "", err
	}
	defer c.Close()
	res, err := c.Search(ldap.NewSearchRequest(ConfigDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=olcUniqueConfig)", []string{"1.1"}, nil))
	if err != nil {
		return "", fmt.Errorf("unique overlay config: %w", err)
	}
	if len(res.Entries) != 1 {
		return "", fmt.Errorf("unique overlay config: %d entries", len(res.Entries))
	}
	return res.Entries[0].DN, nil
}

func findSlapd() string {
	for _, p := range []string{"/usr/sbin/slapd", "/usr/local/libexec/slapd", "/usr/libexec/slapd"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("slapd"); err == nil {
		return p
	}
	return ""
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string { return testsupport.RandomHex(n) }

// writeCert writes a self-signed certificate for 127.0.0.1 and its key.
func writeCert(dir string) (certFile, keyFile string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

// departmentRegex matches every value except rejected (POSIX ERE has no
// negative lookahead): a proper prefix of it, a string leaving it at some
// position, or a string extending it.
func departmentRegex(rejected string) string {
	alts := []string{""}
	for i := 0; i < len(rejected); i++ {
		prefix := regexpQuote(rejected[:i])
		if i > 0 {
			alts = append(alts, prefix)
		}
		alts = append(alts, prefix+"[^"+regexpQuote(rejected[i:i+1])+"]"+".*")
	}
	alts = append(alts, regexpQuote(rejected)+".+")
	return "^(" + strings.Join(alts, "|") + ")$"
}

func regexpQuote(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`.[]()*+?{}|^$\-`, r) {
			if r == '-' {
				b.WriteRune(r) // literal outside brackets
				continue
			}
			b.WriteRune('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
