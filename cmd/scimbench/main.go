package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	_ "net/http/pprof" // the tool's own profile, with --pprof
	"net/url"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strings"
	gosync "sync"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"
)

const usage = `scimbench: Okta-shaped load for a running scimbridge (loopback only unless --allow-remote).

Usage:
  scimbench setup --redis ADDR --redis-db N --store-dsn DSN --public-url URL --out targets.json
                  [--tenants 1] [--users 0] [--via api|ledger] [--group-members 0] [--schema scimbench]
  scimbench run   --targets targets.json --scenario filter|create|get|put|deactivate|group-add|mix
                  [--concurrency 64] [--duration 10s | --requests N] [--redis ADDR --redis-db N]
                  [--store-dsn DSN --store-table T] [--json]
  scimbench fairness --targets-a a.json --targets-b b.json --redis ADDR --redis-db N
                  [--creates 20000] [--concurrency 64] [--interval 250ms] [--baseline 8]
                  [--store-dsn DSN --store-table-b T] [--samples] [--json]
  scimbench ceiling --store-dsn DSN --store-table T [--rows 10000] [--store-concurrency 20]
  scimbench slapd [--info FILE]      a throwaway slapd until SIGINT/SIGTERM (prints its URL, DNs, password file)
  scimbench rss --pid PID
  scimbench cleanup --redis ADDR --redis-db N --targets targets.json

An LDAP store: --store-dsn ldap://HOST:PORT --ldap-bind-dn DN --ldap-bind-password-file F;
setup also takes --ldap-base DN (it creates ou=<schema> there), and for run and ceiling
--store-table is the users base DN setup prints.

Run 'scimbench <command> -h' for every flag.
`

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "scimbench:", err)
		os.Exit(1)
	}
}

// run dispatches a command line; separated from main for tests.
func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "run":
		return cmdRun(ctx, args[1:], stdout, stderr)
	case "setup":
		return cmdSetup(ctx, args[1:], stdout, stderr)
	case "fairness":
		return cmdFairness(ctx, args[1:], stdout, stderr)
	case "ceiling":
		return cmdCeiling(ctx, args[1:], stdout, stderr)
	case "slapd":
		return cmdSlapd(ctx, args[1:], stdout, stderr)
	case "rss":
		return cmdRSS(args[1:], stdout, stderr)
	case "cleanup":
		return cmdCleanup(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// commonFlags are shared by the commands that reach Redis or a store.
type commonFlags struct {
	allowRemote bool
	redisAddr   string
	redisDB     int
	storeDSN    string
	storeKind   string
	// An LDAP store's bind DN and the file holding its password.
	ldapBindDN, ldapPasswordFile string
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&c.allowRemote, "allow-remote", false, "allow targets outside 127.0.0.0/8 and ::1")
	fs.StringVar(&c.redisAddr, "redis", "", "Redis of the server under test (ledger convergence, setup); empty: none")
	fs.IntVar(&c.redisDB, "redis-db", 0, "Redis database number of the server under test")
	fs.StringVar(&c.storeDSN, "store-dsn", "", "the tenant's store (postgres://..., user:pw@tcp(host)/db, or a SQLite path)")
	fs.StringVar(&c.storeKind, "store-kind", "", "postgres, mysql, sqlite or ldap (default: guessed from the DSN)")
	fs.StringVar(&c.ldapBindDN, "ldap-bind-dn", "", "LDAP store: the DN to bind as")
	fs.StringVar(&c.ldapPasswordFile, "ldap-bind-password-file", "", "LDAP store: file holding the bind password")
}

// kind is the store kind named or guessed from the DSN.
func (c *commonFlags) kind() string {
	if c.storeKind != "" {
		return c.storeKind
	}
	return storeKindOf(c.storeDSN)
}

// ldapClient is the LDAP store named by the flags.
func (c *commonFlags) ldapClient() *ldapClient {
	return &ldapClient{url: c.storeDSN, bindDN: c.ldapBindDN, passwordFile: c.ldapPasswordFile}
}

// redisClient connects to the Redis named by the flags (nil when none).
func (c *commonFlags) redisClient(ctx context.Context) (redis.UniversalClient, error) {
	if c.redisAddr == "" {
		return nil, nil
	}
	if !c.allowRemote {
		if err := checkLoopbackAddr(ctx, c.redisAddr); err != nil {
			return nil, err
		}
	}
	rdb := redis.NewClient(&redis.Options{Addr: c.redisAddr, DB: c.redisDB, PoolSize: 128,
		Password: os.Getenv("SCIMBENCH_REDIS_PASSWORD")})
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("scimbench: redis %s: %w", c.redisAddr, err)
	}
	return rdb, nil
}

