package ldapstore

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
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
)

// The tests run one throwaway slapd for the package: TestMain writes a
// slapd.conf (mdb, suffix dc=example,dc=com, core/cosine/inetorgperson/nis
// plus testdata/fixture.schema, the ppolicy, unique and constraint
// overlays, the argon2 password module, a self-signed certificate for
// StartTLS), starts it on a free 127.0.0.1 port, waits until it answers,
// and kills it at the end. Every test works in its own OU.

const (
	suffix   = "dc=example,dc=com"
	rootDN   = "cn=admin," + suffix
	configDN = "cn=config"
)

// server is the package's slapd; nil when slapd is not installed (tests
// skip, or fail under CI).
var server *slapd

type slapd struct {
	url        string
	rootPW     string
	caFile     string
	pwFile     string // the root password, for bind_password_file
	cmd        *exec.Cmd
	dir        string
	uniqueDN   string // the unique overlay's config entry
	hasPPolicy bool
}

func TestMain(m *testing.M) {
	var code int
	s, err := startSlapd()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ldapstore tests: slapd:", err)
	}
	server = s
	code = m.Run()
	if s != nil {
		s.stop()
	}
	os.Exit(code)
}

// needServer returns the slapd or skips (fails under CI).
func needServer(tb testing.TB) *slapd {
	tb.Helper()
	if server == nil {
		if os.Getenv("CI") != "" {
			tb.Fatal("slapd is not available (install slapd and ldap-utils; .ci/services.sh does)")
		}
		tb.Skip("slapd is not available (set CI to fail instead)")
	}
	return server
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

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

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

// departmentRegex matches every value except RejectedDepartment (POSIX
// ERE has no negative lookahead): a proper prefix of it, a string leaving
// it at some position, or a string extending it.
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

func startSlapd() (*slapd, error) {
	bin := findSlapd()
	if bin == "" {
		return nil, fmt.Errorf("slapd not found")
	}
	dir, err := os.MkdirTemp("", "ldapstore-slapd-")
	if err != nil {
		return nil, err
	}
	s := &slapd{dir: dir, rootPW: "root-" + randomHex(8)}
	fail := func(err error) (*slapd, error) {
		s.stop()
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "db"), 0o700); err != nil {
		return fail(err)
	}
	schema, err := filepath.Abs("testdata/fixture.schema")
	if err != nil {
		return fail(err)
	}
	certFile, keyFile, err := writeCert(dir)
	if err != nil {
		return fail(err)
	}
	s.caFile = certFile
	s.pwFile = filepath.Join(dir, "rootpw")
	if err := os.WriteFile(s.pwFile, []byte(s.rootPW+"\n"), 0o600); err != nil {
		return fail(err)
	}
	modules := []string{"back_mdb", "unique", "constraint"}
	for _, m := range []string{"ppolicy", "argon2"} {
		if _, err := os.Stat("/usr/lib/ldap/" + m + ".so"); err == nil {
			modules = append(modules, m)
			s.hasPPolicy = s.hasPPolicy || m == "ppolicy"
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
	fmt.Fprintf(&conf, "database config\nrootdn %q\nrootpw %s\n", configDN, s.rootPW)
	fmt.Fprintf(&conf, "database mdb\nmaxsize 1073741824\nsuffix %q\nrootdn %q\nrootpw %s\ndirectory %s/db\n", suffix, rootDN, s.rootPW, dir)
	fmt.Fprintf(&conf, "index objectClass,entryUUID,uid,cn,fixtureMail,employeeNumber,sAMAccountName,objectGUID eq\n")
	fmt.Fprintf(&conf, "access to * by * read\n")
	if s.hasPPolicy {
		// A default policy with lockout, as a ppolicy directory has: the
		// lock (pwdAccountLockedTime) is enforced only under a policy.
		fmt.Fprintf(&conf, "overlay ppolicy\nppolicy_default %q\n", "cn=default,ou=policies,"+suffix)
	}
	// Each test's OU gets its own uniqueness domain for fixtureMail at run
	// time (addUniqueDomain); this first one covers nothing.
	fmt.Fprintf(&conf, "overlay unique\nunique_uri ldap:///ou=nothing,%s?fixtureMail?sub\n", suffix)
	fmt.Fprintf(&conf, "overlay constraint\nconstraint_attribute departmentNumber regex %q\n", departmentRegex("REJECTED-BY-STORE"))
	confFile := filepath.Join(dir, "slapd.conf")
	if err := os.WriteFile(confFile, []byte(conf.String()), 0o600); err != nil {
		return fail(err)
	}
	port, err := freePort()
	if err != nil {
		return fail(err)
	}
	s.url = "ldap://127.0.0.1:" + strconv.Itoa(port)
	s.cmd = exec.Command(bin, "-h", s.url+"/", "-f", confFile, "-d", "0")
	s.cmd.Stdout = os.Stderr
	s.cmd.Stderr = os.Stderr
	if err := s.cmd.Start(); err != nil {
		return fail(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := ldap.DialURL(s.url)
		if err == nil {
			err = c.Bind(rootDN, s.rootPW)
			if err == nil {
				err = c.Add(func() *ldap.AddRequest {
					r := ldap.NewAddRequest(suffix, nil)
					r.Attribute("objectClass", []string{"dcObject", "organization"})
					r.Attribute("dc", []string{"example"})
					r.Attribute("o", []string{"Example"})
					return r
				}())
			}
			if err == nil && s.hasPPolicy {
				err = addPolicy(c)
			}
			if err == nil {
				s.uniqueDN, err = findUniqueOverlay(s.url, s.rootPW)
			}
			_ = c.Close()
			if err != nil {
				return fail(err)
			}
			return s, nil
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("slapd did not answer on %s: %v", s.url, err))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// addPolicy adds the default password policy (lockout on).
func addPolicy(c *ldap.Conn) error {
	ou := ldap.NewAddRequest("ou=policies,"+suffix, nil)
	ou.Attribute("objectClass", []string{"organizationalUnit"})
	ou.Attribute("ou", []string{"policies"})
	if err := c.Add(ou); err != nil {
		return err
	}
	p := ldap.NewAddRequest("cn=default,ou=policies,"+suffix, nil)
	p.Attribute("objectClass", []string{"device", "pwdPolicy"})
	p.Attribute("cn", []string{"default"})
	p.Attribute("pwdAttribute", []string{"userPassword"})
	p.Attribute("pwdLockout", []string{"TRUE"})
	return c.Add(p)
}

// findUniqueOverlay returns the cn=config DN of the unique overlay.
func findUniqueOverlay(url, rootPW string) (string, error) {
	cc, err := ldap.DialURL(url)
	if err != nil {
		return "", err
	}
	defer cc.Close()
	if err := cc.Bind(configDN, rootPW); err != nil {
		return "", fmt.Errorf("bind cn=config: %w", err)
	}
	res, err := cc.Search(ldap.NewSearchRequest(configDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=olcUniqueConfig)", []string{"1.1"}, nil))
	if err != nil || len(res.Entries) != 1 {
		return "", fmt.Errorf("unique overlay config: %v", err)
	}
	return res.Entries[0].DN, nil
}

func (s *slapd) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	}
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}

// admin returns a connection bound as the root DN, closed in cleanup.
func (s *slapd) admin(tb testing.TB) *ldap.Conn {
	tb.Helper()
	c, err := ldap.DialURL(s.url)
	if err != nil {
		tb.Fatalf("dial slapd: %v", err)
	}
	if err := c.Bind(rootDN, s.rootPW); err != nil {
		tb.Fatalf("bind: %v", err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// tenantOU creates ou=<random> with people, people/disabled and groups
// below it, a uniqueness domain for fixtureMail in it, and removes it all
// in cleanup.
func (s *slapd) tenantOU(tb testing.TB) string {
	tb.Helper()
	c := s.admin(tb)
	ou := "ou=t" + randomHex(6) + "," + suffix
	for _, dn := range []string{ou, "ou=people," + ou, "ou=disabled,ou=people," + ou, "ou=groups," + ou} {
		r := ldap.NewAddRequest(dn, nil)
		r.Attribute("objectClass", []string{"organizationalUnit"})
		rdn, _, _ := strings.Cut(strings.TrimPrefix(dn, "ou="), ",")
		r.Attribute("ou", []string{rdn})
		if err := c.Add(r); err != nil {
			tb.Fatalf("add %s: %v", dn, err)
		}
	}
	s.addUniqueDomain(tb, ou)
	tb.Cleanup(func() { s.deleteTree(ou) })
	return ou
}

func (s *slapd) addUniqueDomain(tb testing.TB, ou string) {
	tb.Helper()
	c, err := ldap.DialURL(s.url)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	if err := c.Bind(configDN, s.rootPW); err != nil {
		tb.Fatal(err)
	}
	uri := "ldap:///" + ou + "?fixtureMail?sub"
	mod := ldap.NewModifyRequest(s.uniqueDN, nil)
	mod.Add("olcUniqueURI", []string{uri})
	if err := c.Modify(mod); err != nil {
		tb.Fatalf("add unique domain: %v", err)
	}
	tb.Cleanup(func() {
		c, err := ldap.DialURL(s.url)
		if err != nil {
			return
		}
		defer c.Close()
		if c.Bind(configDN, s.rootPW) == nil {
			mod := ldap.NewModifyRequest(s.uniqueDN, nil)
			mod.Delete("olcUniqueURI", []string{uri})
			_ = c.Modify(mod)
		}
	})
}

// deleteTree removes dn and everything below it, leaves first.
func (s *slapd) deleteTree(dn string) {
	c, err := ldap.DialURL(s.url)
	if err != nil {
		return
	}
	defer c.Close()
	if c.Bind(rootDN, s.rootPW) != nil {
		return
	}
	res, err := c.Search(ldap.NewSearchRequest(dn, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{"1.1"}, nil))
	if err != nil {
		return
	}
	dns := make([]string, 0, len(res.Entries))
	for _, e := range res.Entries {
		dns = append(dns, e.DN)
	}
	// Deepest first.
	depth := func(d string) int {
		p, err := ldap.ParseDN(d)
		if err != nil {
			return 0
		}
		return len(p.RDNs)
	}
	sort.Slice(dns, func(i, j int) bool { return depth(dns[i]) > depth(dns[j]) })
	for _, d := range dns {
		_ = c.Del(ldap.NewDelRequest(d, nil))
	}
}
