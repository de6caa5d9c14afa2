package ldapstore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/scimbridge/scimbridge/adapters"
)

// Store is one tenant's LDAP directory. It implements adapters.Store and
// adapters.GroupStore and is safe for concurrent use.
type Store struct {
	tenantID string
	policy   *adapters.HostPolicy // where dial may connect (nil: the defaults)
	cfg      adapters.Config
	users    *adapters.UserMapper // cfg.Users compiled: Fields and Attrs per user
	opts     adapters.LDAPOptions
	url      string
	secure   bool // ldaps:// or StartTLS
	pool     *pool
	// identifying are the attributes mapped from SCIM identifiers (the
	// writer's keys, writer.go).
	identifying []string
}

var (
	_ adapters.Store      = (*Store)(nil)
	_ adapters.GroupStore = (*Store)(nil)
)

// NewFactory returns the adapters.Factory for "ldap" whose stores dial only
// where policy permits (nil: the default policy). A factory validates cfg
// and returns the tenant's store without connecting: connections are
// dialled (and the bind password resolved) on first use.
func NewFactory(policy *adapters.HostPolicy) adapters.Factory {
	return func(_ context.Context, tenantID string, cfg adapters.Config) (adapters.Store, error) {
		return open(tenantID, cfg, policy)
	}
}

func open(tenantID string, cfg adapters.Config, policy *adapters.HostPolicy) (*Store, error) {
	if cfg.Kind != adapters.KindLDAP {
		return nil, fmt.Errorf("ldapstore: kind %q: %w: want ldap", cfg.Kind, adapters.ErrConfig)
	}
	if err := cfg.ValidateErr(); err != nil {
		return nil, fmt.Errorf("ldapstore: tenant %s: %w", tenantID, err)
	}
	users, err := adapters.NewUserMapper(cfg.Users)
	if err != nil {
		return nil, fmt.Errorf("ldapstore: tenant %s: %w", tenantID, err)
	}
	opts := cfg.LDAP.WithDefaults(cfg.Users)
	rawURL := opts.URL
	if rawURL == "" {
		rawURL = cfg.DSN
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("ldapstore: url: %w", adapters.ErrConfig)
	}
	s := &Store{
		tenantID: tenantID,
		policy:   policy,
		cfg:      cfg,
		users:    users,
		opts:     opts,
		url:      rawURL,
		secure:   strings.EqualFold(u.Scheme, "ldaps") || opts.StartTLS,

		identifying: identifyingAttributes(cfg.Users),
	}
	if opts.InsecureSkipVerify {
		slog.Warn("ldapstore: TLS certificate verification is off (insecure_skip_verify); use only in tests", "tenant", tenantID)
	}
	s.pool = newPool(opts.PoolSize, s.dial)
	return s, nil
}

// Ping checks that the directory answers (a bind and a base-scoped read of
// the users base DN).
func (s *Store) Ping(ctx context.Context) error {
	return s.do(ctx, "ping", func(c *ldap.Conn) error {
		_, err := c.Search(ldap.NewSearchRequest(s.opts.UsersBaseDN, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
			1, 0, false, "(objectClass=*)", []string{"1.1"}, nil))
		return err
	})
}

// Close closes the pooled connections.
func (s *Store) Close() error {
	s.pool.close()
	return nil
}

// tlsConfig builds the TLS settings for ldaps and StartTLS.
func (s *Store) tlsConfig(host string) (*tls.Config, error) {
	tc := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12, InsecureSkipVerify: s.opts.InsecureSkipVerify} //nolint:gosec // opt-in, warned at Open
	if s.opts.CAFile != "" {
		pem, err := os.ReadFile(s.opts.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ldapstore: ca_file: %w: %v", adapters.ErrConfig, err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ldapstore: ca_file: %w: no PEM certificate", adapters.ErrConfig)
		}
		tc.RootCAs = roots
	}
	return tc, nil
}