// store opens the store named by the flags after the loopback check.
func (c *commonFlags) store(ctx context.Context, table, markerColumn string) (*storeConn, error) {
	if c.storeDSN == "" {
		return nil, nil
	}
	kind := c.kind()
	if !c.allowRemote {
		if host := storeHost(kind, c.storeDSN); host != "" {
			if err := checkLoopbackAddr(ctx, host); err != nil {
				return nil, err
			}
		}
	}
	if kind == "ldap" {
		l := c.ldapClient()
		conn, err := l.dial()
		if err != nil {
			return nil, err
		}
		conn.Close()
		return &storeConn{kind: kind, ldap: l, table: table, markerColumn: markerColumn}, nil
	}
	db, err := openStore(kind, c.storeDSN)
	if err != nil {
		return nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("scimbench: store: %w", err)
	}
	return &storeConn{kind: kind, db: db, table: table, markerColumn: markerColumn}, nil
}

// storeHost returns the host:port of a network store DSN ("" for SQLite
// and for a DSN without a host, which means a local socket).
func storeHost(kind, dsn string) string {
	switch kind {
	case "postgres":
		u, err := url.Parse(dsn)
		if err != nil {
			return "invalid-host"
		}
		if u.Host == "" {
			return ""
		}
		return u.Host
	case "mysql":
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			return "invalid-host"
		}
		if cfg.Net == "unix" {
			return ""
		}
		return cfg.Addr
	case "ldap":
		return ldapHost(dsn)
	}
	return ""
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf commonFlags
	cf.register(fs)
	targetsPath := fs.String("targets", "", "targets file (scimbench setup --out, or scimbridge key create --json)")
	tenantsUsed := fs.Int("tenants-used", 0, "load only the first N targets (0: all)")
	var o loadOptions
	fs.StringVar(&o.Scenario, "scenario", scenarioFilter, "one of "+strings.Join(scenarios, ", "))
	fs.IntVar(&o.Concurrency, "concurrency", 64, "concurrent clients")
	fs.DurationVar(&o.Duration, "duration", 0, "length of the measured phase (at most 10m; with --requests, whichever comes first; neither: 10s)")
	fs.IntVar(&o.Requests, "requests", 0, "operations in the measured phase (0: bounded by --duration)")
	fs.Float64Var(&o.MissRatio, "miss-ratio", 0, "share of filters for a userName that does not exist")
	fs.IntVar(&o.Pool, "pool", 1000, "existing users per target to read and change (created when missing)")
	fs.StringVar(&o.GroupID, "group-id", "", "group to add members to (default: the targets file's group_id, else a new group)")
	fs.BoolVar(&o.NoPassword, "no-password", false, "creates carry no password (Okta without password sync; the store hashes nothing)")
	storeTable := fs.String("store-table", "", "the users table (convergence and ceiling); LDAP: the users base DN")
	marker := fs.String("store-marker-column", "dept", "column the enterprise department maps to (the write marker)")
	storeKey := fs.String("store-key", "id", "primary-key column (ceiling updates)")
	storeCols := fs.String("store-columns", ceilingColumns, "columns a create writes (ceiling)")
	storeConc := fs.Int("store-concurrency", 20, "concurrency of the store ceiling (the worker's concurrency)")
	convergeTimeout := fs.Duration("converge-timeout", 2*time.Minute, "give up waiting for convergence after this")
	settle := fs.Duration("settle", time.Minute, "before the load, wait up to this for the prepared writes to be applied (needs --redis)")
	serverPID := fs.Int("server-pid", 0, "pid of the server, to report its RSS before and after")
	asJSON := fs.Bool("json", false, "print JSON")
	cpuProfile := fs.String("cpuprofile", "", "write the tool's CPU profile here")
	pprofAddr := fs.String("pprof", "", "serve the tool's net/http/pprof on this loopback address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !slices.Contains(scenarios, o.Scenario) {
		return fmt.Errorf("run: --scenario %q: want one of %s", o.Scenario, strings.Join(scenarios, ", "))
	}
	if o.Concurrency < 1 || o.Pool < 1 {
		return errors.New("run: --concurrency and --pool must be at least 1")
	}
	if *targetsPath == "" {
		return errors.New("run: --targets is required")
	}
	tf, err := loadTargets(*targetsPath)
	if err != nil {
		return err
	}
	if *tenantsUsed > 0 && *tenantsUsed < len(tf.Targets) {
		tf.Targets = tf.Targets[:*tenantsUsed]
	}
	if o.GroupID == "" {
		o.GroupID = tf.GroupID
	}
	for _, t := range tf.Targets {
		if !cf.allowRemote {
			if err := checkLoopbackURL(ctx, t.BaseURL); err != nil {
				return err
			}
		}
	}
	if *pprofAddr != "" {
		if err := checkLoopbackAddr(ctx, *pprofAddr); err != nil {
			return err
		}
		ln, err := net.Listen("tcp", *pprofAddr)
		if err != nil {
			return err
		}
		go func() { _ = http.Serve(ln, nil) }()
		defer ln.Close()
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	rdb, err := cf.redisClient(ctx)
	if err != nil {
		return err
	}
	if rdb != nil {
		defer rdb.Close()
	}
	var store *storeConn
	if cf.storeDSN != "" {
		if *storeTable == "" {
			return errors.New("run: --store-dsn needs --store-table")
		}
		if cf.kind() == "ldap" {
			// --store-table is the users base DN; the marker is in
			// departmentNumber unless named.
			if _, err := parentDN(*storeTable); err != nil {
				return err
			}
			if !flagSet(fs, "store-marker-column") {
				*marker = ldapMarkerAttribute
			}
		} else {
			for _, id := range []string{*storeTable, *marker, *storeKey} {
				if err := checkIdent("--store-table/--store-marker-column/--store-key", id); err != nil {
					return err
				}
			}
		}
		if store, err = cf.store(ctx, *storeTable, *marker); err != nil {
			return err
		}
		if store.db != nil {
			defer store.db.Close()
		}
	}

	o.RunID = fmt.Sprintf("%x", time.Now().UnixNano()&0xffffffffff)
	httpClient := newHTTPClient(o.Concurrency, cf.allowRemote)
	ts := make([]*targetState, len(tf.Targets))
	tenantIDs := make([]string, len(tf.Targets))
	for i, t := range tf.Targets {
		tenantIDs[i] = t.Tenant
		if tenantIDs[i] == "" {
			tenantIDs[i] = tenantOfBaseURL(t.BaseURL)
		}
		ts[i] = &targetState{client: &scimClient{http: httpClient, target: t}, tenant: tenantIDs[i]}
	}
	if err := prepare(ctx, o, ts); err != nil {
		return err
	}
	if rdb != nil && *settle > 0 {
		if err := waitClean(ctx, rdb, tf.Targets, *settle); err != nil {
			fmt.Fprintln(stderr, "scimbench: warning:", err)
		}
	}
	var rssBefore int64
	if *serverPID > 0 {
		if rssBefore, err = processRSSKB(*serverPID); err != nil {
			return err
		}
	}
	lr, err := runLoad(ctx, o, ts)
	if err != nil {
		return err
	}
	rep := buildReport(o.Scenario, len(ts), o.Concurrency, lr)
	rep.RSSBeforeKB = rssBefore
	if len(lr.Writes) > 0 && (rdb != nil || store != nil) {
		c := &convergeReport{Writes: len(lastWrites(lr.Writes))}
		if o.Scenario == scenarioGroupAdd {
			c.MemberChanges = len(lr.Writes) // one member added a request, to one group
		}
		// The ledger and the store are polled at once, both timed from the
		// end of the load.
		doneAt := lr.End
		var ledgerErr, storeErr error
		var wg, ledgerDone gosync.WaitGroup
		if rdb != nil {
			wg.Add(1)
			ledgerDone.Add(1)
			go func() {
				defer wg.Done()
				defer ledgerDone.Done()
				var d time.Duration
				d, c.LedgerPending, c.LedgerFailed, ledgerErr = waitLedger(ctx, rdb, tenantIDs, lr.Writes, *convergeTimeout)
				c.LedgerSeconds = d.Seconds()
			}()
		}
		// An LDAP store's marker search is a scan of the users base: it is
		// done once the ledger has converged, not polled alongside.
		ldapAfterLedger := store != nil && store.ldap != nil
		if store != nil {
			for _, w := range lastWrites(lr.Writes) {
				if w.marker != "" && w.kind == "u" {
					c.StoreWrites++
				}
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if ldapAfterLedger {
					ledgerDone.Wait()
				}
				var d time.Duration
				d, c.StorePending, storeErr = waitStore(ctx, store, lr.Writes, *convergeTimeout, func(id, marker string) {
					fmt.Fprintf(stderr, "scimbench: store never showed user %s with marker %s\n", id, marker)
				})
				c.StoreSeconds = d.Seconds()
			}()
		}
		wg.Wait()
		if err := errors.Join(ledgerErr, storeErr); err != nil {
			return err
		}
		doneAt = doneAt.Add(time.Duration(max(c.LedgerSeconds, c.StoreSeconds) * float64(time.Second)))
		c.PushSeconds = doneAt.Sub(lr.Start).Seconds()
		if c.PushSeconds > 0 {
			c.AppliesPerSec = float64(c.applies()) / c.PushSeconds
		}
		rep.Converge = c
	}
	if *serverPID > 0 {
		if rep.RSSAfterKB, err = processRSSKB(*serverPID); err != nil {
			return err
		}
	}
	if store != nil && rep.Converge != nil && rep.Converge.Writes > 0 {
		// At least 1,000 rows, so the rate is stable; the ceiling time is
		// scaled back to the rows this run wrote.
		var ceil *Ceiling
		if store.ldap != nil {
			container, _ := parentDN(store.table)
			ceil, err = measureLDAPCeiling(ctx, store.ldap, container, max(rep.Converge.Writes, 1000), *storeConc)
		} else {
			ceil, err = measureCeiling(ctx, store, strings.Split(*storeCols, ","), *storeKey, max(rep.Converge.Writes, 1000), *storeConc)
		}
		if err != nil {
			return err
		}
		rep.Ceiling = ceil
		rate := ceil.InsertPerSec
		if o.Scenario == scenarioPut || o.Scenario == scenarioDeactivate {
			rate = ceil.UpdatePerSec
		}
		x := &ratioReport{}
		if rate > 0 {
			x.CeilingSeconds = float64(rep.Converge.applies()) / rate
			x.AppliesVsCeiling = rep.Converge.AppliesPerSec / rate
		}
		x.PushTargetSeconds = 2*x.CeilingSeconds + 2
		x.PushWithinTarget = rep.Converge.StorePending == 0 && rep.Converge.LedgerPending == 0 && rep.Converge.LedgerFailed == 0 && rep.Converge.PushSeconds <= x.PushTargetSeconds
		rep.Ratio = x
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	rep.writeTable(stdout)
	return nil
}

func cmdSetup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("setup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf commonFlags
	cf.register(fs)
	var o setupOptions
	fs.StringVar(&o.Schema, "schema", "scimbench", "PostgreSQL schema for the tables (MySQL/SQLite: table prefix; LDAP: the OU under --ldap-base)")
	fs.StringVar(&o.LDAPBase, "ldap-base", "", "LDAP store: the DN under which setup creates ou=<schema> (users in ou=people, groups in ou=groups)")
	fs.IntVar(&o.StoreConcurrency, "store-max-concurrency", 0, "the tenants' store max_concurrency (0: the kind's default, 1 for LDAP and 8 for SQL)")
	fs.IntVar(&o.Tenants, "tenants", 1, "tenants to register (each gets an API key)")
	fs.StringVar(&o.TenantPrefix, "tenant-prefix", "bench", "tenant ids are <prefix>-0, <prefix>-1, ...")
	fs.IntVar(&o.Users, "users", 0, "users per tenant")
	fs.StringVar(&o.Via, "via", "api", "api (POST through the running server) or ledger (adopted records written to the ledger directly)")
	fs.IntVar(&o.GroupMembers, "group-members", 0, "make one group in the first tenant with this many of its users (through the API)")
	fs.StringVar(&o.PublicURL, "public-url", "http://127.0.0.1:8080", "the server's public URL")
	fs.IntVar(&o.Concurrency, "concurrency", 64, "writes in flight")
	fs.DurationVar(&o.Wait, "wait", 5*time.Minute, "wait up to this for the worker to apply what setup wrote (0: do not wait)")
	out := fs.String("out", "targets.json", "targets file to write (mode 0600: it holds API keys)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cf.redisAddr == "" || cf.storeDSN == "" {
		return errors.New("setup: --redis and --store-dsn are required")
	}
	if err := checkIdent("--schema", o.Schema); err != nil {
		return err
	}
	if cf.kind() == "ldap" {
		if o.LDAPBase == "" {
			return errors.New("setup: an LDAP store needs --ldap-base (where setup creates ou=<schema>)")
		}
		o.LDAP = cf.ldapClient()
	}
	if !cf.allowRemote {
		if err := checkLoopbackURL(ctx, o.PublicURL); err != nil {
			return err
		}
	}
	o.PublicURL = strings.TrimRight(o.PublicURL, "/")
	o.StoreKind = cf.kind()
	st, err := cf.store(ctx, "unused", "unused")
	if err != nil {
		return err
	}
	if st.db != nil {
		st.db.Close()
	}
	o.StoreDSN = cf.storeDSN
	if o.Redis, err = cf.redisClient(ctx); err != nil {
		return err
	}
	defer o.Redis.Close()
	o.HTTP = &scimClientFactory{allowRemote: cf.allowRemote}
	tf, rep, err := runSetup(ctx, o)
	if err != nil {
		return err
	}
	if err := writeTargets(*out, tf); err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(rep)
	}
	fmt.Fprintf(stdout, "setup: %d tenant(s) × %d users via %s in %.2f s (%.0f users/s); targets in %s\n",
		rep.Tenants, rep.UsersPerTenant, rep.Via, rep.Seconds, rep.UsersPerSec, *out)
	fmt.Fprintf(stdout, "redis used_memory %d -> %d bytes: %.0f bytes per user (one record hash: %d bytes)\n",
		rep.RedisUsedBefore, rep.RedisUsedAfter, rep.RedisBytesPerUser, rep.RecordBytesSample)
	if rep.GroupID != "" {
		fmt.Fprintf(stdout, "group %s with %d members\n", rep.GroupID, rep.GroupMembers)
	}
	if rep.ConvergedSeconds > 0 {
		fmt.Fprintf(stdout, "worker applied everything %.2f s after the writes\n", rep.ConvergedSeconds)
	}
	fmt.Fprintf(stdout, "store table %s (marker column %s)\n", rep.StoreUsersTable, rep.StoreMarkerColumn)
	return nil
}

