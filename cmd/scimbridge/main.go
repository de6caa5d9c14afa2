package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	gosync "sync"
	"syscall"
	"text/tabwriter"
	"time"
)

const usage = `scimbridge: SCIM 2.0 provisioning from Okta, Entra ID and others into existing user stores.

Usage:
  scimbridge serve   [--config FILE] [--data DIR]   API and worker in one process
  scimbridge api     --config FILE                  the SCIM front door only
  scimbridge worker  --config FILE                  the store applier only
  scimbridge key create --tenant T --name NAME [--json]   new SCIM API key (shown once)
  scimbridge key list   --tenant T [--json]
  scimbridge key revoke --tenant T --key ID_OR_NAME
  scimbridge tenant list|show --tenant T|create --file F|update --file F|disable --tenant T|enable --tenant T [--json]
  scimbridge status  --tenant T [--state all|pending|failed] [--kind users|groups] [--json]
  scimbridge replay  --tenant T [--json]            re-apply the resources the store rejected
  scimbridge import  --tenant T [--no-wait] [--json] adopt everything in the store (a worker job)
  scimbridge drift   --tenant T [--repair] [--json]  compare the ledger with the store
  scimbridge preview --tenant T --file user.json [--json]   the fields a SCIM user maps to
  scimbridge job     --id ID [--json]               an import or drift job's progress

Without --config (or SCIMBRIDGE_CONFIG), serve and the admin commands use the embedded
default: an in-process Redis and a demo SQLite store under --data (./data),
for trying scimbridge out only.
`

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "scimbridge:", err)
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
	case "serve", "api", "worker":
		return runServer(ctx, args[0], args[1:], stdout, stderr)
	case "key":
		return runKey(ctx, args[1:], stdout, stderr)
	case "tenant", "status", "replay", "import", "drift", "preview", "job":
		return runAdmin(ctx, args[0], args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// commonFlags are the flags every command takes.
type commonFlags struct {
	config string
	data   string
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.config, "config", os.Getenv("SCIMBRIDGE_CONFIG"), "configuration file (YAML); unset: embedded default")
	fs.StringVar(&c.data, "data", envOr("SCIMBRIDGE_DATA", "data"), "data directory of the embedded default")
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// runServer runs the API, the worker, or both until SIGTERM/SIGINT.
func runServer(ctx context.Context, role string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(role, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf commonFlags
	cf.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	var (
		cfg  *Config
		emb  *embedded
		err  error
		logr *slog.Logger
	)
	if cf.config == "" {
		if role != "serve" {
			return fmt.Errorf("%s needs --config (the embedded default runs only with serve)", role)
		}
		emb, err = startEmbedded(cf.data)
		if err != nil {
			return err
		}
		defer emb.Close()
		cfg = emb.cfg
	} else if cfg, err = loadConfig(cf.config); err != nil {
		return err
	}
	logr = newLogger(cfg.Log.Level, cfg.Log.Format)
	slog.SetDefault(logr)
	startPprof(os.Getenv("SCIMBRIDGE_PPROF"), logr)
	stopTracing, err := setupTracing(ctx, role)
	if err != nil {
		return err
	}
	defer func() {
		flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := stopTracing(flushCtx); err != nil {
			logr.Warn("tracing: flushing spans at exit failed", "err", err)
		}
	}()
	a, err := newApp(ctx, cfg, logr)
	if err != nil {
		return err
	}
	defer a.close()
	if err := a.seedTenants(ctx); err != nil {
		return err
	}
	if emb != nil {
		if err := emb.announce(ctx, a, stdout); err != nil {
			return err
		}
	}

	var wg gosync.WaitGroup
	errs := make(chan error, 2)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := func(f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(runCtx); err != nil {
				errs <- err
				cancel()
			}
		}()
	}
	go a.stores.Run(runCtx) // closes idle store connections
	if role == "serve" || role == "api" {
		a.keys.EnableCache(cfg.API.KeyCacheTTL)
		go a.keys.Watch(runCtx, logr)
		start(a.runAPI)
	}
	if role == "serve" || role == "worker" {
		start(a.runWorker)
	}
	if role == "worker" {
		start(a.runWorkerListener)
	}
	wg.Wait()
	close(errs)
	logr.Info("stopped")
	return <-errs
}

// runKey is `scimbridge key create|list|revoke`.
func runKey(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("key: want create, list or revoke")
	}
	sub := args[0]
	fs := flag.NewFlagSet("key "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf commonFlags
	cf.register(fs)
	tenant := fs.String("tenant", "", "tenant id")
	name := fs.String("name", "", "key name (create)")
	keyRef := fs.String("key", "", "key id or name (revoke)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *tenant == "" {
		return errors.New("key: --tenant is required")
	}
	a, cleanup, err := adminApp(ctx, cf)
	if err != nil {
		return err
	}
	defer cleanup()
	if _, err := a.registry.Get(ctx, *tenant); err != nil {
		return fmt.Errorf("key: tenant %q: %w", *tenant, err)
	}
	switch sub {
	case "create":
		if *name == "" {
			return errors.New("key create: --name is required")
		}
		plain, k, err := a.keys.Create(ctx, *tenant, *name)
		if err != nil {
			return err
		}
		base := baseURL(a.cfg.PublicURL, *tenant)
		if *asJSON {
			return json.NewEncoder(stdout).Encode(map[string]any{
				"tenant": *tenant, "id": k.ID, "name": k.Name, "prefix": k.Prefix,
				"created": k.Created, "base_url": base, "api_key": plain,
			})
		}
		fmt.Fprintf(stdout, "Base URL: %s\nAPI key:  %s\n\nThe key is shown only now. In Okta: Provisioning > Integration > Configure API Integration,\nBase URL above, API Token = the key (Authorization: Bearer).\n", base, plain)
		return nil
	case "list":
		keys, err := a.keys.List(ctx, *tenant)
		if err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(stdout).Encode(keys)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tPREFIX\tCREATED\tLAST USED\tREVOKED")
		for _, k := range keys {
			last := "never"
			if !k.LastUsed.IsZero() {
				last = k.LastUsed.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\tscb_%s…\t%s\t%s\t%v\n", k.ID, k.Name, k.Prefix, k.Created.Format(time.RFC3339), last, k.Revoked)
		}
		return tw.Flush()
	case "revoke":
		if *keyRef == "" {
			return errors.New("key revoke: --key is required")
		}
		if err := a.keys.Revoke(ctx, *tenant, *keyRef); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked %s\n", *keyRef)
		return nil
	}
	return fmt.Errorf("key: unknown subcommand %q", sub)
}

// adminApp connects an admin subcommand: to the configured Redis, or in the
// embedded default to the running server's embedded Redis (or, when none
// runs, to its snapshot, saved again on cleanup).
func adminApp(ctx context.Context, cf commonFlags) (*app, func(), error) {
	logr := newLogger("warn", "text")
	if cf.config != "" {
		cfg, err := loadConfig(cf.config)
		if err != nil {
			return nil, nil, err
		}
		a, err := newApp(ctx, cfg, logr)
		if err != nil {
			return nil, nil, err
		}
		if err := a.seedTenants(ctx); err != nil {
			a.close()
			return nil, nil, err
		}
		return a, a.close, nil
	}
	cfg, closeRedis, err := embeddedAdminConfig(cf.data)
	if err != nil {
		return nil, nil, err
	}
	a, err := newApp(ctx, cfg, logr)
	if err != nil {
		closeRedis()
		return nil, nil, err
	}
	if err := a.seedTenants(ctx); err != nil {
		a.close()
		closeRedis()
		return nil, nil, err
	}
	return a, func() { a.close(); closeRedis() }, nil
}

// baseURL is a tenant's SCIM Base URL.
func baseURL(publicURL, tenant string) string {
	return publicURL + "/scim/" + tenant + "/v2"
}