// bindPassword resolves the bind password from its reference.
func (s *Store) bindPassword() (string, error) {
	switch {
	case s.opts.BindPasswordEnv != "":
		v := os.Getenv(s.opts.BindPasswordEnv)
		if v == "" {
			return "", fmt.Errorf("ldapstore: %w: environment variable %s is empty", adapters.ErrConfig, s.opts.BindPasswordEnv)
		}
		return v, nil
	case s.opts.BindPasswordFile != "":
		b, err := os.ReadFile(s.opts.BindPasswordFile)
		if err != nil {
			return "", fmt.Errorf("ldapstore: bind_password_file: %w: %v", adapters.ErrConfig, err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return "", nil
}

// dial opens, secures and binds one connection.
func (s *Store) dial() (*ldap.Conn, error) {
	u, err := url.Parse(s.url)
	if err != nil {
		return nil, fmt.Errorf("ldapstore: url: %w", adapters.ErrConfig)
	}
	tc, err := s.tlsConfig(u.Hostname())
	if err != nil {
		return nil, err
	}
	c, err := ldap.DialURL(s.url, ldap.DialWithDialer(s.policy.Dialer(s.opts.Timeout)), ldap.DialWithTLSConfig(tc))
	if err != nil {
		return nil, fmt.Errorf("ldapstore: dial: %w: %v", adapters.ErrUnavailable, err)
	}
	c.SetTimeout(s.opts.Timeout)
	if s.opts.StartTLS {
		if err := c.StartTLS(tc); err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("ldapstore: starttls: %w: %v", adapters.ErrUnavailable, err)
		}
	}
	if s.opts.BindDN != "" {
		pw, err := s.bindPassword()
		if err != nil {
			_ = c.Close()
			return nil, err
		}
		if err := c.Bind(s.opts.BindDN, pw); err != nil {
			_ = c.Close()
			if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
				return nil, fmt.Errorf("ldapstore: bind as the configured bind_dn: %w: invalid credentials", adapters.ErrConfig)
			}
			return nil, translate("bind", err)
		}
	}
	return c, nil
}

// do runs fn on a pooled connection. The operation timeout is the
// configured timeout or the context's deadline, whichever is sooner; a
// canceled context closes the connection under fn. Errors from fn are
// translated to the adapters sentinels; a connection that failed is
// discarded, not returned to the pool.
func (s *Store) do(ctx context.Context, op string, fn func(c *ldap.Conn) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ldapstore: %s: %w: %v", op, adapters.ErrUnavailable, err)
	}
	c, err := s.pool.get(ctx)
	if err != nil {
		return fmt.Errorf("ldapstore: %s: %w", op, err)
	}
	timeout := s.opts.Timeout
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left < timeout {
			timeout = max(left, time.Millisecond)
		}
	}
	c.SetTimeout(timeout)
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	err = fn(c)
	canceled := !stop()
	s.pool.put(c, canceled || isConnectionError(err) || c.IsClosing())
	if canceled {
		return fmt.Errorf("ldapstore: %s: %w: %v", op, adapters.ErrUnavailable, ctx.Err())
	}
	if err != nil {
		return translate(op, err)
	}
	return nil
}

// isConnectionError reports whether err means the connection is unusable.
func isConnectionError(err error) bool {
	var le *ldap.Error
	if !errors.As(err, &le) {
		return false
	}
	switch le.ResultCode {
	case ldap.ErrorNetwork, ldap.LDAPResultServerDown, ldap.LDAPResultTimeout, ldap.LDAPResultConnectError,
		ldap.ErrorUnexpectedResponse, ldap.ErrorUnexpectedMessage:
		return true
	}
	return false
}

// errUniqueHint is the text slapo-unique (and AD, for some attributes)
// puts in a constraint violation caused by a duplicate value.
var uniqueHints = []string{"not unique", "unique"}