func cmdCeiling(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ceiling", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf commonFlags
	cf.register(fs)
	table := fs.String("store-table", "", "the users table whose columns the scratch copy takes (LDAP: the users base DN; the scratch OU goes next to it)")
	key := fs.String("store-key", "id", "primary-key column")
	cols := fs.String("store-columns", ceilingColumns, "columns written")
	rows := fs.Int("rows", 10000, "rows to insert, then update")
	conc := fs.Int("store-concurrency", 20, "concurrent writers")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cf.storeDSN == "" || *table == "" {
		return errors.New("ceiling: --store-dsn and --store-table are required")
	}
	if cf.kind() == "ldap" {
		container, err := parentDN(*table)
		if err != nil {
			return err
		}
		if _, err := cf.store(ctx, *table, ldapMarkerAttribute); err != nil {
			return err
		}
		c, err := measureLDAPCeiling(ctx, cf.ldapClient(), container, *rows, *conc)
		if err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(stdout).Encode(c)
		}
		fmt.Fprintf(stdout, "LDAP ceiling (%d entries, %d connections): add %.0f/s (%.3f s), modify %.0f/s (%.3f s)\n",
			c.Rows, c.Concurrency, c.InsertPerSec, c.InsertSeconds, c.UpdatePerSec, c.UpdateSeconds)
		return nil
	}
	if err := checkIdent("--store-table", *table); err != nil {
		return err
	}
	st, err := cf.store(ctx, *table, "unused")
	if err != nil {
		return err
	}
	defer st.db.Close()
	c, err := measureCeiling(ctx, st, strings.Split(*cols, ","), *key, *rows, *conc)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(c)
	}
	fmt.Fprintf(stdout, "store ceiling (%d rows, %d at once): INSERT %.0f/s (%.3f s), UPDATE %.0f/s (%.3f s)\n",
		c.Rows, c.Concurrency, c.InsertPerSec, c.InsertSeconds, c.UpdatePerSec, c.UpdateSeconds)
	return nil
}

func cmdRSS(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rss", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pid := fs.Int("pid", 0, "process id")
	if err := fs.Parse(args); err != nil {
		return err
	}
	kb, err := processRSSKB(*pid)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "VmRSS %d kB (%.1f MB)\n", kb, float64(kb)/1024)
	return nil
}

func cmdCleanup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cleanup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf commonFlags
	cf.register(fs)
	targetsPath := fs.String("targets", "", "targets file written by setup")
	if err := fs.Parse(args); err != nil {
		return err
	}
	tf, err := loadTargets(*targetsPath)
	if err != nil {
		return err
	}
	rdb, err := cf.redisClient(ctx)
	if err != nil {
		return err
	}
	if rdb == nil {
		return errors.New("cleanup: --redis is required")
	}
	defer rdb.Close()
	ids := make([]string, len(tf.Targets))
	for i, t := range tf.Targets {
		ids[i] = t.Tenant
	}
	if err := deleteTenants(ctx, rdb, ids); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "deleted %d tenant(s)\n", len(ids))
	return nil
}

// flagSet reports whether the flag was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
