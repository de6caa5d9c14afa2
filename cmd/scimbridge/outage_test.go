package main

import (
	"github.com/scimbridge/scimbridge/internal/testsupport"

	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// privatePostgres is a PostgreSQL cluster of the test's own, which it may
// stop and start (the shared server on 5432 is never touched).
type privatePostgres struct {
	t    *testing.T
	bin  string
	dir  string
	port int
}

func startPrivatePostgres(t *testing.T) *privatePostgres {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		testsupport.Require(t, "PostgreSQL server binaries (initdb)", fmt.Errorf("not found under /usr/lib/postgresql"))
	}
	p := &privatePostgres{t: t, bin: filepath.Dir(bins[len(bins)-1]), port: testsupport.FreePort(t)}
	dir, err := os.MkdirTemp("", "scimbridge-pg-")
	if err != nil {
		t.Fatal(err)
	}
	p.dir = dir
	t.Cleanup(func() {
		p.pgctl("stop", "-m", "immediate")
		os.RemoveAll(dir)
	})
	// PostgreSQL refuses to run as root: run it as the postgres user when we are root.
	if os.Geteuid() == 0 {
		if out, err := exec.Command("chown", "postgres:postgres", dir).CombinedOutput(); err != nil {
			t.Fatalf("chown: %v %s", err, out)
		}
	}
	if out, err := p.run(filepath.Join(p.bin, "initdb"), "-D", filepath.Join(dir, "data"), "-U", "postgres",
		"--auth=trust", "--no-sync", "-E", "UTF8"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	p.start()
	return p
}

func (p *privatePostgres) run(name string, args ...string) ([]byte, error) {
	var cmd *exec.Cmd
	if os.Geteuid() == 0 {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
	} else {
		cmd = exec.Command(name, args...)
	}
	return cmd.CombinedOutput()
}

func (p *privatePostgres) pgctl(args ...string) {
	full := append([]string{"-D", filepath.Join(p.dir, "data"), "-w", "-t", "30"}, args...)
	if args[0] == "start" {
		full = append(full, "-l", filepath.Join(p.dir, "log"), "-o",
			"-p "+strconv.Itoa(p.port)+" -c listen_addresses=127.0.0.1 -k "+p.dir+" -c fsync=off")
	}
	out, err := p.run(filepath.Join(p.bin, "pg_ctl"), full...)
	if err != nil && args[0] == "start" {
		p.t.Fatalf("pg_ctl start: %v\n%s", err, out)
	}
}

func (p *privatePostgres) start() { p.pgctl("start") }
func (p *privatePostgres) stop()  { p.pgctl("stop", "-m", "immediate") }

func (p *privatePostgres) dsn() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}

// TestFaultStoreOutageConverges: the tenant's PostgreSQL stops under load
// (SCIMBRIDGE_FAULT_OUTAGE, default 15s; the 60s with
// SCIMBRIDGE_FAULT_OUTAGE=60s), the front door keeps acknowledging, and
// after the store returns everything converges without manual action.
func TestFaultStoreOutageConverges(t *testing.T) {
	if testing.Short() {
		t.Skip("long fault test")
	}
	outage := 15 * time.Second
	if v := os.Getenv("SCIMBRIDGE_FAULT_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatal(err)
		}
		outage = d
	}
	pg := startPrivatePostgres(t)
	db, err := sql.Open("pgx", pg.dsn())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	table := accountsTable(t, db)
	r := &faultRig{t: t, redis: startRedisServer(t, false), db: db, tenant: "outage", table: table}
	port := testsupport.FreePort(t)
	r.cfg = faultConfig(t, r.redis.addr(), port, r.tenant, pg.dsn(), table)
	r.base = fmt.Sprintf("http://127.0.0.1:%d/scim/%s/v2", port, r.tenant)
	r.api = startRole(t, "api", r.cfg)
	waitHealthy(t, fmt.Sprintf("http://127.0.0.1:%d", port))
	r.key = createKey(t, r.cfg, r.tenant)
	startRole(t, "worker", r.cfg)

	exp := &expected{users: map[string]expectedUser{}}
	stopped := make(chan struct{})
	var acksDuringOutage atomic.Int64
	r.runLoad(600, 8, exp, func(total int64) {
		if total == 200 { // exactly one acknowledgement is the 200th
			pg.stop()
			close(stopped)
		}
		select {
		case <-stopped:
			acksDuringOutage.Add(1)
		default:
		}
	})
	t.Logf("store down: %d writes acknowledged while it was down", acksDuringOutage.Load())
	if acksDuringOutage.Load() == 0 {
		t.Fatal("no write was acknowledged while the store was down")
	}
	time.Sleep(outage)
	pg.start()
	r.converge(3 * time.Minute)
	r.verify(exp)
}