// translate maps an LDAP error to the adapters sentinels, naming the result
// code. Errors already carrying a sentinel pass through.
func translate(op string, err error) error {
	for _, sentinel := range []error{adapters.ErrNotFound, adapters.ErrAlreadyExists, adapters.ErrRejected, adapters.ErrUnavailable, adapters.ErrConfig} {
		if errors.Is(err, sentinel) {
			return err
		}
	}
	var le *ldap.Error
	if !errors.As(err, &le) {
		return fmt.Errorf("ldapstore: %s: %w: %v", op, adapters.ErrUnavailable, err)
	}
	name := ldap.LDAPResultCodeMap[le.ResultCode]
	if name == "" {
		name = fmt.Sprintf("result code %d", le.ResultCode)
	}
	detail := ""
	if le.Err != nil && le.Err.Error() != "" {
		detail = ": " + le.Err.Error()
	}
	switch le.ResultCode {
	case ldap.LDAPResultNoSuchObject:
		return fmt.Errorf("ldapstore: %s: %w (%s%s)", op, adapters.ErrNotFound, name, detail)
	case ldap.LDAPResultEntryAlreadyExists:
		return fmt.Errorf("ldapstore: %s: %w: %w (%s%s)", op, adapters.ErrRejected, adapters.ErrAlreadyExists, name, detail)
	case ldap.LDAPResultConstraintViolation:
		for _, h := range uniqueHints {
			if strings.Contains(strings.ToLower(detail), h) {
				return fmt.Errorf("ldapstore: %s: %w: %w (%s%s)", op, adapters.ErrRejected, adapters.ErrAlreadyExists, name, detail)
			}
		}
		return fmt.Errorf("ldapstore: %s: %w (%s%s)", op, adapters.ErrRejected, name, detail)
	case ldap.LDAPResultTimeLimitExceeded, ldap.LDAPResultAdminLimitExceeded, ldap.LDAPResultBusy,
		ldap.LDAPResultUnavailable, ldap.LDAPResultOther, ldap.LDAPResultServerDown, ldap.LDAPResultTimeout,
		ldap.LDAPResultConnectError, ldap.ErrorNetwork, ldap.ErrorUnexpectedResponse, ldap.ErrorUnexpectedMessage,
		ldap.LDAPResultLoopDetect:
		return fmt.Errorf("ldapstore: %s: %w (%s%s)", op, adapters.ErrUnavailable, name, detail)
	case ldap.LDAPResultInvalidCredentials, ldap.LDAPResultInappropriateAuthentication, ldap.LDAPResultStrongAuthRequired,
		ldap.LDAPResultConfidentialityRequired:
		return fmt.Errorf("ldapstore: %s: %w (%s)", op, adapters.ErrConfig, name)
	}
	// Constraint, object class, schema, syntax, access, RDN, referral
	// (never chased) and the rest: the directory refused this data.
	return fmt.Errorf("ldapstore: %s: %w (%s%s)", op, adapters.ErrRejected, name, detail)
}

// pool is a small set of bound connections. At most size are open at once;
// get waits (honouring the context) when all are busy.
type pool struct {
	dial  func() (*ldap.Conn, error)
	slots chan struct{}
	mu    sync.Mutex
	idle  []*ldap.Conn
	shut  bool
}

func newPool(size int, dial func() (*ldap.Conn, error)) *pool {
	return &pool{dial: dial, slots: make(chan struct{}, size)}
}

// errClosed: the store was closed.
var errClosed = errors.New("store closed")

func (p *pool) get(ctx context.Context) (*ldap.Conn, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: waiting for a connection: %v", adapters.ErrUnavailable, ctx.Err())
	}
	p.mu.Lock()
	if p.shut {
		p.mu.Unlock()
		<-p.slots
		return nil, fmt.Errorf("%w: %v", adapters.ErrUnavailable, errClosed)
	}
	for len(p.idle) > 0 {
		c := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if !c.IsClosing() {
			p.mu.Unlock()
			return c, nil
		}
	}
	p.mu.Unlock()
	c, err := p.dial()
	if err != nil {
		<-p.slots
		return nil, err
	}
	return c, nil
}

func (p *pool) put(c *ldap.Conn, broken bool) {
	p.mu.Lock()
	if broken || p.shut {
		_ = c.Close()
	} else {
		p.idle = append(p.idle, c)
	}
	p.mu.Unlock()
	<-p.slots
}

func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.shut = true
	for _, c := range p.idle {
		_ = c.Close()
	}
	p.idle = nil
}
